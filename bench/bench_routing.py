#!/usr/bin/python3
"""bench_routing.py - cost of the routing layer (issue 6 benchmarks).

Cases, each netcat (ack-every-event=false, 1 connection, 200-byte lines from
bench/loadgen) -> memory channel(s) -> null sink(s):
  plain     no interceptors, replicating selector, one channel (baseline)
  routing   timestamp + host + static interceptors, multiplexing selector over
            2 channels (static sets datacenter=east; mapping.east = c1,
            default = c2: every event takes the per-event selector path)
  mux       the multiplexing selector alone (no header: every event to c2)
  static    the static interceptor alone (one header added per event)
  filter    regex_filter regex=ERROR|FATAL excludeEvents=true (no line
            matches, so every 200-byte body is scanned in full and kept)
Throughput = events taken by the sinks (CHANNEL EventTakeSuccessCount summed)
per second of wall time from the loadgen start until all are taken.

usage: /usr/bin/python3 bench/bench_routing.py --flumen BUILD/flumen \
           --loadgen BUILD/bench/loadgen [--lines N] [--runs R]
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

BASE = """
a1.sources = r1
a1.sources.r1.type = netcat
a1.sources.r1.bind = 127.0.0.1
a1.sources.r1.port = {port}
a1.sources.r1.max-line-length = 512
a1.sources.r1.ack-every-event = false
"""

CHAN = """
a1.channels.{c}.type = memory
a1.channels.{c}.capacity = 100000
a1.channels.{c}.transactionCapacity = 1000
a1.sinks.k{c}.type = null
a1.sinks.k{c}.batchSize = 1000
a1.sinks.k{c}.channel = {c}
"""

CASES = {
    "plain": ("a1.sources.r1.channels = c1\n", ["c1"]),
    "routing": ("""a1.sources.r1.channels = c1 c2
a1.sources.r1.interceptors = ts hn st
a1.sources.r1.interceptors.ts.type = timestamp
a1.sources.r1.interceptors.hn.type = host
a1.sources.r1.interceptors.st.type = static
a1.sources.r1.interceptors.st.key = datacenter
a1.sources.r1.interceptors.st.value = east
a1.sources.r1.selector.type = multiplexing
a1.sources.r1.selector.header = datacenter
a1.sources.r1.selector.mapping.east = c1
a1.sources.r1.selector.default = c2
""", ["c1", "c2"]),
    "mux": ("""a1.sources.r1.channels = c1 c2
a1.sources.r1.selector.type = multiplexing
a1.sources.r1.selector.header = datacenter
a1.sources.r1.selector.mapping.east = c1
a1.sources.r1.selector.default = c2
""", ["c1", "c2"]),
    "static": ("""a1.sources.r1.channels = c1
a1.sources.r1.interceptors = st
a1.sources.r1.interceptors.st.type = static
""", ["c1"]),
    "filter": ("""a1.sources.r1.channels = c1
a1.sources.r1.interceptors = f
a1.sources.r1.interceptors.f.type = regex_filter
a1.sources.r1.interceptors.f.regex = ERROR|FATAL
a1.sources.r1.interceptors.f.excludeEvents = true
""", ["c1"]),
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metrics(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=1) as r:
            return json.loads(r.read().decode())
    except OSError:
        return None


def run_case(args, name):
    extra, chans = CASES[name]
    port, mport = free_port(), free_port()
    conf = BASE.format(port=port) + extra
    conf += "a1.channels = %s\na1.sinks = %s\n" % (" ".join(chans),
                                                  " ".join("k" + c for c in chans))
    for c in chans:
        conf += CHAN.format(c=c)
    tmp = tempfile.mkdtemp(prefix="flumen-bench-routing-")
    path = os.path.join(tmp, "flume.conf")
    with open(path, "w") as f:
        f.write(conf)
    agent = subprocess.Popen([args.flumen, "agent", "-n", "a1", "-f", path, "-c", tmp,
                              "--no-reload-conf", "-Dflume.root.logger=WARN,console",
                              "-Dflume.monitoring.type=http",
                              "-Dflume.monitoring.port=%d" % mport,
                              "-Dflume.monitoring.host=127.0.0.1"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while metrics(mport) is None:
            if time.monotonic() > deadline or agent.poll() is not None:
                raise RuntimeError("agent did not start")
            time.sleep(0.005)
        while True:  # the listener may come up just after the metrics server
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("netcat source not listening")
                time.sleep(0.005)
        # The probe connection sent nothing, so it adds no events.
        t0 = time.monotonic()
        lg = subprocess.run([args.loadgen, "--port", str(port), "--lines", str(args.lines),
                             "--size", "200", "--conns", "1"], capture_output=True,
                            timeout=300)
        if lg.returncode != 0:
            raise RuntimeError("loadgen: %s" % lg.stderr.decode())
        while True:
            m = metrics(mport) or {}
            taken = sum(int(m.get("CHANNEL." + c, {}).get("EventTakeSuccessCount", "0"))
                        for c in chans)
            if taken >= args.lines:
                break
            if time.monotonic() - t0 > 300:
                raise RuntimeError("only %d of %d events taken" % (taken, args.lines))
            time.sleep(0.01)
        return args.lines / (time.monotonic() - t0)
    finally:
        os.killpg(agent.pid, signal.SIGTERM)
        try:
            agent.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(agent.pid, signal.SIGKILL)
            agent.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--flumen", required=True)
    ap.add_argument("--loadgen", required=True)
    ap.add_argument("--lines", type=int, default=2_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cases", default="plain,routing,filter")
    args = ap.parse_args()
    best = {}
    for r in range(args.runs):
        for name in args.cases.split(","):
            v = run_case(args, name)
            print("run %d %-8s %10.0f events/s" % (r + 1, name, v), flush=True)
            best[name] = max(best.get(name, 0), v)
    for name, v in best.items():
        print("best %-8s %10.0f events/s" % (name, v))
    if "plain" in best and "routing" in best:
        print("routing / plain = %.3f" % (best["routing"] / best["plain"]))


if __name__ == "__main__":
    sys.exit(main())
