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

import base64
import concurrent.futures
import http.client
import http.server
import json
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ciaptest import (CIAP_BIN, CiapTestCase, certs, conn, curl, log, make_config,
                      plain_listener, request_on, to_yaml,  # noqa: E402
                      request, route, tls_listener, upstream_cfg, wait_until)
from gitlab_emulator import GitLabEmulator  # noqa: E402
from sts_emulator import StsEmulator, presign_token  # noqa: E402
from test_identity import CLIENT_ID, CLIENT_SECRET, OidcServer, https_context  # noqa: E402
from test_identity import mint, require_node  # noqa: E402

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
        body = json.loads(response.body)
        self.assertEqual(body["reason"], reason)
        # The error body names the reason and the request, never the credential.
        self.assertEqual(set(body), {"error", "reason", "request_id"})


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

    def test_a_reload_keeps_the_answers_of_an_unchanged_source(self):
        self.gl.add_job(JOB_TOKEN, project_path="acme/platform/app")
        self.start_proxy([self.provider()])
        self.assertEqual(self.get({"JOB-TOKEN": JOB_TOKEN}).status, 200)
        cfg = json.loads(json.dumps(self.ciap.config))

        def reload(n):
            with open(self.ciap.config_path, "w") as f:
                f.write(to_yaml(cfg))
            self.ciap.signal(signal.SIGHUP)
            self.assertTrue(wait_until(lambda: self.ciap.metrics().value(
                "ciap_config_reloads_total", result="success") >= n, timeout=10))

        # Another binding, same source: the cached answer is decided again, GitLab not asked.
        cfg["identity_providers"][0]["bound_claims"] = {"namespace_path": "other/group"}
        reload(1)
        self.assert_refused(self.get({"JOB-TOKEN": JOB_TOKEN}), 401, "bound_claims")
        cfg["identity_providers"][0]["bound_claims"] = {"namespace_path": "acme/platform"}
        reload(2)
        self.assertEqual(self.get({"JOB-TOKEN": JOB_TOKEN}).status, 200)
        self.assertEqual(self.gl.hits["/api/v4/job"], 1)
        # Another GitLab: nothing carried over.
        cfg["identity_providers"][0]["url"] = self.gl.url.replace("127.0.0.1", "localhost")
        reload(3)
        self.assertEqual(self.get({"JOB-TOKEN": JOB_TOKEN}).status, 200)
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

    def test_revoked_token_is_refused_once_cache_ttl_passes(self):
        self.gl.add_access_token(PAT, user={"username": "project_42_bot_1a2b", "bot": True})
        self.start_proxy([self.provider(cache_ttl="1s")])
        self.assertEqual(self.get({"PRIVATE-TOKEN": PAT}).status, 200)
        self.gl.revoke(PAT)
        self.assertEqual(self.get({"PRIVATE-TOKEN": PAT}).status, 200, "still cached")
        time.sleep(1.2)
        r = self.get({"PRIVATE-TOKEN": PAT})
        self.assert_refused(r, 401, "invalid_token")
        self.assertNotIn(PAT.encode(), r.body)
        self.assertEqual(self.gl.hits["/api/v4/personal_access_tokens/self"], 2)

    def test_without_read_user_the_login_is_absent_and_rules_on_it_fail_closed(self):
        self.gl.add_access_token(PAT, scopes=["read_repository"],
                                 user={"username": "project_42_bot_1a2b", "bot": True})
        self.start_proxy([self.provider()])
        self.assert_refused(self.get({"PRIVATE-TOKEN": PAT}), 401, "bound_claims")


