#!/usr/bin/env python3
"""An emulator of AWS STS GetCallerIdentity called through a presigned URL, for ciap's tests.

The pattern of Vault's aws auth, aws-iam-authenticator (EKS) and Teleport's IAM joining: a CI
job presigns `GET https://sts.../?Action=GetCallerIdentity&Version=2011-06-15` with its AWS
credentials (SigV4 in the query string, an audience header signed along), hands the URL to the
proxy as a bearer token, and the proxy replays it against STS: STS answers with the caller's
identity only when the signature is right and current. This emulator verifies every request
on its own, with botocore's SigV4 signer (an implementation independent of ciap's).

Importable (the server, its modes and its records are emulator_base.py's):
    sts = StsEmulator(cert, key, region="us-east-1", validity=None).start()
    sts.port, sts.url                    # "https://127.0.0.1:PORT"
    sts.add_identity(access_key_id, secret_access_key, arn, user_id, account,
                     session_token=None, session_expires=None)
    sts.remove_identity(access_key_id)
    sts.set_mode("normal" | "down" | "slow" | "garbage" | "error"); sts.slow_seconds
    sts.throttled = True: every request gets 400 Throttling ("Rate exceeded"), as STS over its rate
    sts.hits (int), sts.requests (list of dicts), sts.reset_counts(), sts.stop()
    presign_url(...) / presign_token(...) / token_url(token)   (see their docstrings)

Runnable:
    python3 sts_emulator.py --cert F --key F [--port 0] [--region us-east-1]
        [--identity AKID,SECRET,ARN,USERID,ACCOUNT]...
    prints "listening 127.0.0.1:PORT" and serves until SIGTERM/SIGINT.
    python3 sts_emulator.py --self-test      presign + verify round trips (needs openssl)

What a request must be to get 200 (checked in this order; the answer of the first failure,
with AWS's codes and wording, is in brackets):
  - query parameters not repeated [400 MalformedQueryString: the emulator's own strictness]
  - no X-Amz-Algorithm/-Credential/-Signature at all: [403 MissingAuthenticationToken]; an
    Authorization header instead: [400 IncompleteSignature: only presigned URLs are verified]
  - X-Amz-Algorithm, -Credential, -Date, -Expires, -SignedHeaders, -Signature all present
    [400 IncompleteSignature]; algorithm AWS4-HMAC-SHA256 [400 IncompleteSignature]; credential
    `AKID/YYYYMMDD/region/service/aws4_request` [400 IncompleteSignature]; X-Amz-Date in ISO 8601
    basic format [400 IncompleteSignature]; X-Amz-Expires an integer 0..604800
    [400 AuthorizationQueryParametersError]
  - the credential's date is X-Amz-Date's date, its service "sts", its region the emulator's
    [403 SignatureDoesNotMatch]
  - X-Amz-Date not more than 15 minutes in the future ("Signature not yet current") and
    X-Amz-Date + X-Amz-Expires not passed ("Signature expired") [403 SignatureDoesNotMatch];
    StsEmulator(validity=900) ignores X-Amz-Expires for a fixed 15-minute life instead
  - a known access key [403 InvalidClientTokenId]; X-Amz-Security-Token equal to the identity's
    session token, present exactly when it has one [403 InvalidClientTokenId]; that session not
    expired [403 ExpiredToken]
  - every header named in X-Amz-SignedHeaders arrived, and the signature botocore computes for
    the request as it arrived (method, path, the query minus X-Amz-Signature, the signed headers
    with their arrived values - Host included - and the body's hash) at X-Amz-Date equals
    X-Amz-Signature, compared in constant time [403 SignatureDoesNotMatch]. Host must be signed
    (botocore always signs it, so a list without it cannot match).
  - Action=GetCallerIdentity [400 MissingAction / InvalidAction], Version=2011-06-15
    [400 InvalidAction]
Then 200 with GetCallerIdentityResponse (Arn, UserId, Account, RequestId). Errors are AWS's
ErrorResponse (Type Sender, Code, Message, RequestId). Both as text/xml, or as JSON (AWS's
JSON shapes) when the request's Accept names application/json. Every response carries
x-amzn-RequestId. Any path and method are verified the same way: a presigned GET replayed as
POST or to another path fails the signature, as at AWS.

Modes (set_mode): "normal"; "down" reads the request and closes the connection without an
answer; "slow" sleeps slow_seconds (default 5) before answering normally; "garbage" answers 200
with a body that is neither XML nor JSON; "error" answers 500 InternalFailure (Type Receiver).

sts.requests: one dict per request received, in arrival order: method, path, query (dict, first
value of each name), raw_query, headers (dict of lower-case names, repeated headers joined with
", "), status, code (the error code, None on 200), arn (on 200), time.
"""

