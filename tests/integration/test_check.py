"""test_check.py - `flumen check`, `flumen help` and `flumen version` run as
the real binary (spec/config.md 3 and 6): exit status, the printed flow, and
problems printed as file:line messages.  No agent is started, so no ports.
"""

import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TEST_TIMEOUT = 30

GOOD = """\
# a small valid flow
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = seq
a1.sources.r1.channels = c1
a1.sources.r1.batchSize = 10
a1.channels.c1.type = memory
a1.channels.c1.capacity = 1000
a1.sinks.k1.type = logger
a1.sinks.k1.channel = c1
"""

_tmpdirs = []


def write(text, name="flume.conf"):
    d = tempfile.mkdtemp(prefix="flumen-check-")
    _tmpdirs.append(d)
    p = os.path.join(d, name)
    with open(p, "w", encoding="latin-1") as f:
        f.write(text)
    return p


def run(flumen, *args, timeout=20):
    p = subprocess.run([flumen] + list(args), stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def check(flumen, text, *extra, name="a1"):
    path = write(text)
    rc, out, err = run(flumen, "check", "-n", name, "-f", path, *extra)
    return rc, out, err, path


def line_of(text, needle):
    """1-based line number of the first line of text containing needle."""
    for i, l in enumerate(text.splitlines(), 1):
        if needle in l:
            return i
    raise AssertionError("%r not in config" % needle)


def show(rc, out, err):
    return "rc=%s\n--- stdout\n%s--- stderr\n%s" % (rc, out, err)


# ------------------------------------------------------------------ check

def test_good_config_exits_0_and_prints_the_flow(flumen):
    rc, out, err, _ = check(flumen, GOOD)
    assert rc == 0, show(rc, out, err)
    assert re.search(r"^agent a1:$", out, re.M), out
    assert re.search(r"source\s+r1\s+\(seq\)\s+->\s+c1\s*$", out, re.M), out
    assert re.search(r"channel\s+c1\s+\(memory\)\s+transactionCapacity=100", out), out
    assert re.search(r"sink\s+k1\s+\(logger\)\s+<-\s+c1", out), out
    assert "OK: 0 warning(s)" in out, out
    assert "error" not in out.lower(), out


def test_bad_config_exits_1_with_file_line_messages(flumen):
    text = GOOD.replace("a1.channels.c1.capacity = 1000", "a1.channels.c1.capacity = 50") \
        .replace("a1.channels = c1", "a1.channels = c1 c2").replace("a1.sinks = k1", "a1.sinks = k1 k2") \
        + "a1.channels.c2.type = memory\na1.sinks.k2.type = null\na1.sinks.k2.channel = c2\n"
    rc, out, err, path = check(flumen, text)
    assert rc == 1, show(rc, out, err)
    assert "Transaction Capacity of Memory Channel cannot be higher than the capacity." in out, out
    # The channel's removal names the file and the line where c1 starts.
    ln = line_of(text, "a1.channels.c1.type")
    assert re.search(r"^error: %s:%d: a1\.channels\.c1: .*Channel c1 removed"
                     % (re.escape(path), ln), out, re.M), out
    # The sink bound to it goes, with Flume's text, at the `channel` line.
    ln = line_of(text, "a1.sinks.k1.channel")
    assert re.search(r"^error: %s:%d: a1\.sinks\.k1: channel: Could not configure sink k1 due to: "
                     r"Channel c1 not in active set\.$" % (re.escape(path), ln), out, re.M), out
    assert re.search(r"sink\s+k2\s+\(null\)\s+<-\s+c2", out), out
    assert not re.search(r"^\s+sink\s+k1\s", out, re.M), out
    assert "FAILED:" in out, out


def test_batch_size_message_is_flumes(flumen):
    text = GOOD.replace("a1.sources.r1.batchSize = 10", "a1.sources.r1.batchSize = 200") \
        .replace("a1.channels.c1.capacity = 1000", "a1.channels.c1.capacity = 1000\n"
                 "a1.channels.c1.transactionCapacity = 100")
    rc, out, err, path = check(flumen, text)
    assert rc == 1, show(rc, out, err)
    assert ("Incompatible source and channel settings defined. source's batch size is greater "
            "than the channels transaction capacity. Source: r1, batch size = 200, channel c1, "
            "transaction capacity = 100") in out, out
    assert re.search(r"^error: %s:\d+: a1\.sources\.r1: " % re.escape(path), out, re.M), out


def test_unknown_type_cannot_be_loaded(flumen):
    for key, kind in (("a1.sinks.k1.type = logger", "sink"),
                      ("a1.channels.c1.type = memory", "channel"),
                      ("a1.sources.r1.type = seq", "source")):
        text = GOOD.replace(key, key.split("=")[0] + "= nosuch")
        rc, out, err, path = check(flumen, text)
        assert rc == 1, show(rc, out, err)
        ln = line_of(text, "= nosuch")
        assert re.search(r"^error: %s:%d: .*Unable to load %s type: nosuch"
                         % (re.escape(path), ln, kind), out, re.M), out
        assert "FAILED: the configuration cannot be loaded" in out, out


def test_warnings_pass_but_strict_makes_them_fatal(flumen):
    text = GOOD + "a1.channels.c1.capacty = 10\n"
    rc, out, err, path = check(flumen, text)
    assert rc == 0, show(rc, out, err)
    ln = line_of(text, "capacty")
    assert re.search(r"^warning: %s:%d: a1\.channels\.c1: capacty: unknown property 'capacty' "
                     r"ignored; did you mean 'capacity'\?" % (re.escape(path), ln), out, re.M), out
    assert "OK: 1 warning(s)" in out, out
    rc, out, err = run(flumen, "check", "--strict", "-n", "a1", "-f", path)
    assert rc == 1, show(rc, out, err)
    assert "FAILED" in out, out


def test_configured_but_unlisted_is_only_a_warning(flumen):
    text = GOOD + "a1.sinks.k9.type = null\na1.sinks.k9.channel = c1\n"
    rc, out, err, _ = check(flumen, text)
    assert rc == 0, show(rc, out, err)
    assert "'k9' is configured but not listed" in out, out
    assert not re.search(r"^\s+sink\s+k9", out, re.M), out


def test_missing_file_exits_1_naming_it(flumen):
    path = os.path.join(tempfile.gettempdir(), "flumen-no-such-dir-%d" % os.getpid(), "x.conf")
    rc, out, err = run(flumen, "check", "-n", "a1", "-f", path)
    assert rc == 1, show(rc, out, err)
    assert path in err, show(rc, out, err)


def test_agent_not_in_file_fails(flumen):
    rc, out, err, _ = check(flumen, GOOD, name="a9")
    assert rc == 1, show(rc, out, err)
    assert "No configuration found for this host:a9" in out, out


def test_later_files_override_earlier_ones(flumen):
    bad = write(GOOD.replace("a1.channels.c1.capacity = 1000", "a1.channels.c1.capacity = 50"))
    fix = write("a1.channels.c1.transactionCapacity = 50\n", "override.conf")
    rc, out, err = run(flumen, "check", "-n", "a1", "-f", bad)
    assert rc == 1, show(rc, out, err)
    rc, out, err = run(flumen, "check", "-n", "a1", "-f", bad, "-f", fix)
    assert rc == 0, show(rc, out, err)
    assert re.search(r"channel\s+c1\s+\(memory\)\s+transactionCapacity=50", out), out


def test_malformed_unicode_escape_rejects_the_file(flumen):
    text = GOOD + "a1.sinks.k1.maxBytesToLog = \\u12x4\n"
    rc, out, err, path = check(flumen, text)
    assert rc == 1, show(rc, out, err)
    assert "malformed" in (out + err), show(rc, out, err)


def test_no_name_or_no_file_is_a_usage_error(flumen):
    path = write(GOOD)
    rc, out, err = run(flumen, "check", "-f", path)
    assert rc != 0 and "name" in err, show(rc, out, err)
    rc, out, err = run(flumen, "check", "-n", "a1")
    assert rc != 0 and "No configuration was provided" in err, show(rc, out, err)


# ------------------------------------------------------------ help, version

def test_help_memory_shows_the_property_table(flumen):
    rc, out, err = run(flumen, "help", "memory")
    assert rc == 0, show(rc, out, err)
    assert "org.apache.flume.channel.MemoryChannel" in out, out
    for key, default in (("capacity", "100"), ("transactionCapacity", "100"),
                         ("keep-alive", "3"), ("byteCapacityBufferPercentage", "20"),
                         ("byteCapacity", "-1")):
        assert re.search(r"^\s+%s\s+\S+\s+default %s\b" % (re.escape(key), re.escape(default)),
                         out, re.M), "%s default %s missing:\n%s" % (key, default, out)


def test_help_by_class_name_and_markdown(flumen):
    rc, out, err = run(flumen, "help", "org.apache.flume.sink.NullSink")
    assert rc == 0, show(rc, out, err)
    assert re.search(r"batchSize\s+int\s+default 100", out), out
    rc, out, err = run(flumen, "help", "--markdown", "seq")
    assert rc == 0, show(rc, out, err)
    assert "| `batchSize` | int | 1 |" in out, out


def test_help_unknown_type_exits_1(flumen):
    rc, out, err = run(flumen, "help", "nosuch")
    assert rc == 1, show(rc, out, err)
    assert "nosuch" in err, show(rc, out, err)


def test_help_without_type_lists_types(flumen):
    rc, out, err = run(flumen, "help")
    assert rc == 0, show(rc, out, err)
    assert re.search(r"^\s*channel\s+.*\bmemory\b", out, re.M), out
    assert re.search(r"^\s*sink\s+.*\blogger\b.*\bnull\b", out, re.M), out


def test_version(flumen):
    rc, out, err = run(flumen, "version")
    assert rc == 0, show(rc, out, err)
    assert re.match(r"^flumen \d+\.\d+\.\d+", out), out


def test_unknown_command_exits_1(flumen):
    rc, out, err = run(flumen, "frobnicate")
    assert rc == 1, show(rc, out, err)
    assert "frobnicate" in err, show(rc, out, err)


def _cleanup():
    import shutil
    for d in _tmpdirs:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    import atexit
    atexit.register(_cleanup)
    harness.main(globals())
