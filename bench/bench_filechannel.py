#!/usr/bin/python3
"""bench_filechannel.py - file channel benchmarks (bench/RESULTS.md, file channel section).

Measures, in one run on the disk that holds --dir (default: a temp dir):

  raw bound   write + fdatasync of batch x 200 bytes appended to one file,
              for batch 1, 100, 1000: the most any durable channel can do per
              fsync on this disk (events/s = batch x syncs/s)
  pipelines   seq -> file -> null and netcat(ack=false, 200-byte lines from
              bench/loadgen) -> file -> null at batch sizes 100 and 1000
              (seq batchSize / channel transactionCapacity / null batchSize),
              plus seq at 10000: events/s, MB/s (body bytes), fsyncs/s (the
              channel's group writes, one fdatasync each, from its close log
              line), peak RSS (VmHWM), agent CPU seconds
  replay      1,000,000 queued 200-byte events: restart after SIGTERM
              (checkpoint on close) and after kill -9 with no checkpoint
              (full log replay), time from the channel's "replay done" line

Completion is detected by polling the metrics endpoint (10 ms); every process
started is stopped.  Not part of ctest.

Usage:
  /usr/bin/python3 bench/bench_filechannel.py --flumen build-bench/flumen \
      --loadgen build-bench/bench/loadgen [--dir DIR] [--quick]
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raw_bound(d, batch, seconds=1.5, size=200):
    path = os.path.join(d, "raw.bin")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    buf = b"x" * (batch * size)
    off = 0
    n = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        os.pwrite(fd, buf, off)
        os.fdatasync(fd)
        off += len(buf)
        n += 1
    dt = time.monotonic() - t0
    os.close(fd)
    os.unlink(path)
    return dict(case="raw write+fdatasync, batch %d x %d B" % (batch, size),
                ev_s=n * batch / dt, mb_s=n * len(buf) / dt / 1e6, syncs_s=n / dt)


class Agent:
    def __init__(self, flumen, conf_text, workdir):
        self.conf = os.path.join(workdir, "flume.conf")
        with open(self.conf, "w") as f:
            f.write(conf_text)
        self.log = os.path.join(workdir, "agent.log")
        self.port = free_port()
        self.logf = open(self.log, "wb")
        self.p = subprocess.Popen(
            [flumen, "agent", "-n", "a1", "-f", self.conf, "-Dflume.root.logger=INFO,console",
             "-Dflume.monitoring.type=http", "-Dflume.monitoring.port=%d" % self.port,
             "-Dflume.monitoring.host=127.0.0.1"],
            stdout=self.logf, stderr=subprocess.STDOUT, start_new_session=True)

    def metric(self, attr, comp="CHANNEL.c1"):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.port, timeout=2) as r:
                return int(json.loads(r.read())[comp].get(attr, "0"))
        except (OSError, ValueError, KeyError):
            return -1

    def wait_metric(self, attr, value, timeout=600):
        deadline = time.monotonic() + timeout
        while self.metric(attr) < value:
            if self.p.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("agent died or timed out; log:\n" + self.text()[-3000:])
            time.sleep(0.01)

    def wait_log(self, rx, timeout=120):
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(rx, self.text())
            if m:
                return m
            if self.p.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("no /%s/; log:\n%s" % (rx, self.text()[-3000:]))
            time.sleep(0.01)

    def text(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def cpu(self):
        with open("/proc/%d/stat" % self.p.pid) as f:
            v = f.read().rsplit(")", 1)[1].split()
        return (int(v[11]) + int(v[12])) / CLK_TCK

    def hwm_mib(self):
        with open("/proc/%d/status" % self.p.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return 0

    def stop(self, sig=signal.SIGTERM):
        try:
            os.killpg(self.p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            self.p.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.p.pid, signal.SIGKILL)
            self.p.wait()
        self.logf.close()


def channel_conf(d, txcap, extra=""):
    return """
a1.channels = c1
a1.channels.c1.type = file
a1.channels.c1.checkpointDir = {d}/ck
a1.channels.c1.dataDirs = {d}/data
a1.channels.c1.transactionCapacity = {tx}
a1.channels.c1.capacity = 2000000
{extra}
""".format(d=d, tx=txcap, extra=extra)


def pipeline(args, kind, batch, total):
    d = tempfile.mkdtemp(prefix="fcbench-", dir=args.dir)
    try:
        txcap = max(batch, 100)
        if kind == "seq":
            src = """
a1.sources = r1
a1.sources.r1.type = seq
a1.sources.r1.totalEvents = %d
a1.sources.r1.batchSize = %d
a1.sources.r1.channels = c1
""" % (total, batch)
        else:
            src = """
a1.sources = r1
a1.sources.r1.type = netcat
a1.sources.r1.bind = 127.0.0.1
a1.sources.r1.port = %d
a1.sources.r1.ack-every-event = false
a1.sources.r1.max-line-length = 1024
a1.sources.r1.channels = c1
""" % free_port()
        sink = """
