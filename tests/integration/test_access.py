"""Access-policy integration tests: ciap's `access` filter end to end.

One plaintext listener, a jwks_file provider `corp` (groups_claim: teams) and tokens minted with
jose (tests/idp/mint-vendor.mjs). Routes:

- deploy:   allow [deployers] (all of: sub "pipeline:*", not job_id "blocked"), deny [evil]
            (organization_slug "evil"), identity headers upstream;
- shadowed: allow [evil], mode shadow (decides, counts and audits, lets everything through);
- teams:    allow ["corp:platform"] (a dynamic group from the teams claim);
- authonly: authenticate: true (any valid token); public and public-fwd: public: true, the
            second with forward_token.

Checked: status codes and JSON reasons, what reaches the upstream (x-ciap-* headers, spoofed
x-ciap-groups), the audit lines in the access-log file, ciap_authz_total, and that the caller's
token appears neither in the access log nor in /metrics.

Skipped when `node` or tests/idp/node_modules is missing (scripts/bootstrap runs `npm ci` there).
"""

import json
import os
import shutil
import time
import unittest

from ciaptest import (SOURCE_DIR, CiapTestCase, make_config, plain_listener, request,
                      sha256_file, upstream_cfg, wait_until)
from test_identity import mint

IDP_DIR = os.path.join(SOURCE_DIR, "tests", "idp")
NODE = shutil.which("node")
ISSUER = "https://idp.acme.internal"
AUDIENCE = "ciap-test"

GROUPS = {
    "deployers": {"all": [
        {"provider": "corp", "claims": {"sub": "pipeline:*"}},
        {"not": {"provider": "corp", "claims": {"job_id": "blocked"}}},
    ]},
    "evil": {"provider": "corp", "claims": {"organization_slug": "evil"}},
}

ROUTES = [
    {"name": "deploy", "match": {"path_prefix": "/deploy/"}, "upstream": "app",
     "allow": ["deployers"], "deny": ["evil"], "request_headers": {"identity": True}},
    {"name": "shadowed", "match": {"path_prefix": "/shadow/"}, "upstream": "app",
     "allow": ["evil"], "mode": "shadow"},
    {"name": "teams", "match": {"path_prefix": "/teams/"}, "upstream": "app",
     "allow": ["corp:platform"]},
    {"name": "authonly", "match": {"path_prefix": "/auth/"}, "upstream": "app",
     "authenticate": True},
    {"name": "public", "match": {"path_prefix": "/public/"}, "upstream": "app", "public": True},
    {"name": "public-fwd", "match": {"path_prefix": "/public-fwd/"}, "upstream": "app",
     "public": True, "forward_token": True},
]

# name -> claims beyond iss/aud/iat/exp
TOKENS = {
    "acme": {"sub": "pipeline:deploy", "organization_slug": "acme", "teams": ["platform"],
             "job_id": "job-1", "pipeline_slug": "deploy-api", "jti": "jti-acme-1"},
    "evil": {"sub": "pipeline:x", "organization_slug": "evil", "teams": ["platform"],
             "job_id": "job-2"},
    "blocked": {"sub": "pipeline:deploy", "organization_slug": "acme", "teams": ["platform"],
                "job_id": "blocked"},
    "not_pipeline": {"sub": "user:alice", "organization_slug": "acme", "teams": ["platform"]},
    "no_team": {"sub": "pipeline:deploy", "organization_slug": "acme", "teams": ["other"]},
}

_minted = None


def require_node():
    if NODE is None:
        raise unittest.SkipTest("access tests need `node` (Debian: apt-get install nodejs)")
    if not os.path.isdir(os.path.join(IDP_DIR, "node_modules")):
        raise unittest.SkipTest(f"access tests need {IDP_DIR}/node_modules "
                                "(run scripts/bootstrap, or `npm ci` in tests/idp)")


def mint_corp(payloads):
    """(jwks, {name: token}) for {name: claims}, signed with one `corp` key by jose; iss, aud
    and a 30-minute lifetime are added to each."""
    now = int(time.time())
    out = mint({"keys": [{"name": "corp"}],
                "tokens": [{"key": "corp", "payload": dict(claims, iss=ISSUER, aud=AUDIENCE,
                                                           iat=now - 5, exp=now + 1800)}
                           for claims in payloads.values()]})
    return out["jwks"]["corp"], dict(zip(payloads, out["tokens"]))


