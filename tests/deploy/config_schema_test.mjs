// config/ciap.schema.json and `ciap validate` agree:
// - every examples/*.yaml, every valid config fixture (tests/fixtures/config/valid) and the
//   edge forms in tests/deploy/config/valid are accepted by both;
// - every broken config of tests/deploy/config/broken, and the broken fixtures of
//   tests/fixtures/config/broken that a schema can express, are rejected by both, each for the
//   reason it was written for: the schema reports an error at the expected instance path and
//   ciap an error under the expected key path;
// - the schema compiles in Ajv's strict mode, every key has a description, and the README
//   points editors at it.
//
// Usage: node config_schema_test.mjs PATH/TO/ciap
import fs from 'node:fs';
import path from 'node:path';
import {
  Checks, SOURCE_DIR, assert, ciapValidate, errorKeyPaths, formatAjvErrors, listFiles, makePki,
  newAjv, readJson, readYaml, tmpDir,
} from './lib.mjs';

const ciap = process.argv[2];
if (!ciap) {
  console.error('usage: node config_schema_test.mjs PATH/TO/ciap');
  process.exit(2);
}

const MIN_BROKEN = 15;
const HERE = path.join(SOURCE_DIR, 'tests', 'deploy', 'config');
const SCHEMA_FILE = path.join(SOURCE_DIR, 'config', 'ciap.schema.json');

// Broken fixtures of tests/fixtures/config/broken that the schema catches, with the instance path
// of the schema error that says why (their `# expect:` line is the ciap side). The others need
// what a schema cannot know: files, cross-references, regex syntax, filter order, env variables.
const FIXTURE_SCHEMA_PATHS = {
  'bad-duration-unit.yaml': '/listeners/0/routes/0/timeout',
  'bare-number-duration.yaml': '/upstreams/0/connect_timeout',
  'bool-yes.yaml': '/listeners/0/routes/0/public',
  'client-auth-invalid.yaml': '/listeners/0/tls/client_auth',
  'client-auth-without-ca.yaml': '/listeners/0/tls',
  'empty.yaml': '',
  'group-name-with-colon.yaml': '/groups',
  'group-two-rule-kinds.yaml': '/groups/deployers',
  'hop-by-hop-header.yaml': '/listeners/0/routes/0/request_headers/set',
  'limits-out-of-range.yaml': '/listeners/0/limits/max_header_bytes',
  'listener-address-dns.yaml': '/listeners/0/address',
  'missing-listeners.yaml': '',
  'neither-tls-nor-plaintext.yaml': '/listeners/0',
  'path-without-slash.yaml': '/listeners/0/routes/0/match/path',
  'port-out-of-range.yaml': '/upstreams/0/endpoints/1',
  'provider-algorithm-hs256.yaml': '/identity_providers/0/algorithms/0',
  'provider-algorithm-none.yaml': '/identity_providers/0/algorithms/1',
  'provider-buildkite-no-tenant.yaml': '/identity_providers/0',
  'provider-circleci-root-no-tenant.yaml': '/identity_providers/0',
  'provider-gitlab-com-no-tenant.yaml': '/identity_providers/0/bound_claims',
  'provider-http-issuer.yaml': '/identity_providers/0/issuer',
  'provider-jwks-uri-and-file.yaml': '/identity_providers/0',
  'provider-matcher-two-operators.yaml': '/identity_providers/0/bound_claims/groups',
  'provider-missing-audiences.yaml': '/identity_providers/0',
  'public-and-authenticate.yaml': '/listeners/0/routes/0/authenticate',
  'route-bad-mode.yaml': '/listeners/0/routes/0/mode',
  'route-deny-only.yaml': '/listeners/0/routes/0',
  'route-not-public.yaml': '/listeners/0/routes/0',
  'tls-and-plaintext.yaml': '/listeners/0',
  'two-path-matchers.yaml': '/listeners/0/routes/0/match',
  'unknown-filter.yaml': '/listeners/0/filters/1',
  'unknown-nested-key.yaml': '/upstreams/0/tls',
  'unknown-route-key.yaml': '/listeners/0/routes/0',
  'unknown-top-level-key.yaml': '',
  'wrong-type.yaml': '/upstreams/0/endpoints',
};

const checks = new Checks();
const tmp = tmpDir('ciap-schema-test-');
const pki = makePki(tmp);
const env = {
  ...process.env,
  CIAP_TLS_DIR: pki.tls,
  CIAP_DEMO_DIR: pki.demo,
  CIAP_SECRETS_DIR: pki.secrets,
  CIAP_TEST_CERTS: pki.tls,
  CIAP_FIXTURE_UPSTREAM: '127.0.0.1:9000',
  CIAP_FIXTURE_TIMEOUT: '45s',
  CIAP_DEPLOY_JWKS: pki.jwks,
  CIAP_DEPLOY_MAX_CONNECTIONS: '100',
  CIAP_DEPLOY_PLAINTEXT: 'true',
};
delete env.CIAP_FIXTURE_UNSET_HOST;

