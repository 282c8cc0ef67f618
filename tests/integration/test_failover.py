"""test_failover.py - sink groups under real failures, with real agents only
(spec/behaviours.md 5): a sending agent A whose avro sinks form a failover or
load_balance group, and receiving agents (avro source -> memory -> null)
that the test kills with SIGKILL in the middle of a stream and restarts on
the same port.

What is verified:
- failover: with three receivers and priorities 10/5/1 all traffic goes to
  the priority-10 receiver; when it is killed with an appendBatch in
  flight the batch is rolled back and the traffic moves at once (not after
  request-timeout) to the priority-5 one (the priority-1 one never sees an
  event); restarted on the same port it is preferred again once its
  penalty (maxpenalty = 1 s) ends and the priority-5 one gets nothing more;
- nothing acknowledged to the netcat client is lost: A's channel drains to
  0, every take was committed after a receiver's OK, and the receivers'
  EventAcceptedCount sum (the killed one's exact final count included) is
  >= the OKs; duplicates are counted and printed;
- load_balance round_robin spreads N events evenly over two receivers;
- load_balance with backoff = true: a killed receiver's sink is backed off
  (about one failed attempt per maxTimeOut while the other carries the
  load, not one every other call), nothing is lost, and the restarted
  receiver gets traffic again;
- contextual routing across a hop: headers set by interceptors on A travel
  over avro and a multiplexing selector on B routes by them (mapped,
  unmapped -> default, missing header -> default).

The kill with a batch in flight, with an exact count for the dead receiver
(its counters die with it): pause the stream, let everything arrive, read
the victim's count, SIGSTOP it (it accepts nothing more), resume until A's
sink has taken a batch it cannot commit, SIGKILL (kill_with_batch_in_flight).
A's credit to the victim (SINK.k1 EventDrainSuccessCount) must then equal
the victim's own count: a sink committing a failed batch shows up there.

Counting "events A's channel accepted": the netcat source answers OK per
event only after the put committed; the sender thread counts those OKs.
"""

import os
import re
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TEST_TIMEOUT = 60


# ----------------------------------------------------------------- ports

_handed_out = set()


def free_port():
    """harness.free_port, but never a port this run already handed out: a
    port picked for a receiver is unbound until that receiver starts, and
    the kernel may offer it again as another agent's monitoring port (seen
    once: the agent's metrics server then failed with EADDRINUSE)."""
    while True:
        p = harness.free_port()
        if p not in _handed_out:
            _handed_out.add(p)
            return p


def new_agent(flumen, text, name):
    """harness.Agent whose monitoring port is not one handed out here."""
    while True:
        a = harness.Agent(flumen, text, name=name)
        if a.mon_port not in _handed_out:
            _handed_out.add(a.mon_port)
            return a
        a.close()


# ------------------------------------------------------------- receivers

def receiver_conf(name, port, sink="null", extra=""):
    lines = [
        "{n}.sources = r1", "{n}.channels = c1", "{n}.sinks = k1",
        "{n}.sources.r1.type = avro", "{n}.sources.r1.bind = 127.0.0.1",
        "{n}.sources.r1.port = %d" % port, "{n}.sources.r1.channels = c1",
        "{n}.channels.c1.type = memory", "{n}.channels.c1.capacity = 100000",
        "{n}.channels.c1.transactionCapacity = 10000",
        "{n}.sinks.k1.type = %s" % sink, "{n}.sinks.k1.channel = c1",
    ]
    lines += [l.strip() for l in extra.strip().splitlines() if l.strip()]
    return "\n".join(lines).replace("{n}", name) + "\n"


def start_agent(flumen, text, name, listen_rx):
    a = new_agent(flumen, text, name).start()
    try:
        a.wait_ready()
        a.wait_log(listen_rx)
    except BaseException:
        a.close()
        raise
    return a


def start_receiver(flumen, name, port, **kw):
    return start_agent(flumen, receiver_conf(name, port, **kw), name,
                       r"\[%s\.sources\.r1 avro\] listening on 127\.0\.0\.1:%d" % (name, port))


