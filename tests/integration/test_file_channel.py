"""test_file_channel.py - the file channel against the real agent binary.

Covers: seq -> file survives a clean restart and drains into the logger sink
afterwards (checkpoint on close); the lock file refuses a second agent on the
same directories with a clear error; the file-channel metrics attributes; and
the crash test: a client sends numbered lines to a netcat source
(ack-every-event = true, one "OK" per committed line) and records the
acknowledged ones while a loop kill -9s the agent at random moments under
concurrent put (netcat) and take (logger sink) load and restarts it.  At the
end every acknowledged line must have reached the logger sink at least once;
duplicates are counted and reported.  The same loop runs (shorter) with
encryption on: no acknowledged body may appear in clear in the data files,
and `flumen tools fcintegrity` verifies them without the key.

FLUMEN_FC_CYCLES (default 100) sets the number of kill -9 cycles;
tests/soak/filech_crash_soak.sh runs 1000+.
"""

import os
import random
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time

import harness

TEST_TIMEOUT = 120
CYCLES = int(os.environ.get("FLUMEN_FC_CYCLES", "100"))


def fc_conf(base, source_lines, sink="logger", extra=""):
    lines = [
        "a1.sources = r1",
        "a1.channels = c1",
        "a1.channels.c1.type = file",
        "a1.channels.c1.checkpointDir = %s/ck" % base,
        "a1.channels.c1.dataDirs = %s/d1,%s/d2" % (base, base),
        "a1.channels.c1.minimumRequiredSpace = 1048576",
        "a1.sources.r1.channels = c1",
    ] + source_lines
    if sink:
        lines += ["a1.sinks = k1", "a1.sinks.k1.type = %s" % sink, "a1.sinks.k1.channel = c1"]
    lines += [l.strip() for l in extra.strip().splitlines() if l.strip()]
    return "\n".join(lines) + "\n"


def bodies(text):
    return [b for _, b in harness.logger_events(text)]


def test_seq_events_survive_a_restart_and_drain_afterwards(flumen):
    base = tempfile.mkdtemp(prefix="flumen-fc-")
    try:
        src = ["a1.sources.r1.type = seq", "a1.sources.r1.totalEvents = 500",
               "a1.sources.r1.batchSize = 50"]
        with harness.Agent(flumen, fc_conf(base, src, sink=None)) as a:
            a.wait_ready()
            a.wait_for(lambda: a.counter("CHANNEL.c1", "EventPutSuccessCount") == 500,
                       what="500 events in the channel")
            m = a.metrics()["CHANNEL.c1"]
            assert m["Open"] == "true" and m["Unhealthy"] == "0", m
            assert m["ChannelSize"] == "500", m
            assert "EventPutErrorCount" in m and "CheckpointBackupWriteErrorCount" in m, m
            a.signal(signal.SIGTERM)
            assert a.wait_exit(15) == 0
            assert re.search(r"checkpoint written on close \(500 events queued\)", a.log()), a.log()
        # A new agent with only a sink: everything comes out, in order.
        conf = fc_conf(base, ["a1.sources.r1.type = seq", "a1.sources.r1.totalEvents = 0"])
        with harness.Agent(flumen, conf) as b:
            b.wait_ready()
            b.wait_log(r"replay done: 500 events queued")
            b.wait_for(lambda: len(bodies(b.log())) >= 500, what="500 logger events")
            got = bodies(b.log())
            assert got[:500] == [str(i).encode() for i in range(500)], got[:10]
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_second_agent_on_the_same_directories_is_refused(flumen):
    base = tempfile.mkdtemp(prefix="flumen-fc-")
    try:
        src = ["a1.sources.r1.type = seq", "a1.sources.r1.totalEvents = 1"]
        with harness.Agent(flumen, fc_conf(base, src)) as a:
            a.wait_ready()
            a.wait_log(r"Channel c1 started")
            with harness.Agent(flumen, fc_conf(base, src)) as b:
                b.wait_log(r"Cannot lock %s/ck\. The directory is already locked\. "
                           r"\[channel=c1\]" % re.escape(base))
                # the first agent keeps working
                assert a.running()
                a.wait_ready()
    finally:
        shutil.rmtree(base, ignore_errors=True)


class Sender(threading.Thread):
    """Sends numbered lines "n<k>" to one agent incarnation and records
    which were acknowledged with OK.  Stops when the connection breaks."""

    def __init__(self, port, start_no, acked, window=8):
        super().__init__(daemon=True)
        self.port = port
        self.next_no = start_no
        self.acked = acked
        self.window = window
        self.sent = 0

    def run(self):
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        except OSError:
            return
        pending = []
        buf = b""
        try:
            while True:
                while len(pending) < self.window:
                    no = self.next_no
                    self.next_no += 1
                    s.sendall(b"n%d\n" % no)
                    pending.append(no)
                    self.sent += 1
                chunk = s.recv(65536)
                if not chunk:
                    return
                buf += chunk
                while b"\n" in buf:
                    line, _, buf = buf.partition(b"\n")
                    no = pending.pop(0)
                    if line == b"OK":
                        self.acked.add(no)
        except OSError:
            return
        finally:
            s.close()


@harness.timeout(max(600, CYCLES * 2))
def test_kill9_loop_loses_no_acknowledged_event(flumen):
    kill9_loop(flumen, CYCLES)


ENC_CYCLES = int(os.environ.get("FLUMEN_FC_ENC_CYCLES", "15"))


