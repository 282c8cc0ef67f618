"""test_lifecycle.py - the agent's lifecycle run as the real binary
(behaviours.md 5 and 6, config.md 4, metrics.md): counters of a
seq -> memory -> null flow, SIGTERM draining the memory channel to the sink,
a second SIGTERM exiting at once, reload keeping a same-named memory
channel's events, a rejected reload keeping the old config with the poller
alive, and fatal startup errors.
"""

import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Agent  # noqa: E402

TEST_TIMEOUT = 90

SEQ_NULL = """\
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = seq
a1.sources.r1.channels = c1
a1.sources.r1.batchSize = 50
a1.sources.r1.totalEvents = 1000
a1.channels.c1.type = memory
a1.channels.c1.capacity = 1000
a1.sinks.k1.type = null
a1.sinks.k1.channel = c1
"""


def rewrite(ag, text):
    """Replaces the agent's config and moves its mtime 2 s past the old one,
    so the change is seen whatever the file system's time granularity (the
    same-second case has its own test below)."""
    old = os.stat(ag.conf_path).st_mtime_ns
    with open(ag.conf_path, "w", encoding="utf-8") as f:
        f.write(text)
    new = max(old + 2 * 10**9, time.time_ns())
    os.utime(ag.conf_path, ns=(new, new))


def logged_bodies(ag):
    """Bodies of every logger-sink line so far, as str."""
    return [b.decode("latin-1") for _, b in harness.logger_events(ag.log())]


def assert_clean_exit(ag, timeout=15):
    """Waits for exit status 0 with no sanitizer report in the log (ASan
    builds report leaks and memory errors at exit)."""
    rc = ag.wait_exit(timeout)
    log = ag.log()
    assert rc == 0, "exit status %s\n%s" % (rc, harness._tail(log))
    assert "Sanitizer" not in log and "runtime error" not in log, harness._tail(log, 120)


def metric(ag, comp, attr):
    return ag.metrics().get(comp, {}).get(attr)


# ------------------------------------------------------------- counters

def test_seq_memory_null_counts_every_event(flumen):
    with Agent(flumen, SEQ_NULL, extra_args=["--no-reload-conf"]) as ag:
        ag.wait_ready()
        ag.wait_for(lambda: ag.counter("CHANNEL.c1", "EventTakeSuccessCount") == 1000, 20,
                    "the null sink to take all 1000 events")
        m = ag.metrics()
        src, ch = m["SOURCE.r1"], m["CHANNEL.c1"]
        # Every value is a JSON string (metrics.md 2).
        assert all(isinstance(v, str) for v in list(src.values()) + list(ch.values())), m
        assert src["Type"] == "SOURCE" and ch["Type"] == "CHANNEL", m
        # seq with batchSize > 1: EventAccepted and AppendBatchAccepted only.
        assert src["EventAcceptedCount"] == "1000", src
        assert src["AppendBatchAcceptedCount"] == "20", src
        assert src["EventReceivedCount"] == "0", src
        assert src["ChannelWriteFail"] == "0", src
        assert src["StopTime"] == "0" and int(src["StartTime"]) > 0, src
        assert ch["EventPutSuccessCount"] == "1000", ch
        assert ch["EventPutAttemptCount"] == "1000", ch
        assert ch["ChannelSize"] == "0", ch
        assert ch["ChannelCapacity"] == "1000", ch
        assert ch["ChannelFillPercentage"] == "0.0", ch
        # The null sink has no JSON entry (as Flume).
        assert "SINK.k1" not in m, m
        assert len(src) == 13, sorted(src)
        ag.signal(signal.SIGTERM)
        assert_clean_exit(ag)
        assert re.search(r"SOURCE, name: r1 stopped\. Metrics: .*EventAcceptedCount=1000", ag.log())


# ------------------------------------------------------------- shutdown

