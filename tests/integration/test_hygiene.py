"""Request hygiene in the core, whatever a listener's filter chain says.

- Caller-sent x-ciap-* headers never reach the upstream, also on a listener whose chain has no
  `headers` filter (`filters: [identity, access]`), on group, authenticate-only and public
  routes.
- A request with a credential header twice (Authorization, or a provider's custom token header)
  is refused with 400 `duplicate_credential` and the upstream receives nothing, with
  forward_token true and false: an upstream that reads the last value would otherwise act on a
  token ciap never checked.

Tokens are minted with jose (tests/idp/mint-vendor.mjs); skipped without node.
"""

import unittest

from ciaptest import CiapTestCase, make_config, plain_listener, raw_socket, read_response, upstream_cfg
from test_access import corp_provider, header_values, mint_corp, require_node, wait_ready

GROUPS = {"deployers": {"provider": "corp", "claims": {"sub": "pipeline:*"}}}
ROUTES = [
    {"name": "deploy", "match": {"path_prefix": "/deploy/"}, "upstream": "app",
     "allow": ["deployers"]},
    {"name": "forwarding", "match": {"path_prefix": "/fwd/"}, "upstream": "app",
     "allow": ["deployers"], "forward_token": True},
    {"name": "any", "match": {"path_prefix": "/any/"}, "upstream": "app", "authenticate": True},
    {"name": "open", "match": {"path_prefix": "/open/"}, "upstream": "app", "public": True},
]
FORGED = [("x-ciap-subject", "pipeline:admin"), ("x-ciap-provider", "corp"),
          ("X-Ciap-Groups", "platform-admins"), ("x-ciap-anything", "1")]


def raw_request(port, path, headers):
    """Sends one GET with exactly these (name, value) pairs, duplicates included."""
    lines = [f"GET {path} HTTP/1.1", "Host: ci.acme", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers]
    with raw_socket(port) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return read_response(s.makefile("rb"))


class Hygiene(CiapTestCase):

    def setUp(self):
        require_node()
        super().setUp()
        jwks, self.tokens = mint_corp({"good": {"sub": "pipeline:deploy"},
                                       "other": {"sub": "pipeline:other"}})
        self.up = self.start_upstream()
        listener = plain_listener("plain", ROUTES, filters=["identity", "access"])
        cfg = make_config([upstream_cfg("app", self.up)], [listener])
        cfg["identity_providers"] = [
            corp_provider(self.tmp, jwks, token_headers=["Authorization", "X-CI-Token"])]
        cfg["groups"] = GROUPS
        self.ciap = self.start_ciap(cfg)
        wait_ready(self, self.ciap)

    def bearer(self, name="good"):
        return ("Authorization", f"Bearer {self.tokens[name]}")

    def test_forged_identity_headers_never_reach_the_upstream(self):
        """Without the headers filter, x-ciap-* from the caller are still dropped, every route."""
        for path, auth in (("/deploy/x", [self.bearer()]), ("/any/x", [self.bearer()]),
                           ("/open/x", []), ("/fwd/x", [self.bearer()])):
            with self.subTest(path=path):
                before = self.up.request_count
                r = raw_request(self.ciap.port(), path, auth + FORGED)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(self.up.request_count, before + 1)
                rec = self.up.last_request()
                self.assertEqual(rec["path"], path)
                leaked = [k for k, _ in rec["headers"] if k.lower().startswith("x-ciap-")]
                self.assertEqual(leaked, [], rec["headers"])

    def test_two_authorization_headers_are_refused(self):
        """Two Authorization headers: 400 duplicate_credential, nothing forwarded, either order,
        with forward_token false (/deploy) and true (/fwd), also when both are the same."""
        cases = [[self.bearer("good"), self.bearer("other")],
                 [self.bearer("other"), ("Authorization", "Bearer forged.token.value")],
                 [("Authorization", "Basic Zm9vOmJhcg=="), self.bearer("good")],
                 [self.bearer("good"), self.bearer("good")]]
        for path in ("/deploy/x", "/fwd/x", "/any/x", "/open/x"):
            for headers in cases:
                with self.subTest(path=path, headers=[v[:20] for _, v in headers]):
                    before = self.up.request_count
                    r = raw_request(self.ciap.port(), path, headers)
                    self.assertEqual(r.status, 400, r)
                    self.assertEqual(r.json()["reason"], "duplicate_credential")
                    self.assertEqual(self.up.request_count, before, "the upstream got a request")

    def test_custom_token_header_twice_is_refused(self):
        """A provider's own token header (X-CI-Token) twice is refused the same way; once is fine,
        and one X-CI-Token next to one Authorization is not a duplicate."""
        good, other = self.tokens["good"], self.tokens["other"]
        before = self.up.request_count
        r = raw_request(self.ciap.port(), "/deploy/x", [("X-CI-Token", good), ("x-ci-token", other)])
        self.assertEqual((r.status, r.json()["reason"]), (400, "duplicate_credential"))
        self.assertEqual(self.up.request_count, before)
        r = raw_request(self.ciap.port(), "/deploy/x", [("X-CI-Token", good)])
        self.assertEqual(r.status, 200, r)
        r = raw_request(self.ciap.port(), "/fwd/x", [("X-CI-Token", good), self.bearer("good")])
        self.assertEqual(r.status, 200, r)
        rec = self.up.last_request()
        self.assertEqual(header_values(rec, "authorization"), [f"Bearer {good}"])

    def test_refusals_are_counted_and_logged(self):
        """duplicate_credential shows in ciap_rejected_requests_total and the access log."""
        r = raw_request(self.ciap.port(), "/deploy/x", [self.bearer(), self.bearer("other")])
        self.assertEqual(r.status, 400)
        line = self.ciap.access_for(r.header("x-request-id"))
        self.assertEqual((line["status"], line["reason"]), (400, "duplicate_credential"))
        m = self.ciap.metrics()
        self.assertEqual(m.value("ciap_rejected_requests_total", listener="plain",
                                 reason="duplicate_credential"), 1)
        # The token is a secret: not in the log line.
        self.assertNotIn(self.tokens["good"].split(".")[2], str(line))


if __name__ == "__main__":
    unittest.main()