def accepted(agent):
    return agent.counter("SOURCE.r1", "EventAcceptedCount")


def kill9(agent):
    """SIGKILL: the receiver gets no chance to close anything cleanly."""
    agent.signal(signal.SIGKILL)
    agent.proc.wait(10)


# ---------------------------------------------------------------- sender

class Sender(threading.Thread):
    """Streams numbered lines into A's netcat source until stop(): chunks of
    `chunk` lines, each answered before the next chunk, with a short pause
    between chunks to keep the rate moderate (pacing, not a readiness
    wait).  `acked` counts the OK replies (events A's channel committed);
    any other reply is kept in `bad`.  pause() parks it between chunks."""

    def __init__(self, port, chunk=20, pause=0.005):
        super().__init__(daemon=True)
        self.port, self.chunk, self.gap = port, chunk, pause
        self.acked = 0
        self.bad = []
        self.error = None
        self._halt = threading.Event()
        self._go = threading.Event()
        self._go.set()
        self._parked = threading.Event()

    def run(self):
        try:
            with harness.LineClient(self.port, timeout=20) as c:
                n = 0
                while not self._halt.is_set():
                    if not self._go.is_set():
                        self._parked.set()
                        self._go.wait(1)
                        continue
                    c.send("".join("ev %d\n" % (n + i) for i in range(self.chunk)))
                    for r in c.read_lines(self.chunk):
                        if r == "OK":
                            self.acked += 1
                        else:
                            self.bad.append(r)
                    n += self.chunk
                    self._halt.wait(self.gap)
        except BaseException as e:  # noqa: B902 - reported by stop()
            self.error = e
        finally:
            self._parked.set()

    def pause(self):
        """Returns once no chunk is in flight; returns acked."""
        self._go.clear()
        assert self._parked.wait(20), "sender did not pause"
        assert self.error is None, "sender failed: %r" % (self.error,)
        return self.acked

    def resume(self):
        self._parked.clear()
        self._go.set()

    def stop(self):
        """Stops after the chunk in flight is answered; returns acked."""
        self._halt.set()
        self._go.set()
        self.join(30)
        assert not self.is_alive(), "sender did not stop"
        assert self.error is None, "sender failed: %r" % (self.error,)
        assert not self.bad, "non-OK replies from netcat: %r" % self.bad[:5]
        return self.acked


def kill_with_batch_in_flight(a, snd, victim, k, others):
    """Kills receiver `victim` (fed by A's sink k) while k has a batch on the
    wire to it, and returns exactly how many events the victim accepted in
    its life.  Steps: pause the stream and let A drain (the victim's
    counter is then exact and final for what it has seen); SIGSTOP the
    victim so it accepts nothing more; resume the stream until k has taken
    a batch it cannot commit (EventDrainAttemptCount > EventDrainSuccessCount,
    i.e. an appendBatch is waiting for the frozen victim's answer); SIGKILL."""
    acked = snd.pause()
    a.wait_for(lambda: a.counter("CHANNEL.c1", "EventTakeSuccessCount") == acked
               and a.counter("CHANNEL.c1", "ChannelSize") == 0, 20, "A to drain while paused")
    victim.wait_for(lambda: accepted(victim) + sum(accepted(o) for o in others) >= acked, 10,
                    "the receivers to have everything sent so far")
    final = accepted(victim)
    victim.signal(signal.SIGSTOP)
    snd.resume()
    a.wait_for(lambda: a.counter("SINK.%s" % k, "EventDrainAttemptCount")
               > a.counter("SINK.%s" % k, "EventDrainSuccessCount"), 10,
               "sink %s to have a batch in flight to the frozen receiver" % k)
    kill9(victim)
    return final


