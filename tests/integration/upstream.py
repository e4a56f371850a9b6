#!/usr/bin/env python3
"""A controllable HTTP/1.1 test upstream for the ciap integration tests.

Raw sockets and one thread per connection (not http.server: the tests need to see exactly
what arrived, on which connection, and to misbehave on purpose). Plain or TLS.

Importable:
    up = Upstream(name="app").start()          # or Upstream(cert=..., key=...) for TLS
    up.port, up.accepted, up.request_count, up.requests (list of dicts), up.stop()

Runnable:
    python3 upstream.py [--port 0] [--cert F --key F] [--name app]
    prints "listening 127.0.0.1:PORT" and serves until SIGTERM/SIGINT.

Behaviour by request path (the body of every request is read first, streaming: bodies are
counted and hashed, never stored):
    /echo                 200, JSON of the request as received (method, target, path, query,
                          version, headers in order, body_length, body_sha256, conn_id, ...)
    /delay/<ms>           sleep <ms>, then 200 "ok"
    /chunked/<n>          chunked response of n chunks "chunk <i>\\n" (?delay_ms=D between chunks)
    /bytes/<n>            n bytes (pattern byte i = i % 256) with Content-Length, streamed
    /bytes-chunked/<n>    the same bytes, chunked (256 KiB chunks)
    /close                200 with "Connection: close", then the connection is closed
    /status/<code>        that status, body "status <code>" (no body for 1xx/204/304)
    /hop-by-hop           200 carrying hop-by-hop response headers (they must not pass ciap)
    /stall-body/<ms>      Content-Length 100, sends 10 bytes, sleeps <ms>, sends the rest
    /vanish-if-reused     on a connection's first request 200 "ok"; on any later request the
                          request is read and the connection closed without an answer (an
                          upstream dying after it took the request)
    /reject-early/<code>  answers <code> with "Connection: close" right after the request head,
                          without reading the body, then closes ?linger_ms=D later (default 200)
    /reset-mid-request/<n>   reads <n> bytes of the request body, then resets the connection (RST)
    /reset-mid-response/<n>  Content-Length 2n, sends n bytes, then resets the connection (RST)
    anything else         200 "ok"
Every response carries X-Upstream: <name> and X-Upstream-Conn: <connection number>.
"""

import argparse
import hashlib
import json
import signal
import socket
import struct
import ssl
import sys
import threading
import time
import urllib.parse

