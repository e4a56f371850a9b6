// The Helm chart's behaviours, one rendered field at a time (tests/deploy/helmrender: Go's
// text/template with the chart's sprig functions; needs `go`):
// - rollout: shutdownDelay/drainTimeout become --shutdown-delay/--drain-timeout and
//   terminationGracePeriodSeconds follows them (and a preStop sleep); a grace period too short
//   for them fails; the sidecar takes sidecar.shutdownDelay and its NOTES give the minimum;
// - ports: container ports, Service ports and targetPorts follow the config's listeners; a
//   service.ports entry that reaches no listener (the listener moved to :9443, the Service still
//   says 8443) fails with a message, as do loopback-only gateways and unusable port names;
// - NetworkPolicy: off by default; listener ports from listeners.from, the admin port only from
//   admin.from; egress; refused in sidecar mode;
// - admin exposure: 0.0.0.0 for a gateway, 127.0.0.1 for a sidecar, with in-container probes that
//   are run here against a real ciap (ready, not ready, not running);
// - extraContainers/extraInitContainers, lifecycle, and the required image.repository.
//
// Usage: node helm_render_test.mjs PATH/TO/ciap
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { canonical, haveGo, render, renderDocs, sidecarPatch, testValues } from './chart.mjs';
import { Checks, YAML, assert, formatAjvErrors, newAjv, readJson, tmpDir } from './lib.mjs';
import { VALUES_SCHEMA } from './sync_values_schema.mjs';

const ciap = process.argv[2];
if (!ciap) {
  console.error('usage: node helm_render_test.mjs PATH/TO/ciap');
  process.exit(2);
}

const checks = new Checks();
if (!haveGo()) {
  checks.skip('rendering the chart', '`go` is not installed (Debian: apt-get install golang-go)');
  checks.summary();
  process.exit();
}
const tmp = tmpDir('ciap-helm-render-test-');
const validateValues = newAjv().compile(readJson(VALUES_SCHEMA));

// ----- helpers -----

// Renders values that must also pass values.schema.json (what `helm install` would accept).
function renderValid(values) {
  assert(validateValues(values), `values.schema.json refuses the values:\n${formatAjvErrors(validateValues.errors)}`);
  return renderDocs(values);
}

function gateway(over = {}) {
  const { docs, notes } = renderValid(testValues(over));
  const deployment = docs.find((d) => d.kind === 'Deployment');
  const pod = deployment.spec.template.spec;
  const container = pod.containers.find((c) => c.name === 'ciap');
  const service = docs.find((d) => d.kind === 'Service' && !d.metadata.name.endsWith('-admin'));
  const adminService = docs.find((d) => d.kind === 'Service' && d.metadata.name.endsWith('-admin'));
  const networkPolicy = docs.find((d) => d.kind === 'NetworkPolicy');
  const configMap = docs.find((d) => d.kind === 'ConfigMap' && d.data['ciap.yaml']);
  const config = configMap && YAML.parse(configMap.data['ciap.yaml']);
  return { docs, notes, deployment, pod, container, service, adminService, networkPolicy, config };
}

function sidecar(over = {}) {
  const { docs, notes } = renderValid(testValues({ mode: 'sidecar', ...over }));
  const patch = sidecarPatch(notes);
  const container = (patch.initContainers || patch.containers)[0];
  const config = YAML.parse(docs.find((d) => d.kind === 'ConfigMap').data['ciap.yaml']);
  return { docs, notes, patch, container, config };
}

// The value that follows `flag` in the container's args, or undefined.
function flag(container, name) {
  const i = container.args.indexOf(name);
  return i < 0 ? undefined : container.args[i + 1];
}

// Renders and expects rendering to fail with a message matching `pattern`.
function renderFails(over, pattern) {
  const r = render(testValues(over));
  assert(r.error, 'rendered without an error');
  assert(pattern.test(r.error), `error does not match ${pattern}:\n${r.error}`);
  return r.error.replace(/^.*error calling (fail|required): /s, '');
}