DRAIN = """\
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = seq
a1.sources.r1.channels = c1
a1.sources.r1.batchSize = 100
a1.sources.r1.totalEvents = %(n)d
a1.channels.c1.type = memory
a1.channels.c1.capacity = %(n)d
# no waiting in take: an empty channel sends the sink into backoff at once
a1.channels.c1.keep-alive = 0
a1.sinks.k1.type = logger
a1.sinks.k1.channel = c1
"""


def test_sigterm_drains_memory_channel_to_the_sink(flumen):
    # The sink runner starts before the source, finds c1 empty and backs off
    # for 1 s; seq fills c1 meanwhile.  SIGTERM while the sink sleeps must
    # wake it and deliver everything before the process exits with 0.
    n = 30000  # big enough that the logger sink is still busy when SIGTERM comes
    observed = False
    for attempt in range(3):
        with Agent(flumen, DRAIN % {"n": n}, extra_args=["--no-reload-conf"]) as ag:
            ag.wait_ready()
            ag.wait_for(lambda: ag.counter("SOURCE.r1", "EventAcceptedCount") == n, 20,
                        "seq to put all events")
            size = ag.counter("CHANNEL.c1", "ChannelSize")
            ag.signal(signal.SIGTERM)
            assert_clean_exit(ag, 30)
            bodies = logged_bodies(ag)
            assert bodies == [str(i) for i in range(n)], \
                "%d of %d events logged before exit (channel held %d at SIGTERM)\n%s" % (
                    len(bodies), n, size, harness._tail(ag.log()))
            if size > 0:
                observed = True
                assert "still in the channel" not in ag.log(), ag.log()
                break
    assert observed, "never caught the sink backing off with a full channel (3 attempts)"


def test_second_sigterm_exits_at_once(flumen):
    # 300000 events take the logger sink several seconds to drain; the
    # second signal must not wait for that.
    n = 300000
    with Agent(flumen, DRAIN % {"n": n},
               extra_args=["--no-reload-conf", "-Dflumen.shutdown.timeout=120000"]) as ag:
        ag.wait_ready()
        ag.wait_for(lambda: ag.counter("SOURCE.r1", "EventAcceptedCount") == n, 60,
                    "seq to put all events")
        ag.signal(signal.SIGTERM)
        ag.wait_log(r"signal 15: stopping", 10)
        t0 = time.monotonic()
        ag.signal(signal.SIGTERM)
        rc = ag.wait_exit(5)
        took = time.monotonic() - t0
        assert took < 2.0, "second SIGTERM took %.1fs" % took
        assert rc != 0, "a cut-short drain should not report success (rc %s)" % rc
        assert len(logged_bodies(ag)) < n, "the drain finished before the second signal"


BLOCKED = """\
a1.sources = r1
a1.channels = c1
a1.sources.r1.type = seq
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.channels.c1.capacity = 10
a1.channels.c1.transactionCapacity = 10
a1.channels.c1.keep-alive = 20
"""


def test_sigterm_with_source_blocked_on_full_channel_exits_promptly(flumen):
    # A source blocked in a commit on a full channel must not hold SIGTERM for the keep-alive.
    with Agent(flumen, BLOCKED, extra_args=["--no-reload-conf"]) as ag:
        ag.wait_ready()
        ag.wait_for(lambda: ag.counter("CHANNEL.c1", "ChannelSize") == 10, 20, "c1 to fill")
        ag.wait_for(lambda: ag.counter("CHANNEL.c1", "EventPutAttemptCount") > 10, 20,
                    "seq to block in a commit")
        t0 = time.monotonic()
        ag.signal(signal.SIGTERM)
        rc = ag.wait_exit(30)
        took = time.monotonic() - t0
        assert rc == 0, ag.log()
        assert took < 5.0, "SIGTERM took %.1fs with a source blocked on a full channel" % took


# --------------------------------------------------------------- reload

FILL_ONLY = """\
a1.sources = r1
a1.channels = c1
a1.sources.r1.type = seq
a1.sources.r1.channels = c1
a1.sources.r1.batchSize = 10
a1.sources.r1.totalEvents = 50
a1.channels.c1.type = memory
a1.channels.c1.capacity = 1000
"""