class IntrospectionTest(SourceTestCase):
    """The real oidc-provider issues opaque client_credentials tokens and introspects them."""

    INTROSPECTION_SECRET = "ciap-introspection-secret"

    def setUp(self):
        super().setUp()
        require_node()
        self.idp = OidcServer(os.path.join(self.tmp, "idp-keys.json")).start()
        self.addCleanup(self.idp.stop)
        self.secret_file = os.path.join(self.tmp, "introspection-secret")
        with open(self.secret_file, "w") as f:
            f.write(self.INTROSPECTION_SECRET + "\n")

    def provider(self, **kw):
        p = {"name": "corp-opaque", "type": "introspection",
             "introspection_endpoint": self.idp.ready["introspection_endpoint"],
             "client_id": "ciap", "client_secret": "${secret:" + self.secret_file + "}",
             "ca_file": certs().ca, "audiences": ["ci-proxy"], "timeout": "2s"}
        p.update(kw)
        return p

    def opaque_token(self, audience="ci-proxy"):
        body = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": "ci",
                                       "resource": f"urn:ciap:opaque:{audience}"}).encode()
        req = urllib.request.Request(self.idp.ready["token_endpoint"], data=body, method="POST")
        basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        req.add_header("Authorization", f"Basic {basic}")
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
        with urllib.request.urlopen(req, context=https_context(), timeout=10) as r:
            token = json.loads(r.read())["access_token"]
        self.assertNotIn(".", token, "an opaque token, not a JWT")
        return token

    def revoke(self, token):
        body = urllib.parse.urlencode({"token": token}).encode()
        req = urllib.request.Request(self.idp.ready["revocation_endpoint"], data=body,
                                     method="POST")
        basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        req.add_header("Authorization", f"Basic {basic}")
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
        urllib.request.urlopen(req, context=https_context(), timeout=10).read()

    def test_active_token_is_accepted_and_revocation_counts_after_cache_ttl(self):
        self.start_proxy([self.provider(cache_ttl="1s", bound_claims={"client_id": "ci-agent"})])
        token = self.opaque_token()
        r = self.get({"Authorization": f"Bearer {token}"})
        self.assertEqual(r.status, 200, r.body[:300])
        seen = {k.lower(): v for k, v in r.json()["headers"]}
        self.assertEqual(seen["x-ciap-provider"], "corp-opaque")
        self.assertNotIn("authorization", seen)
        self.assertEqual(self.idp.count("/token/introspection", "POST"), 1)
        self.revoke(token)
        self.assertEqual(self.get({"Authorization": f"Bearer {token}"}).status, 200, "cached")
        time.sleep(1.2)
        self.assert_refused(self.get({"Authorization": f"Bearer {token}"}), 401,
                            "inactive_token")
        self.assert_secret_nowhere(token, self.INTROSPECTION_SECRET)
        shown = json.loads(self.ciap.admin_get("/config")[2])["identity_providers"][0]
        self.assertEqual(shown["type"], "introspection")
        self.assertEqual(shown["client_secret"], f"(file {self.secret_file})")
        self.assertEqual(shown["cache_ttl"], "1000ms")

    def test_other_audience_unknown_token_and_refused_client(self):
        self.start_proxy([self.provider()])
        self.assert_refused(self.get({"Authorization": f"Bearer {self.opaque_token('other')}"}),
                            401, "wrong_audience")
        self.assert_refused(self.get({"Authorization": "Bearer not-a-token-the-idp-made"}), 401,
                            "inactive_token")
        # ciap's own client refused by the IdP: the source is unusable, not the caller's token.
        with open(self.secret_file, "w") as f:
            f.write("wrong-secret")
        self.assert_refused(self.get({"Authorization": f"Bearer {self.opaque_token()}"}), 503,
                            "identity_source_unavailable")
        self.assertEqual(self.up.request_count, 0)

    def test_idp_down_is_503_then_served_again(self):
        self.start_proxy([self.provider()])
        token = self.opaque_token()
        port = self.idp.port
        self.idp.stop()
        start = time.monotonic()
        self.assert_refused(self.get({"Authorization": f"Bearer {token}"}), 503,
                            "identity_source_unavailable")
        self.assertLess(time.monotonic() - start, 3.1)
        self.idp = OidcServer(self.idp.keys_file, port=port).start()
        self.addCleanup(self.idp.stop)
        # The IdP lost its opaque tokens with its memory: a new one works.
        self.assertEqual(self.get({"Authorization": f"Bearer {self.opaque_token()}"}).status, 200)


