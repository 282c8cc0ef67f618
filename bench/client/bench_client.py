#!/usr/bin/python3
"""bench_client.py - throughput of libflumen-client's load client
(bench/client/loadclient.c, built as `loadclient` next to the flumen binary)
into one agent: avro source -> memory -> null and thrift source -> memory ->
null, appendBatch of 1000 events of 200 B over N connections (one client
and thread each); and the hop: loadclient -> agent A (avro -> memory ->
avro sink, batch 1000) -> agent B (avro -> memory -> null).

usage: bench_client.py --flumen build/flumen [--conns 1,2,4] [--batches 300]
                       [--runs 3] [--cases avro,thrift,avro-deflate,hop]

acked events/s = loadclient's figure: events acknowledged (Status OK =
committed to the first agent's channel) / wall time from its start barrier
to the last reply.  drained events/s = events / wall time from starting
loadclient until the last agent's null sink has taken them all (includes
the client's connect and warm-up call; polled every 10 ms).  agent CPU s =
utime + stime of the agent(s) from loadclient's start to the drain.
Only 127.0.0.1; every process started is stopped.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


CONF = """a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = {kind}
a1.sources.r1.bind = 127.0.0.1
a1.sources.r1.port = {port}
a1.sources.r1.channels = c1
{extra}
a1.channels.c1.type = memory
a1.channels.c1.capacity = 200000
a1.channels.c1.transactionCapacity = 1000
{sink}
a1.sinks.k1.channel = c1
"""
NULL_SINK = "a1.sinks.k1.type = null\na1.sinks.k1.batchSize = 1000"
AVRO_SINK = ("a1.sinks.k1.type = avro\na1.sinks.k1.hostname = 127.0.0.1\n"
             "a1.sinks.k1.port = {port}\na1.sinks.k1.batch-size = 1000")


class Agent:
    def __init__(self, flumen, kind, port, extra="", sink=NULL_SINK):
        self.tmp = tempfile.mkdtemp(prefix="flumen-bench-client-")
        self.mon = free_port()
        path = os.path.join(self.tmp, "flume.conf")
        with open(path, "w") as f:
            f.write(CONF.format(kind=kind, port=port, extra=extra, sink=sink))
        self.log = open(os.path.join(self.tmp, "agent.log"), "wb")
        self.proc = subprocess.Popen(
            [flumen, "agent", "-n", "a1", "-f", path, "-c", self.tmp,
             "-Dflume.root.logger=WARN,console", "-Dflume.monitoring.type=http",
             "-Dflume.monitoring.port=%d" % self.mon, "-Dflume.monitoring.host=127.0.0.1"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.port = port
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.close()
                    raise RuntimeError("agent did not start")
                time.sleep(0.01)

    def taken(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.mon, timeout=5) as r:
            m = json.loads(r.read().decode())
        return int(m.get("CHANNEL.c1", {}).get("EventTakeSuccessCount", "0"))

    def close(self):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def one_run(flumen, load, case, conns, batches):
    kind = "thrift" if case == "thrift" else "avro"
    extra = "a1.sources.r1.compression-type = deflate" if case == "avro-deflate" else ""
    flags = ["-t"] if case == "thrift" else ["-z"] if case == "avro-deflate" else []
    port = free_port()
    agents = []
    try:
        if case == "hop":
            bport = free_port()
            agents.append(Agent(flumen, "avro", bport))
            agents.insert(0, Agent(flumen, "avro", port, sink=AVRO_SINK.format(port=bport)))
        else:
            agents.append(Agent(flumen, kind, port, extra))
        last = agents[-1]
        c0 = sum(cpu_s(a.proc.pid) for a in agents)
        t0 = time.monotonic()
        p = subprocess.Popen([load, "-H", "127.0.0.1", "-p", str(port), "-c", str(conns),
                              "-n", str(batches), "-b", "1000", "-s", "200"] + flags,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        want = conns * (batches * 1000 + 1)
        deadline = time.monotonic() + 600
        while last.taken() < want:
            if time.monotonic() > deadline or (p.poll() not in (None, 0)):
                break
            time.sleep(0.01)
        drained = time.monotonic() - t0
        cpu = sum(cpu_s(a.proc.pid) for a in agents) - c0
        out, err = p.communicate(timeout=600)
        if p.returncode != 0 or last.taken() < want:
            raise RuntimeError("loadclient failed: %s %s" % (out, err))
        res = dict(kv.split("=", 1) for kv in out.decode().split()[2:])
        return (float(res["ev_per_s"]), float(res["mb_per_s"]), want / drained, cpu, drained,
                float(res["client_cpu_s"]))
    finally:
        for a in agents:
            a.close()


NAMES = {
    "avro": "avro -> memory -> null",
    "thrift": "thrift -> memory -> null",
    "avro-deflate": "avro (deflate) -> memory -> null",
    "hop": "A: avro -> memory -> avro sink -> B: avro -> memory -> null",
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--flumen", required=True)
    ap.add_argument("--load", help="loadclient binary (default: next to flumen)")
    ap.add_argument("--conns", default="1,2,4")
    ap.add_argument("--batches", type=int, default=300, help="batches per connection")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cases", default="avro,thrift")
    o = ap.parse_args()
    load = o.load or os.path.join(os.path.dirname(os.path.abspath(o.flumen)), "loadclient")
    print("| case | conns | events/run | acked events/s (median) | MB/s | drained events/s "
          "| agent CPU s / drain s | client CPU s | runs, acked ev/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for case in o.cases.split(","):
        for conns in [int(c) for c in o.conns.split(",")]:
            rs = [one_run(o.flumen, load, case, conns, o.batches) for _ in range(o.runs)]
            rs.sort()
            med = rs[len(rs) // 2]
            name = NAMES.get(case, case)
            print("| %s | %d | %d | %.0f | %.1f | %.0f | %.2f / %.2f | %.2f | %s |"
                  % (name, conns, conns * o.batches * 1000, med[0], med[1], med[2], med[3],
                     med[4], med[5], ", ".join("%.0f" % r[0] for r in rs)), flush=True)


if __name__ == "__main__":
    main()
