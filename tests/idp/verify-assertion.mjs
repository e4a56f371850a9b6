// Verifies ciap's upstream assertions with jose, an implementation independent of ciap's, the
// way an upstream would: the key set fetched from the URL ciap publishes, the issuer and
// audience pinned, the algorithms limited to what ciap signs with.
//
// Usage: node verify-assertion.mjs < spec.json > result.json
//   spec:   { "jwks_url": "https://127.0.0.1:PORT/.well-known/ciap/jwks.json",
//             "issuer": "...", "audience": "...", "tokens": ["<compact JWS>", ...] }
//   result: { "jwks": {...as fetched...},
//             "results": [ { "ok": true, "payload": {...}, "header": {...} }
//                        | { "ok": false, "code": "ERR_JWS_SIGNATURE_VERIFICATION_FAILED", ... } ] }
// HTTPS trust comes from NODE_EXTRA_CA_CERTS (the tests' CA).
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, jwtVerify } from 'jose';

const spec = JSON.parse(readFileSync(0, 'utf8'));
const response = await fetch(spec.jwks_url);
if (response.status !== 200) {
  console.error(`GET ${spec.jwks_url}: ${response.status}`);
  process.exit(1);
}
const jwks = await response.json();
const keys = createLocalJWKSet(jwks);
const results = [];
for (const token of spec.tokens) {
  try {
    const { payload, protectedHeader } = await jwtVerify(token, keys, {
      issuer: spec.issuer,
      audience: spec.audience,
      algorithms: ['ES256', 'EdDSA'],
      typ: 'JWT',
      requiredClaims: ['iat', 'exp', 'jti', 'sub'],
    });
    results.push({ ok: true, payload, header: protectedHeader });
  } catch (e) {
    results.push({ ok: false, code: e.code || 'ERROR', message: String(e.message) });
  }
}
process.stdout.write(JSON.stringify({ jwks, results }));
