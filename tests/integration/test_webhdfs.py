"""test_webhdfs.py - the hdfs sink on hdfs:// and webhdfs:// paths against
tests/webhdfs_standin.py (a stand-in WebHDFS server; Hadoop does not run on
the test machines), with the real agent binary.

Covers: every event delivered in order through CREATE (307 -> datanode),
APPEND, RENAME on roll and MKDIRS, with user.name from HADOOP_USER_NAME
and hdfs.proxyUser sent as doas (the files belong to the proxied user);
hdfs:// mapped to hdfs.webhdfs.port; a datanode dropping connections
mid-write (torn appends truncated back and resent: nothing lost, no torn
record); a datanode refusing connections for longer than hdfs.callTimeout
(batches rolled back and redelivered: nothing lost, duplicates only of
whole events); namenode 500s retried; a flush failing at a roll in the middle of a batch
rolling the batch back; a permission error logged naming
the path and the user, nothing committed until the permission is fixed;
the seeds' pipeline exec `tail -F` of a growing file -> file channel ->
hdfs sink on hdfs://127.0.0.1/... (hdfs.webhdfs.port = the stand-in) with
rollSize, batchSize, DataStream, filePrefix/fileSuffix: every line arrives,
in order, with 0 duplicates.
"""

import collections
import os
import re
import shutil
import sys
import tempfile
import uuid

import harness

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import webhdfs_standin  # noqa: E402

TEST_TIMEOUT = 90
USER = "flumeagent"


class standin:
    def __enter__(self):
        os.environ["HADOOP_USER_NAME"] = USER
        self.s = webhdfs_standin.StandIn().start()
        return self.s

    def __exit__(self, *exc):
        self.s.stop()
        return False


def conf(path, n, extra=None):
    props = {"type": "hdfs", "hdfs.path": path, "hdfs.fileType": "DataStream",
             "hdfs.batchSize": "100", "hdfs.rollCount": "450", "hdfs.rollSize": "0",
             "hdfs.rollInterval": "0", "hdfs.callTimeout": "3000"}
    props.update(extra or {})
    lines = ["a1.sources = r1", "a1.channels = c1", "a1.sinks = k1",
             "a1.sources.r1.type = seq", "a1.sources.r1.totalEvents = %d" % n,
             "a1.sources.r1.batchSize = 100", "a1.sources.r1.channels = c1",
             "a1.channels.c1.type = memory", "a1.channels.c1.capacity = 100000",
             "a1.channels.c1.transactionCapacity = 1000", "a1.sinks.k1.channel = c1"]
    lines += ["a1.sinks.k1.%s = %s" % kv for kv in props.items()]
    return "\n".join(lines) + "\n"


def drain_and_stop(a, n, timeout=60):
    a.wait_for(lambda: a.counter("SINK.k1", "EventDrainSuccessCount") >= n, timeout,
               "SINK.k1 EventDrainSuccessCount >= %d" % n)
    m = a.metrics()
    a.signal(15)
    a.wait_exit(20)
    return m


def lines_of(s, under):
    files = s.files(under)
    assert files, "no files under %s" % under
    assert not [p for p in files if p.endswith(".tmp")], sorted(files)
    order = sorted(files, key=lambda p: (len(p), p))
    return order, b"".join(files[p] for p in order).split(b"\n")[:-1]


def check_at_least_once(lines, n, max_dups):
    want = [b"%d" % i for i in range(n)]
    c = collections.Counter(lines)
    torn = [l for l in c if l not in set(want)]
    assert not torn, "records that are not whole events: %r" % torn[:5]
    missing = [w for w in want if c[w] == 0]
    assert not missing, "lost %d events, e.g. %r" % (len(missing), missing[:5])
    dups = sum(v - 1 for v in c.values())
    assert dups <= max_dups, "%d duplicates (at most %d allowed)" % (dups, max_dups)
    return dups