def sink_lines(names, ports, extra_sink=""):
    out = []
    for k, p in zip(names, ports):
        out += ["a.sinks.%s.type = avro" % k, "a.sinks.%s.hostname = 127.0.0.1" % k,
                "a.sinks.%s.port = %d" % (k, p), "a.sinks.%s.channel = c1" % k,
                "a.sinks.%s.batch-size = 50" % k,
                "a.sinks.%s.connect-timeout = 1000" % k,
                "a.sinks.%s.request-timeout = 5000" % k]
        out += [l.strip() % {"k": k} for l in extra_sink.strip().splitlines() if l.strip()]
    return out


def sender_conf(nc_port, sinks, sink_ports, group):
    lines = [
        "a.sources = r1", "a.channels = c1", "a.sinks = %s" % " ".join(sinks),
        "a.sources.r1.type = netcat", "a.sources.r1.bind = 127.0.0.1",
        "a.sources.r1.port = %d" % nc_port, "a.sources.r1.channels = c1",
        "a.channels.c1.type = memory", "a.channels.c1.capacity = 200000",
        "a.channels.c1.transactionCapacity = 1000",
        "a.sinkgroups = g1", "a.sinkgroups.g1.sinks = %s" % " ".join(sinks),
    ] + sink_lines(sinks, sink_ports)
    lines += [l.strip() for l in group.strip().splitlines() if l.strip()]
    return "\n".join(lines) + "\n"


def start_sender_agent(flumen, text, nc_port):
    return start_agent(flumen, text, "a",
                       r"\[a\.sources\.r1 netcat\] listening on 127\.0\.0\.1:%d" % nc_port)


def drained(a, k):
    return a.counter("SINK.%s" % k, "EventDrainSuccessCount")


def wait_drained(a, acked, sinks, timeout=20):
    """A's channel empty, every acknowledged event put and taken, and every
    take committed by a sink after a receiver's OK."""
    a.wait_for(lambda: a.counter("CHANNEL.c1", "ChannelSize") == 0
               and a.counter("CHANNEL.c1", "EventTakeSuccessCount") == acked
               and sum(drained(a, k) for k in sinks) == acked, timeout,
               "A's channel to drain all %d acknowledged events" % acked)
    assert a.counter("CHANNEL.c1", "EventPutSuccessCount") == acked


# -------------------------------------------------------------- failover

FAILOVER_GROUP = """
a.sinkgroups.g1.processor.type = failover
a.sinkgroups.g1.processor.priority.k1 = 10
a.sinkgroups.g1.processor.priority.k2 = 5
a.sinkgroups.g1.processor.priority.k3 = 1
a.sinkgroups.g1.processor.maxpenalty = 1000
"""


