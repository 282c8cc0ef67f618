#!/usr/bin/python3
"""bench_file_sinks.py - write bandwidth of the file sinks against the raw
sequential write bandwidth of the same disk, measured in the same run.

Every sink case: seq (batch 1000, bodySize 200: bodies are the counter
left-padded with '0' to 200 bytes) -> memory (capacity 10000,
transactionCapacity 1000) -> sink (batch 1000, rollInterval 0, one file).
The capacity (10 batches, ~2.5 MB of events) keeps the events in flight in
the CPU caches; --capacity 200000 (~50 MB, the previous setting) makes the
source and the sink stream every event through DRAM, which costs both
threads and the kernel's page-cache copy on the same memory bus.  --pad-interceptor pads with a
search_replace interceptor instead (bodies of 194-200 bytes; the previous
setup, which costs the source thread a regex per event).  The sinks hand
one batch (~200 KB) to the kernel per write(2)/writev(2), so raw uses the
same write size (output bytes / number of batches).

Two comparisons, both measured in every run:
  cache    raw: write(2)s of the same total bytes and write size into the same
           directory, then close (the data is in the page cache, as when a
           sink commits a batch: file_roll and hdfs(file://) commit after
           write(2), not after fsync).  Sink: wall time until SINK.k1
           EventDrainSuccessCount reaches N.
  durable  raw: the same writes, then fdatasync(2) of the file, timed to its
           return (dd conv=fdatasync).  Sink: the cache wall time plus an
           fdatasync of every output file started the moment the sink has
           drained (the agent still running).  This is the honest disk
           figure; the cache figure measures memcpy into the page cache.
  null     the same source and channel into the null sink: the pipeline
           ceiling (no serialisation, no write).  When a sink's events/s is
           close to it, the source/channel, not the sink, is the bound.
Every case (raw included) starts after os.sync(), so none pays for the
previous case's dirty pages.  The agent's per-thread CPU seconds are read
from /proc at drain time: the sink's runner thread and the source's (the sink
runner is started before the source runner, so it has the lower tid), to
show which thread is saturated, and the busy cores of the whole machine
(/proc/stat) while the case was timed: the kernel's writeback and any other
load share the same cores.

The source starts before the metrics endpoint answers, so a sink's rate is
timed from the first metrics sample (t0, count c0) and scaled to N: wall =
(t_end - t0) x N / (N - c0).  t_end is the moment the sink's output stopped
growing (os.stat every 2 ms); the counter (an HTTP request, which costs the
agent and this script CPU on the shared cores) is polled only every 20 ms to
see that all N were drained.  The null case has no output: its counter is
polled every 5 ms.  The durable figure adds the duration of the fdatasync.
Median of --runs runs.  Uses tests/integration/harness.py for the agent
process (own process group, free port, cleaned up).

Usage: /usr/bin/python3 bench/bench_file_sinks.py --flumen build-bench/flumen
       [--events N] [--runs R] [--dir DIR] [--cases a,b]
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import harness  # noqa: E402

BODY = 200        # bodySize: every body is exactly 200 bytes
PAD = "x" * 193   # --pad-interceptor: sequence number + 193 bytes = 194..200 bytes


def conf(sink_lines, n, pad_interceptor, capacity=10000):
    lines = ["a1.sources = r1", "a1.channels = c1", "a1.sinks = k1",
             "a1.sources.r1.type = seq", "a1.sources.r1.batchSize = 1000",
             "a1.sources.r1.totalEvents = %d" % n, "a1.sources.r1.channels = c1"]
    if pad_interceptor:
        lines += ["a1.sources.r1.interceptors = p",
                  "a1.sources.r1.interceptors.p.type = search_replace",
                  "a1.sources.r1.interceptors.p.searchPattern = ^",
                  "a1.sources.r1.interceptors.p.replaceString = " + PAD]
    else:
        lines += ["a1.sources.r1.bodySize = %d" % BODY]
    lines += ["a1.channels.c1.type = memory", "a1.channels.c1.capacity = %d" % capacity,
             "a1.channels.c1.transactionCapacity = 1000",
             "a1.sinks.k1.channel = c1"]
    return "\n".join(lines + ["a1.sinks.k1." + l for l in sink_lines]) + "\n"


def cases(out):
    return {
        "null": ["type = null", "batchSize = 1000"],
        "file_roll-text": ["type = file_roll", "sink.directory = " + out,
                           "sink.rollInterval = 0", "sink.batchSize = 1000"],
        "file_roll-avro": ["type = file_roll", "sink.directory = " + out,
                           "sink.rollInterval = 0", "sink.batchSize = 1000",
                           "sink.serializer = avro_event"],
        "hdfs-text": ["type = hdfs", "hdfs.path = file://" + out, "hdfs.fileType = DataStream",
                      "hdfs.rollInterval = 0", "hdfs.rollSize = 0", "hdfs.rollCount = 0",
                      "hdfs.batchSize = 1000"],
        "hdfs-avro": ["type = hdfs", "hdfs.path = file://" + out, "hdfs.fileType = DataStream",
                      "hdfs.rollInterval = 0", "hdfs.rollSize = 0", "hdfs.rollCount = 0",
                      "hdfs.batchSize = 1000", "serializer = avro_event"],
    }


def dir_bytes(d):
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(d) for f in fs)


def thread_cpu(pid):
    """{tid: cpu seconds} of every thread of pid."""
    hz = os.sysconf("SC_CLK_TCK")
    out = {}
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, t)) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[int(t)] = (int(fields[11]) + int(fields[12])) / hz
        except OSError:
            pass
    return out


def cpu_busy():
    """(busy, total) jiffies of the whole machine from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


