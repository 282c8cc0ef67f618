"""test_avro.py - the avro source and sink against the real agent binary,
proven with a test-side Avro peer written from spec/wire.md (avro_peer.py),
not with flumen's encoder.

Covers: the peer client -> our source (appendBatch with headers, append,
the Java-like NONE handshake fallback, pipelined requests answered by
serial, deflate), Status FAILED when the channel is full (counters as
metrics.md), bad input (garbage, absurd lengths, unknown message,
truncated frames) closing only that connection with a log line naming the
peer, the recorded Flume 1.11 client bytes replayed, ipFilter; our sink ->
the peer server (with and without deflate, FAILED answers retried without
loss); multi-hop A (netcat -> memory -> avro sink) -> B (avro source ->
memory -> logger) with and without deflate; a fan-in of three agents into
one; `flumen avro-client` when the CLI dispatches it, also with -P rpcProps
over TLS (truststore PEM/PKCS12, trust-all-certs, FLUME_SSL_TRUSTSTORE_PATH,
deflate inside TLS, a refused self-signed certificate, bad values); TLS
(PKCS12 and PEM keystores, truststore, trust-all-certs, a failed handshake,
TLS inside deflate).
"""

import os
import re
import socket
import struct
import subprocess
import tempfile

import avro_peer as peer
import harness

TEST_TIMEOUT = 60
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "wire")


def source_conf(port, sink="logger", extra="", channel_extra=""):
    lines = [
        "a1.sources = r1", "a1.channels = c1",
        "a1.sources.r1.type = avro", "a1.sources.r1.bind = 127.0.0.1",
        "a1.sources.r1.port = %d" % port, "a1.sources.r1.channels = c1",
        "a1.channels.c1.type = memory",
        "a1.channels.c1.capacity = 100000", "a1.channels.c1.transactionCapacity = 10000",
    ]
    if sink:
        lines += ["a1.sinks = k1", "a1.sinks.k1.type = %s" % sink, "a1.sinks.k1.channel = c1"]
    for block in (extra, channel_extra):
        lines += [l.strip() for l in block.strip().splitlines() if l.strip()]
    return "\n".join(lines) + "\n"


def start_source(flumen, text, port, name="a1"):
    a = harness.Agent(flumen, text, name=name).start()
    try:
        a.wait_ready()
        a.wait_log(r"\[%s\.sources\.r1 avro\] listening on 127\.0\.0\.1:%d" % (name, port))
    except BaseException:
        a.close()
        raise
    return a


def bodies(agent):
    return [b for _, b in harness.logger_events(agent.log())]


def src_ctr(agent, attr, name="r1"):
    return agent.counter("SOURCE.%s" % name, attr)


def expect_closed(sock, timeout=10):
    """Reads until EOF/reset; returns what was read."""
    sock.settimeout(timeout)
    got = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return got
        if not chunk:
            return got
        got += chunk


# ------------------------------------------------------- peer -> our source

def _client_to_source(flumen, deflate):
    port = harness.free_port()
    extra = "a1.sources.r1.compression-type = deflate" if deflate else ""
    with start_source(flumen, source_conf(port, extra=extra), port) as a:
        with peer.AvroClient(port, deflate=deflate) as c:
            evs = [peer.event("hello flume", {"app": "checkout", "host": "web01"}),
                   peer.event("second line", {"app": "checkout"}),
                   peer.event("third: \u00fc")]
            assert c.append_batch(evs) == ("status", "OK")
            assert c.last_match in ("BOTH", "CLIENT")
            assert c.append(peer.event("single")) == ("status", "OK")
            assert c.append_batch([]) == ("status", "OK")
        a.wait_for(lambda: len(bodies(a)) == 4, 10, "4 logger events")
        got = harness.logger_events(a.log())
        assert got[0][1] == b"hello flume" and "app=checkout" in got[0][0] \
            and "host=web01" in got[0][0], got[0]
        assert got[2][1] == "third: \u00fc".encode("utf-8")
        assert got[3][1] == b"single"
        assert src_ctr(a, "AppendBatchReceivedCount") == 2
        assert src_ctr(a, "AppendBatchAcceptedCount") == 2
        assert src_ctr(a, "AppendReceivedCount") == 1
        assert src_ctr(a, "AppendAcceptedCount") == 1
        assert src_ctr(a, "EventReceivedCount") == 4
        assert src_ctr(a, "EventAcceptedCount") == 4
        assert src_ctr(a, "ChannelWriteFail") == 0


