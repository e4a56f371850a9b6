"""What ciap's emulators of identity services share: the server, its fault modes, its records.

ciap asks outside services what an opaque credential means (GitLab for a job or access token,
AWS STS for a presigned GetCallerIdentity URL). The tests put an emulator of each in the place
of the real service (gitlab_emulator.py, sts_emulator.py). Each answers its own protocol; what
they have in common is here, so that both behave the same where the tests expect them to:

  - Emulator: an http.server with one thread per connection, HTTP/1.1 keep-alive, plain or TLS
    (the handshake happens in the connection's thread), on 127.0.0.1:<port> (port 0 = any free
    port); start()/stop() or `with`; url and address; stop() also shuts the connections that
    are still open, so that no keep-alive connection of a client outlives the emulator.
  - Fault modes (set_mode), the ways a service fails a proxy must survive: "normal"; "down"
    reads the request and closes the connection without an answer; "slow" sleeps slow_seconds
    (default 5) before answering normally; "garbage" answers 200 with a body the client cannot
    parse; "error" answers 500. What "garbage" and "error" look like is each service's own.
  - A record of every request received, in any mode, in arrival order (requests): method,
    path, query (dict, first value of each name), raw_query, headers (dict of lower-case names,
    repeated headers joined with ", "), status (None until answered, and for "down"), the
    emulator's own fields, time; reset_counts() forgets them.
  - The command line's common part (--cert, --key, --port; "listening 127.0.0.1:PORT", then
    serving until SIGTERM/SIGINT) and the self-tests' common part (certificates from
    scripts/gen-certs, one request on a connection of its own).

Standard library only.
"""

import argparse
import atexit
import os
import shutil
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODES = ("normal", "down", "slow", "garbage", "error")


def first_values(raw_query):
    """The query as a dict: each name with its first value."""
    out = {}
    for name, value in urllib.parse.parse_qsl(raw_query, keep_blank_values=True):
        out.setdefault(name, value)
    return out


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner, address):
        self.owner = owner
        super().__init__(address, owner.handler)

    def server_bind(self):
        # HTTPServer.server_bind would resolve the host name (getfqdn): not needed here.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address):
        pass  # TLS handshake failures and clients going away are not the emulator's errors


class Handler(BaseHTTPRequestHandler):
    """One connection to an emulator: reads each request, records it, applies the fault mode,
    and leaves the answer to the service's own handler.

    A subclass says what the service calls itself (server_version), which fields of its own
    each request record has (extra_record_fields, None until it sets them), and answers with
    _garbage, _failure and _handle; each returns the HTTP status it answered, the record's
    status.
    """

    protocol_version = "HTTP/1.1"
    server_version = "emulator"
    extra_record_fields = ()
    timeout = 60  # idle keep-alive connections

    def log_message(self, *args):
        pass

    def version_string(self):
        return self.server_version

    def setup(self):
        super().setup()
        self.server.owner._track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.owner._track(self.connection, False)

    def _read_body(self):
        """The request's body (Content-Length or chunked, trailers skipped), as bytes."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self):
        owner = self.server.owner
        body = self._read_body()
        target = urllib.parse.urlsplit(self.path)
        record = {
            "method": self.command,
            "path": target.path,
            "query": first_values(target.query),
            "raw_query": target.query,
            "headers": {k.lower(): ", ".join(self.headers.get_all(k))
                        for k in dict.fromkeys(self.headers.keys())},
            "status": None,
            **dict.fromkeys(self.extra_record_fields),
            "time": time.time(),
        }
        owner._record(record)
        mode = owner.mode
        if mode == "down":
            self.close_connection = True
            return
        if mode == "slow":
            time.sleep(owner.slow_seconds)
        if mode == "garbage":
            record["status"] = self._garbage(record)
        elif mode == "error":
            record["status"] = self._failure(record)
        else:
            record["status"] = self._handle(record, target, body)

    def _garbage(self, record):
        """Mode "garbage": 200 with a body the service's clients cannot parse."""
        raise NotImplementedError

    def _failure(self, record):
        """Mode "error": the service's 500."""
        raise NotImplementedError

    def _handle(self, record, target, body):
        """The service's answer; target: the request target, urllib.parse.urlsplit'd."""
        raise NotImplementedError

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _serve


