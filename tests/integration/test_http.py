"""ciap integration tests: HTTP/1.1 semantics (keep-alive, bodies, pipelining, limits, headers)."""

import json
import os
import socket
import ssl
import subprocess
import time
import unittest

from ciaptest import (CiapTestCase, conn, curl, is_closed, pattern_bytes, read_response,
                      request, request_on, route, sha256_file, tls_socket)

HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade",
              "proxy-authorization"]


def header_map(pairs):
    out = {}
    for k, v in pairs:
        out.setdefault(k.lower(), []).append(v)
    return out


class KeepAlive(CiapTestCase):

    def test_curl_20_requests_one_connection_each_side(self):
        """20 URLs in one curl run use 1 TLS connection to ciap and 1 connection to the upstream."""
        up = self.start_upstream()
        p = self.proxy(upstream=up)
        base = f"https://localhost:{p.port()}"
        args = []
        for i in range(20):
            args += ["-o", "/dev/null", f"{base}/echo?i={i}"]
        r = curl("-w", "%{http_code} %{num_connects}\\n", *args, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.decode().split()
        codes, connects = lines[0::2], [int(x) for x in lines[1::2]]
        self.assertEqual(codes, ["200"] * 20)
        self.assertEqual(sum(connects), 1, f"curl connects per request: {connects}")
        self.assertEqual(up.request_count, 20)
        self.assertEqual(up.accepted, 1, "upstream connections for 20 keep-alive requests")

    def test_http_client_one_connection(self):
        """10 requests on one http.client connection reach the upstream on one connection."""
        up = self.start_upstream()
        p = self.proxy(upstream=up)
        c = conn(p.port())
        self.addCleanup(c.close)
        conn_ids = set()
        for i in range(10):
            r = request_on(c, "GET", f"/echo?i={i}")
            self.assertEqual(r.status, 200)
            conn_ids.add(r.json()["conn_id"])
        # POST with a body in between keeps the connection usable as well.
        r = request_on(c, "POST", "/echo", body=b"x" * 5000)
        self.assertEqual(r.json()["body_length"], 5000)
        self.assertEqual(up.accepted, 1)
        self.assertEqual(len(conn_ids), 1)

    def test_pooled_upstream_connection_reused_by_next_client(self):
        """A second client connection, after the first closed, reuses the pooled upstream connection."""
        up = self.start_upstream()
        p = self.proxy(upstream=up, args=["--concurrency", "1"])
        for i in range(3):
            r = request(p.port(), "GET", "/echo")  # fresh client connection each time
            self.assertEqual(r.status, 200)
            time.sleep(0.05)
        self.assertEqual(up.request_count, 3)
        self.assertEqual(up.accepted, 1, "upstream connections for 3 sequential client connections")

    def test_upstream_connection_close_is_handled(self):
        """An upstream answering 'Connection: close' does not close the client connection; the next request uses a new upstream connection."""
        up = self.start_upstream()
        p = self.proxy(upstream=up)
        c = conn(p.port())
        self.addCleanup(c.close)
        r1 = request_on(c, "GET", "/close")
        self.assertEqual((r1.status, r1.body), (200, b"closing"))
        self.assertNotIn("close", (r1.header("connection") or "").lower())
        r2 = request_on(c, "GET", "/echo")
        self.assertEqual(r2.status, 200)
        self.assertEqual(up.accepted, 2)

    def test_http10_client_connection_closed(self):
        """An HTTP/1.0 request without keep-alive is answered and the connection closed."""
        up = self.start_upstream()
        p = self.proxy(upstream=up)
        s = tls_socket(p.port())
        self.addCleanup(s.close)
        s.sendall(b"GET /echo HTTP/1.0\r\nHost: localhost\r\n\r\n")
        f = s.makefile("rb")
        r = read_response(f)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["path"], "/echo")
        self.assertEqual(f.read(), b"")