def test_peer_client_appendbatch_and_append(flumen):
    _client_to_source(flumen, False)


def test_peer_client_with_deflate(flumen):
    _client_to_source(flumen, True)


def test_unknown_hash_gets_none_then_call_succeeds_on_resend(flumen):
    port = harness.free_port()
    with start_source(flumen, source_conf(port), port) as a:
        with peer.AvroClient(port, send_protocol=False, client_hash=bytes(range(16))) as c:
            assert c.append_batch([peer.event("after none")]) == ("status", "OK")
            assert c.serial == 2, "expected NONE then a resend"
        a.wait_for(lambda: b"after none" in bodies(a), 10, "event after the NONE round")
        # The hash is now known: a new connection without protocol is accepted at once.
        with peer.AvroClient(port, send_protocol=False, client_hash=bytes(range(16))) as c:
            assert c.append(peer.event("cached")) == ("status", "OK")
            assert c.serial == 1


def test_pipelined_requests_are_answered_by_serial(flumen):
    port = harness.free_port()
    with start_source(flumen, source_conf(port, sink="null"), port) as a:
        with peer.AvroClient(port) as c:
            assert c.append(peer.event("hs")) == ("status", "OK")   # establishes
            sent = []
            blob = b""
            for serial in (40, 7, 99):
                _, data = c.build("append", peer.enc(peer.EVENT_SCHEMA, peer.event(str(serial))),
                                  handshake=False, serial=serial)
                blob += data
                sent.append(serial)
            c.s.send(blob)
            got = []
            for _ in sent:
                serial, payload = c.s.read_frame()
                rd = peer.avro.io.BinaryDecoder(peer.io.BytesIO(payload))
                assert c.parse_result(rd) == ("status", "OK")
                got.append(serial)
            assert sorted(got) == sorted(sent), got
        a.wait_for(lambda: a.counter("CHANNEL.c1", "EventPutSuccessCount") == 4, 10, "4 puts")


def test_channel_full_answers_failed_and_counts(flumen):
    port = harness.free_port()
    text = source_conf(port, sink=None, channel_extra="""
        a1.channels.c1.capacity = 2
        a1.channels.c1.transactionCapacity = 2
        a1.channels.c1.keep-alive = 0""")
    text = text.replace("a1.channels.c1.capacity = 100000\n", "").replace(
        "a1.channels.c1.transactionCapacity = 10000\n", "")
    with start_source(flumen, text, port) as a:
        with peer.AvroClient(port) as c:
            assert c.append_batch([peer.event("1"), peer.event("2")]) == ("status", "OK")
            assert c.append(peer.event("3")) == ("status", "FAILED")
            assert c.append_batch([peer.event("4"), peer.event("5"), peer.event("6")]) == \
                ("status", "FAILED")
            assert c.append(peer.event("7")) == ("status", "FAILED")   # still connected
        assert src_ctr(a, "ChannelWriteFail") == 3
        assert src_ctr(a, "AppendReceivedCount") == 2
        assert src_ctr(a, "AppendAcceptedCount") == 0
        assert src_ctr(a, "AppendBatchReceivedCount") == 2
        assert src_ctr(a, "AppendBatchAcceptedCount") == 1
        assert src_ctr(a, "EventReceivedCount") == 7
        assert src_ctr(a, "EventAcceptedCount") == 2
        assert a.counter("CHANNEL.c1", "ChannelSize") == 2


