#!/usr/bin/env python3
"""HTTP/2 downstream (ALPN h2 on TLS listeners, h2c with prior knowledge on plaintext ones) with
real clients: curl --http2 / --http2-prior-knowledge, a python3-h2 client (h2_peer.py) holding
many streams on one connection, and python3-grpcio for ciap's own gRPC replies. Every stream is
decided on its own (its token, its route), bodies stream both ways with their digests intact,
and the listener's limits hold per stream (header list size, concurrent streams)."""

import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ciaptest import (CiapTestCase, certs, curl, make_config, plain_listener,  # noqa: E402
                      route, tls_listener, upstream_cfg)
from test_identity import buildkite_callers, require_node, vendor_payloads  # noqa: E402
from upstream import pattern_sha256  # noqa: E402

PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "h2_peer.py")
GRPC_CALL = """
import sys, grpc
port, ca, token, method = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
creds = grpc.ssl_channel_credentials(open(ca, "rb").read())
channel = grpc.secure_channel(f"127.0.0.1:{port}", creds,
                              options=[("grpc.ssl_target_name_override", "localhost")])
call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
metadata = [("authorization", "Bearer " + token)] if token != "-" else []
try:
    call(b"\\x00", metadata=metadata, timeout=10)
    print("OK")
except grpc.RpcError as e:
    print(e.code().name, e.details())
"""


def python_with(module):
    """An interpreter that has `module` (this one, or Debian's)."""
    for python in (sys.executable, "/usr/bin/python3"):
        if os.path.exists(python) and subprocess.run(
                [python, "-c", f"import {module}"], capture_output=True).returncode == 0:
            return python
    return None


