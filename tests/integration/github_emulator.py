#!/usr/bin/env python3
"""An emulator of GitHub's installation access tokens (GitHub Apps), for ciap's tests.

A proxy holding a GitHub App's key signs an app JWT (RS256, iss = the app), trades it for an
installation token ("ghs_...", one hour), forwards requests with that token and mints a new
one before it expires. This emulator answers the minting endpoint strictly, as GitHub documents
it, and stands in for the contents API (the proxy's upstream), which takes only the tokens it
minted, within their lifetime, repositories and permissions. Standard library only (RS256 in
pure Python; the public key from the app's PEM by `openssl pkey -text_pub`).

Importable (the server, its modes and its records are emulator_base.py's):
    gh = GitHubEmulator(app_id=12345, app_key_file="/path/app.pem", installation_id=67890,
                        owner="acme", repositories=("app", "infra"),
                        permissions={"contents": "write", "metadata": "read"},
                        token_ttl=3600, cert=None, key=None, client_id=None).start()
        app_key_file: the app's RSA key, private or public, PEM; client_id: another valid iss;
        permissions (read/write/admin) default to contents and metadata read.
    gh.url, gh.port, gh.access_tokens_url, gh.repository_ids (name -> id, from 100000001)
    gh.token_ttl: seconds new tokens live, changeable while running; expires_at is in whole
        seconds and a token stops working at expires_at exactly: it lives (ttl - 1, ttl] s
    gh.refuse = True: every mint gets 401 "A JSON web token could not be decoded"
    gh.set_mode("normal" | "down" | "slow" | "garbage" | "error"); gh.slow_seconds (default 5)
    gh.mints (list of dicts: token, expires_at (epoch seconds), permissions, repositories,
        repository_selection, time, jwt_claims), gh.api_uses (list of dicts: method, path,
        token (None without one), valid (minted here and unexpired then), status, time),
        gh.hits (Counter of paths), gh.requests (emulator_base's records plus accept,
        api_version, token, valid), gh.reset_counts() (records only, not tokens), gh.stop()
    Helpers (see their docstrings): generate_app_key, sign_jwt, app_jwt, call, mint, iso,
    rsa_public_numbers, rs256_verify, jwt_time_problem, b64url, b64url_decode.

Runnable: python3 github_emulator.py --app-id N --app-key FILE --installation-id N [--owner O]
    [--repo R]... [--permission name=level]... [--token-ttl S] [--client-id ID] [--port 0]
    [--cert F --key F] prints "listening 127.0.0.1:PORT" and serves until SIGTERM/SIGINT;
    python3 github_emulator.py --self-test

POST /app/installations/{installation_id}/access_tokens; the first failure answers (messages:
the constants below): no User-Agent 403 NO_USER_AGENT; X-GitHub-Api-Version neither absent nor
2022-11-28 400; an Accept naming none of application/vnd.github+json, application/json, */*
415; no "Authorization: Bearer JWT", not three unpadded base64url parts, alg not exactly RS256,
iss neither integer nor string: 401 UNDECODABLE; iss not the app id (integer or decimal
string) nor client_id: 404 "Integration not found" (the key is found by iss); not the app
key's RS256 signature: 401 UNDECODABLE; iat not an integer or after now + 60 s: 401
IAT_INVALID; exp not a number or not after now: 401 EXP_INVALID; exp after now + 600 s (GitHub
documents "no more than 10 minutes into the future", and its example signs iat now - 60, exp
now + 600): 401 EXP_TOO_FAR; another installation: 404 "Not Found"; a body that is not a JSON
object: 400 "Problems parsing JSON"; other keys than repositories, repository_ids, permissions,
or values of another type: 422 "Invalid request. ..."; a repository (name in any case, or id)
not the installation's: 422 NOT_ACCESSIBLE; a permission it lacks or above its level (admin >
write > read): 422 NOT_GRANTED. Else 201 {"token":"ghs_<36 alphanumerics>","expires_at":
"YYYY-MM-DDTHH:MM:SSZ","permissions": those asked for or the installation's,
"repository_selection":"all"}; narrowed (repositories/repository_ids) "selected" and
"repositories":[{"id","name","full_name"}].
GET|HEAD|PUT /repos/{owner}/{repo}/contents/{path}, the upstream: no Authorization 401
"Requires authentication"; not "Bearer|token TOKEN" of an unexpired token minted here 401 "Bad
credentials"; a repository not the token's 404; GET/HEAD without contents read|write, PUT
without contents write 403 "Resource not accessible by integration"; GET 200 a file object;
PUT 201 {"content":{"path":PATH,"size":<body length>}}.
Anything else: 404 "Not Found". JSON answers, with X-GitHub-Request-Id; errors have GitHub's
documentation_url (but the 403 for no User-Agent).

Modes (set_mode) spare the contents API, the upstream: "down" closes the connection unanswered,
"slow" sleeps slow_seconds first, "garbage" answers 201 with an HTML page, "error" 500
{"message":"Server Error"}. (refuse is an attribute: emulator_base's MODES are fixed.)
"""