def test_bad_input_closes_only_that_connection(flumen):
    port = harness.free_port()
    with start_source(flumen, source_conf(port), port) as a:
        # 1. garbage instead of a handshake
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x01\x00" + b"\xff" * 300)
        assert expect_closed(s) == b""
        s.close()
        a.wait_log(r"127\.0\.0\.1:\d+: closing connection: the first request does not start "
                   r"with an Avro handshake")
        # 2. absurd buffer count and length
        for hdr in (struct.pack(">ii", 1, 0x7fffffff),
                    struct.pack(">iii", 1, 1, 0x7ffffff0),
                    struct.pack(">ii", 1, 0)):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(hdr)
            assert expect_closed(s) == b""
            s.close()
        a.wait_log(r"closing connection: frame (of more than|announces|with 0 buffers)")
        # 3. unknown message name: error reply, then closed
        with peer.AvroClient(port) as c:
            serial, data = c.build("nosuch", b"")
            c.s.send(data)
            rs, payload = c.s.read_frame()
            rd = peer.avro.io.BinaryDecoder(peer.io.BytesIO(payload))
            assert peer.dec(peer.HS_RESP, rd)["match"] in ("BOTH", "CLIENT")
            kind, text = c.parse_result(rd)
            assert kind == "error" and "No such remote message: nosuch" in text, text
            assert expect_closed(c.sock) == b""
        a.wait_log(r"closing connection: .*No such remote message: nosuch")
        # 4. a frame cut in the middle, then the client goes away
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(struct.pack(">iii", 1, 1, 100) + b"\x00" * 10)
        s.close()
        a.wait_log(r"connection closed in the middle of a frame")
        # 5. a truncated appendBatch after a good handshake: error reply + close
        with peer.AvroClient(port) as c:
            params = peer.enc(peer.BATCH_SCHEMA, [peer.event("x" * 50)])[:-10]
            serial, data = c.build("appendBatch", params)
            c.s.send(data)
            rs, payload = c.s.read_frame()
            rd = peer.avro.io.BinaryDecoder(peer.io.BytesIO(payload))
            peer.dec(peer.HS_RESP, rd)
            kind, text = c.parse_result(rd)
            assert kind == "error" and "EOFException" in text, (kind, text)
        # The agent still serves everyone else.
        with peer.AvroClient(port) as c:
            assert c.append(peer.event("still serving")) == ("status", "OK")
        a.wait_for(lambda: b"still serving" in bodies(a), 10, "the good event")
        assert a.running()


def test_compression_mismatch_is_named_in_the_log(flumen):
    port = harness.free_port()
    with start_source(flumen, source_conf(port), port) as a:
        c = peer.AvroClient(port, deflate=True)
        try:
            serial, data = c.build("append", peer.enc(peer.EVENT_SCHEMA, peer.event("z")))
            c.s.send(data)
            assert expect_closed(c.sock) == b""
        finally:
            c.close()
        a.wait_log(r"closing connection: .*looks like compression-type = deflate")
    port = harness.free_port()
    extra = "a1.sources.r1.compression-type = deflate"
    with start_source(flumen, source_conf(port, extra=extra), port) as a:
        with peer.AvroClient(port) as c:
            serial, data = c.build("append", peer.enc(peer.EVENT_SCHEMA, peer.event("z")))
            c.s.send(data)
            assert expect_closed(c.sock) == b""
        a.wait_log(r"closing connection: bad deflate stream .*is the sender's compression-type "
                   r"deflate\?")


def test_recorded_flume_client_bytes_are_accepted(flumen):
    port = harness.free_port()
    with open(os.path.join(FIXTURES, "avro-appendbatch-headers.c2s.bin"), "rb") as f:
        c2s = f.read()
    with open(os.path.join(FIXTURES, "avro-appendbatch-headers.s2c.bin"), "rb") as f:
        s2c = f.read()
    with start_source(flumen, source_conf(port), port) as a:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(c2s)
        st = peer.Stream(s)
        got = st.read_frame()
        want = peer.Stream.__new__(peer.Stream)
        want.buf, want.deflate, want.sock = s2c, False, None
        assert got == want.read_frame(), (got, s2c)
        s.close()
        a.wait_for(lambda: len(bodies(a)) == 3, 10, "3 events")
        assert bodies(a)[0] == b"hello flume"


def test_ip_filter_denies_matching_peer(flumen):
    port = harness.free_port()
    extra = """a1.sources.r1.ipFilter = true
               a1.sources.r1.ipFilterRules = deny:ip:127.0.0.*,allow:ip:*"""
    with start_source(flumen, source_conf(port, extra=extra), port) as a:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        assert expect_closed(s) == b""
        s.close()
        a.wait_log(r"connection refused by ipFilterRules \(rule 1: deny:ip:127\.0\.0\.\*\)")
    port = harness.free_port()
    extra = """a1.sources.r1.ipFilter = true
               a1.sources.r1.ipFilterRules = allow:ip:127.*,deny:ip:*"""
    with start_source(flumen, source_conf(port, extra=extra), port) as a:
        with peer.AvroClient(port) as c:
            assert c.append(peer.event("allowed")) == ("status", "OK")


