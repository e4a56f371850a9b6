#!/usr/bin/env python3
"""What ciap presents to upstreams on a caller's behalf: a signed assertion of who called, and
short-lived credentials it mints itself (OAuth 2.0 client credentials from the real
oidc-provider; GitHub App installation tokens from a strict emulator, github_emulator.py).

Assertions are verified by jose (tests/idp/verify-assertion.mjs) against the key set fetched
from the listener; key rotation works by editing the key files and the list, without a restart;
a forged or caller-sent assertion never reaches an upstream. Credentials: one mint for many
requests, replaced before expiry without a failed request, and a failing source is 503
credentials_unavailable with nothing forwarded. Nothing secret is logged or shown.
"""

import concurrent.futures
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ciaptest import (CIAP_BIN, CiapTestCase, certs, make_config, request, route,  # noqa: E402
                      tls_listener, to_yaml, upstream_cfg, wait_until)
from github_emulator import GitHubEmulator  # noqa: E402
from test_reload import write_atomically  # noqa: E402
from test_identity import (CLIENT_ID, CLIENT_SECRET, IDP_DIR, NODE,  # noqa: E402
                           OidcServer, b64json, buildkite_callers, require_node,
                           vendor_payloads)

ISSUER = "https://ciap.test.internal"
DEPLOY_AUD = "https://deploy.internal"
ASSERTION_HEADER = "x-acme-assertion"


def genkey(path, kind):
    args = {"ec": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            "ed25519": ["-algorithm", "ED25519"],
            "rsa": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]}[kind]
    subprocess.run(["openssl", "genpkey", *args, "-out", path + ".new"], check=True,
                   capture_output=True)
    os.replace(path + ".new", path)  # a watcher never sees a half-written key
    return path


def seen_headers(response):
    return {k.lower(): v for k, v in response.json()["headers"]}


class UpstreamAuthCase(CiapTestCase):
    """Buildkite-shaped callers (jose-minted, jwks_file) through a TLS listener."""

    def setUp(self):
        super().setUp()
        require_node()
        now = int(time.time())
        base = vendor_payloads(now)["buildkite"]
        other = dict(base, job_id="11111111-2222-4333-8444-555555555555")
        self.tokens, self.provider = buildkite_callers(self.tmp, [base, other])
        self.payload = base

    def config(self, routes, upstreams, **top):
        cfg = make_config(upstreams, [tls_listener("agents", routes)])
        cfg["identity_providers"] = [self.provider]
        cfg["groups"] = {"deployers": {"any": [{"provider": "buildkite",
                                                "claims": {"pipeline_slug": "deploy-api"}}]}}
        cfg.update(top)
        return cfg

    def call(self, method="GET", path="/echo", token=0, headers=None, body=None):
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = "Bearer " + self.tokens[token]
        return request(self.ciap.port(), method, path, headers=h, body=body)

    def assert_unavailable(self, response, reason="credentials_unavailable"):
        self.assertEqual(response.status, 503, response.body[:300])
        body = json.loads(response.body)
        self.assertEqual(body["reason"], reason)
        self.assertEqual(set(body), {"error", "reason", "request_id"})