DRAIN_AFTER_RELOAD = """\
a1.channels = c1
a1.sinks = k1
a1.channels.c1.type = memory
a1.channels.c1.capacity = 500
a1.sinks.k1.type = logger
a1.sinks.k1.channel = c1
"""


def test_reload_keeps_same_named_memory_channel_events(flumen):
    with Agent(flumen, FILL_ONLY, extra_args=["-i", "1"]) as ag:
        ag.wait_ready()
        ag.wait_for(lambda: ag.counter("CHANNEL.c1", "ChannelSize") == 50, 20, "c1 to hold 50")
        assert logged_bodies(ag) == []
        rewrite(ag, DRAIN_AFTER_RELOAD)   # no source now, a logger sink, capacity 500
        ag.wait_log(r"Configuration reloaded", 15)
        ag.wait_for(lambda: len(logged_bodies(ag)) == 50, 15, "the new sink to log 50 events")
        assert logged_bodies(ag) == [str(i) for i in range(50)], logged_bodies(ag)
        ag.wait_for(lambda: metric(ag, "CHANNEL.c1", "ChannelCapacity") == "500", 10,
                    "the new capacity")
        m = ag.metrics()
        assert "SOURCE.r1" not in m, m
        assert "kept over reload" in ag.log()
        ag.signal(signal.SIGTERM)
        assert_clean_exit(ag)


def test_reload_adds_a_second_sink(flumen):
    two = SEQ_NULL.replace("a1.sinks = k1", "a1.sinks = k1 k2") \
        .replace("a1.channels = c1", "a1.channels = c1 c2") \
        .replace("a1.sources.r1.channels = c1", "a1.sources.r1.channels = c1 c2") + \
        "a1.channels.c2.type = memory\na1.channels.c2.capacity = 1000\n" \
        "a1.sinks.k2.type = logger\na1.sinks.k2.channel = c2\n" \
        "a1.sources.r1.totalEvents = 20\n"
    with Agent(flumen, SEQ_NULL, extra_args=["-i", "1"]) as ag:
        ag.wait_ready()
        ag.wait_for(lambda: ag.counter("SOURCE.r1", "EventAcceptedCount") == 1000, 20, "seq")
        rewrite(ag, two)
        ag.wait_for(lambda: "CHANNEL.c2" in ag.metrics(), 15, "c2 to appear")
        # Counters restart with the new components; the new seq writes 20.
        ag.wait_for(lambda: len(logged_bodies(ag)) == 20, 15, "k2 to log 20 events")
        assert logged_bodies(ag) == [str(i) for i in range(20)]
        ag.wait_for(lambda: ag.counter("CHANNEL.c1", "EventTakeSuccessCount") == 20, 10,
                    "k1 to take the new seq's 20 events from c1")
        ag.signal(signal.SIGTERM)
        assert_clean_exit(ag)


def test_rejected_reload_keeps_old_config_and_later_edit_is_seen(flumen):
    with Agent(flumen, SEQ_NULL, extra_args=["-i", "1"]) as ag:
        ag.wait_ready()
        ag.wait_for(lambda: ag.counter("SOURCE.r1", "EventAcceptedCount") == 1000, 20, "seq")
        start0 = metric(ag, "CHANNEL.c1", "StartTime")
        rewrite(ag, SEQ_NULL.replace("a1.sinks.k1.type = null", "a1.sinks.k1.type = nosuch"))
        ag.wait_log(r"Unable to load sink type: nosuch", 15)
        ag.wait_log(r"reload rejected", 5)
        assert ag.running()
        m = ag.metrics()
        assert m["CHANNEL.c1"]["StartTime"] == start0, "the old channel was restarted"
        assert m["SOURCE.r1"]["EventAcceptedCount"] == "1000", m
        # Flume's poller dies here; ours must still see the next good edit.
        rewrite(ag, SEQ_NULL.replace("a1.channels.c1.capacity = 1000",
                                     "a1.channels.c1.capacity = 777"))
        ag.wait_for(lambda: metric(ag, "CHANNEL.c1", "ChannelCapacity") == "777", 15,
                    "the later good edit to be applied")
        ag.signal(signal.SIGTERM)
        assert_clean_exit(ag)