def make_certs(d):
    """Self-signed cert: (pem with cert+key, cert only, pkcs12 with password 'secret')."""
    key, cert = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=localhost"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    both = os.path.join(d, "both.pem")
    with open(both, "w") as f:
        f.write(open(cert).read() + open(key).read())
    p12 = os.path.join(d, "ks.p12")
    subprocess.run(["openssl", "pkcs12", "-export", "-in", cert, "-inkey", key, "-out", p12,
                    "-passout", "pass:secret"], check=True, timeout=60,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return both, cert, p12


def test_tls_source_with_pkcs12_keystore(flumen):
    with tempfile.TemporaryDirectory(prefix="flumen-tls-") as d:
        both, cert, p12 = make_certs(d)
        port = harness.free_port()
        extra = """a1.sources.r1.ssl = true
                   a1.sources.r1.keystore = %s
                   a1.sources.r1.keystore-password = secret
                   a1.sources.r1.keystore-type = PKCS12""" % p12
        with start_source(flumen, source_conf(port, extra=extra), port) as a:
            with peer.AvroClient(port, tls=True) as c:
                assert c.append_batch([peer.event("over tls", {"k": "v"})]) == ("status", "OK")
            a.wait_for(lambda: b"over tls" in bodies(a), 10, "the TLS event")
            # A plain client fails the TLS handshake; only that connection is closed.
            with peer.AvroClient(port) as c:
                serial, data = c.build("append", peer.enc(peer.EVENT_SCHEMA, peer.event("x")))
                c.s.send(data)
                expect_closed(c.sock)
            a.wait_log(r"127\.0\.0\.1:\d+: closing connection: TLS handshake failed")
            with peer.AvroClient(port, tls=True) as c:
                assert c.append(peer.event("still tls")) == ("status", "OK")


def test_tls_keystore_errors_are_clear(flumen):
    port = harness.free_port()
    text = source_conf(port, extra="a1.sources.r1.ssl = true\n"
                                   "a1.sources.r1.keystore = /nonexistent/ks.jks")
    with harness.Agent(flumen, text) as a:
        a.wait_ready()
        a.wait_log(r"a1\.sources\.r1.*keystore-type: JKS keystores cannot be read by flumen; "
                   r"convert")


def test_tls_sink_to_peer_server_with_truststore(flumen):
    with tempfile.TemporaryDirectory(prefix="flumen-tls-") as d:
        both, cert, p12 = make_certs(d)
        with peer.AvroServer(tls_cert=both) as srv:
            extra = "a1.sinks.k1.ssl = true\na1.sinks.k1.truststore = %s" % cert
            with harness.Agent(flumen, sink_conf(srv.port, extra)) as a:
                a.wait_ready()
                a.wait_for(lambda: len(srv.bodies()) == 250, 20, "250 events over TLS")
                a.wait_log(r"connected to 127\.0\.0\.1:%d \(TLS\)" % srv.port)
        # Without the truststore the self-signed certificate is refused.
        with peer.AvroServer(tls_cert=both) as srv:
            extra = "a1.sinks.k1.ssl = true"
            with harness.Agent(flumen, sink_conf(srv.port, extra)) as a:
                a.wait_ready()
                a.wait_log(r"TLS handshake failed: .*certificate verify failed")
                assert a.counter("SINK.k1", "EventDrainSuccessCount") == 0
                assert srv.bodies() == []


def test_tls_multi_hop_with_deflate(flumen):
    with tempfile.TemporaryDirectory(prefix="flumen-tls-") as d:
        both, cert, p12 = make_certs(d)
        pb = harness.free_port()
        b_extra = """a1.sources.r1.ssl = true
                     a1.sources.r1.keystore = %s
                     a1.sources.r1.keystore-type = PEM
                     a1.sources.r1.compression-type = deflate""" % both
        with start_source(flumen, source_conf(pb, extra=b_extra), pb) as b:
            a_extra = """a1.sinks.k1.ssl = true
                         a1.sinks.k1.trust-all-certs = true
                         a1.sinks.k1.compression-type = deflate"""
            with harness.Agent(flumen, sink_conf(pb, a_extra)) as a:
                a.wait_ready()
                b.wait_for(lambda: len(bodies(b)) == 250, 20, "250 events at B")
                assert bodies(b) == [str(i).encode() for i in range(250)]


# --------------------------------------------------------- our sink -> peer

def sink_conf(target_port, extra=""):
    lines = [
        "a1.sources = r1", "a1.channels = c1", "a1.sinks = k1",
        "a1.sources.r1.type = seq", "a1.sources.r1.totalEvents = 250",
        "a1.sources.r1.batchSize = 50", "a1.sources.r1.channels = c1",
        "a1.channels.c1.type = memory",
        "a1.sinks.k1.type = avro", "a1.sinks.k1.hostname = 127.0.0.1",
        "a1.sinks.k1.port = %d" % target_port, "a1.sinks.k1.channel = c1",
        "a1.sinks.k1.batch-size = 100",
    ]
    lines += [l.strip() for l in extra.strip().splitlines() if l.strip()]
    return "\n".join(lines) + "\n"


def _sink_to_server(flumen, deflate):
    with peer.AvroServer(deflate=deflate) as srv:
        extra = "a1.sinks.k1.compression-type = deflate\na1.sinks.k1.compression-level = 9" \
            if deflate else ""
        with harness.Agent(flumen, sink_conf(srv.port, extra)) as a:
            a.wait_ready()
            a.wait_for(lambda: len(srv.bodies()) == 250, 20, "250 events at the peer")
            assert srv.bodies() == [str(i).encode() for i in range(250)]
            assert all(name == "appendBatch" for name, _, _ in srv.calls)
            assert srv.handshakes[0] in ("BOTH", "CLIENT")
            a.wait_for(lambda: a.counter("SINK.k1", "EventDrainSuccessCount") == 250, 10,
                       "EventDrainSuccessCount 250")
            assert a.counter("SINK.k1", "ConnectionCreatedCount") == 1
            assert a.counter("SINK.k1", "EventWriteFail") == 0


def test_sink_to_peer_server(flumen):
    _sink_to_server(flumen, False)


def test_sink_to_peer_server_with_deflate(flumen):
    _sink_to_server(flumen, True)


@harness.timeout(90)
def test_sink_retries_failed_batches_without_loss(flumen):
    answers = {"n": 0}

    def status(evs):
        answers["n"] += 1
        return "FAILED" if answers["n"] <= 2 else "OK"

    with peer.AvroServer(status=status) as srv:
        with harness.Agent(flumen, sink_conf(srv.port)) as a:
            a.wait_ready()
            a.wait_for(lambda: len(srv.bodies()) == 250, 40, "250 events after retries")
            assert sorted(srv.bodies(), key=int) == [str(i).encode() for i in range(250)]
            assert a.counter("SINK.k1", "EventWriteFail") == 2
            assert a.counter("SINK.k1", "ConnectionClosedCount") >= 2
            a.wait_log(r"answered FAILED to an appendBatch of \d+ event\(s\); rolled back")


def test_sink_survives_a_dead_target_and_delivers_later(flumen):
    port = harness.free_port()
    with harness.Agent(flumen, sink_conf(port, "a1.sinks.k1.connect-timeout = 500")) as a:
        a.wait_ready()
        a.wait_for(lambda: a.counter("SINK.k1", "ConnectionFailedCount") >= 1, 10,
                   "a failed connection")
        a.wait_log(r"cannot connect to 127\.0\.0\.1:%d" % port)
        # Now a source appears on that port (the runner retries after its 5 s backoff).
        b_text = source_conf(port, sink="null")
        with start_source(flumen, b_text, port, name="b1".replace("b1", "a1")) as b:
            b.wait_for(lambda: b.counter("SOURCE.r1", "EventAcceptedCount") == 250, 30,
                       "250 events at B")
        assert a.counter("SINK.k1", "EventWriteFail") >= 1


# ------------------------------------------------------------- multi-hop

def _multi_hop(flumen, deflate):
    pb = harness.free_port()
    pa = harness.free_port()
    comp_src = "b.sources.r1.compression-type = deflate" if deflate else ""
    comp_sink = "a.sinks.k1.compression-type = deflate" if deflate else ""
    b_text = "\n".join([
        "b.sources = r1", "b.channels = c1", "b.sinks = k1",
        "b.sources.r1.type = avro", "b.sources.r1.bind = 127.0.0.1",
        "b.sources.r1.port = %d" % pb, "b.sources.r1.channels = c1", comp_src,
        "b.channels.c1.type = memory", "b.sinks.k1.type = logger", "b.sinks.k1.channel = c1",
    ]) + "\n"
    a_text = "\n".join([
        "a.sources = r1", "a.channels = c1", "a.sinks = k1",
        "a.sources.r1.type = netcat", "a.sources.r1.bind = 127.0.0.1",
        "a.sources.r1.port = %d" % pa, "a.sources.r1.channels = c1",
        "a.channels.c1.type = memory",
        "a.sinks.k1.type = avro", "a.sinks.k1.hostname = 127.0.0.1",
        "a.sinks.k1.port = %d" % pb, "a.sinks.k1.channel = c1", comp_sink,
    ]) + "\n"
    with harness.Agent(flumen, b_text, name="b") as b:
        b.wait_ready()
        b.wait_log(r"\[b\.sources\.r1 avro\] listening")
        with harness.Agent(flumen, a_text, name="a") as a:
            a.wait_ready()
            a.wait_log(r"\[a\.sources\.r1 netcat\] listening")
            lines = ["hop %d" % i for i in range(20)]
            replies = harness.netcat(pa, "".join(l + "\n" for l in lines), read_replies=20)
            assert replies == ["OK"] * 20
            b.wait_for(lambda: len(bodies(b)) == 20, 20, "20 events at B")
            assert bodies(b) == [l.encode() for l in lines]
            assert b.counter("SOURCE.r1", "EventAcceptedCount") == 20
            a.wait_for(lambda: a.counter("SINK.k1", "EventDrainSuccessCount") == 20, 10,
                       "A's sink drained 20")


def test_multi_hop_netcat_to_avro_to_logger(flumen):
    _multi_hop(flumen, False)


def test_multi_hop_with_deflate(flumen):
    _multi_hop(flumen, True)


@harness.timeout(90)
def test_fan_in_of_three_agents(flumen):
    pb = harness.free_port()
    b_text = source_conf(pb, sink="null")
    with start_source(flumen, b_text, pb) as b:
        senders = []
        try:
            for i in range(3):
                t = sink_conf(pb).replace("a1.", "s%d." % i).replace(
                    "totalEvents = 250", "totalEvents = 3000")
                senders.append(harness.Agent(flumen, t, name="s%d" % i).start())
            b.wait_for(lambda: b.counter("SOURCE.r1", "EventAcceptedCount") == 9000, 60,
                       "9000 events at B")
            b.wait_for(lambda: b.counter("CHANNEL.c1", "EventTakeSuccessCount") == 9000, 20,
                       "9000 events taken at B")
            assert b.counter("SOURCE.r1", "ChannelWriteFail") == 0
        finally:
            for s in senders:
                s.close()


# ------------------------------------------------------------ avro-client

def _has_avro_client(flumen):
    r = subprocess.run([flumen, "avro-client", "--help"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=10)
    return r.returncode == 0


def test_avro_client_sends_a_file_with_headers(flumen):
    if not _has_avro_client(flumen):
        print("SKIP: this flumen binary does not dispatch avro-client yet")
        return
    port = harness.free_port()
    with start_source(flumen, source_conf(port), port) as a:
        with tempfile.TemporaryDirectory(prefix="flumen-ac-") as d:
            data = os.path.join(d, "in.txt")
            hdr = os.path.join(d, "h.properties")
            with open(data, "w") as f:
                f.write("".join("line %d\n" % i for i in range(250)))
            with open(hdr, "w") as f:
                f.write("app = checkout\nhost=web01\n")
            r = subprocess.run([flumen, "avro-client", "-H", "127.0.0.1", "-p", str(port),
                                "-F", data, "-R", hdr], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=30)
            assert r.returncode == 0, r.stderr
            a.wait_for(lambda: src_ctr(a, "EventAcceptedCount") == 250, 10, "250 events")
            assert src_ctr(a, "AppendBatchAcceptedCount") == 3   # 100 + 100 + 50
            ev = harness.logger_events(a.log())
            assert "app=checkout" in ev[0][0] and "host=web01" in ev[0][0]
            # failure: nothing listening -> non-zero exit
            dead = harness.free_port()
            r = subprocess.run([flumen, "avro-client", "-H", "127.0.0.1", "-p", str(dead),
                                "-F", data], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=30)
            assert r.returncode != 0 and b"cannot connect" in r.stderr, r.stderr



def test_avro_client_rpc_props_tls_and_compression(flumen):
    if not _has_avro_client(flumen):
        print("SKIP: this flumen binary does not dispatch avro-client yet")
        return
    with tempfile.TemporaryDirectory(prefix="flumen-ac-tls-") as d:
        both, cert, p12 = make_certs(d)
        trust12 = os.path.join(d, "trust.p12")
        subprocess.run(["openssl", "pkcs12", "-export", "-nokeys", "-in", cert, "-out", trust12,
                        "-passout", "pass:secret"], check=True, timeout=60,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLUME_SSL_")}
        data = os.path.join(d, "in.txt")
        props = os.path.join(d, "rpc.properties")

        def run(text, lines, extra_env=None):
            with open(data, "w") as f:
                f.write("".join(l + "\n" for l in lines))
            with open(props, "w") as f:
                f.write(text)
            e = dict(env)
            e.update(extra_env or {})
            return subprocess.run([flumen, "avro-client", "-P", props, "-F", data],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30,
                                  env=e)

        for deflate in (False, True):
            port = harness.free_port()
            extra = """a1.sources.r1.ssl = true
                       a1.sources.r1.keystore = %s
                       a1.sources.r1.keystore-type = PEM""" % both
            if deflate:
                extra += "\na1.sources.r1.compression-type = deflate"
            with start_source(flumen, source_conf(port, extra=extra), port) as a:
                base = "hosts = h1\nhosts.h1 = 127.0.0.1:%d\nbatch-size = 4\nssl = true\n" % port
                if deflate:
                    base += "compression-type = deflate\ncompression-level = 9\n"
                ok_cases = [("truststore = %s\ntruststore-type = PEM\n" % cert, None),
                            ("truststore = %s\ntruststore-type = PKCS12\n"
                             "truststore-password = secret\n" % trust12, None),
                            ("trust-all-certs = TRUE\n", None),
                            ("", {"FLUME_SSL_TRUSTSTORE_PATH": cert})]
                want = []
                for i, (text, e) in enumerate(ok_cases):
                    lines = ["tls-%s-%d-%d" % (deflate, i, j) for j in range(10)]
                    r = run(base + text, lines, e)
                    assert r.returncode == 0, (deflate, text, r.stderr)
                    assert b"sent 10 event(s)" in r.stderr, r.stderr
                    want += lines
                a.wait_for(lambda: src_ctr(a, "EventAcceptedCount") == len(want), 10,
                           "%d events" % len(want))
                assert src_ctr(a, "AppendBatchAcceptedCount") == 3 * len(ok_cases)  # 4+4+2
                assert sorted(bodies(a)) == sorted(l.encode() for l in want)
                # the system trust store refuses the self-signed certificate
                r = run(base, ["refused"])
                assert r.returncode != 0, r.stderr
                assert b"127.0.0.1:%d" % port in r.stderr, r.stderr
                assert b"certificate verify failed" in r.stderr, r.stderr
                # without ssl the TLS source cannot be talked to
                r = run(base.replace("ssl = true", "ssl = false") + "connect-timeout = 3000\n"
                        "request-timeout = 3000\n", ["plain"])
                assert r.returncode != 0, r.stderr
                assert src_ctr(a, "EventAcceptedCount") == len(want)
                assert a.running()
        # bad values are named, and nothing is sent
        r = run("hosts = h1\nhosts.h1 = 127.0.0.1:1\ncompression-type = gzip\n", ["x"])
        assert r.returncode != 0 and b"compression-type" in r.stderr, r.stderr
        r = run("hosts = h1\nhosts.h1 = 127.0.0.1:1\nssl = true\n"
                "truststore = /nonexistent/ca.pem\n", ["x"])
        assert r.returncode != 0 and b"/nonexistent/ca.pem" in r.stderr, r.stderr


harness.main(globals())