def minted():
    """(jwks, {name: token}): one key and the TOKENS, minted once per process."""
    global _minted
    if _minted is None:
        _minted = mint_corp(TOKENS)
    return _minted


def corp_provider(directory, jwks, **extra):
    """The `corp` provider, its key set written to a jwks_file in `directory`."""
    path = os.path.join(directory, "corp.jwks.json")
    with open(path, "w") as f:
        json.dump(jwks, f)
    return {"name": "corp", "type": "oidc", "issuer": ISSUER, "audiences": [AUDIENCE],
            "jwks_file": path, **extra}


def wait_ready(test, ciap):
    test.assertTrue(wait_until(lambda: ciap.admin_get("/ready")[0] == 200, 15, 0.05),
                    ciap.admin_get("/ready"))


def header_values(rec, name):
    return [v for k, v in rec["headers"] if k.lower() == name]


class AccessPolicy(CiapTestCase):

    def setUp(self):
        require_node()
        super().setUp()
        jwks, self.tokens = minted()
        self.up = self.start_upstream()
        cfg = make_config([upstream_cfg("app", self.up)], [plain_listener("plain", ROUTES)])
        cfg["identity_providers"] = [corp_provider(self.tmp, jwks, groups_claim="teams")]
        cfg["groups"] = GROUPS
        self.ciap = self.start_ciap(cfg, args=["--concurrency", "2"])
        self.assertTrue(self.ciap.access_log_path)
        wait_ready(self, self.ciap)

    # ----- helpers -----
    def get(self, path, token=None, headers=None):
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = f"Bearer {self.tokens[token]}"
        return request(self.ciap.port(), "GET", path, headers=h, tls=False)

    def log_lines(self):
        try:
            with open(self.ciap.access_log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def audit_for(self, request_id, timeout=5.0):
        """The one audit line of request_id (waits for the log flush)."""
        found = []

        def check():
            found[:] = [r for r in self.log_lines() if r.get("type") == "audit"
                        and r.get("request_id") == request_id]
            return bool(found)
        self.assertTrue(wait_until(check, timeout, 0.05),
                        f"no audit line for {request_id!r}; log tail: {self.log_lines()[-5:]!r}")
        self.assertEqual(len(found), 1, found)
        return found[0]

    def assert_audit(self, r, route, decision, reason, groups, token, path):
        rid = r.header("x-request-id") or (r.json().get("request_id") if r.status != 200
                                           else None)
        self.assertTrue(rid, r)
        a = self.audit_for(rid)
        payload = TOKENS[token]
        expect = {"type": "audit", "listener": "plain", "route": route, "method": "GET",
                  "path": path, "provider": "corp", "subject": payload["sub"],
                  "job_id": payload.get("job_id", ""), "groups": groups,
                  "decision": decision, "reason": reason,
                  "config_hash": sha256_file(self.ciap.config_path)}
        self.assertEqual({k: a.get(k) for k in expect}, expect, a)
        self.assertTrue(a.get("time"), a)
        return a

    def assert_forbidden(self, r, reason):
        self.assertEqual(r.status, 403, r)
        doc = r.json()
        self.assertEqual(doc.get("reason"), reason, r)
        self.assertTrue(doc.get("request_id"), r)

    # ----- tests -----
    def test_allowed_group_reaches_upstream_with_identity(self):
        """A deployer reaches /deploy/ with x-ciap-groups/provider/subject; spoofed groups replaced."""
        r = self.get("/deploy/x", "acme", {"x-ciap-groups": "admins"})
        self.assertEqual(r.status, 200, r)
        rec = self.up.last_request()
        self.assertEqual(rec["path"], "/deploy/x")
        self.assertEqual(header_values(rec, "x-ciap-groups"), ["deployers"], rec["headers"])
        self.assertEqual(header_values(rec, "x-ciap-provider"), ["corp"], rec["headers"])
        self.assertEqual(header_values(rec, "x-ciap-subject"), ["pipeline:deploy"],
                         rec["headers"])
        self.assertEqual(header_values(rec, "authorization"), [], "the bearer token went upstream")
        self.assert_audit(r, "deploy", "allow", "allowed_group", ["deployers"], "acme",
                          "/deploy/x")

    def test_deny_wins_over_allow(self):
        """A token in both deployers and evil gets 403 denied_group; the upstream is not contacted."""
        before = self.up.request_count
        r = self.get("/deploy/x", "evil")
        self.assert_forbidden(r, "denied_group")
        self.assertNotIn(self.tokens["evil"].encode(), r.body)
        time.sleep(0.1)
        self.assertEqual(self.up.request_count, before)
        self.assert_audit(r, "deploy", "deny", "denied_group", ["evil"], "evil", "/deploy/x")

    def test_not_and_all_conditions(self):
        """job_id blocked (the not clause) and a non-pipeline sub (the all clause) get 403 no_allowed_group."""
        before = self.up.request_count
        for token in ("blocked", "not_pipeline"):
            with self.subTest(token):
                r = self.get("/deploy/x", token)
                self.assert_forbidden(r, "no_allowed_group")
                self.assert_audit(r, "deploy", "deny", "no_allowed_group", [], token, "/deploy/x")
        time.sleep(0.1)
        self.assertEqual(self.up.request_count, before)

    def test_shadow_mode_lets_through_and_audits(self):
        """On a shadow route a non-member passes (audit shadow_deny) and a member too (shadow_allow)."""
        r = self.get("/shadow/x", "acme", {"x-ciap-groups": "admins"})
        self.assertEqual(r.status, 200, r)
        rec = self.up.last_request()
        self.assertEqual(rec["path"], "/shadow/x")
        self.assertNotIn("admins", header_values(rec, "x-ciap-groups"), rec["headers"])
        self.assert_audit(r, "shadowed", "shadow_deny", "no_allowed_group", [], "acme",
                          "/shadow/x")
        r = self.get("/shadow/y", "evil")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.up.last_request()["path"], "/shadow/y")
        self.assert_audit(r, "shadowed", "shadow_allow", "allowed_group", ["evil"], "evil",
                          "/shadow/y")

    def test_dynamic_group_from_groups_claim(self):
        """corp:platform admits teams [platform] and refuses teams [other] with no_allowed_group."""
        r = self.get("/teams/x", "acme")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.up.last_request()["path"], "/teams/x")
        self.assert_audit(r, "teams", "allow", "allowed_group", ["corp:platform"], "acme",
                          "/teams/x")
        before = self.up.request_count
        r = self.get("/teams/x", "no_team")
        self.assert_forbidden(r, "no_allowed_group")
        self.assert_audit(r, "teams", "deny", "no_allowed_group", [], "no_team", "/teams/x")
        time.sleep(0.1)
        self.assertEqual(self.up.request_count, before)

    def test_missing_token_is_401(self):
        """Without a token every policy route answers 401 missing_token and nothing goes upstream."""
        for path in ("/deploy/x", "/shadow/x", "/teams/x"):
            with self.subTest(path):
                r = self.get(path)
                self.assertEqual(r.status, 401, r)
                self.assertEqual(r.json().get("reason"), "missing_token", r)
        time.sleep(0.1)
        self.assertEqual(self.up.request_count, 0)

    def access_for(self, request_id, timeout=5.0):
        found = []

        def check():
            found[:] = [r for r in self.log_lines() if r.get("type") == "access"
                        and r.get("request_id") == request_id]
            return bool(found)
        self.assertTrue(wait_until(check, timeout, 0.05), f"no access line for {request_id!r}")
        return found[0]

    def test_access_line_names_the_caller(self):
        """Every access line of an authenticated request names provider, subject, pipeline, job
        id and jti, whichever filter decided (group policy or authenticate: true)."""
        for path in ("/deploy/x", "/auth/x", "/teams/x"):
            with self.subTest(path):
                r = self.get(path, "acme")
                self.assertEqual(r.status, 200, r)
                line = self.access_for(r.header("x-request-id"))
                who = {k: line.get(k) for k in ("provider", "subject", "pipeline", "job_id",
                                                 "jti")}
                self.assertEqual(who, {"provider": "corp", "subject": "pipeline:deploy",
                                       "pipeline": "deploy-api", "job_id": "job-1",
                                       "jti": "jti-acme-1"}, line)
        r = self.get("/teams/x", "no_team")  # refused by policy: still attributable
        self.assertEqual(r.status, 403, r)
        self.assertEqual(self.access_for(r.json()["request_id"]).get("subject"),
                         "pipeline:deploy")
        r = self.get("/public/x")
        line = self.access_for(r.header("x-request-id"))
        self.assertNotIn("provider", line, "a public request has no caller")

    def test_every_decision_on_authenticate_routes_is_audited(self):
        """authenticate: true: an accepted token is an allow event, a missing, garbage or
        unverifiable token a deny event with the refusal's reason; refusals on group routes
        are audited too. Public routes decide nothing and are not audited."""
        r = self.get("/auth/x", "acme")
        self.assertEqual(r.status, 200, r)
        a = self.audit_for(r.header("x-request-id"))
        self.assertEqual((a["route"], a["decision"], a["reason"], a["provider"], a["subject"],
                          a["pipeline"], a["job_id"], a["jti"]),
                         ("authonly", "allow", "authenticated", "corp", "pipeline:deploy",
                          "deploy-api", "job-1", "jti-acme-1"), a)
        forged = self.tokens["acme"][:-4] + ("AAAA" if not self.tokens["acme"].endswith("AAAA")
                                             else "BBBB")
        cases = [("/auth/x", {}, "missing_token"),
                 ("/auth/x", {"Authorization": "Bearer not-a-jwt"}, "malformed"),
                 ("/auth/x", {"Authorization": f"Bearer {forged}"}, "bad_signature"),
                 ("/deploy/x", {"Authorization": "Bearer not-a-jwt"}, "malformed")]
        for path, headers, reason in cases:
            with self.subTest(path=path, reason=reason):
                r = self.get(path, headers=headers)
                self.assertEqual(r.status, 401, r)
                self.assertEqual(r.json()["reason"], reason, r)
                a = self.audit_for(r.json()["request_id"])
                self.assertEqual((a["decision"], a["reason"], a["provider"], a["subject"]),
                                 ("deny", reason, "", ""), a)
        r = self.get("/public/x", "acme")
        self.assertEqual(r.status, 200, r)
        rid = r.header("x-request-id")
        self.access_for(rid)
        self.assertEqual([x for x in self.log_lines() if x.get("type") == "audit"
                          and x.get("request_id") == rid], [])

    def test_public_route_never_forwards_the_token(self):
        """A public route drops the caller's Authorization (and any other token header) unless
        the route says forward_token: true."""
        r = self.get("/public/x", "acme")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(header_values(self.up.last_request(), "authorization"), [])
        r = self.get("/public-fwd/x", "acme")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(header_values(self.up.last_request(), "authorization"),
                         [f"Bearer {self.tokens['acme']}"])

    def test_metrics_and_no_token_leak(self):
        """ciap_authz_total counts each decision; no token appears in the access log or /metrics."""
        sent = [("/deploy/x", "acme", 200), ("/deploy/x", "evil", 403),
                ("/deploy/x", "blocked", 403), ("/shadow/x", "acme", 200),
                ("/teams/x", "acme", 200), ("/teams/x", "no_team", 403)]
        rids = []
        for path, token, status in sent:
            r = self.get(path, token)
            self.assertEqual(r.status, status, (path, token, r))
            rids.append(r.header("x-request-id") or r.json()["request_id"])
        for rid in rids:
            self.audit_for(rid)
        m = self.ciap.metrics()
        expect = {("deploy", "allow"): 1, ("deploy", "deny"): 2,
                  ("deploy", "shadow_allow"): 0, ("deploy", "shadow_deny"): 0,
                  ("shadowed", "shadow_deny"): 1, ("shadowed", "shadow_allow"): 0,
                  ("shadowed", "allow"): 0, ("shadowed", "deny"): 0,
                  ("teams", "allow"): 1, ("teams", "deny"): 1}
        got = {k: m.value("ciap_authz_total", listener="plain", route=k[0], decision=k[1])
               for k in expect}
        self.assertEqual(got, {k: float(v) for k, v in expect.items()},
                         [s for s in m.samples if s[0] == "ciap_authz_total"])
        with open(self.ciap.access_log_path, "rb") as f:
            log_bytes = f.read()
        self.assertTrue(log_bytes)
        for name, token in self.tokens.items():
            sig = token.split(".")[2].encode()
            with self.subTest(token=name):
                self.assertNotIn(sig, log_bytes, "a token signature is in the access log")
                self.assertNotIn(sig, m.text.encode(), "a token signature is in /metrics")
                self.assertNotIn(token.encode(), log_bytes)


if __name__ == "__main__":
    unittest.main()