import base64
import calendar
import datetime
import hmac
import json
import sys
import time
import urllib.parse
import uuid
from xml.sax.saxutils import escape as xml_escape

from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

import emulator_base

STS_NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
STS_VERSION = "2011-06-15"
TOKEN_PREFIX = "k8s-aws-v1."
SIGV4_TIMESTAMP = "%Y%m%dT%H%M%SZ"
ALGORITHM = "AWS4-HMAC-SHA256"
MAX_EXPIRES = 604800  # one week, SigV4's limit for presigned URLs
CLOCK_SKEW = 15 * 60  # how far in the future AWS accepts a request's date
AUTH_PARAMS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
               "X-Amz-SignedHeaders", "X-Amz-Signature")
SIGNATURE_MISMATCH = ("The request signature we calculated does not match the signature you "
                      "provided. Check your AWS Secret Access Key and signing method. Consult "
                      "the service documentation for details.")
GARBAGE = b"\x00<GetCallerIdentityResponse {\"neither XML\": nor JSON"


# ---------------------------------------------------------------------------------------------
# Signing (botocore)
# ---------------------------------------------------------------------------------------------
class _SigV4QueryAuthAt(SigV4QueryAuth):
    """botocore's SigV4QueryAuth signing at a given instant instead of now.

    add_auth() repeats the steps of botocore's SigV4Auth.add_auth (the same in botocore 1.29
    and 1.4x) with request.context["timestamp"] set to `timestamp` (SigV4 basic format), and
    returns the signature.
    """

    def __init__(self, credentials, service_name, region_name, expires, timestamp):
        super().__init__(credentials, service_name, region_name, expires=expires)
        self._timestamp = timestamp

    def add_auth(self, request):
        request.context["timestamp"] = self._timestamp
        self._modify_request_before_signing(request)
        canonical_request = self.canonical_request(request)
        string_to_sign = self.string_to_sign(request, canonical_request)
        signature = self.signature(string_to_sign, request)
        self._inject_signature_to_request(request, signature)
        return signature


def _timestamp(when):
    """SigV4 timestamp of when: None (now), epoch seconds, or a datetime (naive = UTC)."""
    if when is None:
        when = time.time()
    if isinstance(when, (int, float)):
        when = datetime.datetime.fromtimestamp(when, datetime.timezone.utc)
    if when.tzinfo is not None:
        when = when.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return when.strftime(SIGV4_TIMESTAMP)


def presign_url(endpoint_url, audience, access_key_id, secret_access_key, region="us-east-1",
                expires=60, action="GetCallerIdentity", audience_header="x-ciap-audience",
                session_token=None, when=None, version=STS_VERSION):
    """A presigned `GET endpoint_url/?Action=<action>&Version=<version>` (botocore, service sts).

    The header `<audience_header>: <audience>` is signed along (X-Amz-SignedHeaders
    "host;x-ciap-audience"); audience_header=None signs Host only. action/version None leave
    the parameter out. session_token adds X-Amz-Security-Token. when (None = now, epoch seconds
    or a datetime) is the signing instant, X-Amz-Date.
    """
    params = []
    if action is not None:
        params.append(("Action", action))
    if version is not None:
        params.append(("Version", version))
    url = endpoint_url.rstrip("/") + "/"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    headers = {audience_header: audience} if audience_header else {}
    request = AWSRequest(method="GET", url=url, headers=headers)
    credentials = Credentials(access_key_id, secret_access_key, session_token)
    _SigV4QueryAuthAt(credentials, "sts", region, expires, _timestamp(when)).add_auth(request)
    return request.url


