#!/usr/bin/python3
"""bench_thrift.py - throughput of the thrift source and of a thrift hop.

Cases:
  thrift      load -> [agent: thrift source -> memory -> null]
  thrift-hop  load -> [agent A: thrift source -> memory -> thrift sink]
                   -> [agent B: thrift source -> memory -> null]

The load: N connections (threads), each sending appendBatch calls of
--batch events of --size bytes (compact, framed) and waiting for each
Status reply before the next call, as a Flume client does.  The call frame
is encoded ONCE by code generated from Flume's IDL with `thrift --gen py`
(python3-thrift), then re-sent, so the Python client costs almost nothing
per event and the figure is the agent's.  Every reply is checked to be
Status OK.

events/s = events / wall time from the first send until the last agent's
null sink has taken them all (CHANNEL.c1 EventTakeSuccessCount, polled every
10 ms).  CPU s = utime+stime of the agent(s) over that time.

Usage:
  /usr/bin/python3 bench/bench_thrift.py --flumen build-bench/flumen \
      [--events 2000000] [--conns 2] [--batch 1000] [--size 200] [--runs 3] \
      [--cases thrift,thrift-hop]

A benchmark, never part of ctest.  Needs thrift-compiler and python3-thrift.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")

IDL = """
namespace java org.apache.flume.thrift
struct ThriftFlumeEvent { 1: required map <string, string> headers, 2: required binary body, }
enum Status { OK, FAILED, ERROR, UNKNOWN }
service ThriftSourceProtocol {
  Status append(1: ThriftFlumeEvent event),
  Status appendBatch(1: list<ThriftFlumeEvent> events),
}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gen(tmp):
    out = os.path.join(tmp, "py")
    os.mkdir(out)
    idl = os.path.join(tmp, "flume.thrift")
    with open(idl, "w") as f:
        f.write(IDL)
    subprocess.run(["thrift", "--gen", "py", "-out", out, idl], check=True)
    sys.path.insert(0, out)
    from flume import ThriftSourceProtocol, ttypes
    return ThriftSourceProtocol, ttypes


def encode_frame(svc, tt, batch, size):
    """One framed compact appendBatch call, encoded by the generated client."""
    from thrift.protocol import TCompactProtocol
    from thrift.transport import TTransport
    buf = TTransport.TMemoryBuffer()
    framed = TTransport.TFramedTransport(buf)
    client = svc.Client(TCompactProtocol.TCompactProtocol(framed))
    body = (b"x" * (size - 1)) + b"\n"
    client.send_appendBatch([tt.ThriftFlumeEvent(headers={}, body=body) for _ in range(batch)])
    return buf.getvalue()


def read_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise RuntimeError("server closed the connection")
        out += chunk
    return out