def fdatasync_tree(d):
    for r, _, fs in os.walk(d):
        for f in fs:
            fd = os.open(os.path.join(r, f), os.O_RDONLY)
            try:
                os.fdatasync(fd)
            finally:
                os.close(fd)


def run_agent(flumen, lines, n, out, pad_interceptor, capacity):
    """Returns (cache wall s, durable wall s, output bytes, timed fraction,
    (sink thread cpu s, source thread cpu s))."""
    null = "null" in lines[0]
    agent = harness.Agent(flumen, conf(lines, n, pad_interceptor, capacity))
    agent.args[agent.args.index("-Dflume.root.logger=INFO,console")] = \
        "-Dflume.root.logger=WARN,console"
    with agent as a:
        deadline = time.monotonic() + 15
        while True:
            try:
                a.metrics()
                break
            except Exception:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.005)
        key = ("CHANNEL.c1", "EventTakeSuccessCount") if null \
            else ("SINK.k1", "EventDrainSuccessCount")
        # The source starts before the metrics endpoint answers: measure the
        # rate from the first sample (t0, c0) to completion.  The end of a
        # file sink's run is the moment its output stopped growing (stat
        # every 2 ms, cheap); the counter, an HTTP request that costs the
        # agent and this script CPU, is only polled every 20 ms to see that
        # the run is over.  The null sink has no output: counter every 5 ms.
        t0, c0, m0 = time.monotonic(), a.counter(*key), cpu_busy()
        size, t1 = -1, t0
        next_poll = t0
        while True:
            now = time.monotonic()
            if not null:
                sz = dir_bytes(out)
                if sz != size:
                    size, t1 = sz, now
            if now >= next_poll:
                if a.counter(*key) >= n:
                    break
                next_poll = now + (0.005 if null else 0.02)
            if now - t0 > 600:
                raise RuntimeError("timeout")
            time.sleep(0.002)
        t_seen = time.monotonic()
        if null:
            t1 = t_seen
        cpu = thread_cpu(a.proc.pid)
        m1 = cpu_busy()
        t_sync = time.monotonic()
        fdatasync_tree(out)
        t2 = time.monotonic()
        frac = (n - c0) / n
        a.signal(15)
        a.wait_exit(60)
    busy = sorted(sorted(cpu.items(), key=lambda kv: -kv[1])[:2])   # by tid
    threads = (busy[0][1], busy[1][1]) if len(busy) == 2 else (0.0, 0.0)
    # Cores of the machine busy while timed (agent, kernel writeback, anything else).
    threads += (os.cpu_count() * (m1[0] - m0[0]) / max(1, m1[1] - m0[1]),)
    wall = (t1 - t0) / frac
    return wall, wall + (t2 - t_sync), dir_bytes(out), frac, threads


def raw_write(d, nbytes, wsize, durable):
    p = os.path.join(d, "raw.bin")
    block = b"r" * wsize
    t0 = time.monotonic()
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    left = nbytes
    while left > 0:
        left -= os.write(fd, block[:min(left, wsize)])
    if durable:
        os.fdatasync(fd)
    os.close(fd)
    wall = time.monotonic() - t0
    os.unlink(p)
    return wall


