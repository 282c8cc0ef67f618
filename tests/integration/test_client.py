"""test_client.py - libflumen-client against the real agent binary, through
the example program (examples/client_lines.c, built as
flumen-client-example next to the flumen binary) and the load client
(bench/client/loadclient.c).

Covers: lines from stdin arrive at an avro source (default client, headers
kept, with and without deflate) and at a thrift source (compact and binary),
checked in the logger sink's output and the source's /metrics counters;
the properties-file constructor; failover from a dead port to a live agent;
load balancing (round_robin) over two agents, and over one dead and one
live agent with backoff; a client with only dead hosts exits non-zero and
names the host; the load client's appendBatch runs into avro and thrift.
TLS (certificates made with the `openssl` CLI in a temp dir): the Avro
client against an avro source with ssl; the Thrift client against a thrift
source with ssl (compact and binary, appends and a batch bigger than one
TLS write slice), trusting a PEM or PKCS#12 truststore, all certificates,
or the truststore named by FLUME_SSL_TRUSTSTORE_PATH, and refusing the
self-signed certificate with the system trust store (the error names the
host and the verification failure); a plain thrift client against the TLS
source fails and the source keeps serving.
"""

import os
import subprocess
import tempfile

import harness

TEST_TIMEOUT = 60


def tool(flumen, name):
    path = os.path.join(os.path.dirname(os.path.abspath(flumen)), name)
    assert os.access(path, os.X_OK), "%s not built (expected at %s)" % (name, path)
    return path


def source_conf(kind, port, sink="logger", extra=()):
    lines = [
        "a1.sources = r1", "a1.channels = c1", "a1.sinks = k1",
        "a1.sources.r1.type = %s" % kind, "a1.sources.r1.bind = 127.0.0.1",
        "a1.sources.r1.port = %d" % port, "a1.sources.r1.channels = c1",
        "a1.channels.c1.type = memory", "a1.channels.c1.capacity = 100000",
        "a1.channels.c1.transactionCapacity = 10000",
        "a1.sinks.k1.type = %s" % sink, "a1.sinks.k1.channel = c1",
    ] + list(extra)
    return "\n".join(lines) + "\n"


def start(flumen, kind, port, sink="logger", extra=()):
    a = harness.Agent(flumen, source_conf(kind, port, sink, extra)).start()
    try:
        a.wait_ready()
        a.wait_log(r"\[a1\.sources\.r1 %s\] listening on 127\.0\.0\.1:%d" % (kind, port))
    except BaseException:
        a.close()
        raise
    return a


def run_example(flumen, args, lines, timeout=30, env=None):
    data = "".join(l + "\n" for l in lines).encode()
    p = subprocess.run([tool(flumen, "flumen-client-example")] + list(args), input=data,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, env=env)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def props_file(text):
    fd, path = tempfile.mkstemp(prefix="flumen-client-", suffix=".properties")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def accepted(agent):
    return agent.counter("SOURCE.r1", "EventAcceptedCount")


def logged(agent, n):
    """Waits until the logger sink printed n events; returns them."""
    agent.wait_for(lambda: len(harness.logger_events(agent.log())) >= n, 15,
                   "%d logged events" % n)
    return harness.logger_events(agent.log())


def check_delivery(flumen, kind, args, extra=()):
    port = harness.free_port()
    with start(flumen, kind, port, extra=extra) as a:
        lines = ["line-%03d" % i for i in range(250)]
        rc, out, err = run_example(flumen, ["-H", "127.0.0.1", "-p", str(port)] + list(args) +
                                   ["-h", "dc=eu", "-h", "app=web"], lines)
        assert rc == 0, (rc, out, err)
        assert "sent 250 event(s)" in out, out
        # acknowledged means committed: the counter is already there
        assert accepted(a) == 250, a.metrics()
        evs = logged(a, 250)
        assert sorted(b for _, b in evs) == sorted(l.encode() for l in lines)
        assert all("dc=eu" in h and "app=web" in h for h, _ in evs), evs[:3]
        assert a.counter("SOURCE.r1", "AppendBatchAcceptedCount") == 3  # 100 + 100 + 50