def test_failover_moves_on_when_the_active_receiver_dies_and_returns_after_penalty(flumen):
    t0 = time.monotonic()
    ports = [free_port() for _ in range(3)]
    nc = free_port()
    sinks = ["k1", "k2", "k3"]
    b1 = b1new = b2 = b3 = a = None
    snd = None
    try:
        b1 = start_receiver(flumen, "b1", ports[0])
        b2 = start_receiver(flumen, "b2", ports[1])
        b3 = start_receiver(flumen, "b3", ports[2])
        a = start_sender_agent(flumen, sender_conf(nc, sinks, ports, FAILOVER_GROUP), nc)
        snd = Sender(nc)
        snd.start()

        # 1. Everything goes to the highest priority (k1 -> b1).
        b1.wait_for(lambda: accepted(b1) + accepted(b2) + accepted(b3) >= 500, 20,
                    "500 events at the receivers")
        assert accepted(b2) == 0 and accepted(b3) == 0, \
            "b1 %d, b2 %d, b3 %d: not all at priority 10" % (accepted(b1), accepted(b2),
                                                              accepted(b3))

        # 2. Kill b1 with an appendBatch in flight: the batch is rolled back
        # and traffic moves to k2 -> b2, never to b3.
        b1_old = kill_with_batch_in_flight(a, snd, b1, "k1", [b2, b3])
        t_kill = time.monotonic()
        b2.wait_for(lambda: accepted(b2) > 0, 10, "b2 to take over")
        t_moved = time.monotonic()
        b2.wait_for(lambda: accepted(b2) >= 500, 20, "500 events at b2 after b1 died")
        assert accepted(b3) == 0
        a.wait_log(r"Sink k1 failed and has been sent to failover list")
        assert a.running()
        # The dead peer was noticed from the reset connection, not by waiting
        # out request-timeout (5 s).
        assert t_moved - t_kill < 4, "failover took %.1fs" % (t_moved - t_kill)
        credit_b1 = drained(a, "k1")
        assert credit_b1 == b1_old, \
            "A credited k1 with %d events but b1 accepted %d (was a failed batch committed?)" \
            % (credit_b1, b1_old)

        # 3. Restart b1 on the same port: once the 1 s penalty is over, k1 is
        # retried, recovers and is preferred again.
        b1.close()
        b1 = None
        t_restart = time.monotonic()
        b1new = start_receiver(flumen, "b1", ports[0])
        b1new.wait_for(lambda: accepted(b1new) > 0, 15, "events at the restarted b1")
        t_back = time.monotonic()
        a.wait_log(r"Sink k1 was recovered from the fail list")
        b2_at_recovery = accepted(b2)
        b1new.wait_for(lambda: accepted(b1new) >= 1000, 20, "1000 events at the restarted b1")
        # b2's counter may still be catching up with the batch it answered
        # just before k1 recovered (one batch of 50 at most); nothing after.
        assert accepted(b2) <= b2_at_recovery + 50, \
            "b2 still receives after k1 recovered: %d -> %d" % (b2_at_recovery, accepted(b2))
        assert accepted(b3) == 0

        # 4. Stop the stream; nothing acknowledged is lost.
        acked = snd.stop()
        snd = None
        wait_drained(a, acked, sinks)
        b1new.wait_for(lambda: accepted(b1new) >= drained(a, "k1") - credit_b1, 10,
                       "b1 (restarted) to have what A credited to it")
        assert accepted(b2) >= drained(a, "k2"), (accepted(b2), drained(a, "k2"))
        assert accepted(b3) == drained(a, "k3") == 0
        received = b1_old + accepted(b1new) + accepted(b2) + accepted(b3)
        assert received >= acked, "lost: receivers %d < acknowledged %d" % (received, acked)
        assert a.counter("SINK.k1", "EventWriteFail") >= 1
        print("failover: acked %d, b1 before kill %d, b2 %d, b1 after restart %d, b3 %d, "
              "duplicates %d; moved %.2fs after the kill, back %.2fs after the restart, "
              "k1 write failures %d, total %.1fs"
              % (acked, b1_old, accepted(b2), accepted(b1new), accepted(b3),
                 received - acked, t_moved - t_kill, t_back - t_restart,
                 a.counter("SINK.k1", "EventWriteFail"), time.monotonic() - t0))
        assert t_back - t_restart < 6, "k1 took %.1fs to come back" % (t_back - t_restart)
    finally:
        if snd is not None:
            snd._halt.set()
        for x in (a, b1, b1new, b2, b3):
            if x is not None:
                x.close()


# ---------------------------------------------------------- load balance

