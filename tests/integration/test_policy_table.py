"""Policy decision table: one table of (provider, claims, request) -> expected decision, checked
three ways — the row's claims and its token through the offline decision code that `ciap
check --claims` and `--token-file` run (all rows in one `ciap test` run: one process, one
stand-in key), and the live proxy.

One config with five jwks_file providers (buildkite, circleci, gitlab, github and a company
`oidc` IdP with `groups_claim: groups`), groups that use every claim matcher kind (exact, one-of
list, glob `*` and `**`, plain true/false, numbers vs numeric strings, not, contains, regex,
group-level any/all/not, `<provider>:<value>` groups), and routes with allow/deny, a method
split, a shadow route, a public route and no route at all.

Every row starts from its vendor's documented example payload (fresh iat/exp) with a few
claims changed or removed, and covers the mistakes the README's recipes avoid: fork
and PR contexts (GitHub pull_request_target, CircleCI fork vcs-origin, GitLab fork namespaces and
MR pipelines), GitLab's "false" strings, glob overreach (`app*` vs `app-evil` vs `app/evil`,
`**` crossing `/` and `:`), missing claims, wrong types, CircleCI `ssh-rerun: true`, mutable
names vs immutable ids. A few rows fail at the token level (wrong tenant, expired, audience,
issuer): claims given by hand get iss, aud and times checked when they carry them (no
signature, of course), so every row gets the same decision from all three.

All tokens are minted in one Node run (tests/idp/mint-vendor.mjs, jose). Skipped when `node` or
tests/idp/node_modules is missing.
"""

import json
import time
import os
import unittest

from ciaptest import (CiapTestCase, log, make_config, plain_listener, request,
                      run_ciap, test_cases_json, upstream_cfg, wait_until, write_config)
from test_identity import (AUDIENCE, CIRCLE_CONTEXT, CIRCLE_ISSUER, CIRCLE_ORG, CORP_ISSUER,
                           mint, require_node, vendor_payloads)

CIRCLE_PROJECT = "5a301f56-eaa7-4cce-9441-37810f7c8452"
BK_ORG_ID = "f892efa9-103e-4d28-97a1-3b8616a0994d"
BK_PIPELINE_ID = "0191f956-4782-42b5-afc1-16715b10b1a0"
SHARED_WF = "octo-org/shared-workflows/.github/workflows/deploy.yml@refs/"
PROVIDERS = ("buildkite", "circleci", "gitlab", "github", "corp")

