#!/usr/bin/env python3
"""An emulator of GitLab's REST API v4 for CI job tokens and access tokens, for ciap's tests.

A proxy that accepts a GitLab CI job's $CI_JOB_TOKEN, or a personal/project/group access
token, can only learn what the token means by asking GitLab: GET /api/v4/job (job tokens),
GET /api/v4/personal_access_tokens/self and GET /api/v4/user (access tokens). This emulator
answers those as GitLab documents and implements them (lib/api/api_guard.rb, lib/api/ci/jobs.rb,
lib/api/personal_access_tokens/self_information.rb, lib/api/users.rb). Standard library only;
http.server with one thread per connection, HTTP/1.1 keep-alive, plain or TLS.

Importable (the server, its modes and its records are emulator_base.py's):
    gl = GitLabEmulator(cert=None, key=None, external_url="https://gitlab.example.com").start()
    gl.port, gl.url ("http://127.0.0.1:PORT" or https), gl.api_url (gl.url + "/api/v4")
    gl.add_job(token, **overrides) -> dict     a running job (see add_job for the overrides)
    gl.finish_job(token, status="success")      the job ends: its token answers 401 from now on
    gl.add_access_token(token, name="ci", scopes=["read_api"], user=None, revoked=False,
                        active=True, expires_at=None) -> dict   (the /personal_access_tokens/self
                        object; user: dict merged into a default project bot user)
    gl.revoke(token)
    gl.set_mode("normal" | "down" | "slow" | "garbage" | "error"); gl.slow_seconds (default 5)
    gl.hits (Counter of request paths, query left out), gl.requests (list of dicts: method,
    path, query (dict, first value of each name), raw_query, headers (dict of lower-case names),
    status, time), gl.query_token_uses (int: requests carrying a token in the query string,
    ?job_token= / ?private_token= / ?access_token=; a proxy must never put one there),
    gl.auth_uses (Counter of how tokens came: "JOB-TOKEN", "PRIVATE-TOKEN", "Bearer",
    "job_token", "private_token", "access_token"), gl.reset_counts(), gl.stop()

Runnable:
    python3 gitlab_emulator.py [--port 0] [--cert F --key F] [--job TOKEN]...
        [--access-token TOKEN[:scope,scope...]]...
    prints "listening 127.0.0.1:PORT" and serves until SIGTERM/SIGINT.
    python3 gitlab_emulator.py --self-test

Endpoints (GET; HEAD answers the same without a body):
  /api/v4/job
      The job a job token belongs to. The token comes from the JOB-TOKEN header, else the
      job_token query parameter, else "Authorization: Bearer" (in that order; the first one
      present is the only one tried). A job token works only while its job runs (status
      "running"): unknown token, finished job or no token -> 401 {"message":"401 Unauthorized"}.
      Access tokens do not work here (401). 200: the job object of GitLab's Jobs API (id,
      status, stage, name, ref, tag, coverage, allow_failure, created_at, started_at,
      finished_at, erased_at, duration, queued_duration, user, commit, pipeline, web_url,
      project, artifacts, artifacts_expire_at, runner, runner_manager, archived, tag_list).
      The project's path appears only in URLs (web_url, pipeline.web_url, commit.web_url),
      built from GitLab's external_url, not from the address the API was called on.
  /api/v4/personal_access_tokens/self
      The access token itself; any scope may read it (GitLab allows every scope here). Token
      from PRIVATE-TOKEN, else ?private_token=, else "Authorization: Bearer", else
      ?access_token=. 200 {id, name, description, revoked, created_at, scopes, user_id,
      last_used_at, active, expires_at} (expires_at "YYYY-MM-DD" or null; last_used_at is set
      by each successful use, as GitLab does on authentication).
      DELETE revokes the token: 204.
  /api/v4/user
      The token's user. Scope rule (lib/api/api.rb and lib/api/users.rb): `api` allows any
      method, `read_api` and `read_user` allow GET/HEAD, the only methods served here, so
      any of the three will do. With none of them -> 403
      {"error":"insufficient_scope","error_description":"The request requires higher
      privileges than provided by the access token.","scope":"api read_api read_user"}.
      A job token here (any header) -> 401 {"message":"401 Unauthorized"}.
  Access token failures, on both access-token endpoints, as lib/api/api_guard.rb answers them:
      unknown token or no token     401 {"message":"401 Unauthorized"}
      revoked                       401 {"error":"invalid_token","error_description":"Token was
                                        revoked. You have to re-authorize from the user."}
      expired (expires_at <= today, UTC)  401 {"error":"invalid_token","error_description":
                                        "Token is expired. You can either do re-authorization
                                        or token refresh."}
      (both invalid_token answers carry WWW-Authenticate: Bearer realm=..., error=...; the
      403 does not, as in GitLab)
      active=False (inactive otherwise, e.g. its bot user was removed): 401 "401 Unauthorized"
  Another method on those paths: 405 {"error":"405 Not Allowed"} with Allow.
  Anything else: 404 {"error":"404 Not Found"} (GitLab's catch-all route, error! with a string;
  resources GitLab cannot find answer {"message":"404 ... Not Found"} instead).
Every answer but 204 is JSON (Content-Type application/json, compact like GitLab's) and every
answer carries an X-Request-Id.

Modes (set_mode): "normal"; "down" reads the request and closes the connection without an
answer; "slow" sleeps slow_seconds before answering normally; "garbage" answers 200 with a
body that is not JSON; "error" answers 500 {"message":"500 Internal Server Error"}.
"""

