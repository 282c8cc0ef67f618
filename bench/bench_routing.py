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
import statistics
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


def agent_usage(pid):
    """(CPU seconds of the agent, of its netcat thread nc-r1, peak RSS KiB) so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / tick
    rss = 0
    src = 0.0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                if f.read().strip() != "nc-r1":
                    continue
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                tf = f.read().rsplit(")", 1)[1].split()
            src += (int(tf[11]) + int(tf[12])) / tick
        except OSError:
            pass
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                rss = int(line.split()[1])
    return cpu, src, rss


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
        wall = time.monotonic() - t0
        cpu, src, rss = agent_usage(agent.pid)
        return {"eps": args.lines / wall, "mbps": args.lines * 201 / wall / 1e6,
                "cpu_ns": cpu * 1e9 / args.lines, "src_ns": src * 1e9 / args.lines,
                "rss_mib": rss / 1024.0}
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
    names = args.cases.split(",")
    res = {n: [] for n in names}
    ratios = []
    for r in range(args.runs):
        # Alternate the order so neither case always runs first.
        for name in (names if r % 2 == 0 else names[::-1]):
            v = run_case(args, name)
            res[name].append(v)
            print("run %d %-8s %10.0f events/s %7.1f MB/s CPU ns/event %4.0f agent "
                  "%4.0f source thread %6.1f MiB peak RSS"
                  % (r + 1, name, v["eps"], v["mbps"], v["cpu_ns"], v["src_ns"], v["rss_mib"]),
                  flush=True)
        if "plain" in names and "routing" in names:
            ratios.append(res["routing"][-1]["eps"] / res["plain"][-1]["eps"])
    for name in names:
        med = {k: statistics.median(x[k] for x in res[name]) for k in res[name][0]}
        print("median %-8s %10.0f events/s %7.1f MB/s CPU ns/event %4.0f agent "
              "%4.0f source thread %6.1f MiB peak RSS (best %.0f events/s)"
              % (name, med["eps"], med["mbps"], med["cpu_ns"], med["src_ns"], med["rss_mib"],
                 max(x["eps"] for x in res[name])))
    if ratios:
        print("routing / plain per run: %s" % " ".join("%.2f" % x for x in ratios))
        print("routing / plain = %.3f (median of runs), %.3f (best / best)"
              % (statistics.median(ratios),
                 max(x["eps"] for x in res["routing"]) / max(x["eps"] for x in res["plain"])))


if __name__ == "__main__":
    sys.exit(main())