def test_hdfs_scheme_delivers_every_event_in_order_with_roll_renames_and_doas(flumen):
    n = 2000
    with standin() as s:
        path = "hdfs://127.0.0.1:8020/flume/events"
        text = conf(path, n, {"hdfs.webhdfs.port": str(s.port), "hdfs.proxyUser": "etl",
                              "hdfs.filePrefix": "ev", "hdfs.fileSuffix": ".log"})
        with harness.Agent(flumen, text) as a:
            a.wait_ready()
            drain_and_stop(a, n)
        order, lines = lines_of(s, "/flume/events")
        assert lines == [b"%d" % i for i in range(n)]
        assert len(order) == 5, order       # rollCount 450 -> 4 full files + 1
        for p in order:
            assert re.fullmatch(r"/flume/events/ev\.\d+\.log", p), p
            assert s.owner(p) == "etl"
        # The wire: two-step CREATE and APPEND, RENAME on every roll, MKDIRS,
        # user.name from HADOOP_USER_NAME with doas.
        creates = s.ops("CREATE")
        assert [e[0] for e in creates[:2]] == ["namenode", "datanode"], creates[:2]
        assert creates[0][6] == 307 and creates[1][6] == 201
        assert len([e for e in creates if e[0] == "datanode"]) == 5
        appends = [e for e in s.ops("APPEND") if e[0] == "datanode"]
        assert len(appends) >= n // 100 and all(e[6] == 200 for e in appends)
        assert len([e for e in s.ops("RENAME") if e[6] == 200]) == 5
        assert s.ops("MKDIRS")
        assert all(e[4] == USER and e[5] == "etl" for e in s.log), s.log[:3]


def test_webhdfs_datanode_failing_mid_write_loses_nothing_and_tears_nothing(flumen):
    n = 3000
    with standin() as s:
        path = "webhdfs://127.0.0.1:%d/mid" % s.port
        with harness.Agent(flumen, conf(path, n)) as a:
            s.keep_partial = True
            s.fail_midwrite = 4
            a.wait_ready()
            m = drain_and_stop(a, n)
        _, lines = lines_of(s, "/mid")
        dups = check_at_least_once(lines, n, 4 * 100)
        # Every torn append was cut back to the acknowledged length.
        assert s.ops("TRUNCATE"), "no TRUNCATE after a torn append"
        assert int(m["SINK.k1"]["EventDrainSuccessCount"]) >= n
        print("  mid-write failures: 4, duplicates: %d" % dups)


def test_webhdfs_datanode_refusing_beyond_call_timeout_redelivers(flumen):
    n = 1500
    with standin() as s:
        path = "webhdfs://127.0.0.1:%d/refused" % s.port
        with harness.Agent(flumen, conf(path, n, {"hdfs.callTimeout": "800"})) as a:
            s.refuse_datanode = 10 ** 6
            a.wait_ready()
            a.wait_for(lambda: a.counter("SINK.k1", "EventWriteFail") >= 2, 30,
                       "failed batches while the datanodes refuse connections")
            assert a.counter("SINK.k1", "EventDrainSuccessCount") == 0
            a.wait_log(r"WebHDFS (CREATE|APPEND) webhdfs://127\.0\.0\.1:\d+/refused/"
                       r".*(Connection refused|Couldn't connect|Failed to connect).*hdfs\.callTimeout",
                       10)
            s.refuse_datanode = 0
            drain_and_stop(a, n)
        _, lines = lines_of(s, "/refused")
        check_at_least_once(lines, n, 0)


def test_failed_flush_at_a_mid_batch_roll_rolls_the_batch_back(flumen):
    # rollCount 50 < batchSize 100: every batch closes a file in its middle;
    # when that close cannot flush, the batch must not commit.
    n = 1000
    with standin() as s:
        s.deny_appends = 1
        path = "webhdfs://127.0.0.1:%d/midroll" % s.port
        with harness.Agent(flumen, conf(path, n, {"hdfs.rollCount": "50"})) as a:
            a.wait_ready()
            m = drain_and_stop(a, n)
        assert int(m["SINK.k1"]["EventWriteFail"]) >= 1, m["SINK.k1"]
        _, lines = lines_of(s, "/midroll")
        check_at_least_once(lines, n, 100)


def test_namenode_errors_are_retried_within_call_timeout(flumen):
    n = 1000
    with standin() as s:
        path = "webhdfs://127.0.0.1:%d/retry" % s.port
        with harness.Agent(flumen, conf(path, n)) as a:
            s.namenode_errors = 4   # backoff 50+100+200+400 ms < callTimeout
            a.wait_ready()
            m = drain_and_stop(a, n)
        assert int(m["SINK.k1"].get("EventWriteFail", "0")) == 0, m["SINK.k1"]
        assert s.namenode_errors == 0
        _, lines = lines_of(s, "/retry")
        assert lines == [b"%d" % i for i in range(n)]


