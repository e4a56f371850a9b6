"""Parity: `ciap check` and the live proxy decide every (request, credential) pair alike.

One config, one live ciap; every credential below crossed with every request below (at least
200 cases) is decided twice: by `ciap check --json` (the token file, or --anonymous) and by the
proxy (status; the reason from the JSON error body, or from the access-log line of a forwarded
request; shadow decisions from the audit event). Decision, status and reason must be identical.

The cases cover two GitHub providers on one issuer (two organizations: the proxy tries each,
and so must check), tokens refused for expiry, audience, signature, unknown issuer, bound claims
of both providers, a token that is not a JWT, no token at all; routes with allow and deny
groups, a method split, a shadow route, an authenticate-only route, public routes, a path with
dot segments, a `;parameter` path that would reroute, an unnormalizable path and no route.
A subset runs again as claims given by hand (the token's payload, re-signed by a stand-in key),
in one `ciap test` run: the decision code `ciap check --claims` runs.
Tokens are minted by jose (tests/idp/mint-vendor.mjs); skipped without node.
"""

import json
import os
import unittest

from ciaptest import (CiapTestCase, check_json_many, log, make_config, plain_listener, raw_socket,
                      read_response, test_cases_json, upstream_cfg, wait_until, write_config)
from test_identity import AUDIENCE, CORP_ISSUER, mint, require_node, vendor_payloads

GH_ISSUER = "https://token.actions.githubusercontent.com"

GROUPS = {
    "acme-main": {"provider": "gh-acme", "claims": {"ref": "refs/heads/main"}},
    "octo-any": {"provider": "gh-octo"},
    "evil": {"any": [{"provider": "gh-acme", "claims": {"repository": "acme/evil"}},
                     {"provider": "corp", "claims": {"sub": "user:evil"}}]},
}
ROUTES = [
    {"name": "deploy", "match": {"path_prefix": "/deploy/", "methods": ["PUT", "POST"]},
     "upstream": "app", "allow": ["acme-main", "corp:platform"], "deny": ["evil"]},
    {"name": "read", "match": {"path_prefix": "/deploy/"}, "upstream": "app",
     "allow": ["acme-main", "octo-any"]},
    {"name": "shadow", "match": {"path_prefix": "/shadow/"}, "upstream": "app",
     "allow": ["acme-main"], "mode": "shadow"},
    {"name": "any", "match": {"path_prefix": "/any/"}, "upstream": "app", "authenticate": True},
    {"name": "health", "match": {"path": "/healthz"}, "upstream": "app", "public": True},
    {"name": "admin", "match": {"path_prefix": "/admin/"}, "upstream": "app",
     "allow": ["corp:platform"]},
    # A string prefix: "/admin;x/y" lands here, while "/admin/y" (what a servlet container
    # would serve) is the admin route: such a path must be refused, not routed.
    {"name": "assets", "match": {"path_prefix": "/a"}, "upstream": "app", "public": True},
]
REQUESTS = [("GET", "/deploy/a"), ("PUT", "/deploy/a"), ("POST", "/deploy/b/c"),
            ("DELETE", "/deploy/a"), ("GET", "/shadow/x"), ("PUT", "/shadow/x"),
            ("GET", "/any/x"), ("GET", "/healthz"), ("GET", "/admin/x"),
            ("GET", "/admin;x/y"), ("GET", "/nothing"), ("GET", "/any/../admin/x"),
            ("GET", "/any/%2e%2e/deploy/a"), ("GET", "/assets/x")]


def github(now, **changes):
    claims = dict(vendor_payloads(now)["github"], repository_owner="acme",
                  repository="acme/app", sub="repo:acme/app:ref:refs/heads/main")
    claims.update(changes)
    return claims


def corp(now, **changes):
    claims = dict(vendor_payloads(now)["corp"], sub="user:alice", teams=["platform"])
    claims.update(changes)
    return claims


