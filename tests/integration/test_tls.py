"""ciap integration tests: downstream TLS (versions, SNI, ALPN) and TLS towards upstreams."""

import re
import ssl
import unittest

from ciaptest import (CiapTestCase, certs, client_context, curl, make_config, request, route,
                      s_client, tls_listener, tls_socket, upstream_cfg)


def handshake(port, *args):
    """Runs openssl s_client; returns (ok, protocol, subject CN, alpn, output)."""
    r = s_client(port, *args)
    out = (r.stdout + r.stderr).decode("utf-8", "replace")
    m = re.search(r"New, (TLSv1\.\d|\(NONE\)), Cipher is (\S+)", out)
    ok = r.returncode == 0 and m is not None and m.group(2) != "(NONE)"
    proto = m.group(1) if m else None
    cn = re.search(r"^subject=.*?CN\s*=\s*([^,\n/]+)", out, re.M)
    alpn = re.search(r"^ALPN protocol: (\S+)", out, re.M)
    return ok, proto, cn.group(1).strip() if cn else None, alpn.group(1) if alpn else None, out


class DownstreamTls(CiapTestCase):

    def _ciap(self, **lk):
        up = self.start_upstream()
        return self.proxy(upstream=up, listener_kw=lk), up

    def test_default_min_version_refuses_tls11_accepts_12_13(self):
        """With the default min_version 1.2, a TLS 1.1 client is refused; TLS 1.2 and 1.3 are accepted."""
        p, _ = self._ciap()
        ok, proto, _, _, out = handshake(p.port(), "-servername", "localhost", "-tls1_1",
                                         "-cipher", "DEFAULT@SECLEVEL=0")
        self.assertFalse(ok, "TLS 1.1 handshake succeeded:\n" + out[-2000:])
        ok, proto, cn, _, out = handshake(p.port(), "-servername", "localhost", "-tls1_2",
                                          "-verify_return_error")
        self.assertTrue(ok, out[-2000:])
        self.assertEqual(proto, "TLSv1.2")
        self.assertEqual(cn, "localhost")
        ok, proto, _, _, out = handshake(p.port(), "-servername", "localhost", "-tls1_3",
                                         "-verify_return_error")
        self.assertTrue(ok, out[-2000:])
        self.assertEqual(proto, "TLSv1.3")
        # Python clients pinned to 1.2 and 1.3 get real HTTP answers.
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            ctx = client_context(min_version=v, max_version=v)
            s = tls_socket(p.port(), context=ctx)
            self.addCleanup(s.close)
            self.assertEqual(s.version(), {ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                                           ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[v])

    def test_min_version_13_refuses_tls12(self):
        """With min_version "1.3", a TLS 1.2 client is refused and a TLS 1.3 client accepted."""
        up = self.start_upstream()
        p = self.proxy(upstream=up, listener_kw={"min_version": "1.3"})
        ok, _, _, _, out = handshake(p.port(), "-servername", "localhost", "-tls1_2")
        self.assertFalse(ok, "TLS 1.2 handshake succeeded with min_version 1.3:\n" + out[-2000:])
        ok, proto, _, _, out = handshake(p.port(), "-servername", "localhost", "-tls1_3",
                                         "-verify_return_error")
        self.assertTrue(ok, out[-2000:])
        self.assertEqual(proto, "TLSv1.3")
        self.assertEqual(request(p.port(), "GET", "/echo").status, 200)
        self.assertEqual(up.request_count, 1)

    def test_alpn_http11(self):
        """ALPN: h2 when offered (the default http2: true), http/1.1 when only it is offered or
        the listener has http2: false."""
        p, _ = self._ciap()
        ok, _, _, alpn, out = handshake(p.port(), "-servername", "localhost", "-alpn", "h2,http/1.1")
        self.assertTrue(ok, out[-2000:])
        self.assertEqual(alpn, "h2")
        s = tls_socket(p.port(), context=client_context(alpn=("http/1.1",)))
        self.addCleanup(s.close)
        self.assertEqual(s.selected_alpn_protocol(), "http/1.1")
        p1, _ = self._ciap(http2=False)
        s1 = tls_socket(p1.port(), context=client_context(alpn=("h2", "http/1.1")))
        self.addCleanup(s1.close)
        self.assertEqual(s1.selected_alpn_protocol(), "http/1.1")

    def test_sni_selects_certificate(self):
        """SNI a.test / b.test select those certificates; unknown or no SNI gets the default (first) one."""
        c = certs()
        p, _ = self._ciap(cert_pairs=[(c.server_crt, c.server_key), (c.a_crt, c.a_key),
                                       (c.b_crt, c.b_key)])
        for sni, want in (("a.test", "a.test"), ("b.test", "b.test"),
                          ("unknown.test", "localhost"), ("localhost", "localhost"),
                          ("x.ciap.test", "localhost")):
            ok, _, cn, _, out = handshake(p.port(), "-servername", sni)
            self.assertTrue(ok, out[-2000:])
            self.assertEqual(cn, want, f"SNI {sni}")
        ok, _, cn, _, out = handshake(p.port(), "-noservername")
        self.assertTrue(ok, out[-2000:])
        self.assertEqual(cn, "localhost", "no SNI")
        # A verifying client using the a.test name succeeds end to end.
        port = p.port()
        r = curl("--resolve", f"a.test:{port}:127.0.0.1", "-w", "%{http_code}", "-o", "/dev/null",
                 f"https://a.test:{port}/echo")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"200")
        r = curl("--resolve", f"b.test:{port}:127.0.0.1", "-w", "%{http_code}", "-o", "/dev/null",
                 f"https://b.test:{port}/echo")
        self.assertEqual((r.returncode, r.stdout), (0, b"200"), r.stderr)

    def test_untrusted_client_verification_fails(self):
        """A client trusting another CA cannot verify ciap's certificate (sanity of the test PKI)."""
        p, _ = self._ciap()
        with self.assertRaises(ssl.SSLCertVerificationError):
            tls_socket(p.port(), context=client_context(ca=certs().other_ca))

    def test_plaintext_listener(self):
        """A plaintext listener serves HTTP without TLS."""
        up = self.start_upstream()
        p = self.proxy(upstream=up, tls=False)
        r = request(p.port("plain"), "GET", "/echo", tls=False)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["path"], "/echo")