class AssertionTest(UpstreamAuthCase):
    def start(self, keys, lifetime="60s"):
        self.up = self.start_upstream()
        deploy = route("deploy", "app", match={"path": "/echo", "methods": ["GET"]},
                       allow=["deployers"],
                       request_headers={"assertion": {
                           "header": ASSERTION_HEADER, "audience": DEPLOY_AUD,
                           "claims": ["pipeline_slug", "job_id", "build_branch", "no_such_claim"]}})
        other = route("other", "app", match={"path": "/echo", "methods": ["POST"]},
                      authenticate=True)
        for r in (deploy, other):
            r.pop("public", None)
        cfg = self.config([deploy, other], [upstream_cfg("app", f"127.0.0.1:{self.up.port}")],
                          assertion={"issuer": ISSUER, "signing_keys": keys,
                                     "lifetime": lifetime})
        self.ciap = self.start_ciap(cfg)
        return cfg

    def jwks_url(self):
        return f"https://127.0.0.1:{self.ciap.port()}/.well-known/ciap/jwks.json"

    def verify(self, *tokens):
        spec = {"jwks_url": self.jwks_url(), "issuer": ISSUER, "audience": DEPLOY_AUD,
                "tokens": list(tokens)}
        r = subprocess.run([NODE, os.path.join(IDP_DIR, "verify-assertion.mjs")], cwd=IDP_DIR,
                           input=json.dumps(spec).encode(), capture_output=True, timeout=60,
                           env=dict(os.environ, NODE_EXTRA_CA_CERTS=certs().ca))
        self.assertEqual(r.returncode, 0, r.stderr.decode()[-2000:])
        return json.loads(r.stdout)

    def assertion(self, token=0, headers=None):
        r = self.call(token=token, headers=headers)
        self.assertEqual(r.status, 200, r.body[:300])
        return seen_headers(r).get(ASSERTION_HEADER)

    def test_assertion_verifies_with_jose_and_carries_the_contract_claims(self):
        ec = genkey(os.path.join(self.tmp, "current.pem"), "ec")
        self.start([ec])
        jws = self.assertion()
        result = self.verify(jws)
        checked = result["results"][0]
        self.assertTrue(checked["ok"], checked)
        header, claims = checked["header"], checked["payload"]
        self.assertEqual((header["alg"], header["typ"]), ("ES256", "JWT"))
        self.assertEqual([k["kid"] for k in result["jwks"]["keys"]], [header["kid"]])
        self.assertNotIn("d", result["jwks"]["keys"][0], "a private key in the JWKS")
        self.assertEqual(claims["iss"], ISSUER)
        self.assertEqual(claims["aud"], DEPLOY_AUD)
        self.assertEqual(claims["exp"] - claims["iat"], 60)
        self.assertLessEqual(abs(claims["iat"] - time.time()), 5)
        self.assertEqual(claims["sub"], self.payload["sub"])
        self.assertEqual(claims["provider"], "buildkite")
        self.assertEqual(claims["groups"], ["deployers"])
        self.assertEqual(claims["route"], "deploy")
        self.assertEqual(claims["pipeline_slug"], "deploy-api")
        self.assertEqual(claims["job_id"], self.payload["job_id"])
        self.assertEqual(claims["build_branch"], "main")
        self.assertNotIn("no_such_claim", claims)
        self.assertGreaterEqual(len(claims["jti"]), 16)
        # The admin port serves the same key set; the listener's needs no token.
        status, _, body = self.ciap.admin_get("/assertion/jwks.json")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body), result["jwks"])
        self.assertEqual(request(self.ciap.port(), "GET", "/.well-known/ciap/jwks.json").status,
                         200)
        # Assertions are not secrets in the strict sense, but they are credentials upstreams
        # act on: they stay out of logs, metrics and the admin documents.
        self.assert_secret_nowhere(jws, self.tokens[0])

    def test_an_assertion_serves_one_caller_for_half_its_lifetime(self):
        self.start([genkey(os.path.join(self.tmp, "k.pem"), "ed25519")], lifetime="4s")
        first = self.assertion(0)
        self.assertEqual(self.assertion(0), first, "reused for the same credential and route")
        other = self.assertion(1)
        self.assertNotEqual(other, first, "another credential gets its own")
        checked = self.verify(first, other)["results"]
        self.assertTrue(all(c["ok"] for c in checked), checked)
        self.assertEqual(checked[0]["header"]["alg"], "EdDSA")
        self.assertNotEqual(checked[0]["payload"]["jti"], checked[1]["payload"]["jti"])
        self.assertEqual(checked[1]["payload"]["job_id"], "11111111-2222-4333-8444-555555555555")
        time.sleep(2.2)  # past half of 4 s
        third = self.assertion(0)
        self.assertNotEqual(third, first, "signed anew once half its lifetime has passed")
        self.assertTrue(self.verify(third)["results"][0]["ok"])

    def test_caller_sent_or_forged_assertions_never_reach_the_upstream(self):
        self.start([genkey(os.path.join(self.tmp, "k.pem"), "ec")])
        forged = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9."
        r = self.call(headers={ASSERTION_HEADER: forged, "X-Ciap-Assertion": forged})
        self.assertEqual(r.status, 200)
        seen = seen_headers(r)
        self.assertNotEqual(seen[ASSERTION_HEADER], forged)
        self.assertNotIn("x-ciap-assertion", seen)
        self.assertEqual(len([k for k, _ in r.json()["headers"]
                              if k.lower() == ASSERTION_HEADER]), 1)
        self.assertTrue(self.verify(seen[ASSERTION_HEADER])["results"][0]["ok"])
        # A route without an assertion drops a caller's copy too.
        r = self.call("POST", headers={ASSERTION_HEADER: forged}, body=b"")
        self.assertEqual(r.status, 200)
        self.assertNotIn(ASSERTION_HEADER, seen_headers(r))
        # Without a token nothing is forwarded at all; a forged assertion does not verify.
        before = self.up.request_count
        self.assertEqual(self.call(token=None, headers={ASSERTION_HEADER: forged}).status, 401)
        self.assertEqual(self.up.request_count, before)
        self.assertFalse(self.verify(forged)["results"][0]["ok"])

    def test_rotation_by_editing_keys_and_list_without_a_restart(self):
        k1 = genkey(os.path.join(self.tmp, "k1.pem"), "ec")
        k2 = genkey(os.path.join(self.tmp, "k2.pem"), "ec")
        self.start([k1, k2])
        cfg = self.ciap.config
        pid = self.ciap.pid
        kids = [k["kid"] for k in self.verify()["jwks"]["keys"]]
        self.assertEqual(len(set(kids)), 2, "both keys published")
        a1 = self.assertion(0)
        self.assertEqual(self.verify(a1)["results"][0]["header"]["kid"], kids[0], "first signs")
        # Promote k2 by editing the list (a reload): k2 signs, k1 stays published while listed.
        cfg["assertion"]["signing_keys"] = [k2, k1]
        write_atomically(self.ciap.config_path, to_yaml(cfg))
        self.assertTrue(wait_until(lambda: [k["kid"] for k in self.verify()["jwks"]["keys"]]
                                   == [kids[1], kids[0]], timeout=15), self.ciap.stderr_tail())
        a2 = self.assertion(0)
        checked = self.verify(a1, a2)["results"]
        self.assertTrue(checked[0]["ok"], "the old key's assertion verifies while it is listed")
        self.assertEqual(checked[1]["header"]["kid"], kids[1])
        # Replace the retired key's file (rotation in place): the new key is published within
        # a second or two and the old one's assertions stop verifying.
        genkey(k1, "ec")
        self.assertTrue(wait_until(lambda: kids[0] not in
                                   [k["kid"] for k in self.verify()["jwks"]["keys"]], timeout=10))
        checked = self.verify(a1, a2)["results"]
        self.assertFalse(checked[0]["ok"])
        self.assertTrue(checked[1]["ok"])
        self.assertEqual(self.ciap.pid, pid, "no restart")

    def test_the_readmes_python_verifier_accepts_the_assertion(self):
        """The README's PyJWT snippet, run as written against this ciap's key set."""
        python = next((p for p in (sys.executable, "/usr/bin/python3") if subprocess.run(
            [p, "-c", "import jwt, cryptography"], capture_output=True).returncode == 0), None)
        if python is None:
            self.skipTest("needs PyJWT and cryptography (Debian: python3-jwt)")
        with open(os.path.join(os.environ.get("CIAP_SOURCE_DIR", "../.."), "README.md")) as f:
            readme = f.read()
        recipe = readme[readme.index("### Recipe: verifying the assertion"):]
        snippet = recipe[recipe.index("```python\n") + 10:recipe.index("```\n", 10)]
        self.start([genkey(os.path.join(self.tmp, "k.pem"), "ec")])
        jws = self.assertion()
        snippet = snippet.replace("https://ci-proxy.acme.internal/.well-known/ciap/jwks.json",
                                  self.jwks_url()).replace("https://ci-proxy.acme.internal", ISSUER)
        driver = snippet + "\nimport json, sys\nprint(json.dumps(caller({'x-ciap-assertion': " \
            "sys.argv[1]})))\n"
        run = lambda token: subprocess.run(  # noqa: E731
            [python, "-c", driver, token], capture_output=True, timeout=60,
            env=dict(os.environ, SSL_CERT_FILE=certs().ca))
        r = run(jws)
        self.assertEqual(r.returncode, 0, r.stderr.decode()[-2000:])
        self.assertEqual(json.loads(r.stdout), [self.payload["sub"], ["deployers"], "deploy-api"])
        forged = jws[:-8] + ("AAAAAAAA" if not jws.endswith("AAAAAAAA") else "BBBBBBBB")
        r = run(forged)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("InvalidSignatureError", r.stderr.decode())

    def test_a_key_of_the_wrong_kind_is_refused_at_startup(self):
        rsa = genkey(os.path.join(self.tmp, "rsa.pem"), "rsa")
        r = subprocess.run([CIAP_BIN, "validate", "-c",
                            self.write_config(rsa)], capture_output=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("must be EC P-256 (ES256) or Ed25519", r.stderr.decode() + r.stdout.decode())
        self.assertNotIn("PRIVATE KEY", r.stderr.decode() + r.stdout.decode())

    def write_config(self, key):
        deploy = route("deploy", "app", allow=["deployers"],
                       request_headers={"assertion": {"audience": DEPLOY_AUD}})
        deploy.pop("public", None)
        cfg = self.config([deploy], [upstream_cfg("app", "127.0.0.1:9")],
                          assertion={"issuer": ISSUER, "signing_keys": [key]})
        cfg["listeners"][0]["address"] = "127.0.0.1:0"
        path = os.path.join(self.tmp, "ciap.yaml")
        with open(path, "w") as f:
            f.write(to_yaml(cfg))
        return path


def metric(ciap, result, route_name):
    return ciap.metrics().value("ciap_credentials_total", route=route_name, result=result)


class OAuthClientCredentialsTest(UpstreamAuthCase):
    """ciap's client at the real oidc-provider mints JWT access tokens for resource deploy."""

    def start(self, ttl=600, secret=CLIENT_SECRET, timeout="2s"):
        self.idp = OidcServer(os.path.join(self.tmp, "idp-keys.json"),
                              args=["--access-token-ttl", str(ttl)]).start()
        self.addCleanup(self.idp.stop)
        self.secret_file = os.path.join(self.tmp, "client-secret")
        with open(self.secret_file, "w") as f:
            f.write(secret + "\n")
        self.up = self.start_upstream()
        deploy = route("deploy", "app", allow=["deployers"], credentials={
            "type": "oauth2_client_credentials",
            "token_endpoint": self.idp.ready["token_endpoint"], "client_id": CLIENT_ID,
            "client_secret": "${secret:" + self.secret_file + "}",
            "resource": "urn:ciap:deploy", "ca_file": certs().ca, "timeout": timeout})
        deploy.pop("public", None)
        self.ciap = self.start_ciap(
            self.config([deploy], [upstream_cfg("app", f"127.0.0.1:{self.up.port}")]))

    def minted_token(self, response):
        self.assertEqual(response.status, 200, response.body[:300])
        auth = seen_headers(response)["authorization"]
        self.assertTrue(auth.startswith("Bearer "), auth)
        return auth[len("Bearer "):]

    def test_a_hundred_requests_make_one_mint_and_the_caller_token_stays_behind(self):
        self.start()
        with concurrent.futures.ThreadPoolExecutor(10) as pool:
            responses = list(pool.map(lambda i: self.call(token=i % 2), range(100)))
        tokens = {self.minted_token(r) for r in responses}
        self.assertEqual(len(tokens), 1)
        token = tokens.pop()
        self.assertNotIn(token, self.tokens, "the caller's token is not forwarded")
        claims = b64json(token.split(".")[1])
        self.assertEqual(claims["aud"], "deploy")
        self.assertEqual(claims["client_id"], CLIENT_ID)
        self.assertEqual(self.idp.count("/token", "POST"), 1)
        m = self.ciap.metrics()
        self.assertEqual(m.value("ciap_credentials_total", route="deploy"), 100)
        self.assertEqual(m.value("ciap_credentials_mint_duration_seconds_count", route="deploy"),
                         1)
        self.assert_secret_nowhere(token, CLIENT_SECRET)
        shown = json.loads(self.ciap.admin_get("/config")[2])
        credentials = shown["listeners"][0]["routes"][0]["credentials"]
        self.assertEqual(credentials["client_secret"], f"(file {self.secret_file})")

    def test_a_token_close_to_expiry_is_replaced_with_no_failed_request(self):
        self.start(ttl=8)
        seen = []  # (time, token)
        failures = []
        deadline = time.time() + 14
        while time.time() < deadline:
            r = self.call()
            if r.status != 200:
                failures.append((r.status, r.body[:200]))
                continue
            seen.append((time.time(), self.minted_token(r)))
            time.sleep(0.05)
        self.assertEqual(failures, [])
        distinct = list(dict.fromkeys(t for _, t in seen))
        self.assertGreaterEqual(len(distinct), 2, "replaced before it expired")
        for at, token in seen:
            self.assertGreater(b64json(token.split(".")[1])["exp"], at, "never an expired token")
        mints = self.idp.count("/token", "POST")
        self.assertEqual(mints, len(distinct))
        self.assertLessEqual(mints, 4)

    def test_a_refusing_or_stopped_source_is_503_and_nothing_is_forwarded(self):
        self.start(secret="not-the-secret")
        r = self.call()
        self.assert_unavailable(r)
        self.assertEqual(self.up.request_count, 0)
        self.assertGreaterEqual(metric(self.ciap, "failed", "deploy"), 1)
        self.assertTrue(wait_until(lambda: self.ciap.event("upstream credential not minted")))
        self.assert_secret_nowhere("not-the-secret", bodies=[r.body.decode()])
        # The right secret (re-read from its file) mints after the backoff, without a restart.
        with open(self.secret_file, "w") as f:
            f.write(CLIENT_SECRET + "\n")
        self.assertTrue(wait_until(lambda: self.call().status == 200, timeout=10))
        # The IdP gone: a held token keeps serving; without one, 503 within the timeout.
        self.idp.stop()
        self.assertEqual(self.call().status, 200, "the minted token is still good")

    def test_source_down_before_the_first_mint_is_503_within_the_timeout(self):
        self.start(timeout="1s")
        self.idp.stop()
        started = time.monotonic()
        self.assert_unavailable(self.call())
        self.assertLess(time.monotonic() - started, 2.5)
        self.assertEqual(self.up.request_count, 0)


class GitHubAppTest(UpstreamAuthCase):
    """A GitHub App token minted from a strict emulator, used on its contents API."""

    APP_ID = 12345
    INSTALLATION = 67890

    def start(self, token_ttl=3600, repositories=("app",), permissions=None):
        self.app_key = genkey(os.path.join(self.tmp, "app.pem"), "rsa")
        self.gh = GitHubEmulator(app_id=self.APP_ID, app_key_file=self.app_key,
                                 installation_id=self.INSTALLATION, owner="acme",
                                 repositories=["app", "infra"],
                                 permissions={"contents": "write", "metadata": "read"},
                                 token_ttl=token_ttl).start()
        self.addCleanup(self.gh.stop)
        credentials = {"type": "github_app", "api_url": self.gh.url, "app_id": self.APP_ID,
                       "private_key_file": self.app_key, "installation_id": self.INSTALLATION,
                       "permissions": permissions or {"contents": "write"}, "timeout": "1s"}
        if repositories:
            credentials["repositories"] = list(repositories)
        contents = route("github-contents", "github", match={"path_prefix": "/repos/"},
                         allow=["deployers"], credentials=credentials)
        contents.pop("public", None)
        self.ciap = self.start_ciap(self.config(
            [contents], [upstream_cfg("github", f"127.0.0.1:{self.gh.port}")]))

    def put(self, path="/repos/acme/app/contents/README.md", token=0):
        return self.call("PUT", path, token=token, body=b"new readme")

    def test_pushing_through_an_installation_token_minted_once(self):
        self.start()
        with concurrent.futures.ThreadPoolExecutor(10) as pool:
            statuses = list(pool.map(lambda i: self.put(token=i % 2).status, range(100)))
        self.assertEqual(statuses, [201] * 100)
        self.assertEqual(len(self.gh.mints), 1)
        mint_ = self.gh.mints[0]
        self.assertEqual(mint_["repositories"], ["app"])
        self.assertEqual(mint_["permissions"], {"contents": "write"})
        self.assertEqual(mint_["jwt_claims"]["iss"], self.APP_ID)
        self.assertLessEqual(mint_["jwt_claims"]["exp"] - mint_["jwt_claims"]["iat"], 600)
        self.assertTrue(all(u["valid"] and u["token"] == mint_["token"] for u in self.gh.api_uses))
        # Narrowed to `app`: another repository of the installation is out of reach.
        self.assertEqual(self.put("/repos/acme/infra/contents/x").status, 404)
        with open(self.app_key) as f:
            key_line = f.read().splitlines()[1]
        self.assert_secret_nowhere(mint_["token"], key_line)

    def test_a_token_close_to_expiry_is_replaced_with_no_failed_request(self):
        self.start(token_ttl=8)
        failures = []
        deadline = time.time() + 13
        while time.time() < deadline:
            r = self.put()
            if r.status != 201:
                failures.append((r.status, r.body[:200]))
            time.sleep(0.05)
        self.assertEqual(failures, [])
        self.assertGreaterEqual(len(self.gh.mints), 2)
        self.assertLessEqual(len(self.gh.mints), 4)
        self.assertTrue(all(u["valid"] for u in self.gh.api_uses), "never an expired token")

    def test_a_refusing_down_or_garbage_source_is_503_and_nothing_is_forwarded(self):
        self.start(permissions={"administration": "write"})  # not granted to the installation
        r = self.put()
        self.assert_unavailable(r)
        self.assertEqual(self.gh.api_uses, [])
        self.assertTrue(wait_until(lambda: "not granted" in "\n".join(self.ciap.stderr_lines)))
        for mode in ("down", "garbage", "error", "slow"):
            self.gh.set_mode(mode)
            self.gh.slow_seconds = 3
            time.sleep(1.1)  # past the retry backoff of the last failure
            started = time.monotonic()
            self.assert_unavailable(self.put())
            self.assertLess(time.monotonic() - started, 2.5, mode)
        self.assertEqual(self.gh.api_uses, [])


if __name__ == "__main__":
    unittest.main()
