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
retrying when the server answers FAILED; kerberos and unreadable (JKS)
keystores rejected with a clear error; and a two-agent hop (netcat -> memory
-> thrift sink -> thrift source -> memory -> logger).

TLS (plain TLS around the framed transport, as Flume's TSSLTransportFactory;
certificates made with the `openssl` CLI in a temp dir): the generated client
over Python's ssl module -> our source with a PKCS12 keystore (and with the
keystore from FLUME_SSL_* variables); a plain client against the TLS source
closed with a log line; our sink -> the generated TLS server; our sink with a
truststore -> our TLS source (two agents); a certificate the sink does not
trust refused with a clear log line on both sides and nothing taken.

Needs: thrift-compiler, python3-thrift, openssl (Debian).
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


def _tls_socket_class():
    from thrift.transport import TSocket

    class TLSSocket(TSocket.TSocket):
        """TSocket whose connection is wrapped by Python's ssl module,
        verifying the server against cafile (host name 'localhost')."""

        def __init__(self, port, cafile):
            super().__init__("127.0.0.1", port)
            import ssl
            self.ctx = ssl.create_default_context(cafile=cafile)

        def open(self):
            super().open()
            self.handle = self.ctx.wrap_socket(self.handle, server_hostname="localhost")

    return TLSSocket


class Client:
    """The generated client over a framed socket (TLS when cafile is
    given)."""

    def __init__(self, port, kind="compact", cafile=None):
        from thrift.transport import TSocket, TTransport
        svc, _ = gen()
        if cafile is not None:
            sock = _tls_socket_class()(port, cafile)
        else:
            sock = TSocket.TSocket("127.0.0.1", port)
        sock.setTimeout(10000)
        self.sock = sock
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

    def __init__(self, kind="compact", answers=(), port=None, certfile=None):
        from thrift.server import TServer
        from thrift.transport import TSocket, TSSLSocket, TTransport
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
        if certfile is not None:
            self.sock = TSSLSocket.TSSLServerSocket(host="127.0.0.1", port=self.port,
                                                    certfile=certfile)
        else:
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


def test_jks_keystore_and_kerberos_are_rejected_with_a_clear_error(flumen):
    port = harness.free_port()
    text = source_conf(port, "a1.sources.r1.ssl = true\n"
                             "a1.sources.r1.keystore = /nonexistent.jks\n"
                             "a1.sources.r1.keystore-password = x")
    with harness.Agent(flumen, text) as a:
        a.wait_ready()
        a.wait_log(r"a1\.sources\.r1.*keystore-type.*JKS \(the default\) keystores cannot be "
                   r"read by flumen; convert")
    text = source_conf(port, "a1.sources.r1.ssl = true")
    with harness.Agent(flumen, text) as a:
        a.wait_ready()
        a.wait_log(r"a1\.sources\.r1.*keystore.*ssl = true needs a keystore")
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


# --------------------------------------------------------------------- TLS

