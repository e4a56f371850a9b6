#!/usr/bin/env python3
"""Identity sources beyond JWTs, against strict emulations of their counterparts on 127.0.0.1:
GitLab job and access tokens (gitlab_emulator.py), RFC 7662 introspection (the real
oidc-provider), client certificates (curl and openssl with the test PKI) and AWS IAM (an STS
emulator that checks SigV4 with botocore, sts_emulator.py).

Each source: accepted credentials reach the upstream without the credential and with the
caller's claims; refused ones are 401 with their reason; a source that is down, slow or
answers garbage is 503 identity_source_unavailable within its timeout and nothing is forwarded;
concurrent first requests with one credential make one call; nothing secret is logged.
"""

import concurrent.futures
import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ciaptest import (CiapTestCase, make_config, plain_listener, request, route,  # noqa: E402
                      upstream_cfg, wait_until)
from gitlab_emulator import GitLabEmulator  # noqa: E402

JOB_TOKEN = "glcbt-64_job-token-for-tests-0001"
PAT = "glpat-abcdefghijklmnopqrst"


def identity_route(name="r", **kw):
    r = route(name, "app", authenticate=True, request_headers={"identity": True}, **kw)
    del r["public"]
    return r


class SourceTestCase(CiapTestCase):
    """A plaintext listener with one authenticated route to an echo upstream."""

    def start_proxy(self, providers, routes=None, listener=None, **kw):
        self.up = self.start_upstream()
        lst = listener or plain_listener("plain", routes or [identity_route()])
        cfg = make_config([upstream_cfg("app", f"127.0.0.1:{self.up.port}")], [lst])
        cfg["identity_providers"] = providers
        self.ciap = self.start_ciap(cfg, **kw)
        self.port = self.ciap.port()
        return self.ciap

    def get(self, headers=None, path="/echo", port=None):
        return request(port or self.port, "GET", path, headers=headers or {}, tls=False)

    def assert_refused(self, response, status, reason):
        self.assertEqual(response.status, status, response.body[:300])
        self.assertEqual(json.loads(response.body)["reason"], reason)

    def assert_secret_nowhere(self, *secrets):
        """No credential in ciap's logs, metrics, /config or /jwks-status."""
        places = {
            "stderr": "\n".join(self.ciap.stderr_lines),
            "stdout": "\n".join(self.ciap.stdout_lines),
            "access log": json.dumps(self.ciap.access_log()),
            "metrics": self.ciap.metrics().text,
            "/config": self.ciap.admin_get("/config")[2].decode(),
            "/jwks-status": self.ciap.admin_get("/jwks-status")[2].decode(),
        }
        for secret in secrets:
            for where, text in places.items():
                self.assertNotIn(secret, text, f"a credential in {where}")


