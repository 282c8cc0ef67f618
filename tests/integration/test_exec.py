"""test_exec.py - the exec source against the real agent binary.

Covers `tail -F` on a growing file that is then rotated (mv + new file),
every line counted by SOURCE.r1 EventReceived/EventAcceptedCount and the
CHANNEL counters; `shell = /bin/sh -c` with a pipeline; batchTimeout
flushing a partial batch while the command is still running; restart=true
with restartThrottle rerunning a command that exits; logStdErr=true logging
stderr lines (and logStdErr=false not logging them); a full channel killing
the command with the loss logged (never silent); a program that does not
exist; and SIGTERM to the agent leaving no child behind (direct and through
a shell pipeline).  Children are found through unique markers in their
command lines under /proc.
"""

import os
import contextlib
import re
import shutil
import signal
import tempfile
import time
import uuid

import harness

TEST_TIMEOUT = 60


def conf(sources, sink="null", channel_extra=""):
    """Exec sources {name: {key: value}} -> memory channel c1 [-> sink k1]."""
    names = " ".join(sources)
    lines = ["a1.sources = %s" % names, "a1.channels = c1",
             "a1.channels.c1.type = memory",
             "a1.channels.c1.capacity = 10000",
             "a1.channels.c1.transactionCapacity = 100"]
    lines += [l.strip() for l in channel_extra.strip().splitlines() if l.strip()]
    for name, props in sources.items():
        lines += ["a1.sources.%s.type = exec" % name, "a1.sources.%s.channels = c1" % name]
        lines += ["a1.sources.%s.%s = %s" % (name, k, v) for k, v in props.items()]
    if sink:
        lines += ["a1.sinks = k1", "a1.sinks.k1.type = %s" % sink, "a1.sinks.k1.channel = c1"]
    return "\n".join(lines) + "\n"


def accepted(a, src="r1"):
    return a.counter("SOURCE." + src, "EventAcceptedCount")


def received(a, src="r1"):
    return a.counter("SOURCE." + src, "EventReceivedCount")


def wait_accepted(a, n, src="r1", timeout=15):
    a.wait_for(lambda: accepted(a, src) >= n, timeout,
               "SOURCE.%s EventAcceptedCount >= %d" % (src, n))
    return accepted(a, src)


