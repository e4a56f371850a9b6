// The Helm chart helm/ciap as the deploy tests see it: its default values, Helm's coalescing of
// user values over them, and rendering through tests/deploy/helmrender (Go's text/template with
// the sprig functions the chart uses; no helm binary is installable here). The renderer is built
// once per process.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { SOURCE_DIR, YAML, assert, readYaml, tmpDir } from './lib.mjs';

export const CHART = path.join(SOURCE_DIR, 'helm', 'ciap');
export const EXAMPLES = path.join(CHART, 'examples');
const RENDERER = path.join(SOURCE_DIR, 'tests', 'deploy', 'helmrender', 'main.go');

export const defaults = readYaml(path.join(CHART, 'values.yaml'));

export function isMap(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

// Helm's coalescing of user values over the chart's: maps merge, anything else replaces, and
// null deletes the key.
export function coalesce(base, over) {
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
export function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isMap(v)) {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

// Whether `go` is installed (the renderer needs it).
export function haveGo() {
  return spawnSync('go', ['version'], { encoding: 'utf8' }).status === 0;
}

let rendererBinary;
function renderer() {
  if (!rendererBinary) {
    const dir = tmpDir('ciap-helmrender-');
    rendererBinary = path.join(dir, 'helmrender');
    const r = spawnSync('go', ['build', '-o', rendererBinary, RENDERER], {
      encoding: 'utf8', timeout: 300000,
      env: { ...process.env, GOFLAGS: '', GO111MODULE: 'auto', GOCACHE: path.join(dir, 'gocache') },
    });
    assert(r.status === 0, `building helmrender failed: ${r.stderr}`);
  }
  return rendererBinary;
}

// Renders the chart with `values` (already coalesced): { manifests: {file: text}, notes, error }.
export function render(values) {
  const chart = readYaml(path.join(CHART, 'Chart.yaml'));
  const input = JSON.stringify({
    values,
    release: { Name: 'ci-proxy', Namespace: 'ci', Service: 'Helm', IsInstall: true },
    chart: { Name: chart.name, Version: chart.version, AppVersion: chart.appVersion },
  });
  const r = spawnSync(renderer(), [CHART], { input, encoding: 'utf8', timeout: 60000 });
  assert(r.status === 0, `helmrender failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

// The rendered manifests as objects; fails on a render error or on text that is not YAML.
export function renderDocs(values) {
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
  return { docs, notes: out.notes };
}

// The PodSpec patch the sidecar mode prints in its NOTES.
export function sidecarPatch(notes) {
  return YAML.parse(notes.slice(notes.indexOf('\n\n') + 2, notes.lastIndexOf('\n\nJobs call')));
}

// Values a test can render: the defaults plus what the chart requires the user to choose (an
// image, and a certificate Secret for the default config's TLS listener), then `over`.
export function testValues(over = {}) {
  const base = coalesce(defaults, {
    image: { repository: 'registry.test/ciap' }, tls: { secretName: 'ciap-tls' },
  });
  return coalesce(base, over);
}

export function writeFile(file, text) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
}