BUF_SIZE = 1 << 20
# 1 MiB of the download pattern: byte i of any /bytes body is i % 256.
PATTERN = bytes(range(256)) * (BUF_SIZE // 256)
PATTERN_MV = memoryview(PATTERN)
MAX_HEADER_LINE = 1 << 17
MAX_HEADERS = 1000


def pattern_bytes(n):
    """The first n bytes of a /bytes/<n> or /bytes-chunked/<n> body."""
    full, rest = divmod(n, BUF_SIZE)
    return PATTERN * full + PATTERN[:rest]


def pattern_sha256(n):
    """sha256 hex digest of pattern_bytes(n), without building it."""
    h = hashlib.sha256()
    while n > 0:
        k = min(n, BUF_SIZE)
        h.update(PATTERN_MV[:k])
        n -= k
    return h.hexdigest()


class BadRequest(Exception):
    pass


REASONS = {
    100: "Continue", 200: "OK", 201: "Created", 204: "No Content", 301: "Moved Permanently",
    302: "Found", 304: "Not Modified", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 408: "Request Timeout", 418: "I'm a teapot",
    429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
}


class Upstream:
    """A test HTTP/1.1 server on 127.0.0.1:<port> (port 0 = any free port)."""

    def __init__(self, name="app", cert=None, key=None, host="127.0.0.1", port=0,
                 send_100_continue=True, hash_bodies=True):
        self.name = name
        self.host = host
        self._want_port = port
        self.send_100_continue = send_100_continue
        self.hash_bodies = hash_bodies
        self.tls = None
        if cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            ctx.set_alpn_protocols(["http/1.1"])
            self.tls = ctx
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._accepted = 0
        self._handshake_failures = 0
        self._active = 0
        self._requests = []  # dicts, in arrival order of their headers
        self._socks = set()
        self._idle = set()  # sockets waiting for their next request line
        self._threads = []
        self._stopping = threading.Event()
        self._listener = None
        self._accept_thread = None
        self.port = None

    # ----- lifecycle -----
    def start(self):
        self._listener = socket.create_server((self.host, self._want_port), backlog=256)
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._accept_thread = threading.Thread(target=self._accept_loop, daemon=True,
                                               name=f"upstream-{self.name}-accept")
        self._accept_thread.start()
        return self

    @property
    def address(self):
        return f"{self.host}:{self.port}"

    def stop(self):
        self._stopping.set()
        if self._accept_thread:
            self._accept_thread.join(5)
        if self._listener:
            self._listener.close()
        with self._lock:
            socks = list(self._socks)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in list(self._threads):
            t.join(2)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ----- observations (thread-safe) -----
    @property
    def accepted(self):
        """TCP connections accepted so far."""
        with self._lock:
            return self._accepted

    @property
    def active_connections(self):
        with self._lock:
            return self._active

    @property
    def handshake_failures(self):
        with self._lock:
            return self._handshake_failures

    @property
    def request_count(self):
        """Requests whose headers were received so far."""
        with self._lock:
            return len(self._requests)

    @property
    def requests(self):
        """Copies of the request records so far (see _read_request for the fields)."""
        with self._lock:
            return [dict(r) for r in self._requests]

    def last_request(self):
        with self._lock:
            return dict(self._requests[-1]) if self._requests else None

    def find_request(self, pred):
        with self._lock:
            for r in self._requests:
                if pred(r):
                    return dict(r)
        return None

    @property
    def idle_connections(self):
        """Connections waiting for their next request (kept alive by the client)."""
        with self._lock:
            return len(self._idle)

    def close_idle(self):
        """Closes every connection that is waiting for a request (as a server's idle timeout
        would); returns how many were closed."""
        with self._lock:
            idle = list(self._idle)
            self._idle.clear()
        for s in idle:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return len(idle)

    def wait_for(self, pred, timeout=10.0):
        """Waits until pred(self) is true; returns whether it became true."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred(self):
                return True
            time.sleep(0.01)
        return pred(self)

    # ----- serving -----
    def _accept_loop(self):
        conn_no = 0
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            conn_no += 1
            with self._lock:
                self._accepted += 1
                self._active += 1
                self._socks.add(sock)
            t = threading.Thread(target=self._serve_conn, args=(sock, conn_no), daemon=True,
                                 name=f"upstream-{self.name}-conn{conn_no}")
            self._threads.append(t)
            t.start()

    def _serve_conn(self, sock, conn_id):
        raw = sock
        try:
            sock.setblocking(True)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls:
                try:
                    sock = self.tls.wrap_socket(sock, server_side=True)
                except (ssl.SSLError, OSError):
                    with self._lock:
                        self._handshake_failures += 1
                    return
                with self._lock:
                    self._socks.add(sock)
            f = sock.makefile("rb", buffering=1 << 16)
            index = 0
            while not self._stopping.is_set():
                with self._lock:
                    self._idle.add(sock)
                req = self._read_request(sock, f, conn_id, index)
                if req is None:
                    break
                index += 1
                if not self._respond(sock, req):
                    break
        except (OSError, ssl.SSLError, BadRequest, ValueError):
            pass
        finally:
            try:
                sock.close()
            except OSError:
                pass
            try:
                raw.close()
            except OSError:
                pass
            with self._lock:
                self._active -= 1
                self._socks.discard(sock)
                self._socks.discard(raw)
                self._idle.discard(sock)

    def _read_request(self, sock, f, conn_id, index):
        line = f.readline(MAX_HEADER_LINE)
        while line in (b"\r\n", b"\n"):
            line = f.readline(MAX_HEADER_LINE)
        with self._lock:
            self._idle.discard(sock)
        if not line:
            return None
        parts = line.rstrip(b"\r\n").decode("latin-1").split(" ")
        if len(parts) != 3:
            raise BadRequest(line)
        method, target, version = parts
        headers = []
        while True:
            h = f.readline(MAX_HEADER_LINE)
            if not h:
                raise BadRequest("eof in headers")
            if h in (b"\r\n", b"\n"):
                break
            if len(headers) >= MAX_HEADERS:
                raise BadRequest("too many headers")
            name, sep, value = h.decode("latin-1").partition(":")
            if not sep:
                raise BadRequest(h)
            headers.append([name, value.strip(" \t\r\n")])
        u = urllib.parse.urlsplit(target)
        rec = {
            "conn_id": conn_id,
            "index_on_conn": index,
            "method": method,
            "target": target,
            "path": u.path,
            "query": u.query,
            "version": version,
            "request_line": line.rstrip(b"\r\n").decode("latin-1"),
            "headers": headers,
            "body_length": 0,
            "body_sha256": None,
            "chunked": False,
            "complete": False,
            "sent_100": False,
            "t_headers": time.monotonic(),
            "t_complete": None,
        }
        with self._lock:
            self._requests.append(rec)
        seg = u.path.split("/")
        if len(seg) == 3 and seg[1] == "reject-early":
            return rec  # answered without reading the body (see _respond)
        if len(seg) == 3 and seg[1] == "reset-mid-request":
            f.read(int(seg[2]))
            _reset(sock)
            raise BadRequest("reset on purpose")
        hv = lambda n: _header(headers, n)
        te = (hv("transfer-encoding") or "").lower()
        if "100-continue" in (hv("expect") or "").lower() and self.send_100_continue:
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            rec["sent_100"] = True
        h = hashlib.sha256() if self.hash_bodies else None
        buf = bytearray(BUF_SIZE)
        mv = memoryview(buf)
        if "chunked" in te:
            rec["chunked"] = True
            while True:
                size_line = f.readline(4096)
                if not size_line:
                    raise BadRequest("eof in chunk size")
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    # trailers until the empty line
                    while True:
                        t = f.readline(MAX_HEADER_LINE)
                        if not t or t in (b"\r\n", b"\n"):
                            break
                    break
                self._read_body(f, size, mv, h, rec)
                if f.readline(8) not in (b"\r\n", b"\n"):
                    raise BadRequest("bad chunk end")
        else:
            cl = hv("content-length")
            if cl is not None:
                self._read_body(f, int(cl), mv, h, rec)
        rec["body_sha256"] = h.hexdigest() if h else None
        rec["complete"] = True
        rec["t_complete"] = time.monotonic()
        return rec

    @staticmethod
    def _read_body(f, n, mv, h, rec):
        while n > 0:
            k = f.readinto1(mv[:min(n, BUF_SIZE)])
            if not k:
                raise BadRequest("eof in body")
            if h is not None:
                h.update(mv[:k])
            n -= k
            rec["body_length"] += k

    def _respond(self, sock, req):
        """Sends the response; returns whether the connection stays open."""
        path = req["path"]
        qs = urllib.parse.parse_qs(req["query"])
        method = req["method"]
        conn_hdr = (_header(req["headers"], "connection") or "").lower()
        keep = req["version"] == "HTTP/1.1" and "close" not in conn_hdr
        if req["version"] == "HTTP/1.0" and "keep-alive" in conn_hdr:
            keep = True
        base = [("X-Upstream", self.name), ("X-Upstream-Conn", str(req["conn_id"]))]
        head_only = method == "HEAD"
        seg = path.split("/")

        def send_simple(status, body, extra=(), ctype="text/plain", close=False):
            hdrs = base + [("Content-Type", ctype)] + list(extra)
            no_body = status < 200 or status in (204, 304)
            if not no_body:
                hdrs.append(("Content-Length", str(len(body))))
            if close or not keep:
                hdrs.append(("Connection", "close"))
            out = _head(status, hdrs)
            if not no_body and not head_only:
                out += body
            sock.sendall(out)
            return keep and not close

        if path == "/echo":
            doc = {k: req[k] for k in ("method", "target", "path", "query", "version", "headers",
                                       "body_length", "body_sha256", "chunked", "conn_id",
                                       "index_on_conn", "sent_100")}
            doc["upstream"] = self.name
            return send_simple(200, json.dumps(doc).encode(), ctype="application/json")
        if len(seg) == 3 and seg[1] == "delay":
            end = time.monotonic() + int(seg[2]) / 1000.0
            while time.monotonic() < end and not self._stopping.is_set():
                time.sleep(min(0.02, max(0.0, end - time.monotonic())))
            return send_simple(200, b"ok")
        if len(seg) == 3 and seg[1] == "chunked":
            n = int(seg[2])
            delay = int(qs.get("delay_ms", ["0"])[0]) / 1000.0
            hdrs = base + [("Content-Type", "text/plain"), ("Transfer-Encoding", "chunked")]
            if not keep:
                hdrs.append(("Connection", "close"))
            sock.sendall(_head(200, hdrs))
            if head_only:
                return keep
            for i in range(n):
                if delay and i:
                    time.sleep(delay)
                data = f"chunk {i}\n".encode()
                sock.sendall(b"%x\r\n%s\r\n" % (len(data), data))
            sock.sendall(b"0\r\n\r\n")
            return keep
        if len(seg) == 3 and seg[1] in ("bytes", "bytes-chunked"):
            n = int(seg[2])
            chunked = seg[1] == "bytes-chunked"
            hdrs = base + [("Content-Type", "application/octet-stream")]
            hdrs.append(("Transfer-Encoding", "chunked") if chunked else ("Content-Length", str(n)))
            if not keep:
                hdrs.append(("Connection", "close"))
            sock.sendall(_head(200, hdrs))
            if head_only:
                return keep
            step = (256 << 10) if chunked else BUF_SIZE
            left = n
            while left > 0:
                k = min(left, step)
                if chunked:
                    sock.sendall(b"%x\r\n" % k)
                    sock.sendall(PATTERN_MV[:k])
                    sock.sendall(b"\r\n")
                else:
                    sock.sendall(PATTERN_MV[:k])
                left -= k
            if chunked:
                sock.sendall(b"0\r\n\r\n")
            return keep
        if path == "/close":
            send_simple(200, b"closing", close=True)
            return False
        if len(seg) == 3 and seg[1] == "status":
            code = int(seg[2])
            return send_simple(code, f"status {code}".encode())
        if path == "/hop-by-hop":
            extra = [("Connection", "X-Custom-Hop, keep-alive"), ("X-Custom-Hop", "secret"),
                     ("Keep-Alive", "timeout=99, max=77"), ("Proxy-Connection", "keep-alive"),
                     ("Trailer", "X-Trailer-Thing"), ("Upgrade", "h2c"),
                     ("TE", "trailers"),
                     ("X-End-To-End", "kept")]
            return send_simple(200, b"hop", extra=extra)
        if path == "/vanish-if-reused":
            if req["index_on_conn"] > 0:
                return False  # took the request, closes without answering
            return send_simple(200, b"ok")
        if len(seg) == 3 and seg[1] == "reset-mid-response":
            n = int(seg[2])
            sock.sendall(_head(200, base + [("Content-Length", str(2 * n))]) + PATTERN[:n])
            time.sleep(0.05)
            _reset(sock)
            return False
        if len(seg) == 3 and seg[1] == "reject-early":
            code = int(seg[2])
            send_simple(code, f"status {code}".encode(), close=True)
            end = time.monotonic() + int(qs.get("linger_ms", ["200"])[0]) / 1000.0
            while time.monotonic() < end and not self._stopping.is_set():
                time.sleep(0.01)
            return False
        if len(seg) == 3 and seg[1] == "stall-body":
            hdrs = base + [("Content-Type", "text/plain"), ("Content-Length", "100")]
            sock.sendall(_head(200, hdrs) + b"x" * 10)
            end = time.monotonic() + int(seg[2]) / 1000.0
            while time.monotonic() < end and not self._stopping.is_set():
                time.sleep(0.02)
            sock.sendall(b"y" * 90)
            return keep
        return send_simple(200, b"ok")


def _reset(sock):
    """Closes with an RST instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _header(headers, name):
    """Value of the first header called name (case-insensitive), or None."""
    name = name.lower()
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


def _head(status, headers):
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}"]
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--name", default="app")
    args = ap.parse_args()
    up = Upstream(name=args.name, cert=args.cert, key=args.key, host=args.host,
                  port=args.port).start()
    print(f"listening {up.address}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    while not stop.is_set():
        stop.wait(0.5)
    up.stop()
    print(f"accepted={up.accepted} requests={up.request_count}", flush=True)


if __name__ == "__main__":
    main()