import collections
import copy
import datetime
import hmac
import itertools
import json
import secrets
import sys
import time
import urllib.parse
import uuid

import emulator_base

DEFAULT_EXTERNAL_URL = "https://gitlab.example.com"
DEFAULT_PROJECT_PATH = "acme/app"
DEFAULT_PROJECT_ID = 42

UNAUTHORIZED = {"message": "401 Unauthorized"}
NOT_FOUND = {"error": "404 Not Found"}
REVOKED = ("invalid_token", "Token was revoked. You have to re-authorize from the user.")
EXPIRED = ("invalid_token",
           "Token is expired. You can either do re-authorization or token refresh.")
INSUFFICIENT_SCOPE = {
    "error": "insufficient_scope",
    "error_description": "The request requires higher privileges than provided by the access "
                         "token.",
    "scope": "api read_api read_user",
}
USER_SCOPES = {"api", "read_api", "read_user"}  # GET/HEAD /user (read_* only for reads)
# Where each endpoint takes its token from, in the order tried, as (where, name); the name is
# also how auth_uses counts it.
JOB_TOKEN_SOURCES = (("header", "JOB-TOKEN"), ("query", "job_token"), ("bearer", "Bearer"))
ACCESS_TOKEN_SOURCES = (("header", "PRIVATE-TOKEN"), ("query", "private_token"),
                        ("bearer", "Bearer"), ("query", "access_token"))
QUERY_TOKENS = {"job_token", "private_token", "access_token"}  # query_token_uses
# The profile fields of a user who left them empty, as GitLab's user objects show them (the
# same in add_job's user and in add_access_token's, in this order).
EMPTY_PROFILE = {"linkedin": "", "twitter": "", "discord": "", "website_url": "",
                 "organization": "", "job_title": "", "pronouns": None}
GARBAGE = b"<!DOCTYPE html><html><body>502 Whoops, GitLab is taking too much time to respond."


def _iso(epoch):
    """GitLab's timestamps: UTC, milliseconds, Z."""
    dt = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _deep_merge(base, overrides):
    """overrides into base, dicts merged key by key, anything else replaced."""
    for k, v in overrides.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _deep_merge(base[k], v)
        else:
            base[k] = copy.deepcopy(v)
    return base


def _date(value):
    """expires_at as GitLab stores it: a date (None, "YYYY-MM-DD", date or datetime)."""
    if value is None or isinstance(value, datetime.date) and not isinstance(
            value, datetime.datetime):
        return value
    if isinstance(value, datetime.datetime):
        return value.date()
    return datetime.date.fromisoformat(value)


