"""Fault tests (issue 5, acceptance 5).

- The IdP unreachable for a long outage, played with shortened key timers (CIAP_KEY_TIMING):
  the keys are refreshed every ~1.5 s, so 40 s down is ~25 failed refresh cycles, where a real
  5-minute outage with the documented timers (refresh at 3/4 of a TTL of at least 5 min) has at
  most two. Zero failed requests for tokens whose keys are cached, /ready stays 200, and the
  keys are refreshed again once the IdP is back.
- An upstream that resets the connection mid request body: 502; mid response body: the client's
  connection is cut (the status was already sent); either way ciap keeps serving.
"""

import os
import socket
import threading
import time
import unittest

from ciaptest import (CiapTestCase, log, make_config, plain_listener, raw_socket, read_response,
                      request, route, upstream_cfg, wait_until)
from test_identity import (CLIENT_ID, IdentityAsserts, OidcServer, bearer, identity_config,
                           oidc_provider_cfg, port_refuses, require_node)

OUTAGE_SECONDS = 40
TIMERS = "min_ttl=2s,max_ttl=2s,default_ttl=2s,retry_min=1s,retry_max=2s,unknown_kid_interval=2s"


class IdpOutage(IdentityAsserts, CiapTestCase):
    def setUp(self):
        require_node()
        super().setUp()

    def test_idp_down_for_a_long_outage(self):
        keys = os.path.join(self.tmp, "keys.json")
        idp = OidcServer(keys).start()
        self.addCleanup(idp.stop)
        provider = oidc_provider_cfg(idp.issuer)
        provider["jwks_uri"] = idp.ready["jwks_uri"]
        up = self.start_upstream()
        os.environ["CIAP_KEY_TIMING"] = TIMERS
        try:
            ciap = self.start_ciap(identity_config(up, [provider]), args=["--concurrency", "2"])
        finally:
            del os.environ["CIAP_KEY_TIMING"]
        self.wait_ready(ciap)
        tokens = [idp.token() for _ in range(20)]
        self.assert_accepted(request(ciap.port(), "GET", "/echo", headers=bearer(tokens[0])),
                             "corp", CLIENT_ID)
        fetched = ciap.metrics().value("ciap_jwks_fetch_total", provider="corp", result="success")
        # The short timers are in force: the keys are refetched every couple of seconds.
        self.assertTrue(wait_until(lambda: ciap.metrics().value(
            "ciap_jwks_fetch_total", provider="corp", result="success") >= fetched + 2, 10))

        idp.stop()
        self.assertTrue(port_refuses(idp.port))
        errors_before = ciap.metrics().value("ciap_jwks_fetch_total", provider="corp",
                                             result="error") or 0
        failures, sent, not_ready = [], 0, 0
        deadline = time.monotonic() + OUTAGE_SECONDS
        i = 0
        while time.monotonic() < deadline:
            # Fresh connections (both workers), 20 tokens (mostly cache misses: every request
            # verifies a signature with the cached keys).
            r = request(ciap.port(), "GET", "/echo", headers=bearer(tokens[i % len(tokens)]))
            sent += 1
            if r.status != 200:
                failures.append((i, r.status, r.body[:200]))
            if i % 20 == 0 and ciap.admin_get("/ready")[0] != 200:
                not_ready += 1
            i += 1
            time.sleep(0.02)
        errors = (ciap.metrics().value("ciap_jwks_fetch_total", provider="corp",
                                       result="error") or 0) - errors_before
        log(f"IdP down {OUTAGE_SECONDS}s: {sent} requests, {len(failures)} failed, "
            f"{int(errors)} failed key refreshes, /ready not 200 {not_ready} times")
        self.assertEqual(failures, [])
        self.assertEqual(not_ready, 0)
        self.assertGreaterEqual(errors, 10, "the outage did not span many refresh cycles")
        self.assertTrue(any("keeping the last good keys" in line
                            for line in ciap.stderr_tail(400).splitlines()))

        # The IdP comes back (same keys, same port): refreshes succeed again.
        idp2 = OidcServer(keys, port=idp.port).start()
        self.addCleanup(idp2.stop)
        ok_before = ciap.metrics().value("ciap_jwks_fetch_total", provider="corp",
                                         result="success")
        self.assertTrue(wait_until(lambda: ciap.metrics().value(
            "ciap_jwks_fetch_total", provider="corp", result="success") > ok_before, 15))
        self.assertEqual(self.jwks_status(ciap, "corp")["failures"], 0)
        self.assert_accepted(request(ciap.port(), "GET", "/echo", headers=bearer(idp2.token())),
                             "corp", CLIENT_ID)


class UpstreamResets(CiapTestCase):
    def setUp(self):
        super().setUp()
        self.up = self.start_upstream()
        cfg = make_config([upstream_cfg("app", self.up)],
                          [plain_listener("plain", [route("all", "app")])])
        self.ciap = self.start_ciap(cfg)
        self.port = self.ciap.port()

    def test_reset_mid_request_body_is_a_502(self):
        body = b"x" * (4 << 20)  # far more than the upstream reads before its reset
        for _ in range(5):
            s = raw_socket(self.port)
            s.sendall(b"POST /reset-mid-request/65536 HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(body))
            try:
                s.sendall(body)
            except OSError:
                pass  # ciap may stop reading once the upstream is gone
            r = read_response(s.makefile("rb"))
            s.close()
            self.assertEqual(r.status, 502, r)
            self.assertIn(b"upstream", r.body)
            self.assertEqual(request(self.port, tls=False).status, 200)
        self.assertTrue(self.ciap.running())

    def test_reset_mid_response_body_cuts_the_client_and_ciap_keeps_serving(self):
        for _ in range(5):
            s = raw_socket(self.port)
            s.sendall(b"GET /reset-mid-response/100000 HTTP/1.1\r\nHost: x\r\n\r\n")
            f = s.makefile("rb")
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                head += f.read(1)
            self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
            self.assertIn(b"Content-Length: 200000", head)
            got = 0
            while True:
                try:
                    chunk = f.read1(65536)
                except OSError:
                    break
                if not chunk:
                    break
                got += len(chunk)
            s.close()
            # Fewer bytes than announced and the connection closed: the client can tell.
            self.assertLess(got, 200000)
            self.assertEqual(request(self.port, tls=False).status, 200)
        self.assertTrue(self.ciap.running())
        m = self.ciap.metrics()
        self.assertEqual(m.value("ciap_requests_total", listener="plain", route="all",
                                 code="200"), 10)


if __name__ == "__main__":
    unittest.main()
