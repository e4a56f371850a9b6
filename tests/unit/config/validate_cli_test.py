#!/usr/bin/env python3
"""CLI-level test of `ciap validate -c FILE` on the config fixtures.

Every file in FIXTURES/broken/ opens with a line
    # expect: LINE:COL: KEY_PATH: MESSAGE-SUBSTRING
and `ciap validate` must exit 1 and print, on one line of stderr, FILE:LINE:COL: KEY_PATH: followed
by text containing MESSAGE-SUBSTRING (FILE as passed on the command line; an empty KEY_PATH, for
errors about the whole file, leaves out the "KEY_PATH: " part). Every file in FIXTURES/valid/ must
exit 0.

Usage: validate_cli_test.py PATH/TO/ciap PATH/TO/tests/fixtures/config [unittest args...]
"""

import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

CIAP = None
FIXTURES = None
EXPECT_RE = re.compile(r"^# expect: (\d+):(\d+): (\S*): (.+)$")
MIN_BROKEN_FIXTURES = 20

# Variables the fixtures use; CIAP_TEST_CERTS is added once the certificates exist.
FIXTURE_ENV = {
    "CIAP_FIXTURE_UPSTREAM": "127.0.0.1:9000",
    "CIAP_FIXTURE_TIMEOUT": "45s",
    "CIAP_FIXTURE_EMPTY": "",
}
UNSET_ENV = ["CIAP_FIXTURE_UNSET_HOST"]


def parse_expectation(path):
    """Returns (line, column, key_path, message) from the first line of a broken fixture."""
    with open(path, encoding="utf-8") as f:
        first = f.readline().rstrip("\n")
    match = EXPECT_RE.match(first)
    if not match:
        raise AssertionError(
            f"{path}: first line must be '# expect: LINE:COL: KEY_PATH: MESSAGE', got {first!r}")
    return int(match.group(1)), int(match.group(2)), match.group(3), match.group(4)


class ValidateCliTest(unittest.TestCase):
    certs_dir = None
    env = None

    @classmethod
    def setUpClass(cls):
        # Real certificates from the script in the tree, so the valid TLS fixture stays valid even
        # if `validate` starts loading the files instead of only checking that they exist.
        cls.certs_dir = tempfile.mkdtemp(prefix="ciap-validate-certs-")
        gen_certs = pathlib.Path(FIXTURES).resolve().parents[2] / "scripts" / "gen-certs"
        subprocess.run([str(gen_certs), cls.certs_dir], check=True, timeout=120,
                       stdout=subprocess.DEVNULL)
        # What ${secret:${CIAP_TEST_CERTS}/token} references read (validate loads them too).
        with open(os.path.join(cls.certs_dir, "token"), "w") as f:
            f.write("a-fixture-token\n")
        cls.env = dict(os.environ)
        cls.env.update(FIXTURE_ENV)
        cls.env["CIAP_TEST_CERTS"] = cls.certs_dir
        for name in UNSET_ENV:
            cls.env.pop(name, None)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.certs_dir, ignore_errors=True)

    def validate(self, path):
        return subprocess.run([CIAP, "validate", "-c", str(path)], env=self.env,
                              capture_output=True, text=True, timeout=60)

    def check_broken(self, path):
        line, column, key_path, message = parse_expectation(path)
        result = self.validate(path)
        self.assertEqual(result.returncode, 1,
                         f"{path}: expected exit 1\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}")
        prefix = f"{path}:{line}:{column}: " + (f"{key_path}: " if key_path else "")
        found = any(l.startswith(prefix) and message in l[len(prefix):]
                    for l in result.stderr.splitlines())
        self.assertTrue(found, f"{path}: no stderr line starts with {prefix!r} and contains "
                               f"{message!r}\nstderr:\n{result.stderr}")

    def check_valid(self, path):
        result = self.validate(path)
        self.assertEqual(result.returncode, 0,
                         f"{path}: expected exit 0\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}")

    def test_fixture_set_is_complete(self):
        broken = sorted(pathlib.Path(FIXTURES, "broken").glob("*.yaml"))
        valid = sorted(pathlib.Path(FIXTURES, "valid").glob("*.yaml"))
        self.assertGreaterEqual(len(broken), MIN_BROKEN_FIXTURES)
        self.assertGreaterEqual(len(valid), 1)
        for path in broken:
            parse_expectation(path)  # raises on a malformed first line

    def test_missing_file(self):
        path = pathlib.Path(self.certs_dir, "does-not-exist.yaml")
        result = self.validate(path)
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn(f"{path}: ", result.stderr)
        self.assertIn("No such file or directory", result.stderr)


def add_fixture_tests():
    """One test method per fixture file, so a failure names the file."""
    for kind in ("broken", "valid"):
        for path in sorted(pathlib.Path(FIXTURES, kind).glob("*.yaml")):
            name = "test_%s_%s" % (kind, re.sub(r"\W", "_", path.stem))
            check = "check_broken" if kind == "broken" else "check_valid"
            setattr(ValidateCliTest, name,
                    lambda self, p=path, c=check: getattr(self, c)(p))


def main():
    global CIAP, FIXTURES
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    CIAP = os.path.abspath(sys.argv[1])
    FIXTURES = os.path.abspath(sys.argv[2])
    add_fixture_tests()
    program = unittest.main(argv=[sys.argv[0]] + sys.argv[3:], exit=False, verbosity=2)
    return 0 if program.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
