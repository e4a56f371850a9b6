"""ciap integration tests: regressions of reviewed defects (deadlines, retries, request
smuggling, header injection, pool waiters, idle first bytes, early upstream answers, local
responses, TLS close_notify).

Each test names the defect it guards against; see README.md for the harness.
"""

import collections
import socket
import ssl
import threading
import time
import unittest

from ciaptest import (CiapTestCase, client_context, conn, plain_listener,
                      raw_socket, read_response, request, request_on, route, tls_listener,
                      tls_socket, upstream_cfg, make_config)


def header_map(pairs):
    out = {}
    for k, v in pairs:
        out.setdefault(k.lower(), []).append(v)
    return out


def read_until_eof(sock, timeout):
    """(bytes received, seconds until EOF/reset or None when still open after timeout)."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    data = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return data, None
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return data, None
        except (ConnectionResetError, BrokenPipeError):
            return data, time.monotonic() - t0
        if not chunk:
            return data, time.monotonic() - t0
        data += chunk


def split_response(data):
    """(status, [(name, value)], body, rest) of the Content-Length-framed response at the start
    of data; status None when data holds no complete head."""
    head, sep, after = data.partition(b"\r\n\r\n")
    if not sep:
        return None, [], b"", data
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = []
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.append((k.strip(), v.strip()))
    n = int(header_map(headers).get("content-length", ["0"])[0])
    return status, headers, after[:n], after[n:]


class _BioTlsClient:
    """A TLS client over a raw socket through memory BIOs, so that each byte of application data
    can be sent as a TLS record of its own and the records can be pre-encrypted."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = client_context().wrap_bio(self.inc, self.out, server_hostname="localhost")
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                pending = self.out.read()
                if pending:
                    self.sock.sendall(pending)
                data = self.sock.recv(65536)
                if not data:
                    raise ConnectionError("ciap closed the connection during the handshake")
                self.inc.write(data)
        self.sock.sendall(self.out.read())

    def records(self, data):
        """data encrypted as one TLS record per byte (not sent)."""
        for b in data:
            self.obj.write(bytes([b]))
        return self.out.read()

    def decrypt(self, raw):
        """The application data in raw (bytes received from ciap)."""
        self.inc.write(raw)
        out = b""
        try:
            while True:
                d = self.obj.read(65536)
                if not d:
                    break
                out += d
        except (ssl.SSLWantReadError, ssl.SSLZeroReturnError, ssl.SSLEOFError):
            pass
        except ssl.SSLError:
            pass
        return out

    def close(self):
        self.sock.close()


