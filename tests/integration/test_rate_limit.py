"""The rate_limit filter end to end: token buckets per subject, per provider, per route and per
client address; 429 with Retry-After and a JSON reason; nothing reaches the upstream when
limited; refill over time; ciap_rate_limit_total; limits shared by all workers.

Tokens are minted by jose (tests/idp/mint-vendor.mjs), as in test_access.
"""

import time
import unittest

from ciaptest import CiapTestCase, make_config, plain_listener, request, upstream_cfg
from test_access import corp_provider, minted, require_node, wait_ready

ROUTES = [
    # per caller: 2 at once, then one every 2 s
    {"name": "subject", "match": {"path_prefix": "/subject/"}, "upstream": "app",
     "authenticate": True, "rate_limit": {"per": "subject", "requests_per_second": 0.5,
                                          "burst": 2}},
    {"name": "provider", "match": {"path_prefix": "/provider/"}, "upstream": "app",
     "authenticate": True, "rate_limit": {"per": "provider", "requests_per_second": 0.01,
                                          "burst": 3}},
    {"name": "route", "match": {"path_prefix": "/route/"}, "upstream": "app", "public": True,
     "rate_limit": {"per": "route", "requests_per_second": 0.01, "burst": 4}},
    {"name": "client", "match": {"path_prefix": "/client/"}, "upstream": "app", "public": True,
     "rate_limit": {"per": "client", "requests_per_second": 20}},
    {"name": "free", "upstream": "app", "public": True},
]


class RateLimit(CiapTestCase):
    def setUp(self):
        require_node()
        super().setUp()
        jwks, self.tokens = minted()
        self.up = self.start_upstream()
        cfg = make_config([upstream_cfg("app", self.up)], [plain_listener("plain", ROUTES)])
        cfg["identity_providers"] = [corp_provider(self.tmp, jwks)]
        # Two workers: the limits are per process, whichever worker a connection lands on.
        self.ciap = self.start_ciap(cfg, args=["--concurrency", "2"])
        wait_ready(self, self.ciap)

    def get(self, path, token=None):
        h = {"Authorization": f"Bearer {self.tokens[token]}"} if token else {}
        return request(self.ciap.port(), "GET", path, headers=h, tls=False)

    def upstream_hits(self, prefix):
        return sum(1 for r in self.up.requests if r["path"].startswith(prefix))

    def test_per_subject_bucket(self):
        codes = [self.get("/subject/x", "acme").status for _ in range(3)]
        self.assertEqual(codes, [200, 200, 429])
        limited = self.get("/subject/x", "acme")
        self.assertEqual(limited.status, 429)
        self.assertEqual(limited.json()["reason"], "rate_limited")
        retry = int(limited.header("Retry-After"))
        self.assertTrue(1 <= retry <= 2, retry)
        # Another caller has a bucket of its own.
        self.assertEqual(self.get("/subject/x", "not_pipeline").status, 200)
        self.assertEqual(self.upstream_hits("/subject/"), 3)
        # The bucket refills at 0.5/s: after Retry-After, one more.
        time.sleep(retry + 0.1)
        self.assertEqual(self.get("/subject/x", "acme").status, 200)
        self.assertEqual(self.get("/subject/x", "acme").status, 429)
        m = self.ciap.metrics()
        self.assertEqual(m.value("ciap_rate_limit_total", route="subject", result="allowed"), 4)
        self.assertEqual(m.value("ciap_rate_limit_total", route="subject", result="limited"), 3)
        # A rejected token is refused by identity before it can use up anyone's bucket.
        self.assertEqual(self.get("/subject/x").status, 401)

    def test_per_provider_bucket_is_shared_by_its_callers(self):
        codes = [self.get("/provider/x", t).status
                 for t in ("acme", "evil", "blocked", "not_pipeline")]
        self.assertEqual(codes, [200, 200, 200, 429])

    def test_per_route_bucket_on_a_public_route(self):
        codes = [self.get("/route/x").status for _ in range(6)]
        self.assertEqual(codes, [200] * 4 + [429] * 2)
        self.assertEqual(self.upstream_hits("/route/"), 4)
        # Other routes are not limited.
        self.assertEqual([self.get("/other").status for _ in range(10)], [200] * 10)

    def test_per_client_bucket_holds_across_workers(self):
        # 60 requests as fast as possible on new connections (spread over both workers): with a
        # burst of 20 and 20/s, about 20 + 20 * elapsed pass, never 2x that.
        start = time.monotonic()
        codes = [self.get("/client/x").status for _ in range(60)]
        elapsed = time.monotonic() - start
        allowed = codes.count(200)
        self.assertEqual(allowed + codes.count(429), 60)
        self.assertGreaterEqual(allowed, 20)
        self.assertLessEqual(allowed, 20 + 20 * elapsed + 1, (allowed, elapsed))
        self.assertGreater(codes.count(429), 0)


if __name__ == "__main__":
    unittest.main()