class UpstreamTls(CiapTestCase):

    def _ciap(self, up, tls):
        cfg = make_config([upstream_cfg("app", up, tls=tls)], [tls_listener("agents", [route("r", "app")])])
        return self.start_ciap(cfg)

    def test_upstream_tls_verified(self):
        """TLS towards the upstream with sni upstream.test and the test CA works (200)."""
        up = self.start_upstream(tls=True)
        p = self._ciap(up, {"sni": "upstream.test", "ca_file": certs().ca})
        r = request(p.port(), "GET", "/echo")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["path"], "/echo")
        self.assertEqual(up.request_count, 1)
        # keep-alive towards the TLS upstream too
        r = request(p.port(), "GET", "/echo")
        self.assertEqual(r.status, 200)

    def test_upstream_tls_wrong_ca_502(self):
        """An upstream certificate not signed by the configured CA gives 502 and no request upstream."""
        up = self.start_upstream(tls=True)
        p = self._ciap(up, {"sni": "upstream.test", "ca_file": certs().other_ca})
        r = request(p.port(), "GET", "/echo")
        self.assertEqual(r.status, 502, r)
        self.assertEqual(up.request_count, 0)
        self.assertGreaterEqual(up.accepted, 1)

    def test_upstream_tls_wrong_name_502(self):
        """An upstream certificate not valid for the configured sni gives 502."""
        up = self.start_upstream(tls=True)
        p = self._ciap(up, {"sni": "not-upstream.test", "ca_file": certs().ca})
        r = request(p.port(), "GET", "/echo")
        self.assertEqual(r.status, 502, r)
        self.assertEqual(up.request_count, 0)


if __name__ == "__main__":
    unittest.main()