class Bodies(CiapTestCase):

    def test_chunked_request_body(self):
        """A chunked request body (curl -H 'Transfer-Encoding: chunked') reaches the upstream intact."""
        up = self.start_upstream()
        p = self.proxy(upstream=up)
        path = os.path.join(self.tmp, "body.bin")
        with open(path, "wb") as f:
            f.write(os.urandom(3 * 1024 * 1024 + 17))
        r = curl("-H", "Transfer-Encoding: chunked", "--data-binary", f"@{path}",
                 f"https://localhost:{p.port()}/echo")
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["body_length"], 3 * 1024 * 1024 + 17)
        self.assertEqual(doc["body_sha256"], sha256_file(path))
        rec = p.access_for(header_map(doc["headers"])["x-request-id"][0])
        self.assertEqual(rec["bytes_in"], 3 * 1024 * 1024 + 17)

    def test_content_length_request_body(self):
        """A Content-Length request body reaches the upstream intact, with the same length."""
        up = self.start_upstream()
        p = self.proxy(upstream=up)
        data = os.urandom(1_000_003)
        r = request(p.port(), "PUT", "/echo", body=data)
        self.assertEqual(r.status, 200)
        doc = r.json()
        self.assertEqual(doc["body_length"], len(data))
        import hashlib
        self.assertEqual(doc["body_sha256"], hashlib.sha256(data).hexdigest())

    def test_chunked_response(self):
        """Chunked upstream responses arrive intact (small chunks and multi-MB)."""
        up = self.start_upstream()
        p = self.proxy(upstream=up)
        c = conn(p.port())
        self.addCleanup(c.close)
        r = request_on(c, "GET", "/chunked/50")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"".join(f"chunk {i}\n".encode() for i in range(50)))
        r = request_on(c, "GET", "/bytes-chunked/3000001")
        self.assertEqual(len(r.body), 3000001)
        self.assertEqual(r.body, pattern_bytes(3000001))
        out = os.path.join(self.tmp, "out.bin")
        cr = curl("-o", out, "-w", "%{http_code}", f"https://localhost:{p.port()}/chunked/7")
        self.assertEqual(cr.stdout, b"200")
        with open(out, "rb") as f:
            self.assertEqual(f.read(), b"".join(f"chunk {i}\n".encode() for i in range(7)))

    def test_content_length_response(self):
        """A Content-Length response of several MB arrives byte-exact."""
        up = self.start_upstream()
        p = self.proxy(upstream=up)
        r = request(p.port(), "GET", "/bytes/5000000")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("content-length"), "5000000")
        self.assertEqual(r.body, pattern_bytes(5000000))

    def test_expect_100_continue_raw(self):
        """Expect: 100-continue gets '100 Continue' before any body is sent, then the upload works."""
        up = self.start_upstream()
        p = self.proxy(upstream=up)
        s = tls_socket(p.port())
        self.addCleanup(s.close)
        body = os.urandom(200_000)
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n"
                  b"Expect: 100-continue\r\n\r\n" % len(body))
        f = s.makefile("rb")
        s.settimeout(5)
        interim = read_response(f, keep_1xx=True)
        self.assertEqual(interim.status, 100)
        s.sendall(body)
        r = read_response(f)
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        self.assertEqual(doc["body_length"], len(body))
        import hashlib
        self.assertEqual(doc["body_sha256"], hashlib.sha256(body).hexdigest())
        self.assertEqual(r.interim, [], "a second 100 Continue reached the client")
        # The connection is still usable.
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: localhost\r\n\r\n")
        self.assertEqual(read_response(f).status, 200)

    def test_expect_100_continue_curl(self):
        """curl with Expect: 100-continue uploads a 2 MB file without waiting for the 1s fallback."""
        up = self.start_upstream()
        p = self.proxy(upstream=up)
        path = os.path.join(self.tmp, "up.bin")
        with open(path, "wb") as f:
            f.write(os.urandom(2 * 1024 * 1024))
        t0 = time.monotonic()
        r = curl("-H", "Expect: 100-continue", "--expect100-timeout", "5", "--data-binary",
                 f"@{path}", f"https://localhost:{p.port()}/echo")
        elapsed = time.monotonic() - t0
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["body_length"], 2 * 1024 * 1024)
        self.assertEqual(doc["body_sha256"], sha256_file(path))
        self.assertLess(elapsed, 4, "curl waited for its expect-100 timeout: no 100 Continue")