import atexit
import base64
import collections
import datetime
import hashlib
import hmac
import http.client
import json
import os
import re
import secrets
import shutil
import ssl
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

import emulator_base

API_VERSION = "2022-11-28"
DOCS = "https://docs.github.com/rest"
MINT_DOCS = "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app"
ACCEPTED_MEDIA = {"application/vnd.github+json", "application/json", "*/*"}
LEVELS = {"read": 1, "write": 2, "admin": 3}
BODY_KEYS = {"repositories", "repository_ids", "permissions"}
IAT_SKEW, EXP_MAX = 60, 600  # how far ahead of GitHub's clock iat and exp may be, seconds
NO_USER_AGENT = {"message": "Request forbidden by administrative rules. Please make sure your "
                            "request has a User-Agent header (https://docs.github.com/en/rest/"
                            "overview/resources-in-the-rest-api#user-agent-required)."}
UNDECODABLE = "A JSON web token could not be decoded"
IAT_INVALID = ("'Issued at' claim ('iat') must be an Integer representing the time that the "
               "assertion was issued.")
EXP_INVALID = ("'Expiration time' claim ('exp') must be a numeric value representing the "
               "future time at which the assertion expires.")
EXP_TOO_FAR = "'Expiration time' claim ('exp') is too far in the future"
NOT_ACCESSIBLE = ("There is at least one repository that does not exist or is not accessible "
                  "to the parent installation.")
NOT_GRANTED = "The permissions requested are not granted to this installation."
GARBAGE = (b"<!DOCTYPE html>\n<html><head><title>Unicorn! &middot; GitHub</title></head><body>"
           b"<p>No server is currently available to service your request.</p></body></html>\n")
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
MINT_HEADERS = {"User-Agent": "ciap-test", "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION}  # what mint() sends by default


def _error(message, url=DOCS):
    return {"message": message, "documentation_url": url}


def rsa_public_numbers(key_file):
    """(n, e) of the RSA key in key_file (PEM, private or public), as `openssl pkey -text_pub`
    prints them (the modulus in hex, its size in bits, the exponent in decimal and hex)."""
    with open(key_file, "rb") as f:
        public = b"PUBLIC KEY-----" in f.read()
    out = subprocess.run(["openssl", "pkey"] + ["-pubin"] * public + [
        "-in", key_file, "-noout", "-text_pub", "-passin", "pass:"], check=True, text=True,
        capture_output=True, stdin=subprocess.DEVNULL).stdout
    m = re.fullmatch(r"(?:RSA )?Public-Key: \((\d+) bit\)\nModulus:\n((?: +[0-9a-f:]+\n)+)"
                     r"Exponent: (\d+) \(0x([0-9a-f]+)\)\n", out)
    n = int(re.sub(r"[\s:]", "", m.group(2)), 16) if m else 0
    if not m or n.bit_length() != int(m.group(1)) or int(m.group(3)) != int(m.group(4), 16):
        raise ValueError(f"{key_file}: not an RSA key")
    return n, int(m.group(3))


def rs256_verify(n, e, message, signature):
    """RSASSA-PKCS1-v1_5 with SHA-256 (RFC 8017 8.2.2): True when signature is message's."""
    k = (n.bit_length() + 7) // 8
    t = SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
    s = int.from_bytes(signature, "big")
    if len(signature) != k or k < len(t) + 11 or s >= n:
        return False
    expected = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
    return hmac.compare_digest(pow(s, e, n).to_bytes(k, "big"), expected)


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_decode(text):
    """Unpadded, canonical (unused bits zero) base64url, else ValueError."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url(raw) != text:
        raise ValueError("not canonical base64url")
    return raw


def _json_object(raw):
    """A JSON object (UTF-8, no repeated names, no NaN or Infinity), else ValueError."""
    def pairs(items):
        if len(dict(items)) != len(items):
            raise ValueError("repeated name")
        return dict(items)
    doc = json.loads(raw.decode("utf-8"), object_pairs_hook=pairs, parse_constant=int)
    if not isinstance(doc, dict):
        raise ValueError("not an object")
    return doc


def iso(epoch):
    """GitHub's timestamps: "YYYY-MM-DDTHH:MM:SSZ"."""
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def jwt_time_problem(claims, now):
    """The 401 message for an app JWT's iat and exp at time now, None when they are fine."""
    iat, exp = claims.get("iat"), claims.get("exp")
    if not _is_int(iat) or iat > now + IAT_SKEW:
        return IAT_INVALID
    if not (_is_int(exp) or isinstance(exp, float)) or exp <= now:
        return EXP_INVALID
    return EXP_TOO_FAR if exp > now + EXP_MAX else None


def generate_app_key(path, bits=2048):
    """A new RSA private key (PKCS#8 PEM) at path, by `openssl genpkey`; returns path."""
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    f"rsa_keygen_bits:{bits}", "-out", path], check=True, capture_output=True)
    return path


