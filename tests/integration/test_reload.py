"""Hot reload: SIGHUP and file watching (plain writes, rename-over and the Kubernetes
ConfigMap `..data` symlink swap), invalid configs kept out, listeners added / removed / renamed /
moved, certificate rotation, in-flight requests finishing on their snapshot, keep-alive
connections following the new config, and rate-limit buckets surviving an unrelated reload.
"""

import json
import os
import shutil
import signal
import socket
import ssl
import threading
import time
import unittest

from ciaptest import (Ciap, CiapTestCase, certs, conn, make_config, plain_listener, request,
                      request_on, route, run_ciap, tls_listener, to_yaml, upstream_cfg,
                      wait_until, write_config)
from test_identity import port_refuses


def write_atomically(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def reloads(p, result):
    return p.metrics().value("ciap_config_reloads_total", result=result) or 0


def peer_der(port, sni="localhost"):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname=sni) as t:
            return t.getpeercert(binary_form=True)


def file_der(path):
    with open(path) as f:
        pem = f.read()
    first = pem[:pem.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")]
    return ssl.PEM_cert_to_DER_cert(first)


class ReloadTest(CiapTestCase):
    def setUp(self):
        super().setUp()
        self.up = self.start_upstream("app")
        self.other = self.start_upstream("other")

    def config(self, routes, listeners=None, **top):
        ups = [upstream_cfg("app", self.up), upstream_cfg("other", self.other)]
        cfg = make_config(ups, listeners or [plain_listener("plain", routes)])
        cfg.update(top)
        return cfg

    def start(self, cfg, args=()):
        p = self.start_ciap(cfg, args=args)

        # The tests rewrite the file the process was started with (same access log).
        def write(c):
            if isinstance(c, dict):
                c = to_yaml(dict(c, logging={"access_log": p.access_log_path}))
            write_atomically(p.config_path, c)

        p.write = write
        return p

    def wait_reloads(self, p, result, n, timeout=10):
        self.assertTrue(wait_until(lambda: reloads(p, result) >= n, timeout=timeout),
                        f"expected {n} {result} reloads; stderr:\n{p.stderr_tail()}")

    def test_sighup_applies_a_changed_route(self):
        p = self.start(self.config([route("a", "app", match={"path_prefix": "/a/"})]))
        port = p.port("plain")
        self.assertEqual(request(port, path="/b/x", tls=False).status, 404)
        p.write(self.config([route("a", "app", match={"path_prefix": "/a/"}),
                             route("b", "other", match={"path_prefix": "/b/"})]))
        # Watching may pick it up first; SIGHUP forces one anyway.
        p.signal(signal.SIGHUP)
        self.wait_reloads(p, "success", 1)
        r = request(port, path="/b/x", tls=False)
        self.assertEqual((r.status, r.header("X-Upstream")), (200, "other"))
        self.assertEqual(request(port, path="/a/x", tls=False).header("X-Upstream"), "app")
        # The metric counts before the log line has been read off stderr.
        self.assertTrue(wait_until(lambda: p.event("config reloaded")), p.stderr_tail())
        e = p.event("config reloaded")
        self.assertEqual(len(e["config_hash"]), 64)
        self.assertGreater(p.metrics().value(
            "ciap_config_last_reload_success_timestamp_seconds") or 0, time.time() - 60)

    def test_file_change_is_picked_up_without_a_signal(self):
        p = self.start(self.config([route("a", "app")]))
        port = p.port("plain")
        p.write(self.config([route("a", "other")]))
        self.assertTrue(wait_until(
            lambda: request(port, tls=False).header("X-Upstream") == "other", timeout=8),
            p.stderr_tail())
        self.assertTrue(wait_until(lambda: p.event("config reloaded")), p.stderr_tail())
        self.assertEqual(p.event("config reloaded")["trigger"], "file change")
        # An in-place write (no rename) too.
        with open(p.config_path, "w") as f:
            f.write(to_yaml(self.config([route("a", "app")])))
        self.assertTrue(wait_until(
            lambda: request(port, tls=False).header("X-Upstream") == "app", timeout=8))

    def test_file_written_in_two_steps_is_one_clean_reload(self):
        """A config written in place in two steps (half, a pause, the rest) is seen half-written
        by the watcher: ciap looks again once it settles, so the change is one successful
        reload and no failure is counted or logged as one."""
        p = self.start(self.config([route("a", "app")]))
        port = p.port("plain")
        text = to_yaml(dict(self.config([route("a", "other")]),
                            logging={"access_log": p.access_log_path}))
        half = len(text) // 2
        with open(p.config_path, "w") as f:
            f.write(text[:half])
            f.flush()
            time.sleep(0.8)  # the watcher sees the half file
            f.write(text[half:])
        self.wait_reloads(p, "success", 1)
        self.assertEqual(request(port, tls=False).header("X-Upstream"), "other")
        time.sleep(2.5)  # past the settle time: the half file is not reported late either
        self.assertEqual(reloads(p, "error"), 0, p.stderr_tail())
        self.assertEqual(reloads(p, "success"), 1, "the second look ran a second reload")
        self.assertEqual(p.events_named("config reload failed; keeping the running config"), [])
        self.assertTrue(p.events_named("config change does not load yet; checking again shortly"),
                        p.stderr_tail())

    def test_config_shows_the_admin_and_log_settings_in_force(self):
        """A reload that asks for another admin address or access log cannot apply them without
        a restart: /config shows what is in force and lists the file's wishes as pending."""
        p = self.start(self.config([route("a", "app")]))
        before = json.loads(p.admin_get("/config")[2])
        self.assertNotIn("pending_restart", before)
        cfg = self.config([route("a", "other")])
        cfg["admin"] = {"address": "127.0.0.1:1"}
        p.write(to_yaml(dict(cfg, logging={"access_log": "stdout"})))
        self.wait_reloads(p, "success", 1)
        after = json.loads(p.admin_get("/config")[2])
        self.assertEqual(after["admin"], before["admin"])
        self.assertEqual(after["logging"], {"access_log": p.access_log_path})
        self.assertEqual(after["pending_restart"], {"admin.address": "127.0.0.1:1",
                                                    "logging.access_log": "stdout"})
        self.assertEqual(after["listeners"][0]["routes"][0]["upstream"], "other")

    def test_admin_port_in_use_is_named(self):
        blocker = socket.socket()
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        self.addCleanup(blocker.close)
        cfg = self.config([route("a", "app")])
        cfg["admin"] = {"address": f"127.0.0.1:{blocker.getsockname()[1]}"}
        path = write_config(os.path.join(self.tmp, "busy.yaml"), cfg)
        r = run_ciap("run", "-c", path, timeout=20)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("admin listener: cannot listen on 127.0.0.1:", r.stderr)
        self.assertIn("admin.address", r.stderr)

    def test_invalid_config_keeps_the_running_one(self):
        p = self.start(self.config([route("a", "app")]))
        port = p.port("plain")
        p.write("listeners: [ { name: x\n")  # not even YAML
        self.wait_reloads(p, "error", 1)
        self.assertEqual(request(port, tls=False).status, 200)
        bad = self.config([route("a", "nope")])  # valid YAML, unknown upstream
        p.write(bad)
        self.wait_reloads(p, "error", 2)
        self.assertEqual(request(port, tls=False).header("X-Upstream"), "app")
        self.assertTrue(wait_until(lambda: len(p.events_named(
            "config reload failed; keeping the running config")) >= 2))
        failures = p.events_named("config reload failed; keeping the running config")
        self.assertIn("unknown upstream 'nope'", failures[-1]["error"])
        self.assertIn(":", failures[-1]["error"])  # file:line:column
        self.assertEqual(reloads(p, "success"), 0)
        # The same broken file is reported once, not at every poll.
        time.sleep(6)
        self.assertEqual(reloads(p, "error"), 2)
        # A listener that cannot bind (another process holds the port) fails the reload whole.
        blocker = socket.socket()
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        self.addCleanup(blocker.close)
        busy = blocker.getsockname()[1]
        cfg = self.config(None, listeners=[
            plain_listener("plain", [route("a", "other")]),
            dict(plain_listener("extra", [route("x", "app")]), address=f"127.0.0.1:{busy}")])
        cfg["listeners"][0]["address"] = f"127.0.0.1:{port}"
        p.write(cfg)
        self.wait_reloads(p, "error", 3)
        # The metric counts before the log line has been read off stderr.
        self.assertTrue(wait_until(lambda: len(p.events_named(
            "config reload failed; keeping the running config")) >= 3))
        self.assertIn("cannot listen", p.events_named(
            "config reload failed; keeping the running config")[-1]["error"])
        self.assertEqual(request(port, tls=False).header("X-Upstream"), "app")

    def test_configmap_symlink_swap(self):
        # Kubernetes mounts a ConfigMap as DIR/ciap.yaml -> ..data/ciap.yaml, ..data -> a
        # timestamped directory, and updates it by renaming a new ..data symlink over the old.
        mount = os.path.join(self.tmp, "configmap")
        os.makedirs(os.path.join(mount, "..v1"))
        proc = Ciap(self.config([route("a", "app")]), mount)  # writes mount/ciap.yaml
        os.replace(proc.config_path, os.path.join(mount, "..v1", "ciap.yaml"))
        os.symlink("..v1", os.path.join(mount, "..data"))
        os.symlink("..data/ciap.yaml", proc.config_path)
        self.addCleanup(proc.stop)
        proc.start()
        port = proc.port("plain")
        self.assertEqual(request(port, tls=False).header("X-Upstream"), "app")
        os.makedirs(os.path.join(mount, "..v2"))
        with open(os.path.join(mount, "..v2", "ciap.yaml"), "w") as f:
            f.write(to_yaml(dict(self.config([route("a", "other")]),
                                 logging={"access_log": proc.access_log_path})))
        os.symlink("..v2", os.path.join(mount, "..data_tmp"))
        os.rename(os.path.join(mount, "..data_tmp"), os.path.join(mount, "..data"))
        shutil.rmtree(os.path.join(mount, "..v1"))
        started = time.monotonic()
        self.assertTrue(wait_until(
            lambda: request(port, tls=False).header("X-Upstream") == "other", timeout=8),
            proc.stderr_tail())
        # inotify, not the 5 s poll, saw it.
        self.assertLess(time.monotonic() - started, 3)

    def test_listeners_added_renamed_moved_and_removed(self):
        p = self.start(self.config([route("a", "app")]))
        port = p.port("plain")
        # Add a second listener.
        cfg = self.config(None, listeners=[plain_listener("plain", [route("a", "app")]),
                                           plain_listener("second", [route("b", "other")])])
        cfg["listeners"][0]["address"] = f"127.0.0.1:{port}"
        p.write(cfg)
        self.assertTrue(wait_until(lambda: len(p.events_named("listener ready")) >= 2))
        second = [e for e in p.events_named("listener ready") if e["listener"] == "second"][0]
        second_port = int(second["address"].rsplit(":", 1)[1])
        self.assertEqual(request(second_port, tls=False).header("X-Upstream"), "other")
        self.assertEqual(request(port, tls=False).header("X-Upstream"), "app")
        # Rename "plain" to "renamed" on the same address: the socket stays, nothing refused.
        cfg["listeners"][0]["name"] = "renamed"
        cfg["listeners"][0]["routes"] = [route("r", "other")]
        p.write(cfg)
        self.wait_reloads(p, "success", 2)
        self.assertEqual(request(port, tls=False).header("X-Upstream"), "other")
        # Remove "second": its port is closed.
        del cfg["listeners"][1]
        p.write(cfg)
        self.wait_reloads(p, "success", 3)
        self.assertTrue(wait_until(lambda: port_refuses(second_port), timeout=3))
        self.assertEqual(request(port, tls=False).status, 200)
        # Move "renamed" to a new port: the old one closes, the new one serves.
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        new_port = s.getsockname()[1]
        s.close()
        cfg["listeners"][0]["address"] = f"127.0.0.1:{new_port}"
        p.write(cfg)
        self.wait_reloads(p, "success", 4)
        self.assertEqual(request(new_port, tls=False).status, 200)
        self.assertTrue(wait_until(lambda: port_refuses(port), timeout=3))

    def test_certificate_rotation(self):
        c = certs()
        crt = os.path.join(self.tmp, "tls.crt")
        key = os.path.join(self.tmp, "tls.key")
        shutil.copy(c.server_crt, crt)
        shutil.copy(c.server_key, key)
        p = self.start(self.config(None, listeners=[
            tls_listener("agents", [route("a", "app")], cert_pairs=[(crt, key)])]))
        port = p.port("agents")
        kept = conn(port)  # an established connection survives the rotation
        self.assertEqual(request_on(kept, "GET", "/").status, 200)
        self.assertEqual(peer_der(port), file_der(c.server_crt))
        # A Secret update: key then certificate, each replaced atomically.
        shutil.copy(c.a_key, key + ".new")
        os.replace(key + ".new", key)
        shutil.copy(c.a_crt, crt + ".new")
        os.replace(crt + ".new", crt)
        self.assertTrue(wait_until(lambda: peer_der(port, "a.test") == file_der(c.a_crt),
                                   timeout=8), p.stderr_tail())
        self.assertEqual(request(port, sni="a.test").status, 200)
        self.assertEqual(request_on(kept, "GET", "/").status, 200)
        kept.close()
        # A key that does not match the certificate is refused; the old pair stays in use.
        shutil.copy(c.b_key, key + ".new")
        os.replace(key + ".new", key)
        self.wait_reloads(p, "error", 1)
        self.assertEqual(peer_der(port, "a.test"), file_der(c.a_crt))

    def test_in_flight_request_finishes_on_its_snapshot(self):
        p = self.start(self.config([route("slow", "app", match={"path_prefix": "/delay/"}),
                                    route("rest", "app")]))
        port = p.port("plain")
        result = {}

        def slow():
            result["r"] = request(port, path="/delay/1500", tls=False)

        t = threading.Thread(target=slow)
        t.start()
        self.assertTrue(self.up.wait_for(
            lambda u: any(r["path"].startswith("/delay/") for r in u.requests), timeout=5))
        # Remove the route (and point the rest elsewhere) while the request is upstream.
        p.write(self.config([route("rest", "other")]))
        p.signal(signal.SIGHUP)
        self.wait_reloads(p, "success", 1)
        t.join(10)
        self.assertEqual(result["r"].status, 200)
        self.assertEqual(result["r"].header("X-Upstream"), "app")
        self.assertEqual(request(port, path="/delay/1", tls=False).header("X-Upstream"), "other")

    def test_keep_alive_connection_follows_the_reload(self):
        p = self.start(self.config([route("a", "app")]))
        port = p.port("plain")
        c = conn(port, tls=False)
        self.assertEqual(request_on(c, "GET", "/").header("X-Upstream"), "app")
        p.write(self.config([route("a", "other")]))
        p.signal(signal.SIGHUP)
        self.wait_reloads(p, "success", 1)
        r = request_on(c, "GET", "/")  # same connection
        self.assertEqual(r.header("X-Upstream"), "other")
        c.close()
        # A keep-alive connection whose listener a reload removes is closed between requests.
        cfg = self.config(None, listeners=[plain_listener("plain", [route("a", "app")]),
                                           plain_listener("gone", [route("g", "app")])])
        cfg["listeners"][0]["address"] = f"127.0.0.1:{port}"
        p.write(cfg)
        self.assertTrue(wait_until(lambda: any(e["listener"] == "gone"
                                               for e in p.events_named("listener ready"))))
        gone = [e for e in p.events_named("listener ready") if e["listener"] == "gone"][0]
        gone_port = int(gone["address"].rsplit(":", 1)[1])
        g = socket.create_connection(("127.0.0.1", gone_port), timeout=5)
        g.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertIn(b"200 OK", g.recv(65536))
        del cfg["listeners"][1]
        p.write(cfg)
        self.assertTrue(wait_until(lambda: reloads(p, "success") >= 3))
        g.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        g.settimeout(5)
        self.assertEqual(g.recv(65536), b"")  # closed, not served by a removed listener
        g.close()

    def test_upstream_connections_survive_an_unrelated_reload(self):
        # One worker: with two, a request may land on the worker whose pool is still empty.
        p = self.start(self.config([route("a", "app")]), args=["--concurrency", "1"])
        port = p.port("plain")
        for _ in range(3):
            self.assertEqual(request(port, tls=False).status, 200)
        accepted = self.up.accepted
        cfg = self.config([route("a", "app")])
        cfg["listeners"][0]["address"] = f"127.0.0.1:{port}"
        # Before the catch-all "a": after it, the route could never match (a config error).
        cfg["listeners"][0]["routes"].insert(0, route("new", "other", match={"path": "/new"}))
        p.write(cfg)
        self.wait_reloads(p, "success", 1)
        time.sleep(0.3)  # a worker tick hands idle connections to the new pool
        for _ in range(3):
            self.assertEqual(request(port, tls=False).status, 200)
        self.assertEqual(self.up.accepted, accepted, "warm upstream connections were dropped")

    def test_rate_limit_buckets_survive_an_unrelated_reload(self):
        limited = route("a", "app", rate_limit={"per": "route", "requests_per_second": 0.01,
                                                "burst": 3})
        p = self.start(self.config([limited]))
        port = p.port("plain")
        codes = [request(port, tls=False).status for _ in range(4)]
        self.assertEqual(codes, [200, 200, 200, 429])
        cfg = self.config([limited, route("b", "other", match={"path": "/b"})])
        cfg["listeners"][0]["address"] = f"127.0.0.1:{port}"
        # The catch-all must stay last.
        cfg["listeners"][0]["routes"].reverse()
        p.write(cfg)
        self.wait_reloads(p, "success", 1)
        self.assertEqual(request(port, tls=False).status, 429)
        self.assertEqual(request(port, path="/b", tls=False).status, 200)


if __name__ == "__main__":
    unittest.main()


class ReloadIdentityTest(CiapTestCase):
    """Providers across reloads: a changed audience applies at once, the keys carry over (no
    reload of the key source), and a provider added by a reload loads its keys."""

    def test_provider_changes(self):
        from test_access import AUDIENCE, corp_provider, minted, require_node, wait_ready
        require_node()
        jwks, tokens = minted()
        corp = corp_provider(self.tmp, jwks)
        jwks_file = corp["jwks_file"]
        up = self.start_upstream()

        def config(audience, second=False):
            providers = [dict(corp, audiences=[audience])]
            if second:
                providers.append({"name": "other", "type": "oidc",
                                  "issuer": "https://other.example", "audiences": ["x"],
                                  "jwks_file": jwks_file})
            cfg = make_config([upstream_cfg("app", up)], [plain_listener("plain", [
                {"name": "ci", "upstream": "app", "authenticate": True}])])
            cfg["identity_providers"] = providers
            return cfg

        p = self.start_ciap(config(AUDIENCE))
        wait_ready(self, p)
        port = p.port()
        auth = {"Authorization": f"Bearer {tokens['acme']}"}
        self.assertEqual(request(port, headers=auth, tls=False).status, 200)
        loads = len(p.events_named("keys loaded"))

        def write(cfg):
            write_atomically(p.config_path, to_yaml(dict(
                cfg, logging={"access_log": p.access_log_path})))

        write(config("someone-else"))
        self.assertTrue(wait_until(lambda: reloads(p, "success") >= 1, 10))
        r = request(port, headers=auth, tls=False)
        self.assertEqual((r.status, r.json()["reason"]), (401, "wrong_audience"))
        self.assertEqual(len(p.events_named("keys loaded")), loads, "the key source was reloaded")
        self.assertEqual(p.admin_get("/ready")[0], 200)

        write(config(AUDIENCE, second=True))
        self.assertTrue(wait_until(lambda: reloads(p, "success") >= 2, 10))
        self.assertTrue(wait_until(lambda: any(
            e.get("provider") == "other" for e in p.events_named("keys loaded")), 10))
        self.assertEqual(request(port, headers=auth, tls=False).status, 200)
        status = json.loads(p.admin_get("/jwks-status")[2])
        self.assertEqual([x["name"] for x in status["providers"]], ["corp", "other"])


class ReloadIdpCaTest(CiapTestCase):
    """A provider's ca_file is re-read when it changes: keys that could not be fetched with the
    wrong CA are fetched at once with the right one, without a restart."""

    def test_idp_ca_rotation(self):
        from test_identity import OidcServer, oidc_provider_cfg, require_node
        require_node()
        c = certs()
        idp = OidcServer(os.path.join(self.tmp, "keys.json")).start()
        self.addCleanup(idp.stop)
        ca = os.path.join(self.tmp, "idp-ca.crt")
        shutil.copy(c.other_ca, ca)  # a CA that did not issue the IdP's certificate
        provider = dict(oidc_provider_cfg(idp.issuer), ca_file=ca,
                        jwks_uri=idp.ready["jwks_uri"])
        up = self.start_upstream()
        cfg = make_config([upstream_cfg("app", up)], [plain_listener("plain", [
            {"name": "ci", "upstream": "app", "authenticate": True}])])
        cfg["identity_providers"] = [provider]
        p = self.start_ciap(cfg)
        self.assertTrue(wait_until(lambda: (p.metrics().value(
            "ciap_jwks_fetch_total", provider="corp", result="error") or 0) >= 1, 10))
        self.assertNotEqual(p.admin_get("/ready")[0], 200)
        shutil.copy(c.ca, ca + ".new")
        os.replace(ca + ".new", ca)
        started = time.monotonic()
        self.assertTrue(wait_until(lambda: p.admin_get("/ready")[0] == 200, 10), p.stderr_tail())
        # Well before the first retry back-off would have run out on its own.
        self.assertLess(time.monotonic() - started, 4)
        self.assertGreaterEqual(reloads(p, "success"), 1)
