#!/usr/bin/env python3
"""Keeps the shipped examples/*.yaml working.

1. `ciap validate -c FILE` exits 0 for every examples/*.yaml. The examples name their
   certificates as ${CIAP_TLS_DIR}/tls.crt, tls.key and ca.crt; this test points CIAP_TLS_DIR at
   a throwaway PKI from scripts/gen-certs (and CIAP_DEMO_DIR at one laid out like scripts/demo's;
   CIAP_SECRETS_DIR at fresh assertion keys, a GitHub App key and a client secret).
2. For each per-vendor example, `ciap check --claims ... --json` on requests built from the
   vendors' example payloads (as the vendors document them) gives the decision the example's
   comments promise: the job the rule is written for is allowed, and the look-alike the rule
   exists to stop (other tenant, fork, pull_request_target, SSH rerun, unprotected ref...) is not.

Usage: examples_test.py PATH/TO/ciap PATH/TO/SOURCE_ROOT [unittest args...]
"""

import copy
import json
import time
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

CIAP = None
ROOT = None
HOST = "https://ci-proxy.acme.internal"

# The vendors' example payloads (made-up ids), as a job would present them to ciap.
BUILDKITE = {
    "iss": "https://agent.buildkite.com",
    "sub": "organization:acme-inc:pipeline:deploy-api:ref:refs/heads/main:commit:"
           "9f3182061f1e2cca4702c368cbc039b7dc9d4485:step:deploy",
    "aud": "https://ci-proxy.acme.internal", "iat": 1767225600, "nbf": 1767225600,
    "exp": 1767225900,
    "organization_slug": "acme-inc", "pipeline_slug": "deploy-api", "build_number": 1423,
    "build_branch": "main", "build_commit": "9f3182061f1e2cca4702c368cbc039b7dc9d4485",
    "step_key": "deploy", "job_id": "0184990a-477b-4fa8-9968-496074483cee",
    "agent_id": "0184990a-4782-42b5-afc1-16715b10b8ff", "build_source": "webhook",
    "runner_environment": "self-hosted",
    "organization_id": "f892efa9-103e-4d28-97a1-3b8616a0994d",
    "pipeline_id": "0191f956-4782-42b5-afc1-16715b10b1a0",
}

CIRCLECI = {
    "iss": "https://oidc.circleci.com/org/a64b0a19-f221-4291-b000-8d24bd842b72",
    "sub": "org/a64b0a19-f221-4291-b000-8d24bd842b72/project/5a301f56-eaa7-4cce-9441-37810f7c8452"
           "/user/2f1c0c8e-8f7a-4b7e-9a52-1d2f3e4a5b6c/vcs-origin/github.com/acme/deploy-api"
           "/vcs-ref/refs/heads/main",
    "aud": "https://ci-proxy.acme.internal", "iat": 1767225600, "exp": 1767229200,
    "oidc.circleci.com/org-id": "a64b0a19-f221-4291-b000-8d24bd842b72",
    "oidc.circleci.com/project-id": "5a301f56-eaa7-4cce-9441-37810f7c8452",
    "oidc.circleci.com/pipeline-id": "cd267951-f409-44fc-a0f0-81512f5840b0",
    "oidc.circleci.com/job-id": "1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9",
    "oidc.circleci.com/context-ids": ["a74579f1-2e7d-451e-b009-5c082ad2729e",
                                      "cb32986e-2f6f-4f43-b2bd-d3c2fd98e903"],
    "oidc.circleci.com/vcs-origin": "github.com/acme/deploy-api",
    "oidc.circleci.com/vcs-ref": "refs/heads/main",
    "oidc.circleci.com/ssh-rerun": False,
}

GITLAB = {
    "iss": "https://gitlab.com", "aud": "https://ci-proxy.acme.internal",
    "sub": "project_path:acme/platform/deploy-api:ref_type:branch:ref:main",
    "iat": 1767225600, "nbf": 1767225595, "exp": 1767229200,
    "jti": "235b3a54-b797-45c7-ae9a-f72d7bc6ef5b",
    "namespace_id": "72", "namespace_path": "acme/platform", "project_id": "20",
    "project_path": "acme/platform/deploy-api", "user_login": "sample-user",
    "user_access_level": "maintainer", "groups_direct": ["acme/platform", "acme/sre"],
    "pipeline_id": "574", "pipeline_source": "push", "job_id": "302",
    "ref": "main", "ref_type": "branch", "ref_path": "refs/heads/main", "ref_protected": "true",
    "environment": "production", "environment_protected": "true",
    "deployment_tier": "production", "runner_id": 1, "runner_environment": "gitlab-hosted",
    "sha": "714a629c0b401fdce83e847fc9589983fc6f46bc",
    "job_project_id": "20", "job_project_path": "acme/platform/deploy-api",
}

