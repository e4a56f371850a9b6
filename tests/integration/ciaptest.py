"""Shared harness of the ciap integration tests (Python standard library only).

- certs(): a throwaway PKI made once per test process with scripts/gen-certs.
- config helpers (upstream_cfg, tls_listener, plain_listener, route, make_config) and a
  small YAML writer, so each test states its config as Python data.
- Ciap: starts `$CIAP_BIN run -c FILE`, discovers listener/admin ports from the JSON lines on
  stderr, fetches admin endpoints, parses /metrics, reads the access log, stops by pid.
- client helpers: HTTPS/HTTP one-shot requests, raw TLS sockets, a raw HTTP/1.1 response
  reader, curl and openssl wrappers.
- CiapTestCase: a TestCase whose helpers register cleanups for everything they start.

Environment: CIAP_BIN (default <source>/build/ciap), CIAP_SOURCE_DIR (default: two
folders up from this file).
"""

import atexit
import concurrent.futures
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import types
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from upstream import Upstream, pattern_bytes, pattern_sha256  # noqa: E402,F401

SOURCE_DIR = os.environ.get("CIAP_SOURCE_DIR") or os.path.abspath(os.path.join(HERE, "..", ".."))
CIAP_BIN = os.environ.get("CIAP_BIN") or os.path.join(SOURCE_DIR, "build", "ciap")

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