class Pipelining(CiapTestCase):

    def test_pipelined_requests_answered_in_order(self):
        """3 requests in one TLS write get 3 responses in order, each with its own x-request-id."""
        up = self.start_upstream()
        p = self.proxy(upstream=up)
        s = tls_socket(p.port())
        self.addCleanup(s.close)
        paths = ["/delay/300", "/echo", "/chunked/3"]
        ids = ["pipe-1", "pipe-2", "pipe-3"]
        data = b"".join(b"GET %s HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: %s\r\n\r\n"
                        % (pth.encode(), rid.encode()) for pth, rid in zip(paths, ids))
        s.sendall(data)
        f = s.makefile("rb")
        rs = [read_response(f) for _ in range(3)]
        self.assertEqual([r.status for r in rs], [200, 200, 200])
        self.assertEqual([r.header("x-request-id") for r in rs], ids)
        self.assertEqual(rs[0].body, b"ok")
        self.assertEqual(rs[1].json()["path"], "/echo")
        self.assertEqual(header_map(rs[1].json()["headers"])["x-request-id"], ["pipe-2"])
        self.assertEqual(rs[2].body, b"chunk 0\nchunk 1\nchunk 2\n")

    def test_requests_in_separate_records_of_one_segment(self):
        """Two TLS records arriving in one TCP segment: ciap reads ahead, so the second request
        waits in OpenSSL's buffer while the socket is empty; it is answered without the client
        sending anything more (a session that waited on the socket would hang here)."""
        up = self.start_upstream()
        p = self.proxy(upstream=up)
        s = tls_socket(p.port())
        self.addCleanup(s.close)
        s.settimeout(5)
        for round_ in range(3):  # also after the connection went idle in between
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
            for rid in (f"cork-{round_}-a", f"cork-{round_}-b"):
                s.sendall(b"GET /echo HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: %s\r\n\r\n"
                          % rid.encode())  # one TLS record each
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
            f = s.makefile("rb")
            rs = [read_response(f) for _ in range(2)]
            self.assertEqual([r.status for r in rs], [200, 200])
            self.assertEqual([r.header("x-request-id") for r in rs],
                             [f"cork-{round_}-a", f"cork-{round_}-b"])
            time.sleep(0.3)

    def test_pipelined_posts_with_bodies(self):
        """Pipelined POSTs with Content-Length and chunked bodies are framed correctly."""
        up = self.start_upstream()
        p = self.proxy(upstream=up)
        s = tls_socket(p.port())
        self.addCleanup(s.close)
        data = (b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello"
                b"POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
                b"GET /echo HTTP/1.1\r\nHost: localhost\r\n\r\n")
        s.sendall(data)
        f = s.makefile("rb")
        lens = [read_response(f).json()["body_length"] for _ in range(3)]
        self.assertEqual(lens, [5, 7, 0])