def presign_token(endpoint_url, audience, access_key_id, secret_access_key, region="us-east-1",
                  expires=60, action="GetCallerIdentity", audience_header="x-ciap-audience",
                  session_token=None, when=None):
    """"k8s-aws-v1." + unpadded base64url(presign_url(...)): an EKS-style bearer token."""
    url = presign_url(endpoint_url, audience, access_key_id, secret_access_key, region=region,
                      expires=expires, action=action, audience_header=audience_header,
                      session_token=session_token, when=when)
    return TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def token_url(token):
    """The presigned URL inside a presign_token() token."""
    if not token.startswith(TOKEN_PREFIX):
        raise ValueError("not a k8s-aws-v1. token")
    body = token[len(TOKEN_PREFIX):]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


# ---------------------------------------------------------------------------------------------
# Verification
# ---------------------------------------------------------------------------------------------
class StsError(Exception):
    """An STS error answer: HTTP status, AWS error code and message (Type Sender, or Receiver
    for 5xx)."""

    def __init__(self, status, code, message):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def _fmt(epoch):
    return time.strftime(SIGV4_TIMESTAMP, time.gmtime(epoch))


class _Identity:
    def __init__(self, access_key_id, secret_access_key, arn, user_id, account, session_token,
                 session_expires):
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key
        self.arn = arn
        self.user_id = user_id
        self.account = account
        self.session_token = session_token
        if isinstance(session_expires, datetime.datetime):
            if session_expires.tzinfo is None:
                session_expires = session_expires.replace(tzinfo=datetime.timezone.utc)
            session_expires = session_expires.timestamp()
        self.session_expires = session_expires


