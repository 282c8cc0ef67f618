#!/usr/bin/python3
"""run_bench.py - throughput, start-up and memory benchmarks of the flumen agent.

Builds nothing: give it a Release build of the agent (--flumen) and of
bench/loadgen (--loadgen).  For every case it writes a temporary agent
config, starts `flumen agent` with the HTTP metrics endpoint on a free
127.0.0.1 port, and measures:

  listen ms  exec -> first successful TCP connect to the netcat port (netcat
             cases) or first HTTP 200 from /metrics (seq case: it has no port)
  ready ms   exec -> first HTTP 200 from /metrics (every component started)
  idle RSS   VmRSS of the agent right after it became ready (seq: the source
             is already running by then, so this is not an idle figure)
  events/s   events delivered to the sink / wall time; the wall time runs
             from the start of the load (loadgen launch; seq: the first
             metrics answer) until CHANNEL.c1 EventTakeSuccessCount reaches
             the total, polled every 10 ms
  MB/s       payload bytes / the same wall time (netcat: line bytes with the
             newline, as sent; seq: body bytes)
  peak RSS   VmHWM of the agent at the end of the case
  CPU s      agent utime+stime over the measured wall time
  CPU %      CPU s / wall time (200 % = both cores of a 2-core machine)

Each case runs --runs times (default 3); the table shows the median of each
column separately.  Readiness and completion are detected by polling, never
by fixed sleeps; every process started here is stopped before the next run.

Also shown: M ev/CPU-s (events per agent CPU second, the figure least
disturbed by other load on a shared machine) and the 1-minute load average
when the case started.

Usage:
  /usr/bin/python3 bench/run_bench.py --flumen build-bench/flumen \
      --loadgen build-bench/bench/loadgen [--quick] [--runs N] [--cases a,b] \
      [--json FILE] [--keep] [--env K=V ...] [--perf DIR]

--env K=V   adds K=V to the agent's environment (e.g. LD_PRELOAD=... to try
            another malloc); repeatable.
--perf DIR  attaches `perf record -e cpu-clock -g` to the agent for the
            loaded phase only (start-up excluded) and keeps
            DIR/<case>-<run>.data; the timings of such runs include perf's
            overhead, so use it for profiles, not for figures.
"""

import argparse
import http.client
import json
import os
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
READY_TIMEOUT_S = 15.0
DRAIN_TIMEOUT_S = 300.0
POLL_S = 0.010          # completion polling period (the brief: every 10 ms)
READY_POLL_S = 0.001    # readiness polling period (start-up is timed in ms)

# name -> description; the numbers are the full-size run, --quick divides by 10.
CASES = {
    "seq": dict(kind="seq", total=20_000_000,
                title="seq -> memory -> null"),
    "netcat": dict(kind="netcat", total=2_000_000, size=200, ack=False, conns=1,
                   title="netcat(ack=false) -> memory -> null"),
    "netcat-ack": dict(kind="netcat", total=200_000, size=200, ack=True, conns=1, window=1,
                       title="netcat(ack=true, window 1) -> memory -> null"),
    # Not in the default set: the same source with a pipelining client.
    "netcat-ack-w100": dict(kind="netcat", total=200_000, size=200, ack=True, conns=1,
                            window=100, title="netcat(ack=true, window 100) -> memory -> null"),
}
DEFAULT_CASES = ["seq", "netcat", "netcat-ack"]


def free_port():
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def agent_config(case, nc_port):
    lines = ["a1.sources = r1", "a1.channels = c1", "a1.sinks = k1"]
    if case["kind"] == "seq":
        lines += ["a1.sources.r1.type = seq",
                  "a1.sources.r1.batchSize = 1000",
                  "a1.sources.r1.totalEvents = %d" % case["total"]]
    else:
        lines += ["a1.sources.r1.type = netcat",
                  "a1.sources.r1.bind = 127.0.0.1",
                  "a1.sources.r1.port = %d" % nc_port,
                  "a1.sources.r1.max-line-length = %d" % max(512, case["size"] + 1),
                  "a1.sources.r1.ack-every-event = %s" % ("true" if case["ack"] else "false")]
    lines += ["a1.sources.r1.channels = c1",
              "a1.channels.c1.type = memory",
              "a1.channels.c1.capacity = 100000",
              "a1.channels.c1.transactionCapacity = 1000",
              "a1.sinks.k1.type = null",
              "a1.sinks.k1.batchSize = 1000",
              "a1.sinks.k1.channel = c1"]
    return "\n".join(lines) + "\n"


