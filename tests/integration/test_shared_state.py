#!/usr/bin/env python3
"""State shared by replicas: two ciap processes and a real redis-server on 127.0.0.1.

- `scope: global`: one subject hammered through both replicas for 10 s gets burst + rate x time
  accepted (+-15%), where two independent buckets would give twice that; another subject has
  its own bucket.
- `replay: single_use` with shared_state: a token is accepted once across both replicas.
- Redis killed mid-run and started again: on_failure local, deny and allow as documented, no
  request waits past the timeout, global behaviour back within 5 s, errors counted.
- A wrong Redis password shows in /ready and the log (never a silent allow).
"""

import concurrent.futures
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ciaptest import (CiapTestCase, conn, make_config, request, route,  # noqa: E402
                      tls_listener, upstream_cfg, wait_until)
from test_identity import buildkite_callers, require_node, vendor_payloads  # noqa: E402

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
PASSWORD = "redis-test-password"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    def __init__(self, workdir, password=PASSWORD):
        self.workdir = workdir
        self.password = password
        self.port = free_port()
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--requirepass", self.password, "--dir", self.workdir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class SharedStateTest(CiapTestCase):
    def setUp(self):
        super().setUp()
        if not os.path.exists(REDIS):
            self.skipTest("needs redis-server (Debian: apt-get install redis-server)")
        require_node()
        base = vendor_payloads(int(time.time()))["buildkite"]
        other = dict(base, sub=base["sub"] + "-other", jti="jti-other")
        self.tokens, self.provider = buildkite_callers(
            self.tmp, [dict(base, jti="jti-a"), other])
        self.redis = RedisServer(self.tmp).start()
        self.addCleanup(self.redis.stop)
        self.up = self.start_upstream()

    def config(self, on_failure="local", password=PASSWORD, rate=5, burst=10):
        limited = route("limited", "app", match={"path_prefix": "/limited"}, authenticate=True,
                        rate_limit={"per": "subject", "requests_per_second": rate,
                                    "burst": burst, "scope": "global"})
        once = route("once", "app", match={"path_prefix": "/once"}, authenticate=True,
                     replay="single_use")
        for r in (limited, once):
            r.pop("public")
        cfg = make_config([upstream_cfg("app", f"127.0.0.1:{self.up.port}")],
                          [tls_listener("agents", [limited, once])])
        cfg["identity_providers"] = [self.provider]
        cfg["shared_state"] = {"redis": {"address": f"127.0.0.1:{self.redis.port}",
                                         "password": password, "timeout": "100ms"},
                               "on_failure": on_failure}
        return cfg

    def get(self, ciap, path="/limited/x", token=0):
        return request(ciap.port(), "GET", path,
                       headers={"Authorization": "Bearer " + self.tokens[token]})

    def test_a_global_limit_holds_across_two_replicas(self):
        replicas = [self.start_ciap(self.config()), self.start_ciap(self.config())]
        accepted = [0]
        lock = threading.Lock()
        stop = time.monotonic() + 10

        def hammer(i):
            c = conn(replicas[i % 2].port())
            while time.monotonic() < stop:
                c.request("GET", "/limited/x", headers={"Authorization": "Bearer "
                                                        + self.tokens[0]})
                r = c.getresponse()
                r.read()
                if r.status == 200:
                    with lock:
                        accepted[0] += 1
                else:
                    self.assertEqual(r.status, 429)
                time.sleep(0.01)
            c.close()
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            list(pool.map(hammer, range(4)))
        expected = 10 + 5 * 10
        self.assertGreaterEqual(accepted[0], expected * 0.85, accepted)
        self.assertLessEqual(accepted[0], expected * 1.15, accepted)
        # Another subject has a bucket of its own.
        statuses = [self.get(replicas[i % 2], token=1).status for i in range(12)]
        self.assertGreaterEqual(statuses.count(200), 10, statuses)
        self.assertEqual(sum(r.metrics().value("ciap_shared_state_errors_total")
                             for r in replicas), 0)

    def test_a_single_use_token_is_accepted_once_across_replicas(self):
        a, b = self.start_ciap(self.config()), self.start_ciap(self.config())
        self.assertEqual(self.get(a, "/once/mint").status, 200)
        for replica in (b, a):
            r = self.get(replica, "/once/mint")
            self.assertEqual(r.status, 401)
            self.assertEqual(json.loads(r.body)["reason"], "token_replayed")
        self.assertEqual(self.up.request_count, 1)

    def kill_and_check(self, on_failure, expect):
        ciap = self.start_ciap(self.config(on_failure, burst=3, rate=0.1))
        self.assertEqual(self.get(ciap).status, 200)
        self.redis.stop()
        statuses = []
        for _ in range(5):
            started = time.monotonic()
            statuses.append(self.get(ciap).status)
            self.assertLess(time.monotonic() - started, 1.0, "waited past the timeout")
        self.assertEqual(statuses, expect)
        self.assertGreaterEqual(ciap.metrics().value("ciap_shared_state_errors_total",
                                                     op="rate_limit"), 5)
        # Back: the global bucket (1 of 3 used before the outage) decides again within 5 s.
        self.redis.start()
        self.assertTrue(wait_until(lambda: self.get(ciap, token=1).status == 200, timeout=5))
        return ciap

    def test_redis_down_with_on_failure_local_uses_the_process_bucket(self):
        # The process's own bucket (burst 3) was not touched while Redis decided: 3 then 429.
        self.kill_and_check("local", [200, 200, 200, 429, 429])

    def test_redis_down_with_on_failure_deny_is_503(self):
        self.kill_and_check("deny", [503] * 5)

    def test_redis_down_with_on_failure_allow_lets_through_and_counts(self):
        self.kill_and_check("allow", [200] * 5)

    def test_a_stalled_redis_costs_each_request_at_most_the_timeout(self):
        ciap = self.start_ciap(self.config("deny"))
        self.assertEqual(self.get(ciap).status, 200)
        self.redis.proc.send_signal(signal.SIGSTOP)
        try:
            started = time.monotonic()
            r = self.get(ciap)
            self.assertEqual(r.status, 503)
            self.assertLess(time.monotonic() - started, 0.6)
        finally:
            self.redis.proc.send_signal(signal.SIGCONT)
        self.assertTrue(wait_until(lambda: self.get(ciap, token=1).status == 200, timeout=5))

    def test_a_wrong_password_is_reported_never_a_silent_allow(self):
        ciap = self.start_ciap(self.config("allow", password="not-the-password"))
        self.assertTrue(wait_until(lambda: ciap.admin_get("/ready")[0] == 503, timeout=10))
        status, _, body = ciap.admin_get("/ready")
        self.assertIn(b"Redis refused", body)
        self.assertTrue(wait_until(lambda: ciap.event("redis connection failed")))
        self.assertEqual(self.get(ciap).status, 200, "allow, as configured")
        self.assertGreaterEqual(ciap.metrics().value("ciap_shared_state_errors_total"), 1)
        self.assertNotIn("not-the-password", "\n".join(ciap.stderr_lines))


if __name__ == "__main__":
    unittest.main()
