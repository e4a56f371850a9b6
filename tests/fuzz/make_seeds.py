#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/seed-*.

Seeds are small real inputs of each kind: requests (smuggling attempts and path tricks from
shared attack lists included), tokens, JWKS documents, configs (the repository's examples and
fixtures), paths, claim conditions with claims, presigned STS URLs. Reproducers saved by fuzzing
(crash-*, and any other non-seed file) are left alone. Run it again after changing this file; the
output is deterministic.
"""
import base64
import json
import pathlib
import shutil

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CORPUS = HERE / "corpus"


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def write(target, seeds):
    directory = CORPUS / target
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("seed-*"):
        old.unlink()
    for index, seed in enumerate(seeds):
        if isinstance(seed, str):
            seed = seed.encode()
        (directory / f"seed-{index:03d}").write_bytes(seed)


# ---- http_session: the bytes of one client connection --------------------------------------

def request(head, body=b""):
    if isinstance(body, str):
        body = body.encode()
    return head.replace("\n", "\r\n").encode() + body


H = "Host: api.fuzz.test\n"
http = [
    request("GET /public/a HTTP/1.1\n" + H + "\n"),
    request("GET /public/a?x=1&y=%2F HTTP/1.1\n" + H + "x-fuzz-response: chunked\n\n"),
    request("HEAD /healthz HTTP/1.1\n" + H + "\n"),
    request("GET /healthz HTTP/1.0\n\n"),
    request("GET /healthz HTTP/1.0\nConnection: keep-alive\n" + H + "\n")
    + request("GET /public/b HTTP/1.0\n" + H + "\n"),
    request("POST /api/items HTTP/1.1\n" + H + "Content-Length: 5\n\n", "hello"),
    request("PUT /api/items/1 HTTP/1.1\n" + H + "Transfer-Encoding: chunked\n\n",
            "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n"),
    request("POST /api/items HTTP/1.1\n" + H + "Expect: 100-continue\nContent-Length: 3\n\n", "abc"),
    request("GET /strip/x HTTP/1.1\n" + H + "X-Debug: 1\nAuthorization: Bearer mine\n"
            "X-Static: other\n\n"),
    request("GET /admin/panel HTTP/1.1\n" + H + "x-role: admin\n\n"),
    request("GET /admin/panel HTTP/1.1\n" + H + "x-role: user\n\n"),
    request("GET /admin/panel HTTP/1.1\n" + H + "x-role: admin\nConnection: x-role\n\n"),
    request("GET /v2/things HTTP/1.1\nHost: eu.fuzz.test:8080\n\n"),
    request("GET http://api.fuzz.test/api/abs HTTP/1.1\nHost: other.test\n\n"),
    request("GET https://eu.fuzz.test/v1/x?q#frag HTTP/1.1\n\n"),
    request("CONNECT api.fuzz.test:443 HTTP/1.1\n" + H + "\n"),
    request("OPTIONS * HTTP/1.1\n" + H + "\n"),
    # pipelined, each with another upstream behaviour
    b"".join(request(f"GET /public/{mode} HTTP/1.1\n" + H + f"x-fuzz-response: {mode}\n\n")
             for mode in ["length", "chunked", "trailer", "hop", "204", "304", "continue",
                          "big", "404"]),
    request("GET /public/c HTTP/1.1\n" + H + "x-fuzz-response: close\n\n")
    + request("GET /public/d HTTP/1.1\n" + H + "\n"),
    request("GET /public/r HTTP/1.1\n" + H + "x-fuzz-response: reset\n\n"),
    request("DELETE /api/r HTTP/1.1\n" + H + "x-fuzz-response: reset\n\n"),
    request("GET /public/u HTTP/1.1\n" + H + "x-fuzz-response: 101\n\n"),
    request("GET /public/b HTTP/1.1\n" + H + "x-fuzz-response: bad\n\n")
    + request("GET /public/after HTTP/1.1\n" + H + "\n"),
    # smuggling: framing in doubt
    request("POST /public/s HTTP/1.1\n" + H + "Content-Length: 4\nTransfer-Encoding: chunked\n\n",
            "0\r\n\r\nGET /admin/x HTTP/1.1\r\nHost: api.fuzz.test\r\n\r\n"),
    request("POST /public/s HTTP/1.1\n" + H + "Content-Length: 6\nContent-Length: 6\n\n",
            "abcdef"),
    request("POST /public/s HTTP/1.1\n" + H + "Content-Length: 6\nContent-Length: 0\n\n",
            "abcdef"),
    request("POST /public/s HTTP/1.1\n" + H + "Content-Length: 6, 6\n\n", "abcdef"),
    request("POST /public/s HTTP/1.1\n" + H + "Transfer-Encoding: xchunked\n\n", "0\r\n\r\n"),
    request("POST /public/s HTTP/1.1\n" + H + "Transfer-Encoding: chunked, identity\n\n",
            "0\r\n\r\n"),
    request("POST /public/s HTTP/1.1\n" + H + "Transfer-Encoding: gzip, chunked\n\n", "0\r\n\r\n"),
    request("POST /public/s HTTP/1.1\n" + H + "Transfer-Encoding: chunked\nTransfer-Encoding: x\n\n",
            "0\r\n\r\n"),
    request("POST /public/s HTTP/1.1\n" + H + "Transfer-Encoding: chunked\x0b\n\n", "0\r\n\r\n"),
    request("POST /public/s HTTP/1.1\n" + H + "Transfer-Encoding:\tchunked\n\n", "0\r\n\r\n"),
    request("POST /public/s HTTP/1.1\n" + H + "Transfer-Encoding:\n chunked\n\n", "0\r\n\r\n"),
    request("POST /public/s HTTP/1.1\n" + H + "Transfer-Encoding : chunked\n\n", "0\r\n\r\n"),
    request("POST /public/s HTTP/1.0\n" + H + "Transfer-Encoding: chunked\n\n", "0\r\n\r\n"),
    request("POST /public/s HTTP/1.1\n" + H + "Transfer-Encoding: chunked\n\n",
            "fffffffffffffffff\r\nx\r\n0\r\n\r\n"),
    request("POST /public/s HTTP/1.1\n" + H + "Transfer-Encoding: chunked\n\n",
            "-1\r\nx\r\n0\r\n\r\n"),
    request("POST /public/s HTTP/1.1\n" + H + "Transfer-Encoding: chunked\n\n",
            "3;x\nabc\r\n0\r\n\r\n"),
    request("POST /public/s HTTP/1.1\n" + H + "Transfer-Encoding: chunked\n\n",
            "3\r\nabcX\r\n0\r\n\r\n"),
    request("POST /public/s HTTP/1.1\n" + H + "Transfer-Encoding: chunked\n\n",
            "0\r\nTrailer-Field: x\r\n\r\n"),
    b"GET /public/a HTTP/1.1\nHost: api.fuzz.test\n\n",
    b"GET /public/a HTTP/1.1\r\nHost: api.fuzz.test\rX: y\r\n\r\n",
    b"GET /public/a HTTP/1.1\r\nHost: api.fuzz.test\r\nX-A: a\x00b\r\n\r\n",
    b"GET /public/a HTTP/1.1\r\nHost: api.fuzz.test\r\nX-\x00A: b\r\n\r\n",
    request("GET /public/a HTTP/1.1\n" + H + "Host: admin.fuzz.test\n\n"),
    request("GET /public/a HTTP/1.1\n\n"),
    request("GET /public/a HTTP/1.1\nHost: api.fuzz.test\n" + "X-Pad: " + "a" * 9000 + "\n\n"),
    request("GET /public/a HTTP/1.1\n" + H + "".join(f"X-{i}: {i}\n" for i in range(70)) + "\n"),
    request("GET /public/a HTTP/2.0\n" + H + "\n"),
    request("GET /public/a HTTP/1.1\n" + H + "x-request-id: fuzz-id-1\n"
            "X-Forwarded-For: 10.0.0.1\nX-Forwarded-Host: evil\nForwarded: for=1.2.3.4\n\n"),
    # path classes
    *[request(f"GET {path} HTTP/1.1\n" + H + "x-role: user\n\n") for path in [
        "/public/../admin/x", "/public/%2e%2e/admin/x", "/public/%2E./admin/x",
        "/public/..%2fadmin/x", "/public%5c..%5cadmin/x", "//admin/x", "/admin;x=y/x",
        "/public/..;/admin/x", "/admin/x#frag", "/%61dmin/x", "/ADMIN/x", "/public\\..\\admin",
        "/public/%00", "/public/%zz", "/public/%c3%a9?a=%2e%2e",
    ]],
    request("GET /public/a HTTP/1.1\n" + H + "X-Original-URL: /admin/x\nX-Rewrite-URL: /admin/x\n"
            "X-Forwarded-Uri: /admin/x\nX-Forwarded-Prefix: /admin\n\n"),
    request("GET /public/a HTTP/1.1\n" + H + "Connection: close\n\n")
    + request("GET /public/never HTTP/1.1\n" + H + "\n"),
    # identity and policy: $ADMIN$, $USER$ and $UNKNOWN$ become tokens (see fuzz_http_session.cc)
    *[request(f"GET {path} HTTP/1.1\n" + H + f"Authorization: {auth}\n\n") for path, auth in [
        ("/adm/deploy", "Bearer $ADMIN$"), ("/adm/deploy", "Bearer $USER$"),
        ("/auth/whoami", "Bearer $USER$"), ("/auth/whoami", "bearer  $ADMIN$"),
        ("/shadow/x", "Bearer $USER$"), ("/adm/deploy", "Bearer $UNKNOWN$"),
        ("/auth/x", "Basic YWxhZGRpbjpvcGVuc2VzYW1l"), ("/auth/x", "Bearer"),
        ("/auth/x", "Bearer a.b.c"), ("/public/x", "Bearer $ADMIN$"),
    ]],
    request("GET /adm/deploy HTTP/1.1\n" + H + "x-ciap-subject: admin-job\nx-ciap-groups: admins\n\n"),
    request("GET /auth/a HTTP/1.1\n" + H + "Authorization: Bearer $ADMIN$\n"
            "Authorization: Bearer $USER$\n\n"),
    request("GET /auth/a HTTP/1.1\n" + H + "Authorization: Bearer $USER$\n\n")
    + request("GET /adm/a HTTP/1.1\n" + H + "Authorization: Bearer $USER$\n\n")
    + request("GET /adm/a HTTP/1.1\n" + H + "Authorization: Bearer $ADMIN$\n\n"),
    request("POST /public/p HTTP/1.1\n" + H + "Content-Length: 100\n\n", "short"),
    request("POST /public/p HTTP/1.1\n" + H + "Transfer-Encoding: chunked\n\n", "a\r\nshort"),
]

# ---- path: raw request-target paths ----------------------------------------------------------

paths = [
    "/", "/a", "/a/", "//a", "/a//b///c", "/a/./b", "/a/../b", "/public/../admin", "/..",
    "/../../etc/passwd", "/a/.", "/a/..", "/a/b/..", "/%61dmin", "/%2e%2e/admin",
    "/public/%2E%2e/admin", "/public/%2E./admin", "/a%7eb", "/a%20b", "/a%3fb", "/caf%c3%a9",
    "/admin;x=y", "/.hidden/..x", "//", "/a/b/", "", "a/b", "/a%2fb", "/a%5cb", "/a\\b",
    "/a%00b", "/a%", "/a%4", "/a%zz", "/public/..;/admin", "/public/.;x/admin", "/%2e%2e;/admin",
    "/%252e%252e/admin", "/a/%2E/b", "/a/.%2e/b", "/./././", "/a/b/c/../../../../d",
    "/%7E%7e%41", "/a\x00b", "/\xff\xfe/%FF",
]

# ---- jws: a flags byte (see fuzz_jws.cc) and a token -----------------------------------------

payload = {"iss": "https://fuzz.test", "aud": "fuzz-audience", "sub": "repo:acme/app:ref:main",
           "iat": 1767225600, "nbf": 1767225600, "exp": 1767229200,
           "organization_slug": "acme-inc", "pipeline_slug": "release-2026", "build_branch": "main",
           "ref_protected": True, "run_attempt": 1, "groups": ["admins-ops", "dev"],
           "realm_access": {"roles": ["deployer"]}}
fake_signature = b64(b"\x01" * 64)


def token(header, body=None, signature=fake_signature):
    header_text = header if isinstance(header, str) else json.dumps(header, separators=(",", ":"))
    body_text = body if isinstance(body, str) else json.dumps(body or payload,
                                                              separators=(",", ":"))
    return f"{b64(header_text)}.{b64(body_text)}.{signature}"


def flags(signer, allowed=0):
    return bytes([signer | (allowed << 3)])


jws = [
    flags(1) + token({"alg": "RS256", "kid": "rsa", "typ": "JWT"}).encode(),
    flags(1) + token({"alg": "RS256", "kid": "rsa-rs256"}).encode(),
    flags(1, 1) + token({"alg": "RS256"}).encode(),
    flags(2) + token({"alg": "PS384", "kid": "rsa-ps384"}).encode(),
    flags(2, 2) + token({"alg": "PS384", "kid": "rsa"}).encode(),
    flags(3) + token({"alg": "ES256", "kid": "ec256"}).encode(),
    flags(3, 1) + token({"alg": "ES256"}).encode(),
    flags(4, 3) + token({"alg": "ES384", "kid": "ec384"}).encode(),
    flags(5) + token({"alg": "EdDSA", "kid": "ed"}).encode(),
    flags(6) + token({"alg": "ES256", "kid": "ec256"}).encode(),
    flags(1) + token({"alg": "PS256", "kid": "rsa-rs256"}).encode(),
    flags(3) + token({"alg": "ES256", "kid": "ec384"}).encode(),
    flags(0) + token({"alg": "none"}, signature="").encode(),
    flags(0) + token({"alg": "nOnE", "kid": "rsa"}).encode(),
    flags(1) + token({"alg": "HS256", "kid": "rsa"}).encode(),
    flags(1) + token('{"alg":"RS256","alg":"none","kid":"rsa"}').encode(),
    flags(1) + token({"alg": "RS256", "kid": "rsa", "crit": ["exp"]}).encode(),
    flags(1) + token({"alg": "RS256", "kid": "rsa", "cty": "JWT"}).encode(),
    flags(1) + token({"alg": "RS256", "kid": "rsa", "jwk": {"kty": "RSA", "n": "AQAB",
                                                             "e": "AQAB"}}).encode(),
    flags(1) + token({"alg": "RS256", "kid": "../../dev/null"}).encode(),
    flags(5) + token({"alg": "EdDSA", "kid": "ed"}, dict(payload, exp=1e400)).encode(),
    flags(5) + token({"alg": "EdDSA", "kid": "ed"}, dict(payload, exp="1767229200")).encode(),
    flags(5) + token({"alg": "EdDSA", "kid": "ed"}, dict(payload, aud=["x", "fuzz-audience"]))
    .encode(),
    flags(5) + token({"alg": "EdDSA", "kid": "ed"}, dict(payload, iat=1767229200)).encode(),
    flags(5) + token({"alg": "EdDSA", "kid": "ed"}, dict(payload, exp=1767225000)).encode(),
    flags(5) + token({"alg": "EdDSA", "kid": "ed"},
                     '{"iss":"https://fuzz.test","exp":18446744073709551616,"a":{"b":[1,2.5e-3]}}')
    .encode(),
    flags(5) + token({"alg": "EdDSA", "kid": "ed"}, '{"exp":1,"exp":2}').encode(),
    flags(0) + b"a.b",
    flags(0) + b"a.b.c.d.e",
    flags(0) + token({"alg": "RS256"}).replace("-", "+").encode() + b"=",
    flags(0) + b'{"payload":"e30","signatures":[]}',
    flags(3) + token({"alg": "ES256", "kid": "ec256"}, signature=b64(b"\0" * 64)).encode(),
]

# ---- jwks: documents; $NAME$ placeholders become the harness's own key material --------------

rsa = {"kty": "RSA", "kid": "rsa", "n": "$RSA_N$", "e": "AQAB"}
p256 = {"kty": "EC", "kid": "ec256", "crv": "P-256", "x": "$P256_X$", "y": "$P256_Y$"}
p384 = {"kty": "EC", "kid": "ec384", "crv": "P-384", "x": "$P384_X$", "y": "$P384_Y$"}
ed = {"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": "$ED_X$"}


def jwks_doc(*keys):
    return json.dumps({"keys": list(keys)})


jwks = [
    jwks_doc(rsa, p256, p384, ed),
    jwks_doc(dict(rsa, alg="RS256", use="sig"), dict(p256, alg="ES256")),
    jwks_doc(dict(rsa, kid=None)),
    jwks_doc({k: v for k, v in rsa.items() if k != "kid"}, {k: v for k, v in p256.items()
                                                            if k != "kid"}),
    jwks_doc(dict(rsa, use="enc"), dict(p256, key_ops=["encrypt"])),
    jwks_doc(dict(rsa, alg="PS256"), dict(ed, alg="EdDSA")),
    jwks_doc(dict(rsa, n=b64(b"\xc1" + b"\0" * 127))),  # 1024 bits
    jwks_doc(dict(rsa, e="Aw"), dict(rsa, kid="rsa", e="AQAB")),
    jwks_doc({"kty": "oct", "kid": "hmac", "k": b64(b"secret")}),
    jwks_doc({"kty": "OKP", "crv": "X25519", "x": "$ED_X$", "kid": "x"}),
    jwks_doc(dict(p256, crv="P-521"), dict(p256, y="$P384_Y$"), dict(p256, x="AA")),
    jwks_doc(dict(rsa, x5c=["MIIB"], x5t="abc")),
    jwks_doc(*[dict(p256, kid=f"k{i}") for i in range(101)]),
    '{"keys":[]}',
    '{"keys":{}}',
    '{"keys":[1,"a",null,[]]}',
    '{"keys":[{"kty":"RSA","kid":"rsa","n":"$RSA_N$","e":"AQAB","kid":"dup"}]}',
    '{"other":1}',
    '[]',
    '{"keys":[{"kty":"EC","crv":"P-256","x":"$P256_X$","y":"$P256_Y$","d":"AAAA"}]}',
]

# ---- claims: YAML conditions, NUL, JSON claims -----------------------------------------------

claims = []
condition_sets = [
    "organization_slug: acme-inc",
    'pipeline_slug: [deploy-api, "release-*"]',
    'build_branch: { not: "dev/**" }',
    "ref_protected: true",
    'ref_protected: "true"',
    "run_number: 20",
    "run_number: -1.5",
    "groups: { contains: platform-admins }",
    "groups: { contains: { regex: 'admins-[a-z]+' } }",
    "email: { regex: '.*@acme\\.com' }",
    "[realm_access, roles]: { contains: deployer }",
    'sub: "repo:acme/*:ref:refs/heads/**"',
    'oidc.circleci.com/vcs-origin: { not: "github.com/acme/*" }',
    "job_workflow_ref: \"octo-org/shared/.github/workflows/deploy.yml@refs/tags/v*\"",
    "a: { not: { not: [x, y] } }",
    "a: [1, 2, true, x]",
    "org: ${FUZZ_ORG}",
    "a: ''",
    "\"\": x",
]
claim_payloads = [
    payload,
    {"organization_slug": "acme-inc", "pipeline_slug": "release-7", "build_branch": "dev/x",
     "ref_protected": "true", "run_number": "20", "groups": ["platform-admins", "admins-ops"]},
    {"email": "a@acme.com", "realm_access": {"roles": ["viewer", "deployer"]},
     "sub": "repo:acme/app:ref:refs/heads/feature/x", "run_number": 20.0},
    {"oidc.circleci.com/vcs-origin": "github.com/evil/app", "a": ["x"], "org": "acme-inc"},
    {"job_workflow_ref": "octo-org/shared/.github/workflows/deploy.yml@refs/tags/v1.2",
     "run_number": 9007199254740993, "a": None, "": "x"},
]
for index, conditions in enumerate(condition_sets):
    claims.append(conditions.encode() + b"\0" +
                  json.dumps(claim_payloads[index % len(claim_payloads)]).encode())
claims.append("\n".join(condition_sets[:12]).encode() + b"\0" + json.dumps(claim_payloads[1])
              .encode())

# ---- aws_presign: presigned sts:GetCallerIdentity URLs (the harness reads each input as the
# token and as the URL inside one); dated for the harness's clock, 2024-06-01T12:00:00Z --------

STS = "https://sts.eu-west-1.amazonaws.com"


def presign(date="20240601T115950Z", expires="60", signed="host%3Bx-ciap-audience", extra=""):
    return ("Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20240601%2Feu-west-1%2Fsts%2Faws4_request"
            f"&X-Amz-Date={date}&X-Amz-Expires={expires}&X-Amz-SignedHeaders={signed}"
            "&X-Amz-Signature=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            + extra)


aws_presign = [
    STS + "/?" + presign(),
    "k8s-aws-v1." + b64(STS + "/?" + presign()),
    "https://sts.us-east-2.amazonaws.com:8443/?"
    + presign(extra="&X-Amz-Security-Token=FwoGZXIvYXdzE%2B%2F%3D"),
    "https://sts.eu-west-1.amazonaws.com@evil.example/?" + presign(),
    "https://sts.eu-west-1.amazonaws.com.evil.example:443/?" + presign(),
    STS + "/sts?" + presign() + "#frag",
    STS + "/?" + presign().replace("GetCallerIdentity", "AssumeRole"),
    STS + "/?" + presign() + "&Act%69on=AssumeRole",
    STS + "/?" + presign(signed="x-ciap-audience-x%3Bhost"),
    STS + "/?" + presign(date="20240601T113000Z"),
    STS + "/?" + presign(expires="901"),
    STS + "/?" + presign(date="20240601T120600Z"),
]

# ---- h2_session: HTTP/2 frames after the preface (the harness puts the preface first) --------
# Built with Debian's python3-h2 (hpack, hyperframe); literal HPACK without Huffman coding, so
# paths and header values stay readable to the fuzzer.


def h2_seeds():
    try:
        import hpack
        import hyperframe.frame as hf
    except ImportError:
        return None

    def headers(sid, fields, end_stream=True):
        block = hpack.Encoder().encode(fields, huffman=False)
        flags = ["END_HEADERS"] + (["END_STREAM"] if end_stream else [])
        return hf.HeadersFrame(sid, data=block, flags=flags).serialize()

    def get(path, *extra, method="GET"):
        return [(":method", method), (":scheme", "http"), (":authority", "fuzz.test"),
                (":path", path), *extra]

    settings = hf.SettingsFrame(0).serialize()
    data = lambda sid, body, end=True: hf.DataFrame(sid, data=body,  # noqa: E731
                                                    flags=["END_STREAM"] if end else []).serialize()
    seeds = [
        settings + headers(1, get("/strip/x")),
        settings + headers(1, get("/strip/y", ("content-length", "5"), method="POST"), False)
        + data(1, b"hello"),
        settings + headers(1, get("/auth/a")) + headers(3, get("/adm/b")) + headers(5, get("/public/c")),
        settings + headers(1, get("/public/a", ("x-fuzz-response", "chunked"))),
        settings + headers(1, get("/public/a", ("x-fuzz-response", "close"))),
        settings + headers(1, get("/public/a", ("x-fuzz-response", "big"))),
        settings + headers(1, get("/public/a", ("x-fuzz-response", "continue"))),
        settings + headers(1, get("/admin/x", ("x-role", "admin"), ("cookie", "a=1"), ("cookie", "b=2"))),
        settings + headers(1, get("/public/../strip/%2e%2e/x")),
        settings + headers(1, get("/public/a", ("connection", "close"))),
        settings + headers(1, get("/public/a", ("content-length", "10"), method="POST"), False)
        + data(1, b"short"),
        settings + headers(1, [(":method", "GET"), (":path", "/public/a")]),
        settings + headers(1, get("/public/a")) + hf.RstStreamFrame(1, error_code=8).serialize(),
        settings + hf.PingFrame(0, opaque_data=b"12345678").serialize()
        + hf.WindowUpdateFrame(0, window_increment=1000).serialize() + headers(1, get("/healthz")),
        settings + hf.HeadersFrame(1, data=hpack.Encoder().encode(get("/public/a"), huffman=False))
        .serialize() + hf.ContinuationFrame(1, data=b"", flags=["END_HEADERS"]).serialize(),
        settings + headers(1, get("/public/a", ("expect", "100-continue"), method="PUT"), False)
        + data(1, b"body"),
        settings + hf.GoAwayFrame(0, last_stream_id=0).serialize(),
        settings + headers(1, get("/v1/x", (":authority", "api.fuzz.test"))),
    ]
    return seeds


def h2_upstream_seeds():
    """fuzz_h2_upstream: a mode byte (1: the request has a body, 2: the relay gives up after
    the first body bytes), then what an upstream sends on the connection."""
    try:
        import hpack
        import hyperframe.frame as hf
    except ImportError:
        return None
    encoder = hpack.Encoder()

    def headers(fields, end_stream=False, sid=1):
        block = encoder.encode(fields, huffman=False)
        flags = ["END_HEADERS"] + (["END_STREAM"] if end_stream else [])
        return hf.HeadersFrame(sid, data=block, flags=flags).serialize()

    def data(body, end=False, sid=1):
        return hf.DataFrame(sid, data=body, flags=["END_STREAM"] if end else []).serialize()

    preface = hf.SettingsFrame(0, settings={3: 100}).serialize() + \
        hf.SettingsFrame(0, flags=["ACK"]).serialize()
    grpc = [(":status", "200"), ("content-type", "application/grpc")]
    trailers = [("grpc-status", "0"), ("x-trailer", "done")]
    message = b"\x00\x00\x00\x00\x05hello"
    seeds = [
        b"\x01" + preface + headers(grpc) + data(message) + headers(trailers, True),
        b"\x00" + preface + headers(grpc + [("grpc-status", "5"), ("grpc-message", "nope")], True),
        b"\x03" + preface + headers(grpc) + data(message) + data(message * 100) +
        headers(trailers, True),
        b"\x00" + preface + headers([(":status", "100")]) + headers([(":status", "204")], True),
        b"\x01" + preface + headers([(":status", "200"), ("content-length", "3")]) +
        data(b"abcdef", True),
        b"\x00" + preface + hf.RstStreamFrame(1, error_code=7).serialize(),
        b"\x00" + preface + hf.GoAwayFrame(0, last_stream_id=0, error_code=0).serialize(),
        b"\x01" + preface + headers(grpc) + hf.WindowUpdateFrame(1, window_increment=1000)
        .serialize() + data(b"x" * 1000) + hf.PingFrame(0, opaque_data=b"12345678").serialize(),
        b"\x00" + preface + headers([(":status", "200"), ("x-big", "v" * 20000)], True),
        b"\x00" + preface + hf.PushPromiseFrame(1, promised_stream_id=2,
                                                  data=encoder.encode(grpc), flags=["END_HEADERS"])
        .serialize(),
        b"\x02" + preface + headers(grpc) + data(b"y" * 16384) * 20,
    ]
    return seeds


# ---- config: the repository's own configs ----------------------------------------------------


def config_seeds():
    files = sorted(f for f in (ROOT / "examples").glob("*.yaml") if not f.name.endswith(".cases.yaml"))
    files += sorted((ROOT / "tests/fixtures/config/valid").glob("*.yaml"))
    files += sorted((ROOT / "tests/fixtures/config/broken").glob("*.yaml"))
    return [f.read_bytes() for f in files]


if __name__ == "__main__":
    write("http_session", http)
    if (h2 := h2_seeds()) is not None:  # needs python3-h2; otherwise the committed seeds stay
        write("h2_session", h2)
    if (h2_upstream := h2_upstream_seeds()) is not None:
        write("h2_upstream", h2_upstream)
    write("path", paths)
    write("jws", jws)
    write("jwks", jwks)
    write("claims", claims)
    write("config", config_seeds())
    write("aws_presign", aws_presign)
    for target in sorted(CORPUS.iterdir()):
        print(f"{target.name}: {len(list(target.iterdir()))} files")
