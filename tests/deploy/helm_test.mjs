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
//   filesystem and no capabilities, probes ask /healthz and /ready of the admin listener, the
//   container ports are the listeners' and the Service targets them, every mount has its
//   volume, the rendered ConfigMap is exactly the config that was validated, and the sidecar's
//   worked example (agent-stack-k8s values) is what the chart prints.
// helm_render_test.mjs checks the chart's behaviours one by one (rollout, ports, NetworkPolicy,
// admin exposure, extras).
//
// Usage: node helm_test.mjs PATH/TO/ciap
import fs from 'node:fs';
import path from 'node:path';
import {
  CHART, EXAMPLES, canonical, coalesce, defaults, haveGo, isMap, render, renderDocs, sidecarPatch,
} from './chart.mjs';
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

// Files the image has (Debian's ca-certificates): configs may name them without a mount.
const IMAGE_FILES = ['/etc/ssl/certs/ca-certificates.crt'];
const FILE_KEYS = new Set(['cert_file', 'key_file', 'ca_file', 'client_ca_file', 'jwks_file']);

const checks = new Checks();
const tmp = tmpDir('ciap-helm-test-');
const pki = makePki(tmp);
const ajv = newAjv();
let validateValues;

// The admin listener's address as the chart works it out (ciap.admin in _helpers.tpl).
function adminAddress(values) {
  const configured = values.existingConfigMap ? undefined : values.config?.admin?.address;
  if (configured) return configured;
  const host = values.admin.bindAddress || (values.mode === 'sidecar' ? '127.0.0.1' : '0.0.0.0');
  return `${host.includes(':') ? `[${host}]` : host}:${values.admin.port}`;
}

function isLoopback(address) {
  const host = address.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return host.startsWith('127.') || host === 'localhost' || host === '::1';
}