def credentials(now):
    """name -> (key, payload) for jose to sign."""
    return {
        "acme-main": ("gh", github(now)),
        "acme-feature": ("gh", github(now, ref="refs/heads/feature")),
        "acme-evil": ("gh", github(now, repository="acme/evil")),
        "octo": ("gh", github(now, repository_owner="octo", repository="octo/x")),
        "stranger": ("gh", github(now, repository_owner="stranger")),
        "acme-expired": ("gh", github(now, iat=now - 900, nbf=now - 900, exp=now - 600)),
        "acme-wrong-aud": ("gh", github(now, aud="https://elsewhere")),
        "corp-platform": ("corp", corp(now)),
        "corp-evil": ("corp", corp(now, sub="user:evil")),
        "corp-no-team": ("corp", corp(now, teams=["other"])),
        "unknown-issuer": ("corp", corp(now, iss="https://idp.unknown.example")),
        "corp-by-gh-key": ("gh", corp(now)),
    }


class Parity(CiapTestCase):

    def setUp(self):
        require_node()
        super().setUp()
        import time
        now = int(time.time())
        creds = credentials(now)
        minted = mint({"keys": [{"name": "gh"}, {"name": "corp"}],
                       "tokens": [{"key": key, "payload": payload}
                                  for key, payload in creds.values()]})
        self.tokens = dict(zip(creds, minted["tokens"]))
        self.payloads = {name: payload for name, (_, payload) in creds.items()}
        head, body, sig = self.tokens["acme-main"].split(".")
        self.tokens["tampered"] = f"{head}.{body}.{sig[:-6]}AAAAAA"
        self.tokens["not-a-jwt"] = "this-is-not-a-jwt"
        self.tokens[None] = None  # no credential at all
        jwks = {}
        for key in ("gh", "corp"):
            jwks[key] = os.path.join(self.tmp, f"{key}.jwks.json")
            with open(jwks[key], "w") as f:
                json.dump(minted["jwks"][key], f)
        self.up = self.start_upstream()
        cfg = make_config([upstream_cfg("app", self.up)], [plain_listener("plain", ROUTES)])
        cfg["identity_providers"] = [
            {"name": "gh-acme", "type": "github", "audiences": [AUDIENCE],
             "jwks_file": jwks["gh"], "bound_claims": {"repository_owner": "acme"}},
            {"name": "gh-octo", "type": "github", "audiences": [AUDIENCE],
             "jwks_file": jwks["gh"], "bound_claims": {"repository_owner": "octo"}},
            {"name": "corp", "type": "oidc", "issuer": CORP_ISSUER, "audiences": ["ciap-test"],
             "jwks_file": jwks["corp"], "groups_claim": "teams"},
        ]
        cfg["groups"] = GROUPS
        self.cfg = cfg
        self.config_path = write_config(os.path.join(self.tmp, "ciap.yaml"), cfg)

    def check(self, method, path, *source):
        return self.check_many([(method, path, *source)])[0]

    def check_many(self, calls):
        """`ciap check --json` for each (method, path, *source), side by side, in order."""
        results = check_json_many(self.config_path, [(f"{method} http://ci.acme{path}", *source)
                                                     for method, path, *source in calls])
        return [(out["decision"], out["status"], out["reason"]) for _, out in results]

    def live(self, ciap, method, path, token, request_id):
        lines = [f"{method} {path} HTTP/1.1", "Host: ci.acme", "Connection: close",
                 f"x-request-id: {request_id}", "Content-Length: 0"]
        if token is not None:
            lines.append(f"Authorization: Bearer {token}")
        with raw_socket(ciap.port()) as s:
            s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            return read_response(s.makefile("rb"))

    def test_check_and_proxy_decide_alike(self):
        """>= 200 cases: ciap check and the live proxy give the same decision, status, reason."""
        ciap = self.start_ciap(self.cfg, args=["--concurrency", "2"])
        self.assertTrue(wait_until(lambda: ciap.admin_get("/ready")[0] == 200, 15, 0.05))
        cases = [(name, method, path) for name in self.tokens for method, path in REQUESTS]
        self.assertGreaterEqual(len(cases), 200)
        sources = {None: ["--anonymous"]}
        for name in self.tokens:
            if name is None:
                continue
            sources[name] = ["--token-file", os.path.join(self.tmp, f"{name}.jwt")]
            with open(sources[name][1], "w") as f:
                f.write(self.tokens[name])
        predicted = dict(enumerate(self.check_many(
            [(method, path, *sources[name]) for name, method, path in cases])))
        statuses = {}
        for i, (name, method, path) in enumerate(cases):
            r = self.live(ciap, method, path, self.tokens[name], f"parity-{i}")
            reason = r.json().get("reason") if r.status != 200 else None
            statuses[i] = (r.status, reason)
        self.assertTrue(wait_until(lambda: len(ciap.access_log()) >= len(cases), 10, 0.05))
        access = {rec["request_id"]: rec for rec in ciap.access_log()}
        audit = {}
        with open(ciap.access_log_path) as f:
            for line in f:
                rec = json.loads(line)
                if rec.get("type") == "audit":
                    audit[rec["request_id"]] = rec
        tally = {}
        for i, (name, method, path) in enumerate(cases):
            status, reason = statuses[i]
            rid = f"parity-{i}"
            if reason is None:
                reason = access[rid].get("reason", "")
            decision = "allow" if status == 200 else "deny"
            if rid in audit and audit[rid]["decision"].startswith("shadow"):
                decision = audit[rid]["decision"]
            with self.subTest(credential=name, request=f"{method} {path}"):
                self.assertEqual(predicted[i], (decision, status, reason))
            tally[decision] = tally.get(decision, 0) + 1
        log(f"parity: {len(cases)} cases, {tally}")
        reasons = {predicted[i][2] for i in predicted}
        # The table reaches every kind of answer it was built for.
        for expected in ("allowed_group", "denied_group", "no_allowed_group", "authenticated",
                         "public_route", "no_route", "path_parameters_reroute", "bound_claims",
                         "expired", "wrong_audience", "bad_signature", "unknown_issuer",
                         "missing_token", "malformed"):
            self.assertIn(expected, reasons)

    def test_claims_mode_agrees_on_signed_claims(self):
        """Claims given by hand (a token's payload) decide as the token itself does, for
        well-signed tokens, two providers on one issuer included (each is tried). Through the
        decision code `ciap check --claims` and `--token-file` share, in one `ciap test` run."""
        cases = []
        for name in ("acme-main", "acme-feature", "acme-evil", "octo", "stranger", "acme-expired",
                     "acme-wrong-aud", "corp-platform", "corp-evil", "unknown-issuer"):
            token_file = os.path.join(self.tmp, f"{name}.jwt")
            with open(token_file, "w") as f:
                f.write(self.tokens[name])
            for method, path in REQUESTS[:9]:
                request = f"{method} http://ci.acme{path}"
                # The expectation is a placeholder: the verdicts are compared below.
                cases.append({"name": f"{name} {method} {path} claims", "request": request,
                              "claims": self.payloads[name], "expect": {"decision": "allow"}})
                cases.append({"name": f"{name} {method} {path} token", "request": request,
                              "token_file": token_file, "expect": {"decision": "allow"}})
        results = test_cases_json(self.config_path, cases, self.tmp)
        verdict = {name: (r["got"]["decision"], r["got"]["status"], r["got"]["reason"])
                   for name, r in results.items()}
        for case in cases[::2]:
            base = case["name"].removesuffix(" claims")
            with self.subTest(case=base):
                self.assertEqual(verdict[case["name"]], verdict[base + " token"])
        # The second provider of the issuer accepts what the first refuses.
        octo = os.path.join(self.tmp, "octo.claims.json")
        with open(octo, "w") as f:
            json.dump(self.payloads["octo"], f)
        self.assertEqual(self.check("GET", "/deploy/a", "--claims", octo),
                         ("allow", 200, "allowed_group"))


if __name__ == "__main__":
    unittest.main()