class _Handler(emulator_base.Handler):
    """GitLab's answers: routes, token lookups, and GitLab's way of failing."""

    server_version = "nginx"  # what GitLab's bundled nginx calls itself

    def _answer(self, status, doc=None, raw=None, headers=()):
        body = raw if raw is not None else (
            b"" if doc is None else json.dumps(doc, separators=(",", ":")).encode())
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=0, private, must-revalidate"
                         if status == 200 else "no-cache")
        self.send_header("X-Request-Id", uuid.uuid4().hex[:26].upper())
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Vary", "Origin")
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD" and status != 204:
            self.wfile.write(body)
        return status

    def _garbage(self, record):
        return self._answer(200, raw=GARBAGE)  # the HTML page of a GitLab that timed out

    def _failure(self, record):
        return self._answer(500, {"message": "500 Internal Server Error"})

    def _handle(self, record, target, body):
        return self._route(self.server.owner, target.path, record["query"])

    def _route(self, owner, path, query):
        routes = {
            "/api/v4/job": (("GET", "HEAD"), self._job),
            "/api/v4/personal_access_tokens/self": (("GET", "HEAD", "DELETE"), self._token_self),
            "/api/v4/user": (("GET", "HEAD"), self._user),
        }
        route = routes.get(path)
        if route is None:
            return self._answer(404, NOT_FOUND)
        methods, handler = route
        if self.command not in methods:
            return self._answer(405, {"error": "405 Not Allowed"},
                                headers=[("Allow", ", ".join(m for m in methods if m != "HEAD")
                                          + ", HEAD")])
        return handler(owner, query)

    def _bearer(self):
        auth = self.headers.get("Authorization", "")
        scheme, _, value = auth.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None

    def _token(self, owner, query, sources):
        """The token from the first of sources (JOB_TOKEN_SOURCES, ACCESS_TOKEN_SOURCES) the
        request carries, counted in auth_uses; None without one. Only that one is tried, as
        GitLab does: a wrong header token is not rescued by a right parameter."""
        for where, name in sources:
            if where == "header":
                token = self.headers.get(name)
            elif where == "query":
                token = query.get(name)
            else:
                token = self._bearer()
            if token is not None:
                owner._auth_use(name)
                return token
        return None

    def _job(self, owner, query):
        # lib/api/helpers/authentication (job_token_authentication): header, then parameter.
        token = self._token(owner, query, JOB_TOKEN_SOURCES)
        job = None if token is None else owner._running_job(token)
        if job is None:
            return self._answer(401, UNAUTHORIZED)
        return self._answer(200, job)

    def _access_token(self, owner, query):
        """(token record, None) or (None, status answered)."""
        token = self._token(owner, query, ACCESS_TOKEN_SOURCES)
        if token is None:
            return None, self._answer(401, UNAUTHORIZED)
        record, problem = owner._check_access_token(token)
        if problem is None:
            return record, None
        if problem == "unknown":
            return None, self._answer(401, UNAUTHORIZED)
        error, description = REVOKED if problem == "revoked" else EXPIRED
        challenge = (f'Bearer realm="Protected by OAuth 2.0", error="{error}", '
                     f'error_description="{description}"')
        return None, self._answer(401, {"error": error, "error_description": description},
                                  headers=[("WWW-Authenticate", challenge)])

    def _token_self(self, owner, query):
        record, status = self._access_token(owner, query)
        if record is None:
            return status
        if self.command == "DELETE":
            owner.revoke(record["token"])
            return self._answer(204)
        return self._answer(200, owner._token_view(record))

    def _user(self, owner, query):
        record, status = self._access_token(owner, query)
        if record is None:
            return status
        if not USER_SCOPES & set(record["scopes"]):
            # Without WWW-Authenticate: GitLab's FIXME in api_guard.rb (Rack::OAuth2's
            # Forbidden leaves it out).
            return self._answer(403, INSUFFICIENT_SCOPE)
        return self._answer(200, copy.deepcopy(record["user"]))


