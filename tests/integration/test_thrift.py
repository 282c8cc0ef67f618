"""test_thrift.py - the thrift source and sink against code that does not
share our encoder: a client and a server GENERATED at test time from Flume's
service definition (spec/wire.md (f)) by Debian's thrift-compiler
(`thrift --gen py`) and run with python3-thrift.

Covers: our source accepting the generated client's append/appendBatch
(compact framed by default; binary with protocol = binary; a compact client
served by a binary-configured source), Flume's counters after 2 append + 1
appendBatch of 2, FAILED when a batch does not fit the channel; bad input
(garbage, absurd frame length, truncated frame, unknown method) closing only
that connection with a log line naming the peer and the reason; our sink
delivering to the generated server (compact and binary), rolling back and
retrying when the server answers FAILED; ssl/kerberos rejected with a clear
error; and a two-agent hop (netcat -> memory -> thrift sink -> thrift source
-> memory -> logger).

Needs: thrift-compiler, python3-thrift (Debian).
"""

import atexit
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import harness

TEST_TIMEOUT = 60

IDL = """
namespace java org.apache.flume.thrift

struct ThriftFlumeEvent {
  1: required map <string, string> headers,
  2: required binary body,
}

enum Status {
  OK,
  FAILED,
  ERROR,
  UNKNOWN
}

service ThriftSourceProtocol {
  Status append(1: ThriftFlumeEvent event),
  Status appendBatch(1: list<ThriftFlumeEvent> events),
}
"""

_GEN = {}


def gen():
    """Generates the Python bindings once per run (into a temp dir) and
    returns (ThriftSourceProtocol module, ttypes module)."""
    if _GEN:
        return _GEN["svc"], _GEN["tt"]
    d = tempfile.mkdtemp(prefix="flumen-thrift-gen-")
    atexit.register(shutil.rmtree, d, True)
    idl = os.path.join(d, "flume.thrift")
    with open(idl, "w") as f:
        f.write(IDL)
    out = os.path.join(d, "py")
    os.mkdir(out)
    subprocess.run(["thrift", "--gen", "py", "-out", out, idl], check=True, timeout=60)
    sys.path.insert(0, out)
    from flume import ThriftSourceProtocol, ttypes  # noqa: E402 (generated just now)
    _GEN.update(svc=ThriftSourceProtocol, tt=ttypes, dir=d)
    return ThriftSourceProtocol, ttypes


def protocol_factory(kind):
    from thrift.protocol import TBinaryProtocol, TCompactProtocol
    return TBinaryProtocol.TBinaryProtocolFactory() if kind == "binary" \
        else TCompactProtocol.TCompactProtocolFactory()


class Client:
    """The generated client over a framed socket."""

    def __init__(self, port, kind="compact"):
        from thrift.transport import TSocket, TTransport
        svc, _ = gen()
        sock = TSocket.TSocket("127.0.0.1", port)
        sock.setTimeout(10000)
        self.transport = TTransport.TFramedTransport(sock)
        self.client = svc.Client(protocol_factory(kind).getProtocol(self.transport))
        self.transport.open()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.transport.close()
        return False


def ev(body, **headers):
    _, tt = gen()
    return tt.ThriftFlumeEvent(headers=dict(headers), body=body)


class Server:
    """The generated server (framed, compact or binary) on a free port; its
    handler records every event and answers statuses from `answers` (then
    OK)."""

    def __init__(self, kind="compact", answers=(), port=None):
        from thrift.server import TServer
        from thrift.transport import TSocket, TTransport
        svc, tt = gen()
        self.events = []
        self.calls = 0
        self.answers = list(answers)
        self.lock = threading.Lock()
        outer = self

        class Handler:
            def append(self, event):
                return outer._take([event])

            def appendBatch(self, events):
                return outer._take(events)

        self.tt = tt
        self.port = port or harness.free_port()
        self.sock = TSocket.TServerSocket(host="127.0.0.1", port=self.port)
        self.server = TServer.TThreadedServer(
            svc.Processor(Handler()), self.sock, TTransport.TFramedTransportFactory(),
            protocol_factory(kind), daemon=True)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        harness.wait_port(self.port)

    def _serve(self):
        try:
            self.server.serve()
        except Exception:  # closed at the end of the test
            pass

    def _take(self, events):
        with self.lock:
            self.calls += 1
            st = self.answers.pop(0) if self.answers else self.tt.Status.OK
            if st == self.tt.Status.OK:
                self.events.extend(events)
            return st

    def bodies(self):
        with self.lock:
            return [e.body for e in self.events]

    def close(self):
        try:
            self.sock.close()
        except Exception:
            pass