def sender(port, frame, calls, errors):
    try:
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(calls):
            s.sendall(frame)
            (n,) = struct.unpack(">I", read_exact(s, 4))
            rep = read_exact(s, n)
            # compact reply: ... 05 00 <status zigzag> 00
            if rep[-2] != 0:
                raise RuntimeError("status %d" % (rep[-2] // 2))
        s.close()
    except Exception as e:  # reported by the main thread
        errors.append(repr(e))


class Agent:
    def __init__(self, flumen, name, conf, tmp):
        self.mon = free_port()
        d = os.path.join(tmp, name)
        os.mkdir(d)
        path = os.path.join(d, "flume.conf")
        with open(path, "w") as f:
            f.write(conf)
        self.logf = open(os.path.join(d, "agent.log"), "wb")
        self.proc = subprocess.Popen(
            [flumen, "agent", "-n", name, "-f", path, "-c", d,
             "-Dflume.root.logger=INFO,console", "-Dflume.monitoring.type=http",
             "-Dflume.monitoring.port=%d" % self.mon, "-Dflume.monitoring.host=127.0.0.1"],
            stdout=self.logf, stderr=subprocess.STDOUT, start_new_session=True)

    def metrics(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.mon, timeout=5) as r:
            return json.loads(r.read())

    def wait_ready(self):
        deadline = time.monotonic() + 15
        while True:
            try:
                self.metrics()
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("agent did not start")
                time.sleep(0.02)

    def taken(self):
        return int(self.metrics().get("CHANNEL.c1", {}).get("EventTakeSuccessCount", "0"))

    def cpu(self):
        with open("/proc/%d/stat" % self.proc.pid) as f:
            v = f.read().rsplit(")", 1)[1].split()
        return (int(v[11]) + int(v[12])) / CLK_TCK

    def hwm_mb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return 0

    def close(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.logf.close()


def conf_source(name, port, sink_lines, batch):
    return "\n".join([
        "%s.sources = r1" % name, "%s.channels = c1" % name, "%s.sinks = k1" % name,
        "%s.sources.r1.type = thrift" % name, "%s.sources.r1.bind = 127.0.0.1" % name,
        "%s.sources.r1.port = %d" % (name, port), "%s.sources.r1.channels = c1" % name,
        "%s.channels.c1.type = memory" % name, "%s.channels.c1.capacity = 200000" % name,
        "%s.channels.c1.transactionCapacity = %d" % (name, batch),
        "%s.sinks.k1.channel = c1" % name] + ["%s.sinks.k1.%s" % (name, l) for l in sink_lines]
    ) + "\n"


def run_case(flumen, case, args, frame, tmp):
    agents = []
    try:
        port = free_port()
        if case == "thrift":
            last = Agent(flumen, "a1", conf_source("a1", port, ["type = null",
                                                               "batchSize = %d" % args.batch],
                                                   args.batch), tmp)
            agents = [last]
        else:
            bport = free_port()
            last = Agent(flumen, "b1", conf_source("b1", bport, ["type = null",
                                                                "batchSize = %d" % args.batch],
                                                   args.batch), tmp)
            agents = [last]
            last.wait_ready()
            a = Agent(flumen, "a1", conf_source("a1", port, [
                "type = thrift", "hostname = 127.0.0.1", "port = %d" % bport,
                "batch-size = %d" % args.batch], args.batch), tmp)
            agents.append(a)
        for ag in agents:
            ag.wait_ready()
        calls = args.events // args.batch // args.conns
        total = calls * args.batch * args.conns
        cpu0 = sum(ag.cpu() for ag in agents)
        errors = []
        threads = [threading.Thread(target=sender, args=(port, frame, calls, errors))
                   for _ in range(args.conns)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        while last.taken() < total:
            if errors:
                raise RuntimeError("load failed: %s" % errors[0])
            if time.monotonic() - t0 > 300:
                raise RuntimeError("timed out")
            time.sleep(0.01)
        wall = time.monotonic() - t0
        for t in threads:
            t.join()
        cpu = sum(ag.cpu() for ag in agents) - cpu0
        return {"events": total, "wall": wall, "eps": total / wall, "cpu": cpu,
                "hwm_mb": sum(ag.hwm_mb() for ag in agents)}
    finally:
        for ag in reversed(agents):
            ag.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--flumen", required=True)
    ap.add_argument("--events", type=int, default=2000000)
    ap.add_argument("--conns", type=int, default=2)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--size", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cases", default="thrift,thrift-hop")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="flumen-bench-thrift-")
    try:
        svc, tt = gen(tmp)
        frame = encode_frame(svc, tt, args.batch, args.size)
        print("load: %d connection(s), appendBatch of %d x %d B events (frame %d B), load "
              "average %.2f" % (args.conns, args.batch, args.size, len(frame),
                                os.getloadavg()[0]))
        print("| case | events | events/s (median) | wall s | agent CPU s | CPU % | "
              "M ev/CPU-s | peak RSS MB |")
        print("|---|---|---|---|---|---|---|---|")
        for case in args.cases.split(","):
            rs = []
            for i in range(args.runs):
                d = os.path.join(tmp, "%s-%d" % (case, i))
                os.mkdir(d)
                rs.append(run_case(args.flumen, case, args, frame, d))
            med = lambda k: statistics.median(r[k] for r in rs)  # noqa: E731
            print("| %s | %d | %.0f | %.2f | %.2f | %.0f | %.2f | %.0f |" % (
                case, rs[0]["events"], med("eps"), med("wall"), med("cpu"),
                100 * med("cpu") / med("wall"), rs[0]["events"] / med("cpu") / 1e6,
                med("hwm_mb")), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