def pids_with(marker):
    """Pids whose command line contains marker (this process excluded)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if marker.encode() in cmd:
            out.append(int(d))
    return out


def wait_gone(marker, timeout=10):
    """Waits until no process carries marker; fails naming the survivors."""
    deadline = time.monotonic() + timeout
    while True:
        left = pids_with(marker)
        if not left:
            return
        if time.monotonic() >= deadline:
            for p in left:  # do not leak them into later tests
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
            raise AssertionError("processes with %r left behind: %r" % (marker, left))
        time.sleep(harness.POLL)


@contextlib.contextmanager
def scratch_dir():
    d = tempfile.mkdtemp(prefix="flumen-exec-")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def append(path, first, count):
    with open(path, "a", encoding="utf-8") as f:
        for i in range(first, first + count):
            f.write("line %06d some payload text\n" % i)


# ---------------------------------------------------------------- tests

def test_tail_follows_a_growing_file_across_rotation(flumen):
    with scratch_dir() as d:
        log = os.path.join(d, "app-%s.log" % uuid.uuid4().hex)
        open(log, "w").close()
        # -n +1: lines written before tail opened the file are not skipped.
        text = conf({"r1": {"command": "tail -n +1 -F %s" % log, "batchTimeout": "200"}})
        with harness.Agent(flumen, text) as a:
            a.wait_ready()
            a.wait_log(r"\[a1\.sources\.r1 exec\] Exec source starting with command: tail")
            append(log, 0, 300)
            append(log, 300, 200)
            wait_accepted(a, 500)
            os.rename(log, log + ".1")
            append(log, 500, 300)       # a new file under the old name
            wait_accepted(a, 800)
            append(log, 800, 5)         # tail keeps following the new file
            wait_accepted(a, 805)
            assert accepted(a) == 805, a.metrics()
            assert received(a) == 805, a.metrics()
            a.wait_for(lambda: a.counter("CHANNEL.c1", "EventPutSuccessCount") == 805, 5,
                       "CHANNEL.c1 EventPutSuccessCount == 805")
            a.wait_for(lambda: a.counter("CHANNEL.c1", "EventTakeSuccessCount") == 805, 10,
                       "the null sink to take all 805 events")
            src = a.metrics()["SOURCE.r1"]
            # exec keeps only EventReceived/EventAccepted (metrics.md)
            for k in ("AppendBatchReceivedCount", "AppendBatchAcceptedCount", "ChannelWriteFail",
                      "EventReadFail", "GenericProcessingFail"):
                assert src[k] == "0", (k, src)


def test_shell_runs_a_pipeline_and_logs_the_exit_code(flumen):
    text = conf({"r1": {"shell": "/bin/sh -c", "command": "seq 1 100 | grep 7"}},
                sink="logger")
    with harness.Agent(flumen, text) as a:
        a.wait_ready()
        a.wait_log(r"Command \[seq 1 100 \| grep 7\] exited with 0")
        # 7, 17, ..., 97 and 70..79: 19 lines
        assert wait_accepted(a, 19) == 19
        a.wait_for(lambda: len(harness.logger_events(a.log())) == 19, 10, "19 logger events")
        bodies = [b for _, b in harness.logger_events(a.log())]
        assert bodies[:3] == [b"7", b"17", b"27"], bodies
        assert b"77" in bodies and b"8" not in bodies


def test_without_shell_the_command_is_not_interpreted(flumen):
    # No shell: '|' and '$HOME' are plain arguments to echo.
    text = conf({"r1": {"command": "echo a | $HOME"}}, sink="logger")
    with harness.Agent(flumen, text) as a:
        a.wait_ready()
        a.wait_for(lambda: harness.logger_events(a.log()), 10, "one logger event")
        assert [b for _, b in harness.logger_events(a.log())] == [b"a | $HOME"]


def test_batch_timeout_flushes_a_partial_batch(flumen):
    marker = "exec-bt-%s" % uuid.uuid4().hex
    # tail -F on a file that never appears: runs until killed, prints nothing
    text = conf({"r1": {"shell": "/bin/sh -c",
                        "command": "echo one; exec tail -F %s/%s 2>/dev/null"
                                   % (tempfile.gettempdir(), marker),
                        "batchSize": "100", "batchTimeout": "200"}})
    with harness.Agent(flumen, text) as a:
        a.wait_ready()
        t0 = time.monotonic()
        # One line, far below batchSize, while the command keeps running: only
        # the timeout can flush it.
        wait_accepted(a, 1, timeout=5)
        elapsed = time.monotonic() - t0
        assert elapsed < 2.5, "partial batch took %.2fs with batchTimeout=200" % elapsed
        assert received(a) == 1 and accepted(a) == 1
        assert pids_with(marker), "the command should still be running"
    wait_gone(marker)


def test_restart_reruns_a_command_that_exits(flumen):
    text = conf({"r1": {"shell": "/bin/sh -c", "command": "echo a; echo b",
                        "restart": "true", "restartThrottle": "200"}})
    with harness.Agent(flumen, text) as a:
        a.wait_ready()
        wait_accepted(a, 6)   # three runs at least
        a.wait_log(r"\[a1\.sources\.r1 exec\] Restarting in 200ms, exit code 0")


def test_no_restart_by_default(flumen):
    text = conf({"r1": {"command": "echo once"}})
    with harness.Agent(flumen, text) as a:
        a.wait_ready()
        a.wait_log(r"Command \[echo once\] exited with 0")
        assert wait_accepted(a, 1) == 1
        assert "Restarting in" not in a.log()


def test_log_stderr_shows_stderr_lines_only_when_enabled(flumen):
    # The markers are computed by the shell so they do not appear in the
    # logged command lines.
    text = conf({
        "r1": {"shell": "/bin/sh -c", "logStdErr": "true",
               "command": "echo \"on-$((6*7))-X\" >&2; echo \"two $((1+1))\" >&2; echo out"},
        "r2": {"shell": "/bin/sh -c",
               "command": "echo \"off-$((6*7))-X\" >&2; echo out"},
    })
    with harness.Agent(flumen, text) as a:
        a.wait_ready()
        a.wait_log(r"INFO +\[a1\.sources\.r1 exec\] StderrLogger\[1\] = 'on-42-X'$")
        a.wait_log(r"\[a1\.sources\.r1 exec\] StderrLogger\[2\] = 'two 2'$")
        wait_accepted(a, 1, "r1")
        wait_accepted(a, 1, "r2")
        a.wait_log(r"\[a1\.sources\.r2 exec\] Command \[.*\] exited with 0")
        assert "off-42-X" not in a.log()


def test_full_channel_kills_the_command_and_logs_the_loss(flumen):
    marker = "exec-full-%s" % uuid.uuid4().hex
    # No sink: the channel fills at 20 and stays full.
    text = conf({"r1": {"command": "yes %s" % marker, "batchSize": "10"}}, sink=None,
                channel_extra="""
                a1.channels.c1.capacity = 20
                a1.channels.c1.transactionCapacity = 10
                a1.channels.c1.keep-alive = 1
                """)
    with harness.Agent(flumen, text) as a:
        a.wait_ready()
        a.wait_log(r"ERROR +\[a1\.sources\.r1 exec\] Failed while running command: yes %s: "
                   r".*the pending batch of 10 events is lost" % marker)
        a.wait_log(r"Command \[yes %s\] exited with 1[34]\d" % marker)   # SIGPIPE/SIGTERM
        assert accepted(a) == 20, a.metrics()
        assert a.counter("CHANNEL.c1", "ChannelSize") == 20
        assert a.counter("SOURCE.r1", "ChannelWriteFail") == 0   # not kept by exec
        wait_gone(marker)


def test_long_line_is_split_with_a_warning(flumen):
    # 200000 bytes without a newline: pieces of 65536 + the rest at EOF.
    text = conf({"r1": {"shell": "/bin/sh -c",
                        "command": "printf '%200000s' | tr ' ' a"}})
    with harness.Agent(flumen, text) as a:
        a.wait_ready()
        a.wait_log(r"Command \[.*\] exited with 0")
        assert wait_accepted(a, 4) == 4, a.metrics()
        assert received(a) == 4
        a.wait_log(r"WARN +\[a1\.sources\.r1 exec\] a line longer than 65536 bytes was split")


def test_missing_program_is_logged(flumen):
    prog = "/nonexistent/prog-%s" % uuid.uuid4().hex
    text = conf({"r1": {"command": "%s arg" % prog}})
    with harness.Agent(flumen, text) as a:
        a.wait_ready()
        a.wait_log(r"ERROR +\[a1\.sources\.r1 exec\] Failed while running command: %s arg: "
                   r"cannot run program \"%s\".*ENOENT" % (re.escape(prog), re.escape(prog)))
        assert a.running()


def test_sigterm_to_the_agent_stops_every_child(flumen):
    with scratch_dir() as d:
        m1 = "exec-term1-%s" % uuid.uuid4().hex
        m2 = "exec-term2-%s" % uuid.uuid4().hex
        f1 = os.path.join(d, m1)
        f2 = os.path.join(d, m2)
        for f in (f1, f2):
            with open(f, "w") as fh:
                fh.write("hello\n")
        text = conf({
            "r1": {"command": "tail -n +1 -F %s" % f1, "batchTimeout": "200"},
            # through a shell: sh, tail and cat must all go (the process group)
            "r2": {"shell": "/bin/sh -c", "command": "tail -n +1 -F %s | cat" % f2,
                   "batchTimeout": "200"},
        })
        with harness.Agent(flumen, text) as a:
            a.wait_ready()
            wait_accepted(a, 1, "r1")
            wait_accepted(a, 1, "r2")
            assert pids_with(m1) and pids_with(m2)
            a.signal(signal.SIGTERM)
            assert a.wait_exit(15) == 0
            wait_gone(m1, 5)
            wait_gone(m2, 5)
            log = a.log()
            assert re.search(r"Command \[tail -n \+1 -F .*%s\] exited with 143" % m1, log), log


harness.main(globals())