def source_conf(port, extra="", channel_extra="", sink="logger"):
    lines = [
        "a1.sources = r1", "a1.channels = c1", "a1.sinks = k1",
        "a1.sources.r1.type = thrift",
        "a1.sources.r1.bind = 127.0.0.1",
        "a1.sources.r1.port = %d" % port,
        "a1.sources.r1.channels = c1",
        "a1.channels.c1.type = memory",
        "a1.sinks.k1.type = %s" % sink,
        "a1.sinks.k1.channel = c1",
    ]
    lines += [l.strip() for l in (extra + "\n" + channel_extra).splitlines() if l.strip()]
    return "\n".join(lines) + "\n"


def sink_conf(nc_port, host_port, extra="", name="a1"):
    lines = [
        "%s.sources = r1" % name, "%s.channels = c1" % name, "%s.sinks = k1" % name,
        "%s.sources.r1.type = netcat" % name,
        "%s.sources.r1.bind = 127.0.0.1" % name,
        "%s.sources.r1.port = %d" % (name, nc_port),
        "%s.sources.r1.ack-every-event = false" % name,
        "%s.sources.r1.channels = c1" % name,
        "%s.channels.c1.type = memory" % name,
        "%s.sinks.k1.type = thrift" % name,
        "%s.sinks.k1.hostname = 127.0.0.1" % name,
        "%s.sinks.k1.port = %d" % (name, host_port),
        "%s.sinks.k1.channel = c1" % name,
    ]
    lines += [l.strip() for l in extra.splitlines() if l.strip()]
    return "\n".join(lines) + "\n"


def start_source(flumen, text, port, name="a1"):
    a = harness.Agent(flumen, text, name=name).start()
    try:
        a.wait_ready()
        a.wait_log(r"\[%s\.sources\.r1 thrift\] listening on 127\.0\.0\.1:%d" % (name, port))
    except BaseException:
        a.close()
        raise
    return a


def src_ctr(agent, attr):
    return agent.counter("SOURCE.r1", attr)


def logged_bodies(agent):
    return [b for _, b in harness.logger_events(agent.log())]


# ------------------------------------------------------------------ source

def test_source_accepts_generated_compact_client_and_counts_as_flume(flumen):
    port = harness.free_port()
    with start_source(flumen, source_conf(port), port) as a:
        _, tt = gen()
        with Client(port) as c:
            assert c.client.append(ev(b"one", app="checkout", host="web01")) == tt.Status.OK
            assert c.client.append(ev(b"two")) == tt.Status.OK
            assert c.client.appendBatch([ev(b"three", k="v"), ev("f\u00fcnf".encode())]) \
                == tt.Status.OK
        want = {"AppendReceivedCount": 2, "AppendAcceptedCount": 2,
                "AppendBatchReceivedCount": 1, "AppendBatchAcceptedCount": 1,
                "EventReceivedCount": 4, "EventAcceptedCount": 4, "ChannelWriteFail": 0}
        a.wait_for(lambda: all(src_ctr(a, k) == v for k, v in want.items()), 10,
                   "source counters %r" % want)
        a.wait_for(lambda: len(logged_bodies(a)) == 4, 10, "4 logged events")
        evs = harness.logger_events(a.log())
        assert [b for _, b in evs] == [b"one", b"two", b"three", "f\u00fcnf".encode()]
        assert "app=checkout" in evs[0][0] and "host=web01" in evs[0][0], evs[0]
        assert evs[2][0] == "k=v"