class Deadlines(CiapTestCase):

    def test_header_deadline_not_lost_with_one_byte_tls_records(self):
        """A header trickled as one-byte TLS records past header_timeout (1s) is ended (408 or close) within 2.5s."""
        up = self.start_upstream()
        p = self.proxy(upstream=up, listener_kw={"limits": {"header_timeout": "1s",
                                                            "idle_timeout": "60s"}},
                       args=["--concurrency", "1"])
        n_conns, n_bulk, n_tail = 8, 20000, 300
        clients = []
        for _ in range(n_conns):
            c = _BioTlsClient(p.port())
            self.addCleanup(c.close)
            clients.append(c)
        prefix = b"GET /echo HTTP/1.1\r\nHost: localhost\r\nX-Pad: "
        pre = [c.records(prefix) for c in clients]
        bulk = [c.records(b"a" * n_bulk) for c in clients]
        # The tail: one one-byte record at a time, every 10 ms, after the bulk.
        tail = []
        for c in clients:
            recs = []
            for _ in range(n_tail):
                c.obj.write(b"a")
                recs.append(c.out.read())
            tail.append(recs)

        results = [None] * n_conns  # (raw bytes, seconds since t0 of EOF or None)
        stop = threading.Event()

        def reader(i):
            s = clients[i].sock
            data, closed = b"", None
            end = t0 + 8.0
            while time.monotonic() < end:
                s.settimeout(0.1)
                try:
                    chunk = s.recv(1 << 20)
                except socket.timeout:
                    continue
                except OSError:
                    chunk = b""
                if not chunk:
                    closed = time.monotonic() - t0
                    break
                data += chunk
            results[i] = (data, closed)

        def sender(i):
            s = clients[i].sock
            try:
                s.sendall(bulk[i])
                for rec in tail[i]:
                    if stop.is_set() or results[i] is not None or time.monotonic() > t0 + 4:
                        return
                    s.sendall(rec)
                    time.sleep(0.01)
            except OSError:
                pass  # ciap closed the connection

        t0 = time.monotonic()
        for c, data in zip(clients, pre):
            c.sock.sendall(data)
        readers = [threading.Thread(target=reader, args=(i,), daemon=True) for i in range(n_conns)]
        for t in readers:
            t.start()
        time.sleep(max(0.0, t0 + 0.9 - time.monotonic()))
        senders = [threading.Thread(target=sender, args=(i,), daemon=True) for i in range(n_conns)]
        for t in senders:
            t.start()
        self.addCleanup(stop.set)
        for t in readers:
            t.join(12)
        stop.set()
        for t in senders:
            t.join(5)

        summary = []
        for c, (raw, closed) in zip(clients, results):
            plain = c.decrypt(raw)
            statuses = [line.decode("latin-1") for line in plain.split(b"\r\n")
                        if line.startswith(b"HTTP/")]
            summary.append((None if closed is None else round(closed, 2), statuses))
        for closed, statuses in summary:
            self.assertIsNotNone(closed, f"connection still open 8s after its first header byte "
                                         f"(header_timeout 1s); all: {summary}")
            self.assertLessEqual(closed, 2.5, f"closed too late; all: {summary}")
            for st in statuses:
                self.assertTrue(st.startswith("HTTP/1.1 408"), f"{st!r}; all: {summary}")
        self.assertEqual(up.request_count, 0)

    def test_silent_connection_closed_after_header_timeout(self):
        """A new connection that sends nothing is closed after header_timeout (1s) although idle_timeout is 8s."""
        up = self.start_upstream()
        limits = {"header_timeout": "1s", "idle_timeout": "8s"}
        cfg = make_config([upstream_cfg("app", up)],
                          [plain_listener("plain", [route("all", "app")], limits=limits),
                           tls_listener("agents", [route("all", "app")], limits=limits)])
        p = self.start_ciap(cfg)
        for name in ("plain", "agents"):
            with self.subTest(listener=name):
                if name == "plain":
                    s = raw_socket(p.port(name))
                else:
                    s = tls_socket(p.port(name))  # the handshake, then not one byte
                self.addCleanup(s.close)
                try:
                    data, closed = read_until_eof(s, 5.0)
                except ssl.SSLError as e:
                    self.fail(f"TLS error instead of a close: {e!r}")
                self.assertIsNotNone(closed, "silent connection still open after 5s")
                self.assertGreaterEqual(closed, 0.8, f"closed after {closed:.2f}s: {data[:60]!r}")
                self.assertLessEqual(closed, 2.0, f"closed after {closed:.2f}s: {data[:60]!r}")
        self.assertEqual(up.request_count, 0)


class Retries(CiapTestCase):

    def _warm(self, p, up):
        """One GET through ciap so that a pooled, idle upstream connection exists."""
        r = request(p.port(), "GET", "/echo?warm")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(up.wait_for(lambda u: u.idle_connections == 1, 3),
                        "no idle pooled upstream connection after the warm-up request")

    def _seen(self, up, method):
        return [r for r in up.requests if r["method"] == method and r["path"] == "/vanish-if-reused"]

    def test_non_idempotent_not_retried_on_reused_connection(self):
        """DELETE and POST (Content-Length 0) lost on a reused pooled connection reach the upstream once and get 502."""
        up = self.start_upstream()
        p = self.proxy(upstream=up, args=["--concurrency", "1"])
        for method, body in (("DELETE", None), ("POST", b"")):
            with self.subTest(method=method):
                self._warm(p, up)
                headers = {"Content-Length": "0"} if method == "POST" else {}
                r = request(p.port(), method, "/vanish-if-reused", headers=headers, body=body)
                time.sleep(0.3)  # room for a (wrong) late retry
                seen = self._seen(up, method)
                self.assertEqual(len(seen), 1,
                                 f"{method} reached the upstream {len(seen)} times: "
                                 f"{[(x['conn_id'], x['index_on_conn']) for x in seen]}")
                self.assertGreater(seen[0]["index_on_conn"], 0, "not sent on a reused connection")
                self.assertEqual(r.status, 502, r)

    def test_get_retried_once_on_reused_connection(self):
        """A GET lost on a reused pooled connection is retried once on a new connection and gets 200."""
        up = self.start_upstream()
        p = self.proxy(upstream=up, args=["--concurrency", "1"])
        self._warm(p, up)
        r = request(p.port(), "GET", "/vanish-if-reused")
        self.assertEqual((r.status, r.body), (200, b"ok"), r)
        seen = self._seen(up, "GET")
        self.assertEqual([x["index_on_conn"] > 0 for x in seen], [True, False],
                         f"GET attempts (conn_id, index_on_conn): "
                         f"{[(x['conn_id'], x['index_on_conn']) for x in seen]}")


