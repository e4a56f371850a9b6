"""`ciap check`: the decision and its reasons for one request, from claims or a token, and the
same decision as the live proxy gives (so platform teams can test policy in their own CI)."""
import json
import os
import subprocess
import unittest

from ciaptest import (SOURCE_DIR, CiapTestCase, make_config, plain_listener, request,
                      run_ciap, to_yaml, upstream_cfg, wait_until)

ISSUER = "https://idp.demo.ciap.local"      # what scripts/demo-token mints
AUDIENCE = "https://ciap-demo.local"
GROUPS = {
    "deployers": {"all": [
        {"provider": "corp", "claims": {"pipeline_slug": ["deploy-api", "release-*"]}},
        {"not": {"provider": "corp", "claims": {"build_branch": {"not": "main"}}}},
    ]},
    "evil": {"provider": "corp", "claims": {"organization_slug": "evil-inc"}},
}
ROUTES = [
    {"name": "deploy", "match": {"path_prefix": "/deploy/"}, "upstream": "app",
     "allow": ["deployers"], "deny": ["evil"]},
    {"name": "shadowed", "match": {"path_prefix": "/shadow/"}, "upstream": "app",
     "allow": ["evil"], "mode": "shadow"},
    {"name": "health", "match": {"path": "/healthz"}, "upstream": "app", "public": True},
]
CASES = [  # (name, path, claims overriding the demo token's) -> expected (decision, status, reason)
    ("member", "/deploy/a", {}, ("allow", 200, "allowed_group")),
    ("release glob", "/deploy/a", {"pipeline_slug": "release-2026"}, ("allow", 200, "allowed_group")),
    ("glob stops at /", "/deploy/a", {"pipeline_slug": "release-x/evil"}, ("deny", 403, "no_allowed_group")),
    ("not main branch", "/deploy/a", {"build_branch": "feature"}, ("deny", 403, "no_allowed_group")),
    ("deny wins", "/deploy/a", {"organization_slug": "evil-inc"}, ("deny", 403, "denied_group")),
    ("dot segments normalized", "/public/../deploy/a", {}, ("allow", 200, "allowed_group")),
    ("shadow", "/shadow/a", {}, ("shadow_deny", 200, "no_allowed_group")),
    ("no route", "/nothing", {}, ("deny", 404, "no_route")),
    ("public", "/healthz", {}, ("allow", 200, "public_route")),
]