def verify_presigned(method, path, raw_query, header_lookup, body, lookup_identity, region,
                     now=None, validity=None):
    """Checks a presigned STS request as it arrived; returns the _Identity or raises StsError.

    header_lookup(name) -> list of the values that arrived for that (lower-case) header name.
    lookup_identity(access_key_id) -> _Identity or None.
    validity: None, the URL expires at X-Amz-Date + X-Amz-Expires; else seconds after
    X-Amz-Date, X-Amz-Expires ignored (see StsEmulator).
    """
    now = time.time() if now is None else now
    pairs = urllib.parse.parse_qsl(raw_query, keep_blank_values=True)
    params = {}
    for name, value in pairs:
        if name in params:
            raise StsError(400, "MalformedQueryString", f"Duplicate query parameter: {name}")
        params[name] = value

    if not any(p in params for p in ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature")):
        if header_lookup("authorization"):
            raise StsError(400, "IncompleteSignature",
                           "This emulator verifies presigned (query string) signatures only.")
        raise StsError(403, "MissingAuthenticationToken", "Request is missing Authentication Token")
    missing = [p for p in AUTH_PARAMS if p not in params]
    if missing:
        raise StsError(400, "IncompleteSignature",
                       "AWS query-string parameters must include 'X-Amz-Algorithm', "
                       "'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-Date', "
                       "'X-Amz-SignedHeaders', 'X-Amz-Expires'. Missing: " + ", ".join(missing))
    algorithm = params["X-Amz-Algorithm"]
    if algorithm != ALGORITHM:
        raise StsError(400, "IncompleteSignature", f"Unsupported AWS 'algorithm': '{algorithm}'")
    credential = params["X-Amz-Credential"]
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts):
        raise StsError(400, "IncompleteSignature",
                       "Credential must have exactly 5 slash-delimited elements, e.g. "
                       f"keyid/date/region/service/term, got '{credential}'")
    access_key_id, scope_date, scope_region, scope_service, _ = parts
    amz_date = params["X-Amz-Date"]
    try:
        signed_at = calendar.timegm(time.strptime(amz_date, SIGV4_TIMESTAMP))
        if len(amz_date) != 16:
            raise ValueError(amz_date)
    except ValueError:
        raise StsError(400, "IncompleteSignature",
                       f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'. See "
                       "http://en.wikipedia.org/wiki/ISO_8601") from None
    expires_raw = params["X-Amz-Expires"]
    if not expires_raw.isdigit():
        raise StsError(400, "AuthorizationQueryParametersError",
                       "X-Amz-Expires should be a number")
    expires = int(expires_raw)
    if expires > MAX_EXPIRES:
        raise StsError(400, "AuthorizationQueryParametersError",
                       f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_EXPIRES}")

    if scope_date != amz_date[:8]:
        raise StsError(403, "SignatureDoesNotMatch",
                       "Date in Credential scope does not match YYYYMMDD from ISO-8601 version "
                       f"of date from HTTP: '{scope_date}' != '{amz_date[:8]}', from "
                       f"'{amz_date}'.")
    if scope_service != "sts":
        raise StsError(403, "SignatureDoesNotMatch",
                       "Credential should be scoped to correct service: 'sts'. ")
    if scope_region != region:
        raise StsError(403, "SignatureDoesNotMatch",
                       "Credential should be scoped to a valid region. ")
    if signed_at > now + CLOCK_SKEW:
        raise StsError(403, "SignatureDoesNotMatch",
                       f"Signature not yet current: {amz_date} is still later than "
                       f"{_fmt(now + CLOCK_SKEW)} ({_fmt(now)} + 15 min.)")
    lifetime = expires if validity is None else validity
    if now > signed_at + lifetime:
        raise StsError(403, "SignatureDoesNotMatch",
                       f"Signature expired: {amz_date} is now earlier than "
                       f"{_fmt(now - lifetime)} ({_fmt(now)} - {lifetime} sec.)")

    identity = lookup_identity(access_key_id)
    if identity is None:
        raise StsError(403, "InvalidClientTokenId",
                       "The security token included in the request is invalid.")
    session_token = params.get("X-Amz-Security-Token")
    if identity.session_token is None:
        if session_token is not None:
            raise StsError(403, "InvalidClientTokenId",
                           "The security token included in the request is invalid.")
    else:
        if session_token is None or not hmac.compare_digest(session_token.encode(),
                                                            identity.session_token.encode()):
            raise StsError(403, "InvalidClientTokenId",
                           "The security token included in the request is invalid.")
        if identity.session_expires is not None and now >= identity.session_expires:
            raise StsError(403, "ExpiredToken",
                           "The security token included in the request is expired")

    # Rebuild the request as it arrived and sign it again with botocore at X-Amz-Date.
    headers = {}
    for name in params["X-Amz-SignedHeaders"].split(";"):
        values = header_lookup(name)
        if not values:
            raise StsError(403, "SignatureDoesNotMatch", SIGNATURE_MISMATCH)
        headers[name] = ",".join(values)
    host = (header_lookup("host") or [""])[0]
    operation = [(k, v) for k, v in pairs
                 if k not in AUTH_PARAMS and k != "X-Amz-Security-Token"]
    url = f"https://{host}{path}"
    if operation:
        url += "?" + urllib.parse.urlencode(operation, quote_via=urllib.parse.quote)
    request = AWSRequest(method=method, url=url, headers=headers, data=body or b"")
    credentials = Credentials(access_key_id, identity.secret_access_key, session_token)
    signer = _SigV4QueryAuthAt(credentials, scope_service, scope_region, expires_raw, amz_date)
    expected = signer.add_auth(request)
    if not hmac.compare_digest(expected.encode(), params["X-Amz-Signature"].encode()):
        raise StsError(403, "SignatureDoesNotMatch", SIGNATURE_MISMATCH)

    action = params.get("Action")
    if action is None:
        raise StsError(400, "MissingAction", "Missing Action")
    version = params.get("Version")
    if action != "GetCallerIdentity" or version != STS_VERSION:
        raise StsError(400, "InvalidAction", f"Could not find operation {action} for version "
                                             f"{version or 'NO_VERSION_SPECIFIED'}")
    return identity