def test_binary_protocol_and_detection_of_the_other_protocol(flumen):
    port = harness.free_port()
    with start_source(flumen, source_conf(port, "a1.sources.r1.protocol = binary"), port) as a:
        _, tt = gen()
        with Client(port, "binary") as c:
            assert c.client.appendBatch([ev(b"b%d" % i) for i in range(20)]) == tt.Status.OK
            assert c.client.append(ev(b"single", x="y")) == tt.Status.OK
        # better than Flume: a compact client is answered in compact
        with Client(port, "compact") as c:
            assert c.client.append(ev(b"compact-too")) == tt.Status.OK
        a.wait_for(lambda: src_ctr(a, "EventAcceptedCount") == 22, 10, "22 events accepted")
        a.wait_for(lambda: b"compact-too" in logged_bodies(a), 10, "compact event logged")


def test_batch_larger_than_the_channel_transaction_answers_failed(flumen):
    port = harness.free_port()
    text = source_conf(port, channel_extra="a1.channels.c1.capacity = 10\n"
                                            "a1.channels.c1.transactionCapacity = 5")
    with start_source(flumen, text, port) as a:
        _, tt = gen()
        with Client(port) as c:
            assert c.client.appendBatch([ev(b"x%d" % i) for i in range(6)]) == tt.Status.FAILED
            # the connection stays usable and a batch that fits is accepted
            assert c.client.appendBatch([ev(b"y%d" % i) for i in range(5)]) == tt.Status.OK
        a.wait_for(lambda: src_ctr(a, "ChannelWriteFail") == 1, 10, "ChannelWriteFail 1")
        assert src_ctr(a, "AppendBatchReceivedCount") == 2
        assert src_ctr(a, "AppendBatchAcceptedCount") == 1
        assert src_ctr(a, "EventReceivedCount") == 11
        a.wait_for(lambda: src_ctr(a, "EventAcceptedCount") == 5, 10, "5 accepted")
        assert "answered FAILED" in a.log()