def make_certs(d, cn="localhost"):
    """Self-signed certificate for cn (SAN localhost and 127.0.0.1) in d:
    (cert+key PEM, cert PEM, PKCS#12 with password 'secret')."""
    key, cert = os.path.join(d, cn + "-key.pem"), os.path.join(d, cn + "-cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=" + cn,
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    both = os.path.join(d, cn + "-both.pem")
    with open(both, "w") as f:
        f.write(open(cert).read() + open(key).read())
    p12 = os.path.join(d, cn + "-ks.p12")
    subprocess.run(["openssl", "pkcs12", "-export", "-in", cert, "-inkey", key, "-out", p12,
                    "-passout", "pass:secret"], check=True, timeout=60,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return both, cert, p12


def tls_source_extra(p12, name="a1"):
    return """%s.sources.r1.ssl = true
              %s.sources.r1.keystore = %s
              %s.sources.r1.keystore-password = secret
              %s.sources.r1.keystore-type = PKCS12""" % (name, name, p12, name, name)


def test_tls_source_serves_generated_client_with_pkcs12_keystore(flumen):
    with tempfile.TemporaryDirectory(prefix="flumen-thrift-tls-") as d:
        both, cert, p12 = make_certs(d)
        port = harness.free_port()
        with start_source(flumen, source_conf(port, tls_source_extra(p12)), port) as a:
            assert ", TLS)" in a.log()
            _, tt = gen()
            with Client(port, cafile=cert) as c:
                assert c.client.append(ev(b"tls one", k="v")) == tt.Status.OK
                assert c.client.appendBatch([ev(b"tls %d" % i) for i in range(2, 102)]) \
                    == tt.Status.OK
                # a batch bigger than one TLS record (16 KiB) and than one read
                big = [ev(b"%04d" % i + b"B" * 1000) for i in range(100)]
                assert c.client.appendBatch(big) == tt.Status.OK
            with Client(port, "binary", cafile=cert) as c:
                assert c.client.append(ev(b"tls binary")) == tt.Status.OK
            a.wait_for(lambda: src_ctr(a, "EventAcceptedCount") == 202, 10, "202 accepted")
            a.wait_for(lambda: len(logged_bodies(a)) == 202, 10, "202 logged")
            got = logged_bodies(a)
            assert got[:101] == [b"tls one"] + [b"tls %d" % i for i in range(2, 102)]
            assert got[101:201] == [b"%04d" % i + b"B" * 12 for i in range(100)]  # 16 logged
            assert got[-1] == b"tls binary"
            # a plain Thrift client: closed, with a line naming it and why
            got, p1 = _raw(port, struct.pack(">I", 11) + b"\x82\x21\x01\x06append\x00")
            assert got == b"", got
            a.wait_log(r"127\.0\.0\.1:%d: closing connection: TLS handshake failed: the client "
                       r"does not speak TLS \(first byte 0x00; a plain Thrift client\?\)" % p1)
            # the generated plain client fails too (the server never answers in clear)
            from thrift.transport import TTransport
            try:
                with Client(port) as c:
                    c.client.append(ev(b"in clear"))
                raise AssertionError("a plain call to a TLS source succeeded")
            except TTransport.TTransportException:
                pass
            # TLS clients are still served
            with Client(port, cafile=cert) as c:
                assert c.client.append(ev(b"still tls")) == tt.Status.OK
            a.wait_for(lambda: b"still tls" in logged_bodies(a), 10, "the event after")
            assert b"in clear" not in logged_bodies(a)
            assert a.running()


def test_tls_source_takes_keystore_from_flume_ssl_environment(flumen):
    with tempfile.TemporaryDirectory(prefix="flumen-thrift-tls-") as d:
        both, cert, p12 = make_certs(d)
        port = harness.free_port()
        env = {"FLUME_SSL_KEYSTORE_PATH": p12, "FLUME_SSL_KEYSTORE_PASSWORD": "secret",
               "FLUME_SSL_KEYSTORE_TYPE": "PKCS12",
               "FLUME_SSL_INCLUDE_PROTOCOLS": "TLSv1.2,TLSv1.3"}
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            a = start_source(flumen, source_conf(port, "a1.sources.r1.ssl = true\n"
                                                       "a1.sources.r1.exclude-protocols = "
                                                       "TLSv1.3"), port)
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        with a:
            _, tt = gen()
            c = Client(port, cafile=cert)
            with c:
                assert c.client.append(ev(b"env keystore")) == tt.Status.OK
                # include (env, comma list) TLSv1.2 TLSv1.3 minus exclude TLSv1.3
                assert c.sock.handle.version() == "TLSv1.2", c.sock.handle.version()
            a.wait_for(lambda: b"env keystore" in logged_bodies(a), 10, "the event")


def test_tls_sink_delivers_to_generated_tls_server(flumen):
    with tempfile.TemporaryDirectory(prefix="flumen-thrift-tls-") as d:
        both, cert, p12 = make_certs(d)
        srv = Server("compact", certfile=both)
        try:
            nc = harness.free_port()
            extra = """a1.sinks.k1.ssl = true
                       a1.sinks.k1.truststore = %s
                       a1.sinks.k1.batch-size = 10""" % cert
            with harness.Agent(flumen, sink_conf(nc, srv.port, extra)) as a:
                a.wait_ready()
                a.wait_log(r"netcat\] listening on")
                harness.netcat(nc, "".join("s%d\n" % i for i in range(40)))
                a.wait_for(lambda: srv.bodies() == [b"s%d" % i for i in range(40)], 15,
                           "40 events at the generated TLS server")
                a.wait_log(r"connected to 127\.0\.0\.1:%d \(TLS\)" % srv.port)
                a.wait_for(lambda: a.counter("SINK.k1", "EventDrainSuccessCount") == 40, 10,
                           "EventDrainSuccessCount 40")
                assert a.counter("SINK.k1", "EventWriteFail") == 0
        finally:
            srv.close()


@harness.timeout(90)
def test_tls_two_agents_and_untrusted_certificate_refused(flumen):
    with tempfile.TemporaryDirectory(prefix="flumen-thrift-tls-") as d:
        both, cert, p12 = make_certs(d)
        _, other, _ = make_certs(d, "other")
        b_port = harness.free_port()
        b_text = source_conf(b_port, tls_source_extra(p12)).replace("a1.", "b1.")
        with start_source(flumen, b_text, b_port, "b1") as b:
            # A trusts B's certificate (PEM truststore, Flume's default type name)
            nc = harness.free_port()
            extra = """a1.sinks.k1.ssl = true
                       a1.sinks.k1.truststore = %s
                       a1.sinks.k1.truststore-type = JKS
                       a1.sinks.k1.batch-size = 100""" % cert
            n = 2000
            with harness.Agent(flumen, sink_conf(nc, b_port, extra)) as a:
                a.wait_ready()
                a.wait_log(r"netcat\] listening on")
                harness.netcat(nc, "".join("hop %d\n" % i for i in range(n)))
                b.wait_for(lambda: src_ctr(b, "EventAcceptedCount") == n, 20,
                           "%d events accepted by agent B over TLS" % n)
                a.wait_for(lambda: a.counter("SINK.k1", "EventDrainSuccessCount") == n, 10,
                           "A's sink drained %d" % n)
                b.wait_for(lambda: len(logged_bodies(b)) == n, 10, "B logged %d" % n)
                assert logged_bodies(b) == [b"hop %d" % i for i in range(n)]
                assert a.counter("SINK.k1", "EventWriteFail") == 0
            # A2 trusts only another certificate (a PKCS12 truststore would do
            # the same): refused, logged on both sides, nothing taken or lost
            nc2 = harness.free_port()
            extra = """a2.sinks.k1.ssl = true
                       a2.sinks.k1.truststore = %s""" % other
            with harness.Agent(flumen, sink_conf(nc2, b_port, extra, name="a2"),
                               name="a2") as a2:
                a2.wait_ready()
                a2.wait_log(r"netcat\] listening on")
                harness.netcat(nc2, "x1\nx2\n")
                a2.wait_log(r"127\.0\.0\.1:%d: TLS handshake failed: .*certificate verify "
                            r"failed \(server certificate not trusted: self[- ]signed "
                            r"certificate.*\); will retry" % b_port, 15)
                b.wait_log(r"127\.0\.0\.1:\d+: closing connection: TLS handshake failed: "
                           r".*(unknown ca|bad certificate|certificate unknown)", 10)
                assert a2.counter("SINK.k1", "ConnectionFailedCount") >= 1
                assert a2.counter("SINK.k1", "EventDrainSuccessCount") == 0
                assert a2.counter("CHANNEL.c1", "ChannelSize") == 2
                assert src_ctr(b, "EventAcceptedCount") == n
            # A3 with a PKCS#12 truststore delivers
            nc3 = harness.free_port()
            extra = """a3.sinks.k1.ssl = true
                       a3.sinks.k1.truststore = %s
                       a3.sinks.k1.truststore-type = PKCS12
                       a3.sinks.k1.truststore-password = secret""" % p12
            with harness.Agent(flumen, sink_conf(nc3, b_port, extra, name="a3"),
                               name="a3") as a3:
                a3.wait_ready()
                a3.wait_log(r"netcat\] listening on")
                harness.netcat(nc3, "p12 truststore\n")
                b.wait_for(lambda: b"p12 truststore" in logged_bodies(b), 15,
                           "the event via a PKCS12 truststore")
            assert b.running()


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