def sign_jwt(key_file, claims, header=None):
    """A JWT of header (default {"alg":"RS256","typ":"JWT"}) and claims, signed RS256 with
    key_file by `openssl dgst -sha256 -sign`, whatever header's alg says."""
    header = {"alg": "RS256", "typ": "JWT"} if header is None else header
    signing_input = ".".join(b64url(json.dumps(part, separators=(",", ":")).encode())
                             for part in (header, claims))
    signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key_file], check=True,
                               input=signing_input.encode(), capture_output=True).stdout
    return signing_input + "." + b64url(signature)


def app_jwt(key_file, iss, iat=None, exp=None, **claims):
    """An app JWT as GitHub recommends it: iat now - 60 s, exp iat + 600 s (or as given)."""
    iat = int(time.time()) - 60 if iat is None else iat
    return sign_jwt(key_file, {"iat": iat, "exp": iat + 600 if exp is None else exp, "iss": iss,
                               **claims})


class _Handler(emulator_base.Handler):
    """GitHub's answers: the minting endpoint and the contents stand-in."""

    server_version = "github.com"
    extra_record_fields = ("accept", "api_version", "token", "valid")

    def _serve(self):
        # The contents API is the upstream, not GitHub's token service: no fault modes there.
        self.server.owner._local.upstream = self.path.startswith("/repos/")
        super()._serve()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _serve

    def _answer(self, status, doc, raw=None):
        self._record["status"] = status  # before the client can see the answer (base: after)
        body = raw if raw is not None else json.dumps(doc, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8" if raw is not None
                         else "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-GitHub-Request-Id", uuid.uuid4().hex[:20].upper())
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        return status

    def _garbage(self, record):
        self._record = record
        return self._answer(201, None, raw=GARBAGE)

    def _failure(self, record):
        self._record = record
        return self._answer(500, {"message": "Server Error"})

    def _handle(self, record, target, body):
        owner, self._record = self.server.owner, record
        m = re.fullmatch(r"/app/installations/([^/]+)/access_tokens", target.path)
        if m and self.command == "POST":
            return self._mint(owner, record, m.group(1), body)
        m = re.fullmatch(r"/repos/([^/]+)/([^/]+)/contents/(.+)", target.path)
        if m and self.command in ("GET", "HEAD", "PUT"):
            return self._contents(owner, record, target.path,
                                  *map(urllib.parse.unquote, m.groups()), body)
        return self._answer(404, _error("Not Found"))

    def _mint(self, owner, record, installation, body):
        record["accept"] = accept = self.headers.get("Accept")
        record["api_version"] = version = self.headers.get("X-GitHub-Api-Version")
        if owner.refuse:
            return self._answer(401, _error(UNDECODABLE))
        if not (self.headers.get("User-Agent") or "").strip():
            return self._answer(403, NO_USER_AGENT)
        if version is not None and version != API_VERSION:
            return self._answer(400, _error(
                f"Invalid API version provided: {version}. Supported versions: {API_VERSION}",
                "https://docs.github.com/rest/overview/api-versions"))
        if accept is not None and not ACCEPTED_MEDIA & {
                r.split(";")[0].strip().lower() for r in accept.split(",")}:
            return self._answer(415, _error(f"Unsupported 'Accept' header: {[accept]}. Must "
                                            "accept 'application/json'.",
                                            "https://docs.github.com/v3/media"))
        scheme, _, jwt = (self.headers.get("Authorization") or "").strip().partition(" ")
        claims, problem = owner._check_jwt(jwt.strip() if scheme.lower() == "bearer" else "")
        if not problem and installation != str(owner.installation_id):
            problem = 404, _error("Not Found", MINT_DOCS)
        if not problem:
            grant, problem = owner._narrow(body)
        return self._answer(*problem) if problem else self._answer(201, owner._mint(grant, claims))

    def _contents(self, owner, record, path, repo_owner, repo, file_path, body):
        auth = self.headers.get("Authorization")
        scheme, _, token = (auth or "").strip().partition(" ")
        token = token.strip() if scheme.lower() in ("bearer", "token") and token.strip() else None
        grant = owner._grant(token)
        record["token"], record["valid"] = token, grant is not None
        if auth is None:
            answer = 401, _error("Requires authentication")
        elif grant is None:
            answer = 401, _error("Bad credentials")
        elif repo_owner.lower() != owner.owner.lower() or repo.lower() not in {
                r.lower() for r in grant["repositories"]}:
            answer = 404, _error("Not Found")
        elif LEVELS.get(grant["permissions"].get("contents"), 0) < 1 + (self.command == "PUT"):
            answer = 403, _error("Resource not accessible by integration")
        elif self.command == "PUT":
            answer = 201, {"content": {"path": file_path, "size": len(body)}}
        else:
            answer = 200, {"type": "file", "name": file_path.rsplit("/", 1)[-1],
                           "path": file_path, "size": 0, "content": ""}
        with owner._lock:  # api_uses
            owner._uses.append({"method": self.command, "path": path, "token": token,
                                "valid": grant is not None, "status": answer[0],
                                "time": record["time"]})
        return self._answer(*answer)


