"""Path-normalization bypass suite: the path-based authorization bypasses other proxies have had.

One plaintext listener in front of an upstream that echoes the request target it received, and
a jwks_file provider `corp` whose tokens carry a `role` claim:

- admin-root: path /admin           allow [admins]   (role admin)
- admin:      path_prefix /admin/   allow [admins]
- public:     path_prefix /public/  public
- other:      everything else       allow [staff, admins]

Each variant below is sent over a raw socket (nothing rewrites it on the way) with a staff
token and with no token, and, when ciap routes it to an admin route, with an admin token too.
Checked for every variant:
- the status: 400 with the expected reason, or what the route of the expected normalized
  path gives (public 200; admin 403 staff / 401 anonymous; other 200 staff / 401 anonymous);
- the upstream got the request exactly when ciap answered 200, as exactly the normalized path
  (and the query as sent), which is also the access log's `path` for that request;
- no request without the admins group reached the upstream on an admin path as any upstream
  might read it: raw, percent-decoded once or twice, with backslashes as slashes, with path
  parameters stripped (before or after decoding), with trailing dots and spaces dropped, with
  NFKC applied to separators, then dot segments and empty segments resolved;
- spoofable forwarding headers (X-Original-URL, X-Rewrite-URL, ...) never reach it.

A second listener shows the recipe for upstreams that ignore case: a `(?i)` path_regex route.

Skipped without `node` or tests/idp/node_modules (as test_access).
"""

import json
import time
import unicodedata
import unittest
import urllib.parse

from ciaptest import (CiapTestCase, Upstream, make_config, plain_listener, raw_socket,
                      read_response, upstream_cfg)
from test_access import corp_provider, mint_corp, require_node, wait_ready
from upstream import _head

ROLES = {"admin": "admin", "staff": "staff"}
_minted = None


def minted():
    """(jwks, {"admin": token, "staff": token}), minted once per process."""
    global _minted
    if _minted is None:
        _minted = mint_corp({who: {"sub": f"user:{who}", "role": role}
                             for who, role in ROLES.items()})
    return _minted


class EchoUpstream(Upstream):
    """The test upstream, answering every path with the target it received."""

    def _respond(self, sock, req):
        body = json.dumps({"target": req["target"]}).encode()
        sock.sendall(_head(200, [("Content-Type", "application/json"),
                                 ("Content-Length", str(len(body)))]) + body)
        return True


GROUPS = {"admins": {"provider": "corp", "claims": {"role": "admin"}},
          "staff": {"provider": "corp", "claims": {"role": "staff"}}}


def routes(admin_match):
    return [
        {"name": "admin-root", "match": {"path": "/admin"}, "upstream": "app",
         "allow": ["admins"]},
        {"name": "admin", "match": admin_match, "upstream": "app", "allow": ["admins"]},
        {"name": "public", "match": {"path_prefix": "/public/"}, "upstream": "app",
         "public": True},
        {"name": "other", "upstream": "app", "allow": ["staff", "admins"]},
    ]


def route_of(path):
    if path == "/admin":
        return "admin-root"
    if path.startswith("/admin/"):
        return "admin"
    if path.startswith("/public/"):
        return "public"
    return "other"