GITHUB = {
    "iss": "https://token.actions.githubusercontent.com", "aud": "https://ci-proxy.acme.internal",
    "sub": "repo:octo-org/deploy-api:environment:production",
    "jti": "1e410ab1-302e-4e33-8c5f-869a4bd12c3b",
    "iat": 1767225600, "nbf": 1767225300, "exp": 1767225900,
    "repository": "octo-org/deploy-api", "repository_id": "74", "repository_owner": "octo-org",
    "repository_owner_id": "65", "environment": "production", "event_name": "push",
    "ref": "refs/heads/main", "ref_type": "branch",
    "workflow_ref": "octo-org/deploy-api/.github/workflows/deploy.yml@refs/heads/main",
    "job_workflow_ref": "octo-org/shared-workflows/.github/workflows/deploy.yml@refs/tags/v3",
    "run_id": "32291736541", "run_attempt": "1", "runner_environment": "github-hosted",
}

CORP = {
    "iss": "https://idp.acme.internal", "aud": "ci-proxy", "sub": "00u1a2b3c4d5e6f7g8h9",
    "iat": 1767225600, "exp": 1767229200, "email": "alice@acme.com", "email_verified": True,
    "groups": ["engineering", "platform-admins"], "amr": ["pwd", "mfa"],
}


def with_claims(base, **changes):
    """A copy of BASE with CHANGES applied; a value of None removes the claim. Claim names with
    characters Python keywords cannot hold are passed as a dict in `claims`."""
    claims = copy.deepcopy(base)
    extra = changes.pop("claims", {})
    for name, value in list(changes.items()) + list(extra.items()):
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


