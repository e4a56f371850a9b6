// The Helm chart helm/ciap, tested without a helm binary (none is installable here):
// - Chart.yaml, values.yaml and every example are well-formed YAML; the chart's appVersion is the
//   project's version; values.schema.json carries an up-to-date copy of config/ciap.schema.json;
// - values.yaml and every helm/ciap/examples/*.yaml (merged over the defaults as Helm does)
//   pass values.schema.json, and broken values files (tests/deploy/values/broken) do not;
// - the ciap config inside each passes `ciap validate`, with every file it names inside a
//   volume the chart mounts (the files are laid out in a temporary root for the check);
// - when `go` is installed, tests/deploy/helmrender renders the templates with Go's
//   text/template (Helm's engine) for the defaults and each example, in both modes: every
//   manifest is YAML with the expected kinds, the pod runs non-root with a read-only root
//   filesystem and no capabilities, probes hit /healthz and /ready on the admin port, every
//   mount has its volume, the rendered ConfigMap is exactly the config that was validated,
//   and the sidecar's worked example (agent-stack-k8s values) is what the chart prints.
//
// Usage: node helm_test.mjs PATH/TO/ciap
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  Checks, SOURCE_DIR, YAML, assert, ciapValidate, formatAjvErrors, listFiles, makePki, newAjv,
  readJson, readYaml, tmpDir,
} from './lib.mjs';
import { VALUES_SCHEMA, syncedValuesSchema } from './sync_values_schema.mjs';

const ciap = process.argv[2];
if (!ciap) {
  console.error('usage: node helm_test.mjs PATH/TO/ciap');
  process.exit(2);
}

const CHART = path.join(SOURCE_DIR, 'helm', 'ciap');
const EXAMPLES = path.join(CHART, 'examples');
const RENDERER = path.join(SOURCE_DIR, 'tests', 'deploy', 'helmrender', 'main.go');
// Files the image has (Debian's ca-certificates): configs may name them without a mount.
const IMAGE_FILES = ['/etc/ssl/certs/ca-certificates.crt'];
const FILE_KEYS = new Set(['cert_file', 'key_file', 'ca_file', 'client_ca_file', 'jwks_file']);

const checks = new Checks();
const tmp = tmpDir('ciap-helm-test-');
const pki = makePki(tmp);
const defaults = readYaml(path.join(CHART, 'values.yaml'));
const ajv = newAjv();
let validateValues;

// Helm's coalescing of user values over the chart's: maps merge, anything else replaces, and
// null deletes the key.
function coalesce(base, over) {
  if (over === undefined) return structuredClone(base);
  if (!isMap(base) || !isMap(over)) return structuredClone(over);
  const out = structuredClone(base);
  for (const [k, v] of Object.entries(over)) {
    if (v === null) delete out[k];
    else out[k] = k in out ? coalesce(out[k], v) : structuredClone(v);
  }
  return out;
}

