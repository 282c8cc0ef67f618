#!/usr/bin/python3
"""bench_file_sinks.py - write bandwidth of the file sinks against the raw
sequential write bandwidth of the same disk, measured in the same run.

Cases (each: seq -> search_replace (pads bodies to ~200 bytes) -> memory ->
sink, N events, rollInterval 0, batch 1000):
  raw-write       dd-like: the same number of bytes as the text output,
                  written with 1 MiB write(2) calls into the same directory
                  (page cache, no fsync, as the sinks), then closed; three
                  times between consecutive runs and after the last
Every case (raw included) starts after os.sync(), so none pays for the
previous case's dirty pages.
  null            the same source into the null sink: the pipeline ceiling
  file_roll-text, file_roll-avro, hdfs-text, hdfs-avro (hdfs = DataStream
                  on a file:// path)
MB/s = output file bytes / wall time.  The source runs before the metrics
endpoint answers, so the rate is timed from the first metrics sample (t0,
count c0) until SINK.k1 EventDrainSuccessCount (null: the channel's take
count) reaches N, polled every 10 ms, and scaled to N: wall = (t_end - t0) x
N / (N - c0).  Median of --runs runs.  Uses tests/integration/harness.py for the
agent process (own process group, free port, cleaned up).

Usage: /usr/bin/python3 bench/bench_file_sinks.py --flumen build-bench/flumen
       [--events N] [--runs R] [--dir DIR]
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

PAD = "x" * 193   # bodies: decimal sequence number + 193 bytes = 194..200 bytes


def conf(sink_lines, n):
    lines = ["a1.sources = r1", "a1.channels = c1", "a1.sinks = k1",
             "a1.sources.r1.type = seq", "a1.sources.r1.batchSize = 1000",
             "a1.sources.r1.totalEvents = %d" % n, "a1.sources.r1.channels = c1",
             "a1.sources.r1.interceptors = p",
             "a1.sources.r1.interceptors.p.type = search_replace",
             "a1.sources.r1.interceptors.p.searchPattern = ^",
             "a1.sources.r1.interceptors.p.replaceString = " + PAD,
             "a1.channels.c1.type = memory", "a1.channels.c1.capacity = 200000",
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


def run_agent(flumen, lines, n, out):
    with harness.Agent(flumen, conf(lines, n)) as a:
        deadline = time.monotonic() + 15
        while True:
            try:
                a.metrics()
                break
            except Exception:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        key = ("CHANNEL.c1", "EventTakeSuccessCount") if "null" in lines[0] \
            else ("SINK.k1", "EventDrainSuccessCount")
        # The source starts before the metrics endpoint answers: measure the
        # rate from the first sample (t0, c0) to completion.
        t0, c0 = time.monotonic(), a.counter(*key)
        while a.counter(*key) < n:
            time.sleep(0.01)
            if time.monotonic() - t0 > 600:
                raise RuntimeError("timeout")
        wall = time.monotonic() - t0
        frac = (n - c0) / n
        a.signal(15)
        a.wait_exit(60)
    return wall / frac, dir_bytes(out), frac


def raw_write(d, nbytes):
    p = os.path.join(d, "raw.bin")
    block = b"r" * (1 << 20)
    t0 = time.monotonic()
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    left = nbytes
    while left > 0:
        left -= os.write(fd, block[:min(left, len(block))])
    os.close(fd)
    wall = time.monotonic() - t0
    os.unlink(p)
    return wall


def raw_round(base, nbytes, res, r):
    """Three raw writes, each after os.sync(); all kept (the disk of a shared
    VM varies a lot between consecutive writes)."""
    for _ in range(3):
        os.sync()
        wall = raw_write(base, nbytes)
        res.setdefault("raw-write", []).append((wall, nbytes))
        print("run %d %-15s %7.3f s %10d bytes" % (r, "raw-write", wall, nbytes), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--flumen", required=True)
    ap.add_argument("--events", type=int, default=2000000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", default=None, help="directory on the disk to measure")
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="flumen-bench-fs-", dir=args.dir)
    res = {}
    try:
        names = ["null", "file_roll-text", "file_roll-avro", "hdfs-text", "hdfs-avro"]
        text_bytes = None
        for r in range(args.runs):
            if text_bytes is not None:
                raw_round(base, text_bytes, res, r)
            for name in names:
                os.sync()  # every case starts without dirty pages (no writeback throttling)
                out = os.path.join(base, "%s-%d" % (name, r))
                os.makedirs(out)
                wall, nb, frac = run_agent(os.path.abspath(args.flumen), cases(out)[name], args.events,
                                     out)
                if name == "file_roll-text":
                    text_bytes = nb
                res.setdefault(name, []).append((wall, nb))
                shutil.rmtree(out)
                print("run %d %-15s %7.3f s %10d bytes (%.0f %% of the events timed)"
                      % (r, name, wall, nb, 100 * frac), flush=True)
        raw_round(base, text_bytes, res, args.runs)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    raw = statistics.median(nb / w / 1e6 for w, nb in res["raw-write"])
    print()
    raws = sorted(nb / w / 1e6 for w, nb in res["raw-write"])
    print("raw-write MB/s: min %.0f, median %.0f, max %.0f over %d writes"
          % (raws[0], raw, raws[-1], len(raws)))
    print("| case | events | output MB | median wall s | MB/s | ev/s | % of raw |")
    print("|---|---|---|---|---|---|---|")
    for name in ["raw-write"] + names:
        w = statistics.median(x[0] for x in res[name])
        nb = statistics.median(x[1] for x in res[name])
        mbs = statistics.median(x[1] / x[0] / 1e6 for x in res[name])
        evs = "" if name == "raw-write" else "%.0f" % (args.events / w)
        pct = "" if name in ("raw-write", "null") else "%.0f %%" % (100 * mbs / raw)
        print("| %s | %s | %.1f | %.3f | %.1f | %s | %s |" % (
            name, "" if name == "raw-write" else args.events, nb / 1e6, w,
            mbs if name != "null" else 0.0, evs, pct))


if __name__ == "__main__":
    main()