class Emulator:
    """A service emulator's server on host:port, plain (cert None) or TLS, with fault modes and
    a record of the requests.

    A subclass names its Handler subclass (handler) and its serving thread (thread_name); it may
    keep counts of its own, cleared with the records in _clear_counts.
    """

    handler = Handler
    thread_name = "emulator"

    def __init__(self, cert=None, key=None, host="127.0.0.1", port=0):
        self.host = host
        self._want_port = port
        self._tls = None
        if cert:
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls.load_cert_chain(cert, key)
            self._tls.set_alpn_protocols(["http/1.1"])
        self._lock = threading.Lock()
        self._requests = []
        self._conns = set()
        self.mode = "normal"
        self.slow_seconds = 5.0
        self._server = None
        self._thread = None
        self.port = None

    # ----- lifecycle -----
    def start(self):
        self._server = _Server(self, (self.host, self._want_port))
        if self._tls:
            # The handshake happens in the connection's thread, on its first read.
            self._server.socket = self._tls.wrap_socket(self._server.socket, server_side=True,
                                                        do_handshake_on_connect=False)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={
            "poll_interval": 0.1}, daemon=True, name=self.thread_name)
        self._thread.start()
        return self

    def stop(self):
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(5)
        self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        return f"{'https' if self._tls else 'http'}://{self.host}:{self.port}"

    @property
    def address(self):
        return f"{self.host}:{self.port}"

    # ----- modes and observations -----
    def set_mode(self, mode):
        """"normal", "down", "slow", "garbage" or "error" (see the module's docstring)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.mode = mode

    @property
    def requests(self):
        """Copies of the request records, in arrival order (see the module's docstring)."""
        with self._lock:
            return [dict(r) for r in self._requests]

    def reset_counts(self):
        """Forgets the requests received so far, and the subclass's own counts."""
        with self._lock:
            self._requests.clear()
            self._clear_counts()

    def _clear_counts(self):
        """Called by reset_counts, holding the lock."""

    def _record(self, record):
        with self._lock:
            self._requests.append(record)

    def _track(self, conn, add):
        with self._lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)


# ---------------------------------------------------------------------------------------------
# Command line and self-tests
# ---------------------------------------------------------------------------------------------
def argument_parser(doc):
    """The command line's parser, described by doc's first line, with --cert, --key, --port;
    the emulator adds its own options, then calls parse_arguments."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--port", type=int, default=0)
    return ap


def parse_arguments(ap, self_test):
    """Adds --self-test (last) and parses the command line; with --self-test, runs self_test()
    and exits with its status instead of returning."""
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    if args.self_test:
        sys.exit(self_test())
    return args


def serve_until_signalled(emulator):
    """Prints "listening HOST:PORT" (what a script starting the emulator waits for), serves
    until SIGTERM or SIGINT, then stops the emulator; returns the exit status, 0."""
    print(f"listening {emulator.address}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    while not stop.wait(0.5):
        pass
    emulator.stop()
    return 0


def self_test_certificates(prefix):
    """A test CA and a server certificate for 127.0.0.1 (scripts/gen-certs), in a temporary
    folder removed at exit: (ca, cert, key) file names."""
    here = os.path.dirname(os.path.abspath(__file__))
    d = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, d, True)
    subprocess.run([os.path.join(here, "..", "..", "scripts", "gen-certs"), d], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return tuple(os.path.join(d, f) for f in ("ca.crt", "server.crt", "server.key"))


def call(url, ca=None, headers=(), method="GET"):
    """One request on a connection of its own -> (status, body as text, response headers).

    https is verified against ca. headers: a dict or a list of (name, value) pairs (repeats
    allowed); Host is the URL's unless headers name one. No Accept-Encoding, no body.
    """
    import http.client
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=10,
                                           context=ssl.create_default_context(cafile=ca))
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    headers = list(headers.items() if isinstance(headers, dict) else headers)
    try:
        conn.putrequest(method, parts.path + ("?" + parts.query if parts.query else ""),
                        skip_host=any(n.lower() == "host" for n, _ in headers),
                        skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        conn.endheaders()
        r = conn.getresponse()
        return r.status, r.read().decode(), r.headers
    finally:
        conn.close()


def self_test_result(name, failures):
    """Prints the failures, or that all went well; the exit status (1 or 0)."""
    if failures:
        print("\n".join(["FAILED:"] + failures))
        return 1
    print(f"{name} self-test: all ok")
    return 0