def seq_body_bytes(n):
    """Total length of the decimal texts of 0 .. n-1 (the seq source's bodies)."""
    total, lo, digits = 0, 0, 1
    while lo < n:
        hi = min(n, 10 ** digits)
        total += (hi - lo) * digits
        lo, digits = hi, digits + 1
    return total


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) / 1024.0  # kB -> MiB
    return out


def proc_cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        data = f.read()
    fields = data[data.rindex(")") + 2:].split()
    # fields[0] is field 3 (state); utime is field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def get_metrics(port, timeout=1.0):
    """The parsed /metrics JSON, or None when the endpoint is not answering 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/metrics")
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            return None
        return json.loads(body)
    except (OSError, http.client.HTTPException, ValueError):
        return None
    finally:
        conn.close()


def tcp_connects(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def take_count(m):
    return int(m.get("CHANNEL.c1", {}).get("EventTakeSuccessCount", "0"))


class Agent:
    """One flumen agent process for one run; always stopped by stop()."""

    def __init__(self, flumen, workdir, conf_text, env=None):
        self.conf = os.path.join(workdir, "agent.conf")
        with open(self.conf, "w") as f:
            f.write(conf_text)
        self.log_path = os.path.join(workdir, "agent.log")
        self.mport = free_port()
        self.flumen = flumen
        self.proc = None
        self.log = None
        self.env = env

    def start(self):
        self.log = open(self.log_path, "wb")
        t = time.monotonic()
        self.proc = subprocess.Popen(
            [self.flumen, "agent", "-n", "a1", "-f", self.conf,
             "-Dflume.monitoring.type=http", "-Dflume.monitoring.port=%d" % self.mport,
             "-Dflume.monitoring.host=127.0.0.1"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        return t

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM, then SIGKILL after 15 s; returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log:
            self.log.close()
        return self.proc.returncode

    def tail(self, n=20):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


class Perf:
    """perf record attached to a running pid, enabled only once it is attached
    (perf's control fifo acknowledges the enable), stopped with SIGINT."""

    def __init__(self, pid, out, workdir):
        self.ctl = os.path.join(workdir, "perf.ctl")
        self.ack = os.path.join(workdir, "perf.ack")
        os.mkfifo(self.ctl)
        os.mkfifo(self.ack)
        self.proc = subprocess.Popen(
            ["perf", "record", "-q", "-e", "cpu-clock", "-F", "2000", "-g", "-D", "-1",
             "--control", "fifo:%s,%s" % (self.ctl, self.ack), "-p", str(pid), "-o", out],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        # perf opening its end of the control fifo and answering "ack" to
        # "enable" is the readiness signal; bounded by a deadline.
        deadline = time.monotonic() + 30
        self.af = os.open(self.ack, os.O_RDONLY | os.O_NONBLOCK)
        self.cf = None
        while self.cf is None:
            try:
                self.cf = os.open(self.ctl, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # ENXIO: perf has not opened it yet
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("perf record did not start")
                time.sleep(0.005)
        os.write(self.cf, b"enable\n")
        reply = b""
        while b"\n" not in reply:
            ready, _, _ = select.select([self.af], [], [], 0.1)
            if ready:
                reply += os.read(self.af, 64)
            elif self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("perf record did not acknowledge enable")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for fd in (self.cf, self.af):
            if fd is not None:
                os.close(fd)
        self.cf = self.af = None


def run_once(args, name, case, workdir, run_no):
    nc_port = free_port() if case["kind"] == "netcat" else None
    env = None
    if args.env:
        env = dict(os.environ)
        for kv in args.env:
            k, _, v = kv.partition("=")
            env[k] = v
    agent = Agent(args.flumen, workdir, agent_config(case, nc_port), env)
    r = {"case": name}
    lg = None
    perf = None
    try:
        t_exec = agent.start()
        pid = agent.proc.pid
        t_listen = t_ready = None
        first = None
        deadline = t_exec + READY_TIMEOUT_S
        while t_ready is None or (nc_port is not None and t_listen is None):
            if not agent.alive():
                raise RuntimeError("agent exited during start-up:\n" + agent.tail())
            if time.monotonic() > deadline:
                raise RuntimeError("agent not ready after %.0f s:\n%s"
                                   % (READY_TIMEOUT_S, agent.tail()))
            if nc_port is not None and t_listen is None and tcp_connects(nc_port):
                t_listen = time.monotonic()
            if t_ready is None:
                m = get_metrics(agent.mport)
                if m is not None:
                    t_ready = time.monotonic()
                    first = m
            if t_ready is None or (nc_port is not None and t_listen is None):
                time.sleep(READY_POLL_S)
        if t_listen is None:
            t_listen = t_ready
        r["listen_ms"] = (t_listen - t_exec) * 1000.0
        r["ready_ms"] = (t_ready - t_exec) * 1000.0
        r["idle_rss_mib"] = proc_status(pid)["VmRSS"]

        total = case["total"]
        perf_out = os.path.join(args.perf, "%s-%d.data" % (name, run_no)) if args.perf else None
        if case["kind"] == "seq":
            # The source runs from start-up: time from the first metrics answer.
            t0, done0 = t_ready, take_count(first)
            cpu0 = proc_cpu_s(pid)
            if perf_out:
                perf = Perf(pid, perf_out, workdir)
            payload = seq_body_bytes(total)
            payload_frac = (total - done0) / total
        else:
            cmd = [args.loadgen, "--port", str(nc_port), "--lines", str(total),
                   "--size", str(case["size"]), "--conns", str(case["conns"])]
            if case["ack"]:
                cmd += ["--ack", "--window", str(case["window"]), "--nodelay"]
            if perf_out:
                perf = Perf(pid, perf_out, workdir)
            cpu0 = proc_cpu_s(pid)
            t0, done0 = time.monotonic(), 0
            lg = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL)
            payload = total * case["size"]
            payload_frac = 1.0
        deadline = t0 + DRAIN_TIMEOUT_S
        while True:
            m = get_metrics(agent.mport)
            now = time.monotonic()
            if m is not None and take_count(m) >= total:
                t_end = now
                break
            if not agent.alive():
                raise RuntimeError("agent exited under load:\n" + agent.tail())
            if lg is not None and lg.poll() not in (None, 0):
                out, err = lg.communicate()
                raise RuntimeError("loadgen failed (%d): %s%s" % (lg.returncode, out.decode(),
                                                                 err.decode()))
            if now > deadline:
                raise RuntimeError("sink has %s of %d events after %.0f s"
                                   % (take_count(m) if m else "?", total, DRAIN_TIMEOUT_S))
            time.sleep(POLL_S)
        cpu = proc_cpu_s(pid) - cpu0
        st = proc_status(pid)
        if perf is not None:
            perf.stop()
            perf = None
        wall = t_end - t0
        r["events"] = total - done0
        r["wall_s"] = wall
        r["events_per_s"] = (total - done0) / wall
        r["mb_per_s"] = payload * payload_frac / wall / 1e6
        r["peak_rss_mib"] = st["VmHWM"]
        r["cpu_s"] = cpu
        r["cpu_pct"] = cpu / wall * 100.0
        r["mev_per_cpu_s"] = (total - done0) / cpu / 1e6 if cpu > 0 else float("nan")
        if lg is not None:
            out, err = lg.communicate(timeout=DRAIN_TIMEOUT_S)
            if lg.returncode != 0:
                raise RuntimeError("loadgen failed (%d): %s%s" % (lg.returncode, out.decode(),
                                                                 err.decode()))
            for line in out.decode().splitlines():
                if line.startswith("result "):
                    kv = dict(p.split("=", 1) for p in line.split()[1:])
                    r["loadgen_lines_per_s"] = float(kv["lines_per_s"])
            lg = None
    finally:
        if perf is not None:
            perf.stop()
        if lg is not None and lg.poll() is None:
            lg.kill()
            lg.wait()
        rc = agent.stop()
    if rc not in (0, None):
        raise RuntimeError("agent exited with status %s:\n%s" % (rc, agent.tail()))
    return r


COLUMNS = [
    ("events_per_s", "events/s", lambda v: "%.3f M" % (v / 1e6)),
    ("mb_per_s", "MB/s", lambda v: "%.1f" % v),
    ("listen_ms", "listen ms", lambda v: "%.1f" % v),
    ("ready_ms", "ready ms", lambda v: "%.1f" % v),
    ("idle_rss_mib", "idle RSS MiB", lambda v: "%.2f" % v),
    ("peak_rss_mib", "peak RSS MiB", lambda v: "%.2f" % v),
    ("cpu_s", "CPU s", lambda v: "%.2f" % v),
    ("cpu_pct", "CPU %", lambda v: "%.0f" % v),
    ("mev_per_cpu_s", "M ev/CPU-s", lambda v: "%.2f" % v),
    ("loadavg", "load", lambda v: "%.1f" % v),
]


def print_table(rows, out=sys.stdout):
    head = ["case"] + [c[1] for c in COLUMNS]
    out.write("| " + " | ".join(head) + " |\n")
    out.write("|" + "|".join("---" for _ in head) + "|\n")
    for name, med in rows:
        cells = [name] + [fmt(med[k]) if k in med else "-" for k, _, fmt in COLUMNS]
        out.write("| " + " | ".join(cells) + " |\n")
    out.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--flumen", required=True, help="path of the flumen binary (Release)")
    ap.add_argument("--loadgen", required=True, help="path of bench/loadgen")
    ap.add_argument("--quick", action="store_true", help="10x smaller counts (smoke run)")
    ap.add_argument("--runs", type=int, default=3, help="runs per case; the median is shown")
    ap.add_argument("--cases", default=",".join(DEFAULT_CASES),
                    help="comma-separated, from: " + ", ".join(CASES))
    ap.add_argument("--json", help="also write every run and the medians to this file")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directories")
    ap.add_argument("--env", action="append", default=[], metavar="K=V",
                    help="extra environment variable for the agent (repeatable)")
    ap.add_argument("--perf", metavar="DIR",
                    help="record a perf profile of each run's loaded phase into DIR")
    args = ap.parse_args()
    for p in (args.flumen, args.loadgen):
        if not os.access(p, os.X_OK):
            ap.error("not an executable: " + p)
    if args.perf:
        os.makedirs(args.perf, exist_ok=True)
        if shutil.which("perf") is None:
            ap.error("--perf needs perf (apt-get install linux-perf)")
    names = [c.strip() for c in args.cases.split(",") if c.strip()]
    for n in names:
        if n not in CASES:
            ap.error("unknown case %s" % n)

    results = {"runs": [], "medians": {}}
    table = []
    for name in names:
        case = dict(CASES[name])
        if args.quick:
            case["total"] //= 10
        runs = []
        for i in range(args.runs):
            workdir = tempfile.mkdtemp(prefix="flumen-bench-")
            try:
                with open("/proc/loadavg") as f:
                    load = float(f.read().split()[0])
                r = run_once(args, name, case, workdir, i + 1)
                r["loadavg"] = load
            except RuntimeError as e:
                sys.stderr.write("%s run %d failed: %s\n" % (name, i + 1, e))
                return 1
            finally:
                if not args.keep:
                    shutil.rmtree(workdir, ignore_errors=True)
                else:
                    sys.stderr.write("kept %s\n" % workdir)
            sys.stderr.write("%s run %d: %s\n" % (name, i + 1, ", ".join(
                "%s=%.4g" % (k, v) for k, v in r.items() if isinstance(v, float))))
            runs.append(r)
            results["runs"].append(r)
        med = {}
        for k in runs[0]:
            vals = [r[k] for r in runs if isinstance(r.get(k), (int, float))]
            if vals:
                med[k] = statistics.median(vals)
        results["medians"][name] = med
        table.append(("%s (%s, n=%d)" % (name, case["title"], case["total"]), med))
    print_table(table)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