def test_avro_source_gets_every_line_with_headers(flumen):
    check_delivery(flumen, "avro", [])


def test_single_appends_avro_and_thrift(flumen):
    for kind, flag in (("avro", []), ("thrift", ["-t"])):
        port = harness.free_port()
        with start(flumen, kind, port) as a:
            rc, out, err = run_example(flumen, ["-H", "127.0.0.1", "-p", str(port), "-a"] + flag,
                                       ["s1", "s2", "s3", "s4"])
            assert rc == 0, (kind, rc, out, err)
            assert [b for _, b in logged(a, 4)] == [b"s1", b"s2", b"s3", b"s4"]
            assert a.counter("SOURCE.r1", "AppendAcceptedCount") == 4, (kind, a.metrics())
            assert a.counter("SOURCE.r1", "AppendBatchAcceptedCount") == 0


def test_avro_deflate(flumen):
    port = harness.free_port()
    with start(flumen, "avro", port, extra=["a1.sources.r1.compression-type = deflate"]) as a:
        path = props_file("hosts = h1\nhosts.h1 = 127.0.0.1:%d\ncompression-type = deflate\n"
                          "batch-size = 40\n" % port)
        try:
            rc, out, err = run_example(flumen, ["-P", path], ["z%d" % i for i in range(100)])
        finally:
            os.unlink(path)
        assert rc == 0, (rc, out, err)
        assert accepted(a) == 100
        assert a.counter("SOURCE.r1", "AppendBatchAcceptedCount") == 3  # 40 + 40 + 20


