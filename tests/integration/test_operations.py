"""Operations: a rolling update that drops nothing (--shutdown-delay), and what an operator sees."""
import json
import os
import signal
import threading
import time
import unittest

from ciaptest import (CiapTestCase, curl, log, make_config, request, route, run_ciap, tls_listener,
                      upstream_cfg, write_config)


class RolloutDrill(CiapTestCase):

    def test_shutdown_delay_drops_nothing(self):
        """A client opens a new TLS connection every 20 ms and, like a load balancer, stops only
        once /ready has answered 503 for a while. SIGTERM with --shutdown-delay 3s: no connection
        is refused or fails, /ready is 503 during the delay, a slow request in flight finishes,
        and ciap exits 0 after the delay."""
        up = self.start_upstream()
        p = self.proxy(upstream=up, args=["--shutdown-delay", "3s", "--drain-timeout", "10s"])
        stop = threading.Event()
        results = []  # (monotonic time, status or error text)

        def client():
            while not stop.is_set():
                t = time.monotonic()
                try:
                    results.append((t, request(p.port(), "GET", "/echo", timeout=5).status))
                except Exception as e:  # noqa: BLE001 - every failure counts
                    results.append((t, repr(e)))
                time.sleep(max(0.0, 0.02 - (time.monotonic() - t)))

        ready_states = []  # (monotonic time, /ready status)

        def balancer():
            # Endpoint controllers see readiness with some lag: keep sending 1 s past the first
            # 503, then stop sending (the client thread is the traffic).
            first_503 = None
            while not stop.is_set():
                try:
                    status = p.admin_get("/ready", timeout=2)[0]
                except OSError as e:
                    status = repr(e)
                ready_states.append((time.monotonic(), status))
                if status == 503 and first_503 is None:
                    first_503 = time.monotonic()
                if first_503 is not None and time.monotonic() - first_503 >= 1.0:
                    stop.set()
                time.sleep(0.1)

        slow = {}

        def slow_request():
            try:
                slow["status"] = request(p.port(), "GET", "/delay/4000", timeout=20).status
            except Exception as e:  # noqa: BLE001
                slow["error"] = repr(e)

        threads = [threading.Thread(target=f) for f in (client, balancer, slow_request)]
        for t in threads:
            t.start()
        self.addCleanup(stop.set)
        time.sleep(1.0)
        self.assertTrue(up.wait_for(lambda u: u.request_count >= 10, 5))
        self.assertEqual(p.admin_get("/ready")[0], 200)
        sigterm_at = time.monotonic()
        p.signal(signal.SIGTERM)
        time.sleep(1.5)
        self.assertEqual(p.admin_get("/ready")[0], 503, "/ready during the shutdown delay")
        self.assertTrue(p.running(), "ciap exited during the shutdown delay")
        rc = p.wait(20)
        exited_at = time.monotonic()
        stop.set()
        for t in threads:
            t.join(20)

        failed = [r for r in results if r[1] != 200]
        after = [r for r in results if r[0] > sigterm_at]
        log(f"rollout drill: {len(results)} connections, {len(after)} after SIGTERM, "
            f"{len(failed)} failed; exit {exited_at - sigterm_at:.2f}s after SIGTERM")
        self.assertEqual(failed, [], f"{len(failed)} of {len(results)} connections failed")
        self.assertGreaterEqual(len(after), 25, "the client kept connecting after SIGTERM")
        self.assertEqual(slow.get("status"), 200, slow)
        self.assertEqual(rc, 0, p.stderr_tail())
        self.assertGreaterEqual(exited_at - sigterm_at, 3.0, "exited before the delay ended")
        self.assertLess(exited_at - sigterm_at, 12)
        self.assertTrue(any(s == 503 for t, s in ready_states if t > sigterm_at))
        events = [e.get("msg") for e in p.events_named("shutting down: /ready answers 503, "
                                                         "listeners stay open")]
        self.assertEqual(len(events), 1, p.stderr_tail())

    def test_second_signal_cuts_the_delay_short(self):
        """SIGTERM starts a 30 s delay; a second SIGTERM drains at once and ciap exits 0."""
        up = self.start_upstream()
        p = self.proxy(upstream=up, args=["--shutdown-delay", "30s"])
        p.signal(signal.SIGTERM)
        time.sleep(0.5)
        self.assertEqual(p.admin_get("/ready")[0], 503)
        self.assertEqual(request(p.port(), "GET", "/echo").status, 200, "still serving")
        t0 = time.monotonic()
        p.signal(signal.SIGTERM)
        self.assertEqual(p.wait(10), 0, p.stderr_tail())
        self.assertLess(time.monotonic() - t0, 5)


