"""webhdfs_standin.py - a STAND-IN WebHDFS server for flumen's tests.

This is not Hadoop.  Hadoop cannot run on the test machines, so this small
Python (stdlib only) server imitates the parts of the WebHDFS REST API that
the hdfs sink uses, written from Hadoop's public WebHDFS REST documentation:

- namenode endpoint http://127.0.0.1:<port>/webhdfs/v1/<path>?op=...&user.name=U[&doas=P]
- CREATE (PUT) and APPEND (POST) in two steps: the namenode answers
  307 Temporary Redirect with a Location on a "datanode" (another port);
  the datanode step carries the data and answers 201 Created (CREATE, with
  Location webhdfs://...) or 200 OK (APPEND).  CREATE takes overwrite=.
- MKDIRS, RENAME (destination=), DELETE (recursive=), TRUNCATE (newlength=)
  answer {"boolean": ...}; GETFILESTATUS answers {"FileStatus": {...}};
  LISTSTATUS {"FileStatuses": {"FileStatus": [...]}}.
- Errors are {"RemoteException": {"exception", "javaClassName", "message"}}
  with Hadoop's HTTP codes: 400 IllegalArgumentException, 401
  SecurityException (no user.name), 403 AccessControlException /
  FileAlreadyExistsException / other IOExceptions, 404
  FileNotFoundException, 500 RuntimeException.
- Permissions: owner + mode per inode, checked for WRITE on the parent
  (create, mkdirs, rename, delete) or the file (append, truncate); the
  superuser ("hdfs") passes every check.  doas= makes the proxied user the
  effective user (every impersonation is allowed).

Failure switches (attributes of StandIn, safe to set from another thread):
  fail_midwrite = N   the next N datanode APPEND steps read half the body,
                      keep it in the file when keep_partial is true, and
                      drop the connection without an answer
  refuse_datanode = N the next N redirects point at a port nobody listens on
  namenode_errors = N the next N namenode requests answer 500
  deny_appends = N    the next N APPENDs answer 403 AccessControlException
  down = True         every namenode request answers 503 (until False)

Use in-process (tests/integration/test_webhdfs.py):
    s = StandIn(); s.start(); ... s.read("/dir/file"); s.stop()
or standalone:  python3 tests/webhdfs_standin.py [--port N]
"""

import json
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SUPERUSER = "hdfs"
PREFIX = "/webhdfs/v1"


class RemoteError(Exception):
    CODES = {
        "IllegalArgumentException": (400, "java.lang.IllegalArgumentException"),
        "HadoopIllegalArgumentException": (400, "org.apache.hadoop.HadoopIllegalArgumentException"),
        "SecurityException": (401, "java.lang.SecurityException"),
        "AccessControlException": (403, "org.apache.hadoop.security.AccessControlException"),
        "FileAlreadyExistsException": (403, "org.apache.hadoop.fs.FileAlreadyExistsException"),
        "ParentNotDirectoryException": (403, "org.apache.hadoop.fs.ParentNotDirectoryException"),
        "IOException": (403, "java.io.IOException"),
        "FileNotFoundException": (404, "java.io.FileNotFoundException"),
        "RuntimeException": (500, "java.lang.RuntimeException"),
        "RetriableException": (503, "org.apache.hadoop.ipc.RetriableException"),
    }

    def __init__(self, exception, message):
        super().__init__(message)
        self.exception = exception
        self.message = message
        self.code, self.java = self.CODES[exception]

    def body(self):
        return json.dumps({"RemoteException": {
            "exception": self.exception, "javaClassName": self.java,
            "message": self.message}}).encode()


class Inode:
    def __init__(self, kind, owner, perm):
        self.kind = kind            # "FILE" or "DIRECTORY"
        self.owner = owner
        self.group = "supergroup"
        self.perm = perm
        self.data = bytearray()
        self.mtime = int(time.time() * 1000)


def _parent(path):
    return path.rsplit("/", 1)[0] or "/"


def _norm(path):
    parts = [p for p in path.split("/") if p]
    return "/" + "/".join(parts)