# (request-target as sent, normalized path | "!reason"). The query of the target, if any, must
# reach the upstream unchanged.
VARIANTS = [
    # Dot segments, plain and percent-encoded.
    (b"/public/../admin", "/admin"),
    (b"/public/../admin/", "/admin/"),
    (b"/public/./../admin/users", "/admin/users"),
    (b"/./admin", "/admin"),
    (b"/public/x/../../admin", "/admin"),
    (b"/public/../../../admin", "/admin"),
    (b"/admin/../public/x", "/public/x"),
    (b"/admin/.", "/admin/"),
    (b"/public/..", "/"),
    (b"/public/%2e%2e/admin", "/admin"),
    (b"/public/%2E%2E/admin", "/admin"),
    (b"/public/%2e./admin", "/admin"),
    (b"/public/.%2E/admin", "/admin"),
    (b"/public/%2e/../admin", "/admin"),
    (b"/%2e/admin", "/admin"),
    (b"/PUBLIC/../admin", "/admin"),
    # Encoded slashes and backslashes, raw backslashes.
    (b"/public/..%2fadmin", "!path_encoded_slash"),
    (b"/public%2f..%2fadmin", "!path_encoded_slash"),
    (b"/%2fadmin", "!path_encoded_slash"),
    (b"/public/..%2Fadmin", "!path_encoded_slash"),
    (b"/public/..%5cadmin", "!path_encoded_slash"),
    (b"/public/..%5Cadmin", "!path_encoded_slash"),
    (b"/public\\..\\admin", "!path_backslash"),
    (b"/public/..\\admin", "!path_backslash"),
    (b"\\admin", "!unsupported_target"),
    # Double and triple encoding.
    (b"/public/%252e%252e/admin", "!path_double_encoding"),
    (b"/%2561dmin", "!path_double_encoding"),
    (b"/public/..%252fadmin", "!path_double_encoding"),
    (b"/public/%25252e%25252e/admin", "!path_double_encoding"),
    (b"/%252fadmin", "!path_double_encoding"),
    (b"/public/%25%32%65%25%32%65/admin", "!path_double_encoding"),
    (b"/public/100%25", "/public/100%25"),
    # Duplicate slashes.
    (b"//admin", "/admin"),
    (b"///admin", "/admin"),
    (b"/public//../admin", "/admin"),
    (b"/admin//users", "/admin/users"),
    (b"//public/..//admin", "/admin"),
    (b"//public//x", "/public/x"),
    # Matrix (path) parameters.
    (b"/admin;x=y", "!path_parameters_reroute"),
    (b"/admin;x=y/users", "!path_parameters_reroute"),
    (b"/admin%3bx/users", "!path_parameters_reroute"),
    (b"/public;x/y", "!path_parameters_reroute"),
    (b"/admin/;x=y/users", "!path_dot_segment_parameters"),
    (b"/public/..;/admin", "!path_dot_segment_parameters"),
    (b"/public/..;x=y/admin", "!path_dot_segment_parameters"),
    (b"/public/.;/admin", "!path_dot_segment_parameters"),
    (b"/;/admin", "!path_dot_segment_parameters"),
    (b"/;x/admin", "!path_dot_segment_parameters"),
    (b"/public/..%3b/admin", "!path_dot_segment_parameters"),
    (b"/public;x=y/../admin", "/admin"),
    (b"/admin/users;jsessionid=1", "/admin/users;jsessionid=1"),
    (b"/public/x;y=z", "/public/x;y=z"),
    # Fragments (clients never send them; a raw socket can).
    (b"/admin#x", "/admin"),
    (b"/public/x#/../../admin", "/public/x"),
    (b"/public/#/../admin", "/public/"),
    (b"/public/x?q=1#/../../admin", "/public/x"),
    (b"/admin%23/x", "/admin%23/x"),
    # Percent-encoded unreserved characters.
    (b"/%61dmin", "/admin"),
    (b"/%61%64%6d%69%6e", "/admin"),
    (b"/admi%6E/users", "/admin/users"),
    (b"/public/%61", "/public/a"),
    (b"/%70ublic/../%61dmin", "/admin"),
    # Case variants (ciap compares bytes; see the (?i) test below).
    (b"/ADMIN", "/ADMIN"),
    (b"/Admin/users", "/Admin/users"),
    (b"/aDmIn/", "/aDmIn/"),
    (b"/%41dmin", "/Admin"),
    # Trailing dots and spaces (Windows drops them).
    (b"/admin.", "!path_trailing_dot"),
    (b"/admin./users", "!path_trailing_dot"),
    (b"/admin%2e/users", "!path_trailing_dot"),
    (b"/admin%20", "!path_trailing_dot"),
    (b"/admin%20/users", "!path_trailing_dot"),
    (b"/admin.%20", "!path_trailing_dot"),
    (b"/admin...", "!path_trailing_dot"),
    (b"/admin%09", "/admin%09"),
    # NUL and control characters.
    (b"/admin%00", "!path_nul"),
    (b"/admin%00/x", "!path_nul"),
    (b"/public/%00/../admin", "!path_nul"),
    (b"/admin%0a", "/admin%0A"),
    (b"/admin%0d%0aX-Injected:%201", "/admin%0D%0AX-Injected:%201"),
    (b"/admin\tx", "!malformed_request"),
    # Invalid escapes.
    (b"/admin%zz", "!path_bad_escape"),
    (b"/admin%", "!path_bad_escape"),
    (b"/admin%2", "!path_bad_escape"),
    (b"/%u0061dmin", "!path_bad_escape"),
    (b"/public/%%32%65%%32%65/admin", "!path_bad_escape"),
    # Overlong and invalid UTF-8.
    (b"/public/%c0%ae%c0%ae/admin", "!path_bad_utf8"),
    (b"/%c0%afadmin", "!path_bad_utf8"),
    (b"/public/%e0%80%ae%e0%80%ae/admin", "!path_bad_utf8"),
    (b"/public/%c0%2e%c0%2e/admin", "!path_bad_utf8"),
    (b"/public/\xc0\xae\xc0\xae/admin", "!path_bad_utf8"),
    (b"/caf%e9", "!path_bad_utf8"),
    (b"/public/caf%C3%A9", "/public/caf%C3%A9"),
    (b"/public/caf\xc3\xa9", "/public/caf%C3%A9"),
    # Unicode compatibility forms of separators (NFKC: U+FF0E '.', U+FF0F '/', U+2025 '..').
    (b"/public/%ef%bc%8e%ef%bc%8e/admin", "!path_compatibility_character"),
    (b"/public%ef%bc%8f..%ef%bc%8fadmin", "!path_compatibility_character"),
    (b"/public/%e2%80%a5/admin", "!path_compatibility_character"),
    (b"/public/\xef\xbc\x8e\xef\xbc\x8e/admin", "!path_compatibility_character"),
    # Characters a path may not hold raw are escaped, one spelling.
    (b'/public/a"b<c>', "/public/a%22b%3Cc%3E"),
    (b"/public/a{b}|c^d`", "/public/a%7Bb%7D%7Cc%5Ed%60"),
    # Queries go upstream as sent; the path is what is authorized.
    (b"/public/x?next=/../admin", "/public/x"),
    (b"/public/x?/admin", "/public/x"),
    (b"/public/%2e%2e/admin?q=%2e%2e", "/admin"),
    (b"/admin?", "/admin"),
    # Absolute-form targets (the Host header is app.test).
    (b"http://app.test/public/../admin", "/admin"),
    (b"http://app.test//admin", "/admin"),
    (b"http://APP.test/%2e%2e/admin?x=1", "/admin"),
    (b"https://app.test/public/x", "/public/x"),
    (b"http://other.test/public/x", "!host_mismatch"),
    (b"http://app.test@other.test/admin", "!unsupported_target"),
    (b"http://app.test", "/"),
    # Authority- and asterisk-form.
    (b"app.test:80", "!unsupported_target"),
    (b"*", "!unsupported_target"),
]

