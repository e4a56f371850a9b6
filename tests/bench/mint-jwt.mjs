// Mints the RS256 tokens for scripts/bench's JWT scenarios with node:crypto only (no packages):
// a key pair, its public key as PEM (HAProxy's jwt_verify) and as a JWKS (ciap's jwks_file),
// one token for the repeated-token run and COUNT distinct tokens for the no-cache run.
// Usage: node tests/bench/mint-jwt.mjs OUT_DIR COUNT
import { generateKeyPairSync, sign, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';

const [outDir, countArg] = process.argv.slice(2);
const count = Number(countArg ?? 20000);
const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
writeFileSync(`${outDir}/jwt.pub`, publicKey.export({ type: 'spki', format: 'pem' }));
const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'bench-1', alg: 'RS256', use: 'sig' };
writeFileSync(`${outDir}/jwks.json`, JSON.stringify({ keys: [jwk] }));

const b64url = (buffer) => Buffer.from(buffer).toString('base64url');
const header = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: 'bench-1' }));
const now = Math.floor(Date.now() / 1000);
const mint = (n) => {
  // A realistic CI token: ~700 bytes of claims, like the CI vendors' tokens.
  const claims = {
    iss: 'https://issuer.example', aud: 'https://audience.example', sub: `pipeline:deploy-api:job:${n}`,
    iat: now, nbf: now, exp: now + 3600, jti: b64url(randomBytes(12)),
    groups: ['ci', 'release'], organization_slug: 'acme-inc', pipeline_slug: 'deploy-api',
    build_branch: 'main', build_commit: '9f3182061f1e2cca4702c368cbc039b7dc9d4485',
    job_id: `0184990a-477b-4fa8-9968-${String(n).padStart(12, '0')}`, runner_environment: 'self-hosted',
  };
  const input = `${header}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${b64url(sign('sha256', Buffer.from(input), privateKey))}`;
};
writeFileSync(`${outDir}/token`, mint(0));
const tokens = [];
for (let i = 1; i <= count; i++) tokens.push(mint(i));
writeFileSync(`${outDir}/tokens.txt`, tokens.join('\n') + '\n');
