"""ciap integration tests: routing, error statuses, access log, CLI, shutdown."""

import json
import os
import re
import signal
import socket
import ssl
import threading
import time
import unittest

from ciaptest import (CiapTestCase, conn, make_config, plain_listener, request, request_on,
                      route, run_ciap, tls_listener, upstream_cfg, wait_until)


def closed_port():
    """A 127.0.0.1 port with nothing listening (bound once, then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class RoutingAndErrors(CiapTestCase):

    def test_route_200_body_and_status(self):
        """A request matching a route is proxied: upstream's status, body and headers come back."""
        up = self.start_upstream()
        p = self.proxy(upstream=up)
        r = request(p.port(), "GET", "/echo?x=1")
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        self.assertEqual(doc["method"], "GET")
        self.assertEqual(doc["target"], "/echo?x=1")
        self.assertEqual(r.header("x-upstream"), "app")
        r2 = request(p.port(), "GET", "/anything")
        self.assertEqual((r2.status, r2.body), (200, b"ok"))
        r3 = request(p.port(), "GET", "/status/418")
        self.assertEqual((r3.status, r3.body), (418, b"status 418"))
        self.assertEqual(up.request_count, 3)
        # Three digits, but not an HTTP status (RFC 9110 allows 100-599): never relayed.
        r4 = request(p.port(), "GET", "/status/689")
        self.assertEqual((r4.status, r4.json()["reason"]), (502, "upstream_bad_response"))

    def test_access_log_fields(self):
        """Each request yields one access-log JSON line with the documented fields and values."""
        up = self.start_upstream()
        p = self.proxy(routes=[route("main", "app")], upstream=up)
        body = b"z" * 1234
        r = request(p.port(), "POST", "/x/../echo?q=1", body=body,
                    headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(r.status, 200, r)
        rid = r.header("x-request-id")
        self.assertTrue(rid)
        rec = p.access_for(rid)
        self.assertEqual(rec["type"], "access")
        self.assertEqual(rec["listener"], "agents")
        self.assertEqual(rec["route"], "main")
        self.assertEqual(rec["method"], "POST")
        self.assertEqual(rec["path"], "/echo")  # normalized, no query
        self.assertEqual(rec["status"], 200)
        self.assertIsInstance(rec["status"], int)
        self.assertEqual(rec["bytes_in"], 1234)
        self.assertEqual(rec["bytes_out"], len(r.body))
        self.assertEqual(rec["upstream"], "app")
        self.assertEqual(rec["client"], "127.0.0.1")
        self.assertIsInstance(rec["duration_ms"], (int, float))
        self.assertGreaterEqual(rec["duration_ms"], 0)
        self.assertRegex(rec["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
        self.assertEqual(up.last_request()["body_length"], 1234)
        self.assertEqual(len(p.wait_access(lambda x: x.get("request_id") == rid, timeout=0.3)), 1)

    def test_access_log_default_stdout(self):
        """Without a logging section the access log goes to stdout, flushed within a second."""
        up = self.start_upstream()
        p = self.proxy(upstream=up, access_log="stdout")
        r = request(p.port(), "GET", "/echo", headers={"X-Request-Id": "stdout-log-check"})
        self.assertEqual(r.status, 200)
        recs = p.wait_access(lambda x: x.get("request_id") == "stdout-log-check", timeout=2.0)
        self.assertEqual(len(recs), 1, p.stdout_lines[-5:])
        self.assertEqual(recs[0]["status"], 200)
        self.assertEqual(recs[0]["path"], "/echo")

    def test_404_no_route_no_upstream_connection(self):
        """A request matching no route gets a 404 JSON error and never opens an upstream connection."""
        up = self.start_upstream()
        p = self.proxy(routes=[route("api", "app", match={"path_prefix": "/api/"})], upstream=up)
        r = request(p.port(), "GET", "/other/thing")
        self.assertEqual(r.status, 404, r)
        doc = r.json()
        for k in ("error", "reason", "request_id"):
            self.assertIn(k, doc)
        rid = r.header("x-request-id")
        self.assertTrue(rid)
        self.assertEqual(doc["request_id"], rid)
        rec = p.access_for(rid)
        self.assertEqual(rec["route"], "-")
        self.assertEqual(rec["status"], 404)
        self.assertEqual(rec["upstream"], "-")
        time.sleep(0.3)
        self.assertEqual(up.accepted, 0)
        self.assertEqual(up.request_count, 0)

    def test_502_upstream_connect_refused(self):
        """An upstream whose endpoint refuses connections yields 502 (with a request id)."""
        port = closed_port()
        p = self.proxy(upstreams=[upstream_cfg("app", port)])
        t0 = time.monotonic()
        r = request(p.port(), "GET", "/echo")
        self.assertEqual(r.status, 502, r)
        self.assertLess(time.monotonic() - t0, 5)
        rid = r.header("x-request-id")
        self.assertTrue(rid)
        rec = p.access_for(rid)
        self.assertEqual(rec["status"], 502)
        self.assertEqual(rec["route"], "all")

    def test_504_route_timeout(self):
        """An upstream slower than the route timeout (500ms vs 3s) yields 504 after about 500ms."""
        up = self.start_upstream()
        p = self.proxy(routes=[route("slow", "app", timeout="500ms")], upstream=up)
        t0 = time.monotonic()
        r = request(p.port(), "GET", "/delay/3000")
        elapsed = time.monotonic() - t0
        self.assertEqual(r.status, 504, r)
        self.assertGreaterEqual(elapsed, 0.45)
        self.assertLess(elapsed, 2.5)
        rec = p.access_for(r.header("x-request-id"))
        self.assertEqual(rec["status"], 504)
        # A fast request on the same route is still fine.
        self.assertEqual(request(p.port(), "GET", "/delay/50").status, 200)

    def test_route_matching(self):
        """Routes match by host (exact, *.suffix), path (exact, prefix, regex), method and header; first wins."""
        up = self.start_upstream()
        routes = [
            route("host_exact", "app", match={"host": "exact.test"}),
            route("host_wild", "app", match={"host": "*.ciap.test"}),
            route("path_exact", "app", match={"path": "/exact"}),
            route("path_prefix", "app", match={"path_prefix": "/prefix/"}),
            route("path_regex", "app", match={"path_regex": "/items/[0-9]+"}),
            route("method", "app", match={"path_prefix": "/m/", "methods": ["DELETE", "PUT"]}),
            route("header", "app", match={"path_prefix": "/h/",
                                          "headers": [{"name": "x-env", "exact": "prod"}]}),
            route("combo", "app", match={"host": "*.combo.test", "path_prefix": "/api/",
                                         "methods": ["GET"],
                                         "headers": [{"name": "x-env", "exact": "prod"}]}),
        ]
        p = self.proxy(routes=routes, upstream=up, tls=False)
        port = p.port("plain")
        cases = [
            # (method, host, path, extra headers, expected route or None for 404)
            ("GET", "exact.test", "/anything", {}, "host_exact"),
            ("GET", "EXACT.TEST:8443", "/anything", {}, "host_exact"),
            ("GET", "foo.ciap.test", "/x", {}, "host_wild"),
            ("GET", "a.b.ciap.test", "/x", {}, "host_wild"),
            ("GET", "ciap.test", "/x", {}, None),
            ("GET", "other.test", "/exact", {}, "path_exact"),
            ("GET", "other.test", "/exact/", {}, None),
            ("GET", "other.test", "/exactly", {}, None),
            ("GET", "other.test", "/prefix/a/b", {}, "path_prefix"),
            ("GET", "other.test", "/prefix", {}, None),
            ("GET", "other.test", "/items/42", {}, "path_regex"),
            ("GET", "other.test", "/items/4a", {}, None),
            ("GET", "other.test", "/items/42/x", {}, None),
            ("DELETE", "other.test", "/m/1", {}, "method"),
            ("PUT", "other.test", "/m/1", {}, "method"),
            ("GET", "other.test", "/m/1", {}, None),
            ("GET", "other.test", "/h/1", {"X-Env": "prod"}, "header"),
            ("GET", "other.test", "/h/1", {"X-Env": "dev"}, None),
            ("GET", "other.test", "/h/1", {}, None),
            ("GET", "x.combo.test", "/api/v", {"x-env": "prod"}, "combo"),
            ("POST", "x.combo.test", "/api/v", {"x-env": "prod"}, None),
            ("GET", "x.combo.test", "/v", {"x-env": "prod"}, None),
            ("GET", "x.combo.test", "/api/v", {"x-env": "staging"}, None),
        ]
        c = conn(port, tls=False)
        self.addCleanup(c.close)
        failures = []
        for i, (method, host, path, hdrs, want) in enumerate(cases):
            rid = f"match-{i}"
            h = {"Host": host, "X-Request-Id": rid, **hdrs}
            body = b"" if method in ("PUT", "POST") else None
            c.request(method, path, body=body, headers=h)
            resp = c.getresponse()
            resp.read()
            got_status = resp.status
            rec = p.access_for(rid)
            got_route = rec["route"] if rec["route"] != "-" else None
            want_status = 200 if want else 404
            if (got_status, got_route) != (want_status, want):
                failures.append(f"{method} Host:{host} {path} {hdrs}: got {got_status}/{got_route}, "
                                f"want {want_status}/{want}")
        self.assertEqual(failures, [])
        self.assertEqual(up.request_count, sum(1 for c_ in cases if c_[4]))

    def test_route_host_wildcard_over_tls(self):
        """Over TLS, SNI and Host foo.ciap.test reach the *.ciap.test route; other hosts fall through."""
        up = self.start_upstream()
        routes = [route("wild", "app", match={"host": "*.ciap.test"}),
                  route("rest", "app", match={"path_prefix": "/rest/"})]
        p = self.proxy(routes=routes, upstream=up)
        r = request(p.port(), "GET", "/echo", sni="foo.ciap.test",
                    headers={"Host": "foo.ciap.test", "X-Request-Id": "tls-wild"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(p.access_for("tls-wild")["route"], "wild")
        r = request(p.port(), "GET", "/echo", sni="localhost",
                    headers={"Host": "localhost", "X-Request-Id": "tls-none"})
        self.assertEqual(r.status, 404, r)
        self.assertEqual(p.access_for("tls-none")["route"], "-")

    def test_route_request_headers_set_remove(self):
        """request_headers.set replaces/adds headers and .remove drops them (case-insensitive)."""
        up = self.start_upstream()
        routes = [route("hdr", "app", request_headers={
            "set": {"X-Added": "v", "X-Override": "from-ciap"},
            "remove": ["X-Drop", "x-drop-too"]})]
        p = self.proxy(routes=routes, upstream=up)
        c = conn(p.port())
        self.addCleanup(c.close)
        c.putrequest("GET", "/echo")
        c.putheader("X-Override", "from-client")
        c.putheader("X-Drop", "1")
        c.putheader("x-DROP", "2")
        c.putheader("X-Drop-Too", "3")
        c.putheader("X-Keep", "kept")
        c.endheaders()
        resp = c.getresponse()
        doc = json.loads(resp.read())
        self.assertEqual(resp.status, 200)
        got = {}
        for k, v in doc["headers"]:
            got.setdefault(k.lower(), []).append(v)
        self.assertEqual(got.get("x-added"), ["v"])
        self.assertEqual(got.get("x-override"), ["from-ciap"])
        self.assertNotIn("x-drop", got)
        self.assertNotIn("x-drop-too", got)
        self.assertEqual(got.get("x-keep"), ["kept"])

    def test_round_robin_endpoints(self):
        """An upstream with two endpoints spreads concurrent requests over both."""
        a = self.start_upstream("a")
        b = self.start_upstream("b")
        p = self.proxy(upstreams=[upstream_cfg("app", a, b)])
        results = []

        def one():
            results.append(request(p.port(), "GET", "/delay/300").status)

        threads = [threading.Thread(target=one) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(results, [200] * 6)
        self.assertGreaterEqual(a.request_count, 1)
        self.assertGreaterEqual(b.request_count, 1)
        self.assertEqual(a.request_count + b.request_count, 6)

    def test_forwarded_headers(self):
        """The upstream gets X-Forwarded-For (appended) and X-Forwarded-Proto https/http."""
        up = self.start_upstream()
        cfg = make_config([upstream_cfg("app", up)],
                          [tls_listener("agents", [route("t", "app")]),
                           plain_listener("plain", [route("p", "app")])])
        p = self.start_ciap(cfg)

        def hdrs(resp):
            out = {}
            for k, v in resp.json()["headers"]:
                out.setdefault(k.lower(), []).append(v)
            return out

        h = hdrs(request(p.port("agents"), "GET", "/echo"))
        self.assertEqual(h.get("x-forwarded-for"), ["127.0.0.1"])
        self.assertEqual(h.get("x-forwarded-proto"), ["https"])
        h = hdrs(request(p.port("plain"), "GET", "/echo", tls=False))
        self.assertEqual(h.get("x-forwarded-proto"), ["http"])
        self.assertEqual(h.get("x-forwarded-for"), ["127.0.0.1"])
        h = hdrs(request(p.port("agents"), "GET", "/echo",
                         headers={"X-Forwarded-For": "203.0.113.9"}))
        xff = ",".join(h.get("x-forwarded-for", []))
        self.assertEqual([s.strip() for s in xff.split(",")], ["203.0.113.9", "127.0.0.1"])


    def test_path_normalized_before_routing(self):
        """Routing, the access log and the upstream all see the normalized path; unsafe paths get 400."""
        up = self.start_upstream()
        p = self.proxy(routes=[route("public", "app", match={"path_prefix": "/public/"})], upstream=up)
        c = conn(p.port())
        self.addCleanup(c.close)
        cases = [("/public/../admin/x", 404, None),
                 ("/public/%2e%2e/admin", 404, None),
                 ("/public/./a//b/../echo", 200, "/public/a/echo"),
                 ("/x/../public/echo?q=1", 200, "/public/echo?q=1")]
        for i, (path, status, target) in enumerate(cases):
            rid = f"norm-{i}"
            r = request_on(c, "GET", path, headers={"X-Request-Id": rid})
            self.assertEqual(r.status, status, path)
            if target:
                self.assertEqual(up.last_request()["target"], target)
            self.assertEqual(p.access_for(rid)["path"], target.split("?")[0] if target else
                             ("/admin/x" if i == 0 else "/admin"))
        r = request(p.port(), "GET", "/public/a%2Fb")
        self.assertEqual(r.status, 400, r)
        self.assertEqual(up.request_count, 2)

    def test_route_timeout_on_stalled_response_body(self):
        """An upstream stalling mid-body longer than the route timeout gets the client connection cut, not hung."""
        up = self.start_upstream()
        p = self.proxy(routes=[route("slow", "app", timeout="500ms")], upstream=up)
        from ciaptest import tls_socket, read_response
        s = tls_socket(p.port())
        self.addCleanup(s.close)
        s.settimeout(8)
        t0 = time.monotonic()
        s.sendall(b"GET /stall-body/4000 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        try:
            r = read_response(s.makefile("rb"))
            self.fail(f"got a complete response after {time.monotonic() - t0:.1f}s: {r}")
        except (EOFError, ConnectionResetError, ssl.SSLError) as e:
            detail = repr(e)
        elapsed = time.monotonic() - t0
        self.assertLess(elapsed, 3.0, detail)


class Cli(CiapTestCase):

    def test_version(self):
        """`ciap version` exits 0 and prints a semantic version."""
        r = run_ciap("version")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout + r.stderr, r"\d+\.\d+\.\d+")

    def test_validate(self):
        """`ciap validate` exits 0 on a good config and 1 on a bad one, naming the problem."""
        good = os.path.join(self.tmp, "good.yaml")
        bad = os.path.join(self.tmp, "bad.yaml")
        from ciaptest import to_yaml
        cfg = make_config([upstream_cfg("app", 9)], [tls_listener("agents", [route("r", "app")])])
        with open(good, "w") as f:
            f.write(to_yaml(cfg))
        cfg["listeners"][0]["routes"][0]["upstream"] = "nope"
        with open(bad, "w") as f:
            f.write(to_yaml(cfg))
        r = run_ciap("validate", "-c", good)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = run_ciap("validate", "-c", bad)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        out = r.stdout + r.stderr
        self.assertIn("bad.yaml", out)
        self.assertIn("nope", out)
        r = run_ciap("validate", "-c", os.path.join(self.tmp, "missing.yaml"))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)

    def test_run_refuses_bad_config(self):
        """`ciap run` with an invalid config exits non-zero without serving."""
        bad = os.path.join(self.tmp, "bad.yaml")
        with open(bad, "w") as f:
            f.write("listeners: [ {name: x, address: nowhere} ]\n")
        r = run_ciap("run", "-c", bad, timeout=20)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("bad.yaml", r.stdout + r.stderr)


class Shutdown(CiapTestCase):

    def test_sigterm_drains_inflight_request(self):
        """SIGTERM while /delay/1500 is in flight: the request completes with 200 and ciap exits 0."""
        up = self.start_upstream()
        p = self.proxy(upstream=up, args=["--drain-timeout", "10s"])
        result = {}

        def slow():
            try:
                r = request(p.port(), "GET", "/delay/1500", timeout=20)
                result["status"], result["body"] = r.status, r.body
            except Exception as e:  # noqa: BLE001
                result["error"] = repr(e)

        t = threading.Thread(target=slow)
        t.start()
        self.assertTrue(up.wait_for(lambda u: u.request_count >= 1, 5), "request never reached upstream")
        t0 = time.monotonic()
        p.signal(signal.SIGTERM)
        t.join(20)
        self.assertEqual(result.get("status"), 200, result)
        self.assertEqual(result.get("body"), b"ok")
        rc = p.wait(15)
        self.assertEqual(rc, 0, p.stderr_tail())
        self.assertLess(time.monotonic() - t0, 12)

    def test_sigterm_idle_exits_promptly(self):
        """SIGTERM on an idle ciap (with an idle keep-alive client) exits 0 well before the drain timeout."""
        up = self.start_upstream()
        p = self.proxy(upstream=up, args=["--drain-timeout", "10s"])
        c = conn(p.port())
        self.addCleanup(c.close)
        self.assertEqual(request_on(c, "GET", "/echo").status, 200)
        t0 = time.monotonic()
        p.signal(signal.SIGTERM)
        rc = p.wait(15)
        self.assertEqual(rc, 0, p.stderr_tail())
        self.assertLess(time.monotonic() - t0, 5)


if __name__ == "__main__":
    unittest.main()