SPOOF_HEADERS = (b"X-Original-URL: /admin\r\nX-Rewrite-URL: /admin\r\n"
                 b"X-Forwarded-Uri: /admin\r\nX-Forwarded-Prefix: /admin\r\n"
                 b"X-Forwarded-Path: /admin\r\nX-Original-URI: /admin\r\n"
                 b"X-Forwarded-Host: admin.internal\r\nForwarded: host=admin.internal\r\n")
SPOOF_NAMES = {"x-original-url", "x-rewrite-url", "x-forwarded-uri", "x-forwarded-prefix",
               "x-forwarded-path", "x-original-uri", "x-forwarded-host", "forwarded"}


# ----- how an upstream might read a path -----
def _unquote(s):
    return urllib.parse.unquote_to_bytes(s).decode("latin-1")


def _nfkc_separators(s):
    """NFKC applied only to characters whose NFKC form holds a separator or a dot."""
    text = s.encode("latin-1").decode("utf-8", "replace")
    out = []
    for ch in text:
        n = unicodedata.normalize("NFKC", ch)
        out.append(n if any(c in n for c in "./\\;%?#") else ch)
    return "".join(out).encode("utf-8").decode("latin-1")


def _strip_params(s):
    return "/".join(seg.split(";", 1)[0] for seg in s.split("/"))