class Limits(CiapTestCase):

    def test_431_header_too_large(self):
        """A 100 KB header (max_header_bytes 65536) gets 431 and never reaches the upstream."""
        up = self.start_upstream()
        p = self.proxy(upstream=up, listener_kw={"limits": {"max_header_bytes": 65536}})
        s = tls_socket(p.port())
        self.addCleanup(s.close)
        req = (b"GET /echo HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * (100 * 1024)
               + b"\r\n\r\n")
        try:
            s.sendall(req)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass
        r = read_response(s.makefile("rb"))
        self.assertEqual(r.status, 431, r)
        self.assertEqual(up.request_count, 0)
        # A 30 KB header is below the limit and passes.
        r = request(p.port(), "GET", "/echo", headers={"X-Big": "b" * 30000})
        self.assertEqual(r.status, 200)
        self.assertEqual(header_map(r.json()["headers"])["x-big"], ["b" * 30000])

    def test_431_too_many_headers(self):
        """More headers than max_headers (100) gets 431; 50 headers pass."""
        up = self.start_upstream()
        p = self.proxy(upstream=up, listener_kw={"limits": {"max_headers": 100}})
        s = tls_socket(p.port())
        self.addCleanup(s.close)
        req = (b"GET /echo HTTP/1.1\r\nHost: localhost\r\n"
               + b"".join(b"X-H%d: v\r\n" % i for i in range(150)) + b"\r\n")
        s.sendall(req)
        r = read_response(s.makefile("rb"))
        self.assertEqual(r.status, 431, r)
        self.assertEqual(up.request_count, 0)
        r = request(p.port(), "GET", "/echo", headers={f"X-H{i}": "v" for i in range(50)})
        self.assertEqual(r.status, 200)

    def test_408_header_timeout(self):
        """Half a request line then silence past header_timeout (1s) gets 408 and the connection closed."""
        up = self.start_upstream()
        p = self.proxy(upstream=up, listener_kw={"limits": {"header_timeout": "1s"}})
        s = tls_socket(p.port())
        self.addCleanup(s.close)
        s.sendall(b"GET /ec")
        t0 = time.monotonic()
        s.settimeout(6)
        f = s.makefile("rb")
        r = read_response(f)
        elapsed = time.monotonic() - t0
        self.assertEqual(r.status, 408, r)
        self.assertGreaterEqual(elapsed, 0.9)
        self.assertLess(elapsed, 4)
        self.assertTrue(is_closed(s), "connection still open after 408")
        self.assertEqual(up.request_count, 0)

    def test_idle_connection_without_bytes_not_408(self):
        """A connection idle before its first byte is not sent a 408 after header_timeout."""
        up = self.start_upstream()
        p = self.proxy(upstream=up, listener_kw={"limits": {"header_timeout": "1s"}})
        s = tls_socket(p.port())
        self.addCleanup(s.close)
        s.settimeout(1.6)
        try:
            data = s.recv(100)
        except socket.timeout:
            data = None
        self.assertFalse(data and data.startswith(b"HTTP/1.1 408"), data)
        if data is None:  # still open: a request now works
            s.sendall(b"GET /echo HTTP/1.1\r\nHost: localhost\r\n\r\n")
            s.settimeout(5)
            self.assertEqual(read_response(s.makefile("rb")).status, 200)


