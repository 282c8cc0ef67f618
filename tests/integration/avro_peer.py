"""avro_peer.py - a test-side Avro RPC client and server for Flume's
AvroSourceProtocol, written from spec/wire.md only (no flumen code): Netty
framing (serial + buffer list, payloads split over several buffers on
purpose), the Avro IPC handshake (NONE/CLIENT/BOTH), append/appendBatch,
and the deflate mode (one zlib stream per direction, sync flush per write).
Records are encoded with Debian's python3-avro io module.

Run /usr/bin/python3 (Debian) so `import avro` works.
"""

import hashlib
import io
import json
import socket
import ssl
import struct
import threading
import zlib

import avro.io
import avro.schema

PROTOCOL_JSON = (
    '{"protocol":"AvroSourceProtocol","namespace":"org.apache.flume.source.avro","types":'
    '[{"type":"enum","name":"Status","symbols":["OK","FAILED","UNKNOWN"]},{"type":"record",'
    '"name":"AvroFlumeEvent","fields":[{"name":"headers","type":{"type":"map","values":'
    '"string"}},{"name":"body","type":"bytes"}]}],"messages":{"append":{"request":[{"name":'
    '"event","type":"AvroFlumeEvent"}],"response":"Status"},"appendBatch":{"request":[{"name":'
    '"events","type":{"type":"array","items":"AvroFlumeEvent"}}],"response":"Status"}}}')
PROTOCOL_MD5 = hashlib.md5(PROTOCOL_JSON.encode("utf-8")).digest()

_EVENT = {"type": "record", "name": "AvroFlumeEvent", "namespace": "org.apache.flume.source.avro",
          "fields": [{"name": "headers", "type": {"type": "map", "values": "string"}},
                     {"name": "body", "type": "bytes"}]}
EVENT_SCHEMA = avro.schema.parse(json.dumps(_EVENT))
BATCH_SCHEMA = avro.schema.parse(json.dumps({"type": "array", "items": _EVENT}))
STATUS_SCHEMA = avro.schema.parse(json.dumps(
    {"type": "enum", "name": "Status", "namespace": "org.apache.flume.source.avro",
     "symbols": ["OK", "FAILED", "UNKNOWN"]}))
_MD5 = {"type": "fixed", "name": "MD5", "size": 16}
HS_REQ = avro.schema.parse(json.dumps(
    {"type": "record", "name": "HandshakeRequest", "namespace": "org.apache.avro.ipc",
     "fields": [{"name": "clientHash", "type": _MD5},
                {"name": "clientProtocol", "type": ["null", "string"]},
                {"name": "serverHash", "type": "MD5"},
                {"name": "meta", "type": ["null", {"type": "map", "values": "bytes"}]}]}))
HS_RESP = avro.schema.parse(json.dumps(
    {"type": "record", "name": "HandshakeResponse", "namespace": "org.apache.avro.ipc",
     "fields": [{"name": "match", "type": {"type": "enum", "name": "HandshakeMatch",
                                             "symbols": ["BOTH", "CLIENT", "NONE"]}},
                {"name": "serverProtocol", "type": ["null", "string"]},
                {"name": "serverHash", "type": ["null", _MD5]},
                {"name": "meta", "type": ["null", {"type": "map", "values": "bytes"}]}]}))
META = avro.schema.parse('{"type":"map","values":"bytes"}')
STRING = avro.schema.parse('"string"')
BOOL = avro.schema.parse('"boolean"')
ERRUNION = avro.schema.parse('["string"]')


def enc(schema, datum):
    buf = io.BytesIO()
    avro.io.DatumWriter(schema).write(datum, avro.io.BinaryEncoder(buf))
    return buf.getvalue()


def dec(schema, rd):
    """Decodes one datum from the BinaryDecoder rd."""
    return avro.io.DatumReader(schema, schema).read(rd)