// JSON with sorted keys: equal for equal data, whatever the key order.
function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isMap(v)) {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

function isMap(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

// The config the chart renders: ciap.config in _helpers.tpl.
function chartConfig(values) {
  const config = structuredClone(values.config);
  config.admin = config.admin || {};
  if (!('address' in config.admin)) config.admin.address = `0.0.0.0:${values.admin.port}`;
  return config;
}

// The directories the ciap container mounts (ciap.container in _helpers.tpl).
function mountPaths(values) {
  const mounts = [values.configMountPath];
  if (values.tls.secretName || values.tls.certManager.enabled) mounts.push(values.tls.mountPath);
  for (const m of values.secretMounts || []) mounts.push(m.mountPath);
  for (const m of values.extraVolumeMounts || []) mounts.push(m.mountPath);
  return mounts;
}

// Every file a config names: [keyPath, path], including ${secret:/path} header values.
function configFiles(node, where = '', out = []) {
  if (Array.isArray(node)) {
    node.forEach((v, i) => configFiles(v, `${where}[${i}]`, out));
  } else if (isMap(node)) {
    for (const [k, v] of Object.entries(node)) {
      const at = where ? `${where}.${k}` : k;
      if (FILE_KEYS.has(k) && typeof v === 'string') out.push([at, v]);
      else configFiles(v, at, out);
    }
  } else if (typeof node === 'string') {
    for (const m of node.matchAll(/\$\{secret:([^}]+)\}/g)) out.push([where, m[1]]);
  }
  return out;
}

// The config with each mounted file replaced by a stand-in under `root` (certificates and keys
// from the test PKI, a real JWKS, placeholders for secrets and ${secret:} files), for `ciap
// validate` to check.
function materialize(config, root) {
  const standIn = (file) => {
    const base = path.basename(file);
    if (/jwks/.test(base)) return pki.jwks;
    if (/\.key$/.test(base)) return path.join(pki.tls, 'tls.key');
    if (/ca|\.pem$/.test(base)) return path.join(pki.tls, 'ca.crt');
    if (/\.crt$/.test(base)) return path.join(pki.tls, 'tls.crt');
    return null;
  };
  const walk = (node) => {
    if (Array.isArray(node)) return node.map(walk);
    if (isMap(node)) {
      const out = {};
      for (const [k, v] of Object.entries(node)) {
        if (FILE_KEYS.has(k) && typeof v === 'string' && !IMAGE_FILES.includes(v)) {
          const dest = path.join(root, v);
          fs.mkdirSync(path.dirname(dest), { recursive: true });
          const from = standIn(v);
          if (from) fs.copyFileSync(from, dest);
          else fs.writeFileSync(dest, 'stand-in\n');
          out[k] = dest;
        } else {
          out[k] = walk(v);
        }
      }
      return out;
    }
    if (typeof node === 'string') {
      // ${secret:/path} header values: ciap validate reads those files as run does.
      return node.replace(/\$\{secret:([^}]+)\}/g, (_, file) => {
        const dest = path.join(root, file);
        fs.mkdirSync(path.dirname(dest), { recursive: true });
        fs.writeFileSync(dest, 'stand-in-token\n');
        return `\${secret:${dest}}`;
      });
    }
    return node;
  };
  return walk(config);
}

function listenerPorts(config) {
  return (config.listeners || []).map((l) => Number(String(l.address).split(':').pop()));
}

// `ciap validate` on a config as the pod would see it; env from the values' literal `env`.
function validateConfig(name, values, configText) {
  const config = YAML.parse(configText);
  const mounts = mountPaths(values);
  for (const [at, file] of configFiles(config)) {
    assert(IMAGE_FILES.includes(file) || mounts.some((m) => file.startsWith(`${m}/`)),
           `${at}: ${file} is in none of the mounted directories (${mounts.join(', ')})`);
  }
  const ports = listenerPorts(config);
  for (const p of values.service.ports) {
    assert(ports.includes(p.targetPort),
           `service port ${p.name} targets ${p.targetPort}, which no listener binds (${ports})`);
  }
  const root = path.join(tmp, 'root', name);
  const file = path.join(root, 'ciap.yaml');
  fs.mkdirSync(root, { recursive: true });
  fs.writeFileSync(file, YAML.stringify(materialize(config, root)));
  const env = { ...process.env };
  for (const e of values.env || []) if (typeof e.value === 'string') env[e.name] = e.value;
  const r = ciapValidate(ciap, file, env);
  assert(r.code === 0, `ciap validate exits ${r.code}:\n${r.stderr}\n--- config:\n${configText}`);
}

