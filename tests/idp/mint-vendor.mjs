// Mints CI-vendor-shaped tokens with jose for ciap's identity integration tests
// (tests/integration/test_identity.py): the caller states keys and payloads, this signs them.
//
// Usage: node mint-vendor.mjs < spec.json > result.json
//
// spec:
//   { "keys":   [ { "name": "buildkite", "alg": "RS256" },            // a fresh key ...
//                 { "name": "idp", "private_jwk": { ... } } ],          // ... or a given one
//     "tokens": [ { "key": "buildkite", "payload": { ... },
//                   "kid": "other-kid",     // optional: the header kid (default: the key's;
//                                           //   null: no kid in the header)
//                   "typ": "JWT" } ] }      // optional header typ (default JWT)
// result:
//   { "keys": { "<name>": { "kid": "...", "alg": "...", "private_jwk": {...}, "public_jwk": {...} } },
//     "jwks": { "<name>": { "keys": [ public_jwk ] } },
//     "tokens": [ "<compact JWS>", ... ] }     // in spec order
//
// Payloads are signed exactly as given (iat/exp/nbf included): the caller owns the clock.
import { readFileSync } from 'node:fs';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, SignJWT } from 'jose';

const spec = JSON.parse(readFileSync(0, 'utf8'));

function keyOptions(alg) {
  if (alg === 'EdDSA') return { crv: 'Ed25519', extractable: true };
  if (alg.startsWith('RS') || alg.startsWith('PS')) return { modulusLength: 2048, extractable: true };
  return { extractable: true };
}

function publicPart(jwk) {
  const { d, p, q, dp, dq, qi, ...rest } = jwk;  // eslint-disable-line no-unused-vars
  return rest;
}

const keys = {};
const signers = {};
for (const k of spec.keys || []) {
  let privateJwk = k.private_jwk;
  if (!privateJwk) {
    const alg = k.alg || 'RS256';
    const { privateKey } = await generateKeyPair(alg, keyOptions(alg));
    privateJwk = await exportJWK(privateKey);
    privateJwk.alg = alg;
    privateJwk.use = 'sig';
    privateJwk.kid = k.kid || `${k.name}-${(await calculateJwkThumbprint(privateJwk)).slice(0, 12)}`;
  }
  const alg = privateJwk.alg || k.alg || 'RS256';
  keys[k.name] = {
    kid: privateJwk.kid, alg, private_jwk: privateJwk, public_jwk: publicPart(privateJwk),
  };
  signers[k.name] = await importJWK(privateJwk, alg);
}

const tokens = [];
for (const t of spec.tokens || []) {
  const key = keys[t.key];
  if (!key) throw new Error(`token names unknown key ${t.key}`);
  const header = { alg: key.alg, typ: t.typ === undefined ? 'JWT' : t.typ };
  const kid = t.kid === undefined ? key.kid : t.kid;
  if (kid !== null) header.kid = kid;
  tokens.push(await new SignJWT(t.payload).setProtectedHeader(header).sign(signers[t.key]));
}

const jwks = {};
for (const [name, k] of Object.entries(keys)) jwks[name] = { keys: [k.public_jwk] };
process.stdout.write(`${JSON.stringify({ keys, jwks, tokens })}\n`);