def log(msg):
    """A line for the human reading the test output (unittest -v prints stderr)."""
    print(f"    [ciaptest] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Certificates
# ---------------------------------------------------------------------------------------------
_certs = None
_certs_lock = threading.Lock()


def certs():
    """Paths of the test PKI (ca, server, a, b, upstream, client), generated once per process.

    Attributes: dir, ca, server_crt, server_key, a_crt, a_key, b_crt, b_key, upstream_crt,
    upstream_key, client_crt, client_key, server_pem, other_ca (a second, unrelated CA cert).
    """
    global _certs
    with _certs_lock:
        if _certs is None:
            d = tempfile.mkdtemp(prefix="ciap-it-certs-")
            atexit.register(shutil.rmtree, d, True)
            subprocess.run([os.path.join(SOURCE_DIR, "scripts", "gen-certs"), d], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
            # An unrelated self-signed CA, for "wrong CA" verification failures.
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
                 "-days", "30", "-subj", "/CN=some other CA",
                 "-keyout", os.path.join(d, "other-ca.key"), "-out", os.path.join(d, "other-ca.crt"),
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
            p = lambda n: os.path.join(d, n)
            _certs = types.SimpleNamespace(
                dir=d, ca=p("ca.crt"), server_crt=p("server.crt"), server_key=p("server.key"),
                a_crt=p("a.crt"), a_key=p("a.key"), b_crt=p("b.crt"), b_key=p("b.key"),
                upstream_crt=p("upstream.crt"), upstream_key=p("upstream.key"),
                client_crt=p("client.crt"), client_key=p("client.key"),
                server_pem=p("server.pem"), other_ca=p("other-ca.crt"))
        return _certs


# ---------------------------------------------------------------------------------------------
# YAML writing and config builders
# ---------------------------------------------------------------------------------------------
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def _yaml_scalar(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(str(v))  # a JSON string is a valid YAML double-quoted scalar


def _yaml_key(k):
    return k if _PLAIN_KEY.match(k) else json.dumps(k)


def _yaml_emit(obj, ind, out):
    pad = " " * ind
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, dict) and v:
                out.append(f"{pad}{_yaml_key(k)}:")
                _yaml_emit(v, ind + 2, out)
            elif isinstance(v, list) and v:
                out.append(f"{pad}{_yaml_key(k)}:")
                _yaml_emit(v, ind + 2, out)
            elif isinstance(v, dict):
                out.append(f"{pad}{_yaml_key(k)}: {{}}")
            elif isinstance(v, list):
                out.append(f"{pad}{_yaml_key(k)}: []")
            else:
                out.append(f"{pad}{_yaml_key(k)}: {_yaml_scalar(v)}")
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, (dict, list)) and item:
                sub = []
                _yaml_emit(item, ind + 2, sub)
                sub[0] = pad + "- " + sub[0][ind + 2:]
                out.extend(sub)
            elif isinstance(item, dict):
                out.append(f"{pad}- {{}}")
            elif isinstance(item, list):
                out.append(f"{pad}- []")
            else:
                out.append(f"{pad}- {_yaml_scalar(item)}")
    else:
        out.append(pad + _yaml_scalar(obj))


def to_yaml(obj):
    out = []
    _yaml_emit(obj, 0, out)
    return "\n".join(out) + "\n"


def upstream_cfg(name, *endpoints, tls=None, **kw):
    """An upstreams[] entry. endpoints: Upstream objects, ports or "host:port" strings."""
    eps = []
    for e in endpoints:
        if isinstance(e, Upstream):
            eps.append(e.address)
        elif isinstance(e, int):
            eps.append(f"127.0.0.1:{e}")
        else:
            eps.append(e)
    d = {"name": name, "endpoints": eps, "connect_timeout": "2s"}
    if tls is not None:
        d["tls"] = tls
    d.update(kw)
    return d


def route(name, upstream="app", match=None, timeout=None, request_headers=None, **kw):
    """A routes[] entry (public: true)."""
    d = {"name": name}
    if match:
        d["match"] = match
    d["upstream"] = upstream
    d["public"] = True
    if timeout is not None:
        d["timeout"] = timeout
    if request_headers is not None:
        d["request_headers"] = request_headers
    d.update(kw)
    return d


def tls_listener(name="agents", routes=(), cert_pairs=None, min_version=None, limits=None, **kw):
    """A TLS listeners[] entry on 127.0.0.1:0 with the test server certificate (default)."""
    c = certs()
    if cert_pairs is None:
        cert_pairs = [(c.server_crt, c.server_key)]
    tls = {"certificates": [{"cert_file": cf, "key_file": kf} for cf, kf in cert_pairs]}
    if min_version is not None:
        tls["min_version"] = min_version
    d = {"name": name, "address": "127.0.0.1:0", "tls": tls}
    if limits:
        d["limits"] = limits
    d["routes"] = list(routes)
    d.update(kw)
    return d


def plain_listener(name="plain", routes=(), limits=None, **kw):
    d = {"name": name, "address": "127.0.0.1:0", "plaintext": True}
    if limits:
        d["limits"] = limits
    d["routes"] = list(routes)
    d.update(kw)
    return d


def make_config(upstreams, listeners, access_log=None):
    cfg = {}
    if access_log is not None:
        cfg["logging"] = {"access_log": access_log}
    cfg["admin"] = {"address": "127.0.0.1:0"}
    cfg["upstreams"] = list(upstreams)
    cfg["listeners"] = list(listeners)
    return cfg


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"')


class Metrics:
    """Parsed Prometheus text exposition."""

    def __init__(self, text):
        self.text = text
        self.samples = []  # (name, {labels}, float)
        self.types = {}
        for line in text.splitlines():
            line = line.strip()
            if not line:
                continue
            if line.startswith("#"):
                parts = line.split()
                if len(parts) >= 4 and parts[1] == "TYPE":
                    self.types[parts[2]] = parts[3]
                continue
            m = _SAMPLE.match(line)
            if not m:
                continue
            labels = {k: v.replace('\\"', '"').replace("\\\\", "\\")
                      for k, v in _LABEL.findall(m.group(3) or "")}
            try:
                value = float(m.group(4))
            except ValueError:
                continue
            self.samples.append((m.group(1), labels, value))

    def find(self, name, **labels):
        """Samples called name whose labels include all of labels."""
        return [(l, v) for n, l, v in self.samples
                if n == name and all(l.get(k) == str(x) for k, x in labels.items())]

    def value(self, name, **labels):
        """Sum of the matching samples (0.0 when none)."""
        return sum(v for _, v in self.find(name, **labels))

    def has(self, name):
        return any(n == name for n, _, _ in self.samples)


# ---------------------------------------------------------------------------------------------
# The ciap process
# ---------------------------------------------------------------------------------------------
class CiapStartError(AssertionError):
    pass


class Ciap:
    """One `ciap run` process. Use start(); always stop() (CiapTestCase does it)."""

    def __init__(self, config, workdir, args=(), access_log="file", env=None):
        """config: dict (written as YAML) or str (written as is).

        env: variables set for ciap on top of this process's environment.

        access_log: "file" → a file in workdir is set in the config (unless the dict has
        logging already); "stdout" → left to the default (stdout, captured here).
        """
        self.workdir = workdir
        self.args = list(args)
        self.env = dict(env or {})
        self.access_log_path = None
        if isinstance(config, dict):
            config = json.loads(json.dumps(config))  # private copy
            if access_log == "file" and "logging" not in config:
                self.access_log_path = os.path.join(workdir, "access.log")
                config = {"logging": {"access_log": self.access_log_path}, **config}
            elif "logging" in config:
                al = config["logging"].get("access_log", "stdout")
                if al not in ("stdout", "stderr", "off"):
                    self.access_log_path = al
            self.config = config
            text = to_yaml(config)
        else:
            self.config = None
            text = config
        self.config_text = text
        self.config_path = os.path.join(workdir, "ciap.yaml")
        with open(self.config_path, "w") as f:
            f.write(text)
        self.proc = None
        self.stderr_lines = []
        self.stdout_lines = []
        self.events = []  # JSON objects from stderr
        self._lock = threading.Lock()
        self._threads = []
        self.listeners = {}  # name -> (host, port)
        self.admin = None  # (host, port)
        self.returncode = None

    @property
    def pid(self):
        return self.proc.pid

    def start(self, timeout=START_TIMEOUT):
        _require_binary()
        cmd = [CIAP_BIN, "run", "-c", self.config_path] + self.args
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, cwd=self.workdir,
                                     env={**os.environ, **self.env})
        for stream, sink, is_err in ((self.proc.stderr, self.stderr_lines, True),
                                     (self.proc.stdout, self.stdout_lines, False)):
            t = threading.Thread(target=self._pump, args=(stream, sink, is_err), daemon=True)
            t.start()
            self._threads.append(t)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.event("ciap started"):
                break
            if self.proc.poll() is not None:
                time.sleep(0.1)  # let the pumps collect the last lines
                raise CiapStartError(f"ciap exited with {self.proc.returncode} during startup:\n"
                                     + self.stderr_tail())
            time.sleep(0.02)
        else:
            raise CiapStartError(f"ciap did not log 'ciap started' within {timeout}s:\n"
                                 + self.stderr_tail())
        for e in self.events_named("listener ready"):
            self.listeners[e.get("listener")] = _split_addr(e["address"])
        a = self.event("admin ready")
        if a:
            self.admin = _split_addr(a["address"])
        return self

    def _pump(self, stream, sink, is_err):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._lock:
                sink.append(line)
                if is_err:
                    try:
                        obj = json.loads(line)
                    except ValueError:
                        obj = None
                    if isinstance(obj, dict):
                        self.events.append(obj)
        stream.close()

    def event(self, msg):
        """The first stderr JSON event whose "msg" is msg, or None."""
        with self._lock:
            for e in self.events:
                if e.get("msg") == msg:
                    return e
        return None

    def events_named(self, msg):
        with self._lock:
            return [e for e in self.events if e.get("msg") == msg]

    def stderr_tail(self, n=40):
        with self._lock:
            return "\n".join(self.stderr_lines[-n:])

    def port(self, listener=None):
        """Port of the named listener (or of the only/first one)."""
        if listener is None:
            if not self.listeners:
                raise AssertionError("no 'listener ready' line seen:\n" + self.stderr_tail())
            return next(iter(self.listeners.values()))[1]
        if listener not in self.listeners:
            raise AssertionError(f"no 'listener ready' line for {listener!r}: {self.listeners}")
        return self.listeners[listener][1]

    @property
    def admin_port(self):
        if not self.admin:
            raise AssertionError("no 'admin ready' line seen:\n" + self.stderr_tail())
        return self.admin[1]

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.running():
            os.kill(self.proc.pid, sig)

    def wait(self, timeout):
        """Waits for exit; returns the exit code or None on timeout."""
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        for t in self._threads:
            t.join(2)
        return self.returncode

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, wait up to timeout, then SIGKILL. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"ciap pid {self.proc.pid} ignored SIGTERM for {timeout}s: SIGKILL")
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        for t in self._threads:
            t.join(2)
        self.returncode = self.proc.returncode
        return self.returncode

    # ----- admin -----
    def admin_get(self, path, timeout=5):
        """(status, headers dict lower-cased, body bytes) of GET path on the admin server."""
        c = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=timeout)
        try:
            c.request("GET", path)
            r = c.getresponse()
            body = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, body
        finally:
            c.close()

    def metrics(self):
        status, _, body = self.admin_get("/metrics")
        if status != 200:
            raise AssertionError(f"/metrics returned {status}")
        return Metrics(body.decode())

    # ----- access log -----
    def access_log(self):
        """All access-log records so far (dicts with type == "access")."""
        if self.access_log_path:
            try:
                with open(self.access_log_path, "rb") as f:
                    lines = f.read().decode("utf-8", "replace").splitlines()
            except FileNotFoundError:
                lines = []
        else:
            with self._lock:
                lines = list(self.stdout_lines)
        out = []
        for line in lines:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict) and obj.get("type") == "access":
                out.append(obj)
        return out

    def wait_access(self, pred=lambda r: True, count=1, timeout=5.0):
        """Waits until at least count access records match pred; returns the matching ones."""
        deadline = time.monotonic() + timeout
        while True:
            recs = [r for r in self.access_log() if pred(r)]
            if len(recs) >= count or time.monotonic() > deadline:
                return recs
            time.sleep(0.05)

    def access_for(self, request_id, timeout=5.0):
        recs = self.wait_access(lambda r: r.get("request_id") == request_id, 1, timeout)
        if not recs:
            raise AssertionError(f"no access-log line with request_id {request_id!r}; log: "
                                 + repr(self.access_log()[-5:]))
        return recs[0]

    # ----- memory -----
    def proc_status(self, field):
        """A /proc/PID/status field in KiB (VmRSS, VmHWM, ...)."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise KeyError(field)

    def reset_hwm(self):
        """Resets VmHWM to the current RSS (echo 5 > /proc/PID/clear_refs); False if refused."""
        try:
            with open(f"/proc/{self.proc.pid}/clear_refs", "w") as f:
                f.write("5")
            return True
        except OSError:
            return False


def _split_addr(addr):
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


def _require_binary():
    """Fails when $CIAP_BIN names a missing file; skips when the default path has no binary."""
    if os.path.exists(CIAP_BIN):
        return
    if os.environ.get("CIAP_BIN"):
        raise AssertionError(f"CIAP_BIN={CIAP_BIN} does not exist")
    raise unittest.SkipTest(f"ciap binary not found at {CIAP_BIN} (set CIAP_BIN)")


def run_ciap(*args, timeout=30):
    """Runs `ciap ARGS...` to completion (validate, version)."""
    _require_binary()
    return subprocess.run([CIAP_BIN] + list(args), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


def write_config(path, cfg):
    """Writes a config (Python data) as YAML to `path`; returns `path`."""
    with open(path, "w") as f:
        f.write(to_yaml(cfg))
    return path


def check_json(config_path, request, *source):
    """`ciap check --json` on one request ("METHOD URL"); returns (exit code, decoded output).
    Anything but exit 0 (allow) or 1 (deny) is an error, raised with stdout and stderr."""
    r = run_ciap("check", "-c", config_path, "--request", request, "--json", *source)
    if r.returncode not in (0, 1):
        raise AssertionError(f"ciap check {request} {source}: exit {r.returncode}\n"
                             f"{r.stdout}{r.stderr}")
    return r.returncode, json.loads(r.stdout)


def test_cases_json(config_path, cases, directory):
    """`ciap test --json` on `cases` (dicts as a cases file lists them, each with a unique name),
    in one process: {name: the case's result}. Exit 0 or 1 (cases that failed) are answers;
    anything else is an error."""
    path = os.path.join(directory, "cases.yaml")
    with open(path, "w") as f:
        json.dump({"cases": cases}, f)  # JSON is YAML
    r = run_ciap("test", "-c", config_path, path, "--json")
    if r.returncode not in (0, 1):
        raise AssertionError(f"ciap test: exit {r.returncode}\n{r.stdout}{r.stderr}")
    return {result["name"]: result for result in json.loads(r.stdout)["cases"]}


def check_json_many(config_path, calls, workers=4):
    """check_json for each (request, *source) of `calls`, several processes at a time (a table
    of hundreds of cases would otherwise wait on one process after another); results in order."""
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda call: check_json(config_path, *call), calls))


# ---------------------------------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------------------------------
def client_context(ca=None, alpn=("http/1.1",), min_version=None, max_version=None):
    ctx = ssl.create_default_context(cafile=ca or certs().ca)
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    if min_version:
        ctx.minimum_version = min_version
    if max_version:
        ctx.maximum_version = max_version
    return ctx


class _HTTPSConnection(http.client.HTTPSConnection):
    """HTTPSConnection to 127.0.0.1 with an explicit SNI/verified name."""

    def __init__(self, port, sni, context, timeout):
        super().__init__("127.0.0.1", port, context=context, timeout=timeout)
        self._sni = sni
        self._ctx = context

    def connect(self):
        http.client.HTTPConnection.connect(self)
        self.sock = self._ctx.wrap_socket(self.sock, server_hostname=self._sni)


def conn(port, tls=True, sni="localhost", timeout=15, context=None):
    """A keep-alive http.client connection to ciap on 127.0.0.1:port."""
    if not tls:
        return http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    return _HTTPSConnection(port, sni, context or client_context(), timeout)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.header_list = headers  # [(name, value)] as received
        self.body = body

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.header_list:
            if k.lower() == name:
                return v
        return default

    def headers_named(self, name):
        name = name.lower()
        return [v for k, v in self.header_list if k.lower() == name]

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<Response {self.status} {self.header_list} {self.body[:200]!r}>"


def request_on(c, method, path, headers=None, body=None):
    """One request on an http.client connection; returns a Response (body read)."""
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    return Response(r.status, r.getheaders(), data)


def request(port, method="GET", path="/", headers=None, body=None, tls=True, sni="localhost",
            timeout=15):
    """A one-shot request on a fresh connection."""
    c = conn(port, tls=tls, sni=sni, timeout=timeout)
    try:
        return request_on(c, method, path, headers, body)
    finally:
        c.close()


def tls_socket(port, sni="localhost", timeout=15, context=None):
    """A raw, verified TLS socket to 127.0.0.1:port."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return (context or client_context()).wrap_socket(s, server_hostname=sni)
    except BaseException:
        s.close()
        raise


def raw_socket(port, timeout=15):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def read_response(f, keep_1xx=False, head=False):
    """Reads one HTTP/1.1 response from a binary file object.

    Returns Response (with .interim = list of 1xx statuses seen). Handles Content-Length,
    chunked and read-until-close bodies. Raises EOFError when the stream ends before a
    status line.
    """
    interim = []
    while True:
        line = f.readline(65536)
        if not line:
            raise EOFError("connection closed before a status line")
        parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        status = int(parts[1])
        headers = []
        while True:
            h = f.readline(65536)
            if not h:
                raise EOFError("connection closed in headers")
            if h in (b"\r\n", b"\n"):
                break
            k, _, v = h.decode("latin-1").partition(":")
            headers.append((k, v.strip()))
        if 100 <= status < 200 and status != 101:
            interim.append(status)
            if keep_1xx:
                r = Response(status, headers, b"")
                r.interim = interim
                return r
            continue
        break
    r = Response(status, headers, b"")
    r.interim = interim
    if head or status in (204, 304):
        return r
    te = (r.header("transfer-encoding") or "").lower()
    if "chunked" in te:
        body = bytearray()
        while True:
            size = int(f.readline(4096).split(b";")[0].strip(), 16)
            if size == 0:
                while f.readline(65536) not in (b"\r\n", b"\n", b""):
                    pass
                break
            body += _read_exact(f, size)
            f.readline(8)
        r.body = bytes(body)
    elif r.header("content-length") is not None:
        r.body = _read_exact(f, int(r.header("content-length")))
    else:
        r.body = f.read()
    return r


def _read_exact(f, n):
    data = f.read(n)
    if len(data) != n:
        raise EOFError(f"body truncated: {len(data)} of {n} bytes")
    return data


def is_closed(sock, timeout=3.0):
    """True when the peer has closed (EOF or reset) within timeout, False if data or timeout."""
    sock.settimeout(timeout)
    try:
        data = sock.recv(1)
    except socket.timeout:
        return False
    except (ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError):
        return True
    return data == b""


def curl(*args, timeout=120, input=None, check=False):
    """Runs curl -sS with the test CA; returns CompletedProcess (bytes)."""
    cmd = ["curl", "-sS", "--cacert", certs().ca, "--max-time", str(int(timeout))] + list(args)
    return subprocess.run(cmd, capture_output=True, timeout=timeout + 30, input=input,
                          check=check, stdin=None if input is not None else subprocess.DEVNULL)


def s_client(port, *args, timeout=20):
    """`openssl s_client -connect 127.0.0.1:PORT -CAfile ca ARGS` with empty stdin."""
    cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", certs().ca] + list(args)
    return subprocess.run(cmd, input=b"", capture_output=True, timeout=timeout)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def wait_until(pred, timeout=5.0, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return bool(pred())


# ---------------------------------------------------------------------------------------------
# TestCase
# ---------------------------------------------------------------------------------------------
class CiapTestCase(unittest.TestCase):
    """Starts nothing by itself; its helpers register cleanups for all they start."""

    maxDiff = 4000

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ciap-it-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self._ciaps = []

    def assert_secret_nowhere(self, *secrets, bodies=()):
        """None of `secrets` in self.ciap's stderr, stdout, access log, metrics, /config or
        /jwks-status, nor in `bodies` (error bodies the test received)."""
        places = {
            "stderr": "\n".join(self.ciap.stderr_lines),
            "stdout": "\n".join(self.ciap.stdout_lines),
            "access log": json.dumps(self.ciap.access_log()),
            "metrics": self.ciap.metrics().text,
            "/config": self.ciap.admin_get("/config")[2].decode(),
            "/jwks-status": self.ciap.admin_get("/jwks-status")[2].decode(),
            **{f"error body {i}": body for i, body in enumerate(bodies)},
        }
        for secret in secrets:
            self.assertTrue(secret)
            for where, text in places.items():
                self.assertNotIn(secret, text, f"a secret in {where}")

    def start_upstream(self, name="app", tls=False, **kw):
        c = certs()
        if tls:
            kw.setdefault("cert", c.upstream_crt)
            kw.setdefault("key", c.upstream_key)
        up = Upstream(name=name, **kw).start()
        self.addCleanup(up.stop)
        return up

    def start_ciap(self, config, args=(), access_log="file", timeout=START_TIMEOUT, env=None):
        d = tempfile.mkdtemp(dir=self.tmp, prefix="ciap-")
        p = Ciap(config, d, args=args, access_log=access_log, env=env)
        self.addCleanup(self._stop_ciap, p)
        p.start(timeout=timeout)
        return p

    def _stop_ciap(self, p):
        rc = p.stop()
        if self._failed() or (rc not in (0, None, -signal.SIGTERM)):
            log(f"ciap pid {p.proc.pid if p.proc else '?'} exit code {rc}; stderr tail:\n"
                + p.stderr_tail(25))

    def _failed(self):
        outcome = getattr(self, "_outcome", None)
        if outcome is None:
            return False
        result = getattr(outcome, "result", None)
        if result is not None:
            for t, _ in list(result.failures) + list(result.errors):
                if t is self:
                    return True
        return not getattr(outcome, "success", True)

    def proxy(self, routes=None, upstream=None, listener_kw=None, tls=True, upstreams=None,
              args=(), access_log="file"):
        """One listener ("agents" TLS or "plain") with routes to upstream "app"."""
        if upstreams is None:
            upstreams = [upstream_cfg("app", upstream)]
        if routes is None:
            routes = [route("all", "app")]
        lk = dict(listener_kw or {})
        lst = tls_listener("agents", routes, **lk) if tls else plain_listener("plain", routes, **lk)
        return self.start_ciap(make_config(upstreams, [lst]), args=args, access_log=access_log)