// Equal data (key order aside).
function eq(actual, expected, what) {
  assert(canonical(actual) === canonical(expected),
         `${what}: ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
}

function ports(container) {
  return (container.ports || []).map((p) => `${p.name}:${p.containerPort}`);
}

// A config with the given listeners and nothing else to worry about (no TLS, one upstream).
function configWith(listeners) {
  return {
    upstreams: [{ name: 'app', endpoints: ['app.default.svc.cluster.local:80'] }],
    listeners: listeners.map(([name, address]) => ({
      name, address, plaintext: true,
      routes: [{ name: 'all', upstream: 'app', public: true }],
    })),
  };
}

// ----- rollout -----

checks.run('rollout: defaults give --shutdown-delay 5s, --drain-timeout 30s, grace 45 s, no preStop', () => {
  const g = gateway();
  eq(flag(g.container, '--shutdown-delay'), '5s', '--shutdown-delay');
  eq(flag(g.container, '--drain-timeout'), '30s', '--drain-timeout');
  eq(g.pod.terminationGracePeriodSeconds, 45, 'terminationGracePeriodSeconds');
  assert(!g.container.lifecycle, `lifecycle ${JSON.stringify(g.container.lifecycle)}`);
  assert(/keeps accepting for 5s .* drains for up to 30s; terminationGracePeriodSeconds is 45/.test(g.notes),
         `NOTES: ${g.notes}`);
});

checks.run('rollout: the flags and the grace period follow shutdownDelay and drainTimeout', () => {
  for (const [delay, drain, grace] of [['20s', '2m', 150], ['500ms', '1700ms', 13], ['1s', '0s', 11],
                                       ['90s', '45s', 145]]) {
    const g = gateway({ shutdownDelay: delay, drainTimeout: drain });
    eq(flag(g.container, '--shutdown-delay'), delay, `--shutdown-delay for ${delay}`);
    eq(flag(g.container, '--drain-timeout'), drain, `--drain-timeout for ${drain}`);
    eq(g.pod.terminationGracePeriodSeconds, grace, `grace period for ${delay} + ${drain}`);
  }
});

checks.run('rollout: empty durations and a zero delay drop the flags; the grace period counts ciap\'s 30 s default drain', () => {
  for (const shutdownDelay of ['', '0s', '0ms']) {
    const g = gateway({ shutdownDelay, drainTimeout: null });
    eq(flag(g.container, '--shutdown-delay'), undefined, `--shutdown-delay for "${shutdownDelay}"`);
    eq(flag(g.container, '--drain-timeout'), undefined, '--drain-timeout');
    eq(g.pod.terminationGracePeriodSeconds, 40, 'terminationGracePeriodSeconds');
  }
});

checks.run('rollout: a preStop sleep is rendered and added to the grace period', () => {
  const lifecycle = { preStop: { sleep: { seconds: 7 } } };
  const g = gateway({ lifecycle, shutdownDelay: '' });
  eq(g.container.lifecycle, lifecycle, 'lifecycle');
  eq(g.pod.terminationGracePeriodSeconds, 47, 'terminationGracePeriodSeconds (7 + 0 + 30 + 10)');
  const both = gateway({ lifecycle, shutdownDelay: '3s', drainTimeout: '10s' });
  eq(both.pod.terminationGracePeriodSeconds, 30, 'terminationGracePeriodSeconds (7 + 3 + 10 + 10)');
});

checks.run('rollout: an explicit terminationGracePeriodSeconds is kept when long enough, refused when not', () => {
  eq(gateway({ terminationGracePeriodSeconds: 120 }).pod.terminationGracePeriodSeconds, 120, 'grace');
  eq(gateway({ terminationGracePeriodSeconds: 45 }).pod.terminationGracePeriodSeconds, 45, 'grace');
  const message = renderFails({ terminationGracePeriodSeconds: 44 },
                              /terminationGracePeriodSeconds 44 is shorter than the 45 seconds/);
  renderFails({ terminationGracePeriodSeconds: 60, shutdownDelay: '30s' },
              /terminationGracePeriodSeconds 60 is shorter than the 70 seconds/);
  return message;
});

checks.run('rollout: a duration the chart cannot read fails naming the value', () => {
  renderFails({ shutdownDelay: '5 s' }, /shutdownDelay: "5 s" is not a duration/);
  renderFails({ drainTimeout: 'soon' }, /drainTimeout: "soon" is not a duration/);
});

checks.run('rollout: a sidecar takes sidecar.shutdownDelay (0s by default: no flag) and its NOTES give the minimum grace', () => {
  const s = sidecar();
  eq(flag(s.container, '--shutdown-delay'), undefined, '--shutdown-delay');
  eq(flag(s.container, '--drain-timeout'), '30s', '--drain-timeout');
  assert(/terminationGracePeriodSeconds must leave ciap 40 s to stop/.test(s.notes), s.notes);
  const lifecycle = { preStop: { sleep: { seconds: 2 } } };
  const t = sidecar({ sidecar: { shutdownDelay: '4s' }, drainTimeout: '5s', lifecycle });
  eq(flag(t.container, '--shutdown-delay'), '4s', '--shutdown-delay');
  eq(flag(t.container, '--drain-timeout'), '5s', '--drain-timeout');
  eq(t.container.lifecycle, lifecycle, 'lifecycle in the PodSpec patch');
  assert(/must leave ciap 21 s to stop/.test(t.notes), t.notes);
  eq(flag(gateway({ sidecar: { shutdownDelay: '4s' } }).container, '--shutdown-delay'), '5s',
     'a gateway ignores sidecar.shutdownDelay');
});

// ----- ports -----

checks.run('ports: the default listener gives container port and Service port 8443', () => {
  const g = gateway();
  eq(ports(g.container), ['agents:8443', 'admin:9901'], 'container ports');
  eq(g.service.spec.ports, [{ name: 'agents', port: 8443, targetPort: 'agents', protocol: 'TCP' }],
     'Service ports');
});

checks.run('ports: a listener moved to :9443 moves the container port, the Service and the NetworkPolicy', () => {
  const config = configWith([['agents', '0.0.0.0:9443']]);
  const g = gateway({ config, networkPolicy: { enabled: true } });
  eq(ports(g.container), ['agents:9443', 'admin:9901'], 'container ports');
  eq(g.service.spec.ports.map((p) => [p.port, p.targetPort]), [[9443, 'agents']], 'Service ports');
  eq(g.networkPolicy.spec.ingress[0].ports, [{ port: 9443, protocol: 'TCP' }], 'NetworkPolicy ports');
  const named = gateway({ config, service: { ports: [{ listener: 'agents', name: 'https', port: 443 }] } });
  eq(ports(named.container), ['https:9443', 'admin:9901'], 'container ports (named)');
  eq(named.service.spec.ports.map((p) => [p.name, p.port, p.targetPort]), [['https', 443, 'https']],
     'Service ports (listener entry)');
});

checks.run('ports: service.ports still saying 8443 for a listener on :9443 fails with a message', () => {
  const config = configWith([['agents', '0.0.0.0:9443']]);
  return renderFails({ config, service: { ports: [{ name: 'https', port: 443, targetPort: 8443 }] } },
                     /service.ports\[0\] \(https\) targets port 8443, but no listener in config binds it \(agents on 0.0.0.0:9443\)/);
});

checks.run('ports: a targetPort entry that matches its listener is kept (Service 443 -> 8443)', () => {
  const g = gateway({ service: { ports: [{ name: 'https', port: 443, targetPort: 8443, nodePort: 30443 }],
                                 type: 'NodePort' } });
  eq(ports(g.container), ['https:8443', 'admin:9901'], 'container ports');
  eq(g.service.spec.ports, [{ name: 'https', port: 443, targetPort: 'https', protocol: 'TCP', nodePort: 30443 }],
     'Service ports');
});

checks.run('ports: entries naming a missing listener, a loopback listener or one listener twice fail', () => {
  renderFails({ service: { ports: [{ listener: 'agent', port: 443 }] } },
              /service.ports\[0\] names listener "agent", which config.listeners does not have \(agents on 0.0.0.0:8443\)/);
  renderFails({ config: configWith([['agents', '0.0.0.0:8443'], ['local', '127.0.0.1:8080']]),
                service: { ports: [{ listener: 'local', port: 80 }] } },
              /listener "local" binds 127.0.0.1:8080, a loopback address/);
  renderFails({ service: { ports: [{ listener: 'agents', port: 443 }, { targetPort: 8443, name: 'again' }] } },
              /service.ports\[1\] \(again\): listener "agents" already has an entry/);
  renderFails({ service: { ports: [{ listener: 'agents', targetPort: 9000 }] } },
              /listener "agents" listens on port 8443, not targetPort 9000/);
});

checks.run('ports: several listeners each get a port; loopback ones get none', () => {
  const g = gateway({ config: configWith([['agents', '0.0.0.0:8443'], ['internal', '[::]:9000'],
                                          ['local', '127.0.0.1:8080']]) });
  eq(ports(g.container), ['agents:8443', 'internal:9000', 'admin:9901'], 'container ports');
  eq(g.service.spec.ports.map((p) => `${p.name}:${p.port}`), ['agents:8443', 'internal:9000'], 'Service ports');
});

checks.run('ports: a gateway whose listeners all bind loopback fails', () => {
  renderFails({ config: configWith([['local', '127.0.0.1:8080']]) },
              /no listener in config is reachable from the Service/);
});

checks.run('ports: a listener name that is no port name needs one in service.ports', () => {
  const config = configWith([['agents_tls', '0.0.0.0:8443']]);
  renderFails({ config }, /listener "agents_tls": "agents_tls" is not a valid port name/);
  const g = gateway({ config, service: { ports: [{ listener: 'agents_tls', name: 'https' }] } });
  eq(g.service.spec.ports.map((p) => [p.name, p.port]), [['https', 8443]], 'Service ports');
  renderFails({ config: configWith([['admin', '0.0.0.0:8443']]) }, /port name "admin" is used twice/);
});

checks.run('ports: an address behind ${VAR} cannot give the chart its port', () => {
  renderFails({ config: configWith([['agents', '${LISTEN}']]) },
              /config.listeners\[0\] \(agents\).address: the chart reads the port of "\$\{LISTEN\}"/);
});

checks.run('ports: with existingConfigMap, service.ports is taken as written and needs name and targetPort', () => {
  const g = gateway({ existingConfigMap: 'mine', service: { ports: [{ name: 'https', port: 443, targetPort: 9443 }] } });
  eq(ports(g.container), ['https:9443', 'admin:9901'], 'container ports');
  eq(g.service.spec.ports.map((p) => [p.port, p.targetPort]), [[443, 'https']], 'Service ports');
  renderFails({ existingConfigMap: 'mine', service: { ports: [{ listener: 'agents', port: 443 }] } },
              /with existingConfigMap the chart cannot read the listeners/);
  renderFails({ existingConfigMap: 'mine' }, /service.ports is empty: with existingConfigMap/);
});

// ----- NetworkPolicy -----

checks.run('networkPolicy: off by default', () => {
  assert(!gateway().networkPolicy, 'a NetworkPolicy was rendered');
});

checks.run('networkPolicy: enabled alone admits anyone to the listeners and no one to the admin port', () => {
  const g = gateway({ networkPolicy: { enabled: true } });
  const spec = g.networkPolicy.spec;
  eq(spec.podSelector.matchLabels, g.deployment.spec.selector.matchLabels, 'podSelector');
  eq(spec.policyTypes, ['Ingress'], 'policyTypes');
  eq(spec.ingress, [{ ports: [{ port: 8443, protocol: 'TCP' }] }], 'ingress');
  assert(!spec.egress, 'egress rules without egress.enabled');
  assert(/admits no one to the admin port 9901/.test(g.notes), g.notes);
});

checks.run('networkPolicy: listener and admin peers, extra ingress rules', () => {
  const agents = [{ ipBlock: { cidr: '10.20.0.0/16' } }];
  const prometheus = [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } },
                        podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } } }];
  const extra = { ports: [{ port: 15090, protocol: 'TCP' }] };
  const g = gateway({ admin: { port: 9911 }, networkPolicy: {
    enabled: true, listeners: { from: agents }, admin: { from: prometheus }, extraIngress: [extra] } });
  eq(g.networkPolicy.spec.ingress, [
    { ports: [{ port: 8443, protocol: 'TCP' }], from: agents },
    { ports: [{ port: 9911, protocol: 'TCP' }], from: prometheus },
    extra,
  ], 'ingress');
  assert(!/admits no one/.test(g.notes), 'NOTES warn although admin.from is set');
});

checks.run('networkPolicy: egress is DNS plus the rules, and refused without rules', () => {
  const rules = [{ to: [{ ipBlock: { cidr: '0.0.0.0/0' } }], ports: [{ port: 443, protocol: 'TCP' }] }];
  const g = gateway({ networkPolicy: { enabled: true, egress: { enabled: true, rules } } });
  eq(g.networkPolicy.spec.policyTypes, ['Ingress', 'Egress'], 'policyTypes');
  eq(g.networkPolicy.spec.egress, [
    { ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }] }, ...rules], 'egress');
  const noDns = gateway({ networkPolicy: { enabled: true, egress: { enabled: true, dns: false, rules } } });
  eq(noDns.networkPolicy.spec.egress, rules, 'egress without DNS');
  renderFails({ networkPolicy: { enabled: true, egress: { enabled: true } } },
              /networkPolicy.egress.enabled with no networkPolicy.egress.rules/);
});

checks.run('networkPolicy: refused in sidecar mode', () => {
  renderFails({ mode: 'sidecar', networkPolicy: { enabled: true } },
              /networkPolicy.enabled: in sidecar mode ciap runs in your agent pods/);
});

// ----- admin exposure -----

checks.run('admin: a gateway binds 0.0.0.0, probes over HTTP, has an admin port, Service and scrape annotations', () => {
  const g = gateway();
  eq(g.config.admin.address, '0.0.0.0:9901', 'config admin.address');
  eq(g.container.readinessProbe.httpGet, { path: '/ready', port: 'admin' }, 'readiness');
  eq(g.container.livenessProbe.httpGet, { path: '/healthz', port: 'admin' }, 'liveness');
  assert(g.adminService, 'no admin Service');
  eq(g.deployment.spec.template.metadata.annotations['prometheus.io/port'], '9901', 'scrape port');
});

checks.run('admin: a sidecar binds 127.0.0.1 and probes inside its container; no admin port', () => {
  const s = sidecar();
  eq(s.config.admin.address, '127.0.0.1:9901', 'config admin.address');
  assert(!ports(s.container).includes('admin:9901'), `admin port declared: ${ports(s.container)}`);
  for (const [probe, urlPath] of [['livenessProbe', '/healthz'], ['readinessProbe', '/ready'], ['startupProbe', '/ready']]) {
    const p = s.container[probe];
    assert(!p.httpGet, `${probe} is an HTTP GET, which the kubelet sends to the pod IP`);
    eq(p.exec.command.slice(0, 2), ['/bin/bash', '-c'], `${probe} command`);
    assert(p.exec.command[2].includes(`/dev/tcp/127.0.0.1/9901 `) && p.exec.command[2].includes(`GET ${urlPath} `),
           `${probe}: ${p.exec.command[2]}`);
  }
  assert(/admin listener binds 127.0.0.1:9901 \(inside the pod only/.test(s.notes), s.notes);
});

checks.run('admin: admin.bindAddress opens a sidecar\'s admin listener, or closes a gateway\'s', () => {
  const s = sidecar({ admin: { bindAddress: '0.0.0.0' } });
  eq(s.config.admin.address, '0.0.0.0:9901', 'sidecar admin.address');
  eq(s.container.readinessProbe.httpGet, { path: '/ready', port: 'admin' }, 'sidecar readiness');
  assert(ports(s.container).includes('admin:9901'), 'no admin port');
  const g = gateway({ admin: { bindAddress: '127.0.0.1' } });
  eq(g.config.admin.address, '127.0.0.1:9901', 'gateway admin.address');
  assert(g.container.readinessProbe.exec, 'gateway readiness is not run in the container');
  assert(!g.adminService, 'an admin Service for a loopback admin listener');
  assert(!ports(g.container).includes('admin:9901'), 'admin port declared');
  assert(!g.deployment.spec.template.metadata.annotations?.['prometheus.io/scrape'], 'scrape annotation');
  renderFails({ admin: { bindAddress: '127.0.0.1' }, metrics: { serviceMonitor: { enabled: true } } },
              /metrics.serviceMonitor.enabled: the admin listener binds a loopback address/);
  const v6 = gateway({ admin: { bindAddress: '::' } });
  eq(v6.config.admin.address, '[::]:9901', 'IPv6 admin.address');
});

checks.run('admin: config.admin.address must agree with admin.port', () => {
  renderFails({ config: { ...configWith([['agents', '0.0.0.0:8443']]), admin: { address: '0.0.0.0:9902' } } },
              /config.admin.address "0.0.0.0:9902" listens on port 9902 but admin.port is 9901/);
  const g = gateway({ admin: { port: 9902 },
                      config: { ...configWith([['agents', '0.0.0.0:8443']]), admin: { address: '0.0.0.0:9902' } } });
  eq(ports(g.container), ['agents:8443', 'admin:9902'], 'container ports');
});

// The in-container probe, run as the kubelet would (bash -c COMMAND), against a real ciap whose
// admin listener binds 127.0.0.1: 0 for 200, non-zero for 503 and for nothing listening.
checks.run('admin: the in-container probe command answers like /healthz and /ready of a real ciap', () => {
  const [readyPort, waitingPort, listenerA, listenerB, closedPort] = freePorts(5);
  const probes = (port) => {
    const c = sidecar({ admin: { port } }).container;
    return { ready: c.readinessProbe.exec.command, live: c.livenessProbe.exec.command };
  };
  const ready = writeConfig('ready', readyPort, listenerA, []);
  // A provider whose keys never load: /ready stays 503, /healthz is 200.
  const waiting = writeConfig('waiting', waitingPort, listenerB, [{
    name: 'corp', type: 'oidc', issuer: `https://127.0.0.1:${closedPort}`, audiences: ['x'],
    jwks_uri: `https://127.0.0.1:${closedPort}/keys`,
  }]);
  const procs = [ready, waiting].map((file) => spawn(ciap, ['run', '-c', file], { stdio: 'ignore' }));
  try {
    const run = (command) => spawnSync(command[0], command.slice(1), { timeout: 5000 }).status;
    const until = Date.now() + 15000;
    while (run(probes(readyPort).live) !== 0 || run(probes(waitingPort).live) !== 0) {
      assert(Date.now() < until, 'ciap did not come up within 15 s');
      sleep(100);
    }
    eq(run(probes(readyPort).ready), 0, 'readiness probe of a ready ciap');
    assert(run(probes(waitingPort).ready) !== 0, 'readiness probe passes while /ready is 503');
    assert(run(probes(closedPort).live) !== 0, 'liveness probe passes with nothing listening');
  } finally {
    for (const p of procs) p.kill('SIGKILL');
  }
});

