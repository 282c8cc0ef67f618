"""test_netcat.py - the netcat source against the real agent binary.

Covers Flume's quick start (netcat -> memory -> logger, `bind = localhost`,
the real `nc` client), acks and replies (OK, the max-line-length FAILED
reply followed by a close, the channel-full FAILED reply with the connection
kept), ack-every-event = false (no replies, every line counted by the
channel), bodies ('\\r' kept, invalid UTF-8 kept byte-exact, ISO-8859-1
converted to UTF-8) and a clear error for a port already in use.
Event bodies are checked through the logger sink's hex dump; counts through
the CHANNEL counters (the netcat source and logger/null sinks have no
metrics entry, as in Flume).
"""

import re
import socket
import subprocess
import time

import harness

TEST_TIMEOUT = 60


def conf(port, sink="logger", source_extra="", channel_extra=""):
    """One netcat source -> memory channel c1 [-> sink k1]."""
    lines = [
        "a1.sources = r1",
        "a1.channels = c1",
        "a1.sources.r1.type = netcat",
        "a1.sources.r1.bind = 127.0.0.1",
        "a1.sources.r1.port = %d" % port,
        "a1.sources.r1.channels = c1",
        "a1.channels.c1.type = memory",
    ]
    if sink:
        lines += ["a1.sinks = k1", "a1.sinks.k1.type = %s" % sink, "a1.sinks.k1.channel = c1"]
    lines += [l.strip() for l in source_extra.strip().splitlines() if l.strip()]
    lines += [l.strip() for l in channel_extra.strip().splitlines() if l.strip()]
    return "\n".join(lines) + "\n"


def start(flumen, text, port):
    a = harness.Agent(flumen, text).start()
    try:
        a.wait_ready()
        a.wait_log(r"\[a1\.sources\.r1 netcat\] listening on 127\.0\.0\.1:%d" % port)
    except BaseException:
        a.close()
        raise
    return a


def bodies(agent):
    return [b for _, b in harness.logger_events(agent.log())]


def wait_body(agent, body, timeout=10):
    agent.wait_for(lambda: body in bodies(agent), timeout, "logger event with body %r" % body)


# ---------------------------------------------------------------- tests