def _raw(port, data, shut=False):
    """Sends data on a fresh connection; returns what the server sent until
    it closed the connection."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            got += chunk
        return got, s.getsockname()[1]
    finally:
        s.close()


def test_bad_input_closes_only_that_connection(flumen):
    port = harness.free_port()
    with start_source(flumen, source_conf(port), port) as a:
        _, tt = gen()
        with Client(port) as good:  # a client that stays connected throughout
            assert good.client.append(ev(b"before")) == tt.Status.OK
            # garbage: an HTTP request reads as a ~1.1 GB frame length
            got, p1 = _raw(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert got == b""
            a.wait_log(r"127\.0\.0\.1:%d: closing connection: frame of \d+ bytes exceeds the "
                       r"limit of 67108864 bytes" % p1)
            # a negative frame length
            got, p2 = _raw(port, b"\xff\xff\xff\xf0" + b"\x00" * 16)
            a.wait_log(r"127\.0\.0\.1:%d: closing connection: invalid frame length" % p2)
            # a frame whose payload is garbage
            got, p3 = _raw(port, struct.pack(">I", 6) + b"\x82\x21\x01\xff\xff\xff")
            a.wait_log(r"127\.0\.0\.1:%d: closing connection: .*compact protocol" % p3)
            # a truncated frame, then the client goes away
            _raw(port, struct.pack(">I", 1000) + b"\x82\x21\x01", shut=True)
            a.wait_log(r"connection closed in the middle of a frame")
            # an unknown method: a TApplicationException, then the close
            call = b"\x82\x21\x07\x04ping\x00"
            got, p4 = _raw(port, struct.pack(">I", len(call)) + call)
            a.wait_log(r"127\.0\.0\.1:%d: closing connection: unknown method 'ping'" % p4)
            from thrift.protocol import TCompactProtocol
            from thrift.transport import TTransport
            from thrift.Thrift import TApplicationException, TMessageType
            (n,) = struct.unpack(">I", got[:4])
            assert len(got) == 4 + n, got
            prot = TCompactProtocol.TCompactProtocol(TTransport.TMemoryBuffer(got[4:]))
            name, mtype, seqid = prot.readMessageBegin()
            assert (name, mtype, seqid) == ("ping", TMessageType.EXCEPTION, 7)
            x = TApplicationException()
            x.read(prot)
            assert x.type == TApplicationException.UNKNOWN_METHOD, x.type
            # the connection that behaved is still served
            assert good.client.append(ev(b"after")) == tt.Status.OK
        a.wait_for(lambda: src_ctr(a, "AppendAcceptedCount") == 2, 10, "2 appends accepted")
        assert a.running()


def test_ssl_and_kerberos_are_rejected_with_a_clear_error(flumen):
    port = harness.free_port()
    text = source_conf(port, "a1.sources.r1.ssl = true\n"
                             "a1.sources.r1.keystore = /nonexistent.jks\n"
                             "a1.sources.r1.keystore-password = x")
    with harness.Agent(flumen, text) as a:
        a.wait_ready()
        a.wait_log(r"a1\.sources\.r1.*ssl.*TLS is not supported")
    text = source_conf(port, "a1.sources.r1.kerberos = true")
    with harness.Agent(flumen, text) as a:
        a.wait_ready()
        a.wait_log(r"a1\.sources\.r1.*kerberos.*not supported")


# -------------------------------------------------------------------- sink

def _sink_delivers(flumen, kind):
    srv = Server(kind)
    try:
        nc = harness.free_port()
        extra = "a1.sinks.k1.batch-size = 7"
        if kind == "binary":
            extra += "\na1.sinks.k1.protocol = binary"
        with harness.Agent(flumen, sink_conf(nc, srv.port, extra)) as a:
            a.wait_ready()
            a.wait_log(r"netcat\] listening on")
            lines = ["line %d \u00e9" % i for i in range(50)]
            harness.netcat(nc, "".join(l + "\n" for l in lines))
            want = [l.encode() for l in lines]
            a.wait_for(lambda: srv.bodies() == want, 15, "50 events at the generated server")
            a.wait_for(lambda: a.counter("SINK.k1", "EventDrainSuccessCount") == 50, 10,
                       "EventDrainSuccessCount 50")
            assert a.counter("SINK.k1", "ConnectionCreatedCount") == 1
            assert a.counter("SINK.k1", "EventWriteFail") == 0
            assert all(e.headers == {} for e in srv.events)
    finally:
        srv.close()


def test_sink_delivers_to_generated_compact_server(flumen):
    _sink_delivers(flumen, "compact")


def test_sink_delivers_to_generated_binary_server(flumen):
    _sink_delivers(flumen, "binary")


def test_sink_rolls_back_on_failed_and_redelivers(flumen):
    _, tt = gen()
    srv = Server("compact", answers=[tt.Status.FAILED])
    try:
        nc = harness.free_port()
        with harness.Agent(flumen, sink_conf(nc, srv.port)) as a:
            a.wait_ready()
            a.wait_log(r"netcat\] listening on")
            harness.netcat(nc, "".join("r%d\n" % i for i in range(10)))
            # first call answered FAILED -> rollback, runner waits 5 s, resend
            a.wait_for(lambda: srv.bodies() == [b"r%d" % i for i in range(10)], 20,
                       "all 10 events after the retry")
            a.wait_for(lambda: a.counter("SINK.k1", "EventDrainSuccessCount") == 10, 10,
                       "EventDrainSuccessCount 10")
            assert a.counter("SINK.k1", "EventWriteFail") == 1
            assert a.counter("SINK.k1", "ConnectionCreatedCount") == 2
            assert a.counter("SINK.k1", "ConnectionClosedCount") == 1
            assert re.search(r"appendBatch of \d+ event\(s\) failed: server answered FAILED",
                             a.log())
    finally:
        srv.close()


def test_sink_keeps_events_while_the_server_is_down_or_silent(flumen):
    # nothing listens yet: connect fails, events wait in the channel
    port = harness.free_port()
    nc = harness.free_port()
    extra = "a1.sinks.k1.request-timeout = 500\na1.sinks.k1.connect-timeout = 500"
    with harness.Agent(flumen, sink_conf(nc, port, extra)) as a:
        a.wait_ready()
        a.wait_log(r"netcat\] listening on")
        harness.netcat(nc, "".join("d%d\n" % i for i in range(5)))
        a.wait_for(lambda: a.counter("SINK.k1", "ConnectionFailedCount") >= 1, 10,
                   "a failed connect")
        a.wait_log(r"127\.0\.0\.1:%d: connect failed: Connection refused; will retry" % port)
        # a server that accepts but never answers: request-timeout, rollback
        silent = socket.socket()
        silent.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        silent.bind(("127.0.0.1", port))
        silent.listen(4)
        try:
            a.wait_log(r"appendBatch of 5 event\(s\) failed: no reply within request-timeout",
                       15)
        finally:
            silent.close()
        assert a.counter("SINK.k1", "EventDrainSuccessCount") == 0
        # the real server comes up: everything arrives, once
        srv = None
        deadline = time.monotonic() + 10
        while srv is None:
            try:
                srv = ServerOn(port)
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        try:
            a.wait_for(lambda: srv.bodies() == [b"d%d" % i for i in range(5)], 20,
                       "the 5 events after the server came up")
            a.wait_for(lambda: a.counter("SINK.k1", "EventDrainSuccessCount") == 5, 10,
                       "EventDrainSuccessCount 5")
            assert a.counter("SINK.k1", "EventWriteFail") >= 2
        finally:
            srv.close()


def test_agent_stops_promptly_while_a_call_hangs(flumen):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)
    port = silent.getsockname()[1]
    nc = harness.free_port()
    try:
        with harness.Agent(flumen, sink_conf(nc, port)) as a:  # request-timeout 20 s
            a.wait_ready()
            a.wait_log(r"netcat\] listening on")
            a.wait_log(r"connected to 127\.0\.0\.1:%d" % port)
            harness.netcat(nc, "h1\nh2\n")
            a.wait_for(lambda: a.counter("SINK.k1", "EventDrainAttemptCount") == 2, 10,
                       "the call in flight")
            t0 = time.monotonic()
            a.signal(signal.SIGTERM)
            rc = a.wait_exit(15)
            took = time.monotonic() - t0
            assert took < 6, "stop took %.1fs with a call in flight" % took
            assert rc == 0, rc
            assert "appendBatch of 2 event(s) failed" in a.log()
    finally:
        silent.close()


def ServerOn(port):
    """A compact Server on a given port (OSError while it is still taken)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))  # probe
    s.close()
    return Server("compact", port=port)


# ---------------------------------------------------------------- multi-hop

def test_two_agents_thrift_sink_to_thrift_source(flumen):
    b_port = harness.free_port()
    with start_source(flumen, source_conf(b_port).replace("a1.", "b1."), b_port, "b1") as b:
        nc = harness.free_port()
        with harness.Agent(flumen, sink_conf(nc, b_port, "a1.sinks.k1.batch-size = 100")) as a:
            a.wait_ready()
            a.wait_log(r"netcat\] listening on")
            n = 1000
            harness.netcat(nc, "".join("hop %d\n" % i for i in range(n)))
            b.wait_for(lambda: src_ctr(b, "EventAcceptedCount") == n, 20,
                       "%d events accepted by agent B" % n)
            a.wait_for(lambda: a.counter("SINK.k1", "EventDrainSuccessCount") == n, 10,
                       "A's sink drained %d" % n)
            b.wait_for(lambda: len(logged_bodies(b)) == n, 10, "B logged %d events" % n)
            assert logged_bodies(b) == [b"hop %d" % i for i in range(n)]
            assert src_ctr(b, "ChannelWriteFail") == 0


harness.main(globals())