class Http2Test(CiapTestCase):
    def setUp(self):
        super().setUp()
        require_node()
        self.h2_python = python_with("h2")
        if self.h2_python is None:
            self.skipTest("needs python3-h2")
        base = vendor_payloads(int(time.time()))["buildkite"]
        payloads = [dict(base, sub=f"{base['sub']}-{i}", jti=f"jti-{i}") for i in range(25)]
        self.tokens, provider = buildkite_callers(self.tmp, payloads)
        self.up = self.start_upstream()
        secure = route("secure", "app", match={"path_prefix": "/secure"}, authenticate=True,
                       request_headers={"identity": True})
        denied = route("denied", "app", match={"path_prefix": "/denied"}, allow=["nobody"])
        dead = route("dead", "dead", match={"path_prefix": "/dead"})
        anything = route("open", "app", match={"path_prefix": "/"})
        for r in (secure, denied):
            r.pop("public")
        routes = [secure, denied, dead, anything]
        cfg = make_config([upstream_cfg("app", f"127.0.0.1:{self.up.port}"),
                           upstream_cfg("dead", "127.0.0.1:1")],
                          [tls_listener("agents", routes,
                                        limits={"max_concurrent_streams": 60,
                                                "max_header_bytes": 8192}),
                           plain_listener("plain", routes),
                           tls_listener("h1only", routes, http2=False)])
        cfg["identity_providers"] = [provider]
        cfg["groups"] = {"nobody": {"any": [{"provider": "buildkite",
                                             "claims": {"pipeline_slug": ["no-such-pipeline"]}}]}}
        self.ciap = self.start_ciap(cfg)

    def peer(self, requests, listener="agents", tls=True, **spec):
        spec["requests"] = requests
        cmd = [self.h2_python, PEER, str(self.ciap.port(listener))]
        if tls:
            cmd += ["--tls", "--ca", certs().ca]
        out = subprocess.run(cmd, input=json.dumps(spec), capture_output=True, text=True,
                             timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        return json.loads(out.stdout)

    def test_curl_speaks_h2_over_tls_and_h2c_with_prior_knowledge(self):
        tls = curl("--http2", "-w", "\n%{http_version} %{http_code}", "-b", "a=1", "-b", "b=2",
                   f"https://localhost:{self.ciap.port('agents')}/echo")
        body, _, meta = tls.stdout.decode().rpartition("\n")
        self.assertEqual(meta, "2 200", tls.stderr)
        echoed = json.loads(body)
        headers = {k.lower(): v for k, v in echoed["headers"]}
        self.assertEqual(echoed["version"], "HTTP/1.1")  # the upstream hop stays HTTP/1.1
        self.assertEqual(headers["host"], f"localhost:{self.ciap.port('agents')}")
        self.assertEqual(headers["x-forwarded-proto"], "https")
        plain = curl("--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
                     f"http://127.0.0.1:{self.ciap.port('plain')}/echo")
        self.assertEqual(plain.stdout.decode(), "2 200", plain.stderr)
        # http2: false offers only http/1.1, and takes no h2c.
        h1 = curl("--http2", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
                  f"https://localhost:{self.ciap.port('h1only')}/echo")
        self.assertEqual(h1.stdout.decode(), "1.1 200", h1.stderr)
        log = self.ciap.wait_access(lambda r: r.get("path") == "/echo", count=3)
        self.assertTrue(all(r["status"] == 200 for r in log))

    def test_fifty_streams_on_one_connection_are_decided_each_on_its_own(self):
        requests = []
        for i in range(50):
            token = self.tokens[i // 2] if i % 2 == 0 else "not-a-token"
            requests.append({"path": f"/secure/{i}",
                             "headers": [["authorization", f"Bearer {token}"]]})
        out = self.peer(requests)
        self.assertIsNone(out["goaway"])
        statuses = [r["status"] for r in out["results"]]
        self.assertEqual(statuses, [200 if i % 2 == 0 else 401 for i in range(50)])
        seen = {r["path"]: {k.lower(): v for k, v in r["headers"]} for r in self.up.requests
                if r["path"].startswith("/secure/")}
        self.assertEqual(sorted(seen), sorted(f"/secure/{i}" for i in range(0, 50, 2)))
        for i in range(0, 50, 2):
            self.assertTrue(seen[f"/secure/{i}"]["x-ciap-subject"].endswith(f"-{i // 2}"))
            self.assertNotIn("authorization", seen[f"/secure/{i}"])

    def test_request_ids_are_never_indexed_in_hpack(self):
        # A request id is new in every response: HPACK's dynamic table must not take it (it
        # would cost both ends an insertion and an eviction per response). Stable fields still
        # may be indexed. Proxied answers and ciap's own replies alike.
        out = self.peer([{"path": "/echo"}, {"path": "/echo"},
                         {"path": "/secure/x", "headers": [["authorization", "Bearer nope"]]}])
        statuses = [r["status"] for r in out["results"]]
        self.assertEqual(statuses, [200, 200, 401])
        for result in out["results"]:
            names = [name for name, _ in result["headers"]]
            self.assertIn("x-request-id", names)
            self.assertIn("x-request-id", result["never_indexed"])
            self.assertNotIn("content-type", result["never_indexed"])

    def test_fifty_mib_up_and_down_keep_their_digests(self):
        size = 50 << 20
        upload = os.path.join(self.tmp, "upload.bin")
        with open(upload, "wb") as f:
            f.write(os.urandom(size))
        with open(upload, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        up = curl("--http2", "--data-binary", f"@{upload}", "-H", "content-type: application/x",
                  f"https://localhost:{self.ciap.port('agents')}/echo")
        echoed = json.loads(up.stdout)
        self.assertEqual((echoed["body_length"], echoed["body_sha256"]), (size, digest))
        out = os.path.join(self.tmp, "download.bin")
        down = curl("--http2", "-o", out, "-w", "%{http_version} %{http_code}",
                    f"https://localhost:{self.ciap.port('agents')}/bytes/{size}")
        self.assertEqual(down.stdout.decode(), "2 200", down.stderr)
        with open(out, "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(), pattern_sha256(size))

    def test_grpc_clients_get_grpc_statuses_from_ciaps_own_replies(self):
        python = python_with("grpc")
        if python is None:
            self.skipTest("needs python3-grpcio")
        port = str(self.ciap.port("agents"))

        def call(token, method):
            out = subprocess.run([python, "-c", GRPC_CALL, port, certs().ca, token, method],
                                 capture_output=True, text=True, timeout=60)
            self.assertEqual(out.returncode, 0, out.stderr)
            return out.stdout.strip()

        self.assertEqual(call("-", "/secure.Svc/Get"), "UNAUTHENTICATED missing_token")
        self.assertEqual(call(self.tokens[0], "/denied.Svc/Get"),
                         "PERMISSION_DENIED no_allowed_group")
        self.assertEqual(call(self.tokens[0], "/dead.Svc/Get").split()[0], "UNAVAILABLE")
        self.assertEqual(self.up.request_count, 0)

    def test_header_list_over_the_limit_is_431_on_that_stream_only(self):
        big = [["x-big-" + str(i), "v" * 1000] for i in range(12)]  # ~12 KiB > 8 KiB
        out = self.peer([{"path": "/echo", "headers": big}, {"path": "/echo"}])
        self.assertEqual([r["status"] for r in out["results"]], [431, 200])
        self.assertIn("header_too_large", out["results"][0]["body"])
        self.assertEqual(self.up.request_count, 1)

    def test_protocol_violations_are_stream_errors_that_never_reach_the_upstream(self):
        bad = [
            # a connection-specific header
            {"path": "/echo", "headers": [["connection", "keep-alive"]]},
            # an unknown pseudo-header
            {"path": "/echo", "headers": [[":foo", "bar"]]},
            # content-length that the DATA does not match
            {"method": "POST", "path": "/echo", "headers": [["content-length", "10"]],
             "body_b64": base64.b64encode(b"12345").decode()},
            # upper-case header name
            {"path": "/echo", "headers": [["X-Upper", "1"]]},
        ]
        out = self.peer(bad + [{"path": "/echo"}], raw_headers=True)
        results = out["results"]
        for r in results[:4]:
            self.assertIsNotNone(r["reset"], r)  # RST_STREAM, not an answer
        self.assertEqual(results[4]["status"], 200)
        complete = [r for r in self.up.requests if r["path"] == "/echo"
                    and r.get("body_length", 0) in (0, 10)]
        # Only the well-formed request arrived (a mismatched body never completes upstream).
        self.assertEqual(len([r for r in complete if r["method"] == "GET"]), 1)

    def test_drain_sends_goaway_and_finishes_open_streams(self):
        # nghttp (nghttp2-client) prints the frames it receives; python3-h2 stops reading at a
        # GOAWAY, so it cannot see a stream finish after one.
        if not shutil.which("nghttp"):
            self.skipTest("needs nghttp (nghttp2-client)")
        client = subprocess.Popen(["nghttp", "-nv", f"https://localhost:{self.ciap.port()}/delay/1500"],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(0.5)  # the stream is open, waiting for the upstream
        self.ciap.signal(signal.SIGTERM)
        out, _ = client.communicate(timeout=30)
        goaway = out.index("recv GOAWAY frame")
        self.assertIn("error_code=NO_ERROR", out[goaway:])
        self.assertIn("last_stream_id=13", out[goaway:])  # nghttp's first request stream
        self.assertIn(":status: 200", out[goaway:])  # the open stream finished after it
        self.assertEqual(self.ciap.wait(20), 0)


class Http2StreamDeadlineTest(CiapTestCase):
    """An HTTP/2 stream's deadline times the upstream connection while its exchange runs; once
    the exchange is over, that connection goes back to the pool, which may close it. A deadline
    still pointing at it would, once due, touch freed memory (a crash seen under load)."""

    def test_a_finished_stream_leaves_no_deadline_on_its_upstream_connection(self):
        up = self.start_upstream()
        routes = [route("short", "app", match={"path_prefix": "/short"}, timeout="1s"),
                  route("slow", "app", match={"path_prefix": "/delay"}, timeout="10s")]
        # The pool closes the idle connection long before the short route's timeout is due.
        upstream = upstream_cfg("app", f"127.0.0.1:{up.port}", idle_timeout="300ms")
        self.ciap = self.start_ciap(make_config([upstream], [tls_listener("agents", routes)]),
                                    args=["--concurrency", "1"])
        url = f"https://localhost:{self.ciap.port()}"
        for _ in range(2):
            first = curl("--http2", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
                         f"{url}/short/x")
            self.assertEqual(first.stdout.decode(), "2 200", first.stderr)
            time.sleep(1.6)  # the pool closed the connection; the 1 s timeout is past
            self.assertTrue(self.ciap.running())
            slow = curl("-o", "/dev/null", "-w", "%{http_code}", f"{url}/delay/300")
            self.assertEqual(slow.stdout.decode(), "200", slow.stderr)
        self.assertEqual(self.ciap.metrics().value("ciap_upstream_requests_total",
                                                   upstream="app", code="reset"), 0)

if __name__ == "__main__":
    unittest.main()