class GitHubEmulator(emulator_base.Emulator):
    """One GitHub App with one installation: its token endpoint and a contents stand-in."""

    handler = _Handler
    thread_name = "github-emulator"

    def __init__(self, app_id, app_key_file, installation_id, owner="acme",
                 repositories=("app",), permissions=None, token_ttl=3600, cert=None, key=None,
                 client_id=None, host="127.0.0.1", port=0):
        self._local = threading.local()  # before the base sets self.mode
        super().__init__(cert, key, host, port)
        self.app_id, self.client_id = int(app_id), client_id
        self.public_key = rsa_public_numbers(app_key_file)
        self.installation_id, self.owner = int(installation_id), owner
        self.repository_ids = {name: 100000001 + i for i, name in enumerate(repositories)}
        self.permissions = dict(permissions or {"contents": "read", "metadata": "read"})
        if not set(self.permissions.values()) <= LEVELS.keys():
            raise ValueError(f"permission levels must be among {sorted(LEVELS)}")
        self.token_ttl = token_ttl
        self.refuse = False
        self._tokens = {}  # token -> {expires_at, permissions, repositories, narrowed}
        self._mints, self._uses = [], []

    @property
    def mode(self):
        return "normal" if getattr(self._local, "upstream", False) else self._mode

    @mode.setter
    def mode(self, value):
        self._mode = value

    @property
    def access_tokens_url(self):
        return f"{self.url}/app/installations/{self.installation_id}/access_tokens"

    # ----- observations (set_mode, requests, reset_counts: emulator_base.Emulator) -----
    @property
    def hits(self):  # collections.Counter: requests received per path (query left out)
        with self._lock:
            return collections.Counter(r["path"] for r in self._requests)

    mints = property(lambda self: self._copies(self._mints))
    api_uses = property(lambda self: self._copies(self._uses))

    def _copies(self, records):
        with self._lock:
            return [dict(r) for r in records]

    def _clear_counts(self):
        self._mints.clear()
        self._uses.clear()

    # ----- internals -----
    def _check_jwt(self, jwt):
        """(claims, None), or (None, (status, error document))."""
        undecodable = None, (401, _error(UNDECODABLE))
        try:
            header_b64, payload_b64, signature_b64 = jwt.split(".")
            header = _json_object(b64url_decode(header_b64))
            claims = _json_object(b64url_decode(payload_b64))
            signature = b64url_decode(signature_b64)
        except ValueError:  # UnicodeDecodeError and json's errors too
            return undecodable
        iss = claims.get("iss")
        if header.get("alg") != "RS256" or not (_is_int(iss) or isinstance(iss, str)):
            return undecodable
        if iss not in (self.app_id, str(self.app_id)) and (self.client_id is None
                                                          or iss != self.client_id):
            return None, (404, _error("Integration not found"))
        if not rs256_verify(*self.public_key, f"{header_b64}.{payload_b64}".encode(), signature):
            return undecodable
        problem = jwt_time_problem(claims, time.time())
        return (None, (401, _error(problem))) if problem else (claims, None)

    def _narrow(self, body):
        """The grant the request body asks for: ({permissions, repositories, narrowed}, None),
        or (None, (status, error document))."""
        try:
            doc = _json_object(body) if body.strip() else {}
        except ValueError:
            return None, (400, _error("Problems parsing JSON", MINT_DOCS))
        names, ids = doc.get("repositories", []), doc.get("repository_ids", [])
        perms = doc.get("permissions", {})
        invalid = [f'"{k}" is not a permitted key.' for k in sorted(doc.keys() - BODY_KEYS)] + [
            f"For 'properties/{k}', {json.dumps(doc[k])} is not valid." for k, ok in (
                ("repositories", isinstance(names, list) and all(isinstance(n, str)
                                                                 for n in names)),
                ("repository_ids", isinstance(ids, list) and all(map(_is_int, ids))),
                ("permissions", isinstance(perms, dict) and all(
                    isinstance(v, str) and v in LEVELS for v in perms.values()))) if not ok]
        if invalid:
            return None, (422, _error("Invalid request.\n\n" + invalid[0], MINT_DOCS))
        by_name = {n.lower(): n for n in self.repository_ids}
        by_id = {i: n for n, i in self.repository_ids.items()}
        if any(n.lower() not in by_name for n in names) or any(i not in by_id for i in ids):
            return None, (422, _error(NOT_ACCESSIBLE, MINT_DOCS))
        if any(LEVELS[level] > LEVELS.get(self.permissions.get(name), 0)
               for name, level in perms.items()):
            return None, (422, _error(NOT_GRANTED, MINT_DOCS))
        chosen = {by_name[n.lower()] for n in names} | {by_id[i] for i in ids}
        return {"permissions": dict(perms or self.permissions), "narrowed": bool(chosen),
                "repositories": [n for n in self.repository_ids if n in chosen or not chosen]
                }, None

    def _mint(self, grant, claims):
        """A new token with grant: GitHub's 201 document."""
        now = time.time()
        token = "ghs_" + "".join(secrets.choice(string.ascii_letters + string.digits)
                                 for _ in range(36))
        expires_at = int(now) + int(self.token_ttl)
        selection = "selected" if grant["narrowed"] else "all"
        with self._lock:
            self._tokens[token] = {"expires_at": expires_at, **grant}
            self._mints.append({"token": token, "expires_at": expires_at, "time": now,
                                "permissions": dict(grant["permissions"]), "jwt_claims": claims,
                                "repositories": list(grant["repositories"]),
                                "repository_selection": selection})
        doc = {"token": token, "expires_at": iso(expires_at),
               "permissions": grant["permissions"], "repository_selection": selection}
        if grant["narrowed"]:
            doc["repositories"] = [{"id": self.repository_ids[n], "name": n, "full_name":
                                    f"{self.owner}/{n}"} for n in grant["repositories"]]
        return doc

    def _grant(self, token):
        """The grant of token if it was minted here and has not expired, else None."""
        with self._lock:
            found = [g for t, g in self._tokens.items()
                     if token is not None and hmac.compare_digest(t.encode(), token.encode())]
            return found[0] if found and time.time() < found[0]["expires_at"] else None