def test_reload_does_not_wait_out_the_channel_keep_alive(flumen):
    # Channels taken over by a reload must be interrupted too, or a waiting take holds the reload.
    conf = SEQ_NULL + "a1.channels.c1.keep-alive = 10\n"
    with Agent(flumen, conf, extra_args=["-i", "1"]) as ag:
        ag.wait_ready()
        ag.wait_for(lambda: ag.counter("CHANNEL.c1", "EventTakeSuccessCount") == 1000, 20,
                    "the sink to empty c1 (it then waits in take)")
        rewrite(ag, conf.replace("a1.channels.c1.capacity = 1000",
                                 "a1.channels.c1.capacity = 999"))
        m1 = ag.wait_log(r"^(\S+ \S+) INFO  \[a1\] Reloading configuration", 15)
        m2 = ag.wait_log(r"^(\S+ \S+) INFO  \[a1\] Configuration reloaded", 15)

        def ms(stamp):
            t = time.strptime(stamp.split(",")[0], "%Y-%m-%d %H:%M:%S")
            return time.mktime(t) * 1000 + int(stamp.split(",")[1])
        took = ms(m2.group(1)) - ms(m1.group(1))
        assert took < 1500, "reload took %d ms (sink waiting in take on a reused channel)" % took


def test_edit_within_the_same_second_is_reloaded(flumen):
    # Flume compares lastModified() in ms: an edit within the same second must reload.
    ag = Agent(flumen, SEQ_NULL, extra_args=["-i", "1"])
    base = (time.time_ns() // 10**9) * 10**9 + 100 * 10**6   # X.100 s
    os.utime(ag.conf_path, ns=(base, base))
    with ag:
        ag.wait_ready()
        ag.wait_for(lambda: ag.counter("SOURCE.r1", "EventAcceptedCount") == 1000, 20, "seq")
        with open(ag.conf_path, "w", encoding="utf-8") as f:
            f.write(SEQ_NULL.replace("a1.channels.c1.capacity = 1000",
                                     "a1.channels.c1.capacity = 888"))
        newer = base + 800 * 10**6                                # X.900 s: same second
        os.utime(ag.conf_path, ns=(newer, newer))
        ag.wait_for(lambda: metric(ag, "CHANNEL.c1", "ChannelCapacity") == "888", 6,
                    "an edit with a newer mtime in the same second to be reloaded")


# ------------------------------------------------------- startup failures

def test_missing_config_file_at_startup_exits_nonzero(flumen):
    path = os.path.join(tempfile.gettempdir(), "flumen-missing-%d" % os.getpid(), "none.conf")
    p = subprocess.run([flumen, "agent", "-n", "a1", "-f", path, "--no-reload-conf"],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
    err = p.stderr.decode("utf-8", "replace") + p.stdout.decode("utf-8", "replace")
    assert p.returncode != 0, err
    assert path in err, err


def test_unknown_sink_type_at_startup_exits_nonzero(flumen):
    conf = SEQ_NULL.replace("a1.sinks.k1.type = null", "a1.sinks.k1.type = nosuch")
    with Agent(flumen, conf) as ag:
        rc = ag.wait_exit(15)
        assert rc != 0, ag.log()
        assert "Unable to load sink type: nosuch" in ag.log(), ag.log()
        assert re.search(r"flume\.conf:10: ", ag.log()), ag.log()


def test_empty_agent_keeps_running_and_picks_up_a_good_config(flumen):
    # Flume: no valid config -> the agent runs with nothing and keeps polling.
    with Agent(flumen, "a1.channels = c1\n", extra_args=["-i", "1"]) as ag:
        ag.wait_ready()
        ag.wait_log(r"nothing to run", 10)
        assert ag.running()
        rewrite(ag, SEQ_NULL)
        ag.wait_for(lambda: ag.counter("SOURCE.r1", "EventAcceptedCount") == 1000, 20,
                    "the good config to run")


harness.main(globals())
