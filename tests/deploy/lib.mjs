// Shared helpers of the deploy tests (config schema, Helm chart, dashboard): the npm packages of
// tests/idp (ajv, yaml), a throwaway PKI from scripts/gen-certs, `ciap validate`, and a tiny
// check runner that prints one line per check and "N passed, N failed" at the end.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export const SOURCE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const idpRequire = createRequire(path.join(SOURCE_DIR, 'tests', 'idp', 'package.json'));

// ajv and yaml live in tests/idp/node_modules (scripts/bootstrap runs `npm ci` there).
export function loadPackages() {
  try {
    return { Ajv: idpRequire('ajv'), YAML: idpRequire('yaml') };
  } catch (e) {
    console.error(`deploy tests need tests/idp/node_modules (run scripts/bootstrap, or npm ci in ` +
                  `tests/idp): ${e.message}`);
    process.exit(1);
  }
}

const { Ajv, YAML } = loadPackages();
export { YAML };

// One Ajv for every schema: draft-07, strict about the schema itself (unknown keywords, bad
// patterns) but not about `required` inside if/then, which is how the conditional rules are written.
export function newAjv() {
  return new Ajv({ allErrors: true, strict: true, strictRequired: false, strictTypes: false,
                   allowUnionTypes: true });
}

export function readYaml(file) {
  return YAML.parse(fs.readFileSync(file, 'utf8'), { logLevel: 'error' });
}

export function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

export function listFiles(dir, ext) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((f) => f.endsWith(ext)).sort().map((f) => path.join(dir, f));
}

export function tmpDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// A PKI from scripts/gen-certs laid out the ways the examples expect: tls/ as /etc/ciap/tls
// (tls.crt, tls.key, ca.crt, client.*), demo/ like scripts/demo's (certs/, idp/jwks.json),
// secrets/ with assertion keys, a GitHub App key and a client secret.
export function makePki(tmp) {
  const tls = path.join(tmp, 'tls');
  execFileSync(path.join(SOURCE_DIR, 'scripts', 'gen-certs'), [tls], { stdio: 'ignore' });
  fs.copyFileSync(path.join(tls, 'server.crt'), path.join(tls, 'tls.crt'));
  fs.copyFileSync(path.join(tls, 'server.key'), path.join(tls, 'tls.key'));
  fs.writeFileSync(path.join(tls, 'token'), 'a-deploy-test-token\n');  // for ${secret:} values
  const demo = path.join(tmp, 'demo');
  fs.cpSync(tls, path.join(demo, 'certs'), { recursive: true });
  execFileSync('python3', [path.join(SOURCE_DIR, 'scripts', 'demo-token'), '--dir',
                           path.join(demo, 'idp'), '--jwks-only'], { stdio: 'ignore' });
  // secrets/ as examples/upstream-credentials.yaml names it (CIAP_SECRETS_DIR).
  const secrets = path.join(tmp, 'secrets');
  fs.mkdirSync(secrets);
  const keys = [['assertion-current.pem', ['EC', '-pkeyopt', 'ec_paramgen_curve:P-256']],
                ['assertion-next.pem', ['ED25519']],
                ['github-app.pem', ['RSA', '-pkeyopt', 'rsa_keygen_bits:2048']]];
  for (const [name, algorithm] of keys) {
    execFileSync('openssl', ['genpkey', '-algorithm', ...algorithm, '-out',
                             path.join(secrets, name)], { stdio: 'ignore' });
  }
  fs.writeFileSync(path.join(secrets, 'deploy-client'), 'a-deploy-test-secret\n');
  return { tls, demo, secrets, jwks: path.join(demo, 'idp', 'jwks.json') };
}

// `ciap validate -c file`: { code, stdout, stderr }.
export function ciapValidate(ciap, file, env) {
  const r = spawnSync(ciap, ['validate', '-c', file], { env, encoding: 'utf8', timeout: 60000 });
  return { code: r.status, stdout: r.stdout || '', stderr: r.stderr || '' };
}

// The key paths of `ciap validate` errors ("FILE:LINE:COL: KEY_PATH: message").
export function errorKeyPaths(stderr) {
  const paths = [];
  for (const line of stderr.split('\n')) {
    const m = line.match(/:\d+:\d+: (\S+): /);
    if (m) paths.push(m[1]);
  }
  return paths;
}

export function formatAjvErrors(errors) {
  return (errors || []).map((e) => `  ${e.instancePath || '/'} ${e.message}`).join('\n');
}

// Runs named checks; a check throws to fail. summary() prints the closing line and sets the exit code.
export class Checks {
  constructor() { this.passed = 0; this.failed = 0; this.skipped = 0; }

  run(name, fn) {
    try {
      const note = fn();
      this.passed++;
      console.log(`ok   ${name}${typeof note === 'string' ? ` (${note})` : ''}`);
    } catch (e) {
      this.failed++;
      console.log(`FAIL ${name}\n${String(e.message || e).replace(/^/gm, '     ')}`);
    }
  }

  skip(name, why) {
    this.skipped++;
    console.log(`skip ${name} (${why})`);
  }

  summary() {
    console.log(`\n${this.passed} passed, ${this.failed} failed` +
                (this.skipped ? `, ${this.skipped} skipped` : ''));
    process.exitCode = this.failed ? 1 : 0;
  }
}

export function assert(condition, message) {
  if (!condition) throw new Error(message);
}