# ---------------------------------------------------------------------------------------------
# Answers
# ---------------------------------------------------------------------------------------------
def success_body(identity, request_id, as_json):
    if as_json:
        return json.dumps({"GetCallerIdentityResponse": {
            "GetCallerIdentityResult": {"Arn": identity.arn, "UserId": identity.user_id,
                                        "Account": identity.account},
            "ResponseMetadata": {"RequestId": request_id}}}, separators=(",", ":")).encode()
    e = xml_escape
    return (f'<GetCallerIdentityResponse xmlns="{STS_NAMESPACE}">\n'
            f"  <GetCallerIdentityResult>\n"
            f"    <Arn>{e(identity.arn)}</Arn>\n"
            f"    <UserId>{e(identity.user_id)}</UserId>\n"
            f"    <Account>{e(identity.account)}</Account>\n"
            f"  </GetCallerIdentityResult>\n"
            f"  <ResponseMetadata>\n"
            f"    <RequestId>{request_id}</RequestId>\n"
            f"  </ResponseMetadata>\n"
            f"</GetCallerIdentityResponse>\n").encode()


def error_body(error, request_id, as_json):
    kind = "Receiver" if error.status >= 500 else "Sender"
    if as_json:
        return json.dumps({"Error": {"Code": error.code, "Message": error.message, "Type": kind},
                           "RequestId": request_id}, separators=(",", ":")).encode()
    e = xml_escape
    return (f'<ErrorResponse xmlns="{STS_NAMESPACE}">\n'
            f"  <Error>\n"
            f"    <Type>{kind}</Type>\n"
            f"    <Code>{e(error.code)}</Code>\n"
            f"    <Message>{e(error.message)}</Message>\n"
            f"  </Error>\n"
            f"  <RequestId>{request_id}</RequestId>\n"
            f"</ErrorResponse>\n").encode()


