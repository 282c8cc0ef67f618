"""harness.py - shared helpers for flumen's integration tests (stdlib only).

A test file looks like:

    import harness

    def test_something(flumen):           # flumen: path of the binary
        with harness.Agent(flumen, CONF) as a:
            a.wait_ready()
            ...

    harness.main(globals())

harness.main parses `--flumen PATH` (default: $FLUMEN_BIN), runs every
test_* function (in file order; `-k TEXT` selects by name) under a per-test
timeout (module global TEST_TIMEOUT, default 60 s, or @harness.timeout(s)),
prints one PASS/FAIL line each and exits non-zero if any failed.  A test
takes the binary path as its only argument (or no argument).

Rules this module follows and tests should too: bind 127.0.0.1 only, free
ports from the kernel, no fixed sleeps (poll the metrics endpoint, a log
line or a counter), kill every process started.
"""

import inspect
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
import traceback
import urllib.error
import urllib.request

POLL = 0.02  # seconds between polls


class TestTimeout(Exception):
    """Raised inside a test when its time is up."""


_handed_out = set()


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago and that this
    process has not handed out before (a test may pick several ports before
    any agent binds them; the kernel would happily return the same one)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no fresh free port after 200 tries")


def _tail(text, lines=60):
    return "\n".join(text.splitlines()[-lines:])


