#!/usr/bin/env python3
"""`replay: single_use`: a token's jti is accepted once on the route, by any worker of the
process, and stays used across a config reload; a token without jti is refused there; other
routes are not affected; refusals are 401, audited and counted. Tokens minted with jose.
"""

import concurrent.futures
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ciaptest import (CiapTestCase, make_config, request, route, tls_listener,  # noqa: E402
                      to_yaml, upstream_cfg, wait_until)
from test_identity import buildkite_callers, require_node, vendor_payloads  # noqa: E402
from test_reload import write_atomically  # noqa: E402


class SingleUseTest(CiapTestCase):
    def setUp(self):
        super().setUp()
        require_node()
        base = vendor_payloads(int(time.time()))["buildkite"]
        payloads = [dict(base, jti=f"jti-{i:04d}") for i in range(4)] + [base]  # last: no jti
        self.tokens, provider = buildkite_callers(self.tmp, payloads)
        self.up = self.start_upstream()
        mint_route = route("mint", "app", match={"path_prefix": "/mint"}, authenticate=True,
                           replay="single_use")
        other = route("other", "app", match={"path_prefix": "/"}, authenticate=True)
        for r in (mint_route, other):
            r.pop("public")
        cfg = make_config([upstream_cfg("app", f"127.0.0.1:{self.up.port}")],
                          [tls_listener("agents", [mint_route, other])])
        cfg["identity_providers"] = [provider]
        self.ciap = self.start_ciap(cfg)

    def get(self, token, path="/mint/key"):
        return request(self.ciap.port(), "GET", path,
                       headers={"Authorization": "Bearer " + self.tokens[token]})

    def assert_refused(self, response, reason):
        self.assertEqual(response.status, 401, response.body[:300])
        self.assertEqual(json.loads(response.body)["reason"], reason)
        self.assertIn('error="invalid_token"', response.header("WWW-Authenticate"))

    def test_a_token_is_good_once_on_the_route_and_as_often_as_it_likes_elsewhere(self):
        self.assertEqual(self.get(0).status, 200)
        self.assert_refused(self.get(0), "token_replayed")
        self.assertEqual(self.get(1).status, 200, "another token is another jti")
        for _ in range(3):
            self.assertEqual(self.get(0, "/other").status, 200)
        self.assertEqual(self.up.request_count, 2 + 3)
        audit = []

        def audited():
            with open(self.ciap.access_log_path, encoding="utf-8") as f:
                audit[:] = [json.loads(line) for line in f if '"token_replayed"' in line
                            and '"type":"audit"' in line]
            return bool(audit)
        self.assertTrue(wait_until(audited, timeout=5))
        self.assertEqual(audit[-1]["jti"], "jti-0000")
        self.assertEqual(audit[-1]["decision"], "deny")
        self.assertEqual(audit[-1]["route"], "mint")
        self.assertNotIn(self.tokens[0], json.dumps(audit))
        m = self.ciap.metrics()
        self.assertEqual(m.value("ciap_replay_total", route="mint", result="accepted"), 2)
        self.assertEqual(m.value("ciap_replay_total", route="mint", result="replayed"), 1)

    def test_a_token_without_jti_is_refused(self):
        self.assert_refused(self.get(4), "missing_jti")
        self.assertEqual(self.up.request_count, 0)
        self.assertEqual(self.ciap.metrics().value("ciap_replay_total", result="missing_jti"), 1)

    def test_concurrent_uses_on_every_worker_let_exactly_one_through(self):
        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            statuses = sorted(pool.map(lambda _: self.get(2).status, range(20)))
        self.assertEqual(statuses, [200] + [401] * 19)
        self.assertEqual(self.up.request_count, 1)

    def test_a_reload_does_not_make_a_used_token_good_again(self):
        self.assertEqual(self.get(3).status, 200)
        cfg = self.ciap.config
        cfg["listeners"][0]["limits"] = {"max_headers": 99}  # an unrelated change
        write_atomically(self.ciap.config_path, to_yaml(cfg))
        self.assertTrue(wait_until(lambda: self.ciap.metrics().value(
            "ciap_config_reloads_total", result="success") >= 1, timeout=10))
        self.assert_refused(self.get(3), "token_replayed")


if __name__ == "__main__":
    unittest.main()