GROUPS = {
    # --- Buildkite
    "bk-deployers": {"provider": "buildkite", "claims": {
        "pipeline_slug": ["deploy-api", "release-*"],           # one-of: exact + glob
        "build_branch": "main",                                 # exact
        "build_source": {"not": "trigger_job"},                 # not (the claim must be present)
        "step_key": {"regex": "deploy(-[a-z0-9]+)?"},           # RE2 full match
    }},
    "bk-untrusted-queue": {"provider": "buildkite", "claims": {
        "queue_key": {"regex": "untrusted-.*"}}},
    "bk-build-1423": {"provider": "buildkite", "claims": {
        "organization_id": BK_ORG_ID,                           # immutable ids, not slugs
        "pipeline_id": BK_PIPELINE_ID,
        "build_number": 1423,                                   # number: 1423 or "1423"
    }},
    # --- CircleCI (claim names with dots and slashes are literal keys)
    "cci-deployers": {"provider": "circleci", "claims": {
        "oidc.circleci.com/vcs-origin": "github.com/acme/*",
        "oidc.circleci.com/vcs-ref": "refs/heads/main",
        "oidc.circleci.com/context-ids": {"contains": CIRCLE_CONTEXT},
        "oidc.circleci.com/project-id": [CIRCLE_PROJECT, "0c7a3f00-0000-4000-8000-000000000001"],
        "oidc.circleci.com/ssh-rerun": False,                   # plain false
    }},
    "cci-ssh": {"provider": "circleci", "claims": {"oidc.circleci.com/ssh-rerun": True}},
    # --- GitLab
    "gl-deployers": {"provider": "gitlab", "claims": {
        "project_path": "acme/platform/*",
        "project_id": 20,                                       # GitLab sends "20"
        "ref_protected": True,                                  # GitLab sends "true"/"false"
        "environment_protected": True,
        "user_access_level": ["maintainer", "owner"],
    }},
    "gl-mr": {"provider": "gitlab", "claims": {"pipeline_source": "merge_request_event"}},
    "gl-sre": {"provider": "gitlab", "claims": {"groups_direct": {"contains": "acme/sre"}}},
    "gl-acme-tree": {"provider": "gitlab", "claims": {"project_path": "acme/**"}},
    # --- GitHub Actions
    "gh-deployers": {"provider": "github", "claims": {
        "repository_id": "74",                                  # quoted: the string only
        "environment": "production",
        "ref": "refs/heads/main",
        "job_workflow_ref": SHARED_WF + "tags/v*",
    }},
    "gh-untrusted-events": {"provider": "github", "claims": {
        "event_name": ["pull_request_target", "pull_request", "workflow_run"]}},
    "gh-app": {"provider": "github", "claims": {"repository": "octo-org/app*"}},
    "gh-sub-env": {"provider": "github", "claims": {
        "sub": "repo:octo-org/deploy-api:environment:*"}},
    "gh-sub-tree": {"provider": "github", "claims": {"sub": "repo:octo-org/deploy-api:**"}},
    "gh-immutable": {"provider": "github", "claims": {
        "sub": "repo:octo-org@65/deploy-api@74:**", "repository_owner_id": 65}},
    # --- company IdP
    "corp-admins": {"all": [
        {"provider": "corp", "claims": {"groups": {"contains": "platform-admins"},
                                        "email": {"regex": r"[a-z0-9.-]+@acme\.com"}}},
        {"not": {"provider": "corp", "claims": {"amr": {"contains": "guest"}}}},
    ]},
    "corp-contractors": {"provider": "corp", "claims": {"employee_type": "contractor"}},
    # --- across vendors (immutable tenant ids)
    "ci-publishers": {"any": [
        {"provider": "buildkite", "claims": {"organization_id": BK_ORG_ID, "build_branch": "main"}},
        {"provider": "circleci", "claims": {"oidc.circleci.com/org-id": CIRCLE_ORG,
                                            "oidc.circleci.com/vcs-ref": "refs/heads/main"}},
        {"provider": "gitlab", "claims": {"namespace_id": 72, "ref_protected": True}},
        {"provider": "github", "claims": {"repository_owner_id": "65",
                                          "ref": "refs/heads/main"}},
        {"provider": "corp", "claims": {"groups": {"contains": "release-managers"}}},
    ]},
    "ci-untrusted": {"any": [
        {"provider": "github", "claims": {"event_name": "pull_request_target"}},
        {"provider": "circleci", "claims": {"oidc.circleci.com/ssh-rerun": True}},
    ]},
}


def _route(name, prefix, allow=None, deny=None, **kw):
    r = {"name": name, "match": {"path_prefix": prefix}, "upstream": "app"}
    if allow:
        r["allow"] = allow
    if deny:
        r["deny"] = deny
    r.update(kw)
    return r


ROUTES = [
    _route("bk-deploy", "/bk/deploy/", ["bk-deployers"], ["bk-untrusted-queue"]),
    _route("bk-build", "/bk/build/", ["bk-build-1423"]),
    _route("cci-deploy", "/cci/deploy/", ["cci-deployers"], ["cci-ssh"]),
    _route("gl-deploy", "/gl/deploy/", ["gl-deployers"], ["gl-mr"]),
    _route("gl-sre", "/gl/sre/", ["gl-sre"]),
    _route("gl-tree", "/gl/tree/", ["gl-acme-tree"]),
    _route("gh-deploy", "/gh/deploy/", ["gh-deployers"], ["gh-untrusted-events"]),
    _route("gh-app", "/gh/app/", ["gh-app"]),
    _route("gh-sub", "/gh/sub/", ["gh-sub-env"]),
    _route("gh-tree", "/gh/tree/", ["gh-sub-tree"]),
    _route("gh-immutable", "/gh/immutable/", ["gh-immutable"]),
    _route("corp-admin", "/corp/admin/", ["corp-admins"]),
    _route("corp-release", "/corp/release/", ["corp:release-managers"], ["corp-contractors"]),
    {"name": "artifacts-write", "upstream": "app",
     "match": {"path_prefix": "/artifacts/", "methods": ["PUT", "POST"]},
     "allow": ["ci-publishers"], "deny": ["ci-untrusted"]},
    _route("artifacts-read", "/artifacts/", authenticate=True),
    _route("shadow", "/shadow/", ["gh-deployers"], mode="shadow"),
    {"name": "health", "match": {"path": "/healthz"}, "upstream": "app", "public": True},
]