function writeConfig(name, adminPort, listenerPort, providers) {
  const file = path.join(tmp, `${name}.yaml`);
  const config = {
    admin: { address: `127.0.0.1:${adminPort}` },
    ...(providers.length ? { identity_providers: providers } : {}),
    upstreams: [{ name: 'app', endpoints: ['127.0.0.1:9'] }],
    listeners: [{
      name: 'local', address: `127.0.0.1:${listenerPort}`, plaintext: true,
      routes: [providers.length ? { name: 'all', upstream: 'app', authenticate: true }
                                : { name: 'all', upstream: 'app', public: true }],
    }],
  };
  fs.writeFileSync(file, YAML.stringify(config));
  return file;
}

// Ports the kernel just handed out and released (bound together, so they differ).
function freePorts(n) {
  const r = spawnSync('python3', ['-c', `
import socket
socks = [socket.socket() for _ in range(${n})]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
`], { encoding: 'utf8' });
  assert(r.status === 0, r.stderr);
  return r.stdout.trim().split(' ').map(Number);
}

function sleep(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

// ----- extras and image -----

checks.run('extras: extraContainers and extraInitContainers join the gateway pod (tpl applied)', () => {
  const g = gateway({
    extraContainers: [{ name: 'log-shipper', image: 'shipper:1', args: ['--tag', '{{ .Release.Name }}'] }],
    extraInitContainers: [{ name: 'wait', image: 'busybox:1' }],
  });
  eq(g.pod.containers.map((c) => c.name), ['ciap', 'log-shipper'], 'containers');
  eq(g.pod.containers[1].args, ['--tag', 'ci-proxy'], 'tpl in extraContainers');
  eq(g.pod.initContainers.map((c) => c.name), ['wait'], 'initContainers');
  assert(!gateway().pod.initContainers, 'initContainers without extraInitContainers');
});

checks.run('image: image.repository is required, and the message says how to build the image', () => {
  const r = render(testValues({ image: { repository: '' } }));
  assert(/image.repository is required: no ciap image is published; build one from the Dockerfile/.test(r.error || ''),
         JSON.stringify(r.error));
  eq(gateway({ image: { repository: 'registry.test/ciap', tag: '9.9.9' } }).container.image,
     'registry.test/ciap:9.9.9', 'image');
});

checks.summary();
