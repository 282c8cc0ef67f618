"""seqfile.py - a reader for Hadoop SequenceFile (version 6) and Hadoop codec
streams, for the test suite.  Written from the public format description
(spec/formats.md section 2: header, records, sync escapes, block layout,
Hadoop vints) independently of flumen's writer, so tests can check what the
hdfs sink wrote.

    read_seqfile(path) -> dict(key_class, value_class, codec, block, records=[(key, value)])
    decompress_stream(codec_class_or_name, data) -> bytes   (multi-member/multi-frame aware)
"""

import bz2
import io
import struct
import zlib


def _snappy():
    import snappy  # python3-snappy
    return snappy


def _lz4_block():
    import lz4.block  # python3-lz4
    return lz4.block


def _zstd():
    import zstandard  # python3-zstandard
    return zstandard


class Reader:
    def __init__(self, data):
        self.d = data
        self.i = 0

    def eof(self):
        return self.i >= len(self.d)

    def take(self, n):
        if self.i + n > len(self.d):
            raise ValueError("truncated at %d (+%d of %d)" % (self.i, n, len(self.d)))
        b = self.d[self.i:self.i + n]
        self.i += n
        return b

    def u8(self):
        return self.take(1)[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def vlong(self):
        """Hadoop WritableUtils.readVLong."""
        first = struct.unpack("b", self.take(1))[0]
        if first >= -112:
            return first
        negative = first < -120
        size = (-119 - first) if negative else (-111 - first)  # incl. first byte
        v = 0
        for _ in range(size - 1):
            v = (v << 8) | self.u8()
        return ~v if negative else v

    def text(self):
        return self.take(self.vlong()).decode("utf-8")


def _multi(decomp_factory, data):
    out = []
    while data:
        d = decomp_factory()
        out.append(d.decompress(data))
        if not d.eof:
            raise ValueError("truncated compressed stream")
        data = d.unused_data
    return b"".join(out)


def _block_framed(data, decompress_block):
    """Hadoop BlockCompressorStream: repeated [BE32 raw length] then
    [BE32 compressed length][compressed bytes] until that many raw bytes."""
    r = Reader(data)
    out = []
    while not r.eof():
        raw = r.i32()
        got = 0
        while got < raw:
            clen = r.i32()
            chunk = decompress_block(r.take(clen), raw - got)
            got += len(chunk)
            out.append(chunk)
        if got != raw:
            raise ValueError("block decompressed to %d bytes, header said %d" % (got, raw))
    return b"".join(out)


def decompress_stream(codec, data):
    """Decompresses a Hadoop codec stream (any number of concatenated
    members/frames/blocks).  codec: class name or short name."""
    c = codec.rsplit(".", 1)[-1].lower().replace("codec", "")
    if c in ("gzip", "gz"):
        return _multi(lambda: zlib.decompressobj(16 + 15), data)
    if c in ("default", "deflate"):
        return _multi(lambda: zlib.decompressobj(15), data)
    if c in ("bzip2", "bz2"):
        return bz2.decompress(data) if data else b""
    if c in ("zstandard", "zstd", "zst"):
        if not data:
            return b""
        z = _zstd().ZstdDecompressor()
        return z.stream_reader(io.BytesIO(data), read_across_frames=True).read()
    if c == "snappy":
        return _block_framed(data, lambda b, n: _snappy().uncompress(b))
    if c == "lz4":
        return _block_framed(data, lambda b, n: _lz4_block().decompress(b, uncompressed_size=n))
    raise ValueError("unknown codec %r" % codec)


def _writable(value_class, raw):
    r = Reader(raw)
    if value_class == "org.apache.hadoop.io.BytesWritable":
        n = r.i32()
        v = r.take(n)
    elif value_class == "org.apache.hadoop.io.Text":
        v = r.take(r.vlong())
    else:
        raise ValueError("unsupported value class " + value_class)
    if not r.eof():
        raise ValueError("trailing bytes in a value")
    return v


def read_seqfile(path):
    with open(path, "rb") as f:
        r = Reader(f.read())
    if r.take(3) != b"SEQ":
        raise ValueError("not a SequenceFile")
    version = r.u8()
    if version != 6:
        raise ValueError("version %d" % version)
    key_class = r.text()
    value_class = r.text()
    compressed = r.u8() != 0
    block = r.u8() != 0
    codec = r.text() if compressed else None
    meta = {}
    for _ in range(r.i32()):
        k = r.text()
        meta[k] = r.text()
    sync = r.take(16)
    if key_class != "org.apache.hadoop.io.LongWritable":
        raise ValueError("key class " + key_class)
    records = []
    syncs = 0
    while not r.eof():
        if block:
            if r.i32() != -1 or r.take(16) != sync:
                raise ValueError("block without its sync marker at %d" % r.i)
            syncs += 1
            n = r.vlong()
            parts = [decompress_stream(codec, r.take(r.vlong())) for _ in range(4)]
            klens, keys, vlens, vals = (Reader(p) for p in parts)
            for _ in range(n):
                kl = klens.vlong()
                key = struct.unpack(">q", keys.take(kl))[0]
                vl = vlens.vlong()
                records.append((key, _writable(value_class, vals.take(vl))))
            for p in (klens, keys, vlens, vals):
                if not p.eof():
                    raise ValueError("block part has trailing bytes")
            continue
        length = r.i32()
        if length == -1:
            if r.take(16) != sync:
                raise ValueError("bad sync marker at %d" % r.i)
            syncs += 1
            continue
        klen = r.i32()
        key = struct.unpack(">q", r.take(klen))[0]
        raw = r.take(length - klen)
        if compressed:
            raw = decompress_stream(codec, raw)
        records.append((key, _writable(value_class, raw)))
    return {"key_class": key_class, "value_class": value_class, "codec": codec, "block": block,
            "meta": meta, "records": records, "syncs": syncs}
