"""`ciap validate` agrees with `ciap run` on the files a config names.

One good config names every kind of file ciap loads: a listener's certificate and key and its
client CA, an upstream's CA and client certificate, an identity provider's jwks_file and another
provider's ca_file, a ${secret:} file injected into a header, and the access log. Each broken
case breaks one of them (missing, empty, unreadable, a directory, not PEM, a key that does not
match its certificate, an encrypted key, a key set that is not JSON or has no usable key, a secret
that is empty or holds a line break, ...). For every case:

- `ciap validate` exits 1 with an error that names the file, at the place in the config that
  names it (file:line:column: key path);
- `ciap run` exits non-zero at startup, and its error names the file too;
- `ciap validate --offline` passes: the config alone is fine.

The good config passes validate and starts; an expired certificate is a warning, not an error.
`validate --json` says the same as one object.
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from ciaptest import CIAP_BIN, SOURCE_DIR, CiapTestCase, certs, log, run_ciap, to_yaml

RUN_TIMEOUT = 20.0
ISSUER = "https://idp.demo.ciap.local"  # what scripts/demo-token's key set is for


def _expired_certificate(directory):
    """A self-signed certificate for localhost that expired on 2020-01-02, and its key."""
    with open(os.path.join(directory, "ca.cnf"), "w") as f:
        f.write("[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\n"
                "serial = serial\ndefault_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n")
    open(os.path.join(directory, "index.txt"), "w").close()
    with open(os.path.join(directory, "serial"), "w") as f:
        f.write("01\n")
    quiet = {"cwd": directory, "check": True, "capture_output": True, "timeout": 60}
    subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj",
                    "/CN=localhost", "-keyout", "expired.key", "-out", "expired.csr"], **quiet)
    subprocess.run(["openssl", "ca", "-batch", "-config", "ca.cnf", "-selfsign", "-keyfile",
                    "expired.key", "-in", "expired.csr", "-out", "expired.crt", "-notext",
                    "-startdate", "20200101000000Z", "-enddate", "20200102000000Z"], **quiet)
    return os.path.join(directory, "expired.crt"), os.path.join(directory, "expired.key")


class Files:
    """Good and broken files, world-readable (the unreadable case runs ciap as nobody)."""

    def __init__(self, directory):
        self.dir = directory
        c = certs()
        for name in ("server.crt", "server.key", "a.key", "ca.crt", "client.crt", "client.key"):
            shutil.copy(os.path.join(c.dir, name), os.path.join(directory, name))
        subprocess.run([os.path.join(SOURCE_DIR, "scripts", "demo-token"), "--dir",
                        os.path.join(directory, "idp"), "--jwks-only"],
                       check=True, capture_output=True, timeout=60)
        shutil.copy(os.path.join(directory, "idp", "jwks.json"), self.path("jwks.json"))
        self.write("token", "a-credential\n")
        self.write("empty", "")
        self.write("garbage.pem", "this is not PEM\n")
        self.write("not-json.jwks", "keys: [not json]\n")
        self.write("no-keys.jwks", '{"keys": []}\n')
        self.write("bad-key.jwks", '{"keys": [{"kty": "RSA", "kid": "k1", "n": "AQAB"}]}\n')
        self.write("two-lines", "first\nsecond\n")
        os.mkdir(self.path("a-directory"))
        shutil.copy(self.path("server.crt"), self.path("unreadable.crt"))
        subprocess.run(["openssl", "pkey", "-in", self.path("server.key"), "-aes256",
                        "-passout", "pass:secret", "-out", self.path("encrypted.key")],
                       check=True, capture_output=True, timeout=60)
        expired = tempfile.mkdtemp(dir=directory, prefix="expired-")
        self.expired_crt, self.expired_key = _expired_certificate(expired)
        for root, dirs, files in os.walk(directory):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o755)
            for f in files:
                os.chmod(os.path.join(root, f), 0o644)
        os.chmod(directory, 0o755)
        os.chmod(self.path("unreadable.crt"), 0o000)

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, text):
        with open(self.path(name), "w") as f:
            f.write(text)


def good_config(f):
    """Every kind of file ciap loads, each in one place."""
    return {
        "logging": {"access_log": "off"},
        "admin": {"address": "127.0.0.1:0"},
        "identity_providers": [
            {"name": "corp", "type": "oidc", "issuer": ISSUER, "audiences": ["https://ciap.test"],
             "jwks_file": f.path("jwks.json")},
            {"name": "idp", "type": "oidc", "issuer": "https://idp.acme.internal",
             "audiences": ["ciap"], "jwks_uri": "https://idp.acme.internal/keys",
             "ca_file": f.path("ca.crt")},
        ],
        "upstreams": [
            {"name": "app", "endpoints": ["127.0.0.1:9"]},
            {"name": "secure", "endpoints": ["127.0.0.1:9"],
             "tls": {"sni": "upstream.test", "ca_file": f.path("ca.crt"),
                     "cert_file": f.path("client.crt"), "key_file": f.path("client.key")}},
        ],
        "listeners": [{
            "name": "agents",
            "address": "127.0.0.1:0",
            "tls": {"certificates": [{"cert_file": f.path("server.crt"),
                                      "key_file": f.path("server.key")}],
                    "client_ca_file": f.path("ca.crt"), "client_auth": "optional"},
            "routes": [
                {"name": "deploy", "match": {"path_prefix": "/deploy/"}, "upstream": "secure",
                 "authenticate": True,
                 "request_headers": {"set": {
                     "Authorization": "Bearer ${secret:" + f.path("token") + "}"}}},
                {"name": "everything", "upstream": "app", "public": True},
            ],
        }],
    }


def _set(cfg, key_path, value):
    """Sets cfg at a key path such as "listeners[0].tls.certificates[0].cert_file"."""
    parts = []
    for piece in key_path.split("."):
        name, _, rest = piece.partition("[")
        parts.append(name)
        while rest:
            index, _, rest = rest.partition("]")
            parts.append(int(index))
            rest = rest.lstrip("[")
    node = cfg
    for p in parts[:-1]:
        node = node[p]
    node[parts[-1]] = value


CERT = "listeners[0].tls.certificates[0].cert_file"
KEY = "listeners[0].tls.certificates[0].key_file"
CLIENT_CA = "listeners[0].tls.client_ca_file"
UPSTREAM_CA = "upstreams[1].tls.ca_file"
UPSTREAM_CERT = "upstreams[1].tls.cert_file"
UPSTREAM_KEY = "upstreams[1].tls.key_file"
JWKS = "identity_providers[0].jwks_file"
PROVIDER_CA = "identity_providers[1].ca_file"
SECRET = "listeners[0].routes[0].request_headers.set.Authorization"

# (name, key path, file, what the error must also say). The file replaces the good one at the key
# path; for SECRET it is the ${secret:} file.
BROKEN = [
    ("cert_missing", CERT, "missing.crt", "No such file or directory"),
    ("cert_empty", CERT, "empty", "no PEM certificate"),
    ("cert_unreadable", CERT, "unreadable.crt", "Permission denied"),
    ("cert_directory", CERT, "a-directory", "Is a directory"),
    ("cert_garbage", CERT, "garbage.pem", "no PEM certificate"),
    ("cert_is_a_key", CERT, "server.key", "no PEM certificate"),
    ("key_mismatch", KEY, "a.key", "does not match certificate"),
    ("key_encrypted", KEY, "encrypted.key", "it is encrypted"),
    ("key_is_a_certificate", KEY, "server.crt", "no PEM private key"),
    ("key_empty", KEY, "empty", "no PEM private key"),
    ("key_missing", KEY, "missing.key", "No such file or directory"),
    ("client_ca_garbage", CLIENT_CA, "garbage.pem", "cannot load client CA"),
    ("client_ca_empty", CLIENT_CA, "empty", "no PEM certificate"),
    ("client_ca_is_a_key", CLIENT_CA, "server.key", "no PEM certificate"),
    ("upstream_ca_garbage", UPSTREAM_CA, "garbage.pem", "cannot load CA"),
    ("upstream_ca_missing", UPSTREAM_CA, "missing-ca.crt", "No such file or directory"),
    ("upstream_client_cert_garbage", UPSTREAM_CERT, "garbage.pem", "no PEM certificate"),
    ("upstream_client_key_mismatch", UPSTREAM_KEY, "server.key", "does not match certificate"),
    ("jwks_not_json", JWKS, "not-json.jwks", "not valid JSON"),
    ("jwks_no_keys", JWKS, "no-keys.jwks", "has no usable keys"),
    ("jwks_bad_key", JWKS, "bad-key.jwks", "has no usable keys (key 0 (kid k1)"),
    ("jwks_missing", JWKS, "missing.jwks", "No such file or directory"),
    ("jwks_directory", JWKS, "a-directory", "Is a directory"),
    ("provider_ca_garbage", PROVIDER_CA, "garbage.pem", "cannot load CA"),
    ("provider_ca_empty", PROVIDER_CA, "empty", "no PEM certificate"),
    ("secret_missing", SECRET, "missing-token", "No such file or directory"),
    ("secret_empty", SECRET, "empty", "is empty"),
    ("secret_directory", SECRET, "a-directory", "Is a directory"),
    ("secret_two_lines", SECRET, "two-lines", "contains a line break"),
]


def _as_nobody():
    """The command prefix that runs ciap without root's right to read any file, or None."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]


