"""Overload protection (issue 5, acceptance 3): 2,000 slowloris connections, and separately
2,000 idle keep-alive connections, while a well-behaved client keeps a 100% success rate and a
p99 under 100 ms; the per-listener and process-wide connection caps; the upstream pool's
bounded queue (503 upstream_queue_full instead of unbounded waiting).
"""

import resource
import socket
import threading
import time
import unittest

from ciaptest import (CiapTestCase, log, make_config, plain_listener, request, route,
                      upstream_cfg, wait_until)

ATTACKERS = 2000


def raise_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(need, soft)), hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        raise unittest.SkipTest(f"needs {need} file descriptors, the limit is {soft}")


def p99(samples):
    s = sorted(samples)
    return s[min(len(s) - 1, int(len(s) * 0.99))]


class WellBehavedClient:
    """Requests on fresh connections, one after another, recording latency and outcome."""

    def __init__(self, port, path="/"):
        self.port, self.path = port, path
        self.latencies, self.failures = [], []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            start = time.perf_counter()
            try:
                r = request(self.port, path=self.path, tls=False, timeout=5)
                if r.status != 200:
                    self.failures.append(r.status)
            except OSError as e:
                self.failures.append(repr(e))
            self.latencies.append(time.perf_counter() - start)
            time.sleep(0.01)

    def run_for(self, seconds):
        self._thread.start()
        time.sleep(seconds)
        self._stop.set()
        self._thread.join(10)


class Overload(CiapTestCase):
    def setUp(self):
        raise_fd_limit(ATTACKERS + 500)
        super().setUp()
        self.up = self.start_upstream()

    def start(self, limits=None, top=None, upstream_kw=None):
        cfg = make_config([upstream_cfg("app", self.up, **(upstream_kw or {}))],
                          [plain_listener("plain", [route("all", "app")], limits=limits)])
        cfg.update(top or {})
        return self.start_ciap(cfg)

    def assert_unharmed(self, client, situation):
        """The well-behaved client: every request succeeded, p99 under 100 ms."""
        n, worst = len(client.latencies), p99(client.latencies)
        log(f"{situation}: {n} requests, {len(client.failures)} failed, "
            f"p99 {worst * 1000:.1f} ms")
        self.assertEqual(client.failures, [])
        self.assertGreater(n, 100)
        self.assertLess(worst, 0.100)

    def open_connections(self, port, n, first_bytes=b""):
        socks = []
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            if first_bytes:
                s.sendall(first_bytes)
            socks.append(s)
        self.addCleanup(lambda: [s.close() for s in socks])
        return socks

    def test_slowloris(self):
        p = self.start(limits={"header_timeout": "3s"})
        port = p.port()
        socks = self.open_connections(port, ATTACKERS, b"GET / HTTP/1.1\r\nHost: x\r\n")
        stop = threading.Event()
        reopened = [0]

        def drip():
            # One more header byte per connection per second, never finishing the head; a
            # connection ciap times out is replaced at once (a real slowloris keeps its count).
            while not stop.is_set():
                for i, s in enumerate(socks):
                    try:
                        s.send(b"X")
                    except OSError:
                        s.close()
                        try:
                            socks[i] = socket.create_connection(("127.0.0.1", port), timeout=10)
                            socks[i].sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX")
                            reopened[0] += 1
                        except OSError:
                            pass
                stop.wait(1.0)

        t = threading.Thread(target=drip, daemon=True)
        t.start()
        self.assertTrue(wait_until(
            lambda: (p.metrics().value("ciap_downstream_connections", listener="plain") or 0)
            >= ATTACKERS, timeout=10))
        client = WellBehavedClient(port)
        client.run_for(8)  # past header_timeout: the attackers are cut off and come back
        stop.set()
        t.join(10)
        self.assert_unharmed(client, f"slowloris x{ATTACKERS} ({reopened[0]} reconnects after "
                                     "408)")
        self.assertGreater(reopened[0], 0, "header_timeout never cut a slowloris connection")
        timeouts = p.metrics().value("ciap_requests_total", listener="plain", route="-",
                                     code="408") or 0
        self.assertGreater(timeouts, 0)

    def test_idle_keep_alive_connections(self):
        p = self.start()
        port = p.port()
        socks = self.open_connections(port, ATTACKERS)
        # One request each (in batches, so the upstream pool is not the bottleneck), then idle
        # with the connection open.
        for i in range(0, len(socks), 100):
            batch = socks[i:i + 100]
            for s in batch:
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            for s in batch:
                self.assertIn(b"200 OK", s.recv(65536))
        client = WellBehavedClient(port)
        client.run_for(5)
        self.assert_unharmed(client, f"{ATTACKERS} idle keep-alive connections")
        self.assertGreaterEqual(
            p.metrics().value("ciap_downstream_connections", listener="plain"), ATTACKERS)

    def test_connection_caps(self):
        p = self.start(limits={"max_connections": 30}, top={"limits": {"max_connections": 1000}})
        port = p.port()
        socks = self.open_connections(port, 40)
        self.assertTrue(wait_until(lambda: (p.metrics().value(
            "ciap_downstream_connections_total", listener="plain", result="rejected") or 0) >= 10))
        self.assertEqual(p.metrics().value("ciap_downstream_connections", listener="plain"), 30)
        for s in socks:
            s.close()
        self.assertTrue(wait_until(lambda: p.metrics().value(
            "ciap_downstream_connections", listener="plain") == 0))
        self.assertEqual(request(port, tls=False).status, 200)
        # The process-wide cap counts every listener's connections together.
        q = self.start(top={"limits": {"max_connections": 20}})
        qport = q.port()
        socks = self.open_connections(qport, 25)
        self.assertTrue(wait_until(lambda: (q.metrics().value(
            "ciap_downstream_connections_total", listener="plain", result="rejected") or 0) >= 5))
        self.assertEqual(q.metrics().value("ciap_downstream_connections", listener="plain"), 20)

    def test_upstream_queue_is_bounded(self):
        # One connection to the upstream and one waiter per worker (one worker here).
        cfg = make_config([upstream_cfg("app", self.up, max_connections=1, max_pending=1)],
                          [plain_listener("plain", [route("all", "app", timeout="10s")])])
        p = self.start_ciap(cfg, args=["--concurrency", "1"])
        port = p.port()
        results = {}

        def get(name, path):
            results[name] = request(port, path=path, tls=False, timeout=10)

        first = threading.Thread(target=get, args=("first", "/delay/1500"))
        first.start()
        self.assertTrue(self.up.wait_for(lambda u: u.request_count >= 1, timeout=5))
        second = threading.Thread(target=get, args=("second", "/delay/10"))
        second.start()
        time.sleep(0.3)  # the second one waits for the only connection
        third = request(port, path="/delay/10", tls=False)
        self.assertEqual(third.status, 503)
        self.assertEqual(third.json()["reason"], "upstream_queue_full")
        first.join(10)
        second.join(10)
        self.assertEqual(results["first"].status, 200)
        self.assertEqual(results["second"].status, 200)


if __name__ == "__main__":
    unittest.main()