def test_permission_error_is_logged_with_path_and_user_and_nothing_commits(flumen):
    n = 500
    with standin() as s:
        s.mkdir("/locked", owner="hdfs", perm=0o755)
        path = "webhdfs://127.0.0.1:%d/locked/in" % s.port
        with harness.Agent(flumen, conf(path, n)) as a:
            a.wait_ready()
            a.wait_log(r"ERROR.*cannot create webhdfs://127\.0\.0\.1:\d+/locked/in/FlumeData\.\d+"
                       r"\.tmp: WebHDFS MKDIRS webhdfs://127\.0\.0\.1:\d+/locked/in as user "
                       + USER + r": HTTP 403 AccessControlException: Permission denied: user="
                       + USER + r", access=WRITE, inode=\"/locked\"", 20)
            assert a.counter("SINK.k1", "EventDrainSuccessCount") == 0
            assert a.counter("CHANNEL.c1", "ChannelSize") > 0
            s.chmod("/locked", 0o777)
            drain_and_stop(a, n)
        _, lines = lines_of(s, "/locked/in")
        assert lines == [b"%d" % i for i in range(n)]


def test_seeds_pipeline_tail_F_file_channel_to_webhdfs_delivers_every_line_once(flumen):
    d = tempfile.mkdtemp(prefix="flumen-seeds-webhdfs-")
    try:
        src = os.path.join(d, "app-%s.log" % uuid.uuid4().hex)
        open(src, "w").close()
        lines_conf = [
            "a1.sources = r1", "a1.channels = c1", "a1.sinks = k1",
            "a1.sources.r1.type = exec",
            "a1.sources.r1.command = tail -n +1 -F %s" % src,
            "a1.sources.r1.batchTimeout = 200", "a1.sources.r1.channels = c1",
            "a1.channels.c1.type = file",
            "a1.channels.c1.checkpointDir = %s/fc/ck" % d,
            "a1.channels.c1.dataDirs = %s/fc/d1" % d,
            "a1.channels.c1.minimumRequiredSpace = 1048576",
            "a1.channels.c1.capacity = 100000",
            "a1.channels.c1.transactionCapacity = 1000",
            "a1.sinks.k1.type = hdfs", "a1.sinks.k1.channel = c1",
            # No port in the URI: the stand-in is reached through hdfs.webhdfs.port.
            "a1.sinks.k1.hdfs.path = hdfs://127.0.0.1/flume/seeds/%Y-%m-%d",
            "a1.sinks.k1.hdfs.useLocalTimeStamp = true",
            "a1.sinks.k1.hdfs.fileType = DataStream",
            "a1.sinks.k1.hdfs.filePrefix = events",
            "a1.sinks.k1.hdfs.fileSuffix = .log",
            "a1.sinks.k1.hdfs.rollSize = 65536", "a1.sinks.k1.hdfs.rollCount = 0",
            "a1.sinks.k1.hdfs.rollInterval = 0",
            "a1.sinks.k1.hdfs.batchSize = 500",
            "a1.sinks.k1.hdfs.callTimeout = 10000"]
        total = 0
        with standin() as s:
            lines_conf.append("a1.sinks.k1.hdfs.webhdfs.port = %d" % s.port)
            with harness.Agent(flumen, "\n".join(lines_conf) + "\n") as a:
                a.wait_ready()
                for burst in (1000, 3000, 7, 6000):
                    with open(src, "a") as f:
                        for i in range(total, total + burst):
                            f.write("line %06d %s\n" % (i, "x" * 40))
                    total += burst
                    a.wait_for(lambda: a.counter("SINK.k1", "EventDrainSuccessCount") >= total,
                               30, "hdfs sink drained %d lines" % total)
                assert a.counter("CHANNEL.c1", "ChannelSize") == 0
                assert a.counter("SINK.k1", "EventWriteFail") == 0
                a.signal(15)
                a.wait_exit(20)
            order, lines = lines_of(s, "/flume/seeds")
        assert len(order) >= 8, order       # ~ 580 KB in 64 KiB files
        for p in order:
            assert re.fullmatch(r"/flume/seeds/\d{4}-\d\d-\d\d/events\.\d+\.log", p), p
        want = [b"line %06d %s" % (i, b"x" * 40) for i in range(total)]
        c = collections.Counter(lines)
        dups = sum(v - 1 for v in c.values())
        missing = sum(1 for w in want if c[w] == 0)
        assert missing == 0 and dups == 0, "missing %d, duplicates %d" % (missing, dups)
        assert lines == want, "lines out of order"
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_hdfs_path_without_namenode_is_a_configuration_error(flumen):
    with standin():
        with harness.Agent(flumen, conf("hdfs:///flume", 1)) as a:
            a.wait_log(r"hdfs\.path.*WebHDFS needs the namenode in the URI", 10)


harness.main(globals())