a1.sinks = k1
a1.sinks.k1.type = null
a1.sinks.k1.batchSize = %d
a1.sinks.k1.channel = c1
""" % batch
        a = Agent(args.flumen, src + channel_conf(d, txcap) + sink, d)
        try:
            lg = None
            if kind == "seq":
                a.wait_metric("EventTakeSuccessCount", 0, 30)
                t0 = time.monotonic()
                c0 = a.cpu()
            else:
                port = int(re.search(r"port = (\d+)", src).group(1))
                a.wait_log(r"listening on 127\.0\.0\.1:%d" % port, 30)
                t0 = time.monotonic()
                c0 = a.cpu()
                lg = subprocess.Popen([args.loadgen, "--port", str(port), "--lines", str(total),
                                       "--size", "200"], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            a.wait_metric("EventTakeSuccessCount", total)
            dt = time.monotonic() - t0
            cpu = a.cpu() - c0
            hwm = a.hwm_mib()
            if lg is not None:
                lg.wait(60)
        finally:
            a.stop()
        m = re.search(r"closed: (\d+) commits written in (\d+) group writes", a.text())
        groups = int(m.group(2)) if m else 0
        body = 200 - 1 if kind == "netcat" else len(str(total // 2))
        return dict(case="%s -> file -> null, batch %d, n=%d" % (
            "seq" if kind == "seq" else "netcat(ack=false, 199 B bodies)", batch, total),
            ev_s=total / dt, mb_s=total * body / dt / 1e6, syncs_s=groups / dt,
            rss=hwm, cpu=cpu)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def replay(args, total, mode):
    d = tempfile.mkdtemp(prefix="fcbench-", dir=args.dir)
    try:
        port = free_port()
        src = """
a1.sources = r1
a1.sources.r1.type = netcat
a1.sources.r1.bind = 127.0.0.1
a1.sources.r1.port = %d
a1.sources.r1.ack-every-event = false
a1.sources.r1.channels = c1
""" % port
        conf = src + channel_conf(d, 1000, "a1.channels.c1.checkpointInterval = 3600000")
        a = Agent(args.flumen, conf, d)
        try:
            a.wait_log(r"listening on 127\.0\.0\.1:%d" % port, 30)
            subprocess.run([args.loadgen, "--port", str(port), "--lines", str(total), "--size",
                            "200"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=300)
            a.wait_metric("EventPutSuccessCount", total)
        finally:
            a.stop(signal.SIGKILL if mode == "kill" else signal.SIGTERM)
        size = sum(os.path.getsize(os.path.join(d, "data", f)) for f in os.listdir(d + "/data"))
        b = Agent(args.flumen, src.replace(str(port), str(free_port())) +
                  channel_conf(d, 1000, "a1.channels.c1.checkpointInterval = 3600000"), d)
        try:
            m = b.wait_log(r"replay done: (\d+) events queued \(checkpoint (\S+) \+ (\d+) log "
                           r"records\) in (\d+) ms", 120)
            rss = b.hwm_mib()
        finally:
            b.stop(signal.SIGKILL)
        return dict(case="replay %s events (%s, %.0f MB of logs): %s" % (
            m.group(1), "SIGTERM: checkpoint" if mode == "term" else "kill -9: no checkpoint, "
            "full log", size / 1e6, "checkpoint + %s records" % m.group(3)),
            ms=int(m.group(4)), rss=rss)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--flumen", required=True)
    ap.add_argument("--loadgen", required=True)
    ap.add_argument("--dir", default=None)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    q = 10 if args.quick else 1
    rows = []
    d = tempfile.mkdtemp(prefix="fcbench-raw-", dir=args.dir)
    try:
        for b in (1, 100, 1000):
            rows.append(raw_bound(d, b))
            print(rows[-1], flush=True)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    for kind, batch, total in (("seq", 100, 1_000_000), ("seq", 1000, 2_000_000),
                               ("seq", 10000, 4_000_000), ("netcat", 100, 1_000_000),
                               ("netcat", 1000, 2_000_000)):
        rows.append(pipeline(args, kind, batch, total // q))
        print(rows[-1], flush=True)
    for mode in ("term", "kill"):
        rows.append(replay(args, 1_000_000 // q, mode))
        print(rows[-1], flush=True)
    print()
    print("| case | events/s | MB/s | fsyncs/s | peak RSS MiB | CPU s | replay ms |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %s | %s | %s | %s | %s | %s |" % (
            r["case"], "%.0f" % r["ev_s"] if "ev_s" in r else "",
            "%.1f" % r["mb_s"] if "mb_s" in r else "",
            "%.0f" % r["syncs_s"] if "syncs_s" in r else "",
            "%.1f" % r["rss"] if "rss" in r else "", "%.2f" % r["cpu"] if "cpu" in r else "",
            r.get("ms", "")))


if __name__ == "__main__":
    sys.exit(main())
