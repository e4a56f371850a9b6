"""`ciap test`: each example's case table, run offline with no TLS, key or secret file present,
and what a failing, malformed or JSON run looks like."""
import glob
import json
import os
import re
import unittest

from ciaptest import SOURCE_DIR, CiapTestCase, run_ciap

EXAMPLES = os.path.join(SOURCE_DIR, "examples")
# The examples name their files through these variables; here they point nowhere.
os.environ.setdefault("CIAP_TLS_DIR", "/nonexistent/ciap-tls")
os.environ.setdefault("CIAP_DEMO_DIR", "/nonexistent/ciap-demo")
os.environ.setdefault("CIAP_SECRETS_DIR", "/nonexistent/ciap-secrets")


def cases_files():
    return sorted(glob.glob(os.path.join(EXAMPLES, "*.cases.yaml")))


def config_of(cases):
    return cases[: -len(".cases.yaml")] + ".yaml"


class CaseTables(CiapTestCase):

    def test_every_example_has_a_table(self):
        configs = sorted(glob.glob(os.path.join(EXAMPLES, "*.yaml")))
        configs = [c for c in configs if not c.endswith(".cases.yaml")]
        self.assertEqual([config_of(c) for c in cases_files()], configs)

    def test_example_tables_hold_offline(self):
        """Every case of every example holds, with none of the files the configs name."""
        self.assertFalse(os.path.exists(os.environ["CIAP_TLS_DIR"]))
        for cases in cases_files():
            with self.subTest(os.path.basename(cases)):
                r = run_ciap("test", "-c", config_of(cases), cases, "--offline", timeout=120)
                self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)
                m = re.search(r"^(\d+) cases: (\d+) passed, 0 failed$", r.stdout, re.M)
                self.assertTrue(m, r.stdout[-500:])
                self.assertGreaterEqual(int(m.group(1)), 10)
                self.assertEqual(m.group(1), m.group(2))

    def test_wrong_expectation_fails_naming_the_case(self):
        """One flipped expectation: exit 1, the case named with its line, the others still ok."""
        source = os.path.join(EXAMPLES, "buildkite.cases.yaml")
        with open(source) as f:
            text = f.read()
        name = "a pipeline of another organization is refused"
        at = text.index(name)
        flipped = (text[:at] + text[at:].replace("decision: deny, status: 401",
                                                   "decision: allow, status: 200", 1))
        line = text[:at].count("\n") + 1
        broken = os.path.join(self.tmp, "buildkite.cases.yaml")
        with open(broken, "w") as f:
            f.write(flipped)
        r = run_ciap("test", "-c", config_of(source), broken, "--offline", timeout=120)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        fails = [l for l in r.stdout.splitlines() if l.startswith("FAIL")]
        self.assertEqual(len(fails), 1, r.stdout)
        self.assertIn(name, fails[0])
        self.assertIn(f"{broken}:{line}", fails[0])  # the line the case starts on
        self.assertIn("expected decision allow, got deny", fails[0])
        self.assertRegex(r.stdout, r"(\d+) cases: \d+ passed, 1 failed")

        r = run_ciap("test", "-c", config_of(source), broken, "--offline", "--json",
                     timeout=120)
        self.assertEqual(r.returncode, 1)
        doc = json.loads(r.stdout)
        failed = [c for c in doc["cases"] if not c["passed"]]
        self.assertEqual([c["name"] for c in failed], [name])
        self.assertEqual(failed[0]["expect"], {"decision": "allow", "status": 200,
                                               "reason": "bound_claims"})
        self.assertEqual((failed[0]["got"]["decision"], failed[0]["got"]["reason"]),
                         ("deny", "bound_claims"))
        self.assertEqual(doc["failed"], 1)

    def test_malformed_tables_exit_2_with_the_place(self):
        config = os.path.join(EXAMPLES, "demo.yaml")
        bad = {
            "cases:\n  - request: GET https://x/\n    expect: { decision: maybe }\n":
                ":3:25: expect.decision: one of allow",
            "cases:\n  - request: GET https://x/\n    expct: { status: 200 }\n":
                ":3:5: expct: unknown key",
            "cases:\n  - request: GET https://x/\n":
                ":2:5: expect: required",
            "cases:\n  - request: GET https://x/\n    token_file: missing.jwt\n"
            "    expect: { status: 401 }\n":
                ":3:17: token_file: cannot read",
            "cases: []\n": ":1:1: cases: required",
            "cases:\n  - request: GET https://x/\n    claims: [a, b]\n    expect: { status: 401 }\n":
                ":3:13: claims: a map of claim names to values",
        }
        for text, where in bad.items():
            with self.subTest(where):
                path = os.path.join(self.tmp, "cases.yaml")
                with open(path, "w") as f:
                    f.write(text)
                r = run_ciap("test", "-c", config, path, "--offline")
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                self.assertIn(path + where, r.stderr)

    def test_usage(self):
        r = run_ciap("test", "-c", os.path.join(EXAMPLES, "demo.yaml"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("the cases file is required", r.stderr)
        r = run_ciap("tset")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown command 'tset' (did you mean test?)", r.stderr)
        for command in ("run", "validate", "check", "test"):
            r = run_ciap(command, "--help")
            self.assertEqual(r.returncode, 0, (command, r.stderr))
            self.assertIn(f"ciap {command}", r.stdout)
        for args, problem in ((["--json=yes"], "--json takes no value"),
                              (["--config="], "--config needs a value")):
            r = run_ciap("validate", "-c", "x.yaml", *args)
            self.assertEqual(r.returncode, 2)
            self.assertIn(problem, r.stderr)
        r = run_ciap("validate", "-c", "x.yaml", "--ofline")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown flag --ofline (did you mean --offline?)", r.stderr)


if __name__ == "__main__":
    unittest.main()