def event(body, headers=None):
    if isinstance(body, str):
        body = body.encode("utf-8")
    return {"headers": dict(headers or {}), "body": body}


# ----------------------------------------------------------------- framing

def frame(serial, payload, chunk=7):
    """A Netty frame with the payload split into buffers of `chunk` bytes
    (boundaries carry no meaning, so receivers must concatenate)."""
    parts = [payload[i:i + chunk] for i in range(0, len(payload), chunk)] or [b""]
    out = [struct.pack(">ii", serial, len(parts))]
    for p in parts:
        out.append(struct.pack(">i", len(p)))
        out.append(p)
    return b"".join(out)


class Stream:
    """A socket with optional zlib in each direction; reads whole frames."""

    def __init__(self, sock, deflate=False, level=6):
        self.sock = sock
        self.deflate = deflate
        self.comp = zlib.compressobj(level) if deflate else None
        self.decomp = zlib.decompressobj() if deflate else None
        self.buf = b""

    def send(self, data):
        if self.deflate:
            data = self.comp.compress(data) + self.comp.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(data)

    def _fill(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed (have %d of %d bytes)" % (len(self.buf), n))
            if self.deflate:
                chunk = self.decomp.decompress(chunk)
            self.buf += chunk

    def _take(self, n):
        self._fill(n)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_frame(self):
        """(serial, concatenated payload) of the next frame."""
        serial, nbuf = struct.unpack(">ii", self._take(8))
        parts = []
        for _ in range(nbuf):
            (ln,) = struct.unpack(">i", self._take(4))
            parts.append(self._take(ln))
        return serial, b"".join(parts)


# ------------------------------------------------------------------ client

class AvroClient:
    """Flume-SDK-like client.  send_protocol=False starts like the Java
    client (hash only) and resends with the protocol after NONE."""

    def __init__(self, port, host="127.0.0.1", deflate=False, send_protocol=True,
                 client_hash=PROTOCOL_MD5, timeout=10, chunk=7, tls=False):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            self.sock = ctx.wrap_socket(self.sock)
        self.s = Stream(self.sock, deflate)
        self.serial = 0
        self.established = False
        self.send_protocol = send_protocol
        self.client_hash = client_hash
        self.server_hash = PROTOCOL_MD5
        self.chunk = chunk
        self.last_match = None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _handshake(self, with_protocol):
        return enc(HS_REQ, {"clientHash": self.client_hash,
                            "clientProtocol": PROTOCOL_JSON if with_protocol else None,
                            "serverHash": self.server_hash, "meta": {}})

    def build(self, name, params, handshake=None, serial=None):
        """Raw request bytes (frame) for message `name` with encoded params."""
        if serial is None:
            self.serial += 1
            serial = self.serial
        hs = b""
        if handshake is None:
            handshake = not self.established
        if handshake:
            hs = self._handshake(self.send_protocol)
        return serial, frame(serial, hs + enc(META, {}) + enc(STRING, name) + params, self.chunk)

    def call(self, name, params):
        """Sends one call, handling NONE by resending with the protocol.
        Returns ("status", "OK") or ("error", text)."""
        for attempt in range(2):
            hs = not self.established
            serial, data = self.build(name, params)
            self.s.send(data)
            rs, payload = self.s.read_frame()
            assert rs == serial, "serial %d answered %d" % (serial, rs)
            rd = avro.io.BinaryDecoder(io.BytesIO(payload))
            if hs:
                resp = dec(HS_RESP, rd)
                self.last_match = resp["match"]
                if resp["serverHash"] is not None:
                    self.server_hash = resp["serverHash"]
                if resp["match"] == "NONE":
                    assert resp["serverProtocol"], "NONE without serverProtocol"
                    json.loads(resp["serverProtocol"])   # must be valid JSON
                    self.send_protocol = True
                    continue
                self.established = True
            return self.parse_result(rd)
        raise AssertionError("handshake NONE twice")

    @staticmethod
    def parse_result(rd):
        dec(META, rd)
        if dec(BOOL, rd):
            return ("error", dec(ERRUNION, rd))
        return ("status", dec(STATUS_SCHEMA, rd))

    def append_batch(self, events):
        return self.call("appendBatch", enc(BATCH_SCHEMA, events))

    def append(self, ev):
        return self.call("append", enc(EVENT_SCHEMA, ev))


# ------------------------------------------------------------------ server

class AvroServer:
    """A threaded Avro source stand-in on 127.0.0.1.  Records every event
    received; answers `status` (callable or string) per call."""

    def __init__(self, deflate=False, status="OK", tls_cert=None):
        """tls_cert: a PEM file with certificate and key to serve TLS."""
        self.tls = None
        if tls_cert:
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(tls_cert)
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.deflate = deflate
        self.status = status
        self.events = []
        self.calls = []          # (name, nevents, status answered)
        self.handshakes = []     # matches answered
        self.known = set()
        self.lock = threading.Lock()
        self.stop = False
        self.threads = []
        self.conns = []
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self.threads.append(t)

    def close(self):
        self.stop = True
        try:
            self.lsock.close()
        except OSError:
            pass
        for c in list(self.conns):
            try:
                c.shutdown(socket.SHUT_RDWR)
                c.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _accept(self):
        while not self.stop:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            self.conns.append(c)
            t = threading.Thread(target=self._serve, args=(c,), daemon=True)
            t.start()
            self.threads.append(t)

    def _serve(self, c):
        if self.tls is not None:
            try:
                c = self.tls.wrap_socket(c, server_side=True)
            except (ssl.SSLError, OSError):
                c.close()
                return
        s = Stream(c, self.deflate)
        established = False
        try:
            while not self.stop:
                serial, payload = s.read_frame()
                rd = avro.io.BinaryDecoder(io.BytesIO(payload))
                out = b""
                if not established:
                    req = dec(HS_REQ, rd)
                    known = req["clientHash"] in self.known or req["clientHash"] == PROTOCOL_MD5
                    if not known and req["clientProtocol"]:
                        p = json.loads(req["clientProtocol"])
                        assert p["protocol"] == "AvroSourceProtocol"
                        self.known.add(req["clientHash"])
                        known = True
                    if not known:
                        out = enc(HS_RESP, {"match": "NONE", "serverProtocol": PROTOCOL_JSON,
                                            "serverHash": PROTOCOL_MD5, "meta": None})
                        with self.lock:
                            self.handshakes.append("NONE")
                        s.send(frame(serial, out, 5))
                        continue
                    match = "BOTH" if req["serverHash"] == PROTOCOL_MD5 else "CLIENT"
                    with self.lock:
                        self.handshakes.append(match)
                    out = enc(HS_RESP, {"match": match,
                                        "serverProtocol": None if match == "BOTH" else PROTOCOL_JSON,
                                        "serverHash": None if match == "BOTH" else PROTOCOL_MD5,
                                        "meta": None})
                    established = True
                dec(META, rd)
                name = dec(STRING, rd)
                if name == "appendBatch":
                    evs = dec(BATCH_SCHEMA, rd)
                elif name == "append":
                    evs = [dec(EVENT_SCHEMA, rd)]
                else:
                    out += enc(META, {}) + enc(BOOL, True) + enc(
                        ERRUNION, "org.apache.avro.AvroRuntimeException: No such remote message: "
                        + name)
                    s.send(frame(serial, out))
                    continue
                st = self.status(evs) if callable(self.status) else self.status
                with self.lock:
                    if st == "OK":
                        self.events.extend(evs)
                    self.calls.append((name, len(evs), st))
                out += enc(META, {}) + enc(BOOL, False) + enc(STATUS_SCHEMA, st)
                s.send(frame(serial, out, 3))
        except (EOFError, OSError):
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    def bodies(self):
        with self.lock:
            return [e["body"] for e in self.events]