def call(url, method="GET", headers=(), body=None, ca=None):
    """One request on a connection of its own -> (status, parsed JSON or text, headers); https
    verified against ca; headers: a dict or (name, value) pairs (no User-Agent but theirs)."""
    parts = urllib.parse.urlsplit(url)
    tls = {"context": ssl.create_default_context(cafile=ca)} if parts.scheme == "https" else {}
    conn = (http.client.HTTPSConnection if tls else http.client.HTTPConnection)(
        parts.hostname, parts.port, timeout=10, **tls)
    try:
        conn.request(method, parts.path, body=body, headers=dict(headers))
        r = conn.getresponse()
        raw = r.read().decode()
    finally:
        conn.close()
    try:
        return r.status, json.loads(raw) if raw else None, r.headers
    except ValueError:
        return r.status, raw, r.headers


def mint(gh, jwt, body=None, headers=None, installation_id=None, ca=None):
    """POST gh's minting endpoint with "Authorization: Bearer jwt" (none if jwt is None) and
    headers (default MINT_HEADERS); a body not bytes or str is sent as JSON -> call's answer."""
    headers = {**(MINT_HEADERS if headers is None else headers),
               **({} if jwt is None else {"Authorization": f"Bearer {jwt}"})}
    return call(f"{gh.url}/app/installations/{installation_id or gh.installation_id}/access_"
                "tokens", "POST", headers, body if body is None or isinstance(
                    body, (bytes, str)) else json.dumps(body), ca)


