#!/usr/bin/env python3
"""github_emulator.py on its own: the checks behind the GitHub App tests, without ciap.

The emulator stands for GitHub in ciap's tests, so it must refuse what GitHub refuses and take
what GitHub takes: the app JWT (RS256 checked in pure Python against `openssl dgst -sign`,
iat/exp limits, iss forms), the minting request's headers and body, the tokens' lifetime,
repositories and permissions on the contents stand-in, the fault modes, the command line.
Standard library plus the openssl command; no ciap binary needed.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import github_emulator as ghe  # noqa: E402
from github_emulator import (EXP_INVALID, EXP_TOO_FAR, IAT_INVALID, MINT_HEADERS,  # noqa: E402
                             NO_USER_AGENT, NOT_ACCESSIBLE, NOT_GRANTED, UNDECODABLE,
                             GitHubEmulator, app_jwt, b64url, call, mint, sign_jwt)

APP_ID, INSTALLATION_ID, CLIENT_ID = 12345, 67890, "Iv1.0123456789abcdef"
NOT_ACCESSIBLE_BY_INTEGRATION = "Resource not accessible by integration"
_keys = {}


def setUpModule():
    d = _keys["dir"] = tempfile.mkdtemp(prefix="test-github-emulator-")
    _keys["app"] = ghe.generate_app_key(os.path.join(d, "app.pem"))
    _keys["other"] = ghe.generate_app_key(os.path.join(d, "other.pem"))
    for name, args in (("spki", ["openssl", "pkey", "-pubout"]),
                       ("pkcs1", ["openssl", "rsa", "-RSAPublicKey_out"])):
        _keys[name] = os.path.join(d, name + ".pem")
        subprocess.run(args + ["-in", _keys["app"], "-out", _keys[name]], check=True,
                       capture_output=True)
    _keys["cert"], _keys["key"] = os.path.join(d, "tls.crt"), os.path.join(d, "tls.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout",
                    _keys["key"], "-out", _keys["cert"]], check=True, capture_output=True)


def tearDownModule():
    shutil.rmtree(_keys["dir"], True)


def jwt(iss=APP_ID, iat=None, exp=None, key="app"):
    return app_jwt(_keys[key], iss, iat, exp)


def good_jwt():
    """A valid app JWT, signed again once a minute (each signature is an openssl run)."""
    if _keys.get("jwt_at", 0) < time.time() - 60:
        _keys["jwt"], _keys["jwt_at"] = jwt(), time.time()
    return _keys["jwt"]


class Crypto(unittest.TestCase):
    """The pieces: the key's numbers, RS256, base64url, the JWT's time rules."""

    def test_public_numbers_from_any_pem_form(self):
        n, e = ghe.rsa_public_numbers(_keys["app"])
        out = subprocess.run(["openssl", "rsa", "-in", _keys["app"], "-noout", "-modulus"],
                             check=True, capture_output=True, text=True).stdout
        self.assertEqual(n, int(out.strip().split("=")[1], 16))
        self.assertEqual((e, n.bit_length()), (65537, 2048))
        self.assertEqual(ghe.rsa_public_numbers(_keys["spki"]), (n, e))
        self.assertEqual(ghe.rsa_public_numbers(_keys["pkcs1"]), (n, e))
        ec = os.path.join(_keys["dir"], "ec.pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-out", ec], check=True)
        with self.assertRaises(ValueError):
            ghe.rsa_public_numbers(ec)

    def test_rs256_verify(self):
        n, e = ghe.rsa_public_numbers(_keys["app"])
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", _keys["app"]],
                             input=b"message", check=True, capture_output=True).stdout
        self.assertTrue(ghe.rs256_verify(n, e, b"message", sig))
        flipped = sig[:-1] + bytes([sig[-1] ^ 1])
        for message, signature in ((b"messagE", sig), (b"message", flipped),
                                   (b"message", sig[1:]), (b"message", b"\0" + sig),
                                   (b"message", n.to_bytes(256, "big")), (b"message", b"")):
            self.assertFalse(ghe.rs256_verify(n, e, message, signature))
        other = ghe.rsa_public_numbers(_keys["other"])
        self.assertFalse(ghe.rs256_verify(*other, b"message", sig))

    def test_b64url_strict(self):
        self.assertEqual(ghe.b64url_decode("QQ"), b"A")
        for bad in ("QQ==", "QR", "Q", "a+b/", "a b"):
            with self.assertRaises(ValueError, msg=bad):
                ghe.b64url_decode(bad)

    def test_time_rules_boundaries(self):
        now = 1_000_000
        for iat, exp, want in ((now + 60, now + 600, None), (now + 61, now + 600, IAT_INVALID),
                               (now - 60, now + 600, None), (now - 60, now + 601, EXP_TOO_FAR),
                               (now - 60, now, EXP_INVALID), (now - 60, now + 0.5, None),
                               (float(now), now + 60, IAT_INVALID), (True, now + 60, IAT_INVALID),
                               (None, now + 60, IAT_INVALID), (now, "1", EXP_INVALID),
                               (now, None, EXP_INVALID), (now, False, EXP_INVALID)):
            claims = {k: v for k, v in (("iat", iat), ("exp", exp)) if v is not None}
            self.assertEqual(ghe.jwt_time_problem(claims, now), want, claims)


class Emulated(unittest.TestCase):
    """One emulator per class (starting one is an openssl run), back to its defaults and
    without records before each test; tokens minted by earlier tests stay valid."""
    tls = False

    @classmethod
    def setUpClass(cls):
        tls = dict(cert=_keys["cert"], key=_keys["key"]) if cls.tls else {}
        cls.gh = GitHubEmulator(APP_ID, _keys["app"], INSTALLATION_ID, owner="acme",
                                repositories=["app", "infra"],
                                permissions={"contents": "write", "metadata": "read"},
                                client_id=CLIENT_ID, **tls).start()
        cls.addClassCleanup(cls.gh.stop)
        cls.ca = _keys["cert"] if cls.tls else None

    def setUp(self):
        self.gh.set_mode("normal")
        self.gh.refuse, self.gh.token_ttl = False, 3600
        self.gh.reset_counts()

    def mint(self, token_jwt=None, body=None, **kw):
        return mint(self.gh, good_jwt() if token_jwt is None else token_jwt, body, ca=self.ca,
                    **kw)

    def token(self, body=None):
        status, doc, _ = self.mint(body=body)
        self.assertEqual(status, 201, doc)
        return doc["token"]

    def use(self, token, repo="app", method="GET", body=None, scheme="Bearer", owner="acme"):
        headers = {} if token is None else {"Authorization": f"{scheme} {token}"}
        return call(f"{self.gh.url}/repos/{owner}/{repo}/contents/dir/file.txt", method,
                    headers, body, self.ca)

    def refused(self, got, status, message):
        self.assertEqual((got[0], got[1]["message"] if isinstance(got[1], dict) else got[1]),
                         (status, message))


class Minting(Emulated):
    def test_mint_then_use(self):
        before = int(time.time())
        status, doc, headers = self.mint()
        self.assertEqual(status, 201, doc)
        self.assertEqual(headers["Content-Type"], "application/json; charset=utf-8")
        self.assertRegex(doc["token"], r"^ghs_[A-Za-z0-9]{36}$")
        self.assertEqual(set(doc), {"token", "expires_at", "permissions",
                                    "repository_selection"})
        self.assertEqual(doc["permissions"], {"contents": "write", "metadata": "read"})
        self.assertEqual(doc["repository_selection"], "all")
        (m,) = self.gh.mints
        self.assertEqual(doc["expires_at"], ghe.iso(m["expires_at"]))
        self.assertRegex(doc["expires_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertTrue(before + 3600 <= m["expires_at"] <= int(time.time()) + 3600)
        self.assertEqual((m["token"], m["repositories"], m["jwt_claims"]["iss"]),
                         (doc["token"], ["app", "infra"], APP_ID))
        token = doc["token"]
        status, body, _ = self.use(token, "infra")
        self.assertEqual((status, body["path"], body["type"]), (200, "dir/file.txt", "file"))
        self.assertEqual(self.use(token, method="HEAD")[:2], (200, None))
        self.assertEqual(self.use(token, method="PUT", body=b"hello", scheme="token")[:2],
                         (201, {"content": {"path": "dir/file.txt", "size": 5}}))
        self.assertEqual(self.use(token, "APP")[0], 200)  # repository names are case-insensitive
        uses = self.gh.api_uses
        self.assertEqual([(u["method"], u["token"], u["valid"], u["status"]) for u in uses],
                         [("GET", token, True, 200), ("HEAD", token, True, 200),
                          ("PUT", token, True, 201), ("GET", token, True, 200)])
        self.assertEqual(uses[0]["path"], "/repos/acme/infra/contents/dir/file.txt")
        self.assertEqual(self.gh.hits[f"/app/installations/{INSTALLATION_ID}/access_tokens"], 1)
        record = self.gh.requests[0]
        self.assertEqual((record["accept"], record["api_version"], record["status"]),
                         ("application/vnd.github+json", "2022-11-28", 201))
        self.assertEqual((self.gh.requests[1]["token"], self.gh.requests[1]["valid"]),
                         (token, True))

    def test_iss_forms(self):
        for iss in (APP_ID, str(APP_ID), CLIENT_ID):
            self.assertEqual(self.mint(jwt(iss))[0], 201, iss)
        self.assertEqual(self.gh.mints[1]["jwt_claims"]["iss"], str(APP_ID))
        for iss in ("012345", " 12345", 12346, "Iv1.other"):
            self.refused(self.mint(jwt(iss)), 404, "Integration not found")
        for iss in (12345.0, True, None, [APP_ID]):
            self.refused(self.mint(jwt(iss)), 401, UNDECODABLE)

    def test_jwt_refusals(self):
        n, key = int(time.time()), _keys["app"]
        claims = {"iat": n - 60, "exp": n + 500, "iss": APP_ID}
        good = good_jwt()
        head, payload, sig = good.split(".")
        forged = b64url(json.dumps({**claims, "iss": APP_ID, "extra": 1}).encode())
        cases = {
            "other key": (jwt(key="other"), 401, UNDECODABLE),
            "payload swapped": (f"{head}.{forged}.{sig}", 401, UNDECODABLE),
            "alg none": (sign_jwt(key, claims, {"alg": "none"}), 401, UNDECODABLE),
            "alg none, no signature": (sign_jwt(key, claims, {"alg": "none"}).rsplit(
                ".", 1)[0] + ".", 401, UNDECODABLE),
            "alg HS256": (sign_jwt(key, claims, {"alg": "HS256"}), 401, UNDECODABLE),
            "alg rs256": (sign_jwt(key, claims, {"alg": "rs256"}), 401, UNDECODABLE),
            "no alg": (sign_jwt(key, claims, {"typ": "JWT"}), 401, UNDECODABLE),
            "padded": (f"{head}.{payload}.{sig}==", 401, UNDECODABLE),
            "two parts": (f"{head}.{payload}", 401, UNDECODABLE),
            "four parts": (good + ".x", 401, UNDECODABLE),
            "header not JSON": (f"{b64url(b'nope')}.{payload}.{sig}", 401, UNDECODABLE),
            "payload an array": (sign_jwt(key, [claims]), 401, UNDECODABLE),
            "empty": ("", 401, UNDECODABLE),
            "exp too far": (jwt(APP_ID, n, n + 610), 401, EXP_TOO_FAR),
            "exp - iat 655, exp now + 595": (jwt(APP_ID, n - 60, n + 595), 201, None),
            "expired": (jwt(APP_ID, n - 700, n - 100), 401, EXP_INVALID),
            "exp missing": (sign_jwt(key, {"iat": n, "iss": APP_ID}), 401, EXP_INVALID),
            "iat ahead": (jwt(APP_ID, n + 120), 401, IAT_INVALID),
            "iat not an integer": (jwt(APP_ID, n + 0.5, n + 300), 401, IAT_INVALID),
            "iat missing": (sign_jwt(key, {"exp": n + 300, "iss": APP_ID}), 401, IAT_INVALID),
            "wrong iss, bad signature": (jwt(999, key="other"), 404, "Integration not found"),
        }
        for name, (token_jwt, status, message) in cases.items():
            with self.subTest(name):
                got = self.mint(token_jwt)
                if message is None:
                    self.assertEqual(got[0], status, got[1])
                else:
                    self.refused(got, status, message)
        self.refused(call(self.gh.access_tokens_url, "POST", {
            **MINT_HEADERS, "Authorization": f"token {good}"}, None, self.ca), 401, UNDECODABLE)
        self.refused(call(self.gh.access_tokens_url, "POST", MINT_HEADERS, None, self.ca), 401,
                     UNDECODABLE)
        self.assertEqual(len(self.gh.mints), 1)

    def test_request_headers(self):
        no_ua = {k: v for k, v in MINT_HEADERS.items() if k != "User-Agent"}
        status, doc, _ = self.mint(headers=no_ua)
        self.assertEqual((status, doc), (403, NO_USER_AGENT))
        self.refused(self.mint(headers={**MINT_HEADERS, "User-Agent": ""}), 403,
                     NO_USER_AGENT["message"])
        status, doc, _ = self.mint(headers={**MINT_HEADERS, "X-GitHub-Api-Version": "2021-01-01"})
        self.assertEqual(status, 400)
        self.assertTrue(doc["message"].startswith("Invalid API version"), doc)
        self.assertEqual(self.mint(headers={**MINT_HEADERS, "Accept": "text/html"})[0], 415)
        self.assertEqual(self.mint(headers={**MINT_HEADERS, "Accept": ""})[0], 415)
        for accept in ("application/json", "*/*", "text/html, application/vnd.github+json;q=0.9",
                       "Application/JSON; charset=utf-8"):
            self.assertEqual(self.mint(headers={**MINT_HEADERS, "Accept": accept})[0], 201,
                             accept)
        self.assertEqual(self.mint(headers={"User-Agent": "x"})[0], 201)  # the rest optional
        records = self.gh.requests
        self.assertEqual((records[-1]["accept"], records[-1]["api_version"]), (None, None))
        self.assertEqual(records[2]["api_version"], "2021-01-01")

    def test_installation_and_routes(self):
        self.refused(self.mint(installation_id=1), 404, "Not Found")
        self.assertEqual(call(self.gh.access_tokens_url, "GET", MINT_HEADERS, None,
                              self.ca)[0], 404)
        self.assertEqual(call(self.gh.url + "/app/installations", "POST", MINT_HEADERS, None,
                              self.ca)[0], 404)

    def test_body(self):
        self.refused(self.mint(body="{"), 400, "Problems parsing JSON")
        self.refused(self.mint(body="[]"), 400, "Problems parsing JSON")
        self.refused(self.mint(body='{"repositories":["app"],"repositories":["x"]}'), 400,
                     "Problems parsing JSON")
        for body in ({"repository": ["app"]}, {"repositories": "app"},
                     {"repository_ids": ["100000001"]}, {"permissions": {"contents": "none"}},
                     {"permissions": ["contents"]}):
            status, doc, _ = self.mint(body=body)
            self.assertEqual(status, 422, body)
            self.assertTrue(doc["message"].startswith("Invalid request.\n\n"), doc)
        for body in ({"repositories": ["app", "secret"]}, {"repository_ids": [1]}):
            self.refused(self.mint(body=body), 422, NOT_ACCESSIBLE)
        for perms in ({"contents": "admin"}, {"issues": "read"}, {"metadata": "write"}):
            self.refused(self.mint(body={"permissions": perms}), 422, NOT_GRANTED)
        self.assertEqual(self.gh.mints, [])
        self.assertEqual(self.mint(body="")[1]["repository_selection"], "all")
        status, doc, _ = self.mint(body={"permissions": {}, "repositories": []})
        self.assertEqual((doc["permissions"], doc["repository_selection"]),
                         ({"contents": "write", "metadata": "read"}, "all"))
        status, doc, _ = self.mint(body={"repository_ids": [100000002], "repositories": ["APP"],
                                         "permissions": {"contents": "read"}})
        self.assertEqual(status, 201, doc)
        self.assertEqual((doc["repository_selection"], doc["permissions"], doc["repositories"]),
                         ("selected", {"contents": "read"}, [
                             {"id": 100000001, "name": "app", "full_name": "acme/app"},
                             {"id": 100000002, "name": "infra", "full_name": "acme/infra"}]))
        narrowed = self.token({"repositories": ["infra"], "permissions": {"metadata": "read"}})
        self.assertEqual(self.gh.mints[-1]["repositories"], ["infra"])
        self.refused(self.use(narrowed, "app"), 404, "Not Found")
        self.refused(self.use(narrowed, "infra"), 403, NOT_ACCESSIBLE_BY_INTEGRATION)
        reader = self.token({"permissions": {"contents": "read"}})
        self.assertEqual(self.use(reader, "infra")[0], 200)
        self.refused(self.use(reader, "infra", "PUT", b"x"), 403, NOT_ACCESSIBLE_BY_INTEGRATION)


class Contents(Emulated):
    def test_credentials(self):
        token, app_token = self.token(), jwt()
        self.refused(self.use(None), 401, "Requires authentication")
        self.refused(self.use("ghs_" + "a" * 36), 401, "Bad credentials")
        self.refused(self.use(token, scheme="Basic"), 401, "Bad credentials")
        self.refused(self.use(app_token), 401, "Bad credentials")  # the app JWT is no token
        self.refused(self.use(token, owner="other"), 404, "Not Found")
        self.refused(self.use(token, repo="secret"), 404, "Not Found")
        self.assertEqual(self.use(token, method="DELETE")[0], 404)
        self.assertEqual(call(f"{self.gh.url}/repos/acme/app/issues", "GET", {
            "Authorization": f"Bearer {token}"}, None, self.ca)[0], 404)
        self.assertEqual([(u["token"], u["valid"], u["status"]) for u in self.gh.api_uses], [
            (None, False, 401), ("ghs_" + "a" * 36, False, 401), (None, False, 401),
            (app_token, False, 401), (token, True, 404), (token, True, 404)])

    def test_expiry_and_ttl(self):
        self.gh.token_ttl = 1
        status, doc, _ = self.mint()
        m = self.gh.mints[-1]
        self.assertEqual(m["expires_at"], int(m["time"]) + 1)
        time.sleep(max(0.0, m["expires_at"] - time.time()) + 0.05)
        self.refused(self.use(doc["token"]), 401, "Bad credentials")
        self.assertFalse(self.gh.api_uses[-1]["valid"])
        self.gh.token_ttl = 3600
        fresh = self.token()
        self.assertEqual(self.use(fresh)[0], 200)
        self.gh.reset_counts()  # forgets the records, not the tokens
        self.assertEqual((self.gh.mints, self.gh.api_uses, self.gh.requests), ([], [], []))
        self.assertEqual(self.use(fresh)[0], 200)


class Modes(Emulated):
    def test_modes_spare_the_contents_api(self):
        token = self.token()
        self.gh.set_mode("error")
        self.assertEqual(self.mint()[:2], (500, {"message": "Server Error"}))
        self.assertEqual(self.use(token)[0], 200)
        self.gh.set_mode("garbage")
        status, body, headers = self.mint()
        self.assertEqual(status, 201)
        self.assertIsInstance(body, str)
        with self.assertRaises(ValueError):
            json.loads(body)
        self.gh.set_mode("down")
        with self.assertRaises(Exception):
            self.mint()
        self.assertEqual(self.use(token)[0], 200)
        self.gh.set_mode("slow")
        self.gh.slow_seconds = 0.3
        t0 = time.monotonic()
        self.assertEqual(self.mint()[0], 201)
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)
        t0 = time.monotonic()
        self.assertEqual(self.use(token)[0], 200)
        self.assertLess(time.monotonic() - t0, 0.3)
        self.gh.set_mode("normal")
        self.gh.refuse = True
        self.refused(self.mint(), 401, UNDECODABLE)
        self.assertEqual(self.use(token)[0], 200)
        self.gh.refuse = False
        self.assertEqual(self.mint()[0], 201)
        with self.assertRaises(ValueError):
            self.gh.set_mode("refuse")
        self.assertEqual(len(self.gh.mints), 3)
        self.assertIn(None, [r["status"] for r in self.gh.requests])  # "down": no answer


class OverTls(Emulated):
    tls = True

    def test_https(self):
        self.assertTrue(self.gh.url.startswith("https://"))
        token = self.token({"repositories": ["infra"]})
        self.assertEqual(self.use(token, "infra", "PUT", b"abc")[0], 201)
        self.refused(self.mint(jwt(key="other")), 401, UNDECODABLE)


class CommandLine(unittest.TestCase):
    def test_serves_until_sigterm(self):
        here = os.path.dirname(os.path.abspath(__file__))
        proc = subprocess.Popen(
            [sys.executable, os.path.join(here, "github_emulator.py"), "--app-id", "7",
             "--app-key", _keys["spki"], "--installation-id", "8", "--owner", "org", "--repo",
             "one", "--repo", "two", "--permission", "contents=write", "--token-ttl", "60",
             "--port", "0"], stdout=subprocess.PIPE, text=True)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        line = proc.stdout.readline()
        port = int(re.fullmatch(r"listening 127\.0\.0\.1:(\d+)\n", line).group(1))
        url = f"http://127.0.0.1:{port}"
        status, doc, _ = call(f"{url}/app/installations/8/access_tokens", "POST", {
            **MINT_HEADERS, "Authorization": f"Bearer {jwt(7)}"}, json.dumps(
                {"repositories": ["two"]}))
        self.assertEqual((status, doc["permissions"], doc["repositories"][0]["full_name"]),
                         (201, {"contents": "write"}, "org/two"))
        status, _, _ = call(f"{url}/repos/org/two/contents/x", "PUT", {
            "Authorization": f"token {doc['token']}"}, b"data")
        self.assertEqual(status, 201)
        proc.terminate()
        self.assertEqual(proc.wait(10), 0)
        proc.stdout.close()

    def test_missing_arguments(self):
        here = os.path.dirname(os.path.abspath(__file__))
        r = subprocess.run([sys.executable, os.path.join(here, "github_emulator.py"),
                            "--app-id", "7"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--installation-id", r.stderr)


if __name__ == "__main__":
    unittest.main()
