"""test_file_sinks.py - file_roll and hdfs (file://) sinks against the real
agent binary.

Covers: file_roll exact text and header_and_text bytes (Flume's verified
header rendering); avro_event files of every codec read back with
python3-avro (events, headers, avro.codec); the hdfs sink's DataStream and
CompressedStream files for gzip, deflate, bzip2, snappy, lz4 and zstd,
decompressed with Python's own codecs and Hadoop's framings; SequenceFiles
(Writable and Text, uncompressed and block-compressed with every codec)
read by tests/integration/seqfile.py; no in-use file left after stop; the
seeds' pipeline exec `tail -F` -> file channel -> hdfs(file://) delivering
every line exactly once (duplicates counted, 0 in a normal run); hdfs:// without a namenode rejected with a clear message;
seq bodySize bodies and avro_event null-codec blocks written in place
(several per batch, files rolled inside batches) read back.
"""

import contextlib
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import uuid

import harness

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seqfile  # noqa: E402

TEST_TIMEOUT = 90


@contextlib.contextmanager
def scratch():
    d = tempfile.mkdtemp(prefix="flumen-fsinks-")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def has_type(flumen, name):
    return subprocess.run([flumen, "help", name], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def fanout_conf(n_events, sinks, interceptors=""):
    """seq r1 -> one memory channel per sink (replicating) -> sinks
    {name: {key: value}} (each with its `type`)."""
    names = list(sinks)
    chans = ["c_" + s for s in names]
    lines = ["a1.sources = r1", "a1.channels = " + " ".join(chans),
             "a1.sinks = " + " ".join(names),
             "a1.sources.r1.type = seq", "a1.sources.r1.totalEvents = %d" % n_events,
             "a1.sources.r1.batchSize = 50",
             "a1.sources.r1.channels = " + " ".join(chans)]
    lines += [l.strip() for l in interceptors.strip().splitlines() if l.strip()]
    for s, c in zip(names, chans):
        lines += ["a1.channels.%s.type = memory" % c, "a1.channels.%s.capacity = 100000" % c,
                  "a1.channels.%s.transactionCapacity = 1000" % c]
        lines += ["a1.sinks.%s.channel = %s" % (s, c)]
        lines += ["a1.sinks.%s.%s = %s" % (s, k, v) for k, v in sinks[s].items()]
    return "\n".join(lines) + "\n"


def run_until_drained(flumen, text, sinks, n):
    """Starts the agent, waits until every sink committed n events, stops it
    (SIGTERM: files are flushed, closed and renamed) and returns its log."""
    with harness.Agent(flumen, text) as a:
        a.wait_ready()
        for s in sinks:
            a.wait_for(lambda s=s: a.counter("SINK." + s, "EventDrainSuccessCount") >= n, 30,
                       "SINK.%s EventDrainSuccessCount >= %d" % (s, n))
        m = a.metrics()
        a.signal(15)
        a.wait_exit(20)
        return a.log(), m


STATIC = """
a1.sources.r1.interceptors = i1 i2
a1.sources.r1.interceptors.i1.type = static
a1.sources.r1.interceptors.i1.key = k1
a1.sources.r1.interceptors.i1.value = v=1, x}
a1.sources.r1.interceptors.i2.type = static
a1.sources.r1.interceptors.i2.key = k2
a1.sources.r1.interceptors.i2.value = v2
"""


def files_in(d, pattern="*"):
    return sorted((p for p in glob.glob(os.path.join(d, pattern)) if os.path.isfile(p)),
                  key=lambda p: (len(p), p))


def test_file_roll_text_and_header_and_text_exact_bytes(flumen):
    with scratch() as d:
        static = has_type(flumen, "static")
        sinks = {"kt": {"type": "file_roll", "sink.directory": d + "/t",
                        "sink.pathManager.prefix": "ev-", "sink.pathManager.extension": "txt"},
                 "kh": {"type": "file_roll", "sink.directory": d + "/h",
                        "sink.serializer": "header_and_text", "sink.batchSize": "7"}}
        log, m = run_until_drained(flumen, fanout_conf(300, sinks, STATIC if static else ""),
                                   sinks, 300)
        tfiles = files_in(d + "/t")
        assert len(tfiles) == 1 and tfiles[0].endswith("-1.txt"), tfiles
        assert os.path.basename(tfiles[0]).startswith("ev-"), tfiles
        with open(tfiles[0], "rb") as f:
            assert f.read() == b"".join(b"%d\n" % i for i in range(300))
        hdr = b"{k1=v=1, x}, k2=v2} " if static else b"{} "
        with open(files_in(d + "/h")[0], "rb") as f:
            assert f.read() == b"".join(hdr + b"%d\n" % i for i in range(300))
        k = m["SINK.kh"]
        assert k["ConnectionCreatedCount"] == "1", k
        assert k["EventDrainAttemptCount"] == "300", k
        for c in ("BatchCompleteCount", "BatchUnderflowCount", "BatchEmptyCount"):
            assert k[c] == "0", (c, k)  # file_roll keeps no Batch* counters (metrics.md)


def read_avro(path):
    from avro.datafile import DataFileReader
    from avro.io import DatumReader
    with open(path, "rb") as f:
        r = DataFileReader(f, DatumReader())
        codec = r.meta.get("avro.codec", b"null")
        schema = r.meta.get("avro.schema")
        recs = [(dict(x["headers"]), bytes(x["body"])) for x in r]
        r.close()
    return codec, schema, recs


AVRO_CODECS = ["null", "deflate", "snappy", "bzip2", "zstandard"]


def test_file_roll_avro_event_every_codec_reads_back_with_python_avro(flumen):
    with scratch() as d:
        static = has_type(flumen, "static")
        sinks = {}
        for c in AVRO_CODECS:
            sinks["k" + c] = {"type": "file_roll", "sink.directory": "%s/%s" % (d, c),
                              "sink.serializer": "avro_event",
                              "sink.serializer.compressionCodec": c,
                              "sink.serializer.syncIntervalBytes": "1000"}
        run_until_drained(flumen, fanout_conf(500, sinks, STATIC if static else ""), sinks, 500)
        want_h = {"k1": "v=1, x}", "k2": "v2"} if static else {}
        for c in AVRO_CODECS:
            fs = files_in("%s/%s" % (d, c))
            assert len(fs) == 1, fs
            codec, schema, recs = read_avro(fs[0])
            assert codec == c.encode(), (c, codec)
            assert schema == (b'{"type":"record","name":"Event","fields":[{"name":"headers",'
                              b'"type":{"type":"map","values":"string"}},{"name":"body",'
                              b'"type":"bytes"}]}'), schema
            assert [b for _, b in recs] == [b"%d" % i for i in range(500)], c
            assert all(h == want_h for h, _ in recs), (c, recs[:2])


HDFS_CODECS = ["gzip", "deflate", "bzip2", "snappy", "lz4", "zstd"]


def test_hdfs_datastream_and_compressed_streams_every_codec(flumen):
    with scratch() as d:
        sinks = {"kplain": {"type": "hdfs", "hdfs.path": "file://%s/plain" % d,
                            "hdfs.fileType": "DataStream", "hdfs.rollCount": "100",
                            "hdfs.rollSize": "0", "hdfs.batchSize": "30"}}
        for c in HDFS_CODECS:
            sinks["k" + c] = {"type": "hdfs", "hdfs.path": "%s/%s" % (d, c),
                              "hdfs.fileType": "CompressedStream", "hdfs.codeC": c,
                              "hdfs.rollCount": "100", "hdfs.rollSize": "0",
                              "hdfs.batchSize": "30", "hdfs.filePrefix": "ev"}
        log, m = run_until_drained(flumen, fanout_conf(450, sinks), sinks, 450)
        ext = {"gzip": ".gz", "deflate": ".deflate", "bzip2": ".bz2", "snappy": ".snappy",
               "lz4": ".lz4", "zstd": ".zst"}
        want = b"".join(b"%d\n" % i for i in range(450))
        fs = files_in(d + "/plain")
        assert len(fs) == 5, fs   # 4 x 100 + 50
        assert all(os.path.basename(p).startswith("FlumeData.") for p in fs), fs
        assert b"".join(open(p, "rb").read() for p in fs) == want
        for c in HDFS_CODECS:
            fs = files_in("%s/%s" % (d, c))
            assert len(fs) == 5 and all(p.endswith(ext[c]) for p in fs), (c, fs)
            got = b"".join(seqfile.decompress_stream(c, open(p, "rb").read()) for p in fs)
            assert got == want, (c, got[:80])
        assert not glob.glob(d + "/*/*.tmp"), glob.glob(d + "/*/*.tmp")
        k = m["SINK.kgzip"]
        assert k["EventDrainSuccessCount"] == "450" and k["ConnectionCreatedCount"] == "5", k


def test_hdfs_sequence_files_every_codec_and_write_format(flumen):
    with scratch() as d:
        ts_ic = "\n".join(["a1.sources.r1.interceptors = ts",
                           "a1.sources.r1.interceptors.ts.type = timestamp"]) \
            if has_type(flumen, "timestamp") else ""
        sinks = {"kw": {"type": "hdfs", "hdfs.path": d + "/w", "hdfs.rollCount": "0",
                        "hdfs.rollSize": "0", "hdfs.batchSize": "100"},
                 "kt": {"type": "hdfs", "hdfs.path": d + "/t", "hdfs.writeFormat": "Text",
                        "hdfs.rollCount": "0", "hdfs.rollSize": "0"}}
        for c in HDFS_CODECS:
            sinks["k" + c] = {"type": "hdfs", "hdfs.path": "%s/%s" % (d, c),
                              "hdfs.codeC": c, "hdfs.rollCount": "0", "hdfs.rollSize": "0",
                              "hdfs.batchSize": "64"}
        run_until_drained(flumen, fanout_conf(400, sinks, ts_ic), sinks, 400)
        want = [b"%d" % i for i in range(400)]
        for name in ["w", "t"] + HDFS_CODECS:
            fs = files_in("%s/%s" % (d, name))
            assert len(fs) == 1, (name, fs)
            sf = seqfile.read_seqfile(fs[0])
            assert [v for _, v in sf["records"]] == want, (name, sf["records"][:3])
            assert all(k > 1600000000000 for k, _ in sf["records"]), sf["records"][:3]
            if name == "t":
                assert sf["value_class"] == "org.apache.hadoop.io.Text"
            else:
                assert sf["value_class"] == "org.apache.hadoop.io.BytesWritable"
            if name in HDFS_CODECS:
                assert sf["block"] and sf["codec"].startswith("org.apache.hadoop.io.compress."), sf
                assert sf["syncs"] >= 7, sf["syncs"]   # one block per 64-event batch at least
            else:
                assert sf["codec"] is None and sf["syncs"] >= 4, sf["syncs"]


def test_hdfs_avro_event_serializer_and_bucketing_by_header(flumen):
    with scratch() as d:
        static = has_type(flumen, "static")
        sinks = {"ka": {"type": "hdfs", "hdfs.path": "file://%s/%%{k2}/x" % d,
                        "hdfs.fileType": "DataStream", "serializer": "avro_event",
                        "serializer.compressionCodec": "deflate", "hdfs.rollCount": "0",
                        "hdfs.rollSize": "0", "hdfs.fileSuffix": ".avro",
                        "hdfs.inUsePrefix": "_"}}
        run_until_drained(flumen, fanout_conf(250, sinks, STATIC if static else ""), sinks, 250)
        sub = "v2" if static else ""
        fs = files_in("%s/%s/x" % (d, sub), "*.avro")
        assert len(fs) == 1 and os.path.basename(fs[0]).startswith("FlumeData."), fs
        codec, _, recs = read_avro(fs[0])
        assert codec == b"deflate"
        assert [b for _, b in recs] == [b"%d" % i for i in range(250)]


def test_seq_body_size_and_avro_blocks_written_in_place(flumen):
    """seq bodySize pads bodies with '0'; avro_event null-codec blocks
    (written in place: count and size in front of the data, several blocks
    per batch) read back with python3-avro from file_roll and from hdfs files
    rolled inside batches by rollSize."""
    with scratch() as d:
        sinks = {"kt": {"type": "file_roll", "sink.directory": d + "/t", "sink.batchSize": "64"},
                 "kf": {"type": "file_roll", "sink.directory": d + "/f", "sink.batchSize": "64",
                        "sink.serializer": "avro_event",
                        "sink.serializer.syncIntervalBytes": "150"},
                 "kh": {"type": "hdfs", "hdfs.path": "file://%s/h" % d,
                        "hdfs.fileType": "DataStream", "serializer": "avro_event",
                        "serializer.syncIntervalBytes": "200", "hdfs.batchSize": "120",
                        "hdfs.rollSize": "3000", "hdfs.rollCount": "0",
                        "hdfs.fileSuffix": ".avro"}}
        text = fanout_conf(1500, sinks).replace("a1.sources.r1.batchSize = 50",
                                                "a1.sources.r1.batchSize = 50\n"
                                                "a1.sources.r1.bodySize = 6")
        run_until_drained(flumen, text, sinks, 1500)
        want = [b"%06d" % i for i in range(1500)]
        with open(files_in(d + "/t")[0], "rb") as f:
            assert f.read() == b"".join(w + b"\n" for w in want)
        fs = files_in(d + "/f")
        assert len(fs) == 1, fs
        codec, _, recs = read_avro(fs[0])
        assert codec == b"null"
        assert [b for _, b in recs] == want
        assert all(h == {} for h, _ in recs)
        # rollSize 3000 bytes of 6-byte bodies: 500 events per file
        fs = files_in(d + "/h", "*.avro")
        assert len(fs) == 3, fs
        got = []
        for p in fs:
            _, _, recs = read_avro(p)
            assert len(recs) == 500, (p, len(recs))
            got += [b for _, b in recs]
        assert got == want


def seeds_conf(src, base, hdfs_path, extra=None):
    """The seeds' pipeline: exec `tail -F` -> file channel (dirs under base)
    -> hdfs sink (DataStream, prefix/suffix, rollSize, batchSize)."""
    lines = [
        "a1.sources = r1", "a1.channels = c1", "a1.sinks = k1",
        "a1.sources.r1.type = exec",
        "a1.sources.r1.command = tail -n +1 -F %s" % src,
        "a1.sources.r1.batchTimeout = 200",
        "a1.sources.r1.channels = c1",
        "a1.channels.c1.type = file",
        "a1.channels.c1.checkpointDir = %s/fc/ck" % base,
        "a1.channels.c1.dataDirs = %s/fc/d1" % base,
        "a1.channels.c1.minimumRequiredSpace = 1048576",
        "a1.channels.c1.capacity = 100000",
        "a1.channels.c1.transactionCapacity = 1000",
        "a1.sinks.k1.type = hdfs", "a1.sinks.k1.channel = c1",
        "a1.sinks.k1.hdfs.path = " + hdfs_path,
        "a1.sinks.k1.hdfs.useLocalTimeStamp = true",
        "a1.sinks.k1.hdfs.fileType = DataStream",
        "a1.sinks.k1.hdfs.filePrefix = events",
        "a1.sinks.k1.hdfs.fileSuffix = .log",
        "a1.sinks.k1.hdfs.rollSize = 65536", "a1.sinks.k1.hdfs.rollCount = 0",
        "a1.sinks.k1.hdfs.rollInterval = 0",
        "a1.sinks.k1.hdfs.batchSize = 500"]
    lines += ["a1.sinks.k1.%s = %s" % kv for kv in (extra or {}).items()]
    return "\n".join(lines) + "\n"


def seeds_line(i):
    return b"line %06d %s" % (i, b"x" * 40)


def feed_tail_F(a, src, bursts=(1000, 3000, 7, 6000)):
    """Append bursts of lines to the tailed file, waiting after each until the
    sink has drained them all; returns the number of lines written."""
    total = 0
    for burst in bursts:
        with open(src, "a") as f:
            for i in range(total, total + burst):
                f.write("line %06d %s\n" % (i, "x" * 40))
        total += burst
        a.wait_for(lambda: a.counter("SINK.k1", "EventDrainSuccessCount") >= total, 30,
                   "hdfs sink drained %d lines" % total)
    return total


def check_exactly_once(lines, total):
    """Every line arrived, in order; duplicates (at-least-once) counted and
    must be 0 in a run without failures."""
    want = [seeds_line(i) for i in range(total)]
    seen = set(want)
    torn = [l for l in lines if l not in seen]
    assert not torn, "lines that were never written: %r" % torn[:5]
    missing = len(seen - set(lines))
    dups = len(lines) - len(set(lines))
    assert missing == 0 and dups == 0, "missing %d, duplicates %d" % (missing, dups)
    assert lines == want, "lines out of order"


def test_seeds_pipeline_tail_F_file_channel_to_hdfs_delivers_every_line_once(flumen):
    with scratch() as d:
        src = os.path.join(d, "app-%s.log" % uuid.uuid4().hex)
        open(src, "w").close()
        out = os.path.join(d, "out")
        with harness.Agent(flumen, seeds_conf(src, d, "file://%s/%%Y-%%m-%%d" % out)) as a:
            a.wait_ready()
            total = feed_tail_F(a, src)
            assert a.counter("CHANNEL.c1", "ChannelSize") == 0
            a.signal(15)
            a.wait_exit(20)
        fs = files_in(out + "/*", "events.*.log")
        assert len(fs) >= 8, fs   # ~ 580 KB in 64 KiB files
        assert not glob.glob(out + "/*/*.tmp")
        assert all(os.path.getsize(p) <= 65536 + 500 * 54 for p in fs), \
            [os.path.getsize(p) for p in fs]
        check_exactly_once(b"".join(open(p, "rb").read() for p in fs).splitlines(), total)


def test_hdfs_scheme_without_namenode_is_a_clear_configuration_error(flumen):
    sinks = {"k1": {"type": "hdfs", "hdfs.path": "hdfs:///flume/%Y"}}
    with harness.Agent(flumen, fanout_conf(1, sinks)) as a:
        a.wait_log(r"hdfs\.path.*WebHDFS needs the namenode in the URI", 10)


harness.main(globals())