def _resolve(s, windows=False):
    out = []
    for seg in s.replace("\\", "/").split("/"):
        if windows:
            seg = seg.rstrip(". ")
        if seg in ("", "."):
            continue
        if seg == "..":
            if out:
                out.pop()
            continue
        out.append(seg)
    return out


def upstream_readings(path):
    """The segment lists an upstream might act on for `path` (as ciap forwarded it)."""
    once = _unquote(path)
    texts = {path, once, _unquote(once), _unquote(_strip_params(path)),
             _strip_params(once), _nfkc_separators(once)}
    return [_resolve(t, windows) for t in texts for windows in (False, True)]


def is_admin_reading(path):
    return any(segs and segs[0] == "admin" for segs in upstream_readings(path))


class Bypass(CiapTestCase):

    def setUp(self):
        require_node()
        super().setUp()
        jwks, self.tokens = minted()
        self.up = EchoUpstream(name="app").start()
        self.addCleanup(self.up.stop)
        listeners = [plain_listener("plain", routes({"path_prefix": "/admin/"})),
                     plain_listener("ci", routes({"path_regex": "(?i)/admin(/.*)?"}))]
        cfg = make_config([upstream_cfg("app", self.up)], listeners)
        cfg["identity_providers"] = [corp_provider(self.tmp, jwks)]
        cfg["groups"] = GROUPS
        self.ciap = self.start_ciap(cfg, args=["--concurrency", "2"])
        wait_ready(self, self.ciap)
        self.sent = 0

    def send(self, target, who, listener="plain", extra=b""):
        """(Response, request id) of GET target over a fresh raw socket."""
        self.sent += 1
        rid = f"bypass-{self.sent}-{who}"
        head = (b"GET " + target + b" HTTP/1.1\r\nHost: app.test\r\nX-Request-Id: "
                + rid.encode() + b"\r\nConnection: close\r\n" + extra)
        if who != "none":
            head += b"Authorization: Bearer " + self.tokens[who].encode() + b"\r\n"
        s = raw_socket(self.ciap.port(listener), timeout=10)
        try:
            s.sendall(head + b"\r\n")
            r = read_response(s.makefile("rb"))
        finally:
            s.close()
        return r, rid

    def upstream_by_id(self):
        out = {}
        for rec in self.up.requests:
            rid = next((v for k, v in rec["headers"] if k.lower() == "x-request-id"), None)
            out.setdefault(rid, []).append(rec)
        return out

    @staticmethod
    def expected_status(expected, who):
        if expected.startswith("!"):
            return 400
        route = route_of(expected)
        if who == "admin" or route == "public":
            return 200
        if route in ("admin", "admin-root"):
            return 403 if who == "staff" else 401
        return 200 if who == "staff" else 401

    @staticmethod
    def query_of(target):
        t = target.decode("latin-1").split("#", 1)[0]
        return t.split("?", 1)[1] if "?" in t else None

    def test_bypass_variants(self):
        """Over 100 path variants with a staff token and none (and an admin token on admin routes): expected status each time, nothing without admins reaches an admin path as any upstream might read it, and the upstream gets exactly the path ciap authorized."""
        sent = []  # (target, expected, who, response, request id)
        for target, expected in VARIANTS:
            whos = ["staff", "none"]
            if not expected.startswith("!") and route_of(expected).startswith("admin"):
                whos.append("admin")
            for who in whos:
                r, rid = self.send(target, who, extra=SPOOF_HEADERS)
                sent.append((target, expected, who, r, rid))
        self.assertGreaterEqual(len(VARIANTS), 80)

        log = {}
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            log = {a["request_id"]: a for a in self.ciap.access_log()}
            if all(rid in log for *_, rid in sent):
                break
            time.sleep(0.1)
        upstream = self.upstream_by_id()
        forwarded = 0
        for target, expected, who, r, rid in sent:
            with self.subTest(target=target, who=who):
                self.assertEqual(r.status, self.expected_status(expected, who),
                                 f"{target!r} as {who}: {r}")
                if expected.startswith("!"):
                    self.assertEqual(r.json()["reason"], expected[1:], r)
                got = upstream.get(rid, [])
                if r.status != 200:
                    self.assertEqual(got, [], f"{target!r} as {who}: answered {r.status} but "
                                              f"the upstream got {got}")
                    continue
                forwarded += 1
                self.assertEqual(len(got), 1, got)
                rec = got[0]
                path, sep, query = rec["target"].partition("?")
                self.assertEqual(path, expected, f"{target!r}: the upstream got {rec['target']}")
                self.assertEqual(r.json()["target"], rec["target"])
                want_query = self.query_of(target)
                self.assertEqual(query if sep else None, want_query or None, rec["target"])
                self.assertIn(rid, log, "no access-log line")
                self.assertEqual(log[rid]["path"], path, "access log and upstream disagree")
                if who != "admin":
                    self.assertFalse(is_admin_reading(path),
                                     f"{target!r} as {who} reached the upstream as {path!r}, "
                                     f"an admin path to some upstream: {upstream_readings(path)}")
                names = {k.lower() for k, _ in rec["headers"]}
                self.assertFalse(names & SPOOF_NAMES, f"spoofable headers passed: {names}")
        leaks = [rid for *_, who, r, rid in sent
                 if who != "admin" and any(is_admin_reading(x["target"].split("?")[0])
                                           for x in upstream.get(rid, []))]
        self.assertEqual(leaks, [])
        refused = sum(1 for _, e in VARIANTS if e.startswith("!"))
        print(f"    [bypass] {len(VARIANTS)} variants ({refused} refused with 400, "
              f"{len(VARIANTS) - refused} normalized), {len(sent)} requests: {forwarded} "
              f"forwarded, each as the path ciap authorized; {len(leaks)} reached an admin path "
              f"without the admins group")
        m = self.ciap.metrics()
        path_rejections = sum(v for labels, v in m.find("ciap_rejected_requests_total",
                                                        listener="plain")
                              if labels["reason"].startswith("path_"))
        self.assertEqual(path_rejections,
                         sum(1 for _, e, *_ in sent if e.startswith("!path_")))

    def test_oracle_sees_the_classic_bypasses(self):
        """The oracle would catch the classic bypasses if ciap forwarded them unchanged."""
        for raw in ("/public/../admin", "/public/%2e%2e/admin", "//admin", "/admin;x=y/users",
                    "/public/..;/admin", "/%61dmin", "/public/..%2fadmin", "/public\\..\\admin",
                    "/public/%252e%252e/admin", "/admin./users", "/admin%20/users",
                    "/public/%ef%bc%8e%ef%bc%8e/admin", "/;x/admin", "/public/..%3b/admin"):
            with self.subTest(raw=raw):
                self.assertTrue(is_admin_reading(raw), upstream_readings(raw))
        for raw in ("/public/x", "/ADMIN", "/public/admin", "/adminx", "/admin%23/x"):
            self.assertFalse(is_admin_reading(raw), raw)

    def test_admin_token_gets_normalized_admin_paths(self):
        """Positive control: an admins token gets 200 on /admin paths and the upstream echoes the normalized path."""
        for target, expected in ((b"/admin", "/admin"), (b"/admin/users", "/admin/users"),
                                 (b"/public/../admin/x", "/admin/x"), (b"//%61dmin//y", "/admin/y"),
                                 (b"/admin/a%20b?x=1", "/admin/a%20b")):
            with self.subTest(target=target):
                r, _ = self.send(target, "admin")
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json()["target"].split("?")[0], expected)

    def test_case_insensitive_route_recipe(self):
        """With a (?i) path_regex admin route, case variants are admin routes: staff 403, anonymous 401, nothing upstream."""
        before = self.up.request_count
        for target in (b"/ADMIN", b"/Admin/users", b"/%41dmin", b"/aDmIn/", b"/public/../ADMIN/x"):
            for who, status in (("staff", 403), ("none", 401)):
                with self.subTest(target=target, who=who):
                    r, _ = self.send(target, who, listener="ci")
                    self.assertEqual(r.status, status, r)
            r, _ = self.send(target, "admin", listener="ci")
            self.assertEqual(r.status, 200, r)
        self.assertEqual(self.up.request_count - before, 5, "only the admin requests go upstream")


if __name__ == "__main__":
    unittest.main()