DROP = object()  # a value in `set` that removes the claim


def R(rid, desc, provider, path, status, reason, set=None, method="GET", decision=None,
      claims_status=None, claims_reason=None):
    """One table row. set: claims replacing (or, with DROP, removing) the vendor base's."""
    if decision is None:
        decision = "allow" if status == 200 else "deny"
    return {"id": rid, "desc": desc, "provider": provider, "method": method, "path": path,
            "set": set or {}, "status": status, "reason": reason, "decision": decision,
            "claims_status": claims_status, "claims_reason": claims_reason}


OK, NO, DENY = "allowed_group", "no_allowed_group", "denied_group"
CCI = "oidc.circleci.com/"
GH_SUB = "repo:octo-org/deploy-api:"

TABLE = [
    # ----- Buildkite: /bk/deploy/ allow bk-deployers, deny bk-untrusted-queue
    R("bk-01", "example payload: deploy-api on main from a webhook",
      "buildkite", "/bk/deploy/x", 200, OK),
    R("bk-02", "release-* glob in the one-of list", "buildkite", "/bk/deploy/x", 200, OK,
      {"pipeline_slug": "release-2026"}),
    R("bk-03", "glob * matches the empty rest", "buildkite", "/bk/deploy/x", 200, OK,
      {"pipeline_slug": "release-"}),
    R("bk-04", "glob * never crosses /", "buildkite", "/bk/deploy/x", 403, NO,
      {"pipeline_slug": "release-x/evil"}),
    R("bk-05", "exact list entry is not a prefix: deploy-api-evil",
      "buildkite", "/bk/deploy/x", 403, NO,
      {"pipeline_slug": "deploy-api-evil"}),
    R("bk-06", "feature branch",
      "buildkite", "/bk/deploy/x", 403, NO, {"build_branch": "feature/x"}),
    R("bk-07", "triggered build (not trigger_job)", "buildkite", "/bk/deploy/x", 403, NO,
      {"build_source": "trigger_job"}),
    R("bk-08", "missing build_source: not requires the claim present", "buildkite", "/bk/deploy/x",
      403, NO, {"build_source": DROP}),
    R("bk-09", "step_key null (no step key) fails the regex", "buildkite", "/bk/deploy/x", 403, NO,
      {"step_key": None, "sub": "organization:acme-inc:pipeline:deploy-api:ref:refs/heads/main:"
                                "commit:9f3182061f1e2cca4702c368cbc039b7dc9d4485:step:"}),
    R("bk-10", "regex deploy(-suffix)? full match", "buildkite", "/bk/deploy/x", 200, OK,
      {"step_key": "deploy-prod"}),
    R("bk-11", "regex is a full match, not a search", "buildkite", "/bk/deploy/x", 403, NO,
      {"step_key": "predeploy"}),
    R("bk-12", "untrusted queue: deny wins over allow", "buildkite", "/bk/deploy/x", 403, DENY,
      {"queue_key": "untrusted-pr"}),
    R("bk-13", "trusted queue_key is not denied", "buildkite", "/bk/deploy/x", 200, OK,
      {"queue_key": "deploy"}),
    R("bk-14", "pipeline_slug of the wrong type (array)", "buildkite", "/bk/deploy/x", 403, NO,
      {"pipeline_slug": ["deploy-api"]}),
    R("bk-15", "another Buildkite org on the shared issuer", "buildkite", "/bk/deploy/x", 401,
      "bound_claims", {"organization_slug": "evil-inc"}),
    R("bk-16", "tenant anchor missing", "buildkite", "/bk/deploy/x", 401, "bound_claims",
      {"organization_slug": DROP}),
    # ----- Buildkite: /bk/build/ allow bk-build-1423 (immutable ids + a number)
    R("bk-17", "build_number as a JSON number", "buildkite", "/bk/build/x", 200, OK),
    R("bk-18", "build_number as a numeric string", "buildkite", "/bk/build/x", 200, OK,
      {"build_number": "1423"}),
    R("bk-19", "another build number", "buildkite", "/bk/build/x", 403, NO, {"build_number": 1424}),
    R("bk-20", "not a number string",
      "buildkite", "/bk/build/x", 403, NO, {"build_number": "1423a"}),
    R("bk-21", "boolean is not a number",
      "buildkite", "/bk/build/x", 403, NO, {"build_number": True}),
    R("bk-22", "optional organization_id absent", "buildkite", "/bk/build/x", 403, NO,
      {"organization_id": DROP}),
    R("bk-23", "pipeline renamed: the immutable pipeline_id still matches", "buildkite",
      "/bk/build/x", 200, OK, {"pipeline_slug": "deploy-api-v2"}),
    R("bk-24", "slug recycled by another pipeline (other pipeline_id)", "buildkite", "/bk/build/x",
      403, NO, {"pipeline_id": "0191f956-0000-4000-8000-000000000000"}),
    R("bk-25", "expired 2 h ago: a token-level 401", "buildkite", "/bk/deploy/x", 401, "expired",
      {"iat": -7500, "nbf": -7500, "exp": -7200}),
    # ----- CircleCI: /cci/deploy/ allow cci-deployers, deny cci-ssh
    R("cci-01", "example payload", "circleci", "/cci/deploy/x", 200, OK),
    R("cci-02", "fork build: the fork's vcs-origin", "circleci", "/cci/deploy/x", 403, NO,
      {CCI + "vcs-origin": "github.com/contributor/deploy-api"}),
    R("cci-03", "vcs-origin glob * stops at /", "circleci", "/cci/deploy/x", 403, NO,
      {CCI + "vcs-origin": "github.com/acme/deploy-api/evil"}),
    R("cci-04", "lookalike org acme-evil", "circleci", "/cci/deploy/x", 403, NO,
      {CCI + "vcs-origin": "github.com/acme-evil/deploy-api"}),
    R("cci-05", "ssh-rerun true: a human had a shell (deny)",
      "circleci", "/cci/deploy/x", 403, DENY,
      {CCI + "ssh-rerun": True}),
    R("cci-06", "ssh-rerun \"true\" string matches plain true (deny)", "circleci", "/cci/deploy/x",
      403, DENY, {CCI + "ssh-rerun": "true"}),
    R("cci-07", "ssh-rerun \"false\" string matches plain false", "circleci", "/cci/deploy/x", 200,
      OK, {CCI + "ssh-rerun": "false"}),
    R("cci-08", "ssh-rerun missing",
      "circleci", "/cci/deploy/x", 403, NO, {CCI + "ssh-rerun": DROP}),
    R("cci-09", "ssh-rerun 0 is not false (no truthiness)", "circleci", "/cci/deploy/x", 403, NO,
      {CCI + "ssh-rerun": 0}),
    R("cci-10", "not in the deploy context", "circleci", "/cci/deploy/x", 403, NO,
      {CCI + "context-ids": ["cb32986e-2f6f-4f43-b2bd-d3c2fd98e903"]}),
    R("cci-11", "context-ids as a string, not an array", "circleci", "/cci/deploy/x", 403, NO,
      {CCI + "context-ids": CIRCLE_CONTEXT}),
    R("cci-12", "second project of the one-of list", "circleci", "/cci/deploy/x", 200, OK,
      {CCI + "project-id": "0c7a3f00-0000-4000-8000-000000000001"}),
    R("cci-13", "another project", "circleci", "/cci/deploy/x", 403, NO,
      {CCI + "project-id": "0c7a3f00-0000-4000-8000-000000000002"}),
    R("cci-14", "tag build",
      "circleci", "/cci/deploy/x", 403, NO, {CCI + "vcs-ref": "refs/tags/v1"}),
    R("cci-15", "another CircleCI org's issuer", "circleci", "/cci/deploy/x", 401, "unknown_issuer",
      {"iss": "https://oidc.circleci.com/org/0b9d4a6e-0000-4000-8000-000000000000"}),
    # ----- GitLab: /gl/deploy/ allow gl-deployers, deny gl-mr
    R("gl-01", "example payload (string ids and flags)", "gitlab", "/gl/deploy/x", 200, OK),
    R("gl-02", "ref_protected \"false\" is never truthy", "gitlab", "/gl/deploy/x", 403, NO,
      {"ref_protected": "false"}),
    R("gl-03", "ref_protected as a JSON boolean", "gitlab", "/gl/deploy/x", 200, OK,
      {"ref_protected": True}),
    R("gl-04", "ref_protected \"True\" (case matters)", "gitlab", "/gl/deploy/x", 403, NO,
      {"ref_protected": "True"}),
    R("gl-05", "ref_protected \"1\" (no truthiness)", "gitlab", "/gl/deploy/x", 403, NO,
      {"ref_protected": "1"}),
    R("gl-06", "environment_protected \"false\"", "gitlab", "/gl/deploy/x", 403, NO,
      {"environment_protected": "false"}),
    R("gl-07", "no environment at all", "gitlab", "/gl/deploy/x", 403, NO,
      {"environment": DROP, "environment_protected": DROP, "deployment_tier": DROP}),
    R("gl-08", "nested project: * never crosses /", "gitlab", "/gl/deploy/x", 403, NO,
      {"project_path": "acme/platform/sub/deploy-api"}),
    R("gl-09", "project_id as a JSON number",
      "gitlab", "/gl/deploy/x", 200, OK, {"project_id": 20}),
    R("gl-10", "another project_id", "gitlab", "/gl/deploy/x", 403, NO, {"project_id": "21"}),
    R("gl-11", "developer access level", "gitlab", "/gl/deploy/x", 403, NO,
      {"user_access_level": "developer"}),
    R("gl-12", "merge request pipeline (deny)", "gitlab", "/gl/deploy/x", 403, DENY,
      {"pipeline_source": "merge_request_event"}),
    R("gl-13", "fork MR pipeline: the fork's namespace",
      "gitlab", "/gl/deploy/x", 401, "bound_claims",
      {"namespace_path": "contributor", "namespace_id": "99",
       "project_path": "contributor/deploy-api", "project_id": "77"}),
    R("gl-14", "lookalike namespace acme/platform-evil", "gitlab", "/gl/deploy/x", 401,
      "bound_claims", {"namespace_path": "acme/platform-evil"}),
    R("gl-15", "legacy CI_JOB_JWT_V2 audience (the instance URL)", "gitlab", "/gl/deploy/x", 401,
      "wrong_audience", {"aud": "https://gitlab.com"}),
    # ----- GitLab: /gl/sre/ (contains), /gl/tree/ (**)
    R("gl-16", "groups_direct contains acme/sre", "gitlab", "/gl/sre/x", 200, OK),
    R("gl-17", "groups_direct absent", "gitlab", "/gl/sre/x", 403, NO, {"groups_direct": DROP}),
    R("gl-18", "groups_direct as a string", "gitlab", "/gl/sre/x", 403, NO,
      {"groups_direct": "acme/sre"}),
    R("gl-19", "acme/sre-evil is not acme/sre", "gitlab", "/gl/sre/x", 403, NO,
      {"groups_direct": ["acme/platform", "acme/sre-evil"]}),
    R("gl-20", "acme/** crosses /", "gitlab", "/gl/tree/x", 200, OK,
      {"project_path": "acme/platform/sub/deploy-api"}),
    R("gl-21", "acme/** does not match acme-evil/", "gitlab", "/gl/tree/x", 403, NO,
      {"project_path": "acme-evil/deploy-api"}),
    # ----- GitHub: /gh/deploy/ allow gh-deployers, deny gh-untrusted-events
    R("gh-01", "example payload: push to main, production environment", "github", "/gh/deploy/x",
      200, OK),
    R("gh-02", "pull_request_target: main-branch-looking token (deny)", "github", "/gh/deploy/x",
      403, DENY, {"event_name": "pull_request_target"}),
    R("gh-03", "pull_request from a fork (deny)", "github", "/gh/deploy/x", 403, DENY,
      {"event_name": "pull_request", "ref": "refs/pull/7/merge",
       "sub": GH_SUB + "pull_request", "environment": DROP}),
    R("gh-04", "repository_id as a number: the quoted \"74\" is a string", "github", "/gh/deploy/x",
      403, NO, {"repository_id": 74}),
    R("gh-05", "repository renamed: the immutable id still matches", "github", "/gh/deploy/x", 200,
      OK, {"repository": "octo-org/deploy-api-v2"}),
    R("gh-06", "name recycled by another repository", "github", "/gh/deploy/x", 403, NO,
      {"repository_id": "999"}),
    R("gh-07", "no environment", "github", "/gh/deploy/x", 403, NO,
      {"environment": DROP, "sub": GH_SUB + "ref:refs/heads/main"}),
    R("gh-08", "reusable workflow from a branch, not a tag", "github", "/gh/deploy/x", 403, NO,
      {"job_workflow_ref": SHARED_WF + "heads/main"}),
    R("gh-09", "tag glob v* stops at /", "github", "/gh/deploy/x", 403, NO,
      {"job_workflow_ref": SHARED_WF + "tags/v3/evil"}),
    R("gh-10", "another owner on the shared issuer", "github", "/gh/deploy/x", 401, "bound_claims",
      {"repository_owner": "octo-org-evil"}),
    R("gh-11", "expired token", "github", "/gh/deploy/x", 401, "expired",
      {"iat": -7500, "nbf": -7500, "exp": -7200}),
    # ----- GitHub: glob overreach
    R("gh-12", "octo-org/app* matches octo-org/app", "github", "/gh/app/x", 200, OK,
      {"repository": "octo-org/app"}),
    R("gh-13", "octo-org/app* also matches app-evil (documented overreach)", "github", "/gh/app/x",
      200, OK, {"repository": "octo-org/app-evil"}),
    R("gh-14", "octo-org/app* does not match app/evil", "github", "/gh/app/x", 403, NO,
      {"repository": "octo-org/app/evil"}),
    R("gh-15", "sub environment:* matches one segment", "github", "/gh/sub/x", 200, OK),
    R("gh-16", "sub environment:* does not match a ref sub", "github", "/gh/sub/x", 403, NO,
      {"sub": GH_SUB + "ref:refs/heads/main"}),
    R("gh-17", "sub of a lookalike repository", "github", "/gh/sub/x", 403, NO,
      {"sub": "repo:octo-org/deploy-api-evil:environment:production"}),
    R("gh-18", "sub :** crosses : and /", "github", "/gh/tree/x", 200, OK,
      {"sub": GH_SUB + "ref:refs/heads/main"}),
    R("gh-19", "sub :** still anchored at the repository", "github", "/gh/tree/x", 403, NO,
      {"sub": "repo:octo-org/deploy-api-evil:ref:refs/heads/main"}),
    R("gh-20", "immutable sub (owner@id/repo@id)", "github", "/gh/immutable/x", 200, OK,
      {"sub": "repo:octo-org@65/deploy-api@74:environment:production"}),
    R("gh-21", "mutable sub against the immutable rule", "github", "/gh/immutable/x", 403, NO),
    R("gh-22", "repository_owner_id number 65 vs another id", "github", "/gh/immutable/x", 403, NO,
      {"sub": "repo:octo-org@65/deploy-api@74:environment:production",
       "repository_owner_id": "66"}),
    R("gh-23", "repository_owner_id as a JSON number", "github", "/gh/immutable/x", 200, OK,
      {"sub": "repo:octo-org@65/deploy-api@74:environment:production",
       "repository_owner_id": 65}),
    # ----- company IdP
    R("corp-01", "platform admin with mfa", "corp", "/corp/admin/x", 200, OK),
    R("corp-02", "guest amr: group-level not excludes", "corp", "/corp/admin/x", 403, NO,
      {"amr": ["pwd", "guest"]}),
    R("corp-03", "no amr: the not-leaf does not match, so not holds", "corp", "/corp/admin/x", 200,
      OK, {"amr": DROP}),
    R("corp-04", "email regex is a full match", "corp", "/corp/admin/x", 403, NO,
      {"email": "svc-deployer@acme.com.evil.io"}),
    R("corp-05", "not a platform admin",
      "corp", "/corp/admin/x", 403, NO, {"groups": ["developers"]}),
    R("corp-06", "corp:release-managers from the groups claim", "corp", "/corp/release/x", 200, OK),
    R("corp-07", "groups claim as a single string", "corp", "/corp/release/x", 200, OK,
      {"groups": "release-managers"}),
    R("corp-08", "groups claim absent", "corp", "/corp/release/x", 403, NO, {"groups": DROP}),
    R("corp-09", "group names are case-sensitive", "corp", "/corp/release/x", 403, NO,
      {"groups": ["Release-Managers"]}),
    R("corp-10", "contractor (deny wins)", "corp", "/corp/release/x", 403, DENY,
      {"employee_type": "contractor"}),
    R("corp-11", "wrong audience", "corp", "/corp/admin/x", 401, "wrong_audience",
      {"aud": AUDIENCE}),
    # ----- across providers
    R("x-01", "a GitHub token on the company-IdP route", "github", "/corp/admin/x", 403, NO),
    R("x-02", "a Buildkite token on the GitHub route", "buildkite", "/gh/deploy/x", 403, NO),
    R("x-03", "a GitLab token on the CircleCI route (deny group of another vendor)", "gitlab",
      "/cci/deploy/x", 403, NO),
    R("x-04", "PUT artifacts: Buildkite org id on main", "buildkite", "/artifacts/a.tgz", 200, OK,
      method="PUT"),
    R("x-05", "PUT artifacts: GitHub owner id on main", "github", "/artifacts/a.tgz", 200, OK,
      method="PUT"),
    R("x-06", "PUT artifacts: GitHub feature branch", "github", "/artifacts/a.tgz", 403, NO,
      {"ref": "refs/heads/feature"}, method="PUT"),
    R("x-07", "PUT artifacts: pull_request_target (deny)", "github", "/artifacts/a.tgz", 403, DENY,
      {"event_name": "pull_request_target"}, method="PUT"),
    R("x-08", "POST artifacts: GitLab namespace_id 72 (string) on a protected ref", "gitlab",
      "/artifacts/a.tgz", 200, OK, method="POST"),
    R("x-09", "POST artifacts: GitLab unprotected ref", "gitlab", "/artifacts/a.tgz", 403, NO,
      {"ref_protected": "false"}, method="POST"),
    R("x-10", "POST artifacts: CircleCI org",
      "circleci", "/artifacts/a.tgz", 200, OK, method="POST"),
    R("x-11", "POST artifacts: CircleCI ssh rerun (deny)",
      "circleci", "/artifacts/a.tgz", 403, DENY,
      {CCI + "ssh-rerun": True}, method="POST"),
    R("x-12", "PUT artifacts: corp release manager",
      "corp", "/artifacts/a.tgz", 200, OK, method="PUT"),
    R("x-13", "PUT artifacts: corp developer", "corp", "/artifacts/a.tgz", 403, NO,
      {"groups": ["developers"]}, method="PUT"),
    R("x-14", "GET artifacts: any authenticated caller, even a feature branch", "github",
      "/artifacts/a.tgz", 200, "authenticated", {"ref": "refs/heads/feature"}),
    R("x-15", "shadow: a member passes", "github", "/shadow/x", 200, OK, decision="shadow_allow"),
    R("x-16", "shadow: a non-member passes too (shadow_deny)", "github", "/shadow/x", 200, NO,
      {"environment": "staging"}, decision="shadow_deny"),
    R("x-17", "public route", "gitlab", "/healthz", 200, "public_route"),
    R("x-18", "no route: 404 before any policy", "github", "/nothing/here", 404, "no_route"),
    R("x-19", "dot segments are normalized before routing",
      "github", "/gh/app/../deploy/x", 200, OK),
]