class GitLabJobTokenTest(SourceTestCase):
    def setUp(self):
        super().setUp()
        self.gl = GitLabEmulator().start()
        self.addCleanup(self.gl.stop)

    def provider(self, **kw):
        p = {"name": "gitlab-jobs", "type": "gitlab_job_token", "url": self.gl.url,
             "bound_claims": {"namespace_path": "acme/platform"}, "timeout": "1s"}
        p.update(kw)
        return p

    def test_running_job_is_the_caller_and_its_token_is_not_forwarded(self):
        job = self.gl.add_job(JOB_TOKEN, project_path="acme/platform/app", ref="main")
        self.start_proxy([self.provider()])
        r = self.get({"JOB-TOKEN": JOB_TOKEN})
        self.assertEqual(r.status, 200, r.body[:300])
        seen = {k.lower(): v for k, v in r.json()["headers"]}
        self.assertNotIn("job-token", seen)
        self.assertEqual(seen["x-ciap-provider"], "gitlab-jobs")
        self.assertEqual(seen["x-ciap-subject"],
                         "project_path:acme/platform/app:ref_type:branch:ref:main")
        self.assertEqual(self.gl.auth_uses["JOB-TOKEN"], 1)
        self.assertEqual(self.gl.query_token_uses, 0)
        entry = self.ciap.wait_access(lambda e: e.get("status") == 200)[-1]
        self.assertEqual(entry.get("provider"), "gitlab-jobs")
        self.assertEqual(str(entry.get("job_id")), str(job["id"]))
        self.assert_secret_nowhere(JOB_TOKEN)

    def test_unknown_other_namespace_and_missing_tokens_are_refused(self):
        self.gl.add_job(JOB_TOKEN, project_path="evil/platform/app")
        self.start_proxy([self.provider()])
        self.assert_refused(self.get({"JOB-TOKEN": "glcbt-unknown"}), 401, "invalid_token")
        self.assert_refused(self.get({"JOB-TOKEN": JOB_TOKEN}), 401, "bound_claims")
        self.assert_refused(self.get(), 401, "missing_token")
        self.assertEqual(self.up.request_count, 0)

    def test_finished_job_is_refused_once_cache_ttl_passes(self):
        self.gl.add_job(JOB_TOKEN, project_path="acme/platform/app")
        self.start_proxy([self.provider(cache_ttl="1s")])
        self.assertEqual(self.get({"JOB-TOKEN": JOB_TOKEN}).status, 200)
        self.assertEqual(self.get({"JOB-TOKEN": JOB_TOKEN}).status, 200)
        self.assertEqual(self.gl.hits["/api/v4/job"], 1, "the second request is cached")
        self.gl.finish_job(JOB_TOKEN)
        time.sleep(1.2)
        self.assert_refused(self.get({"JOB-TOKEN": JOB_TOKEN}), 401, "invalid_token")
        self.assertEqual(self.gl.hits["/api/v4/job"], 2)

    def test_twenty_concurrent_first_requests_make_one_lookup(self):
        self.gl.add_job(JOB_TOKEN, project_path="acme/platform/app")
        self.gl.slow_seconds = 0.3  # the first lookup is still running when the rest arrive
        self.gl.set_mode("slow")
        self.start_proxy([self.provider()])
        barrier = threading.Barrier(20)

        def one(_):
            barrier.wait()
            return self.get({"JOB-TOKEN": JOB_TOKEN}).status

        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            statuses = list(pool.map(one, range(20)))
        self.assertEqual(statuses, [200] * 20)
        self.assertEqual(self.gl.hits["/api/v4/job"], 1)
        m = self.ciap.metrics()
        self.assertEqual(m.value("ciap_identity_lookups_total", provider="gitlab-jobs",
                                 result="accepted"), 1)

    def test_source_down_slow_or_garbage_is_503_in_bounded_time_then_served_again(self):
        self.gl.add_job(JOB_TOKEN, project_path="acme/platform/app")
        self.start_proxy([self.provider(timeout="1s")])
        self.gl.slow_seconds = 3
        for mode in ("down", "slow", "garbage", "error"):
            with self.subTest(mode=mode):
                self.gl.set_mode(mode)
                start = time.monotonic()
                r = self.get({"JOB-TOKEN": JOB_TOKEN})
                took = time.monotonic() - start
                self.assert_refused(r, 503, "identity_source_unavailable")
                self.assertLess(took, 2.1, f"{mode}: answered after {took:.2f} s")
        self.assertEqual(self.up.request_count, 0, "nothing forwarded while the source is out")
        self.gl.set_mode("normal")
        self.assertEqual(self.get({"JOB-TOKEN": JOB_TOKEN}).status, 200)
        m = self.ciap.metrics()
        self.assertGreaterEqual(m.value("ciap_identity_lookups_total", provider="gitlab-jobs",
                                        result="unavailable"), 4)
        self.assertGreaterEqual(m.value("ciap_authn_total", provider="gitlab-jobs",
                                        reason="identity_source_unavailable"), 4)
        self.assert_secret_nowhere(JOB_TOKEN)


class GitLabAccessTokenTest(SourceTestCase):
    def setUp(self):
        super().setUp()
        self.gl = GitLabEmulator().start()
        self.addCleanup(self.gl.stop)

    def provider(self, **kw):
        p = {"name": "gitlab-tokens", "type": "gitlab_access_token", "url": self.gl.url,
             "token_prefixes": ["glpat-"], "bound_claims": {"user_login": "project_42_bot*"}}
        p.update(kw)
        return p

    def test_project_bot_token_with_read_api_is_the_caller(self):
        self.gl.add_access_token(PAT, scopes=["read_api"],
                                 user={"id": 77, "username": "project_42_bot_1a2b", "bot": True})
        self.start_proxy([self.provider()])
        r = self.get({"PRIVATE-TOKEN": PAT})
        self.assertEqual(r.status, 200, r.body[:300])
        seen = {k.lower(): v for k, v in r.json()["headers"]}
        self.assertEqual(seen["x-ciap-subject"], "user:project_42_bot_1a2b")
        self.assertNotIn("private-token", seen)
        self.assert_secret_nowhere(PAT)

    def test_revoked_expired_other_user_and_other_prefix_are_refused(self):
        self.gl.add_access_token(PAT, user={"username": "alice", "bot": False})
        self.gl.add_access_token("glpat-revoked0000000000", revoked=True)
        self.gl.add_access_token("glpat-expired0000000000", expires_at="2020-01-01")
        self.start_proxy([self.provider()])
        self.assert_refused(self.get({"PRIVATE-TOKEN": PAT}), 401, "bound_claims")
        self.assert_refused(self.get({"PRIVATE-TOKEN": "glpat-revoked0000000000"}), 401,
                            "invalid_token")
        self.assert_refused(self.get({"PRIVATE-TOKEN": "glpat-expired0000000000"}), 401,
                            "invalid_token")
        # Not this provider's prefix: no provider owns it, and GitLab is not asked.
        calls = sum(self.gl.hits.values())
        self.assertEqual(self.get({"PRIVATE-TOKEN": "other-token"}).status, 401)
        self.assertEqual(sum(self.gl.hits.values()), calls)

    def test_without_read_user_the_login_is_absent_and_rules_on_it_fail_closed(self):
        self.gl.add_access_token(PAT, scopes=["read_repository"],
                                 user={"username": "project_42_bot_1a2b", "bot": True})
        self.start_proxy([self.provider()])
        self.assert_refused(self.get({"PRIVATE-TOKEN": PAT}), 401, "bound_claims")


if __name__ == "__main__":
    unittest.main()
