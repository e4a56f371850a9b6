// Mints cross-implementation fixtures for ciap's JWS verifier with `jose` (an independent,
// widely used implementation): a JWKS with one key per supported algorithm, a valid token per
// algorithm, and tampered variants that any correct verifier must refuse.
//
// Usage: node mint-tokens.mjs OUTPUT.json
// Read by tests/unit/jose/jose_interop_test.cc (env CIAP_JOSE_FIXTURE).
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';

const output = process.argv[2];
if (!output) {
  console.error('usage: node mint-tokens.mjs OUTPUT.json');
  process.exit(2);
}

const ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'EdDSA'];
// For the alg-swap case: another alg the same key type could do, which the JWK's alg forbids.
const SWAPPED = {
  RS256: 'PS256', RS384: 'PS384', RS512: 'PS512',
  PS256: 'RS256', PS384: 'RS384', PS512: 'RS512',
  ES256: 'ES384', ES384: 'ES256', EdDSA: 'ES256',
};

const ISSUER = 'https://token.actions.githubusercontent.com';
const AUDIENCE = 'https://ci-proxy.acme.internal';
const now = Math.floor(Date.now() / 1000);

const b64 = (bytes) => Buffer.from(bytes).toString('base64url');
const unb64 = (text) => Buffer.from(text, 'base64url');

function keyOptions(alg) {
  return alg === 'EdDSA' ? { crv: 'Ed25519' } : {};
}

function sign(payload, alg, kid, privateKey) {
  return new SignJWT(payload)
    .setProtectedHeader({ alg, kid, typ: 'JWT' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt(now - 60)
    .setNotBefore(now - 120)
    .setExpirationTime(now + 300)
    .sign(privateKey);
}

function replaceSegment(token, index, value) {
  const parts = token.split('.');
  parts[index] = value;
  return parts.join('.');
}

const keys = [];
const cases = [];
for (const alg of ALGS) {
  const kid = `jose-${alg.toLowerCase()}`;
  const { publicKey, privateKey } = await generateKeyPair(alg, keyOptions(alg));
  const other = await generateKeyPair(alg, keyOptions(alg));
  keys.push({ ...(await exportJWK(publicKey)), kid, alg, use: 'sig' });

  const payload = {
    sub: `repo:octo-org/deploy-api:ref:refs/heads/main:${alg}`,
    repository_owner: 'octo-org',
    repository_id: '74',
    groups: ['release', 'deploy'],
  };
  const token = await sign(payload, alg, kid, privateKey);
  cases.push({ name: `${alg}/valid`, alg, kid, token, expect: 'ok' });

  const [header, body, signature] = token.split('.');
  const claims = JSON.parse(unb64(body).toString('utf8'));
  const forged = b64(JSON.stringify({ ...claims, repository_owner: 'evil-org' }));
  cases.push({ name: `${alg}/payload_changed`, alg, kid, token: replaceSegment(token, 1, forged),
               expect: 'bad_signature' });

  const flipped = unb64(signature);
  flipped[flipped.length >> 1] ^= 0x01;
  cases.push({ name: `${alg}/signature_flipped`, alg, kid,
               token: replaceSegment(token, 2, b64(flipped)), expect: 'bad_signature' });

  cases.push({ name: `${alg}/signature_truncated`, alg, kid,
               token: replaceSegment(token, 2, b64(unb64(signature).subarray(1))),
               expect: 'bad_signature' });

  cases.push({ name: `${alg}/signed_by_other_key`, alg, kid,
               token: await sign(payload, alg, kid, other.privateKey), expect: 'bad_signature' });

  const swappedHeader = { ...JSON.parse(unb64(header).toString('utf8')), alg: SWAPPED[alg] };
  cases.push({ name: `${alg}/alg_swapped`, alg, kid,
               token: replaceSegment(token, 0, b64(JSON.stringify(swappedHeader))),
               expect: 'alg_key_mismatch' });
}

const require = createRequire(import.meta.url);
const fixture = {
  generator: `jose ${require('jose/package.json').version}`,
  now,
  issuer: ISSUER,
  audience: AUDIENCE,
  jwks: { keys },
  cases,
};
writeFileSync(output, JSON.stringify(fixture, null, 2) + '\n');
console.log(`mint-tokens: ${cases.length} tokens for ${ALGS.length} algorithms -> ${output}`);