def corp_payload(now):
    iat = now - 5
    return {"iss": CORP_ISSUER, "aud": "ciap-test", "sub": "svc-deployer@acme.com",
            "iat": iat, "exp": iat + 900, "email": "svc-deployer@acme.com",
            "groups": ["platform-admins", "release-managers"], "amr": ["pwd", "mfa"],
            "employee_type": "employee"}


def row_claims(row, base, now):
    claims = json.loads(json.dumps(base[row["provider"]]))
    for name, value in row["set"].items():
        if value is DROP:
            claims.pop(name, None)
        elif name in ("iat", "nbf", "exp"):
            claims[name] = now + value  # times relative to now
        else:
            claims[name] = value
    return claims


class PolicyTable(CiapTestCase):

    def setUp(self):
        require_node()
        super().setUp()
        now = int(time.time())
        base = vendor_payloads(now)
        base["corp"] = corp_payload(now)
        self.claims = [row_claims(row, base, now) for row in TABLE]
        spec = {"keys": [{"name": p} for p in PROVIDERS],
                "tokens": [{"key": row["provider"], "payload": c}
                           for row, c in zip(TABLE, self.claims)]}
        minted = mint(spec)  # one Node run for every key and token
        self.tokens = minted["tokens"]
        jwks = {}
        for p in PROVIDERS:
            jwks[p] = os.path.join(self.tmp, f"{p}.jwks.json")
            with open(jwks[p], "w") as f:
                json.dump(minted["jwks"][p], f)
        self.up = self.start_upstream()
        cfg = make_config([upstream_cfg("app", self.up)], [plain_listener("plain", ROUTES)])
        cfg["identity_providers"] = [
            {"name": "buildkite", "type": "buildkite", "audiences": [AUDIENCE],
             "jwks_file": jwks["buildkite"], "bound_claims": {"organization_slug": "acme-inc"}},
            {"name": "circleci", "type": "circleci", "issuer": CIRCLE_ISSUER,
             "audiences": [AUDIENCE], "jwks_file": jwks["circleci"]},
            {"name": "gitlab", "type": "gitlab", "audiences": [AUDIENCE],
             "jwks_file": jwks["gitlab"], "bound_claims": {"namespace_path": "acme/platform"}},
            {"name": "github", "type": "github", "audiences": [AUDIENCE],
             "jwks_file": jwks["github"], "bound_claims": {"repository_owner": "octo-org"}},
            {"name": "corp", "type": "oidc", "issuer": CORP_ISSUER, "audiences": ["ciap-test"],
             "jwks_file": jwks["corp"], "groups_claim": "groups"},
        ]
        cfg["groups"] = GROUPS
        self.cfg = cfg
        self.config_path = write_config(os.path.join(self.tmp, "ciap.yaml"), cfg)
        r = run_ciap("validate", "-c", self.config_path)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def decide_all(self):
        """Every row twice through the proxy's decision code offline, in one `ciap test` run:
        the row's claims (as `ciap check --claims` takes them: no signature, iss, aud or time
        checks) and its token (as `--token-file`: verified against the provider's jwks_file).
        Returns the two lists of verdicts."""
        cases = []
        for i, row in enumerate(TABLE):
            claims_file = os.path.join(self.tmp, f"{row['id']}.claims.json")
            with open(claims_file, "w") as f:
                json.dump(self.claims[i], f)
            token_file = os.path.join(self.tmp, f"{row['id']}.jwt")
            with open(token_file, "w") as f:
                f.write(self.tokens[i])
            request = f"{row['method']} http://ci.acme{row['path']}"
            claims_decision = row["decision"]
            if row["claims_status"] is not None:
                claims_decision = "allow" if row["claims_status"] == 200 else "deny"
            cases.append({"name": f"{row['id']} claims", "request": request,
                          "claims": self.claims[i], "provider": row["provider"],
                          "expect": {"decision": claims_decision}})
            cases.append({"name": f"{row['id']} token", "request": request,
                          "token_file": token_file, "expect": {"decision": row["decision"]}})
        results = test_cases_json(self.config_path, cases, self.tmp)
        return ([results[f"{row['id']} claims"]["got"] for row in TABLE],
                [results[f"{row['id']} token"]["got"] for row in TABLE])

    def test_table(self):
        """Each row: its claims and its token decided offline, and the live proxy, match the
        table."""
        self.assertGreaterEqual(len(TABLE), 60)
        self.assertEqual(len({row["id"] for row in TABLE}), len(TABLE), "duplicate row ids")
        self.assertEqual({row["provider"] for row in TABLE}, set(PROVIDERS))
        ciap = self.start_ciap(self.cfg, args=["--concurrency", "2"])
        self.assertTrue(wait_until(lambda: ciap.admin_get("/ready")[0] == 200, 15, 0.05),
                        ciap.admin_get("/jwks-status"))
        port = ciap.port()
        all_by_claims, all_by_token = self.decide_all()
        counts = {"allow": 0, "deny": 0, "shadow": 0}
        for i, row in enumerate(TABLE):
            expected = (row["decision"], row["status"], row["reason"])
            counts["shadow" if row["decision"].startswith("shadow") else row["decision"]] += 1
            with self.subTest(row=row["id"], desc=row["desc"]):
                by_claims = all_by_claims[i]
                want = expected
                if row["claims_status"] is not None:
                    want = ("allow" if row["claims_status"] == 200 else "deny",
                            row["claims_status"], row["claims_reason"])
                self.assertEqual((by_claims["decision"], by_claims["status"], by_claims["reason"]),
                                 want, ("--claims", row, by_claims))

                by_token = all_by_token[i]
                self.assertEqual((by_token["decision"], by_token["status"], by_token["reason"]),
                                 expected, ("--token-file", row, by_token))

                # 3. the live proxy, with the same token
                r = request(port, row["method"], row["path"], tls=False,
                            headers={"Authorization": f"Bearer {self.tokens[i]}"},
                            body=b"x" if row["method"] in ("PUT", "POST") else None)
                self.assertEqual(r.status, by_token["status"],
                                 ("live vs ciap check", row["id"], by_token, r.body[:300]))
                self.assertEqual(r.status, row["status"], (row["id"], r.body[:300]))
                if r.status != 200:
                    self.assertEqual(r.json().get("reason"), row["reason"], (row["id"], r.body))
                if row["claims_status"] is None:
                    self.assertEqual(by_claims["status"], r.status, row["id"])
        log(f"policy table: {len(TABLE)} rows, {counts['allow']} allows, {counts['deny']} denies, "
            f"{counts['shadow']} shadow")


if __name__ == "__main__":
    unittest.main()