class Headers(CiapTestCase):

    def test_request_id_generated_and_unique(self):
        """Without x-request-id, ciap generates a non-empty unique one and sends the same to the upstream."""
        up = self.start_upstream()
        p = self.proxy(upstream=up)
        c = conn(p.port())
        self.addCleanup(c.close)
        ids = []
        for _ in range(20):
            r = request_on(c, "GET", "/echo")
            rid = r.header("x-request-id")
            self.assertTrue(rid)
            self.assertEqual(r.headers_named("x-request-id"), [rid])
            self.assertEqual(header_map(r.json()["headers"]).get("x-request-id"), [rid])
            ids.append(rid)
        r = request(p.port(), "GET", "/nothing-special")
        ids.append(r.header("x-request-id"))
        self.assertEqual(len(set(ids)), 21, ids)

    def test_request_id_preserved(self):
        """A client's x-request-id is kept: the upstream receives it and the response carries it."""
        up = self.start_upstream()
        p = self.proxy(upstream=up)
        rid = "client-supplied-id-12345"
        r = request(p.port(), "GET", "/echo", headers={"X-Request-Id": rid})
        self.assertEqual(r.header("x-request-id"), rid)
        self.assertEqual(header_map(r.json()["headers"]).get("x-request-id"), [rid])
        self.assertEqual(p.access_for(rid)["status"], 200)
        # Also on error responses produced by ciap itself.
        p2 = self.proxy(routes=[route("api", "app", match={"path_prefix": "/api/"})], upstream=up)
        r = request(p2.port(), "GET", "/nope", headers={"X-Request-Id": "rid-404"})
        self.assertEqual(r.status, 404)
        self.assertEqual(r.header("x-request-id"), "rid-404")
        self.assertEqual(r.json()["request_id"], "rid-404")

    def test_hop_by_hop_request_headers_stripped(self):
        """Hop-by-hop request headers, and headers named in Connection, never reach the upstream."""
        up = self.start_upstream()
        p = self.proxy(upstream=up)
        s = tls_socket(p.port())
        self.addCleanup(s.close)
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: localhost\r\n"
                  b"Connection: keep-alive, X-Custom-Hop\r\n"
                  b"X-Custom-Hop: secret\r\n"
                  b"Keep-Alive: timeout=5\r\n"
                  b"Proxy-Connection: keep-alive\r\n"
                  b"TE: trailers\r\n"
                  b"Trailer: X-Something\r\n"
                  b"Upgrade: h2c\r\n"
                  b"Proxy-Authorization: Basic c2VjcmV0OnNlY3JldA==\r\n"
                  b"X-End-To-End: kept\r\n\r\n")
        f = s.makefile("rb")
        r = read_response(f)
        self.assertEqual(r.status, 200, r)
        got = header_map(r.json()["headers"])
        leaked = [h for h in HOP_BY_HOP + ["x-custom-hop"]
                  if h in got and not (h == "connection" and got[h] == ["keep-alive"])]
        self.assertEqual(leaked, [], got)
        self.assertEqual(got.get("x-end-to-end"), ["kept"])

    def test_hop_by_hop_response_headers_stripped(self):
        """Hop-by-hop response headers from the upstream never reach the client."""
        up = self.start_upstream()
        p = self.proxy(upstream=up)
        s = tls_socket(p.port())
        self.addCleanup(s.close)
        s.sendall(b"GET /hop-by-hop HTTP/1.1\r\nHost: localhost\r\n\r\n")
        f = s.makefile("rb")
        r = read_response(f)
        self.assertEqual((r.status, r.body), (200, b"hop"))
        got = header_map(r.header_list)
        self.assertNotIn("x-custom-hop", got)
        self.assertNotIn("proxy-connection", got)
        self.assertNotIn("trailer", got)
        self.assertNotIn("upgrade", got)
        self.assertNotIn("te", got)
        self.assertNotIn("timeout=99, max=77", got.get("keep-alive", []))
        self.assertNotIn("x-custom-hop", ",".join(got.get("connection", [])).lower())
        self.assertEqual(got.get("x-end-to-end"), ["kept"])
        # the client connection is still usable
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: localhost\r\n\r\n")
        self.assertEqual(read_response(f).status, 200)