def _rwx(node):
    s = "d" if node.kind == "DIRECTORY" else "-"
    for shift in (6, 3, 0):
        bits = (node.perm >> shift) & 7
        s += ("r" if bits & 4 else "-") + ("w" if bits & 2 else "-") + ("x" if bits & 1 else "-")
    return s


class StandIn:
    """One namenode and two datanodes on 127.0.0.1, sharing an in-memory tree."""

    def __init__(self, port=0):
        self.lock = threading.RLock()
        self.tree = {"/": Inode("DIRECTORY", SUPERUSER, 0o777)}
        self.fail_midwrite = 0
        self.keep_partial = True
        self.refuse_datanode = 0
        self.namenode_errors = 0
        self.deny_appends = 0
        self.down = False
        self.log = []               # (server, method, op, path, user, doas, code)
        self._dn_next = 0
        self._nn = ThreadingHTTPServer(("127.0.0.1", port), self._handler("namenode"))
        self._dns = [ThreadingHTTPServer(("127.0.0.1", 0), self._handler("datanode"))
                     for _ in range(2)]
        for srv in [self._nn] + self._dns:
            srv.daemon_threads = True
        self.port = self._nn.server_address[1]
        self.datanode_ports = [d.server_address[1] for d in self._dns]
        self._threads = []

    # ---------------------------------------------------------- lifecycle
    def start(self):
        for srv in [self._nn] + self._dns:
            t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                                 daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self):
        for srv in [self._nn] + self._dns:
            srv.shutdown()
            srv.server_close()
        for t in self._threads:
            t.join(5)

    # ------------------------------------------------- test-side helpers
    def mkdir(self, path, owner=SUPERUSER, perm=0o755):
        with self.lock:
            path = _norm(path)
            cur = ""
            for part in path.split("/")[1:]:
                cur += "/" + part
                if cur not in self.tree:
                    self.tree[cur] = Inode("DIRECTORY", owner, perm)

    def chmod(self, path, perm):
        with self.lock:
            self.tree[_norm(path)].perm = perm

    def files(self, under="/"):
        """{path: bytes} of every file under `under`."""
        under = _norm(under)
        with self.lock:
            return {p: bytes(n.data) for p, n in self.tree.items()
                    if n.kind == "FILE" and (p + "/").startswith(under.rstrip("/") + "/")}

    def owner(self, path):
        with self.lock:
            return self.tree[_norm(path)].owner

    def ops(self, op):
        with self.lock:
            return [e for e in self.log if e[2] == op]

    # ---------------------------------------------------------- semantics
    def _check(self, user, path, what="WRITE"):
        node = self.tree[path]
        if user == SUPERUSER:
            return
        bit = {"WRITE": 2, "READ": 4, "EXECUTE": 1}[what]
        shift = 6 if node.owner == user else 0
        if not (node.perm >> shift) & bit:
            raise RemoteError("AccessControlException",
                              'Permission denied: user=%s, access=%s, inode="%s":%s:%s:%s'
                              % (user, what, path, node.owner, node.group, _rwx(node)))

    def _nearest(self, path):
        while path not in self.tree:
            path = _parent(path)
        return path

    def _mkdirs(self, user, path):
        anc = self._nearest(path)
        if self.tree[anc].kind != "DIRECTORY":
            raise RemoteError("ParentNotDirectoryException", "%s (is not a directory)" % anc)
        if anc == path:
            return
        self._check(user, anc)
        cur = anc.rstrip("/")
        for part in path[len(anc):].strip("/").split("/"):
            cur += "/" + part
            self.tree[cur] = Inode("DIRECTORY", user, 0o755)

    def _status(self, path, node):
        return {"accessTime": node.mtime, "blockSize": 134217728, "childrenNum": 0,
                "fileId": id(node) & 0xffffff, "group": node.group,
                "length": len(node.data) if node.kind == "FILE" else 0,
                "modificationTime": node.mtime, "owner": node.owner,
                "pathSuffix": "" if path else "", "permission": "%o" % node.perm,
                "replication": 3 if node.kind == "FILE" else 0, "storagePolicy": 0,
                "type": node.kind}

    def _get(self, path):
        node = self.tree.get(path)
        if node is None:
            raise RemoteError("FileNotFoundException", "File does not exist: %s" % path)
        return node

    def namenode_op(self, method, op, path, q, user):
        """Everything but the data steps; returns (code, json or None, location or None)."""
        with self.lock:
            if op == "GETFILESTATUS" and method == "GET":
                return 200, {"FileStatus": self._status(path, self._get(path))}, None
            if op == "LISTSTATUS" and method == "GET":
                node = self._get(path)
                if node.kind == "FILE":
                    kids = [dict(self._status(path, node), pathSuffix="")]
                else:
                    base = path.rstrip("/") + "/"
                    kids = [dict(self._status(p, n), pathSuffix=p[len(base):])
                            for p, n in sorted(self.tree.items())
                            if p.startswith(base) and "/" not in p[len(base):] and p != "/"]
                return 200, {"FileStatuses": {"FileStatus": kids}}, None
            if op == "MKDIRS" and method == "PUT":
                self._mkdirs(user, path)
                return 200, {"boolean": True}, None
            if op in ("CREATE", "APPEND") and method == ("PUT" if op == "CREATE" else "POST"):
                if op == "APPEND" and self.deny_appends > 0:
                    self.deny_appends -= 1
                    raise RemoteError("AccessControlException",
                                      "Permission denied: user=%s, access=WRITE, inode=\"%s\" "
                                      "(stand-in: injected)" % (user, path))
                if self.refuse_datanode > 0:
                    self.refuse_datanode -= 1
                    port = _dead_port()
                else:
                    port = self.datanode_ports[self._dn_next % len(self.datanode_ports)]
                    self._dn_next += 1
                query = urllib.parse.urlencode(dict(q, namenoderpcaddress="127.0.0.1:8020"))
                loc = "http://127.0.0.1:%d%s%s?%s" % (port, PREFIX, urllib.parse.quote(path),
                                                     query)
                return 307, None, loc
            if op == "RENAME" and method == "PUT":
                dst = q.get("destination")
                if not dst or not dst.startswith("/"):
                    raise RemoteError("IllegalArgumentException",
                                      "Invalid value for webhdfs parameter \"destination\"")
                dst = _norm(dst)
                if path not in self.tree or dst in self.tree or _parent(dst) not in self.tree:
                    return 200, {"boolean": False}, None
                self._check(user, _parent(path))
                self._check(user, _parent(dst))
                for p in sorted(self.tree):
                    if p == path or p.startswith(path + "/"):
                        self.tree[dst + p[len(path):]] = self.tree.pop(p)
                return 200, {"boolean": True}, None
            if op == "DELETE" and method == "DELETE":
                if path not in self.tree or path == "/":
                    return 200, {"boolean": False}, None
                kids = [p for p in self.tree if p.startswith(path + "/")]
                if kids and q.get("recursive", "false") != "true":
                    raise RemoteError("IOException", "%s is non empty': Directory is not empty"
                                      % path)
                self._check(user, _parent(path))
                for p in kids + [path]:
                    del self.tree[p]
                return 200, {"boolean": True}, None
            if op == "TRUNCATE" and method == "POST":
                node = self._get(path)
                self._check(user, path)
                try:
                    n = int(q.get("newlength", ""))
                except ValueError:
                    raise RemoteError("IllegalArgumentException",
                                      "Invalid value for webhdfs parameter \"newlength\"")
                if n < 0 or n > len(node.data):
                    raise RemoteError("HadoopIllegalArgumentException",
                                      "Cannot truncate to a larger file size. Current size: %d, "
                                      "truncate size: %d." % (len(node.data), n))
                del node.data[n:]
                return 200, {"boolean": True}, None
            raise RemoteError("IllegalArgumentException",
                              "Invalid value for webhdfs parameter \"op\": No enum constant "
                              "for %s %s" % (method, op))

    def datanode_op(self, method, op, path, q, user, data):
        with self.lock:
            if op == "CREATE" and method == "PUT":
                node = self.tree.get(path)
                if node is not None:
                    if node.kind == "DIRECTORY" or q.get("overwrite", "false") != "true":
                        raise RemoteError("FileAlreadyExistsException",
                                          "%s for client 127.0.0.1 already exists" % path)
                    self._check(user, _parent(path))
                else:
                    self._mkdirs(user, _parent(path))
                    self._check(user, _parent(path))
                f = Inode("FILE", user, 0o644)
                f.data += data
                self.tree[path] = f
                return 201
            if op == "APPEND" and method == "POST":
                node = self._get(path)
                if node.kind != "FILE":
                    raise RemoteError("FileNotFoundException", "%s is not a file" % path)
                self._check(user, path)
                node.data += data
                node.mtime = int(time.time() * 1000)
                return 200
            raise RemoteError("IllegalArgumentException", "datanode: bad op %s %s" % (method, op))

    # ------------------------------------------------------------ HTTP
    def _handler(self, role):
        standin = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def _reply(self, code, obj=None, loc=None):
                body = json.dumps(obj).encode() if obj is not None else b""
                self.send_response(code)
                if obj is not None:
                    self.send_header("Content-Type", "application/json")
                if loc:
                    self.send_header("Location", loc)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self, method):
                u = urllib.parse.urlsplit(self.path)
                q = {k: v[-1] for k, v in urllib.parse.parse_qs(u.query).items()}
                op = q.get("op", "").upper()
                path = _norm(urllib.parse.unquote(u.path[len(PREFIX):]))
                n = int(self.headers.get("Content-Length") or 0)
                user, doas = q.get("user.name"), q.get("doas")
                code = 0
                try:
                    if not u.path.startswith(PREFIX):
                        raise RemoteError("IllegalArgumentException", "not a WebHDFS path")
                    if role == "namenode":
                        body = self.rfile.read(n) if n else b""
                        if standin.down:
                            raise RemoteError("RetriableException", "stand-in: namenode down")
                        with standin.lock:
                            if standin.namenode_errors > 0:
                                standin.namenode_errors -= 1
                                raise RemoteError("RuntimeException",
                                                  "stand-in: injected namenode failure")
                        if not user:
                            raise RemoteError("SecurityException",
                                              "Failed to obtain user group information: "
                                              "user.name is missing (simple auth)")
                        code, obj, loc = standin.namenode_op(method, op, path, q, doas or user)
                        self._reply(code, obj, loc)
                        return
                    with standin.lock:
                        midwrite = standin.fail_midwrite > 0 and op == "APPEND" and n > 1
                        if midwrite:
                            standin.fail_midwrite -= 1
                    if midwrite:
                        part = self.rfile.read(n // 2)
                        if standin.keep_partial:
                            with standin.lock:
                                node = standin.tree.get(path)
                                if node is not None:
                                    node.data += part
                        code = -1
                        self.close_connection = True
                        try:
                            self.connection.shutdown(socket.SHUT_RDWR)
                        except OSError:
                            pass
                        return
                    data = self.rfile.read(n) if n else b""
                    code = standin.datanode_op(method, op, path, q, doas or user, data)
                    loc = ("webhdfs://127.0.0.1:%d%s" % (standin.port, path)
                           if code == 201 else None)
                    self._reply(code, None, loc)
                except RemoteError as e:
                    code = e.code
                    body = e.body()
                    self.send_response(e.code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                finally:
                    with standin.lock:
                        standin.log.append((role, method, op, path, user, doas, code))

            def do_GET(self):
                self._handle("GET")

            def do_PUT(self):
                self._handle("PUT")

            def do_POST(self):
                self._handle("POST")

            def do_DELETE(self):
                self._handle("DELETE")

        return H


def _dead_port():
    """A port on 127.0.0.1 that refuses connections (bound, then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


if __name__ == "__main__":
    port = 0
    if len(sys.argv) == 3 and sys.argv[1] == "--port":
        port = int(sys.argv[2])
    srv = StandIn(port).start()
    print("stand-in WebHDFS namenode on http://127.0.0.1:%d%s (datanodes %s)"
          % (srv.port, PREFIX, srv.datanode_ports), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        srv.stop()