def test_load_balance_round_robin_spreads_evenly(flumen):
    ports = [free_port() for _ in range(2)]
    n = 20000
    b1 = start_receiver(flumen, "b1", ports[0])
    with b1, start_receiver(flumen, "b2", ports[1]) as b2:
        text = "\n".join([
            "a.sources = r1", "a.channels = c1", "a.sinks = k1 k2",
            "a.sources.r1.type = seq", "a.sources.r1.totalEvents = %d" % n,
            "a.sources.r1.batchSize = 1000", "a.sources.r1.channels = c1",
            "a.channels.c1.type = memory", "a.channels.c1.capacity = 100000",
            "a.channels.c1.transactionCapacity = 1000",
            "a.sinkgroups = g1", "a.sinkgroups.g1.sinks = k1 k2",
            "a.sinkgroups.g1.processor.type = load_balance",
            "a.sinkgroups.g1.processor.selector = round_robin",
        ] + sink_lines(["k1", "k2"], ports)) + "\n"
        with new_agent(flumen, text, "a") as a:
            a.wait_ready()
            b1.wait_for(lambda: accepted(b1) + accepted(b2) >= n, 30, "%d events in all" % n)
            wait_drained(a, n, ["k1", "k2"])
            c1, c2 = accepted(b1), accepted(b2)
            print("round_robin: b1 %d, b2 %d of %d (batches %d / %d)"
                  % (c1, c2, n, b1.counter("SOURCE.r1", "AppendBatchAcceptedCount"),
                     b2.counter("SOURCE.r1", "AppendBatchAcceptedCount")))
            assert c1 + c2 == n, (c1, c2)
            assert 0.4 * n <= c1 <= 0.6 * n and 0.4 * n <= c2 <= 0.6 * n, (c1, c2)
            assert (drained(a, "k1"), drained(a, "k2")) == (c1, c2)


LB_GROUP = """
a.sinkgroups.g1.processor.type = load_balance
a.sinkgroups.g1.processor.selector = round_robin
a.sinkgroups.g1.processor.backoff = true
a.sinkgroups.g1.processor.selector.maxTimeOut = 1000
"""


def test_load_balance_backs_off_a_dead_receiver_and_loses_nothing(flumen):
    ports = [free_port() for _ in range(2)]
    nc = free_port()
    sinks = ["k1", "k2"]
    b1 = b1new = b2 = a = None
    snd = None
    try:
        b1 = start_receiver(flumen, "b1", ports[0])
        b2 = start_receiver(flumen, "b2", ports[1])
        a = start_sender_agent(flumen, sender_conf(nc, sinks, ports, LB_GROUP), nc)
        snd = Sender(nc)
        snd.start()
        # Both receivers carry traffic.
        b1.wait_for(lambda: accepted(b1) >= 300 and accepted(b2) >= 300, 20,
                    "300 events at each receiver")
        b1_old = kill_with_batch_in_flight(a, snd, b1, "k1", [b2])
        t_kill = time.monotonic()
        base_b2 = accepted(b2)
        # b2 carries everything for ~3 s of stream (well over maxTimeOut).
        b2.wait_for(lambda: time.monotonic() - t_kill >= 3 and accepted(b2) >= base_b2 + 1000,
                    20, "b2 to carry the load for 3 s")
        window = time.monotonic() - t_kill
        credit_b1 = drained(a, "k1")
        assert credit_b1 == b1_old, \
            "A credited k1 with %d events but b1 accepted %d (was a failed batch committed?)" \
            % (credit_b1, b1_old)
        fails = a.counter("SINK.k1", "EventWriteFail")
        calls_k2 = b2.counter("SOURCE.r1", "AppendBatchAcceptedCount")
        a.wait_log(r"Sink k1 failed to consume event")
        # Backed off: about one attempt per maxTimeOut (1 s) instead of one
        # every other process() call (b2 answered hundreds of batches meanwhile).
        assert 1 <= fails <= window / 1.0 + 3, (fails, window, calls_k2)

        # The restarted receiver is used again once its back-off ends.
        b1.close()
        b1 = None
        b1new = start_receiver(flumen, "b1", ports[0])
        b1new.wait_for(lambda: accepted(b1new) >= 300, 15, "events at the restarted b1")

        acked = snd.stop()
        snd = None
        wait_drained(a, acked, sinks)
        b1new.wait_for(lambda: accepted(b1new) >= drained(a, "k1") - credit_b1, 10,
                       "b1 (restarted) to have what A credited to it")
        assert accepted(b2) >= drained(a, "k2")
        received = b1_old + accepted(b1new) + accepted(b2)
        assert received >= acked, "lost: receivers %d < acknowledged %d" % (received, acked)
        print("load_balance: acked %d, b1 before kill %d, b2 %d, b1 after restart %d, "
              "duplicates %d; k1 failed %d time(s) in %.1fs while b2 took %d batches"
              % (acked, b1_old, accepted(b2), accepted(b1new), received - acked,
                 fails, window, calls_k2))
    finally:
        if snd is not None:
            snd._halt.set()
        for x in (a, b1, b1new, b2):
            if x is not None:
                x.close()