class ClientCertificateTest(SourceTestCase):
    """Real client certificates through curl and openssl s_client."""

    def setUp(self):
        super().setUp()
        self.pki = certs()
        self.d = os.path.join(self.tmp, "client-certs")
        os.makedirs(self.d)

    def make_cert(self, name, subject, sans=None, ca=None, ca_key=None, days=30, start=None,
                  end="20200102000000Z"):
        """A client certificate signed by the test CA (or another), with SANs."""
        key = os.path.join(self.d, name + ".key")
        csr = os.path.join(self.d, name + ".csr")
        crt = os.path.join(self.d, name + ".crt")
        ext = os.path.join(self.d, name + ".ext")
        subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-subj", subject, "-keyout", key,
                        "-out", csr], check=True, capture_output=True)
        with open(ext, "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\nextendedKeyUsage=clientAuth\n")
            if sans:
                f.write("subjectAltName=" + ",".join(sans) + "\n")
        ca, ca_key = ca or self.pki.ca, ca_key or os.path.join(self.pki.dir, "ca.key")
        if start is None:
            args = ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
                    "-CAcreateserial", "-out", crt, "-extfile", ext, "-sha256", "-days", str(days)]
        else:
            # A certificate valid only in the past: `openssl ca` is the tool that takes dates.
            conf = os.path.join(self.d, name + ".cnf")
            open(os.path.join(self.d, "index.txt"), "a").close()
            with open(conf, "w") as f:
                f.write(f"[ca]\ndefault_ca=d\n[d]\ndatabase={self.d}/index.txt\n"
                        f"new_certs_dir={self.d}\nserial={self.d}/serial\n"
                        "default_md=sha256\npolicy=p\n[p]\ncommonName=supplied\n")
            with open(os.path.join(self.d, "serial"), "w") as f:
                f.write("1000\n")
            args = ["openssl", "ca", "-batch", "-config", conf, "-in", csr, "-cert", ca,
                    "-keyfile", ca_key, "-out", crt, "-extfile", ext, "-notext",
                    "-startdate", start, "-enddate", end]
        subprocess.run(args, check=True, capture_output=True)
        return crt, key

    def start_mtls(self, bound_claims=None, client_auth="optional"):
        provider = {"name": "agents-mtls", "type": "client_certificate"}
        if bound_claims:
            provider["bound_claims"] = bound_claims
        lst = tls_listener("agents", [identity_route()])
        lst["tls"]["client_ca_file"] = self.pki.ca
        lst["tls"]["client_auth"] = client_auth
        self.start_proxy([provider], listener=lst)

    def curl_echo(self, crt=None, key=None):
        args = ["-o", "-", "-w", "\n%{http_code}",
                "--resolve", f"localhost:{self.port}:127.0.0.1",
                f"https://localhost:{self.port}/echo"]
        if crt:
            args = ["--cert", crt, "--key", key] + args
        r = curl(*args)
        body, _, code = r.stdout.decode().rpartition("\n")
        return int(code), body

    def test_spiffe_svid_is_the_caller(self):
        crt, key = self.make_cert("svid", "/O=Acme/CN=agent-1",
                                  ["URI:spiffe://ci.acme.internal/buildkite/agent-1",
                                   "DNS:agent-1.ci.acme.internal"])
        self.start_mtls(bound_claims={"trust_domain": "ci.acme.internal"})
        code, body = self.curl_echo(crt, key)
        self.assertEqual(code, 200, body[:300])
        seen = {k.lower(): v for k, v in json.loads(body)["headers"]}
        self.assertEqual(seen["x-ciap-provider"], "agents-mtls")
        self.assertEqual(seen["x-ciap-subject"], "spiffe://ci.acme.internal/buildkite/agent-1")

    def test_dns_san_certificate_subject_and_binding(self):
        crt, key = self.make_cert("dns", "/O=Acme/OU=CI/CN=runner-7",
                                  ["DNS:runner-7.ci.acme.internal"])
        self.start_mtls(bound_claims={"san_dns": {"contains": "*.ci.acme.internal"}})
        code, body = self.curl_echo(crt, key)
        self.assertEqual(code, 200, body[:300])
        seen = {k.lower(): v for k, v in json.loads(body)["headers"]}
        self.assertEqual(seen["x-ciap-subject"], "CN=runner-7,OU=CI,O=Acme")
        other_crt, other_key = self.make_cert("other", "/CN=laptop", ["DNS:laptop.example.com"])
        code, body = self.curl_echo(other_crt, other_key)
        self.assertEqual(code, 401)
        self.assertEqual(json.loads(body)["reason"], "bound_claims")
        code, body = self.curl_echo()
        self.assertEqual(code, 401)
        self.assertEqual(json.loads(body)["reason"], "missing_token")

    def test_resumed_tls_session_keeps_the_certificate_identity(self):
        """A TLS 1.3 client resumes with a ticket: no certificate is sent again, and the caller
        is still the certificate's."""
        crt, key = self.make_cert("svid", "/CN=agent-1",
                                  ["URI:spiffe://ci.acme.internal/buildkite/agent-1"])
        self.start_mtls(bound_claims={"trust_domain": "ci.acme.internal"})
        ctx = ssl.create_default_context(cafile=self.pki.ca)
        ctx.load_cert_chain(crt, key)
        session = None
        for attempt in range(3):
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost", session=session) as s:
                    s.sendall(b"GET /echo HTTP/1.1\r\nHost: localhost\r\n\r\n")
                    f = s.makefile("rb")
                    status = f.readline()
                    self.assertIn(b" 200 ", status, f"attempt {attempt}, resumed {s.session_reused}")
                    headers = {}
                    while (line := f.readline()) not in (b"\r\n", b""):
                        k, _, v = line.decode().partition(":")
                        headers[k.strip().lower()] = v.strip()
                    body = f.read(int(headers["content-length"]))
                    seen = {k.lower(): v for k, v in json.loads(body)["headers"]}
                    self.assertEqual(seen["x-ciap-subject"],
                                     "spiffe://ci.acme.internal/buildkite/agent-1")
                    if attempt > 0:
                        resumed = s.session_reused
                    session = s.session
        log(f"the last connection resumed its TLS session: {resumed}")

    def test_certificate_expiring_during_a_connection_stops_authenticating(self):
        """A keep-alive connection outliving its certificate: refused once notAfter passes."""
        fmt = "%Y%m%d%H%M%SZ"
        crt, key = self.make_cert(
            "short", "/CN=agent-1", ["URI:spiffe://ci.acme.internal/buildkite/agent-1"],
            start=time.strftime(fmt, time.gmtime(time.time() - 60)),
            end=time.strftime(fmt, time.gmtime(time.time() + 3)))
        self.start_mtls(bound_claims={"trust_domain": "ci.acme.internal"})
        ctx = ssl.create_default_context(cafile=self.pki.ca)
        ctx.load_cert_chain(crt, key)
        c = conn(self.port, context=ctx)
        self.assertEqual(request_on(c, "GET", "/echo").status, 200)
        time.sleep(4)
        r = request_on(c, "GET", "/echo")
        self.assert_refused(r, 401, "expired")
        c.close()

    def test_reload_that_changes_the_client_ca_closes_certificate_connections(self):
        """A CA removed by a reload: connections verified under it are closed, not kept."""
        crt, key = self.make_cert("svid", "/CN=agent-1",
                                  ["URI:spiffe://ci.acme.internal/buildkite/agent-1"])
        self.start_mtls(bound_claims={"trust_domain": "ci.acme.internal"})
        ctx = ssl.create_default_context(cafile=self.pki.ca)
        ctx.load_cert_chain(crt, key)
        c = conn(self.port, context=ctx)
        self.assertEqual(request_on(c, "GET", "/echo").status, 200)
        # A TLS session to resume after the reload (a ticket issued under the old CA).
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as t:
                t.sendall(b"GET /echo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                t.makefile("rb").read()
                session = t.session
        cfg = json.loads(json.dumps(self.ciap.config))
        cfg["listeners"][0]["tls"]["client_ca_file"] = self.pki.other_ca
        with open(self.ciap.config_path, "w") as f:
            f.write(to_yaml(cfg))
        self.ciap.signal(signal.SIGHUP)
        self.assertTrue(wait_until(lambda: self.ciap.metrics().value(
            "ciap_config_reloads_total", result="success") >= 1, timeout=10))
        with self.assertRaises((ConnectionError, http.client.HTTPException, OSError)):
            request_on(c, "GET", "/echo")
        c.close()
        # A new connection with that certificate no longer verifies.
        code, _ = self.curl_echo(crt, key)
        self.assertNotEqual(code, 200)
        # Nor does resuming the old session: its ticket is not the new listener's to honour.
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost", session=session) as t:
                    t.sendall(b"GET /echo HTTP/1.1\r\nHost: localhost\r\n"
                              b"Connection: close\r\n\r\n")
                    status = t.makefile("rb").readline()
                    log(f"resumed after the CA change: {t.session_reused}; {status!r}")
                    self.assertNotIn(b" 200 ", status)
        except (ssl.SSLError, ConnectionError, OSError) as e:
            log(f"resuming after the CA change failed as it should: {e}")

    def test_certificates_of_another_ca_or_expired_never_authenticate(self):
        self.start_mtls()
        other_ca_key = os.path.join(self.pki.dir, "other-ca.key")
        foreign = self.make_cert("foreign", "/CN=agent-1", ["DNS:agent-1"], ca=self.pki.other_ca,
                                 ca_key=other_ca_key)
        expired = self.make_cert("expired", "/CN=agent-1", ["DNS:agent-1"],
                                 start="20200101000000Z")
        for name, (crt, key) in (("another CA", foreign), ("expired", expired)):
            with self.subTest(name):
                r = subprocess.run(
                    ["openssl", "s_client", "-connect", f"127.0.0.1:{self.port}", "-cert", crt,
                     "-key", key, "-CAfile", self.pki.ca, "-ign_eof"],
                    input=b"GET /echo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                    capture_output=True, timeout=20)
                out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
                self.assertNotIn("HTTP/1.1 200", out)
                self.assertRegex(out, "alert|error|HTTP/1.1 401")
        self.assertEqual(self.up.request_count, 0)


class AwsIamTest(SourceTestCase):
    AUDIENCE = "ciap.acme.internal"
    ACCESS_KEY = "AKIDEXAMPLECODEBUILD"
    SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    ARN = "arn:aws:sts::123456789012:assumed-role/codebuild-deploy/AWSCodeBuild-5e7f"

    def setUp(self):
        super().setUp()
        c = certs()
        self.sts = StsEmulator(c.server_crt, c.server_key).start()
        self.addCleanup(self.sts.stop)
        self.sts.add_identity(self.ACCESS_KEY, self.SECRET_KEY, self.ARN,
                              "AROAEXAMPLE:AWSCodeBuild-5e7f", "123456789012")
        self.decoy = StsEmulator(c.server_crt, c.server_key).start()
        self.addCleanup(self.decoy.stop)
        self.decoy.add_identity(self.ACCESS_KEY, self.SECRET_KEY, self.ARN,
                                "AROAEXAMPLE:AWSCodeBuild-5e7f", "123456789012")

    def provider(self, **kw):
        p = {"name": "codebuild", "type": "aws_iam", "sts_endpoints": [self.sts.url],
             "audience": self.AUDIENCE, "ca_file": certs().ca,
             "bound_claims": {"account": "123456789012"}, "timeout": "2s"}
        p.update(kw)
        return p

    def token(self, endpoint=None, audience=None, **kw):
        return presign_token(endpoint or self.sts.url, audience or self.AUDIENCE,
                             self.ACCESS_KEY, self.SECRET_KEY, **kw)

    def test_presigned_caller_identity_is_the_caller(self):
        self.start_proxy([self.provider()])
        token = self.token()
        r = self.get({"Authorization": f"Bearer {token}"})
        self.assertEqual(r.status, 200, r.body[:300])
        seen = {k.lower(): v for k, v in r.json()["headers"]}
        self.assertEqual(seen["x-ciap-subject"], self.ARN)
        self.assertEqual(self.sts.hits, 1)
        self.assert_secret_nowhere(token, token[len("k8s-aws-v1."):])

    def test_never_calls_outside_sts_endpoints_nor_for_another_action_or_audience(self):
        self.start_proxy([self.provider()])
        cases = {
            "decoy host": self.token(endpoint=self.decoy.url),
            "other action": self.token(action="GetSessionToken"),
            "other audience header": self.token(audience_header="x-other-audience"),
            "expired": self.token(when=time.time() - 600, expires=60),
        }
        for name, token in cases.items():
            with self.subTest(name):
                r = self.get({"Authorization": f"Bearer {token}"})
                self.assertEqual(r.status, 401, r.body[:300])
        self.assertEqual(self.decoy.hits, 0, "the decoy was contacted")
        self.assertEqual(self.sts.hits, 0, "a presign that fails the checks was replayed")
        # Signed for another audience: STS sees ciap's audience, the signature fails there.
        self.assert_refused(self.get({"Authorization": f"Bearer {self.token(audience='x')}"}),
                            401, "invalid_token")
        self.assertEqual(self.sts.hits, 1)

    def ciap_token(self, env, *args):
        r = subprocess.run([CIAP_BIN, "token", "aws-iam", "--audience", self.AUDIENCE,
                            "--endpoint", self.sts.url, *args],
                           env={"PATH": os.environ.get("PATH", ""), **env},
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn(self.SECRET_KEY, r.stdout + r.stderr)
        return r.stdout.strip()

    def test_ciap_token_command_makes_what_sts_and_the_provider_accept(self):
        """`ciap token aws-iam` signs with ciap's own SigV4; botocore checks it in the emulator."""
        self.start_proxy([self.provider()])
        token = self.ciap_token({"AWS_ACCESS_KEY_ID": self.ACCESS_KEY,
                                 "AWS_SECRET_ACCESS_KEY": self.SECRET_KEY})
        r = self.get({"Authorization": f"Bearer {token}"})
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertEqual(self.sts.hits, 1)

        # CodeBuild and ECS hand out role credentials at a container endpoint.
        session = "FwoGZXIvYXdzEJr//////////wEaDExampleSessionToken+AbC="
        self.sts.add_identity("ASIAROLECREDENTIALS0", "role-secret", self.ARN, "AROAEXAMPLE:x",
                              "123456789012", session_token=session)
        creds = json.dumps({"AccessKeyId": "ASIAROLECREDENTIALS0", "SecretAccessKey": "role-secret",
                            "Token": session, "Expiration": "2100-01-01T00:00:00Z"}).encode()
        seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                seen.append((self.path, self.headers.get("Authorization")))
                self.send_response(200)
                self.send_header("Content-Length", str(len(creds)))
                self.end_headers()
                self.wfile.write(creds)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.shutdown)
        token = self.ciap_token({
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"http://127.0.0.1:{server.server_port}/creds",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": "container-auth"})
        self.assertEqual(seen, [("/creds", "container-auth")])
        r = self.get({"Authorization": f"Bearer {token}"})
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertEqual(self.sts.hits, 2)

    def test_other_account_is_refused_and_sts_down_is_503(self):
        self.sts.add_identity("AKIDOTHERACCOUNT0000", "other-secret",
                              "arn:aws:iam::999999999999:user/mallory", "AIDAOTHER",
                              "999999999999")
        self.start_proxy([self.provider()])
        other = presign_token(self.sts.url, self.AUDIENCE, "AKIDOTHERACCOUNT0000", "other-secret")
        self.assert_refused(self.get({"Authorization": f"Bearer {other}"}), 401, "bound_claims")
        self.sts.set_mode("down")
        self.assert_refused(self.get({"Authorization": f"Bearer {self.token()}"}), 503,
                            "identity_source_unavailable")
        self.sts.set_mode("normal")
        # STS throttling is a 400 that says nothing about the caller: 503, not 401.
        self.sts.throttled = True
        self.assert_refused(self.get({"Authorization": f"Bearer {self.token()}"}), 503,
                            "identity_source_unavailable")
        self.sts.throttled = False
        self.sts.set_mode("normal")
        self.assertEqual(self.get({"Authorization": f"Bearer {self.token()}"}).status, 200)


class CredentialRoutingTest(SourceTestCase):
    """A compact JWS of a known issuer goes to the JWT providers of its header; anything else
    to the one lookup provider owning its header and prefix; nothing crosses over."""

    def test_jwt_in_job_token_header_and_job_token_in_authorization(self):
        require_node()
        idp = OidcServer(os.path.join(self.tmp, "idp-keys.json")).start()
        self.addCleanup(idp.stop)
        gl = GitLabEmulator().start()
        self.addCleanup(gl.stop)
        gl.add_job(JOB_TOKEN, project_path="acme/platform/app")
        self.start_proxy([
            {"name": "corp", "type": "oidc", "issuer": idp.issuer, "audiences": ["ciap-test"],
             "ca_file": certs().ca},
            {"name": "jobs", "type": "gitlab_job_token", "url": gl.url,
             "bound_claims": {"namespace_path": "acme/platform"}},
        ])
        jwt = idp.token()
        self.assertTrue(wait_until(lambda: self.ciap.admin_get("/ready")[0] == 200, 15))
        self.assertEqual(self.get({"Authorization": f"Bearer {jwt}"}).status, 200)
        self.assertEqual(self.get({"JOB-TOKEN": JOB_TOKEN}).status, 200)
        self.assertEqual(gl.hits["/api/v4/job"], 1)
        # A JWT in JOB-TOKEN is GitLab's to judge (JWT providers do not read that header).
        self.assert_refused(self.get({"JOB-TOKEN": jwt}), 401, "invalid_token")
        self.assertEqual(gl.hits["/api/v4/job"], 2)
        # A job token in Authorization: no lookup provider reads it there, and it is no JWT.
        self.assert_refused(self.get({"Authorization": f"Bearer {JOB_TOKEN}"}), 401, "malformed")
        self.assertEqual(gl.hits["/api/v4/job"], 2, "GitLab was asked about an Authorization")
        self.assertEqual(self.up.request_count, 2)


def _probable_prime(n, rounds=24):
    """Miller-Rabin with random bases."""
    if n < 4:
        return n in (2, 3)
    if n % 2 == 0:
        return False
    d, r = n - 1, 0
    while d % 2 == 0:
        d //= 2
        r += 1
    rng = random.SystemRandom()
    for _ in range(rounds):
        x = pow(rng.randrange(2, n - 1), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def roca_modulus(bits=2048):
    """A modulus made like Infineon RSALib's weak keys (CVE-2017-15361): each prime is
    k * M + (65537^a mod M), M the product of the first 39 primes."""
    small = [p for p in range(2, 200) if all(p % q for q in range(2, p))][:39]
    m = 1
    for p in small:
        m *= p
    rng = random.SystemRandom()

    # k in a range that puts each prime's top two bits at 1, so that n has exactly `bits`.
    low, high = (3 << (bits // 2 - 2)) // m + 1, (1 << (bits // 2)) // m - 1

    def prime():
        while True:
            p = rng.randrange(low, high) * m + pow(65537, rng.randrange(1, 1 << 62), m)
            if _probable_prime(p):
                return p

    while True:
        n = prime() * prime()
        if n.bit_length() == bits:
            return n


class RocaKeyTest(SourceTestCase):
    def test_roca_key_is_refused_with_the_reason_in_jwks_status(self):
        n = roca_modulus()
        b64 = base64.urlsafe_b64encode(n.to_bytes(256, "big")).rstrip(b"=").decode()
        good = mint({"keys": [{"name": "good"}]})["jwks"]["good"]["keys"][0]
        jwks = os.path.join(self.tmp, "jwks.json")
        with open(jwks, "w") as f:
            json.dump({"keys": [{"kty": "RSA", "kid": "roca", "n": b64, "e": "AQAB"}, good]}, f)
        self.start_proxy([{"name": "corp", "type": "oidc", "issuer": "https://idp.example",
                           "audiences": ["ciap-test"], "jwks_file": jwks}])
        status = json.loads(self.ciap.admin_get("/jwks-status")[2])
        corp = status["providers"][0]
        self.assertEqual([k["kid"] for k in corp["keys"]], [good["kid"]])
        self.assertEqual(corp["ignored"][0]["kid"], "roca")
        self.assertIn("CVE-2017-15361", corp["ignored"][0]["reason"])


class SourceFaultsTest(SourceTestCase):
    """Every lookup source down, slow past its timeout, failing or answering garbage: 503 within
    the timeout (plus the margin the wait allows), nothing forwarded; back up: served again."""

    def test_each_source_fails_closed_in_bounded_time_and_recovers(self):
        c = certs()
        gl = GitLabEmulator().start()
        self.addCleanup(gl.stop)
        sts = StsEmulator(c.server_crt, c.server_key).start()
        self.addCleanup(sts.stop)
        sts.add_identity(AwsIamTest.ACCESS_KEY, AwsIamTest.SECRET_KEY, AwsIamTest.ARN,
                         "AROAEXAMPLE:x", "123456789012")
        gl.add_job(JOB_TOKEN, project_path="acme/platform/app")
        gl.add_access_token(PAT, user={"username": "project_42_bot_1", "bot": True})
        common = {"timeout": "1s"}
        self.start_proxy([
            {"name": "jobs", "type": "gitlab_job_token", "url": gl.url,
             "bound_claims": {"namespace_path": "acme/platform"}, **common},
            {"name": "pats", "type": "gitlab_access_token", "url": gl.url,
             "bound_claims": {"user_login": "project_42_bot*"}, **common},
            # An introspection endpoint on the misbehaving server: only its faults matter here
            # (IntrospectionTest recovers against the real oidc-provider).
            {"name": "corp", "type": "introspection", "token_headers": ["X-Corp-Token"],
             "introspection_endpoint": gl.url + "/oauth/introspect", "client_id": "ciap",
             "client_secret": "s3cret-for-introspection", **common},
            {"name": "aws", "type": "aws_iam", "sts_endpoints": [sts.url], "ca_file": c.ca,
             "audience": AwsIamTest.AUDIENCE, "bound_claims": {"account": "123456789012"},
             **common},
        ])
        aws_token = presign_token(sts.url, AwsIamTest.AUDIENCE, AwsIamTest.ACCESS_KEY,
                                  AwsIamTest.SECRET_KEY, expires=300)
        credentials = {
            "jobs": ({"JOB-TOKEN": JOB_TOKEN}, gl),
            "pats": ({"PRIVATE-TOKEN": PAT}, gl),
            "corp": ({"X-Corp-Token": "opaque-corp-token"}, gl),
            "aws": ({"Authorization": f"Bearer {aws_token}"}, sts),
        }
        gl.slow_seconds = sts.slow_seconds = 3
        for mode in ("down", "slow", "garbage", "error"):
            for name, (headers, server) in credentials.items():
                with self.subTest(source=name, mode=mode):
                    server.set_mode(mode)
                    start = time.monotonic()
                    r = self.get(headers)
                    took = time.monotonic() - start
                    self.assert_refused(r, 503, "identity_source_unavailable")
                    self.assertLess(took, 2.1, f"answered after {took:.2f} s")
        self.assertEqual(self.up.request_count, 0, "nothing forwarded while a source is out")
        gl.set_mode("normal")
        sts.set_mode("normal")
        for name in ("jobs", "pats", "aws"):
            with self.subTest(source=name, mode="back"):
                self.assertEqual(self.get(credentials[name][0]).status, 200)
        self.assert_secret_nowhere(JOB_TOKEN, PAT, "opaque-corp-token", aws_token,
                                   "s3cret-for-introspection")


if __name__ == "__main__":
    unittest.main()