class Robustness(CiapTestCase):

    def test_upstream_closing_idle_connection_get_retried(self):
        """A GET on a pooled connection the upstream has just closed is retried on a new one (200, not 502)."""
        up = self.start_upstream()
        p = self.proxy(upstream=up, args=["--concurrency", "1"])
        for i in range(3):
            self.assertEqual(request(p.port(), "GET", "/echo").status, 200)
            self.assertTrue(up.wait_for(lambda u: u.idle_connections == 1, 3))
            self.assertEqual(up.close_idle(), 1)
            if i == 1:
                time.sleep(0.2)  # once with ciap having seen the FIN, the others racing it
        r = request(p.port(), "GET", "/echo")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(up.request_count, 4)

    def test_upstream_closing_idle_connection_post(self):
        """A POST after the upstream closed its idle pooled connection (200 ms earlier) gets 200, not 502."""
        up = self.start_upstream()
        p = self.proxy(upstream=up, args=["--concurrency", "1"])
        self.assertEqual(request(p.port(), "GET", "/echo").status, 200)
        self.assertTrue(up.wait_for(lambda u: u.idle_connections == 1, 3))
        up.close_idle()
        time.sleep(0.2)
        r = request(p.port(), "POST", "/echo", body=b"x" * 1000)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["body_length"], 1000)

    def test_upstream_idle_timeout_closes_pooled_connection(self):
        """An upstream idle_timeout of 1s closes the pooled connection after about 1s."""
        up = self.start_upstream()
        from ciaptest import upstream_cfg
        p = self.proxy(upstreams=[upstream_cfg("app", up, idle_timeout="1s")])
        self.assertEqual(request(p.port(), "GET", "/echo").status, 200)
        t0 = time.monotonic()
        self.assertTrue(up.wait_for(lambda u: u.active_connections == 0, 5),
                        "pooled upstream connection still open 5s after a 1s idle_timeout")
        self.assertGreaterEqual(time.monotonic() - t0, 0.7)
        self.assertEqual(request(p.port(), "GET", "/echo").status, 200)
        self.assertEqual(up.accepted, 2)

    def test_listener_idle_timeout_closes_keepalive_connection(self):
        """A keep-alive client idle past the listener idle_timeout (1s) is disconnected."""
        up = self.start_upstream()
        p = self.proxy(upstream=up, listener_kw={"limits": {"idle_timeout": "1s"}})
        s = tls_socket(p.port())
        self.addCleanup(s.close)
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: localhost\r\n\r\n")
        f = s.makefile("rb")
        self.assertEqual(read_response(f).status, 200)
        t0 = time.monotonic()
        s.settimeout(5)
        try:
            data = s.recv(1)
        except (ConnectionResetError, ssl.SSLError):
            data = b""
        self.assertEqual(data, b"")
        elapsed = time.monotonic() - t0
        self.assertGreaterEqual(elapsed, 0.7)
        self.assertLess(elapsed, 4)

    def test_listener_max_connections(self):
        """With max_connections 2 a third simultaneous client connection is refused; a slot freed is reusable."""
        up = self.start_upstream()
        p = self.proxy(upstream=up, listener_kw={"limits": {"max_connections": 2}},
                       args=["--concurrency", "1"])
        held = []
        for _ in range(2):
            c = conn(p.port())
            self.addCleanup(c.close)
            self.assertEqual(request_on(c, "GET", "/echo").status, 200)
            held.append(c)
        refused = False
        try:
            r = request(p.port(), "GET", "/echo", timeout=5)
            refused = r.status >= 500
        except (OSError, ssl.SSLError, ConnectionError):
            refused = True
        import http.client
        self.assertTrue(refused, "third connection was served")
        held[0].close()
        time.sleep(0.2)
        try:
            ok = request(p.port(), "GET", "/echo", timeout=5).status == 200
        except (OSError, http.client.HTTPException):
            ok = False
        self.assertTrue(ok, "a freed connection slot was not reusable")

    def test_head_and_bodyless_statuses_keep_framing(self):
        """HEAD, 204 and 304 responses carry no body and the connection stays in sync."""
        up = self.start_upstream()
        p = self.proxy(upstream=up)
        s = tls_socket(p.port())
        self.addCleanup(s.close)
        f = s.makefile("rb")
        s.sendall(b"HEAD /bytes/1000 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        r = read_response(f, head=True)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("content-length"), "1000")
        for code in (204, 304):
            s.sendall(b"GET /status/%d HTTP/1.1\r\nHost: localhost\r\n\r\n" % code)
            r = read_response(f)
            self.assertEqual((r.status, r.body), (code, b""))
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: localhost\r\n\r\n")
        r = read_response(f)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["path"], "/echo")

    def test_content_length_and_chunked_conflict(self):
        """A request with both Content-Length and chunked is refused (400) or forwarded chunked-only; never desynchronised."""
        up = self.start_upstream()
        p = self.proxy(upstream=up)
        s = tls_socket(p.port())
        self.addCleanup(s.close)
        s.settimeout(5)
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                  b"GET /echo?second HTTP/1.1\r\nHost: localhost\r\n\r\n")
        f = s.makefile("rb")
        r = read_response(f)
        if r.status == 400:
            self.assertEqual(up.request_count, 0)
            return
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        self.assertEqual(doc["body_length"], 5)
        self.assertNotIn("content-length", header_map(doc["headers"]))
        r2 = read_response(f)
        self.assertEqual(r2.json()["target"], "/echo?second")
        self.assertEqual(up.request_count, 2)

    def test_conflicting_content_lengths_400(self):
        """Two different Content-Length values get 400 and nothing reaches the upstream."""
        up = self.start_upstream()
        p = self.proxy(upstream=up)
        s = tls_socket(p.port())
        self.addCleanup(s.close)
        s.settimeout(5)
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
                  b"Content-Length: 6\r\n\r\nhello!")
        r = read_response(s.makefile("rb"))
        self.assertEqual(r.status, 400, r)
        self.assertEqual(up.request_count, 0)

    def test_garbage_request_400(self):
        """A malformed request line gets 400 and nothing reaches the upstream."""
        up = self.start_upstream()
        p = self.proxy(upstream=up)
        s = tls_socket(p.port())
        self.addCleanup(s.close)
        s.settimeout(5)
        s.sendall(b"THIS IS NOT HTTP\r\n\r\n")
        r = read_response(s.makefile("rb"))
        self.assertEqual(r.status, 400, r)
        self.assertEqual(up.accepted, 0)

    def test_absolute_form_target(self):
        """An absolute-form request target is routed by its authority and sent upstream in origin form."""
        up = self.start_upstream()
        p = self.proxy(routes=[route("wild", "app", match={"host": "*.ciap.test"})], upstream=up)
        s = tls_socket(p.port(), sni="foo.ciap.test")
        self.addCleanup(s.close)
        s.settimeout(5)
        s.sendall(b"GET https://foo.ciap.test/echo?a=1 HTTP/1.1\r\nHost: foo.ciap.test\r\n\r\n")
        r = read_response(s.makefile("rb"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["target"], "/echo?a=1")

    def test_client_abort_mid_download_then_next_request_ok(self):
        """A client closing in the middle of a 200 MB download leaves ciap serving correctly (no reuse of the dirty upstream connection)."""
        up = self.start_upstream()
        p = self.proxy(upstream=up, args=["--concurrency", "1"])
        s = tls_socket(p.port())
        s.sendall(b"GET /bytes/200000000 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        got = 0
        while got < (1 << 20):
            d = s.recv(65536)
            self.assertTrue(d)
            got += len(d)
        s.close()
        time.sleep(0.3)
        for _ in range(3):
            r = request(p.port(), "GET", "/echo", timeout=10)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["path"], "/echo")
        self.assertTrue(p.running())

    def test_client_abort_while_waiting_for_upstream(self):
        """A client leaving during a slow upstream response does not break later requests."""
        up = self.start_upstream()
        p = self.proxy(upstream=up, args=["--concurrency", "1"])
        s = tls_socket(p.port())
        s.sendall(b"GET /delay/800 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        self.assertTrue(up.wait_for(lambda u: u.request_count >= 1, 3))
        s.close()
        for _ in range(3):
            r = request(p.port(), "GET", "/echo", timeout=10)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["path"], "/echo")
        time.sleep(1.0)
        r = request(p.port(), "GET", "/echo", timeout=10)
        self.assertEqual(r.json()["path"], "/echo")
        self.assertTrue(p.running())

    def test_concurrent_keepalive_clients(self):
        """16 concurrent keep-alive clients x 25 requests all get their own correct 200 responses."""
        up = self.start_upstream()
        p = self.proxy(upstream=up)
        import threading
        errors, ids = [], []
        lock = threading.Lock()

        def client(k):
            c = conn(p.port(), timeout=20)
            try:
                for i in range(25):
                    r = request_on(c, "GET", f"/echo?c={k}&i={i}")
                    doc = r.json()
                    if r.status != 200 or doc["target"] != f"/echo?c={k}&i={i}":
                        with lock:
                            errors.append((k, i, r.status, doc.get("target")))
                    with lock:
                        ids.append(r.header("x-request-id"))
            except Exception as e:  # noqa: BLE001
                with lock:
                    errors.append((k, repr(e)))
            finally:
                c.close()

        threads = [threading.Thread(target=client, args=(k,)) for k in range(16)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])
        self.assertEqual(len(ids), 400)
        self.assertEqual(len(set(ids)), 400)
        self.assertEqual(up.request_count, 400)
        self.assertLess(time.monotonic() - t0, 30)


if __name__ == "__main__":
    unittest.main()
