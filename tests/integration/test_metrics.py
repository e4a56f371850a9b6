"""ciap integration tests: admin server (/metrics, /healthz, /ready, /config)."""

import hashlib
import json
import re
import signal
import threading
import time
import unittest

from ciaptest import (CiapTestCase, conn, request, request_on, route, run_ciap, wait_until)


class MetricsCounters(CiapTestCase):

    def test_request_counters_and_histogram(self):
        """After N requests per (route, code), ciap_requests_total and the duration histogram count grow by exactly N."""
        up = self.start_upstream()
        routes = [route("echo", "app", match={"path_prefix": "/echo"}),
                  route("status", "app", match={"path_prefix": "/status/"})]
        p = self.proxy(routes=routes, upstream=up)
        before = p.metrics()
        c = conn(p.port())
        self.addCleanup(c.close)
        plan = [("/echo", 200, 5), ("/status/503", 503, 3), ("/nowhere", 404, 2),
                ("/status/201", 201, 1)]
        for path, code, n in plan:
            for _ in range(n):
                self.assertEqual(request_on(c, "GET", path).status, code)
        c.close()
        expect = {("echo", "200"): 5, ("status", "503"): 3, ("-", "404"): 2, ("status", "201"): 1}

        def delta(m, name, **labels):
            return m.value(name, **labels) - before.value(name, **labels)

        def settled():
            m = p.metrics()
            return all(delta(m, "ciap_requests_total", listener="agents", route=r, code=code) == n
                       for (r, code), n in expect.items())
        wait_until(settled, timeout=3)
        after = p.metrics()
        for (r, code), n in expect.items():
            self.assertEqual(delta(after, "ciap_requests_total", listener="agents", route=r, code=code), n,
                             f"ciap_requests_total route={r} code={code}")
        self.assertEqual(delta(after, "ciap_requests_total"), 11, "total over all label sets")
        for r, n in (("echo", 5), ("status", 4), ("-", 2)):
            self.assertEqual(delta(after, "ciap_request_duration_seconds_count", listener="agents", route=r), n,
                             f"duration count route={r}")
            self.assertEqual(
                delta(after, "ciap_request_duration_seconds_bucket", listener="agents", route=r, le="+Inf"), n,
                f"+Inf bucket route={r}")
        self.assertGreater(delta(after, "ciap_request_duration_seconds_sum", listener="agents", route="echo"), 0)
        self.assertEqual(delta(after, "ciap_upstream_requests_total", upstream="app", code="200"), 5)
        self.assertEqual(delta(after, "ciap_upstream_requests_total", upstream="app", code="503"), 3)
        self.assertEqual(delta(after, "ciap_upstream_requests_total", upstream="app", code="201"), 1)
        self.assertEqual(delta(after, "ciap_upstream_requests_total"), 9, "404s must not count upstream")
        self.assertEqual(after.types.get("ciap_requests_total"), "counter")
        self.assertEqual(after.types.get("ciap_request_duration_seconds"), "histogram")
        self.assertEqual(after.types.get("ciap_upstream_connections"), "gauge")
        self.assertEqual(after.types.get("ciap_downstream_connections"), "gauge")

    def test_connection_gauges(self):
        """Downstream and upstream connection gauges follow open, in-flight and idle connections."""
        up = self.start_upstream()
        p = self.proxy(upstream=up, args=["--concurrency", "1"])
        c = conn(p.port())
        self.addCleanup(c.close)
        self.assertEqual(request_on(c, "GET", "/echo").status, 200)
        m = p.metrics()
        self.assertGreaterEqual(m.value("ciap_downstream_connections", listener="agents"), 1)
        self.assertTrue(wait_until(lambda: p.metrics().value(
            "ciap_upstream_connections", upstream="app", state="idle") == 1, 3),
            p.metrics().find("ciap_upstream_connections"))
        self.assertEqual(p.metrics().value("ciap_upstream_connections", upstream="app", state="active"), 0)
        # During a slow request the pooled connection is active.
        t = threading.Thread(target=lambda: request_on(c, "GET", "/delay/1000"))
        t.start()
        self.addCleanup(t.join, 10)
        self.assertTrue(up.wait_for(lambda u: u.request_count >= 2, 3))
        time.sleep(0.1)
        m = p.metrics()
        self.assertEqual(m.value("ciap_upstream_connections", upstream="app", state="active"), 1,
                         m.find("ciap_upstream_connections"))
        t.join(10)
        c.close()
        self.assertTrue(wait_until(lambda: p.metrics().value(
            "ciap_downstream_connections", listener="agents") == 0, 3),
            p.metrics().find("ciap_downstream_connections"))
        self.assertEqual(p.metrics().value("ciap_upstream_connections", upstream="app", state="active"), 0)
        self.assertEqual(up.accepted, 1)


class AdminEndpoints(CiapTestCase):

    def test_healthz_ready_config_build_info(self):
        """/healthz and /ready are 200, /config is JSON with the file's sha256 hash, build_info carries the version."""
        up = self.start_upstream()
        p = self.proxy(upstream=up)
        status, _, body = p.admin_get("/healthz")
        self.assertEqual(status, 200)
        status, _, body = p.admin_get("/ready")
        self.assertEqual(status, 200)
        status, headers, body = p.admin_get("/config")
        self.assertEqual(status, 200)
        doc = json.loads(body)
        self.assertIn("hash", doc)
        with open(p.config_path, "rb") as f:
            want = hashlib.sha256(f.read()).hexdigest()
        self.assertEqual(doc["hash"], want)
        self.assertIn("agents", body.decode())
        m = p.metrics()
        info = m.find("ciap_build_info")
        self.assertEqual(len(info), 1, info)
        labels, value = info[0]
        self.assertEqual(value, 1)
        version = run_ciap("version").stdout
        self.assertTrue(labels.get("version"))
        self.assertIn(labels["version"], version)
        status, _, _ = p.admin_get("/no-such-admin-page")
        self.assertEqual(status, 404)

    def test_ready_not_200_while_draining(self):
        """After SIGTERM, while a request is still in flight, /ready no longer answers 200."""
        up = self.start_upstream()
        p = self.proxy(upstream=up, args=["--drain-timeout", "10s"])
        result = {}
        t = threading.Thread(target=lambda: result.update(
            status=request(p.port(), "GET", "/delay/2000", timeout=20).status))
        t.start()
        self.addCleanup(t.join, 20)
        self.assertTrue(up.wait_for(lambda u: u.request_count >= 1, 5))
        p.signal(signal.SIGTERM)
        time.sleep(0.3)
        try:
            status, _, _ = p.admin_get("/ready", timeout=2)
        except OSError as e:
            status = f"connection error: {e!r}"
        self.assertNotEqual(status, 200)
        if isinstance(status, int):
            self.assertEqual(status, 503)
        t.join(20)
        self.assertEqual(result.get("status"), 200)
        self.assertEqual(p.wait(15), 0)


if __name__ == "__main__":
    unittest.main()
