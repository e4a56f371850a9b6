"""Credential injection: `${secret:/file}` and `${claim:name}` header values reach the upstream,
secrets are re-read when their file is replaced, and neither the injected secret nor the
caller's token shows up in any log, metric, /config output or error body."""
import json
import os
import subprocess
import time
import unittest

from ciaptest import (SOURCE_DIR, CiapTestCase, make_config, plain_listener, request,
                      upstream_cfg, wait_until)

ISSUER = "https://idp.demo.ciap.local"      # what scripts/demo-token mints
AUDIENCE = "https://ciap-demo.local"
SECRET = "s3cr3t-upstream-credential-7f1c2a"
ROTATED = "r0tated-upstream-credential-93be41"


class CredentialInjection(CiapTestCase):

    def setUp(self):
        super().setUp()
        self.idp = os.path.join(self.tmp, "idp")
        self.token = self.mint()
        self.secret_dir = os.path.join(self.tmp, "secrets")
        os.makedirs(self.secret_dir)
        self.secret_path = os.path.join(self.secret_dir, "token")
        self.write_secret(SECRET)
        self.up = self.start_upstream()
        routes = [
            {"name": "artifacts", "match": {"path_prefix": "/echo"}, "upstream": "app",
             "authenticate": True,
             "request_headers": {"set": {
                 "Authorization": "Bearer ${secret:" + self.secret_path + "}",
                 "X-Pipeline": "${claim:pipeline_slug}",
                 "X-Literal": "cost-center-42 $${not-a-ref}"}}},
            {"name": "public", "match": {"path_prefix": "/public/"}, "upstream": "app",
             "public": True},
        ]
        cfg = make_config([upstream_cfg("app", self.up)], [plain_listener("plain", routes)])
        cfg["identity_providers"] = [{
            "name": "corp", "type": "oidc", "issuer": ISSUER, "audiences": [AUDIENCE],
            "jwks_file": os.path.join(self.idp, "jwks.json")}]
        self.ciap = self.start_ciap(cfg)
        self.assertTrue(wait_until(lambda: self.ciap.admin_get("/ready")[0] == 200, 15, 0.05))

    def mint(self, **claims):
        args = [os.path.join(SOURCE_DIR, "scripts", "demo-token"), "--dir", self.idp]
        for name, value in claims.items():
            args += ["--claim", f"{name}={value}"]
        return subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip()

    def write_secret(self, value):
        # The way Kubernetes rotates a Secret mount: write aside, then swap atomically.
        tmp = self.secret_path + ".new"
        with open(tmp, "w") as f:
            f.write(value + "\n")
        os.replace(tmp, self.secret_path)

    def echo(self, token=None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return request(self.ciap.port(), "GET", "/echo", headers=headers, tls=False)

    def upstream_headers(self, response):
        self.assertEqual(response.status, 200, response.body[:300])
        return {k.lower(): v for k, v in json.loads(response.body)["headers"]}

    def test_injected_values_reach_the_upstream(self):
        """The upstream gets the secret file's credential, the claim, and the literal."""
        h = self.upstream_headers(self.echo(self.token))
        self.assertEqual(h["authorization"], f"Bearer {SECRET}")  # not the caller's token
        self.assertEqual(h["x-pipeline"], "deploy-api")
        self.assertEqual(h["x-literal"], "cost-center-42 ${not-a-ref}")

    def test_secret_rotation_and_removal(self):
        """A replaced secret file is picked up within ~1 s; a missing one answers 503."""
        self.assertIn(SECRET, self.upstream_headers(self.echo(self.token))["authorization"])
        self.write_secret(ROTATED)
        self.assertTrue(wait_until(
            lambda: ROTATED in self.upstream_headers(self.echo(self.token))["authorization"],
            5, 0.2), "rotated secret not picked up")
        os.remove(self.secret_path)
        self.assertTrue(wait_until(lambda: self.echo(self.token).status == 503, 5, 0.2))
        r = self.echo(self.token)
        self.assertEqual(json.loads(r.body)["reason"], "secret_unavailable")
        self.write_secret(SECRET)
        self.assertTrue(wait_until(lambda: self.echo(self.token).status == 200, 5, 0.2))

    def test_no_secret_or_token_anywhere(self):
        """Neither the secret nor the caller's token appears in logs, metrics, /config or errors."""
        bodies = []
        self.assertEqual(self.echo(self.token).status, 200)
        for token in (None, self.token[:-6] + "AAAAAA", self.mint(organization_slug="x", exp=5)):
            r = self.echo(token)
            self.assertEqual(r.status, 401)
            bodies.append(r.body)
        bodies.append(request(self.ciap.port(), "GET", "/nothing", tls=False,
                              headers={"Authorization": f"Bearer {self.token}"}).body)
        time.sleep(0.3)  # access log lines are flushed every 100 ms
        with open(self.ciap.access_log_path, "rb") as f:
            access_log = f.read()
        _, _, config = self.ciap.admin_get("/config")
        routes = json.loads(config)["listeners"][0]["routes"]
        injected = routes[0]["request_headers"]["set"]
        # references stay visible (a path, a claim name); literal text is redacted
        self.assertEqual(injected["Authorization"], "[redacted]${secret:" + self.secret_path + "}")
        self.assertEqual(injected["X-Pipeline"], "${claim:pipeline_slug}")
        self.assertEqual(injected["X-Literal"], "[redacted]")
        haystacks = {
            "access log": access_log,
            "stderr": self.ciap.stderr_tail(10000).encode(),
            "metrics": self.ciap.admin_get("/metrics")[2],
            "/config": config,
            "/jwks-status": self.ciap.admin_get("/jwks-status")[2],
            "error bodies": b"\n".join(bodies),
        }
        signature = self.token.split(".")[2].encode()
        for where, text in haystacks.items():
            with self.subTest(where=where):
                self.assertNotIn(SECRET.encode(), text)
                self.assertNotIn(signature, text)
                self.assertNotIn(self.token.encode(), text)


if __name__ == "__main__":
    unittest.main()
