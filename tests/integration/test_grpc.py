#!/usr/bin/env python3
"""gRPC end to end through ciap, on upstreams with `protocol: http2`: a real python3-grpcio
server behind ciap (h2c in plain, and TLS with ALPN h2) and a real python3-grpcio client in
front of it (grpc_peer.py). Unary calls with metadata both ways and trailers back, 1,000-message
server streaming, client streaming with 6.4 MiB of messages, the upstream's own error status,
deadlines (the client's cancels the upstream's call; ciap enforces grpc-timeout itself when
the upstream does not), calls multiplexed on one upstream connection, and ciap's own
UNAUTHENTICATED / PERMISSION_DENIED / UNAVAILABLE. An upstream that does not select h2 in ALPN
is refused with 502, never spoken to in HTTP/1.1."""

import base64
import hashlib
import json
import os
import queue
import struct
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ciaptest import (CiapTestCase, certs, make_config, plain_listener, route,  # noqa: E402
                      tls_listener, upstream_cfg)
from test_http2 import PEER, python_with  # noqa: E402
from test_identity import buildkite_callers, require_node, vendor_payloads  # noqa: E402

GRPC_PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "grpc_peer.py")


class GrpcServer:
    """grpc_peer.py serve, with its events collected."""

    def __init__(self, python, tls=False):
        args = [python, GRPC_PEER, "serve"]
        if tls:
            args += ["--tls", certs().upstream_crt, certs().upstream_key]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.events = queue.Queue()
        self.seen = []
        ready = queue.Queue()

        def read():
            for line in self.proc.stdout:
                if line.startswith("PORT "):
                    ready.put(int(line.split()[1]))
                elif line.startswith("{"):
                    self.events.put(json.loads(line))

        threading.Thread(target=read, daemon=True).start()
        self.port = ready.get(timeout=30)

    def drain(self):
        while True:
            try:
                self.seen.append(self.events.get_nowait())
            except queue.Empty:
                return self.seen

    def wait_event(self, pred, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in self.drain():
                if pred(e):
                    return e
            time.sleep(0.05)
        return None

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def grpc_frame(payload):
    return b"\x00" + struct.pack(">I", len(payload)) + payload


class GrpcTest(CiapTestCase):
    def setUp(self):
        super().setUp()
        require_node()
        self.python = python_with("grpc")
        self.h2_python = python_with("h2")
        if self.python is None or self.h2_python is None:
            self.skipTest("needs python3-grpcio and python3-h2")
        base = vendor_payloads(int(time.time()))["buildkite"]
        self.tokens, provider = buildkite_callers(self.tmp, [base])
        self.plain = GrpcServer(self.python)
        self.addCleanup(self.plain.stop)
        self.tls = GrpcServer(self.python, tls=True)
        self.addCleanup(self.tls.stop)
        h1_tls = self.start_upstream("h1tls", tls=True)
        # An HTTP/2 upstream that ignores grpc-timeout: a second ciap (h2c listener) in front
        # of the HTTP/1.1 test upstream and its /delay.
        self.h1 = self.start_upstream()
        inner = self.start_ciap(make_config(
            [upstream_cfg("app", f"127.0.0.1:{self.h1.port}")],
            [plain_listener("inner", [route("all", "app", timeout="10s")])]))

        def grpc_route(name, upstream, prefix="/ciap.test.Echo/", **kw):
            r = route(name, upstream, match={"path_prefix": prefix},
                      request_headers={"identity": True}, authenticate=True, **kw)
            r.pop("public")
            return r

        denied = route("denied", "cache", match={"path_prefix": "/denied."}, allow=["nobody"])
        denied.pop("public")
        tls_ca = {"ca_file": certs().ca, "sni": "localhost"}
        upstreams = [
            upstream_cfg("cache", f"127.0.0.1:{self.plain.port}", protocol="http2"),
            upstream_cfg("cache-tls", f"127.0.0.1:{self.tls.port}", protocol="http2", tls=tls_ca),
            upstream_cfg("h1only", f"127.0.0.1:{h1_tls.port}", protocol="http2", tls=tls_ca),
            upstream_cfg("dead", "127.0.0.1:1", protocol="http2"),
            upstream_cfg("slow", f"127.0.0.1:{inner.port('inner')}", protocol="http2"),
        ]
        routes_plain = [denied,
                        grpc_route("h1only", "h1only", prefix="/h1only."),
                        grpc_route("dead", "dead", prefix="/dead."),
                        grpc_route("slow", "slow", prefix="/delay/"),
                        grpc_route("cache", "cache")]
        routes_tls = [grpc_route("cache-tls", "cache-tls")]
        cfg = make_config(upstreams, [tls_listener("agents", routes_plain),
                                      tls_listener("secure-upstream", routes_tls)])
        cfg["identity_providers"] = [provider]
        cfg["groups"] = {"nobody": {"any": [{"provider": "buildkite",
                                             "claims": {"pipeline_slug": ["no-such-pipeline"]}}]}}
        self.ciap = self.start_ciap(cfg, args=["--concurrency", "1"])

    def calls(self, calls, listener="agents", token=None):
        script = os.path.join(self.tmp, f"calls-{time.monotonic_ns()}.json")
        with open(script, "w") as f:
            json.dump({"calls": calls}, f)
        out = subprocess.run([self.python, GRPC_PEER, "call", str(self.ciap.port(listener)),
                              certs().ca, token or self.tokens[0], script],
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        return [json.loads(line) for line in out.stdout.splitlines()]

    def test_unary_with_metadata_both_ways_and_trailers_on_h2c_and_tls_upstreams(self):
        for listener in ("agents", "secure-upstream"):
            [r] = self.calls([{"method": "Unary", "request": "hello"}], listener=listener)
            self.assertEqual(r["code"], "OK", r)
            response = json.loads(r["response"])
            self.assertEqual(response["payload"], "hello")
            seen = response["metadata"]
            # The upstream gets the caller's identity from ciap, never the caller's token.
            self.assertIn("x-ciap-subject", seen)
            self.assertNotIn("authorization", seen)
            self.assertEqual(seen["x-forwarded-proto"], "https")
            # Initial metadata and trailers come back through ciap.
            self.assertEqual(r["initial"]["x-echo-subject"], seen["x-ciap-subject"])
            self.assertEqual(r["trailing"], {"x-trailer": "done"})
        self.assertTrue(self.tls.wait_event(lambda e: e.get("method") == "Unary"))
        access = self.ciap.wait_access(lambda a: a.get("route") == "cache-tls")
        self.assertEqual(access[0]["status"], 200)

    def test_server_streaming_1000_messages_in_order_with_trailers(self):
        [r] = self.calls([{"method": "Stream", "kind": "stream", "request": "1000:64"}])
        self.assertEqual((r["code"], r["count"], r["in_order"]), ("OK", 1000, True), r)
        self.assertEqual(r["bytes"], 64000)
        self.assertEqual(r["trailing"], {"x-count": "1000"})

    def test_client_streaming_uploads_every_byte(self):
        [r] = self.calls([{"method": "Collect", "kind": "client", "size": 65536, "count": 100}])
        self.assertEqual(r["code"], "OK", r)
        got = json.loads(r["response"])
        digest = hashlib.sha256(b"".join(bytes([i % 251]) * 65536 for i in range(100)))
        self.assertEqual((got["count"], got["length"], got["sha256"]),
                         (100, 6553600, digest.hexdigest()))

    def test_bidirectional_streaming_is_full_duplex(self):
        # Each message waits for the answer to the one before: ciap relays both directions of
        # one stream at once.
        [r] = self.calls([{"method": "Chat", "kind": "bidi", "count": 200, "timeout": 30}])
        self.assertEqual(r["code"], "OK", r)
        self.assertEqual((r["answers"], r["in_order"]), (200, True), r)

    def test_upstream_error_status_and_details_pass_through(self):
        [r] = self.calls([{"method": "Fail"}, {"method": "Unary"}])[:1]
        self.assertEqual((r["code"], r["details"]), ("NOT_FOUND", "no such blob"), r)
        # The access log has the gRPC status, which HTTP (200) does not say.
        failed = self.ciap.wait_access(lambda a: a.get("path") == "/ciap.test.Echo/Fail")[0]
        self.assertEqual((failed["status"], failed.get("grpc_status")), (200, 5), failed)
        ok = self.ciap.wait_access(lambda a: a.get("path") == "/ciap.test.Echo/Unary")[0]
        self.assertEqual(ok.get("grpc_status"), 0, ok)

    def test_client_deadline_cancels_the_upstream_call(self):
        [r] = self.calls([{"method": "Slow", "request": "5", "timeout": 0.5}])
        self.assertEqual(r["code"], "DEADLINE_EXCEEDED", r)
        # ciap forwarded what was left of the deadline, and the upstream call ended with it
        # (not after its 5 s).
        call = self.plain.wait_event(lambda e: e.get("method") == "Slow" and "time_remaining" in e)
        self.assertIsNotNone(call)
        self.assertIsNotNone(call["time_remaining"])
        self.assertLess(call["time_remaining"], 0.6)
        cancelled = self.plain.wait_event(lambda e: e.get("event") == "cancelled")
        self.assertIsNotNone(cancelled, self.plain.seen)
        self.assertLess(cancelled["after_ms"], 2000)

    def test_ciap_enforces_grpc_timeout_when_the_upstream_does_not(self):
        # A raw HTTP/2 client that does not enforce its own grpc-timeout, against an upstream
        # that ignores it (/delay/3000 behind another ciap): ciap answers DEADLINE_EXCEEDED.
        body = base64.b64encode(grpc_frame(b"x")).decode()
        request = {"requests": [{"method": "POST", "path": "/delay/3000",
                                 "headers": [["authorization", "Bearer " + self.tokens[0]],
                                             ["content-type", "application/grpc"],
                                             ["te", "trailers"], ["grpc-timeout", "300m"]],
                                 "body_b64": body}],
                   "timeout": 10}
        start = time.monotonic()
        out = subprocess.run([self.h2_python, PEER, str(self.ciap.port()), "--tls",
                              "--ca", certs().ca], input=json.dumps(request),
                             capture_output=True, text=True, timeout=60)
        elapsed = time.monotonic() - start
        self.assertEqual(out.returncode, 0, out.stderr)
        [result] = json.loads(out.stdout)["results"]
        headers = dict(result["headers"])
        self.assertEqual((result["status"], headers.get("grpc-status")), (200, "4"), result)
        self.assertEqual(headers.get("grpc-message"), "upstream_timeout")
        self.assertLess(elapsed, 2.5)
        # The upstream was told the time left (in milliseconds), not the client's raw value.
        [seen] = [r for r in self.h1.requests if r["path"] == "/delay/3000"]
        timeouts = [v for k, v in seen["headers"] if k.lower() == "grpc-timeout"]
        self.assertEqual(len(timeouts), 1, seen["headers"])
        self.assertRegex(timeouts[0], r"^[0-9]{1,3}m$")

    def test_calls_are_multiplexed_on_one_upstream_connection(self):
        self.plain.drain()
        results = self.calls([{"method": "Unary", "request": str(i), "parallel": True}
                              for i in range(50)])
        self.assertEqual([r["code"] for r in results], ["OK"] * 50)
        peers = {e["peer"] for e in self.plain.drain()
                 if e.get("method") == "Unary" and e.get("event") == "call"}
        self.assertEqual(len(peers), 1, peers)  # one worker, one connection, 50 streams

    def test_ciaps_own_replies_are_grpc_statuses(self):
        [r] = self.calls([{"method": "Unary"}], token="-")
        self.assertEqual((r["code"], r["details"]), ("UNAUTHENTICATED", "missing_token"))
        refused = self.ciap.wait_access(lambda a: a.get("status") == 401)[0]
        self.assertEqual(refused.get("grpc_status"), 16, refused)
        out = subprocess.run([self.python, "-c", DENIED_CALL, str(self.ciap.port()), certs().ca,
                              self.tokens[0]], capture_output=True, text=True, timeout=60)
        self.assertEqual(out.stdout.split(), ["PERMISSION_DENIED", "no_allowed_group",
                                              "UNAVAILABLE", "upstream_connect_failed"],
                         out.stderr)
        self.assertFalse([e for e in self.plain.drain() if e.get("event") == "call"])

    def test_upstream_without_h2_in_alpn_is_refused(self):
        out = subprocess.run([self.python, "-c", DENIED_CALL.replace("/denied.", "/h1only."),
                              str(self.ciap.port()), certs().ca, self.tokens[0]],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.stdout.split()[:2], ["UNAVAILABLE", "upstream_connect_failed"],
                         out.stderr)
        self.assertTrue(self.ciap.events_named("upstream did not negotiate HTTP/2"))
        metrics = self.ciap.metrics()
        self.assertGreaterEqual(metrics.value("ciap_upstream_requests_total",
                                              upstream="h1only", code="connect_error"), 1)


# One call to /denied.Svc/Get and one to /dead.Svc/Get: "CODE details" each.
DENIED_CALL = """
import sys, grpc
port, ca, token = sys.argv[1], sys.argv[2], sys.argv[3]
creds = grpc.ssl_channel_credentials(open(ca, "rb").read())
channel = grpc.secure_channel(f"127.0.0.1:{port}", creds,
                              options=[("grpc.ssl_target_name_override", "localhost")])
for method in ("/denied.Svc/Get", "/dead.Svc/Get"):
    try:
        channel.unary_unary(method)(b"", metadata=[("authorization", "Bearer " + token)],
                                    timeout=10)
        print("OK -")
    except grpc.RpcError as e:
        print(e.code().name, e.details())
"""

if __name__ == "__main__":
    unittest.main()