# ---------------------------------------------------------------------------------------------
# Server
# ---------------------------------------------------------------------------------------------
class _Handler(emulator_base.Handler):
    """STS's answers: every request verified (verify_presigned), XML or JSON as Accept asks."""

    server_version = "sts-emulator"
    extra_record_fields = ("code",)

    def _answer(self, record, status, make_body, code=None):
        """Answers status with make_body(request_id, as_json), recording status and code."""
        record.update(status=status, code=code)
        request_id = str(uuid.uuid4())
        as_json = "application/json" in self.headers.get("Accept", "").lower()
        body = make_body(request_id, as_json)
        self.send_response(status)
        self.send_header("x-amzn-RequestId", request_id)
        self.send_header("Content-Type", "application/json" if as_json else "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        return status

    def _error(self, record, error):
        return self._answer(record, error.status,
                            lambda request_id, as_json: error_body(error, request_id, as_json),
                            error.code)

    def _garbage(self, record):
        return self._answer(record, 200, lambda request_id, as_json: GARBAGE)

    def _failure(self, record):
        return self._error(record, StsError(
            500, "InternalFailure", "The request processing has failed because of an unknown "
                                    "error, exception or failure."))

    def _handle(self, record, target, body):
        owner = self.server.owner
        if owner.throttled:  # STS over its request rate: a 400 that is no verdict on the caller
            return self._error(record, StsError(400, "Throttling", "Rate exceeded"))
        try:
            identity = verify_presigned(
                self.command, target.path, target.query,
                lambda name: self.headers.get_all(name) or [], body, owner._identity,
                owner.region, validity=owner.validity)
        except StsError as error:
            return self._error(record, error)
        record["arn"] = identity.arn
        return self._answer(record, 200, lambda request_id, as_json: success_body(
            identity, request_id, as_json))


class StsEmulator(emulator_base.Emulator):
    """AWS STS GetCallerIdentity over HTTPS on 127.0.0.1:<port> (port 0 = any free port)."""

    handler = _Handler
    thread_name = "sts-emulator"

    def __init__(self, cert, key, region="us-east-1", host="127.0.0.1", port=0, validity=None):
        """validity: None (default, strict): a presigned URL expires at X-Amz-Date +
        X-Amz-Expires. A number of seconds: it expires that long after X-Amz-Date whatever
        X-Amz-Expires says; 900 is what STS is reported to do (aws-iam-authenticator treats EKS
        tokens as valid 15 minutes for that reason), to test a proxy's own age limit."""
        super().__init__(cert, key, host, port)
        self.region = region
        self.validity = validity
        # Answer every request with 400 Throttling, as STS does over its request rate.
        self.throttled = False
        self._identities = {}

    # ----- configuration -----
    def add_identity(self, access_key_id, secret_access_key, arn, user_id, account,
                     session_token=None, session_expires=None):
        """Credentials STS knows, and the identity GetCallerIdentity answers for them.

        session_token: temporary credentials (ASIA...): the request must carry it as
        X-Amz-Security-Token. session_expires (epoch seconds or datetime): after it, ExpiredToken.
        """
        with self._lock:
            self._identities[access_key_id] = _Identity(access_key_id, secret_access_key, arn,
                                                        user_id, account, session_token,
                                                        session_expires)

    def remove_identity(self, access_key_id):
        with self._lock:
            self._identities.pop(access_key_id, None)

    # ----- observations (set_mode, requests, reset_counts: emulator_base.Emulator) -----
    @property
    def hits(self):
        """Requests received (any path, any mode)."""
        with self._lock:
            return len(self._requests)

    # ----- internals -----
    def _identity(self, access_key_id):
        with self._lock:
            return self._identities.get(access_key_id)


# ---------------------------------------------------------------------------------------------
# Self-test and command line
# ---------------------------------------------------------------------------------------------
def _get(url, ca, headers=()):
    """GET url over TLS verified against ca -> (status, body, content type).

    headers: a dict or a list of (name, value) pairs (repeats allowed); Host is the URL's
    unless headers name one.
    """
    status, body, response_headers = emulator_base.call(url, ca, headers)
    return status, body, response_headers.get("Content-Type")


def self_test():
    """Presign with botocore, verify in the emulator: the good case and each way to fail."""
    ca, cert, key = emulator_base.self_test_certificates("sts-emulator-")
    ak, sk = "AKIAEXAMPLE000000001", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    arn = "arn:aws:sts::123456789012:assumed-role/codebuild-role/AWSCodeBuild-1234"
    failures = []

    def check(name, got, want_status, want_code=None):
        status, body = got[0], got[1]
        ok = status == want_status and (want_code is None or f"<Code>{want_code}</Code>" in body
                                        or f'"Code":"{want_code}"' in body)
        code = body.split("\n")[3].strip() if status != 200 and body.startswith("<") else ""
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {status} {code}")
        if not ok:
            failures.append(f"{name}: {status} {body}")

    with StsEmulator(cert, key) as sts:
        sts.add_identity(ak, sk, arn, "AROAEXAMPLE:AWSCodeBuild-1234", "123456789012")
        sts.add_identity("ASIAEXAMPLE000000002", "tempsecret", arn, "AROAEXAMPLE:tmp",
                         "123456789012", session_token="sess-token-1")
        sts.add_identity("ASIAEXAMPLE000000003", "tempsecret", arn, "AROAEXAMPLE:old",
                         "123456789012", session_token="sess-token-2",
                         session_expires=time.time() - 1)
        aud = {"x-ciap-audience": "ciap-test"}
        tok = presign_token(sts.url, "ciap-test", ak, sk)
        url = token_url(tok)
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
        assert q["X-Amz-SignedHeaders"] == "host;x-ciap-audience", q
        assert q["X-Amz-Expires"] == "60" and q["Action"] == "GetCallerIdentity", q
        assert "=" not in tok and "+" not in tok and "/" not in tok, tok

        r = _get(url, ca, aud)
        check("valid", r, 200)
        assert f"<Arn>{arn}</Arn>" in r[1] and r[2] == "text/xml", r
        r = _get(url, ca, dict(aud, Accept="application/json"))
        check("valid, JSON", r, 200)
        doc = json.loads(r[1])["GetCallerIdentityResponse"]
        assert doc["GetCallerIdentityResult"]["Account"] == "123456789012", doc
        assert doc["ResponseMetadata"]["RequestId"], doc
        check("valid again (a presigned URL is replayable until it expires)", _get(url, ca, aud),
              200)
        check("wrong secret", _get(presign_url(sts.url, "ciap-test", ak, "wrong"), ca, aud),
              403, "SignatureDoesNotMatch")
        check("audience header changed", _get(url, ca, {"x-ciap-audience": "other"}), 403,
              "SignatureDoesNotMatch")
        check("audience header missing", _get(url, ca), 403, "SignatureDoesNotMatch")
        check("audience header repeated (values joined: 'ciap-test,ciap-test')",
              _get(url, ca, [("x-ciap-audience", "ciap-test")] * 2), 403, "SignatureDoesNotMatch")
        check("audience header name in other case, value padded",
              _get(url, ca, [("X-Ciap-Audience", "  ciap-test ")]), 200)
        check("Host header changed",
              _get(url, ca, [("x-ciap-audience", "ciap-test"), ("Host", f"localhost:{sts.port}")]),
              403, "SignatureDoesNotMatch")
        r = _get(presign_url(sts.url, "ciap-test", ak, sk, when=time.time() - 120), ca, aud)
        check("expired (X-Amz-Expires 60, signed 120 s ago)", r, 403, "SignatureDoesNotMatch")
        assert "Signature expired" in r[1], r
        check("not expired (signed 30 s ago)",
              _get(presign_url(sts.url, "ciap-test", ak, sk, when=time.time() - 30), ca, aud), 200)
        sts.validity = 900
        check("validity=900: signed 120 s ago with X-Amz-Expires 60",
              _get(presign_url(sts.url, "ciap-test", ak, sk, when=time.time() - 120), ca, aud), 200)
        check("validity=900: signed 16 min ago",
              _get(presign_url(sts.url, "ciap-test", ak, sk, when=time.time() - 960), ca, aud),
              403, "SignatureDoesNotMatch")
        sts.validity = None
        check("signed 20 min in the future",
              _get(presign_url(sts.url, "ciap-test", ak, sk, when=time.time() + 1200), ca, aud),
              403, "SignatureDoesNotMatch")
        check("X-Amz-Expires > 604800",
              _get(presign_url(sts.url, "ciap-test", ak, sk, expires=604801), ca, aud), 400,
              "AuthorizationQueryParametersError")
        check("unknown access key",
              _get(presign_url(sts.url, "ciap-test", "AKIAUNKNOWN", sk), ca, aud), 403,
              "InvalidClientTokenId")
        check("wrong region",
              _get(presign_url(sts.url, "ciap-test", ak, sk, region="eu-west-1"), ca, aud), 403,
              "SignatureDoesNotMatch")
        check("Action=AssumeRole (validly signed)",
              _get(presign_url(sts.url, "ciap-test", ak, sk, action="AssumeRole"), ca, aud), 400,
              "InvalidAction")
        check("no Action (validly signed)",
              _get(presign_url(sts.url, "ciap-test", ak, sk, action=None), ca, aud), 400,
              "MissingAction")
        check("query parameter added", _get(url + "&Foo=bar", ca, aud), 403,
              "SignatureDoesNotMatch")
        check("Action swapped after signing",
              _get(url.replace("GetCallerIdentity", "GetSessionToken"), ca, aud), 403,
              "SignatureDoesNotMatch")
        check("other path", _get(url.replace("/?", "/x?"), ca, aud), 403, "SignatureDoesNotMatch")
        check("no signature at all", _get(sts.url + "/?Action=GetCallerIdentity&Version=2011-06-15",
                                          ca), 403, "MissingAuthenticationToken")
        no_sig = "&".join(p for p in url.split("&") if not p.startswith("X-Amz-Signature="))
        check("X-Amz-Signature removed", _get(no_sig, ca, aud), 400, "IncompleteSignature")
        check("Host only signed (audience_header=None)",
              _get(presign_url(sts.url, None, ak, sk, audience_header=None), ca), 200)
        # botocore's client presigner (its own request serialization, not presign_url's). It
        # signs the operation's method, POST for STS, unless told GET: a POST-signed URL
        # replayed as GET fails, as at AWS.
        import botocore.session
        client = botocore.session.get_session().create_client(
            "sts", region_name="us-east-1", endpoint_url=sts.url, aws_access_key_id=ak,
            aws_secret_access_key=sk)
        check("botocore client generate_presigned_url(HttpMethod='GET')",
              _get(client.generate_presigned_url("get_caller_identity", ExpiresIn=60,
                                                 HttpMethod="GET"), ca), 200)
        check("botocore client generate_presigned_url() (signed for POST), as GET",
              _get(client.generate_presigned_url("get_caller_identity", ExpiresIn=60), ca), 403,
              "SignatureDoesNotMatch")
        check("session token",
              _get(presign_url(sts.url, "ciap-test", "ASIAEXAMPLE000000002", "tempsecret",
                               session_token="sess-token-1"), ca, aud), 200)
        check("session token wrong",
              _get(presign_url(sts.url, "ciap-test", "ASIAEXAMPLE000000002", "tempsecret",
                               session_token="sess-token-X"), ca, aud), 403,
              "InvalidClientTokenId")
        check("session token missing",
              _get(presign_url(sts.url, "ciap-test", "ASIAEXAMPLE000000002", "tempsecret"), ca,
                   aud), 403, "InvalidClientTokenId")
        check("session expired",
              _get(presign_url(sts.url, "ciap-test", "ASIAEXAMPLE000000003", "tempsecret",
                               session_token="sess-token-2"), ca, aud), 403, "ExpiredToken")
        r = _get(presign_url(sts.url, "ciap-test", ak, "wrong"), ca,
                 dict(aud, Accept="application/json"))
        check("JSON error", r, 403)
        err = json.loads(r[1])
        assert err["Error"]["Code"] == "SignatureDoesNotMatch" and err["Error"]["Type"] == "Sender"
        assert err["RequestId"], err
        sts.set_mode("error")
        check("mode error", _get(url, ca, aud), 500, "InternalFailure")
        sts.set_mode("garbage")
        check("mode garbage", _get(url, ca, aud), 200)
        sts.set_mode("down")
        try:
            r = _get(url, ca, aud)
            failures.append(f"mode down answered {r}")
        except Exception as e:  # RemoteDisconnected / ConnectionResetError
            print(f"ok   mode down: {type(e).__name__}")
        sts.set_mode("slow")
        sts.slow_seconds = 0.3
        t0 = time.monotonic()
        check("mode slow", _get(url, ca, aud), 200)
        assert time.monotonic() - t0 >= 0.3
        sts.set_mode("normal")
        print(f"hits {sts.hits}; last request {sts.requests[-1]['path']} "
              f"{sts.requests[-1]['status']} headers {sorted(sts.requests[-1]['headers'])}")
    return emulator_base.self_test_result("sts_emulator", failures)


def main():
    ap = emulator_base.argument_parser(__doc__)
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--identity", action="append", default=[],
                    help="AKID,SECRET,ARN,USERID,ACCOUNT")
    args = emulator_base.parse_arguments(ap, self_test)
    if not args.cert or not args.key:
        ap.error("--cert and --key are required")
    sts = StsEmulator(args.cert, args.key, region=args.region, port=args.port).start()
    for spec in args.identity:
        sts.add_identity(*spec.split(",", 4))
    return emulator_base.serve_until_signalled(sts)


if __name__ == "__main__":
    sys.exit(main())