def self_test():
    failures = []

    def check(name, cond, detail=""):
        print(f"{'ok  ' if cond else 'FAIL'} {name}")
        if not cond:
            failures.append(f"{name}: {detail}")

    ca, cert, key = emulator_base.self_test_certificates("github-emulator-")
    d = tempfile.mkdtemp(prefix="github-emulator-")
    atexit.register(shutil.rmtree, d, True)
    app_key, other_key = (generate_app_key(os.path.join(d, f)) for f in ("app.pem", "b.pem"))
    for tls in (False, True):
        with GitHubEmulator(12345, app_key, 67890, repositories=["app", "infra"],
                            permissions={"contents": "write", "metadata": "read"},
                            client_id="Iv1.abc", cert=cert if tls else None, key=key) as gh:
            tag = "https" if tls else "http"

            def use(repo, token, method="GET"):
                return call(f"{gh.url}/repos/acme/{repo}/contents/a/b.txt", method,
                            {"Authorization": f"Bearer {token}"},
                            b"abc" if method == "PUT" else None, ca)

            def post(*args, **kw):
                return mint(gh, *args, ca=ca, **kw)

            def jwt(iss=12345, *args, key=app_key):
                return app_jwt(key, iss, *args)
            s, b, _ = post(jwt())
            m = (gh.mints or [{}])[-1]
            check(f"[{tag}] mint 201", s == 201 and gh.url.startswith(tag + ":")
                  and re.fullmatch(r"ghs_[A-Za-z0-9]{36}", b["token"]) and b == {
                      "token": m["token"], "expires_at": iso(m["expires_at"]),
                      "permissions": {"contents": "write", "metadata": "read"},
                      "repository_selection": "all"} and m["jwt_claims"]["iss"] == 12345
                  and abs(m["expires_at"] - time.time() - 3600) < 2, (s, b, m))
            token = b["token"]
            n, good = int(time.time()), jwt("12345")
            s, b, _ = post(jwt("Iv1.abc"), {"repositories": ["app"],
                                            "permissions": {"contents": "read"}})
            check(f"[{tag}] narrowed 201 (client id as iss)", s == 201 and b["repositories"] == [
                {"id": 100000001, "name": "app", "full_name": "acme/app"}] and b["permissions"]
                == {"contents": "read"} and b["repository_selection"] == "selected", (s, b))
            narrowed, claims = b["token"], {"iat": n - 60, "exp": n + 500, "iss": 12345}
            for name, got, status, message in [
                    ("contents GET", use("infra", token), 200, None),
                    ("contents PUT", use("infra", token, "PUT"), 201, None),
                    ("contents, unknown token", use("app", "ghs_x"), 401, "Bad credentials"),
                    ("contents, other repository", use("other", token), 404, "Not Found"),
                    ("narrowed token, other repository", use("infra", narrowed), 404,
                     "Not Found"),
                    ("narrowed token (read), PUT", use("app", narrowed, "PUT"), 403,
                     "Resource not accessible by integration"),
                    ("wrong signature", post(jwt(key=other_key)), 401, UNDECODABLE),
                    ("alg none", post(sign_jwt(app_key, claims, {"alg": "none"})), 401,
                     UNDECODABLE),
                    ("exp too far", post(jwt(12345, n, n + 610)), 401, EXP_TOO_FAR),
                    ("expired JWT", post(jwt(12345, n - 700, n - 100)), 401, EXP_INVALID),
                    ("wrong iss", post(jwt(999)), 404, "Integration not found"),
                    ("unknown installation", post(good, installation_id=1), 404, "Not Found"),
                    ("permission not granted", post(good, {"permissions": {"issues": "read"}}),
                     422, NOT_GRANTED),
                    ("repository not accessible", post(good, {"repositories": ["app", "x"]}),
                     422, NOT_ACCESSIBLE),
                    ("no User-Agent", post(good, headers={}), 403, NO_USER_AGENT["message"])]:
                check(f"[{tag}] {name} {status}", got[0] == status and (
                    message is None or got[1]["message"] == message), got[:2])
            uses = [(u["token"], u["valid"], u["status"]) for u in gh.api_uses][:4]
            check(f"[{tag}] api_uses", uses == [(token, True, 200), (token, True, 201), (
                "ghs_x", False, 401), (token, True, 404)], uses)
            if not tls:
                gh.token_ttl = 1
                b = post(good)[1]
                time.sleep(1.2)
                check(f"[{tag}] expired token 401", use("app", b["token"])[0] == 401
                      and gh.api_uses[-1]["valid"] is False, gh.api_uses[-1])
                gh.token_ttl = 3600
            for mode, want in (("error", 500), ("garbage", 201), ("slow", 201)):
                gh.set_mode(mode)
                gh.slow_seconds, t0 = 0.3, time.monotonic()
                s, b, _ = post(good)
                check(f"[{tag}] mode {mode} {want}", s == want and (mode != "garbage" or isinstance(
                    b, str)) and (mode != "slow" or time.monotonic() - t0 >= 0.3), (s, b))
            gh.set_mode("down")
            try:
                check(f"[{tag}] mode down", False, post(good))
            except (OSError, http.client.HTTPException) as e:
                check(f"[{tag}] mode down ({type(e).__name__})", True)
            check(f"[{tag}] contents API unaffected by modes", use("app", token)[0] == 200)
            gh.set_mode("normal")
            gh.refuse = True
            s, b, _ = post(good)
            gh.refuse = False
            check(f"[{tag}] refuse 401", (s, b["message"]) == (401, UNDECODABLE), (s, b))
            check(f"[{tag}] hits, requests", gh.hits["/app/installations/67890/access_tokens"]
                  >= 15 and gh.requests[0]["accept"] == MINT_HEADERS["Accept"]
                  and gh.requests[0]["api_version"] == API_VERSION, gh.hits)
            gh.reset_counts()
            check(f"[{tag}] reset_counts", not gh.hits and not gh.mints and not gh.api_uses)
    return emulator_base.self_test_result("github_emulator", failures)


def main():
    ap = emulator_base.argument_parser(__doc__)
    ap.add_argument("--app-id", type=int)
    ap.add_argument("--app-key", help="the app's RSA key, private or public, PEM")
    ap.add_argument("--installation-id", type=int)
    ap.add_argument("--client-id")
    ap.add_argument("--owner", default="acme")
    ap.add_argument("--repo", action="append", default=[], help="(default: app)")
    ap.add_argument("--permission", action="append", default=[], help="name=level")
    ap.add_argument("--token-ttl", type=int, default=3600)
    args = emulator_base.parse_arguments(ap, self_test)
    if args.app_id is None or not args.app_key or args.installation_id is None:
        ap.error("--app-id, --app-key and --installation-id are required")
    gh = GitHubEmulator(args.app_id, args.app_key, args.installation_id, args.owner,
                        args.repo or ["app"], dict(p.split("=", 1) for p in args.permission)
                        or None, args.token_ttl, args.cert, args.key, args.client_id,
                        port=args.port).start()
    return emulator_base.serve_until_signalled(gh)

if __name__ == "__main__":
    sys.exit(main())