class Smuggling(CiapTestCase):

    CASES = [
        ("TE chunked, identity",
         b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n"
         b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("TE xchunked",
         b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n"
         b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("TE gzip",
         b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"
         b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("TE gzip + Content-Length",
         b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\n"
         b"abcGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("TE chunked + Content-Length",
         b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"5\r\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("two equal Content-Length",
         b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"),
        ("two different Content-Length",
         b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
        ("two Host",
         b"GET /echo HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n"),
        ("TE chunked on HTTP/1.0",
         b"POST /echo HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"3\r\nabc\r\n0\r\n\r\n"),
    ]

    def test_ambiguous_framing_refused_before_upstream(self):
        """Each ambiguous Transfer-Encoding/Content-Length/Host request gets 400 + Connection: close and reaches no upstream."""
        up = self.start_upstream()
        p = self.proxy(upstream=up, tls=False)
        for name, data in self.CASES:
            with self.subTest(case=name):
                before = up.request_count
                s = raw_socket(p.port(), timeout=5)
                self.addCleanup(s.close)
                s.sendall(data)
                got, closed = read_until_eof(s, 3.0)
                status, headers, body, rest = split_response(got)
                self.assertEqual(status, 400, got[:300])
                conn_hdr = ",".join(header_map(headers).get("connection", [])).lower()
                self.assertIn("close", conn_hdr, got[:300])
                self.assertEqual(rest, b"", f"more than the 400 on the connection: {got!r}")
                self.assertIsNotNone(closed, "connection still open 3s after the 400")
                time.sleep(0.1)
                self.assertEqual(up.request_count, before,
                                 f"upstream received: {[x['request_line'] for x in up.requests[before:]]}")
        self.assertEqual(up.request_count, 0)
        self.assertEqual(up.accepted, 0)


class HeaderInjection(CiapTestCase):

    def test_connection_header_cannot_strip_configured_headers(self):
        """Headers set by request_headers survive being named in Connection; a client header named there is dropped."""
        up = self.start_upstream()
        routes = [route("api", "app", request_headers={
            "set": {"X-Tenant-Scope": "read-only", "Authorization": "Bearer upstream-cred"}})]
        p = self.proxy(routes=routes, upstream=up)
        r = request(p.port(), "GET", "/echo",
                    headers={"Connection": "keep-alive, X-Tenant-Scope, Authorization"})
        self.assertEqual(r.status, 200, r)
        h = header_map(r.json()["headers"])
        self.assertEqual(h.get("x-tenant-scope"), ["read-only"], h)
        self.assertEqual(h.get("authorization"), ["Bearer upstream-cred"], h)
        # Client values of the same headers, named in Connection too: replaced, not removed.
        r = request(p.port(), "GET", "/echo",
                    headers={"Connection": "X-Hop, X-Tenant-Scope, Authorization",
                             "X-Hop": "hop-value", "X-Tenant-Scope": "admin",
                             "Authorization": "Bearer client", "X-Keep": "kept"})
        self.assertEqual(r.status, 200, r)
        h = header_map(r.json()["headers"])
        self.assertEqual(h.get("x-tenant-scope"), ["read-only"], h)
        self.assertEqual(h.get("authorization"), ["Bearer upstream-cred"], h)
        self.assertNotIn("x-hop", h)
        self.assertEqual(h.get("x-keep"), ["kept"])

    def test_spoofable_forwarding_headers_dropped(self):
        """X-Original-URL, X-Rewrite-URL, X-Forwarded-Prefix/-Uri/-Host and Forwarded from a client do not reach the upstream."""
        up = self.start_upstream()
        p = self.proxy(upstream=up)
        spoof = {"X-Original-URL": "/admin", "X-Rewrite-URL": "/admin",
                 "X-Forwarded-Prefix": "/admin", "X-Forwarded-Uri": "/admin",
                 "X-Forwarded-Host": "evil.example", "Forwarded": "for=1.2.3.4;host=evil.example",
                 "X-Forwarded-For": "203.0.113.9", "X-Other": "kept"}
        r = request(p.port(), "GET", "/echo", headers=spoof)
        self.assertEqual(r.status, 200, r)
        h = header_map(r.json()["headers"])
        for name in ("x-original-url", "x-rewrite-url", "x-forwarded-prefix", "x-forwarded-uri",
                     "x-forwarded-host", "forwarded"):
            self.assertNotIn(name, h, f"{name} reached the upstream: {h.get(name)}")
        xff = ",".join(h.get("x-forwarded-for", []))
        self.assertEqual([x.strip() for x in xff.split(",")], ["203.0.113.9", "127.0.0.1"])
        self.assertEqual(h.get("x-other"), ["kept"])


class PoolWaiters(CiapTestCase):

    def test_max_connections_waiters_get_no_503(self):
        """8 keep-alive clients, 240 requests of ~10ms through an upstream with max_connections 2: all 200, no 503."""
        up = self.start_upstream()
        p = self.proxy(upstreams=[upstream_cfg("app", up, max_connections=2, connect_timeout="2s")],
                       tls=False, args=["--concurrency", "1"])
        statuses = []
        errors = []
        lock = threading.Lock()
        peak = [0]
        done = threading.Event()
        self.addCleanup(done.set)

        def monitor():
            while not done.is_set():
                peak[0] = max(peak[0], up.active_connections)
                time.sleep(0.002)

        def client():
            c = conn(p.port(), tls=False, timeout=15)
            try:
                for _ in range(30):
                    r = request_on(c, "GET", "/delay/10")
                    with lock:
                        statuses.append(r.status)
            except Exception as e:  # noqa: BLE001 - reported below
                with lock:
                    errors.append(repr(e))
            finally:
                c.close()

        mon = threading.Thread(target=monitor, daemon=True)
        mon.start()
        t0 = time.monotonic()
        threads = [threading.Thread(target=client, daemon=True) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(40)
        elapsed = time.monotonic() - t0
        done.set()
        mon.join(2)
        counts = collections.Counter(statuses)
        self.assertEqual(errors, [])
        self.assertEqual(counts.get(503, 0), 0, f"statuses {dict(counts)} in {elapsed:.1f}s")
        self.assertEqual(dict(counts), {200: 240}, f"in {elapsed:.1f}s")
        self.assertEqual(up.request_count, 240)
        self.assertLessEqual(peak[0], 2, "more upstream connections than max_connections")


class EarlyResponse(CiapTestCase):

    def test_upstream_413_before_reading_large_body_reaches_client(self):
        """An upstream answering 413 and closing after the head of a 32 MB POST: the client gets that 413, not 502."""
        up = self.start_upstream()
        p = self.proxy(routes=[route("all", "app", timeout="5s")], upstream=up, tls=False)
        s = raw_socket(p.port(), timeout=8)
        self.addCleanup(s.close)
        size = 32 << 20
        s.sendall(b"POST /reject-early/413 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)

        def send_body():
            block = b"x" * (1 << 20)
            try:
                for _ in range(size >> 20):
                    s.sendall(block)
            except OSError:
                pass  # ciap stopped reading / closed: expected

        t = threading.Thread(target=send_body, daemon=True)
        t.start()
        t0 = time.monotonic()
        try:
            r = read_response(s.makefile("rb"))
        except (EOFError, ConnectionResetError, socket.timeout) as e:
            self.fail(f"no response after {time.monotonic() - t0:.1f}s: {e!r}")
        self.assertEqual((r.status, r.body), (413, b"status 413"), r)
        self.assertLess(time.monotonic() - t0, 6)
        self.assertEqual(up.request_count, 1)
        s.close()
        t.join(10)


class LocalResponses(CiapTestCase):

    def _proxy(self, up):
        return self.proxy(routes=[route("api", "app", match={"path_prefix": "/api"})],
                          upstream=up, tls=False)

    def test_head_404_no_body_connection_reusable(self):
        """HEAD to a path with no route gets 404 with Content-Length and no body; a GET on the same socket works."""
        up = self.start_upstream()
        p = self._proxy(up)
        s = raw_socket(p.port(), timeout=5)
        self.addCleanup(s.close)
        s.sendall(b"HEAD /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while b"\r\n\r\n" not in got:
            chunk = s.recv(65536)
            self.assertTrue(chunk, f"connection closed after {got!r}")
            got += chunk
        time.sleep(0.3)  # room for body bytes that must not come
        s.settimeout(0.2)
        try:
            got += s.recv(65536)
        except socket.timeout:
            pass
        s.settimeout(5)
        head, _, extra = got.partition(b"\r\n\r\n")
        status, headers, _, _ = split_response(head + b"\r\n\r\n")
        h = header_map(headers)
        self.assertEqual(status, 404, got)
        self.assertIn("content-length", h, got)
        self.assertNotIn("close", ",".join(h.get("connection", [])).lower(), got)
        self.assertEqual(extra, b"", "body bytes after a HEAD response")
        f = s.makefile("rb")
        s.sendall(b"GET /api/x HTTP/1.1\r\nHost: x\r\n\r\n")
        r = read_response(f)
        self.assertEqual((r.status, r.body), (200, b"ok"), r)
        self.assertEqual(up.request_count, 1)

    def test_http10_keepalive_local_response(self):
        """HTTP/1.0 with Connection: keep-alive to a no-route path: 404 says keep-alive and the socket serves a second request."""
        up = self.start_upstream()
        p = self._proxy(up)
        s = raw_socket(p.port(), timeout=5)
        self.addCleanup(s.close)
        f = s.makefile("rb")
        s.sendall(b"GET /nope HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        r = read_response(f)
        self.assertEqual(r.status, 404, r)
        self.assertIsNotNone(r.header("content-length"), r)
        self.assertEqual((r.header("connection") or "").lower(), "keep-alive", r)
        s.sendall(b"GET /api/x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        try:
            r = read_response(f)
        except (EOFError, ConnectionResetError) as e:
            self.fail(f"second request on the HTTP/1.0 keep-alive socket: {e!r}")
        self.assertEqual((r.status, r.body), (200, b"ok"), r)
        self.assertEqual(up.request_count, 1)


class TlsClose(CiapTestCase):

    def test_http10_chunked_upstream_clean_close_notify(self):
        """An HTTP/1.0 TLS client gets the whole body of a chunked upstream response and a clean close_notify."""
        up = self.start_upstream()
        p = self.proxy(upstream=up)
        raw = socket.create_connection(("127.0.0.1", p.port()), timeout=5)
        s = client_context().wrap_socket(raw, server_hostname="localhost",
                                         suppress_ragged_eofs=False)
        self.addCleanup(s.close)
        s.sendall(b"GET /chunked/5 HTTP/1.0\r\nHost: localhost\r\n\r\n")
        out = b""
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                out += d
        except ssl.SSLError as e:
            self.fail(f"unclean TLS close after {len(out)} bytes ({out[-80:]!r}): {e!r}")
        head, sep, body = out.partition(b"\r\n\r\n")
        self.assertTrue(sep, out)
        self.assertTrue(head.startswith(b"HTTP/1."), head)
        self.assertIn(b" 200 ", head.split(b"\r\n")[0])
        self.assertNotIn(b"chunked", head.lower(), "chunked framing sent to an HTTP/1.0 client")
        self.assertEqual(body, b"".join(b"chunk %d\n" % i for i in range(5)))


if __name__ == "__main__":
    unittest.main()
