#!/usr/bin/python3
"""bench_avro.py - throughput of the avro source and of an avro hop.

Builds nothing: give it the agent (--flumen) and bench/avro_load (--load),
and optionally the avro-client binary (--avro-client; default: flumen
itself, `flumen avro-client`).  Cases:

  avro-null   avro_load (N connections, appendBatch of B events of S bytes)
              -> avro source -> memory -> null
  hop         avro_load -> agent A (avro source -> memory -> avro sink)
              -> agent B (avro source -> memory -> null): two processes
  client      `avro-client -F file` with a 200,000-line file -> avro source
              -> memory -> null (batch 100, as Flume's avro-client)

events/s = events delivered / wall time from the load start until the last
agent's CHANNEL.c1 EventTakeSuccessCount reaches the total (polled every
10 ms).  CPU s = utime + stime of the agent processes over that time.
Every process started is stopped before the next run; only 127.0.0.1.
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_s(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


class Agent:
    def __init__(self, flumen, name, conf):
        self.tmp = tempfile.mkdtemp(prefix="flumen-bench-avro-")
        self.mon = free_port()
        path = os.path.join(self.tmp, "flume.conf")
        with open(path, "w") as f:
            f.write(conf)
        self.log = open(os.path.join(self.tmp, "agent.log"), "wb")
        self.proc = subprocess.Popen(
            [flumen, "agent", "-n", name, "-f", path, "-c", self.tmp,
             "-Dflume.root.logger=WARN,console", "-Dflume.monitoring.type=http",
             "-Dflume.monitoring.port=%d" % self.mon, "-Dflume.monitoring.host=127.0.0.1"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def metrics(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.mon, timeout=2) as r:
            return json.loads(r.read())

    def counter(self, comp, attr):
        return int(self.metrics().get(comp, {}).get(attr, "0"))

    def wait_ready(self, port, timeout=20):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                self.metrics()
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("agent exited; see %s" % self.tmp)
                time.sleep(0.01)
        raise RuntimeError("agent not ready")

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def src_conf(name, port, sink_lines, cap=200000, txcap=10000):
    return "\n".join([
        "%s.sources = r1" % name, "%s.channels = c1" % name, "%s.sinks = k1" % name,
        "%s.sources.r1.type = avro" % name, "%s.sources.r1.bind = 127.0.0.1" % name,
        "%s.sources.r1.port = %d" % (name, port), "%s.sources.r1.channels = c1" % name,
        "%s.channels.c1.type = memory" % name, "%s.channels.c1.capacity = %d" % (name, cap),
        "%s.channels.c1.transactionCapacity = %d" % (name, txcap),
        "%s.sinks.k1.channel = c1" % name] + ["%s.sinks.k1.%s" % (name, l) for l in sink_lines]) + "\n"


def wait_taken(agent, total, timeout=300):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if agent.counter("CHANNEL.c1", "EventTakeSuccessCount") >= total:
            return
        time.sleep(0.01)
    raise RuntimeError("only %d of %d events arrived" %
                       (agent.counter("CHANNEL.c1", "EventTakeSuccessCount"), total))


def run_case(args, case):
    port_a, port_b = free_port(), free_port()
    agents = []
    try:
        null_sink = ["type = null", "batchSize = %d" % args.batch]
        if case == "hop":
            bconf = src_conf("b", port_b, null_sink)
            if args.deflate:
                bconf += "b.sources.r1.compression-type = deflate\n"
            b = Agent(args.flumen, "b", bconf)
            agents.append(b)
            b.wait_ready(port_b)
            a = Agent(args.flumen, "a", src_conf("a", port_a, [
                "type = avro", "hostname = 127.0.0.1", "port = %d" % port_b,
                "batch-size = %d" % args.batch] + (["compression-type = deflate"]
                                                   if args.deflate else [])))
            agents.append(a)
            a.wait_ready(port_a)
            last = b
        else:
            a = Agent(args.flumen, "a", src_conf("a", port_a, null_sink))
            agents.append(a)
            a.wait_ready(port_a)
            last = a
        cpu0 = sum(cpu_s(x.proc.pid) for x in agents)
        if case == "client":
            n = args.client_lines
            with tempfile.NamedTemporaryFile("w", prefix="avro-lines-", delete=False) as f:
                for i in range(n):
                    f.write("%016d %s\n" % (i, "x" * 183))
                path = f.name
            t0 = time.monotonic()
            r = subprocess.run(args.avro_client + ["-H", "127.0.0.1", "-p", str(port_a),
                                                   "-F", path],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            os.unlink(path)
            if r.returncode != 0:
                raise RuntimeError("avro-client failed: %s" % r.stderr.decode())
            total = n
        else:
            total = args.conns * args.batches * args.batch
            t0 = time.monotonic()
            cmd = [args.load, "127.0.0.1", str(port_a), str(args.conns), str(args.batches),
                   str(args.batch), str(args.body)]
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            if r.returncode != 0:
                raise RuntimeError("avro_load failed: %s" % r.stderr.decode())
        wait_taken(last, total)
        wall = time.monotonic() - t0
        cpu = sum(cpu_s(x.proc.pid) for x in agents) - cpu0
        return {"case": case, "events": total, "wall_s": round(wall, 3),
                "ev_per_s": round(total / wall), "agent_cpu_s": round(cpu, 2),
                "ev_per_cpu_s": round(total / cpu) if cpu > 0 else None}
    finally:
        for x in reversed(agents):
            x.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--flumen", required=True)
    ap.add_argument("--load", required=True)
    ap.add_argument("--avro-client", default=None,
                    help="command for avro-client (default: FLUMEN avro-client)")
    ap.add_argument("--cases", default="avro-null,hop,client")
    ap.add_argument("--conns", type=int, default=4)
    ap.add_argument("--batches", type=int, default=250)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--body", type=int, default=200)
    ap.add_argument("--client-lines", type=int, default=200000)
    ap.add_argument("--deflate", action="store_true", help="hop: deflate between A and B")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    args.avro_client = (args.avro_client.split() if args.avro_client
                        else [args.flumen, "avro-client"])
    for case in args.cases.split(","):
        results = [run_case(args, case) for _ in range(args.runs)]
        results.sort(key=lambda r: r["ev_per_s"])
        med = results[len(results) // 2]
        print(json.dumps({"median": med, "runs": [r["ev_per_s"] for r in results]}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