class Agent:
    """A `flumen agent` process with its own config dir, log file and
    monitoring port, in its own process group.  Use as a context manager."""

    def __init__(self, flumen_bin, conf_text, name="a1", extra_args=(), workdir=None):
        self.bin = flumen_bin
        self.name = name
        self.tmp = tempfile.mkdtemp(prefix="flumen-it-")
        self.confdir = self.tmp
        self.conf_path = os.path.join(self.tmp, "flume.conf")
        with open(self.conf_path, "w", encoding="utf-8") as f:
            f.write(conf_text)
        self.log_path = os.path.join(self.tmp, "agent.log")
        self.mon_port = free_port()
        self.args = [
            flumen_bin, "agent", "-n", name, "-f", self.conf_path, "-c", self.confdir,
            "-Dflume.root.logger=INFO,console",
            "-Dflume.monitoring.type=http",
            "-Dflume.monitoring.port=%d" % self.mon_port,
            "-Dflume.monitoring.host=127.0.0.1",
        ] + list(extra_args)
        self.workdir = workdir or self.tmp
        self.proc = None
        self._logf = None

    # -------------------------------------------------------- lifecycle
    def start(self):
        """Starts the agent (once); returns self."""
        if self.proc is not None:
            return self
        self._logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.args, cwd=self.workdir, stdin=subprocess.DEVNULL,
                                     stdout=self._logf, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        _live_agents.add(self)
        return self

    def __enter__(self):
        return self.start() if self.proc is None else self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self, grace=5.0):
        """Stops the process group (SIGTERM, then SIGKILL after grace) and
        removes the temp dir."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self._killpg(signal.SIGTERM)
                try:
                    self.proc.wait(grace)
                except subprocess.TimeoutExpired:
                    pass
            self._killpg(signal.SIGKILL)  # stragglers in the group too
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        if self._logf is not None:
            self._logf.close()
            self._logf = None
        _live_agents.discard(self)
        if self.tmp is not None and os.environ.get("FLUMEN_IT_KEEP") is None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def _killpg(self, sig):
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def signal(self, sig):
        """Sends sig to the agent process only."""
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=10):
        """Waits for the agent to exit; returns its returncode."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("agent did not exit within %ss\n%s" % (timeout, _tail(self.log())))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    # ----------------------------------------------------------- output
    def log(self):
        """Everything the agent wrote to stdout and stderr so far."""
        if self.tmp is None:
            return ""
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def metrics_url(self):
        return "http://127.0.0.1:%d/metrics" % self.mon_port

    def metrics(self):
        """The /metrics JSON as a dict."""
        with urllib.request.urlopen(self.metrics_url(), timeout=5) as r:
            return json.loads(r.read().decode("utf-8"))

    def counter(self, component, attr):
        """An attribute of a metrics entry ("CHANNEL.c1", "EventPutSuccessCount")
        as an int; 0 when the entry is absent."""
        m = self.metrics().get(component, {})
        v = m.get(attr, "0")
        try:
            return int(v)
        except ValueError:
            return v

    # ---------------------------------------------------------- waiting
    def wait_for(self, pred, timeout=10, what="condition"):
        """Polls pred() every 20 ms until truthy; returns its value.  Fails
        (with the log tail) on timeout or if the agent exits."""
        deadline = time.monotonic() + timeout
        last_exc = None
        while True:
            try:
                v = pred()
                if v:
                    return v
            except (OSError, ValueError, urllib.error.URLError) as e:
                last_exc = e
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError("agent exited (rc %s) while waiting for %s\n%s"
                                     % (self.proc.returncode, what, _tail(self.log())))
            if time.monotonic() >= deadline:
                extra = " (last error: %r)" % last_exc if last_exc else ""
                raise AssertionError("timed out after %ss waiting for %s%s\n%s"
                                     % (timeout, what, extra, _tail(self.log())))
            time.sleep(POLL)

    def wait_ready(self, timeout=10):
        """Waits until the metrics endpoint answers 200.  If another process
        took the monitoring port between free_port() and the agent's bind
        (tests run in parallel), the agent is restarted on a fresh port, at
        most twice; nothing has reached it yet at that point."""
        taken = re.compile(r"monitoring server not started.*(EADDRINUSE|in use)")

        def ok():
            if taken.search(self.log()):
                return "port taken"
            with urllib.request.urlopen(self.metrics_url(), timeout=1) as r:
                return r.status == 200
        for attempt in range(3):
            r = self.wait_for(ok, timeout, "the metrics endpoint on port %d" % self.mon_port)
            if r != "port taken":
                return r
            if attempt == 2:
                raise AssertionError("monitoring port taken three times\n%s" % _tail(self.log()))
            self._restart_on_new_monitoring_port()

    def _restart_on_new_monitoring_port(self):
        if self.proc is not None and self.proc.poll() is None:
            self._killpg(signal.SIGKILL)
            self.proc.wait(10)
        if self._logf is not None:
            self._logf.close()
        old = "-Dflume.monitoring.port=%d" % self.mon_port
        self.mon_port = free_port()
        self.args = [("-Dflume.monitoring.port=%d" % self.mon_port) if a == old else a
                     for a in self.args]
        self.proc = None
        self.start()

    def wait_log(self, regex, timeout=10):
        """Waits until the log matches regex (re.M); returns the match."""
        rx = re.compile(regex, re.M)
        return self.wait_for(lambda: rx.search(self.log()), timeout, "log /%s/" % regex)


_live_agents = set()


# ------------------------------------------------------------- sockets

class LineClient:
    """A TCP connection to 127.0.0.1:port that sends bytes and reads
    '\\n'-terminated replies."""

    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.timeout = timeout
        self.buf = b""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def read_line(self, timeout=None):
        """Next reply line without its newline (str, UTF-8 with replacement).
        Raises AssertionError on EOF or timeout."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no reply line within timeout (have %r)" % self.buf)
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise AssertionError("connection closed; partial reply %r" % self.buf)
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode("utf-8", "replace")

    def read_lines(self, n, timeout=None):
        return [self.read_line(timeout) for _ in range(n)]

    def expect_eof(self, timeout=None):
        """Asserts the server closes the connection with nothing more to read
        (a reset counts as closed)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("connection still open")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                return
            if not chunk:
                if self.buf:
                    raise AssertionError("unread data before EOF: %r" % self.buf)
                return
            self.buf += chunk

    def expect_nothing(self, wait=0.3):
        """Asserts no reply arrives within `wait` seconds (a bounded check for
        absence, not a readiness wait)."""
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            chunk = None
        assert not chunk and not self.buf, "unexpected reply %r" % (self.buf + (chunk or b""))

    def shutdown_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def netcat(port, data, read_replies=0, timeout=10):
    """Sends data to 127.0.0.1:port like `nc` and returns the first
    read_replies reply lines (str, without newlines)."""
    with LineClient(port, timeout) as c:
        c.send(data)
        return c.read_lines(read_replies, timeout) if read_replies else []