class Check(CiapTestCase):

    def setUp(self):
        super().setUp()
        self.idp = os.path.join(self.tmp, "idp")
        self.mint()  # writes idp/jwks.json
        self.up = self.start_upstream()
        cfg = make_config([upstream_cfg("app", self.up)], [plain_listener("plain", ROUTES)])
        cfg["identity_providers"] = [{
            "name": "corp", "type": "oidc", "issuer": ISSUER, "audiences": [AUDIENCE],
            "jwks_file": os.path.join(self.idp, "jwks.json")}]
        cfg["groups"] = GROUPS
        self.config_path = os.path.join(self.tmp, "ciap.yaml")
        with open(self.config_path, "w") as f:
            f.write(to_yaml(cfg))
        self.cfg = cfg

    def mint(self, **claims):
        args = [os.path.join(SOURCE_DIR, "scripts", "demo-token"), "--dir", self.idp]
        for name, value in claims.items():
            args += ["--claim", f"{name}={json.dumps(value) if not isinstance(value, str) else value}"]
        return subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip()

    def check(self, path, *extra):
        r = run_ciap("check", "-c", self.config_path, "--request", f"GET http://ci.acme{path}",
                     "--json", *extra)
        self.assertIn(r.returncode, (0, 1), r.stderr)
        return r.returncode, json.loads(r.stdout)

    def test_claims_table(self):
        """Each case's decision, status and reason from --claims; exit 0 allows, 1 denies."""
        base = json.loads(subprocess.run(
            ["python3", "-c", "import base64,json,sys;t=sys.argv[1].split('.')[1];"
             "print(base64.urlsafe_b64decode(t+'='*(-len(t)%4)).decode())", self.mint()],
            check=True, capture_output=True, text=True).stdout)
        for name, path, overrides, (decision, status, reason) in CASES:
            with self.subTest(case=name):
                claims_file = os.path.join(self.tmp, "claims.json")
                with open(claims_file, "w") as f:
                    json.dump({**base, **overrides}, f)
                code, out = self.check(path, "--claims", claims_file, "--provider", "corp")
                self.assertEqual((out["decision"], out["status"], out["reason"]),
                                 (decision, status, reason), out)
                self.assertEqual(code, 0 if decision in ("allow", "shadow_deny") else 1, out)

    def test_explanation_names_the_claim(self):
        """A denial says which claim failed and why, in the human output."""
        token_file = os.path.join(self.tmp, "t.jwt")
        with open(token_file, "w") as f:
            f.write(self.mint(pipeline_slug="app-evil"))
        r = run_ciap("check", "-c", self.config_path, "--request", "PUT http://ci.acme/deploy/x",
                     "--token-file", token_file)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("token: signature, issuer, audience and times verified", r.stdout)
        self.assertIn('pipeline_slug: "app-evil"', r.stdout)
        self.assertIn("decision: deny (403 no_allowed_group)", r.stdout)
        # the token itself is never printed
        with open(token_file) as f:
            self.assertNotIn(f.read().strip().split(".")[2], r.stdout)

    def test_token_verification(self):
        """--token-file verifies against the provider's jwks_file: tampered and expired fail."""
        good = self.mint()
        header, payload, sig = good.split(".")
        cases = [(good, 0, "allow", "allowed_group"),
                 (f"{header}.{payload}.{sig[:-4]}AAAA", 1, "deny", "bad_signature"),
                 (self.mint(exp=1000, iat=900, nbf=900), 1, "deny", "expired")]
        for token, code, decision, reason in cases:
            with self.subTest(reason=reason):
                token_file = os.path.join(self.tmp, "t.jwt")
                with open(token_file, "w") as f:
                    f.write(token)
                got_code, out = self.check("/deploy/a", "--token-file", token_file)
                self.assertEqual((got_code, out["decision"], out["reason"]), (code, decision, reason))

    def test_expired_token_still_shows_the_policy(self):
        """A real token past its expiry is refused (401 expired), and check still says what the
        policy decides for its claims issued now."""
        token_file = os.path.join(self.tmp, "old.jwt")
        with open(token_file, "w") as f:
            f.write(self.mint(exp=1000, iat=900, nbf=900))
        code, out = self.check("/deploy/a", "--token-file", token_file)
        self.assertEqual((code, out["decision"], out["status"], out["reason"]),
                         (1, "deny", 401, "expired"))
        policy = [e["detail"] for e in out["explanation"] if e["step"] == "policy"]
        self.assertEqual(policy, ["issued now, the same claims would get allow (200 "
                                  "allowed_group) on route deploy"], out["explanation"])

    def test_token_from_stdin_and_json_errors(self):
        """--token-file - reads stdin; with --json, errors are a JSON document on stdout."""
        r = subprocess.run([os.environ.get("CIAP_BIN", "build/ciap"), "check", "-c",
                            self.config_path, "--request", "GET http://ci.acme/deploy/a",
                            "--token-file", "-", "--json"],
                           input=self.mint() + "\n", capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(json.loads(r.stdout)["reason"], "allowed_group")
        r = run_ciap("check", "-c", self.config_path, "--request", "GET http://ci.acme/deploy/a",
                     "--claims", "/nonexistent", "--json")
        self.assertEqual(r.returncode, 2)
        self.assertEqual(json.loads(r.stdout), {"errors": ["cannot read /nonexistent"]})

    def test_errors_exit_2(self):
        """Bad invocations exit 2 with a message on stderr."""
        for args in (["--claims", "/nonexistent", "--provider", "corp"],
                     ["--claims", self.config_path, "--provider", "nope"],
                     []):
            r = run_ciap("check", "-c", self.config_path, "--request", "GET http://x/deploy/a", *args)
            self.assertEqual(r.returncode, 2, (args, r.stdout, r.stderr))
            self.assertTrue(r.stderr.strip())

    def test_same_decisions_as_the_live_proxy(self):
        """The proxy answers each token case with the status ciap check predicted."""
        ciap = self.start_ciap(self.cfg)
        self.assertTrue(wait_until(lambda: ciap.admin_get("/ready")[0] == 200, 15, 0.05))
        for name, path, overrides, _ in CASES:
            with self.subTest(case=name):
                token = self.mint(**overrides)
                token_file = os.path.join(self.tmp, "t.jwt")
                with open(token_file, "w") as f:
                    f.write(token)
                _, predicted = self.check(path, "--token-file", token_file)
                r = request(ciap.port(), "GET", path, tls=False,
                            headers={"Authorization": f"Bearer {token}"})
                self.assertEqual(r.status, predicted["status"], (name, predicted, r.body[:200]))


if __name__ == "__main__":
    unittest.main()
