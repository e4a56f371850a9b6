#!/usr/bin/env python3
"""WebSocket through ciap (routes with `websocket: true`), with python3-websockets on both ends
(ws_peer.py): the upgrade is authorized like any request, then the connection is carried both
ways (text and binary messages, one of 1 MiB) until either side closes or the listener's
idle_timeout passes with nothing moving. Without a token the upgrade is refused and the
upstream sees nothing; on a route without `websocket: true`, Upgrade never reaches the upstream.
"""

import json
import os
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ciaptest import (CiapTestCase, certs, conn, make_config, route,  # noqa: E402
                      tls_listener, upstream_cfg)
from test_identity import buildkite_callers, require_node, vendor_payloads  # noqa: E402

PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ws_peer.py")


def websockets_python():
    """An interpreter with python3-websockets (this one, or Debian's)."""
    for python in (sys.executable, "/usr/bin/python3"):
        if os.path.exists(python) and subprocess.run(
                [python, "-c", "import websockets"], capture_output=True).returncode == 0:
            return python
    return None


class EchoServer:
    def __init__(self, python):
        self.proc = subprocess.Popen([python, PEER, "serve"], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        self.port = json.loads(self.proc.stdout.readline())["listening"]
        self.handshakes = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.handshakes.append(json.loads(line)["headers"])

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.proc.stdout.close()


class WebSocketTest(CiapTestCase):
    def setUp(self):
        super().setUp()
        self.python = websockets_python()
        if self.python is None:
            self.skipTest("needs python3-websockets")
        require_node()
        payload = vendor_payloads(int(time.time()))["buildkite"]
        (self.token,), provider = buildkite_callers(self.tmp, [payload])
        self.echo = EchoServer(self.python)
        self.addCleanup(self.echo.stop)
        self.up = self.start_upstream()
        events = route("events", "ws", match={"path_prefix": "/events"}, authenticate=True,
                       websocket=True, request_headers={"identity": True})
        plain = route("plain", "app", match={"path_prefix": "/"}, authenticate=True)
        for r in (events, plain):
            r.pop("public")
        cfg = make_config([upstream_cfg("ws", f"127.0.0.1:{self.echo.port}"),
                           upstream_cfg("app", f"127.0.0.1:{self.up.port}")],
                          [tls_listener("agents", [events, plain],
                                        limits={"idle_timeout": "2s"})])
        cfg["identity_providers"] = [provider]
        self.ciap = self.start_ciap(cfg)

    def client(self, *args, token=True, path="/events/stream"):
        cmd = [self.python, PEER, "client", f"wss://localhost:{self.ciap.port()}{path}",
               "--ca", certs().ca, *args]
        if token:
            cmd += ["--header", f"Authorization:Bearer {self.token}"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        return json.loads(r.stdout)

    def test_messages_cross_both_ways_and_the_token_stays_behind(self):
        result = self.client("--count", "100", "--big", str(1 << 20))
        self.assertEqual(result, {"ok": True, "messages": 100})
        self.assertEqual(len(self.echo.handshakes), 1)
        seen = self.echo.handshakes[0]
        self.assertEqual(seen["upgrade"], "websocket")
        self.assertNotIn("authorization", seen, "the caller's token is not forwarded")
        self.assertEqual(seen["x-ciap-provider"], "buildkite")
        self.assertIn("sec-websocket-key", seen)
        entry = self.ciap.wait_access(lambda e: e.get("status") == 101)[-1]
        self.assertEqual(entry["route"], "events")
        self.assertGreater(entry["bytes_in"], 1 << 20)
        self.assertGreater(entry["bytes_out"], 1 << 20)

    def test_an_upgrade_without_a_token_is_refused_and_the_upstream_sees_nothing(self):
        self.assertEqual(self.client(token=False), {"ok": False, "status": 401})
        self.assertEqual(self.echo.handshakes, [])

    def test_a_silent_tunnel_is_closed_after_the_idle_timeout(self):
        started = time.monotonic()
        result = self.client("--count", "2", "--big", "10", "--idle", "6")
        self.assertTrue(result["closed_while_idle"], result)
        self.assertLess(time.monotonic() - started, 6, "closed by ciap, not by the client")

    def test_upgrade_never_reaches_an_upstream_whose_route_does_not_allow_it(self):
        c = conn(self.ciap.port())
        try:
            c.request("GET", "/echo", headers={
                "Authorization": f"Bearer {self.token}", "Connection": "Upgrade",
                "Upgrade": "websocket", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                "Sec-WebSocket-Version": "13"})
            r = c.getresponse()
            body = json.loads(r.read())
        finally:
            c.close()
        self.assertEqual(r.status, 200)
        names = {k.lower() for k, _ in body["headers"]}
        self.assertNotIn("upgrade", names)
        self.assertNotIn("connection", names)
        # An upstream that switches protocols unasked is a bad gateway, never a tunnel.
        c = conn(self.ciap.port())
        try:
            c.request("GET", "/status/101", headers={"Authorization": f"Bearer {self.token}"})
            r = c.getresponse()
            r.read()
        finally:
            c.close()
        self.assertEqual(r.status, 502)


if __name__ == "__main__":
    unittest.main()