def wait_port(port, timeout=10, proc=None):
    """Waits until something accepts on 127.0.0.1:port (opens and closes one
    connection)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() >= deadline:
                raise AssertionError("nothing listens on 127.0.0.1:%d" % port)
            time.sleep(POLL)


# --------------------------------------------------------- logger sink

_EVENT_RX = re.compile(r"Event: \{ headers:\{(.*?)\} body:((?: [0-9A-F]{2}){0,16})")


def logger_events(log_text):
    """(headers text, body bytes) of every logger-sink line in log_text; the
    body is the hex dump's first row, so at most 16 bytes."""
    out = []
    for m in _EVENT_RX.finditer(log_text):
        out.append((m.group(1), bytes.fromhex(m.group(2).replace(" ", ""))))
    return out


# -------------------------------------------------------------- runner

def timeout(seconds):
    """Decorator: a per-test timeout other than TEST_TIMEOUT."""
    def deco(fn):
        fn.harness_timeout = seconds
        return fn
    return deco


def _on_alarm(signum, frame):
    raise TestTimeout("test timed out")


def main(ns):
    """Runs every test_* function of the module namespace ns; exits 0 if all
    passed, 1 otherwise."""
    args = sys.argv[1:]
    flumen = os.environ.get("FLUMEN_BIN")
    select = None
    i = 0
    while i < len(args):
        if args[i] == "--flumen" and i + 1 < len(args):
            flumen = args[i + 1]
            i += 2
        elif args[i] == "-k" and i + 1 < len(args):
            select = args[i + 1]
            i += 2
        else:
            print("usage: %s [--flumen PATH] [-k NAME]" % sys.argv[0], file=sys.stderr)
            sys.exit(2)
    if not flumen or not os.access(flumen, os.X_OK):
        print("flumen binary not found: pass --flumen PATH or set FLUMEN_BIN", file=sys.stderr)
        sys.exit(2)
    flumen = os.path.abspath(flumen)

    tests = [(n, f) for n, f in ns.items() if n.startswith("test_") and callable(f)]
    if select:
        tests = [(n, f) for n, f in tests if select in n]
    default_to = ns.get("TEST_TIMEOUT", 60)
    signal.signal(signal.SIGALRM, _on_alarm)
    failed = []
    for name, fn in tests:
        to = getattr(fn, "harness_timeout", default_to)
        t0 = time.monotonic()
        signal.setitimer(signal.ITIMER_REAL, to)
        try:
            if len(inspect.signature(fn).parameters) >= 1:
                fn(flumen)
            else:
                fn()
            signal.setitimer(signal.ITIMER_REAL, 0)
            print("PASS %s (%.2fs)" % (name, time.monotonic() - t0), flush=True)
        except BaseException as e:  # noqa: B902 - report everything, incl. timeouts
            signal.setitimer(signal.ITIMER_REAL, 0)
            if isinstance(e, KeyboardInterrupt):
                raise
            failed.append(name)
            print("FAIL %s (%.2fs)" % (name, time.monotonic() - t0), flush=True)
            traceback.print_exc()
            sys.stdout.flush()
        finally:
            for a in list(_live_agents):  # a test that forgot its `with`
                a.close()
    print("%d passed, %d failed%s" % (len(tests) - len(failed), len(failed),
                                      (": " + ", ".join(failed)) if failed else ""), flush=True)
    sys.exit(1 if failed else 0)