class ValidateAgreesWithRun(CiapTestCase):
    files = None

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="ciap-validate-files-")
        cls.files = Files(cls.dir)

    @classmethod
    def tearDownClass(cls):
        os.chmod(cls.files.path("unreadable.crt"), 0o644)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def write_config(self, cfg, name="ciap.yaml"):
        d = tempfile.mkdtemp(dir=self.tmp)
        os.chmod(self.tmp, 0o755)
        os.chmod(d, 0o755)
        path = os.path.join(d, name)
        with open(path, "w") as f:
            f.write(to_yaml(cfg))
        os.chmod(path, 0o644)
        return path

    def ciap(self, prefix, *args, timeout=RUN_TIMEOUT):
        return subprocess.run(prefix + [CIAP_BIN] + list(args), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout)

    def run_until_exit(self, prefix, path):
        """`ciap run`: its exit code and stderr when it stops on its own at startup; fails if it
        starts serving instead."""
        proc = subprocess.Popen(prefix + [CIAP_BIN, "run", "-c", path, "--concurrency", "1"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        try:
            _, stderr = proc.communicate(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            _, stderr = proc.communicate()
            self.fail(f"ciap run did not stop at startup within {RUN_TIMEOUT}s:\n{stderr}")
        self.assertNotIn('"msg":"ciap started"', stderr)
        return proc.returncode, stderr

    def check_broken(self, key_path, file_name, words):
        f = self.files
        path_of_file = f.path(file_name)
        cfg = good_config(f)
        if key_path == SECRET:
            _set(cfg, key_path, "Bearer ${secret:" + path_of_file + "}")
        else:
            _set(cfg, key_path, path_of_file)
        config = self.write_config(cfg)
        prefix = _as_nobody() if file_name == "unreadable.crt" else []
        if prefix is None:
            self.skipTest("running as root without setpriv: a mode-000 file is readable")

        r = self.ciap(prefix, "validate", "-c", config)
        self.assertEqual(r.returncode, 1, f"validate passed it:\n{r.stdout}{r.stderr}")
        lines = [line for line in r.stderr.splitlines() if path_of_file in line]
        self.assertTrue(lines, f"no validate error names {path_of_file}:\n{r.stderr}")
        located = [line for line in lines if line.startswith(config + ":")
                   and f": {key_path}: " in line and words in line]
        self.assertTrue(located, f"no error at {key_path} saying {words!r}:\n{r.stderr}")
        head = located[0].split(": ", 1)[0]  # FILE:LINE:COLUMN
        self.assertRegex(head, r":\d+:\d+$", located[0])
        log(f"validate: {located[0][len(config):]}")

        code, stderr = self.run_until_exit(prefix, config)
        self.assertNotEqual(code, 0, stderr)
        self.assertIn(path_of_file, stderr, "run's error does not name the file")
        self.assertIn(words, stderr)

        r = self.ciap(prefix, "validate", "--offline", "-c", config)
        self.assertEqual(r.returncode, 0, f"--offline refused the config:\n{r.stderr}")
        self.assertIn("valid offline", r.stdout)

    def test_the_good_config_passes_and_starts(self):
        """Every file in place: validate passes, run starts and stops cleanly."""
        cfg = good_config(self.files)
        config = self.write_config(cfg)
        r = run_ciap("validate", "-c", config)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        p = self.start_ciap(cfg)
        self.assertTrue(p.running())

    def test_a_broken_case_of_every_kind(self):
        """The table covers enough cases and every kind of file the good config names."""
        self.assertGreaterEqual(len(BROKEN), 20)
        kinds = {key for _, key, _, _ in BROKEN}
        self.assertEqual(kinds, {CERT, KEY, CLIENT_CA, UPSTREAM_CA, UPSTREAM_CERT, UPSTREAM_KEY,
                                 JWKS, PROVIDER_CA, SECRET})

    def test_access_log_directory_missing(self):
        """run opens the access log first; validate checks it could (and creates nothing)."""
        cfg = good_config(self.files)
        log_path = os.path.join(self.tmp, "no-such-dir", "access.log")
        cfg["logging"]["access_log"] = log_path
        config = self.write_config(cfg)
        r = run_ciap("validate", "-c", config)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn(f"{config}: logging.access_log: cannot open access log {log_path}",
                      r.stderr)
        code, stderr = self.run_until_exit([], config)
        self.assertNotEqual(code, 0)
        self.assertIn(log_path, stderr)
        self.assertEqual(run_ciap("validate", "--offline", "-c", config).returncode, 0)
        self.assertFalse(os.path.exists(os.path.dirname(log_path)))

    def test_an_expired_certificate_is_a_warning(self):
        """Clients will refuse it, but run starts with it: validate passes and warns."""
        cfg = good_config(self.files)
        _set(cfg, CERT, self.files.expired_crt)
        _set(cfg, KEY, self.files.expired_key)
        config = self.write_config(cfg)
        r = run_ciap("validate", "-c", config)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"{config}: warning: listener agents: certificate "
                      f"{self.files.expired_crt} expired on 2020-01-02 00:00:00 UTC", r.stderr)
        r = run_ciap("validate", "--json", "-c", config)
        self.assertEqual(json.loads(r.stdout)["warnings"][0].split(":")[0], "listener agents")
        p = self.start_ciap(cfg)
        self.assertTrue(p.running())

    def test_json(self):
        """--json: the verdict as one object, errors with file, line, column, key path."""
        cfg = good_config(self.files)
        config = self.write_config(cfg)
        r = run_ciap("validate", "--json", "-c", config)
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["valid"], True)
        self.assertEqual(doc["config"], config)
        self.assertEqual(len(doc["config_hash"]), 64)
        self.assertEqual((doc["listeners"], doc["routes"], doc["upstreams"],
                          doc["identity_providers"]), (1, 2, 2, 2))
        self.assertIn(self.files.path("token"), doc["files"])
        self.assertEqual(doc["warnings"], [])

        _set(cfg, KEY, self.files.path("a.key"))
        config = self.write_config(cfg)
        r = run_ciap("validate", "--json", "-c", config)
        self.assertEqual(r.returncode, 1, r.stdout)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["valid"], False)
        [error] = doc["errors"]
        self.assertEqual(error["file"], config)
        self.assertEqual(error["key_path"], KEY)
        self.assertIsInstance(error["line"], int)
        self.assertIsInstance(error["column"], int)
        self.assertEqual(error["message"], f"{self.files.path('a.key')} does not match "
                                           f"certificate {self.files.path('server.crt')}")

        with open(config, "a") as f:
            f.write("bogus: 1\n")
        doc = json.loads(run_ciap("validate", "--json", "--offline", "-c", config).stdout)
        self.assertEqual(doc["valid"], False)
        self.assertEqual(doc["errors"][0]["key_path"], "bogus")
        r = run_ciap("validate", "--json", "-c", os.path.join(self.tmp, "none.yaml"))
        self.assertEqual(r.returncode, 1)
        self.assertIsNone(json.loads(r.stdout)["errors"][0]["line"])
        self.assertEqual(run_ciap("validate", "--json").returncode, 2, "usage errors stay 2")


def _add_broken_cases():
    for name, key_path, file_name, words in BROKEN:
        def test(self, k=key_path, f=file_name, w=words):
            self.check_broken(k, f, w)
        test.__doc__ = f"{name}: validate and run both refuse it, naming the file"
        setattr(ValidateAgreesWithRun, f"test_broken_{name}", test)


_add_broken_cases()

if __name__ == "__main__":
    unittest.main()