const schema = readJson(SCHEMA_FILE);
let validate;
checks.run('schema compiles (Ajv strict mode, draft-07)', () => {
  validate = newAjv().compile(schema);
});
if (!validate) {
  checks.summary();
  process.exit();
}

// Every key says what it is, directly or through the definition it refers to (keys named again
// inside conditions, allOf/if/then/not, are the same keys).
checks.run('every key in the schema has a description', () => {
  const missing = [];
  const walk = (node, where) => {
    if (Array.isArray(node)) {
      node.forEach((n, i) => walk(n, `${where}/${i}`));
      return;
    }
    if (!node || typeof node !== 'object') return;
    if (node.properties && typeof node.properties === 'object') {
      for (const [key, sub] of Object.entries(node.properties)) {
        let described = typeof sub.description === 'string';
        if (!described && sub.$ref) {
          const target = sub.$ref.replace('#/definitions/', '');
          described = typeof schema.definitions[target]?.description === 'string';
        }
        if (!described && !/\/(allOf|if|then|else|not)(\/|$)/.test(where)) {
          missing.push(`${where}/properties/${key}`);
        }
      }
    }
    for (const [k, v] of Object.entries(node)) walk(v, `${where}/${k}`);
  };
  walk(schema, '#');
  assert(missing.length === 0, `keys without a description:\n  ${missing.join('\n  ')}`);
  return `${countKeys(schema)} keys`;
});

function countKeys(node) {
  if (!node || typeof node !== 'object') return 0;
  let n = node.properties ? Object.keys(node.properties).length : 0;
  for (const v of Object.values(node)) n += countKeys(v);
  return n;
}

checks.run('README points yaml-language-server at the schema', () => {
  const readme = fs.readFileSync(path.join(SOURCE_DIR, 'README.md'), 'utf8');
  assert(/# yaml-language-server: \$schema=\S*config\/ciap\.schema\.json/.test(readme),
         'README.md has no "# yaml-language-server: $schema=.../config/ciap.schema.json" line');
});

// ----- valid configs: both accept -----
const valid = [
  ...listFiles(path.join(SOURCE_DIR, 'examples'), '.yaml').filter((f) => !f.endsWith('.cases.yaml')),
  ...listFiles(path.join(SOURCE_DIR, 'tests', 'fixtures', 'config', 'valid'), '.yaml'),
  ...listFiles(path.join(HERE, 'valid'), '.yaml'),
];
for (const file of valid) {
  const name = path.relative(SOURCE_DIR, file);
  checks.run(`valid: ${name}`, () => {
    const doc = readYaml(file);
    assert(validate(doc), `the schema rejects it:\n${formatAjvErrors(validate.errors)}`);
    const r = ciapValidate(ciap, file, env);
    assert(r.code === 0, `ciap validate exits ${r.code}:\n${r.stderr}`);
  });
}

// ----- broken configs: both reject, for the same reason -----
function checkBroken(file, schemaPath, ciapPath) {
  let doc;
  try {
    doc = readYaml(file);
  } catch (e) {
    throw new Error(`not YAML: ${e.message}`);
  }
  assert(!validate(doc), 'the schema accepts it');
  const paths = validate.errors.map((e) => e.instancePath);
  assert(paths.includes(schemaPath),
         `no schema error at ${schemaPath || '(root)'}:\n${formatAjvErrors(validate.errors)}`);
  const r = ciapValidate(ciap, file, env);
  assert(r.code === 1, `ciap validate exits ${r.code}, not 1:\n${r.stdout}${r.stderr}`);
  if (ciapPath) {
    assert(errorKeyPaths(r.stderr).some((p) => p.startsWith(ciapPath)),
           `no ciap error under ${ciapPath}:\n${r.stderr}`);
  }
}

let broken = 0;
for (const file of listFiles(path.join(HERE, 'broken'), '.yaml')) {
  const text = fs.readFileSync(file, 'utf8');
  const schemaPath = text.match(/^# schema: (\S*)$/m);
  const ciapPath = text.match(/^# ciap: (\S+)$/m);
  broken++;
  checks.run(`broken: ${path.relative(SOURCE_DIR, file)}`, () => {
    assert(schemaPath && ciapPath, 'needs "# schema: INSTANCE_PATH" and "# ciap: KEY_PATH" lines');
    checkBroken(file, schemaPath[1], ciapPath[1]);
  });
}
const fixtureDir = path.join(SOURCE_DIR, 'tests', 'fixtures', 'config', 'broken');
for (const [name, schemaPath] of Object.entries(FIXTURE_SCHEMA_PATHS)) {
  const file = path.join(fixtureDir, name);
  broken++;
  checks.run(`broken: ${path.relative(SOURCE_DIR, file)}`, () => {
    assert(fs.existsSync(file), 'fixture is gone: update FIXTURE_SCHEMA_PATHS');
    const expect = fs.readFileSync(file, 'utf8').match(/^# expect: \d+:\d+: (\S*): /);
    checkBroken(file, schemaPath, expect ? expect[1] : null);
  });
}
checks.run(`at least ${MIN_BROKEN} broken configs`, () => {
  assert(broken >= MIN_BROKEN, `only ${broken}`);
  return `${broken}`;
});

checks.summary();
