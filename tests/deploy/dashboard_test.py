#!/usr/bin/env python3
"""The Grafana dashboard (helm/ciap/dashboards/ciap.json) and the chart's alert rules query only
metrics that a running ciap exports.

1. The dashboard parses, has the panels the chart promises (requests by route and code, latency
   quantiles from the histogram, authentication failures by provider and reason, authorization
   decisions, JWKS age, upstream errors, connections), and every $variable it uses is defined.
2. A real ciap runs with a config that exercises every metric family: an identity provider with a
   jwks_file (keys minted with jose, tests/idp/mint-vendor.mjs), a route with `allow`, a public
   route, an `authenticate` route, a rate-limited route, a TLS listener and a plaintext one, an
   upstream that answers and one that is down. Traffic: allowed, denied, unauthenticated, forged
   and public requests, a request to the dead upstream, a rate-limited one, a request with two
   Host headers, and a failed TLS handshake. Then /metrics is scraped, and every
   metric name in the dashboard's PromQL, in templates/prometheusrule.yaml and in the README's
   metrics table must be there (histograms may be named by family or by _bucket/_sum/_count).

Usage: CIAP_BIN=PATH/TO/ciap python3 dashboard_test.py   (skipped without node or tests/idp
node_modules, like the other tests that mint tokens)
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from ciaptest import (SOURCE_DIR, CiapTestCase, Metrics, make_config, plain_listener,  # noqa: E402
                      request, tls_listener, upstream_cfg, wait_until)

DASHBOARD = os.path.join(SOURCE_DIR, "helm", "ciap", "dashboards", "ciap.json")
RULES = os.path.join(SOURCE_DIR, "helm", "ciap", "templates", "prometheusrule.yaml")
README = os.path.join(SOURCE_DIR, "README.md")
IDP_DIR = os.path.join(SOURCE_DIR, "tests", "idp")
NODE = shutil.which("node")
ISSUER = "https://idp.acme.internal"
AUDIENCE = "ciap-dashboard-test"
METRIC = re.compile(r"\bciap_[a-z0-9_]+")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def dashboard_exprs(dashboard):
    exprs = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                exprs.append((p["title"], t["expr"]))
            walk(p.get("panels", []))

    walk(dashboard["panels"])
    for v in dashboard["templating"]["list"]:
        if isinstance(v.get("query"), dict):
            exprs.append((f"variable {v['name']}", v["query"]["query"]))
    return exprs


def mint(payloads):
    spec = {"keys": [{"name": "corp"}],
            "tokens": [{"key": "corp", "payload": p} for p in payloads]}
    r = subprocess.run([NODE, os.path.join(IDP_DIR, "mint-vendor.mjs")], cwd=IDP_DIR,
                       input=json.dumps(spec).encode(), capture_output=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError(f"mint-vendor.mjs failed: {r.stderr.decode()[-2000:]}")
    out = json.loads(r.stdout)
    return out["jwks"]["corp"], out["tokens"]


class DashboardShape(unittest.TestCase):
    """The dashboard file itself."""

    def setUp(self):
        with open(DASHBOARD, encoding="utf-8") as f:
            self.dashboard = json.load(f)
        self.exprs = dashboard_exprs(self.dashboard)

    def test_has_the_promised_panels(self):
        want = {
            "requests by route and code": r"sum by \(route, code\) \(rate\(ciap_requests_total",
            "latency quantiles": r"histogram_quantile\(0\.99, .*ciap_request_duration_seconds_bucket",
            "authn failures by provider and reason":
                r"sum by \(provider, reason\) \(rate\(ciap_authn_total\{.*result=\"failure\"",
            "authz decisions": r"sum by \(route, decision\) \(rate\(ciap_authz_total",
            "JWKS age": r"time\(\) - ciap_jwks_last_success_timestamp_seconds",
            "upstream errors": r"ciap_upstream_requests_total\{.*code=~\"5\.\.\|connect_error",
            "connections": r"ciap_downstream_connections\{",
            "upstream connections": r"ciap_upstream_connections\{",
        }
        for what, pattern in want.items():
            self.assertTrue(any(re.search(pattern, e) for _, e in self.exprs),
                            f"no panel for {what} (/{pattern}/)")

    def test_every_variable_is_defined_and_panels_are_complete(self):
        defined = {v["name"] for v in self.dashboard["templating"]["list"]}
        builtins = {"__rate_interval", "__interval", "__range"}
        for title, expr in self.exprs:
            for var in re.findall(r"\$(\w+)", expr):
                self.assertIn(var, defined | builtins, f"{title}: ${var} is not defined")
        ids = [p["id"] for p in self.dashboard["panels"]]
        self.assertEqual(len(ids), len(set(ids)), "panel ids repeat")
        for p in self.dashboard["panels"]:
            if p["type"] != "row":
                self.assertTrue(p["targets"] and p.get("description"), p["title"])

    def test_histogram_is_read_by_its_buckets(self):
        for title, expr in self.exprs:
            if "histogram_quantile" in expr:
                self.assertIn("_bucket", expr, title)
                self.assertIn("by (le", expr, title)


class MetricsExist(CiapTestCase):
    """Every metric the dashboard and the alerts query is in a running ciap's /metrics."""

    def setUp(self):
        if NODE is None or not os.path.isdir(os.path.join(IDP_DIR, "node_modules")):
            raise unittest.SkipTest("needs node and tests/idp/node_modules (scripts/bootstrap)")
        super().setUp()

    def queried_metrics(self):
        with open(DASHBOARD, encoding="utf-8") as f:
            names = {m for _, e in dashboard_exprs(json.load(f)) for m in METRIC.findall(e)}
        with open(RULES, encoding="utf-8") as f:
            rules = {m for m in METRIC.findall(f.read())}
        with open(README, encoding="utf-8") as f:
            readme = {m for line in f if line.startswith("| `ciap_") for m in METRIC.findall(line)}
        self.assertGreaterEqual(len(rules), 5, "the alert rules name too few metrics")
        self.assertGreaterEqual(len(readme), 14, "the README metrics table names too few metrics")
        return names, rules, readme

    def test_every_queried_metric_is_exported(self):
        now = int(time.time())
        base = {"iss": ISSUER, "aud": AUDIENCE, "iat": now - 5, "exp": now + 1800}
        jwks, (deployer, outsider) = mint([dict(base, sub="pipeline:deploy", team="release"),
                                           dict(base, sub="pipeline:docs", team="docs")])
        jwks_file = os.path.join(self.tmp, "corp.jwks.json")
        with open(jwks_file, "w") as f:
            json.dump(jwks, f)
        up = self.start_upstream()
        dead = socket.socket()
        dead.bind(("127.0.0.1", 0))
        dead_port = dead.getsockname()[1]
        dead.close()  # nothing listens there: connect_error

        routes = [
            {"name": "deploy", "match": {"path_prefix": "/deploy/"}, "upstream": "app",
             "allow": ["releasers"]},
            {"name": "any-job", "match": {"path_prefix": "/jobs/"}, "upstream": "app",
             "authenticate": True},
            {"name": "once", "match": {"path_prefix": "/once/"}, "upstream": "app",
             "authenticate": True, "replay": "single_use"},
            {"name": "minted", "match": {"path_prefix": "/minted/"}, "upstream": "app",
             "authenticate": True, "credentials": {
                 "type": "oauth2_client_credentials", "client_id": "ciap",
                 "token_endpoint": f"http://127.0.0.1:{dead_port}/token",
                 "client_secret": "dashboard-test-secret", "timeout": "1s"}},
            {"name": "broken", "match": {"path_prefix": "/broken/"}, "upstream": "down",
             "public": True},
            {"name": "limited", "match": {"path_prefix": "/limited/"}, "upstream": "app",
             "public": True, "rate_limit": {"per": "client", "requests_per_second": 0.01,
                                            "burst": 1}},
            {"name": "public", "match": {"path_prefix": "/"}, "upstream": "app", "public": True},
        ]
        cfg = make_config([upstream_cfg("app", up), upstream_cfg("down", dead_port)],
                          [tls_listener("agents", routes),
                           plain_listener("local", [dict(routes[-1])])])
        cfg["identity_providers"] = [{"name": "corp", "type": "oidc", "issuer": ISSUER,
                                      "audiences": [AUDIENCE], "jwks_file": jwks_file}]
        cfg["groups"] = {"releasers": {"provider": "corp", "claims": {"team": "release"}}}
        # A Redis nobody runs: the shared-state probe fails and counts it.
        cfg["shared_state"] = {"redis": {"address": f"127.0.0.1:{dead_port}"},
                               "on_failure": "allow"}
        ciap = self.start_ciap(cfg, args=["--concurrency", "1"])
        self.assertTrue(wait_until(lambda: ciap.admin_get("/ready")[0] == 200, 15, 0.05))
        port = ciap.port("agents")

        def get(path, token=None):
            h = {"Authorization": f"Bearer {token}"} if token else {}
            return request(port, "GET", path, headers=h).status

        self.assertEqual(get("/deploy/api", deployer), 200)
        self.assertEqual(get("/deploy/api", deployer), 200)   # a cache hit
        self.assertEqual(get("/deploy/api", outsider), 403)
        self.assertEqual(get("/deploy/api"), 401)
        self.assertEqual(get("/jobs/x", deployer[:-4] + "AAAA"), 401)   # forged signature
        self.assertEqual(get("/jobs/x", outsider), 200)
        self.assertEqual(get("/once/x", outsider), 401)   # no jti: refused, counted
        self.assertEqual(get("/minted/x", outsider), 503)   # the token endpoint is down
        self.assertEqual(get("/index.html"), 200)
        self.assertEqual(get("/broken/x"), 502)
        self.assertEqual(get("/limited/x"), 200)
        self.assertEqual(get("/limited/x"), 429)
        with socket.create_connection(("127.0.0.1", ciap.port("local")), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")   # ambiguous: 400
            self.assertIn(b" 400 ", s.recv(1024))
        self.assertEqual(request(ciap.port("local"), "GET", "/", tls=False).status, 200)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:   # not TLS
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            s.recv(1024)

        def scrape():
            return ciap.metrics()

        self.assertTrue(wait_until(
            lambda: scrape().value("ciap_tls_handshake_errors_total", listener="agents") >= 1,
            5, 0.05), "the failed handshake was not counted")
        m = scrape()
        exported = {n for n, _, _ in m.samples}
        families = set(m.types)
        dashboard, rules, readme = self.queried_metrics()

        def present(name):
            if name in exported or name in families:
                return True
            return any(name.endswith(s) and name[:-len(s)] in families
                       and m.types.get(name[:-len(s)]) == "histogram" for s in HISTOGRAM_SUFFIXES)

        for source, names in (("dashboard", dashboard), ("alert rules", rules),
                              ("README metrics table", readme)):
            missing = sorted(n for n in names if not present(n))
            self.assertEqual(missing, [], f"{source} queries metrics ciap does not export")
            # Present with samples, not just declared: the traffic above produced them.
            empty = sorted(n for n in names if not any(
                s == n or (s.startswith(n) and s[len(n):] in HISTOGRAM_SUFFIXES) for s in exported))
            self.assertEqual(empty, [], f"{source}: metrics without a sample after the traffic")
        print(f"    dashboard {len(dashboard)}, alerts {len(rules)}, README {len(readme)} metric "
              f"names; /metrics has {len(families)} families", file=sys.stderr)
        self.assertEqual(m.value("ciap_authz_total", route="deploy", decision="deny"), 1)
        self.assertEqual(m.value("ciap_authn_total", provider="corp", result="failure",
                                 reason="bad_signature"), 1)
        self.assertGreaterEqual(m.value("ciap_upstream_requests_total", upstream="down",
                                        code="connect_error"), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