class RoughEdges(CiapTestCase):

    def test_plain_http_on_a_tls_port_is_told_so(self):
        """A plain HTTP request to a TLS listener gets a 400 that says why, not an empty reply;
        the listener goes on serving TLS."""
        up = self.start_upstream()
        p = self.proxy(upstream=up)
        r = curl("-i", f"http://127.0.0.1:{p.port()}/echo")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout.decode()
        self.assertTrue(out.startswith("HTTP/1.1 400"), out)
        body = json.loads(out.split("\r\n\r\n", 1)[1])
        self.assertEqual((body["error"], body["reason"]), ("bad_request", "plain_http_on_tls_port"))
        self.assertEqual(request(p.port(), "GET", "/echo").status, 200)
        self.assertGreaterEqual(p.metrics().value("ciap_tls_handshake_errors_total",
                                                  listener="agents"), 1)

    def test_process_metrics(self):
        """/metrics carries the standard process_* metrics, with values that match the process."""
        up = self.start_upstream()
        p = self.proxy(upstream=up)
        m = p.metrics()
        rss = m.value("process_resident_memory_bytes")
        self.assertGreater(rss, 1 << 20)
        self.assertLess(abs(rss - p.proc_status("VmRSS") * 1024), 64 << 20)
        self.assertGreater(m.value("process_virtual_memory_bytes"), rss)
        self.assertGreater(m.value("process_open_fds"), 3)
        self.assertGreaterEqual(m.value("process_max_fds"), m.value("process_open_fds"))
        # The process's own utime + stime (clock ticks: a fresh process may be at 0).
        with open(f"/proc/{p.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        own_cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        cpu = m.value("process_cpu_seconds_total")
        self.assertGreaterEqual(cpu, 0)
        self.assertLessEqual(cpu, own_cpu + 1e-9)
        self.assertGreater(cpu, own_cpu - 0.5)
        started = m.value("process_start_time_seconds")
        self.assertLess(abs(started - time.time()), 120)
        self.assertIn("# TYPE process_cpu_seconds_total counter", m.text)

    def test_allocator_cache_is_enlarged_unless_told_otherwise(self):
        """ciap run restarts itself once (same pid) with glibc's per-thread cache at 128 blocks
        per size; an operator's own setting and CIAP_MALLOC_TUNING=off are left alone. A
        sanitized build (its own allocator) never restarts."""
        up = self.start_upstream()
        sanitized = "ASAN_OPTIONS" in os.environ

        def tunables(env):
            p = self.start_ciap(make_config([upstream_cfg("app", up)],
                                            [tls_listener("agents", [route("all")])]), env=env)
            self.assertEqual(request(p.port(), "GET", "/echo").status, 200)
            with open(f"/proc/{p.pid}/environ", "rb") as f:
                entries = f.read().decode().split("\0")
            # glibc parses GLIBC_TUNABLES in place: each ':' became a NUL.
            found = []
            for entry in entries:
                if entry.startswith("GLIBC_TUNABLES="):
                    found.append(entry.split("=", 1)[1])
                elif found and entry.startswith("glibc."):
                    found.append(entry)
                elif found:
                    break
            return ":".join(found)

        clean = {"GLIBC_TUNABLES": "", "CIAP_MALLOC_TUNING": ""}
        self.assertEqual(tunables(clean),
                         "" if sanitized else "glibc.malloc.tcache_count=128")
        self.assertEqual(tunables({"GLIBC_TUNABLES": "glibc.malloc.tcache_count=64"}),
                         "glibc.malloc.tcache_count=64")
        self.assertEqual(tunables({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}),
                         "glibc.malloc.arena_max=2" if sanitized
                         else "glibc.malloc.arena_max=2:glibc.malloc.tcache_count=128")
        self.assertEqual(tunables({**clean, "CIAP_MALLOC_TUNING": "off"}), "")

    def test_admin_listener_off(self):
        """admin: {enabled: false} runs without an admin listener (said at startup); an address
        beside it is a config error."""
        up = self.start_upstream()
        cfg = make_config([upstream_cfg("app", up)], [tls_listener("agents", [route("all")])])
        cfg["admin"] = {"enabled": False}
        p = self.start_ciap(cfg)
        self.assertIsNone(p.event("admin ready"))
        self.assertTrue(p.event("admin listener off (admin.enabled: false)"), p.stderr_tail())
        self.assertEqual(request(p.port(), "GET", "/echo").status, 200)
        cfg["admin"] = {"enabled": False, "address": "127.0.0.1:0"}
        path = write_config(os.path.join(self.tmp, "both.yaml"), cfg)
        r = run_ciap("validate", "-c", path, "--offline")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("admin.address: the admin listener is off (enabled: false)", r.stderr)


if __name__ == "__main__":
    unittest.main()
