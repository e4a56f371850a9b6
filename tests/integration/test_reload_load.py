"""100 config reloads during a continuous wrk run (issue 5, acceptance 4): valid changes,
invalid files, listeners added and removed, certificate rotations, through SIGHUP and through
file watching. Zero failed requests (non-2xx or socket errors) on the unchanged route.
"""

import os
import re
import shutil
import signal
import subprocess
import time
import unittest

from ciaptest import (CiapTestCase, certs, log, make_config, plain_listener, route, tls_listener,
                      to_yaml, upstream_cfg, wait_until)

RELOADS = 100


def parse_wrk(out):
    m = re.search(r"(\d+) requests in", out)
    requests = int(m.group(1)) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    non2xx = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    socket_errors = sum(int(g) for g in m.groups()) if m else 0
    return requests, non2xx, socket_errors


@unittest.skipUnless(shutil.which("wrk"), "wrk is not installed")
class ReloadUnderLoadTest(CiapTestCase):
    def test_100_reloads_under_wrk(self):
        c = certs()
        up = self.start_upstream("app")
        crt = os.path.join(self.tmp, "tls.crt")
        key = os.path.join(self.tmp, "tls.key")
        shutil.copy(c.server_crt, crt)
        shutil.copy(c.server_key, key)

        def config(variant):
            routes = [route("stable", "app")]
            if variant % 2:
                routes.insert(0, route(f"extra-{variant}", "app",
                                       match={"path_prefix": f"/extra/{variant}/"}))
            listeners = [tls_listener("agents", routes, cert_pairs=[(crt, key)])]
            if variant % 3 == 0:
                listeners.append(plain_listener(f"side-{variant}", [route("s", "app")]))
            return make_config([upstream_cfg("app", up)], listeners)

        p = self.start_ciap(config(1))
        port = p.port("agents")
        access_log = p.access_log_path

        def write(cfg):
            cfg = dict(cfg, logging={"access_log": access_log})
            # Keep the wrk listener's port: a move would be a changed route, not an unchanged one.
            cfg["listeners"][0]["address"] = f"127.0.0.1:{port}"
            tmp = p.config_path + ".tmp"
            with open(tmp, "w") as f:
                f.write(to_yaml(cfg) if isinstance(cfg, dict) else cfg)
            os.replace(tmp, p.config_path)

        def reload_count():
            m = p.metrics()
            return (m.value("ciap_config_reloads_total", result="success") or 0,
                    m.value("ciap_config_reloads_total", result="error") or 0)

        wrk = subprocess.Popen(
            ["wrk", "-t2", "-c16", "-d120s", f"https://127.0.0.1:{port}/stable"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.addCleanup(lambda: wrk.poll() is None and wrk.kill())
        time.sleep(1.0)  # wrk connected and running

        kinds = {"valid": 0, "invalid": 0, "listeners": 0, "certificate": 0}
        start = time.monotonic()
        for i in range(RELOADS):
            before = sum(reload_count())
            kind = ("valid", "invalid", "listeners", "certificate")[i % 4]
            kinds[kind] += 1
            if kind == "invalid":
                p_text = "listeners: [ {" if i % 8 == 1 else to_yaml(
                    dict(config(i), logging={"access_log": access_log},
                         upstreams=[{"name": "app", "endpoints": ["nowhere"]}]))
                tmp = p.config_path + ".tmp"
                with open(tmp, "w") as f:
                    f.write(p_text)
                os.replace(tmp, p.config_path)
            elif kind == "certificate":
                pair = (c.a_crt, c.a_key) if (i // 4) % 2 == 0 else (c.server_crt, c.server_key)
                # A cert-manager style update: both files replaced, then a SIGHUP.
                shutil.copy(pair[1], key + ".new")
                shutil.copy(pair[0], crt + ".new")
                os.replace(key + ".new", key)
                os.replace(crt + ".new", crt)
            else:
                write(config(i if kind == "valid" else 3 * i))
            if i % 2 == 0:
                p.signal(signal.SIGHUP)  # half through the signal, half through file watching
            self.assertTrue(wait_until(lambda: sum(reload_count()) > before, timeout=10),
                            f"reload {i} ({kind}) not seen:\n{p.stderr_tail()}")
        elapsed = time.monotonic() - start
        time.sleep(0.5)
        wrk.send_signal(signal.SIGINT)
        out, _ = wrk.communicate(timeout=30)
        requests, non2xx, socket_errors = parse_wrk(out)
        success, error = reload_count()
        log(f"{RELOADS} reloads ({kinds}) in {elapsed:.1f}s: {int(success)} applied, "
            f"{int(error)} refused; wrk: {requests} requests, {non2xx} non-2xx, "
            f"{socket_errors} socket errors")
        self.assertGreaterEqual(success + error, RELOADS)
        self.assertGreaterEqual(error, kinds["invalid"])
        self.assertGreater(requests, 1000, out)
        self.assertEqual(non2xx, 0, out)
        self.assertEqual(socket_errors, 0, out)
        self.assertTrue(p.running())


if __name__ == "__main__":
    unittest.main()