// ----- chart metadata and schema -----
checks.run('Chart.yaml: apiVersion v2, name ciap, semver version, appVersion = project version', () => {
  const chart = readYaml(path.join(CHART, 'Chart.yaml'));
  assert(chart.apiVersion === 'v2' && chart.name === 'ciap', JSON.stringify(chart));
  assert(/^\d+\.\d+\.\d+$/.test(chart.version), `version ${chart.version}`);
  const cmake = fs.readFileSync(path.join(SOURCE_DIR, 'CMakeLists.txt'), 'utf8');
  const project = cmake.match(/project\(ciap VERSION (\S+)/)[1];
  assert(chart.appVersion === project, `appVersion ${chart.appVersion}, project ${project}`);
});

checks.run('values.schema.json has the current config/ciap.schema.json', () => {
  assert(fs.readFileSync(VALUES_SCHEMA, 'utf8') === syncedValuesSchema(),
         'stale: run node tests/deploy/sync_values_schema.mjs');
});

checks.run('values.schema.json compiles (Ajv strict mode)', () => {
  validateValues = ajv.compile(readJson(VALUES_SCHEMA));
});

// Templates only call named templates that exist (caught here even without go).
checks.run('every include names a defined template', () => {
  const texts = listFiles(path.join(CHART, 'templates'), '')
    .filter((f) => fs.statSync(f).isFile()).map((f) => fs.readFileSync(f, 'utf8'));
  const defined = new Set(texts.flatMap((t) => [...t.matchAll(/define "([^"]+)"/g)].map((m) => m[1])));
  const used = texts.flatMap((t) => [...t.matchAll(/include "([^"]+)"/g)].map((m) => m[1]));
  const missing = used.filter((u) => !defined.has(u));
  assert(missing.length === 0, `undefined: ${missing}`);
  return `${defined.size} defined`;
});

const examples = listFiles(EXAMPLES, '.yaml').filter((f) => !/\..+\.yaml$/.test(path.basename(f)));
// The defaults have a TLS listener and leave its Secret to the user (the chart refuses to render
// without one): the default case names one.
const cases = [['values.yaml (defaults)', { tls: { secretName: 'ciap-tls' } }], ...examples.map((f) => [
  `examples/${path.basename(f)}`, readYaml(f)])];

for (const [name, user] of cases) {
  const values = coalesce(defaults, user);
  checks.run(`${name}: passes values.schema.json`, () => {
    assert(validateValues(values), formatAjvErrors(validateValues.errors));
  });
  if (values.existingConfigMap) continue;
  checks.run(`${name}: its ciap config passes ciap validate inside the pod's mounts`, () => {
    validateConfig(name.replace(/\W+/g, '-'), values, YAML.stringify(chartConfig(values)));
  });
}

// ----- values the schema must refuse -----
const brokenValues = listFiles(path.join(SOURCE_DIR, 'tests', 'deploy', 'values', 'broken'), '.yaml');
for (const file of brokenValues) {
  checks.run(`broken values: ${path.basename(file)}`, () => {
    const text = fs.readFileSync(file, 'utf8');
    const expect = text.match(/^# schema: (\S*)$/m);
    assert(expect, 'needs a "# schema: INSTANCE_PATH" line');
    const values = coalesce(defaults, YAML.parse(text));
    assert(!validateValues(values), 'values.schema.json accepts it');
    assert(validateValues.errors.some((e) => e.instancePath === expect[1]),
           `no error at ${expect[1]}:\n${formatAjvErrors(validateValues.errors)}`);
  });
}
checks.run('at least 8 broken values files', () => {
  assert(brokenValues.length >= 8, `${brokenValues.length}`);
});

// ----- rendering -----
const go = spawnSync('go', ['version'], { encoding: 'utf8' });
if (go.status !== 0) {
  checks.skip('rendering the templates', '`go` is not installed (Debian: apt-get install golang-go)');
} else {
  for (const [name, user] of cases) {
    for (const mode of ['gateway', 'sidecar']) {
      const values = coalesce(defaults, { ...user, mode });
      checks.run(`render ${name} as ${mode}`, () => checkRender(name, values));
    }
  }
  checks.run('render: a TLS listener without a certificate source fails with a message', () => {
    const r = render(coalesce(defaults, {}));
    assert(/config has a TLS listener: set tls.secretName/.test(r.error || ''), JSON.stringify(r.error));
  });
  checks.run('render: all optional resources (HPA, ServiceMonitor, PrometheusRule, dashboard, Certificate)', () => {
    const values = coalesce(defaults, {
      autoscaling: { enabled: true },
      tls: { certManager: { enabled: true, issuerRef: { name: 'ca' }, dnsNames: ['ciap.test'] } },
      metrics: { serviceMonitor: { enabled: true }, prometheusRule: { enabled: true },
                 dashboard: { enabled: true } },
      rollOnConfigChange: true,
    });
    const docs = checkRender('all-optional', values);
    const kinds = docs.map((d) => d.kind).sort();
    for (const k of ['HorizontalPodAutoscaler', 'ServiceMonitor', 'PrometheusRule', 'Certificate']) {
      assert(kinds.includes(k), `no ${k} in ${kinds}`);
    }
    const deployment = docs.find((d) => d.kind === 'Deployment');
    assert(!('replicas' in deployment.spec), 'replicas set although the HPA owns them');
    assert(/^[0-9a-f]{64}$/.test(deployment.spec.template.metadata.annotations['checksum/config']),
           'no checksum/config annotation');
    const dashboard = docs.find((d) => d.kind === 'ConfigMap' && d.data['ciap.json']);
    assert(dashboard.metadata.labels.grafana_dashboard === '1', 'dashboard ConfigMap label');
    assert(canonical(JSON.parse(dashboard.data['ciap.json'])) ===
           canonical(readJson(path.join(CHART, 'dashboards', 'ciap.json'))),
           'the dashboard ConfigMap does not carry dashboards/ciap.json');
    const rules = docs.find((d) => d.kind === 'PrometheusRule').spec.groups[0].rules;
    const alerts = rules.map((r) => r.alert).sort();
    assert(JSON.stringify(alerts) === JSON.stringify(['CiapAuthzDenialSpike', 'CiapCertificateExpiring',
      'CiapConfigReloadFailed', 'CiapHigh5xxRatio', 'CiapJwksStale', 'CiapJwksUnavailable']),
           `alerts: ${alerts}`);
    for (const r of rules) {
      assert(!/\{\{|<no value>/.test(r.expr), `${r.alert}: unrendered template in ${r.expr}`);
    }
    // Prometheus' own {{ $labels.x }} must reach Prometheus, not be eaten by Helm.
    const withLabels = rules.filter((r) => /\{\{ \$labels\.\w+ \}\}/.test(r.annotations.summary));
    assert(withLabels.length === 4, `${withLabels.length} summaries keep {{ $labels.* }}`);
    return `${docs.length} manifests`;
  });
}

function render(values) {
  const chart = readYaml(path.join(CHART, 'Chart.yaml'));
  const input = JSON.stringify({
    values,
    release: { Name: 'ci-proxy', Namespace: 'ci', Service: 'Helm', IsInstall: true },
    chart: { Name: chart.name, Version: chart.version, AppVersion: chart.appVersion },
  });
  const r = spawnSync('go', ['run', RENDERER, CHART], {
    input, encoding: 'utf8', timeout: 300000,
    env: { ...process.env, GOFLAGS: '', GO111MODULE: 'auto', GOCACHE: path.join(tmp, 'gocache') },
  });
  assert(r.status === 0, `helmrender failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

function checkRender(name, values) {
  const out = render(values);
  assert(!out.error, `render error: ${out.error}`);
  const docs = [];
  for (const [file, text] of Object.entries(out.manifests)) {
    for (const doc of YAML.parseAllDocuments(text)) {
      assert(doc.errors.length === 0, `${file}: not YAML: ${doc.errors[0]?.message}\n${text}`);
      const obj = doc.toJS();
      if (obj) docs.push(obj);
    }
  }
  for (const d of docs) {
    assert(d.apiVersion && d.kind && d.metadata?.name, `incomplete manifest ${JSON.stringify(d)}`);
    assert(JSON.stringify(d).indexOf('<no value>') < 0, `${d.kind}: <no value>`);
  }
  const kinds = docs.map((d) => d.kind);
  const configMap = docs.find((d) => d.kind === 'ConfigMap' && d.data['ciap.yaml']);
  if (values.existingConfigMap) {
    assert(!configMap, 'a ConfigMap rendered although existingConfigMap is set');
  } else {
    assert(configMap, `no config ConfigMap in ${kinds}`);
    assert(canonical(YAML.parse(configMap.data['ciap.yaml'])) === canonical(chartConfig(values)),
           'the rendered ciap.yaml is not the config from values');
    validateConfig(`rendered-${values.mode}-${name.replace(/\W+/g, '-')}`, values,
                   configMap.data['ciap.yaml']);
  }
  if (values.mode === 'gateway') {
    for (const k of ['Deployment', 'Service', 'ServiceAccount']) assert(kinds.includes(k), `no ${k}`);
    assert(kinds.includes('PodDisruptionBudget') === values.podDisruptionBudget.enabled, 'PDB');
    const pod = docs.find((d) => d.kind === 'Deployment').spec.template.spec;
    checkContainer(pod.containers[0], pod, values);
    assert(pod.securityContext.runAsNonRoot === true, 'pod runAsNonRoot');
    assert(pod.automountServiceAccountToken === false, 'service account token mounted');
    const service = docs.find((d) => d.kind === 'Service' && !d.metadata.name.endsWith('-admin'));
    const names = pod.containers[0].ports.map((p) => p.name);
    for (const p of service.spec.ports) assert(names.includes(p.targetPort), `targetPort ${p.targetPort}`);
    assert(!service.spec.ports.some((p) => p.port === values.admin.port), 'admin port on the agents Service');
  } else {
    for (const k of ['Deployment', 'Service', 'HorizontalPodAutoscaler', 'PodDisruptionBudget']) {
      assert(!kinds.includes(k), `sidecar mode rendered a ${k}`);
    }
    const patch = YAML.parse(out.notes.slice(out.notes.indexOf('\n\n') + 2,
                                             out.notes.lastIndexOf('\n\nJobs call')));
    const list = values.sidecar.native ? patch.initContainers : patch.containers;
    assert(list && list.length === 1, `patch has no ${values.sidecar.native ? 'initContainers' : 'containers'}`);
    if (values.sidecar.native) assert(list[0].restartPolicy === 'Always', 'native sidecar restartPolicy');
    checkContainer(list[0], patch, values);
    const companion = name.replace(/^examples\/(.*)\.yaml$/, '$1.agent-stack-k8s-values.yaml');
    const companionFile = path.join(EXAMPLES, companion);
    if (name.startsWith('examples/') && fs.existsSync(companionFile)) {
      const documented = readYaml(companionFile).config['pod-spec-patch'];
      assert(canonical(documented) === canonical(patch),
             `${companion} differs from the chart's PodSpec patch:\n${YAML.stringify(patch)}`);
    }
  }
  return docs;
}

function checkContainer(c, pod, values) {
  const sc = c.securityContext;
  assert(sc.readOnlyRootFilesystem === true, 'readOnlyRootFilesystem');
  assert(sc.allowPrivilegeEscalation === false, 'allowPrivilegeEscalation');
  assert(JSON.stringify(sc.capabilities.drop) === '["ALL"]', 'capabilities not dropped');
  assert(sc.runAsNonRoot === true, 'runAsNonRoot');
  assert(c.resources.requests.cpu && c.resources.requests.memory, 'resource requests');
  assert(c.livenessProbe.httpGet.path === '/healthz' && c.livenessProbe.httpGet.port === 'admin', 'liveness');
  assert(c.readinessProbe.httpGet.path === '/ready' && c.readinessProbe.httpGet.port === 'admin', 'readiness');
  assert(c.ports.some((p) => p.name === 'admin' && p.containerPort === values.admin.port), 'admin port');
  assert(c.args.join(' ').startsWith(`run -c ${values.configMountPath}/ciap.yaml`), `args ${c.args}`);
  const volumes = new Set(pod.volumes.map((v) => v.name));
  for (const m of c.volumeMounts) {
    assert(volumes.has(m.name), `mount ${m.name} has no volume`);
    assert(!m.subPath, `${m.name} uses subPath (updates would not reach ciap)`);
  }
  const mounted = c.volumeMounts.map((m) => m.mountPath).sort();
  assert(JSON.stringify(mounted) === JSON.stringify(mountPaths(values).sort()),
         `mounts ${mounted} differ from what the test assumes (${mountPaths(values)})`);
}

checks.summary();