def test_quick_start_with_nc_and_localhost(flumen):
    port = harness.free_port()
    text = """\
# Flume's quick-start example, on a free port
a1.sources = r1
a1.sinks = k1
a1.channels = c1
a1.sources.r1.type = netcat
a1.sources.r1.bind = localhost
a1.sources.r1.port = %d
a1.sinks.k1.type = logger
a1.channels.c1.type = memory
a1.channels.c1.capacity = 1000
a1.channels.c1.transactionCapacity = 100
a1.sources.r1.channels = c1
a1.sinks.k1.channel = c1
""" % port
    with start(flumen, text, port) as a:
        out = subprocess.run(["nc", "-q", "1", "127.0.0.1", str(port)], input=b"Hello world!\n",
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
        assert out.stdout == b"OK\n", "nc printed %r (stderr %r)" % (out.stdout, out.stderr)
        line = ("Event: { headers:{} body: 48 65 6C 6C 6F 20 77 6F 72 6C 64 21"
                "             Hello world! }")
        a.wait_log(re.escape(line))
        assert "netcat" not in str(a.metrics().keys()), "netcat must have no metrics entry"


def test_ack_every_event_false_sends_no_replies_and_keeps_every_line(flumen):
    port = harness.free_port()
    n = 20000
    text = conf(port, sink="null", source_extra="a1.sources.r1.ack-every-event = false",
                channel_extra="a1.channels.c1.capacity = 100000\n"
                              "a1.channels.c1.transactionCapacity = 1000")
    with start(flumen, text, port) as a:
        payload = b"".join(b"line %06d %s\n" % (i, b"x" * 180) for i in range(n))
        with harness.LineClient(port) as c:
            c.send(payload)
            c.shutdown_write()
            c.expect_eof()  # the source closes on EOF without having written anything
        a.wait_for(lambda: a.counter("CHANNEL.c1", "EventPutSuccessCount") == n, 20,
                   "EventPutSuccessCount == %d" % n)
        a.wait_for(lambda: a.counter("CHANNEL.c1", "EventTakeSuccessCount") == n, 20,
                   "EventTakeSuccessCount == %d" % n)
        assert a.counter("CHANNEL.c1", "EventPutSuccessCount") == n


def test_without_acks_a_lone_line_is_not_held_back(flumen):
    # Unacked lines are batched across reads, but a line on an otherwise idle
    # connection must reach the channel at once (no waiting for more input),
    # and a partial batch is put when the client stays connected.
    port = harness.free_port()
    text = conf(port, sink=None, source_extra="a1.sources.r1.ack-every-event = false",
                channel_extra="a1.channels.c1.capacity = 10000\n"
                              "a1.channels.c1.transactionCapacity = 1000")
    with start(flumen, text, port) as a:
        with harness.LineClient(port) as c:
            for i in range(1, 4):
                c.send(b"lone line %d\n" % i)
                t0 = time.monotonic()
                a.wait_for(lambda: a.counter("CHANNEL.c1", "EventPutSuccessCount") == i, 5,
                           "line %d in the channel while the connection stays open" % i)
                assert time.monotonic() - t0 < 2.0, "line %d was held back" % i
            # 2500 lines in one write: more than one batch of 1000, then a remainder.
            c.send(b"".join(b"burst %d\n" % k for k in range(2500)))
            a.wait_for(lambda: a.counter("CHANNEL.c1", "EventPutSuccessCount") == 2503, 10,
                       "all 2503 lines in the channel with the connection still open")


def test_line_over_max_line_length_fails_and_closes(flumen):
    port = harness.free_port()
    text = conf(port, source_extra="a1.sources.r1.max-line-length = 20")
    with start(flumen, text, port) as a:
        with harness.LineClient(port) as c:
            c.send(b"1234567890123456789\n")  # 19 chars + newline = 20: accepted
            assert c.read_line() == "OK"
            c.send(b"12345678901234567890\nnot read\n")
            assert c.read_line() == \
                "FAILED: Event exceeds the maximum length (20 chars, including newline)"
            c.expect_eof()
        a.wait_for(lambda: a.counter("CHANNEL.c1", "EventPutSuccessCount") == 1, 10,
                   "the 19-char line in the channel")
        wait_body(a, b"1234567890123456")  # first 16 bytes in the hex dump
        # a new connection is served normally
        assert harness.netcat(port, b"again\n", read_replies=1) == ["OK"]
        wait_body(a, b"again")
        assert a.counter("CHANNEL.c1", "EventPutSuccessCount") == 2, "'not read' was read"


def test_carriage_return_is_kept_in_the_body(flumen):
    port = harness.free_port()
    with start(flumen, conf(port), port) as a:
        assert harness.netcat(port, b"wor\rld\r\n", read_replies=1) == ["OK"]
        wait_body(a, b"wor\rld\r")


def test_invalid_utf8_is_kept_byte_exact_and_acknowledged(flumen):
    port = harness.free_port()
    with start(flumen, conf(port), port) as a:
        with harness.LineClient(port) as c:
            c.send(b"bad\xff\xfe\n")
            assert c.read_line() == "OK"
            c.send(b"caf\xc3\xa9 \xe2\x82\n")  # valid text then a truncated sequence
            assert c.read_line() == "OK"
            c.send(b"good\n")
            assert c.read_line() == "OK"
        wait_body(a, b"good")
        got = bodies(a)
        assert got == [b"bad\xff\xfe", b"caf\xc3\xa9 \xe2\x82", b"good"], got


def test_latin1_encoding_is_converted_to_utf8(flumen):
    port = harness.free_port()
    text = conf(port, source_extra="a1.sources.r1.encoding = ISO-8859-1")
    with start(flumen, text, port) as a:
        assert harness.netcat(port, b"caf\xe9\n", read_replies=1) == ["OK"]
        wait_body(a, b"caf\xc3\xa9")


def test_channel_full_replies_failed_and_keeps_the_connection(flumen):
    port = harness.free_port()
    # no sink: nothing drains c1 (a channel with only a source is kept)
    text = conf(port, sink=None,
                channel_extra="a1.channels.c1.capacity = 2\n"
                              "a1.channels.c1.transactionCapacity = 2\n"
                              "a1.channels.c1.keep-alive = 1")
    full = ("FAILED: Space for commit to queue couldn't be acquired. Sinks are likely not "
            "keeping up with sources, or the buffer size is too tight")
    with start(flumen, text, port) as a:
        with harness.LineClient(port) as c:
            c.send(b"one\ntwo\n")
            assert c.read_lines(2) == ["OK", "OK"]
            c.send(b"three\n")
            assert c.read_line() == full
            c.send(b"four\n")  # the connection is still served
            assert c.read_line() == full
        assert a.counter("CHANNEL.c1", "EventPutSuccessCount") == 2
        assert a.running()


def test_without_acks_a_failed_batch_gets_one_failed_reply(flumen):
    port = harness.free_port()
    text = conf(port, sink=None, source_extra="a1.sources.r1.ack-every-event = false",
                channel_extra="a1.channels.c1.capacity = 10\n"
                              "a1.channels.c1.transactionCapacity = 10\n"
                              "a1.channels.c1.keep-alive = 1")
    with start(flumen, text, port) as a:
        with harness.LineClient(port) as c:
            c.send(b"".join(b"l%d\n" % i for i in range(15)))  # 10 fit, then no room
            assert c.read_line().startswith("FAILED: Space for commit to queue couldn't be "
                                            "acquired.")
        assert 0 < a.counter("CHANNEL.c1", "EventPutSuccessCount") <= 10


def test_peer_that_never_reads_replies_is_disconnected(flumen):
    port = harness.free_port()
    text = conf(port, sink="null", channel_extra="a1.channels.c1.capacity = 100000")
    with start(flumen, text, port) as a:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # keep kernel buffering small
            s.settimeout(30)
            s.connect(("127.0.0.1", port))
            chunk = b"x\n" * 50000
            try:
                for _ in range(80):  # up to 12 MB of "OK\n" replies, none read
                    s.sendall(chunk)
            except OSError:
                pass  # reset once the source gives up on us
            a.wait_log(r"\[a1\.sources\.r1 netcat\] 127\.0\.0\.1:%d: closing connection: peer "
                       r"is not reading replies" % s.getsockname()[1], 20)
        assert harness.netcat(port, b"still serving\n", read_replies=1) == ["OK"]


def test_port_in_use_is_reported(flumen):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        with harness.Agent(flumen, conf(port)) as a:
            a.wait_log(r"cannot listen on 127\.0\.0\.1:%d .*address already in use" % port)


@harness.timeout(120)
def test_throughput_without_acks(flumen):
    """Not a benchmark gate: prints lines/s of 200-byte lines over one
    connection into a null sink, and checks every line arrived."""
    port = harness.free_port()
    n = 1000000
    text = conf(port, sink="null", source_extra="a1.sources.r1.ack-every-event = false",
                channel_extra="a1.channels.c1.capacity = 1000000\n"
                              "a1.channels.c1.transactionCapacity = 1000")
    with start(flumen, text, port) as a:
        line = b"y" * 199 + b"\n"
        chunk = line * 5000
        t0 = time.monotonic()
        with harness.LineClient(port, timeout=60) as c:
            for _ in range(n // 5000):
                c.send(chunk)
            c.shutdown_write()
            c.expect_eof(60)
        a.wait_for(lambda: a.counter("CHANNEL.c1", "EventPutSuccessCount") == n, 60,
                   "EventPutSuccessCount == %d" % n)
        dt = time.monotonic() - t0
        print("  netcat ack-every-event=false: %d lines of 200 B in %.2fs = %.0f lines/s"
              % (n, dt, n / dt), flush=True)


harness.main(globals())