# (example file, provider, case name, request, claims, expected decision, expected reason or None)
CASES = [
    # Buildkite
    ("buildkite.yaml", "buildkite", "deploy_step_of_deploy_api_on_main", "POST /deploy/api",
     BUILDKITE, "allow", "allowed_group"),
    ("buildkite.yaml", "buildkite", "deploy_from_api_build_denied", "POST /deploy/api",
     with_claims(BUILDKITE, build_source="api"), "deny", "no_allowed_group"),
    ("buildkite.yaml", "buildkite", "deploy_from_test_step_denied", "POST /deploy/api",
     with_claims(BUILDKITE, step_key="test"), "deny", "no_allowed_group"),
    ("buildkite.yaml", "buildkite", "recycled_pipeline_slug_denied", "POST /deploy/api",
     with_claims(BUILDKITE, pipeline_id="0191f956-0000-4000-8000-000000000000"), "deny",
     "no_allowed_group"),
    ("buildkite.yaml", "buildkite", "other_organization_denied", "GET /artifacts/x.tgz",
     with_claims(BUILDKITE, organization_slug="evil-inc",
                 organization_id="00000000-0000-4000-8000-000000000000"), "deny", "bound_claims"),
    ("buildkite.yaml", "buildkite", "hand_started_release_upload_denied", "PUT /releases/x.tgz",
     with_claims(BUILDKITE, build_source="ui"), "deny", "denied_group"),
    ("buildkite.yaml", "buildkite", "webhook_release_upload", "PUT /releases/x.tgz",
     BUILDKITE, "allow", "allowed_group"),

    # CircleCI
    ("circleci.yaml", "circleci", "deploy_api_main_with_production_context", "POST /deploy/api",
     CIRCLECI, "allow", "allowed_group"),
    ("circleci.yaml", "circleci", "ssh_rerun_denied", "POST /deploy/api",
     with_claims(CIRCLECI, claims={"oidc.circleci.com/ssh-rerun": True}), "deny", "bound_claims"),
    ("circleci.yaml", "circleci", "deploy_without_production_context_denied", "POST /deploy/api",
     with_claims(CIRCLECI, claims={"oidc.circleci.com/context-ids": [
         "cb32986e-2f6f-4f43-b2bd-d3c2fd98e903"]}), "deny", "no_allowed_group"),
    ("circleci.yaml", "circleci", "fork_release_upload_denied", "PUT /releases/x.tgz",
     with_claims(CIRCLECI, claims={"oidc.circleci.com/vcs-origin": "github.com/evil/deploy-api"}),
     "deny", "denied_group"),
    ("circleci.yaml", "circleci", "lookalike_org_prefix_is_a_fork", "PUT /releases/x.tgz",
     with_claims(CIRCLECI, claims={"oidc.circleci.com/vcs-origin": "github.com/acme-evil/x"}),
     "deny", "denied_group"),
    ("circleci.yaml", "circleci", "own_repo_release_upload", "PUT /releases/x.tgz",
     CIRCLECI, "allow", "allowed_group"),

    # GitLab
    ("gitlab.yaml", "gitlab", "production_deploy_from_protected_env", "POST /deploy/api",
     GITLAB, "allow", "allowed_group"),
    ("gitlab.yaml", "gitlab", "unprotected_environment_denied", "POST /deploy/api",
     with_claims(GITLAB, environment_protected="false"), "deny", "no_allowed_group"),
    ("gitlab.yaml", "gitlab", "unprotected_ref_denied", "POST /deploy/api",
     with_claims(GITLAB, ref_protected="false"), "deny", "no_allowed_group"),
    ("gitlab.yaml", "gitlab", "fork_project_denied", "POST /deploy/api",
     with_claims(GITLAB, project_id="9999", project_path="mallory/deploy-api"), "deny",
     "no_allowed_group"),
    ("gitlab.yaml", "gitlab", "other_namespace_denied", "GET /artifacts/x.tgz",
     with_claims(GITLAB, namespace_id="73", namespace_path="acme-evil"), "deny", "bound_claims"),
    ("gitlab.yaml", "gitlab", "merge_request_release_upload_denied", "PUT /releases/x.tgz",
     with_claims(GITLAB, pipeline_source="merge_request_event"), "deny", "denied_group"),
    ("gitlab.yaml", "gitlab", "staging_rule_in_shadow", "POST /deploy/staging/api",
     with_claims(GITLAB, environment="staging", environment_protected="false"),
     "shadow_deny", "no_allowed_group"),

    # GitHub Actions
    ("github-actions.yaml", "github", "production_deploy_on_push", "POST /deploy/api",
     GITHUB, "allow", "allowed_group"),
    ("github-actions.yaml", "github", "pull_request_target_denied", "POST /deploy/api",
     with_claims(GITHUB, event_name="pull_request_target"), "deny", "denied_group"),
    ("github-actions.yaml", "github", "other_repository_denied", "POST /deploy/api",
     with_claims(GITHUB, repository_id="75", repository="octo-org/deploy-api-evil"), "deny",
     "no_allowed_group"),
    ("github-actions.yaml", "github", "unpinned_workflow_denied", "POST /deploy/api",
     with_claims(GITHUB, job_workflow_ref=(
         "octo-org/shared-workflows/.github/workflows/deploy.yml@refs/heads/feature")),
     "deny", "no_allowed_group"),
    ("github-actions.yaml", "github", "other_owner_denied", "GET /packages/x.tgz",
     with_claims(GITHUB, repository_owner="evil-org", repository_owner_id="66"), "deny",
     "bound_claims"),
    ("github-actions.yaml", "github", "self_hosted_upload_in_shadow", "PUT /packages/x.tgz",
     with_claims(GITHUB, runner_environment="self-hosted"), "shadow_deny", "no_allowed_group"),

    # Company IdP
    ("company-idp.yaml", "corp", "platform_admin_with_mfa", "POST /admin/drain",
     CORP, "allow", "allowed_group"),
    ("company-idp.yaml", "corp", "platform_admin_without_mfa_denied", "POST /admin/drain",
     with_claims(CORP, amr=["pwd"]), "deny", "no_allowed_group"),
    ("company-idp.yaml", "corp", "contractor_admin_denied", "POST /admin/drain",
     with_claims(CORP, groups=["platform-admins", "contractors"]), "deny", "denied_group"),
    ("company-idp.yaml", "corp", "release_manager_dynamic_group", "PUT /releases/x.tgz",
     with_claims(CORP, groups=["release-managers"]), "allow", "allowed_group"),
    ("company-idp.yaml", "corp", "foreign_email_denied", "GET /artifacts/x.tgz",
     with_claims(CORP, email="alice@acme.com.evil.io"), "deny", "bound_claims"),
]