// The config the chart renders: ciap.config in _helpers.tpl.
function chartConfig(values) {
  const config = structuredClone(values.config);
  config.admin = config.admin || {};
  if (!('address' in config.admin)) config.admin.address = adminAddress(values);
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

// `ciap validate` on a config as the pod would see it; env from the values' literal `env`.
function validateConfig(name, values, configText) {
  const config = YAML.parse(configText);
  const mounts = mountPaths(values);
  for (const [at, file] of configFiles(config)) {
    assert(IMAGE_FILES.includes(file) || mounts.some((m) => file.startsWith(`${m}/`)),
           `${at}: ${file} is in none of the mounted directories (${mounts.join(', ')})`);
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

// The chart's README documents every value group (top-level key of values.yaml).
checks.run('README.md names every top-level value', () => {
  const readme = fs.readFileSync(path.join(CHART, 'README.md'), 'utf8');
  const missing = Object.keys(defaults).filter((k) => !readme.includes(`\`${k}`));
  assert(missing.length === 0, `not in helm/ciap/README.md: ${missing}`);
  return `${Object.keys(defaults).length} values`;
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
// The defaults leave the image and the TLS listener's Secret to the user (the chart refuses to
// render without them): the default case names both.
const cases = [['values.yaml (defaults)', {
  image: { repository: 'registry.test/ciap' }, tls: { secretName: 'ciap-tls' },
}], ...examples.map((f) => [`examples/${path.basename(f)}`, readYaml(f)])];

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
if (!haveGo()) {
  checks.skip('rendering the templates', '`go` is not installed (Debian: apt-get install golang-go)');
} else {
  for (const [name, user] of cases) {
    for (const mode of ['gateway', 'sidecar']) {
      // A gateway's NetworkPolicy has no place in sidecar mode (helm_render_test checks that the
      // chart refuses it there).
      const values = coalesce(defaults, {
        ...user, mode, ...(mode === 'sidecar' ? { networkPolicy: { enabled: false } } : {}),
      });
      const onlyLoopback = !values.existingConfigMap &&
        values.config.listeners.every((l) => isLoopback(l.address));
      if (mode === 'gateway' && onlyLoopback) {
        // A sidecar's config binds loopback only: no Service could reach it.
        checks.run(`render ${name} as ${mode} fails: no listener the Service can reach`, () => {
          const r = render(values);
          assert(/no listener in config is reachable from the Service/.test(r.error || ''),
                 JSON.stringify(r.error));
        });
        continue;
      }
      checks.run(`render ${name} as ${mode}`, () => checkRender(name, values));
    }
  }
  checks.run('render: a TLS listener without a certificate source fails with a message', () => {
    const r = render(coalesce(defaults, { image: { repository: 'registry.test/ciap' } }));
    assert(/config has a TLS listener: set tls.secretName/.test(r.error || ''), JSON.stringify(r.error));
  });
  checks.run('render: all optional resources (HPA, ServiceMonitor, PrometheusRule, dashboard, Certificate, NetworkPolicy)', () => {
    const values = coalesce(defaults, {
      image: { repository: 'registry.test/ciap' },
      networkPolicy: { enabled: true },
      autoscaling: { enabled: true },
      tls: { certManager: { enabled: true, issuerRef: { name: 'ca' }, dnsNames: ['ciap.test'] } },
      metrics: { serviceMonitor: { enabled: true }, prometheusRule: { enabled: true },
                 dashboard: { enabled: true } },
      rollOnConfigChange: true,
    });
    const docs = checkRender('all-optional', values);
    const kinds = docs.map((d) => d.kind).sort();
    for (const k of ['HorizontalPodAutoscaler', 'ServiceMonitor', 'PrometheusRule', 'Certificate',
                     'NetworkPolicy']) {
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

function checkRender(name, values) {
  const out = renderDocs(values);
  const docs = out.docs;
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
    assert(!service.spec.ports.some((p) => p.targetPort === 'admin'), 'admin port on the agents Service');
    assert(service.spec.ports.length === pod.containers[0].ports.filter((p) => p.name !== 'admin').length,
           'the Service does not expose every listener port of the container');
  } else {
    for (const k of ['Deployment', 'Service', 'HorizontalPodAutoscaler', 'PodDisruptionBudget']) {
      assert(!kinds.includes(k), `sidecar mode rendered a ${k}`);
    }
    const patch = sidecarPatch(out.notes);
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
  const admin = adminAddress(values);
  const [host, port] = [admin.replace(/:\d+$/, '').replace(/^\[|\]$/g, ''), Number(admin.split(':').pop())];
  const asks = (probe, urlPath) => (isLoopback(admin)
    ? probe.exec?.command?.[2]?.includes(`/dev/tcp/${host}/${port} `) &&
      probe.exec.command[2].includes(`GET ${urlPath} HTTP/1.0`) && !probe.httpGet
    : probe.httpGet?.path === urlPath && probe.httpGet.port === 'admin' && !probe.exec);
  assert(asks(c.livenessProbe, '/healthz'), `liveness ${JSON.stringify(c.livenessProbe)}`);
  assert(asks(c.readinessProbe, '/ready'), `readiness ${JSON.stringify(c.readinessProbe)}`);
  if (c.startupProbe) assert(asks(c.startupProbe, '/ready'), `startup ${JSON.stringify(c.startupProbe)}`);
  const ports = c.ports || [];
  assert(ports.some((p) => p.name === 'admin' && p.containerPort === port) === !isLoopback(admin),
         `admin port ${JSON.stringify(ports)} for an admin listener on ${admin}`);
  if (!values.existingConfigMap) {
    const reachable = values.config.listeners.filter((l) => !isLoopback(l.address))
      .map((l) => Number(l.address.split(':').pop())).sort();
    const declared = ports.filter((p) => p.name !== 'admin').map((p) => p.containerPort).sort();
    assert(canonical(declared) === canonical(reachable),
           `container ports ${declared}, listeners reachable on the pod IP ${reachable}`);
  }
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