@harness.timeout(max(300, ENC_CYCLES * 4))
def test_kill9_loop_with_encryption_loses_nothing_and_stores_no_plaintext(flumen):
    kill9_loop(flumen, ENC_CYCLES, encrypted=True)


def write_key_file(base):
    path = os.path.join(base, "keys")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("# flumen file-channel keys\n")
        f.write("k1 = %s\n" % os.urandom(32).hex())
    return path


def data_files(base):
    for d in ("d1", "d2"):
        dd = os.path.join(base, d)
        for n in sorted(os.listdir(dd)) if os.path.isdir(dd) else []:
            if n.startswith("log-"):
                yield os.path.join(dd, n)


def kill9_loop(flumen, cycles, encrypted=False):
    base = tempfile.mkdtemp(prefix="flumen-fc-crash-")
    enc = ""
    if encrypted:
        enc = """
            a1.channels.c1.encryption.activeKey = k1
            a1.channels.c1.encryption.cipherProvider = AESCTRNOPADDING
            a1.channels.c1.encryption.keyProvider = JCEKSFILE
            a1.channels.c1.encryption.keyProvider.keyStoreFile = %s
            a1.channels.c1.encryption.keyProvider.keys = k1
        """ % write_key_file(base)
    CYCLES = cycles
    rng = random.Random(int(os.environ.get("FLUMEN_FC_SEED", "0")) or None)
    acked = set()
    logs = []
    next_no = 0
    kills = 0
    t0 = time.monotonic()
    try:
        for cycle in range(CYCLES):
            port = harness.free_port()
            src = ["a1.sources.r1.type = netcat", "a1.sources.r1.bind = 127.0.0.1",
                   "a1.sources.r1.port = %d" % port]
            extra = """
                a1.channels.c1.checkpointInterval = 150
                a1.channels.c1.maxFileSize = 65536
                a1.channels.c1.keep-alive = 1
                a1.sinks.k1.batchSize = 20
            """ + enc
            # Half the cycles run without the sink so a backlog builds up and
            # checkpoints hold many events; the others drain it while puts go on.
            with_sink = rng.random() < 0.5
            if not with_sink:
                extra = extra.replace("a1.sinks.k1.batchSize = 20", "")
            a = harness.Agent(flumen, fc_conf(base, src, sink="logger" if with_sink else None,
                                              extra=extra)).start()
            try:
                a.wait_log(r"listening on 127\.0\.0\.1:%d" % port, timeout=20)
                snd = Sender(port, next_no, acked)
                snd.start()
                time.sleep(rng.uniform(0.05, 0.25))  # random kill moment, not a readiness wait
                a._killpg(signal.SIGKILL)
                a.proc.wait(10)
                kills += 1
                snd.join(10)
                next_no = snd.next_no
                logs.append(a.log())
            finally:
                a.close()
        if encrypted:
            # No acknowledged body is stored in clear (5+ byte bodies only:
            # shorter ones occur by chance in ciphertext).
            probe = [b"n%d" % n for n in sorted(acked) if n >= 1000][-200:]
            blob = b"".join(open(f, "rb").read() for f in data_files(base))
            assert len(blob) > 0
            leaked = [p for p in probe if p in blob]
            assert not leaked, "plaintext bodies in the data files: %r" % leaked[:5]
            # The integrity tool verifies the encrypted files without keys.
            import subprocess
            r = subprocess.run([flumen, "tools", "fcintegrity", "--check-only", "-l",
                                "%s/d1,%s/d2" % (base, base)], capture_output=True, timeout=60)
            assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
        # Final run: drain everything.
        src = ["a1.sources.r1.type = seq", "a1.sources.r1.totalEvents = 0"]
        with harness.Agent(flumen, fc_conf(base, src, extra=enc)) as a:
            a.wait_ready(20)
            # the logger sink drains a few thousand events/s: allow for the backlog
            a.wait_for(lambda: a.metrics()["CHANNEL.c1"]["ChannelSize"] == "0",
                       timeout=60 + len(acked) / 1000, what="the channel to drain")
            # wait for the sink's last batch to be logged
            want = {b"n%d" % n for n in acked}
            earlier = set(bodies("".join(logs)))
            deadline = time.monotonic() + 20
            while not want <= earlier | set(bodies(a.log())):
                if time.monotonic() > deadline:
                    break  # reported below as missing
                time.sleep(0.2)  # parsing the log is the cost here, not the wait
            logs.append(a.log())
        seen = {}
        for b in bodies("".join(logs)):
            seen[b] = seen.get(b, 0) + 1
        missing = sorted(n for n in acked if (b"n%d" % n) not in seen)
        dups = sum(c - 1 for c in seen.values() if c > 1)
        print("crash loop%s: %d kill -9 cycles in %.1fs, %d lines sent, %d acknowledged, "
              "%d delivered (distinct), %d duplicates, %d missing"
              % (" (encrypted)" if encrypted else "", kills, time.monotonic() - t0, next_no, len(acked), len(seen), dups,
                 len(missing)), flush=True)
        assert kills >= min(CYCLES, 100) or kills == CYCLES
        assert len(acked) > 0
        assert not missing, "acknowledged but never delivered: %r" % missing[:20]
        assert not any(re.search(r"corrupt record", l) for l in logs), "corrupt middle seen"
    finally:
        shutil.rmtree(base, ignore_errors=True)


harness.main(globals())