class ExamplesTest(unittest.TestCase):
    tmp = None
    env = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ciap-examples-")
        scripts = pathlib.Path(ROOT, "scripts")
        # CIAP_TLS_DIR: what /etc/ciap/tls holds in production (tls.crt, tls.key, ca.crt).
        tls_dir = os.path.join(cls.tmp, "tls")
        subprocess.run([str(scripts / "gen-certs"), tls_dir], check=True, timeout=120,
                       stdout=subprocess.DEVNULL)
        shutil.copyfile(os.path.join(tls_dir, "server.crt"), os.path.join(tls_dir, "tls.crt"))
        shutil.copyfile(os.path.join(tls_dir, "server.key"), os.path.join(tls_dir, "tls.key"))
        # CIAP_DEMO_DIR: laid out like scripts/demo does (certs/, idp/jwks.json).
        demo_dir = os.path.join(cls.tmp, "demo")
        shutil.copytree(tls_dir, os.path.join(demo_dir, "certs"))
        subprocess.run([sys.executable, str(scripts / "demo-token"), "--dir",
                        os.path.join(demo_dir, "idp"), "--jwks-only"], check=True, timeout=60,
                       stdout=subprocess.DEVNULL)
        # CIAP_SECRETS_DIR: the assertion keys, a GitHub App key and a client secret.
        secrets_dir = os.path.join(cls.tmp, "secrets")
        os.makedirs(secrets_dir)
        for name, algorithm in (("assertion-current.pem", ["EC", "-pkeyopt",
                                                           "ec_paramgen_curve:P-256"]),
                                ("assertion-next.pem", ["ED25519"]),
                                ("github-app.pem", ["RSA", "-pkeyopt", "rsa_keygen_bits:2048"])):
            subprocess.run(["openssl", "genpkey", "-algorithm", *algorithm, "-out",
                            os.path.join(secrets_dir, name)], check=True, timeout=60,
                           capture_output=True)
        with open(os.path.join(secrets_dir, "deploy-client"), "w", encoding="utf-8") as f:
            f.write("example-client-secret\n")
        cls.env = dict(os.environ)
        cls.env["CIAP_TLS_DIR"] = tls_dir
        cls.env["CIAP_SECRETS_DIR"] = secrets_dir
        cls.env["CIAP_DEMO_DIR"] = demo_dir

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def run_ciap(self, *args):
        return subprocess.run([CIAP, *args], env=self.env, capture_output=True, text=True,
                              timeout=60)

    def check_valid(self, path):
        result = self.run_ciap("validate", "-c", str(path))
        self.assertEqual(result.returncode, 0, f"{path}: expected exit 0\nstdout:\n"
                                               f"{result.stdout}\nstderr:\n{result.stderr}")

    def check_decision(self, example, provider, name, request, claims, decision, reason):
        method, path = request.split(" ", 1)
        claims_file = os.path.join(self.tmp, f"{name}.json")
        # The vendors' example payloads carry fixed 2026-01-01 times; `ciap check --claims` checks
        # iss/aud/exp like a token's, so move them to now, keeping each token's lifetime.
        claims = dict(claims)
        if "iat" in claims and "exp" in claims:
            shift = int(time.time()) - claims["iat"]
            for k in ("iat", "nbf", "exp"):
                if k in claims:
                    claims[k] += shift
        with open(claims_file, "w", encoding="utf-8") as f:
            json.dump(claims, f)
        config = pathlib.Path(ROOT, "examples", example)
        result = self.run_ciap("check", "-c", str(config), "--request", f"{method} {HOST}{path}",
                               "--claims", claims_file, "--provider", provider, "--json")
        context = (f"{example} {request} as {provider} ({name})\nexit {result.returncode}\n"
                   f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
        self.assertIn(result.returncode, (0, 1), context)  # 2: ciap could not evaluate at all
        try:
            report = json.loads(result.stdout)
        except json.JSONDecodeError:
            self.fail("stdout is not JSON\n" + context)
        self.assertEqual(report["decision"], decision, context)
        if reason is not None:
            self.assertEqual(report["reason"], reason, context)
        allowed = decision == "allow" or decision.startswith("shadow")
        self.assertEqual(result.returncode, 0 if allowed else 1, context)

    def test_every_vendor_example_exists(self):
        names = {p.name for p in pathlib.Path(ROOT, "examples").glob("*.yaml")}
        for expected in ("buildkite.yaml", "circleci.yaml", "gitlab.yaml",
                         "github-actions.yaml", "company-idp.yaml"):
            self.assertIn(expected, names)
        # Every vendor example has at least one allowed and one denied case below.
        for example in {c[0] for c in CASES}:
            decisions = {c[5] for c in CASES if c[0] == example}
            self.assertIn("allow", decisions, example)
            self.assertIn("deny", decisions, example)


def add_tests():
    """One test method per example file and per check case, so a failure names it."""
    for path in sorted(pathlib.Path(ROOT, "examples").glob("*.yaml")):
        if path.name.endswith(".cases.yaml"):  # ciap test tables, not configs
            continue
        setattr(ExamplesTest, "test_validate_" + re.sub(r"\W", "_", path.stem),
                lambda self, p=path: self.check_valid(p))
    for case in CASES:
        example, name = case[0], case[2]
        method = "test_check_%s_%s" % (re.sub(r"\W", "_", pathlib.Path(example).stem), name)
        assert not hasattr(ExamplesTest, method), method
        setattr(ExamplesTest, method, lambda self, c=case: self.check_decision(*c))


def main():
    global CIAP, ROOT
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    CIAP = os.path.abspath(sys.argv[1])
    ROOT = os.path.abspath(sys.argv[2])
    add_tests()
    program = unittest.main(argv=[sys.argv[0]] + sys.argv[3:], exit=False, verbosity=2)
    return 0 if program.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