def make_cert(d):
    """A self-signed certificate for 127.0.0.1 in d: (keystore PEM with key
    and certificate, CA PEM)."""
    key, crt = os.path.join(d, "key.pem"), os.path.join(d, "crt.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", crt, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
    ks = os.path.join(d, "keystore.pem")
    with open(ks, "w") as f:
        f.write(open(crt).read() + open(key).read())
    return ks, crt


def test_avro_over_tls(flumen):
    with tempfile.TemporaryDirectory(prefix="flumen-client-tls-") as d:
        ks, ca = make_cert(d)
        port = harness.free_port()
        extra = ["a1.sources.r1.ssl = true", "a1.sources.r1.keystore = %s" % ks,
                 "a1.sources.r1.keystore-type = PEM"]
        with start(flumen, "avro", port, extra=extra) as a:
            base = "hosts = h1\nhosts.h1 = 127.0.0.1:%d\nssl = true\n" % port
            cases = [("truststore = %s\ntruststore-type = PEM\n" % ca, 0),
                     ("trust-all-certs = true\n", 0),
                     ("", 1)]   # system trust store: our self-signed cert is refused
            sent = 0
            for extra_props, want_rc in cases:
                path = props_file(base + extra_props)
                try:
                    rc, out, err = run_example(flumen, ["-P", path], ["t1", "t2"])
                finally:
                    os.unlink(path)
                assert rc == want_rc, (extra_props, rc, out, err)
                if want_rc == 0:
                    sent += 2
                else:
                    assert "127.0.0.1:%d" % port in err, err
            assert accepted(a) == sent
            # a plain client against the TLS source fails, naming the peer
            rc, out, err = run_example(flumen, ["-H", "127.0.0.1", "-p", str(port)], ["p"])
            assert rc == 1 and "127.0.0.1:%d" % port in err, (rc, err)
            assert a.running()


def clean_env(**extra):
    """The environment without FLUME_SSL_* (so the caller's cannot leak in),
    plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLUME_SSL_")}
    env.update(extra)
    return env


def run_with_props(flumen, text, args, lines, env=None):
    path = props_file(text)
    try:
        return run_example(flumen, ["-P", path] + list(args), lines, env=env or clean_env())
    finally:
        os.unlink(path)


def test_thrift_over_tls(flumen):
    with tempfile.TemporaryDirectory(prefix="flumen-client-ttls-") as d:
        ks, ca = make_cert(d)
        p12 = os.path.join(d, "trust.p12")
        subprocess.run(["openssl", "pkcs12", "-export", "-nokeys", "-in", ca, "-out", p12,
                        "-passout", "pass:secret"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=30)
        for proto in ("compact", "binary"):
            port = harness.free_port()
            extra = ["a1.sources.r1.ssl = true", "a1.sources.r1.keystore = %s" % ks,
                     "a1.sources.r1.keystore-type = PEM",
                     "a1.sources.r1.protocol = %s" % proto]
            with start(flumen, "thrift", port, extra=extra) as a:
                base = ("client.type = thrift\nprotocol = %s\nhosts = h1\n"
                        "hosts.h1 = 127.0.0.1:%d\nssl = true\nconnect-timeout = 5000\n"
                        % (proto, port))
                cases = [("truststore = %s\ntruststore-type = PEM\n" % ca, [], None, 0),
                         ("truststore = %s\ntruststore-type = PKCS12\n"
                          "truststore-password = secret\n" % p12, ["-a"], None, 0),
                         ("trust-all-certs = true\n", [], None, 0),
                         ("", ["-a"], clean_env(FLUME_SSL_TRUSTSTORE_PATH=ca), 0),
                         ("", [], None, 1)]   # system trust store: self-signed is refused
                sent = 0
                for i, (props, args, env, want_rc) in enumerate(cases):
                    lines = ["%s-%d-%d" % (proto, i, j) for j in range(3)]
                    rc, out, err = run_with_props(flumen, base + props, args, lines, env)
                    assert rc == want_rc, (proto, props, args, rc, out, err)
                    if want_rc == 0:
                        sent += 3
                        assert "sent 3 event(s)" in out, out
                    else:
                        assert "127.0.0.1:%d" % port in err, err
                        assert "not trusted" in err and "self-signed" in err, err
                assert accepted(a) == sent, a.metrics()
                bodies = sorted(b for _, b in logged(a, sent))
                assert bodies == sorted(("%s-%d-%d" % (proto, i, j)).encode()
                                        for i in range(4) for j in range(3)), bodies
                assert a.counter("SOURCE.r1", "AppendAcceptedCount") == 6  # two -a runs
                # one appendBatch of ~600 KB: more than one TLS write slice
                big = ["B%05d-" % i + "x" * 200 for i in range(3000)]
                rc, out, err = run_with_props(flumen, base + "trust-all-certs = true\n"
                                              "batch-size = 3000\n", [], big)
                assert rc == 0 and "sent 3000 event(s)" in out, (rc, out, err)
                assert accepted(a) == sent + 3000, a.metrics()
                # a plain client against the TLS source fails, naming the peer...
                rc, out, err = run_with_props(flumen, base.replace("ssl = true", "ssl = false") +
                                              "request-timeout = 3000\n", [], ["p"])
                assert rc == 1 and "127.0.0.1:%d" % port in err, (rc, err)
                # ...and the source keeps serving TLS clients
                rc, out, err = run_with_props(flumen, base + "trust-all-certs = true\n", [],
                                              ["after"])
                assert rc == 0, (rc, out, err)
                assert accepted(a) == sent + 3001
                assert a.running()


def test_thrift_source_compact(flumen):
    check_delivery(flumen, "thrift", ["-t"])


def test_thrift_source_binary(flumen):
    port = harness.free_port()
    with start(flumen, "thrift", port, extra=["a1.sources.r1.protocol = binary"]) as a:
        path = props_file("client.type = thrift\nprotocol = binary\nhostname = 127.0.0.1\n"
                          "port = %d\n" % port)
        try:
            rc, out, err = run_example(flumen, ["-P", path], ["b1", "b2", "b3"])
        finally:
            os.unlink(path)
        assert rc == 0, (rc, out, err)
        assert sorted(b for _, b in logged(a, 3)) == [b"b1", b"b2", b"b3"]


def test_failover_skips_a_dead_port(flumen):
    dead = harness.free_port()   # nothing listens there
    port = harness.free_port()
    with start(flumen, "avro", port) as a:
        path = props_file("client.type = default_failover\nhosts = dead live\n"
                          "hosts.dead = 127.0.0.1:%d\nhosts.live = 127.0.0.1:%d\n"
                          "batch-size = 10\nconnect-timeout = 2000\n" % (dead, port))
        try:
            rc, out, err = run_example(flumen, ["-P", path], ["f%d" % i for i in range(35)])
        finally:
            os.unlink(path)
        assert rc == 0, (rc, out, err)
        assert accepted(a) == 35
        assert len(logged(a, 35)) == 35


def test_loadbalance_round_robin_over_two_agents(flumen):
    p1, p2 = harness.free_port(), harness.free_port()
    with start(flumen, "avro", p1, sink="null") as a, start(flumen, "avro", p2, sink="null") as b:
        path = props_file("client.type = default_loadbalance\nhosts = h1 h2\n"
                          "hosts.h1 = 127.0.0.1:%d\nhosts.h2 = 127.0.0.1:%d\n"
                          "host-selector = round_robin\nbatch-size = 10\n" % (p1, p2))
        try:
            rc, out, err = run_example(flumen, ["-P", path], ["l%d" % i for i in range(100)])
        finally:
            os.unlink(path)
        assert rc == 0, (rc, out, err)
        # 10 calls of 10, alternating
        assert (accepted(a), accepted(b)) == (50, 50), (accepted(a), accepted(b))


def test_loadbalance_with_backoff_avoids_a_dead_host(flumen):
    dead = harness.free_port()
    port = harness.free_port()
    with start(flumen, "avro", port, sink="null") as a:
        path = props_file("client.type = default_loadbalance\nhosts = d l\n"
                          "hosts.d = 127.0.0.1:%d\nhosts.l = 127.0.0.1:%d\n"
                          "host-selector = random\nbackoff = true\nmaxBackoff = 60000\n"
                          "batch-size = 5\n" % (dead, port))
        try:
            rc, out, err = run_example(flumen, ["-P", path], ["r%d" % i for i in range(60)])
        finally:
            os.unlink(path)
        assert rc == 0, (rc, out, err)
        assert accepted(a) == 60


def test_only_dead_hosts_fail_with_the_host_named(flumen):
    dead = harness.free_port()
    rc, out, err = run_example(flumen, ["-H", "127.0.0.1", "-p", str(dead)], ["x"])
    assert rc == 1, (rc, out, err)
    assert "127.0.0.1:%d" % dead in err, err
    assert "sent 0 event(s)" in out
    rc, out, err = run_example(flumen, ["-H", "127.0.0.1", "-p", "0"], ["x"])
    assert rc == 1 and "port" in err, (rc, err)


def test_loadclient_avro_and_thrift(flumen):
    for kind, flag in (("avro", []), ("thrift", ["-t"])):
        port = harness.free_port()
        with start(flumen, kind, port, sink="null") as a:
            p = subprocess.run([tool(flumen, "loadclient"), "-H", "127.0.0.1", "-p", str(port),
                                "-c", "2", "-n", "5", "-b", "1000", "-s", "200"] + flag,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
            assert p.returncode == 0, (kind, p.stdout, p.stderr)
            assert b"events=10000 " in p.stdout, p.stdout
            # 2 warm-up events + 10 timed batches of 1000
            assert accepted(a) == 10002, a.metrics()


harness.main(globals())