# ---------------------------------------------- contextual routing, 2 hops

HOP_B = r"""
b.sources = r1
b.channels = ce cw cd
b.sinks = ke kw kd
b.sources.r1.type = avro
b.sources.r1.bind = 127.0.0.1
b.sources.r1.port = {port}
b.sources.r1.channels = ce cw cd
b.sources.r1.selector.type = multiplexing
b.sources.r1.selector.header = datacenter
b.sources.r1.selector.mapping.east = ce
b.sources.r1.selector.mapping.west = cw
b.sources.r1.selector.default = cd
b.channels.ce.type = memory
b.channels.cw.type = memory
b.channels.cd.type = memory
b.sinks.ke.type = logger
b.sinks.ke.channel = ce
b.sinks.kw.type = logger
b.sinks.kw.channel = cw
b.sinks.kd.type = logger
b.sinks.kd.channel = cd
"""

HOP_A = r"""
a.sources = r1
a.channels = c1
a.sinks = k1
a.sources.r1.type = netcat
a.sources.r1.bind = 127.0.0.1
a.sources.r1.port = {nc}
a.sources.r1.channels = c1
a.sources.r1.interceptors = dc st
a.sources.r1.interceptors.dc.type = regex_extractor
a.sources.r1.interceptors.dc.regex = ^(\\w+):
a.sources.r1.interceptors.dc.serializers = s1
a.sources.r1.interceptors.dc.serializers.s1.name = datacenter
a.sources.r1.interceptors.st.type = static
a.sources.r1.interceptors.st.key = hop
a.sources.r1.interceptors.st.value = a
a.channels.c1.type = memory
a.sinks.k1.type = avro
a.sinks.k1.hostname = 127.0.0.1
a.sinks.k1.port = {port}
a.sinks.k1.channel = c1
"""


def test_contextual_routing_across_an_avro_hop(flumen):
    pb = free_port()
    nc = free_port()
    b = start_agent(flumen, HOP_B.format(port=pb), "b",
                    r"\[b\.sources\.r1 avro\] listening on 127\.0\.0\.1:%d" % pb)
    with b, start_sender_agent(flumen, HOP_A.format(nc=nc, port=pb), nc):
        lines = ["east:1", "west:1", "east:2", "north:1", "plain", "west:2"]
        assert harness.netcat(nc, "".join(l + "\n" for l in lines),
                              read_replies=len(lines)) == ["OK"] * len(lines)

        def logged(sink):
            rx = re.compile(r"\[b\.sinks\.%s logger\] Event: \{ headers:\{(.*?)\} "
                            r"body:((?: [0-9A-F]{2}){0,16})" % sink)
            return [(m.group(1), bytes.fromhex(m.group(2).replace(" ", "")))
                    for m in rx.finditer(b.log())]

        b.wait_for(lambda: sum(len(logged(k)) for k in ("ke", "kw", "kd")) == len(lines), 20,
                   "all events logged at b")
        assert [x for _, x in logged("ke")] == [b"east:1", b"east:2"]
        assert [x for _, x in logged("kw")] == [b"west:1", b"west:2"]
        assert [x for _, x in logged("kd")] == [b"north:1", b"plain"]
        for h, _ in logged("ke") + logged("kw"):
            assert "hop=a" in h and re.search(r"datacenter=(east|west)", h), h
        dflt = logged("kd")
        assert "datacenter=north" in dflt[0][0] and "hop=a" in dflt[0][0], dflt[0]
        assert "datacenter" not in dflt[1][0] and "hop=a" in dflt[1][0], dflt[1]


harness.main(globals())