class GitLabEmulator(emulator_base.Emulator):
    """GitLab's REST API v4 (job and access tokens) on 127.0.0.1:<port>, plain or TLS."""

    handler = _Handler
    thread_name = "gitlab-emulator"

    def __init__(self, cert=None, key=None, external_url=DEFAULT_EXTERNAL_URL,
                 project_path=DEFAULT_PROJECT_PATH, project_id=DEFAULT_PROJECT_ID,
                 host="127.0.0.1", port=0):
        """external_url: GitLab's external_url, the base of every web_url (GitLab never uses
        the address a request came to). project_path/project_id: the defaults of add_job."""
        super().__init__(cert, key, host, port)
        self.external_url = external_url.rstrip("/")
        self.project_path = project_path
        self.project_id = project_id
        self._jobs = {}  # token -> job object
        self._tokens = {}  # token -> record (token, scopes, user, revoked, active, ...)
        self._auth_uses = collections.Counter()
        self._ids = itertools.count(1000)
        self._pipeline_iids = itertools.count(1)

    @property
    def api_url(self):
        return self.url + "/api/v4"

    # ----- jobs -----
    def add_job(self, token, **overrides):
        """A running job whose CI_JOB_TOKEN is token; returns (a copy of) its job object.

        Keyword overrides merge into the job object (dicts key by key: user={"username": "x"}
        changes only the username), except these, which shape it:
            project_path  "namespace/[subgroup/]project" (default the emulator's): web_url
                          https://<host>/<project_path>/-/jobs/<id>, pipeline and commit URLs
            host          GitLab's external_url for this job's URLs, "gitlab.acme.io" (https)
                          or a full "http://..." base (default the emulator's external_url)
            project_id    pipeline.project_id (default the emulator's, 42)
        A status other than "running" makes a job whose token GitLab refuses (401).
        """
        special = {k: overrides.pop(k) for k in ("project_path", "host", "project_id")
                   if k in overrides}
        project_path = special.get("project_path", self.project_path).strip("/")
        host = special.get("host")
        base = self.external_url if host is None else (
            host.rstrip("/") if "://" in host else f"https://{host}")
        project_id = special.get("project_id", self.project_id)
        now = time.time()
        with self._lock:
            job_id, pipeline_id, runner_id, user_id = (next(self._ids) for _ in range(4))
            pipeline_iid = next(self._pipeline_iids)
        sha = secrets.token_hex(20)
        job = {
            "id": job_id,
            "status": "running",
            "stage": "build",
            "name": "build",
            "ref": "main",
            "tag": False,
            "coverage": None,
            "allow_failure": False,
            "created_at": _iso(now - 20),
            "started_at": _iso(now - 5),
            "finished_at": None,
            "erased_at": None,
            "duration": None,
            "queued_duration": 15.0,
            "user": {
                "id": user_id,
                "username": "jdoe",
                "public_email": None,
                "name": "Jane Doe",
                "state": "active",
                "locked": False,
                "avatar_url": f"{base}/uploads/-/system/user/avatar/{user_id}/avatar.png",
                "web_url": f"{base}/jdoe",
                "created_at": _iso(now - 86400 * 400),
                "bio": "",
                "location": "",
                **EMPTY_PROFILE,
                "bot": False,
                "work_information": None,
                "followers": 0,
                "following": 0,
                "local_time": None,
            },
            "commit": {
                "id": sha,
                "short_id": sha[:8],
                "created_at": _iso(now - 60),
                "parent_ids": [secrets.token_hex(20)],
                "title": "Build the thing",
                "message": "Build the thing\n",
                "author_name": "Jane Doe",
                "author_email": "jdoe@example.com",
                "authored_date": _iso(now - 60),
                "committer_name": "Jane Doe",
                "committer_email": "jdoe@example.com",
                "committed_date": _iso(now - 60),
                "trailers": {},
                "extended_trailers": {},
                "web_url": f"{base}/{project_path}/-/commit/{sha}",
            },
            "pipeline": {
                "id": pipeline_id,
                "iid": pipeline_iid,
                "project_id": project_id,
                "sha": sha,
                "ref": "main",
                "status": "running",
                "source": "push",
                "created_at": _iso(now - 20),
                "updated_at": _iso(now - 5),
                "web_url": f"{base}/{project_path}/-/pipelines/{pipeline_id}",
            },
            "web_url": f"{base}/{project_path}/-/jobs/{job_id}",
            "project": {"ci_job_token_scope_enabled": False},
            "artifacts": [],
            "runner": {
                "id": runner_id,
                "description": "shared-runner-1",
                "ip_address": None,
                "active": True,
                "paused": False,
                "is_shared": True,
                "runner_type": "instance_type",
                "name": "gitlab-runner",
                "online": True,
                "status": "online",
            },
            "runner_manager": {
                "id": runner_id,
                "system_id": "s_" + secrets.token_hex(6),
                "version": "17.5.0",
                "revision": "0ef2cc6c",
                "platform": "linux",
                "architecture": "amd64",
                "created_at": _iso(now - 86400),
                "contacted_at": _iso(now - 2),
                "ip_address": "10.0.0.7",
                "status": "online",
            },
            "artifacts_expire_at": None,
            "archived": False,
            "tag_list": ["docker"],
        }
        _deep_merge(job, overrides)
        with self._lock:
            self._jobs[token] = job
            return copy.deepcopy(job)

    def finish_job(self, token, status="success"):
        """The job ends with status (success, failed, canceled, ...): GitLab stops accepting
        its token, so /job answers 401 from now on. Returns the final job object."""
        now = time.time()
        with self._lock:
            job = self._jobs[token]
            job["status"] = status
            job["finished_at"] = _iso(now)
            started = datetime.datetime.strptime(job["started_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
            job["duration"] = round(now - started.replace(
                tzinfo=datetime.timezone.utc).timestamp(), 3)
            job["pipeline"]["updated_at"] = _iso(now)
            if status == "failed":
                job.setdefault("failure_reason", "script_failure")
            return copy.deepcopy(job)

    def _running_job(self, token):
        with self._lock:
            for known, job in self._jobs.items():
                if hmac.compare_digest(known.encode(), token.encode()):
                    return copy.deepcopy(job) if job.get("status") == "running" else None
        return None

    # ----- access tokens -----
    def add_access_token(self, token, name="ci", scopes=("read_api",), user=None, revoked=False,
                         active=True, expires_at=None):
        """A personal/project/group access token; returns its /personal_access_tokens/self
        object. user: dict merged into the default user, a project bot
        ("project_42_bot_<hex>", bot true). expires_at: "YYYY-MM-DD", a date, or None."""
        now = time.time()
        with self._lock:
            token_id, user_id = next(self._ids), next(self._ids)
        username = f"project_{self.project_id}_bot_{secrets.token_hex(16)}"
        noreply = f"{username}@noreply.{urllib.parse.urlsplit(self.external_url).hostname}"
        default_user = {
            "id": user_id,
            "username": username,
            "name": name,
            "state": "active",
            "locked": False,
            "avatar_url": f"{self.external_url}/uploads/-/system/user/avatar/{user_id}/a.png",
            "web_url": f"{self.external_url}/{username}",
            "created_at": _iso(now - 3600),
            "bio": "",
            "location": "",
            "public_email": None,
            **EMPTY_PROFILE,
            "bot": True,
            "work_information": None,
            "followers": 0,
            "following": 0,
            "is_followed": False,
            "local_time": None,
            "last_sign_in_at": None,
            "confirmed_at": _iso(now - 3600),
            "last_activity_on": None,
            "email": noreply,
            "theme_id": 3,
            "color_scheme_id": 1,
            "projects_limit": 100000,
            "current_sign_in_at": None,
            "identities": [],
            "can_create_group": False,
            "can_create_project": False,
            "two_factor_enabled": False,
            "external": False,
            "private_profile": False,
            "commit_email": noreply,
        }
        if user:
            _deep_merge(default_user, user)
        record = {
            "token": token,
            "id": token_id,
            "name": name,
            "description": None,
            "scopes": list(scopes),
            "user": default_user,
            "revoked": bool(revoked),
            "active": bool(active),
            "created_at": _iso(now - 3600),
            "last_used_at": None,
            "expires_at": _date(expires_at),
        }
        with self._lock:
            self._tokens[token] = record
            return self._token_view(record)

    def revoke(self, token):
        """Revokes an access token (GitLab: 401 invalid_token "Token was revoked" from now on)."""
        with self._lock:
            self._tokens[token]["revoked"] = True

    def _expired(self, record):
        # PersonalAccessToken#expired?: expires_at <= Time.current, expires_at a date (00:00 UTC)
        exp = record["expires_at"]
        return exp is not None and exp <= datetime.datetime.now(datetime.timezone.utc).date()

    def _token_view(self, record):
        exp = record["expires_at"]
        return {
            "id": record["id"],
            "name": record["name"],
            "revoked": record["revoked"],
            "created_at": record["created_at"],
            "description": record["description"],
            "scopes": list(record["scopes"]),
            "user_id": record["user"]["id"],
            "last_used_at": record["last_used_at"],
            "active": record["active"] and not record["revoked"] and not self._expired(record),
            "expires_at": exp.isoformat() if exp else None,
        }

    def _check_access_token(self, token):
        """(record copy, None) for a usable token, else (None, "unknown"|"revoked"|"expired")."""
        with self._lock:
            record = None
            for known, r in self._tokens.items():
                if hmac.compare_digest(known.encode(), token.encode()):
                    record = r
            if record is None:
                return None, "unknown"
            if record["revoked"]:
                return None, "revoked"
            if self._expired(record):
                return None, "expired"
            if not record["active"]:
                return None, "unknown"
            record["last_used_at"] = _iso(time.time())
            return copy.deepcopy(record), None

    # ----- observations (set_mode, requests, reset_counts: emulator_base.Emulator) -----
    @property
    def hits(self):
        """collections.Counter: requests received per path (query left out)."""
        with self._lock:
            return collections.Counter(r["path"] for r in self._requests)

    @property
    def query_token_uses(self):
        """Requests that carried job_token, private_token or access_token in the query."""
        with self._lock:
            return sum(1 for r in self._requests if QUERY_TOKENS & r["query"].keys())

    @property
    def auth_uses(self):
        """collections.Counter: where the token a request was judged by came from."""
        with self._lock:
            return collections.Counter(self._auth_uses)

    def _clear_counts(self):
        self._auth_uses.clear()

    def _auth_use(self, how):
        with self._lock:
            self._auth_uses[how] += 1


# ---------------------------------------------------------------------------------------------
# Self-test and command line
# ---------------------------------------------------------------------------------------------
def _call(url, headers=(), method="GET", ca=None):
    """One request -> (status, parsed JSON or raw text, headers)."""
    status, raw, headers = emulator_base.call(url, ca, headers, method)
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = raw
    return status, body, headers


def self_test():
    failures = []

    def check(name, cond, detail=""):
        print(f"{'ok  ' if cond else 'FAIL'} {name}")
        if not cond:
            failures.append(f"{name}: {detail}")

    ca, cert, key = emulator_base.self_test_certificates("gitlab-emulator-")
    for tls in (False, True):
        kw = dict(cert=cert, key=key) if tls else {}
        with GitLabEmulator(**kw) as gl:
            tag = "https" if tls else "http"
            check(f"[{tag}] url scheme", gl.url.startswith(tag + "://"), gl.url)
            api = gl.api_url
            job = gl.add_job("glcbt-64_job1", project_path="acme/platform/app",
                             host="gitlab.acme.io", user={"username": "alice"})
            check(f"[{tag}] add_job web_url",
                  job["web_url"] == f"https://gitlab.acme.io/acme/platform/app/-/jobs/{job['id']}",
                  job["web_url"])
            check(f"[{tag}] user merged", job["user"]["username"] == "alice"
                  and job["user"]["name"] == "Jane Doe", job["user"])
            s, b, _ = _call(api + "/job", [("JOB-TOKEN", "glcbt-64_job1")], ca=ca)
            check(f"[{tag}] /job JOB-TOKEN 200", s == 200 and b == job, (s, b))
            s, b, _ = _call(api + "/job", [("Authorization", "Bearer glcbt-64_job1")], ca=ca)
            check(f"[{tag}] /job Bearer 200", s == 200 and b["id"] == job["id"], (s, b))
            s, b, _ = _call(api + "/job?job_token=glcbt-64_job1", ca=ca)
            check(f"[{tag}] /job ?job_token= 200, counted", s == 200 and gl.query_token_uses == 1,
                  (s, gl.query_token_uses))
            s, b, _ = _call(api + "/job", [("JOB-TOKEN", "nope")], ca=ca)
            check(f"[{tag}] /job unknown 401", s == 401 and b == UNAUTHORIZED, (s, b))
            s, b, _ = _call(api + "/job", ca=ca)
            check(f"[{tag}] /job no token 401", s == 401 and b == UNAUTHORIZED, (s, b))
            gl.add_access_token("glpat-reader", scopes=["read_api"])
            s, b, _ = _call(api + "/job", [("Authorization", "Bearer glpat-reader")], ca=ca)
            check(f"[{tag}] /job with an access token 401", s == 401, (s, b))
            s, b, _ = _call(api + "/user", [("JOB-TOKEN", "glcbt-64_job1")], ca=ca)
            check(f"[{tag}] /user with a job token 401", s == 401 and b == UNAUTHORIZED, (s, b))
            fin = gl.finish_job("glcbt-64_job1")
            check(f"[{tag}] finish_job", fin["status"] == "success" and fin["finished_at"]
                  and fin["duration"] >= 0, fin)
            s, b, _ = _call(api + "/job", [("JOB-TOKEN", "glcbt-64_job1")], ca=ca)
            check(f"[{tag}] /job finished 401", s == 401 and b == UNAUTHORIZED, (s, b))

            view = gl.add_access_token("glpat-user", name="deploy", scopes=["read_user"],
                                       expires_at="2099-01-31")
            s, b, _ = _call(api + "/personal_access_tokens/self", [("PRIVATE-TOKEN", "glpat-user")],
                            ca=ca)
            check(f"[{tag}] self 200", s == 200 and b["id"] == view["id"] and b["active"]
                  and b["expires_at"] == "2099-01-31" and b["scopes"] == ["read_user"]
                  and b["last_used_at"] and set(b) == {
                      "id", "name", "revoked", "created_at", "description", "scopes", "user_id",
                      "last_used_at", "active", "expires_at"}, (s, b))
            s, b, _ = _call(api + "/user", [("Authorization", "Bearer glpat-user")], ca=ca)
            check(f"[{tag}] /user read_user 200", s == 200 and b["bot"] is True
                  and b["username"].startswith("project_42_bot_")
                  and b["id"] == view["user_id"], (s, b))
            s, b, _ = _call(api + "/user", [("PRIVATE-TOKEN", "glpat-reader")], ca=ca)
            check(f"[{tag}] /user read_api 200", s == 200, (s, b))
            gl.add_access_token("glpat-registry", scopes=["read_registry", "read_repository"],
                                user={"username": "svc", "bot": False})
            s, b, h = _call(api + "/user", [("PRIVATE-TOKEN", "glpat-registry")], ca=ca)
            check(f"[{tag}] /user insufficient scope 403", s == 403 and b == INSUFFICIENT_SCOPE
                  and "WWW-Authenticate" not in h, (s, b))
            s, b, _ = _call(api + "/personal_access_tokens/self",
                            [("PRIVATE-TOKEN", "glpat-registry")], ca=ca)
            check(f"[{tag}] self with any scope 200", s == 200, (s, b))
            gl.revoke("glpat-user")
            s, b, h = _call(api + "/user", [("PRIVATE-TOKEN", "glpat-user")], ca=ca)
            check(f"[{tag}] revoked 401 invalid_token", s == 401
                  and b == {"error": REVOKED[0], "error_description": REVOKED[1]}
                  and 'error="invalid_token"' in h.get("WWW-Authenticate", ""), (s, b))
            today = datetime.datetime.now(datetime.timezone.utc).date()
            gl.add_access_token("glpat-old", scopes=["api"], expires_at=today)
            s, b, _ = _call(api + "/personal_access_tokens/self",
                            [("Authorization", "Bearer glpat-old")], ca=ca)
            check(f"[{tag}] expired (expires_at today) 401", s == 401
                  and b["error_description"] == EXPIRED[1], (s, b))
            gl.add_access_token("glpat-tomorrow", scopes=["api"],
                                expires_at=today + datetime.timedelta(days=1))
            s, b, _ = _call(api + "/user", [("PRIVATE-TOKEN", "glpat-tomorrow")], ca=ca)
            check(f"[{tag}] expires tomorrow 200", s == 200, (s, b))
            gl.add_access_token("glpat-inactive", active=False)
            s, b, _ = _call(api + "/user", [("PRIVATE-TOKEN", "glpat-inactive")], ca=ca)
            check(f"[{tag}] inactive 401", s == 401 and b == UNAUTHORIZED, (s, b))
            s, b, _ = _call(api + "/user", [("PRIVATE-TOKEN", "glpat-nope")], ca=ca)
            check(f"[{tag}] unknown 401", s == 401 and b == UNAUTHORIZED, (s, b))
            s, b, _ = _call(api + "/projects", ca=ca)
            check(f"[{tag}] other path 404", s == 404 and b == NOT_FOUND, (s, b))
            s, b, h = _call(api + "/job", method="POST", ca=ca)
            check(f"[{tag}] POST /job 405", s == 405 and "GET" in h.get("Allow", ""), (s, b))
            s, b, _ = _call(api + "/personal_access_tokens/self",
                            [("PRIVATE-TOKEN", "glpat-tomorrow")], method="DELETE", ca=ca)
            s2, b2, _ = _call(api + "/user", [("PRIVATE-TOKEN", "glpat-tomorrow")], ca=ca)
            check(f"[{tag}] DELETE self 204, then revoked", s == 204 and s2 == 401, (s, s2, b2))
            check(f"[{tag}] hits", gl.hits["/api/v4/job"] == 8 and gl.hits["/api/v4/user"] >= 5,
                  gl.hits)
            check(f"[{tag}] auth_uses", gl.auth_uses["job_token"] == 1
                  and gl.auth_uses["JOB-TOKEN"] == 3, gl.auth_uses)
            check(f"[{tag}] requests", gl.requests[0]["headers"]["job-token"] == "glcbt-64_job1",
                  gl.requests[0])

            gl.add_job("glcbt-2")
            gl.set_mode("error")
            s, b, _ = _call(api + "/job", [("JOB-TOKEN", "glcbt-2")], ca=ca)
            check(f"[{tag}] mode error 500", s == 500, (s, b))
            gl.set_mode("garbage")
            s, b, _ = _call(api + "/job", [("JOB-TOKEN", "glcbt-2")], ca=ca)
            check(f"[{tag}] mode garbage 200 not JSON", s == 200 and isinstance(b, str), (s, b))
            gl.set_mode("down")
            try:
                r = _call(api + "/job", [("JOB-TOKEN", "glcbt-2")], ca=ca)
                check(f"[{tag}] mode down", False, r)
            except Exception as e:
                check(f"[{tag}] mode down ({type(e).__name__})", True)
            gl.set_mode("slow")
            gl.slow_seconds = 0.3
            t0 = time.monotonic()
            s, b, _ = _call(api + "/job", [("JOB-TOKEN", "glcbt-2")], ca=ca)
            check(f"[{tag}] mode slow", s == 200 and time.monotonic() - t0 >= 0.3, s)
            gl.set_mode("normal")
            gl.reset_counts()
            check(f"[{tag}] reset_counts", not gl.hits and not gl.requests
                  and gl.query_token_uses == 0)
    return emulator_base.self_test_result("gitlab_emulator", failures)


def main():
    ap = emulator_base.argument_parser(__doc__)
    ap.add_argument("--external-url", default=DEFAULT_EXTERNAL_URL)
    ap.add_argument("--job", action="append", default=[], help="a running job's token")
    ap.add_argument("--access-token", action="append", default=[],
                    help="TOKEN[:scope,scope...] (default scope read_api)")
    args = emulator_base.parse_arguments(ap, self_test)
    gl = GitLabEmulator(cert=args.cert, key=args.key, external_url=args.external_url,
                        port=args.port).start()
    for token in args.job:
        gl.add_job(token)
    for spec in args.access_token:
        token, _, scopes = spec.partition(":")
        gl.add_access_token(token, scopes=scopes.split(",") if scopes else ["read_api"])
    return emulator_base.serve_until_signalled(gl)


if __name__ == "__main__":
    sys.exit(main())