def raw_round(base, nbytes, wsize, res, r):
    for name, durable in (("raw-cache", False), ("raw-durable", True)):
        os.sync()
        wall = raw_write(base, nbytes, wsize, durable)
        res.setdefault(name, []).append((wall, nbytes, wall, (0.0, 0.0, 0.0)))
        print("run %d %-15s %7.3f s %10d bytes in %d-byte writes%s"
              % (r, name, wall, nbytes, wsize, ", fdatasync" if durable else ""), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--flumen", required=True)
    ap.add_argument("--events", type=int, default=5000000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", default=None, help="directory on the disk to measure")
    ap.add_argument("--cases", default="null,file_roll-text,file_roll-avro,hdfs-text,hdfs-avro")
    ap.add_argument("--capacity", type=int, default=10000, help="memory channel capacity")
    ap.add_argument("--pad-interceptor", action="store_true",
                    help="pad bodies with search_replace instead of seq's bodySize")
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="flumen-bench-fs-", dir=args.dir)
    res = {}
    names = args.cases.split(",")
    batches = args.events // 1000
    # Output size and write size of the text sinks: the bodies plus a
    # newline each, one write per 1000-event batch.
    if args.pad_interceptor:
        text_bytes = sum(len(str(i)) + 194 for i in range(args.events))
    else:
        text_bytes = args.events * (BODY + 1)
    wsize = text_bytes // batches
    try:
        for r in range(args.runs):
            raw_round(base, text_bytes, wsize, res, r)
            for name in names:
                os.sync()  # every case starts without dirty pages (no writeback throttling)
                out = os.path.join(base, "%s-%d" % (name, r))
                os.makedirs(out)
                wall, dwall, nb, frac, thr = run_agent(os.path.abspath(args.flumen),
                                                       cases(out)[name], args.events, out,
                                                       args.pad_interceptor, args.capacity)
                res.setdefault(name, []).append((wall, nb, dwall, thr))
                shutil.rmtree(out)
                print("run %d %-15s %7.3f s (durable %7.3f s) %10d bytes, %.0f %% of the events "
                      "timed, cpu s sink/source threads %.2f/%.2f, machine busy cores %.2f"
                      % (r, name, wall, dwall, nb, 100 * frac, thr[0], thr[1], thr[2]), flush=True)
        raw_round(base, text_bytes, wsize, res, args.runs)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    med = statistics.median
    raw_c = med(nb / w / 1e6 for w, nb, _, _ in res["raw-cache"])
    raw_d = med(nb / w / 1e6 for w, nb, _, _ in res["raw-durable"])
    print()
    for k in ("raw-cache", "raw-durable"):
        v = sorted(nb / w / 1e6 for w, nb, _, _ in res[k])
        print("%s MB/s: min %.0f, median %.0f, max %.0f over %d writes"
              % (k, v[0], med(v), v[-1], len(v)))
    print("| case | events | output MB | wall s | MB/s (cache) | % of raw cache | "
          "durable wall s | MB/s (durable) | % of raw durable | events/s | "
          "cpu s sink / source thread | busy cores |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in ["raw-cache", "raw-durable"] + names:
        rows = res[name]
        w = med(x[0] for x in rows)
        dw = med(x[2] for x in rows)
        nb = med(x[1] for x in rows)
        raw = name.startswith("raw")
        if name == "null":
            nb = text_bytes   # the bodies the text sinks would write
        mbs = med((text_bytes if name == "null" else x[1]) / x[0] / 1e6 for x in rows)
        dmbs = med(x[1] / x[2] / 1e6 for x in rows)
        thr = tuple(med(x[3][i] for x in rows) for i in range(3))
        print("| %s | %s | %.1f | %.3f | %.0f%s | %s | %s | %s | %s | %s | %s | %s |" % (
            name, "" if raw else args.events, nb / 1e6, w, mbs,
            " (bodies)" if name == "null" else "",
            "" if raw or name == "null" else "%.0f %%" % (100 * mbs / raw_c),
            "" if name == "null" else "%.3f" % dw,
            "" if name == "null" else "%.0f" % dmbs,
            "" if raw or name == "null" else "%.0f %%" % (100 * dmbs / raw_d),
            "" if raw else "%.0f" % (args.events / w),
            "" if raw else "%.2f / %.2f" % thr[:2], "" if raw else "%.2f" % thr[2]))


if __name__ == "__main__":
    main()
