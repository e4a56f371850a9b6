#!/usr/bin/env python3
"""HTTP/2's own attack classes against ciap, with raw frames from python3-h2 (h2_peer.py
--attack): rapid reset (CVE-2023-44487), an empty-frame flood, a CONTINUATION flood
(CVE-2024-27316 and its siblings), an HPACK bomb and more streams than the limit. Each is
refused with bounded work (GOAWAY, a stream reset or a 431; few or no upstream requests) and
bounded memory (ciap's RSS grows < 50 MiB over the whole module), while a well-behaved client on
its own connection keeps 100% success with p99 < 200 ms throughout."""

import json
import os
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ciaptest import (CiapTestCase, certs, conn, make_config, request_on, route,  # noqa: E402
                      tls_listener, upstream_cfg)
from test_http2 import PEER, python_with  # noqa: E402

ENHANCE_YOUR_CALM = 11
REFUSED_STREAM = 7


class BystanderClient(threading.Thread):
    """Requests /echo over its own keep-alive connection until stopped; keeps every latency."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.latencies, self.failures = port, [], []
        self.halt = threading.Event()

    def run(self):
        c = conn(self.port)
        while not self.halt.is_set():
            start = time.monotonic()
            try:
                r = request_on(c, "GET", "/echo")
                if r.status != 200:
                    self.failures.append(r.status)
            except Exception as e:  # noqa: BLE001 - any failure counts
                self.failures.append(repr(e))
                c = conn(self.port)
            self.latencies.append(time.monotonic() - start)
            time.sleep(0.01)

    def p99(self):
        values = sorted(self.latencies)
        return values[min(len(values) - 1, int(len(values) * 0.99))]


class Http2AttackTest(CiapTestCase):
    def setUp(self):
        super().setUp()
        self.python = python_with("h2")
        if self.python is None:
            self.skipTest("needs python3-h2")
        self.up = self.start_upstream()
        cfg = make_config([upstream_cfg("app", f"127.0.0.1:{self.up.port}")],
                          [tls_listener("agents", [route("all", "app")],
                                        limits={"max_concurrent_streams": 100,
                                                "max_header_bytes": 16384})])
        self.ciap = self.start_ciap(cfg)
        self.port = self.ciap.port()
        self.rss_before = self.rss_kib()
        self.bystander = BystanderClient(self.port)
        self.bystander.start()
        self.addCleanup(self.check_bystander)

    def rss_kib(self):
        return self.ciap.proc_status("VmRSS")

    def check_bystander(self):
        # An attack that ciap cuts off at once ends in milliseconds: let the bystander make
        # enough requests for its percentile to mean something.
        deadline = time.monotonic() + 5
        while len(self.bystander.latencies) < 30 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.bystander.halt.set()
        self.bystander.join(10)
        self.assertGreater(len(self.bystander.latencies), 5)
        self.assertEqual(self.bystander.failures, [])
        self.assertLess(self.bystander.p99(), 0.2)
        growth_mib = (self.rss_kib() - self.rss_before) / 1024
        self.assertLess(growth_mib, 50)

    def attacker_requests(self):
        """Requests of the attack that reached the upstream (the bystander asks for /echo)."""
        return len([r for r in self.up.requests if r["path"] == "/rapid"])

    def attack(self, name, count):
        out = subprocess.run([self.python, PEER, str(self.port), "--tls", "--ca", certs().ca,
                              "--attack", name, "--count", str(count)],
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        return json.loads(out.stdout)

    def test_rapid_reset_gets_goaway_and_little_upstream_work(self):
        out = self.attack("rapid_reset", 5000)
        self.assertEqual((out["goaway"] or {}).get("error_code"), ENHANCE_YOUR_CALM, out)
        # The streams ciap started before the budget ran out, at most.
        self.assertLess(self.attacker_requests(), 500)
        self.assertTrue(self.ciap.events_named("http2 connection abused: closed"))

    def test_empty_data_frames_spend_the_budget(self):
        out = self.attack("empty_data", 2000)
        self.assertEqual((out["goaway"] or {}).get("error_code"), ENHANCE_YOUR_CALM, out)

    def test_continuation_flood_closes_the_connection(self):
        out = self.attack("continuation_flood", 20000)
        self.assertTrue(out["goaway"] is not None or out["closed"], out)
        self.assertNotIn("200", out["statuses"])

    def test_hpack_bomb_is_refused_on_its_stream(self):
        out = self.attack("hpack_bomb", 2000)  # 8 MB decoded from a few KiB
        self.assertEqual(out["statuses"].get("431"), 1, out)
        self.assertEqual(out["statuses"].get("200"), 1, out)  # the first, small request

    def test_streams_past_the_limit_are_refused(self):
        out = self.attack("too_many_streams", 300)
        served = out["statuses"].get("200", 0)
        refused = out["resets"].get(str(REFUSED_STREAM), 0)
        self.assertGreater(refused, 0, out)
        self.assertEqual(served + refused, 300, out)
        self.assertEqual(len([r for r in self.up.requests if r["path"] == "/delay/300"]), served)


if __name__ == "__main__":
    unittest.main()
