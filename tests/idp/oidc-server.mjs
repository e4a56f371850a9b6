// A real OpenID Provider (npm oidc-provider 8.x) for ciap's identity integration tests.
//
// Serves HTTPS on 127.0.0.1 (port 0 by default) with the test PKI made by scripts/gen-certs,
// issues client_credentials access tokens as RS256 JWTs through resource indicators, and signs
// them with the keys in --keys FILE (a private JWK set; when FILE does not exist a fresh RSA key
// is generated and written there, so a restart with another FILE rotates the keys).
//
// Usage: node oidc-server.mjs --cert server.crt --key server.key [--port 0] [--keys keys.json]
//                             [--client-id ci-agent] [--client-secret ci-agent-secret]
//
// Resources: any `urn:ciap:<name>` resource indicator gets an access token with aud `<name>`
// (e.g. resource=urn:ciap:ciap-test -> aud "ciap-test").
//
// stdout, one JSON object per line:
//   {"event":"ready","issuer":"https://127.0.0.1:PORT","port":PORT,"jwks_uri":...,"kids":[...]}
//   {"event":"request","method":"GET","path":"/jwks","status":200}   (every request served)
// SIGTERM/SIGINT: closes the server (and its open connections) and exits 0.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { parseArgs } from 'node:util';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import Provider, { errors } from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    cert: { type: 'string' },
    key: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    keys: { type: 'string' },
    'client-id': { type: 'string', default: 'ci-agent' },
    'client-secret': { type: 'string', default: 'ci-agent-secret' },
  },
});
if (!args.cert || !args.key) {
  console.error('usage: node oidc-server.mjs --cert server.crt --key server.key [--port N] [--keys FILE]');
  process.exit(2);
}

function emit(object) {
  process.stdout.write(`${JSON.stringify(object)}\n`);
}

async function newSigningKey() {
  const { privateKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  const jwk = await exportJWK(privateKey);
  jwk.kid = `idp-${(await calculateJwkThumbprint(jwk)).slice(0, 16)}`;
  jwk.alg = 'RS256';
  jwk.use = 'sig';
  return jwk;
}

async function loadKeys(file) {
  if (file && existsSync(file)) return JSON.parse(readFileSync(file, 'utf8'));
  const jwks = { keys: [await newSigningKey()] };
  if (file) writeFileSync(file, `${JSON.stringify(jwks, null, 2)}\n`, { mode: 0o600 });
  return jwks;
}

const jwks = await loadKeys(args.keys);

// Listen first: with port 0 the issuer (which names the port) is only known afterwards.
const server = createServer({ cert: readFileSync(args.cert), key: readFileSync(args.key) });
const sockets = new Set();
server.on('connection', (socket) => {
  sockets.add(socket);
  socket.on('close', () => sockets.delete(socket));
});
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(Number(args.port), args.host, resolve);
});
const { port } = server.address();
const issuer = `https://${args.host}:${port}`;

const RESOURCE_PREFIX = 'urn:ciap:';

const provider = new Provider(issuer, {
  jwks,
  clients: [{
    client_id: args['client-id'],
    client_secret: args['client-secret'],
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  cookies: { keys: ['ciap-test-cookie-key'] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: false },
    revocation: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => false,
      getResourceServerInfo: (ctx, resourceIndicator) => {
        if (!resourceIndicator.startsWith(RESOURCE_PREFIX)
            || resourceIndicator.length === RESOURCE_PREFIX.length) {
          throw new errors.InvalidTarget(`unknown resource ${resourceIndicator}`);
        }
        return {
          scope: 'ci',
          audience: resourceIndicator.slice(RESOURCE_PREFIX.length),
          accessTokenTTL: 600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  ttl: { ClientCredentials: 600 },
});

// One line per request: the tests count discovery and JWKS fetches here.
provider.use(async (ctx, next) => {
  try {
    await next();
  } finally {
    emit({ event: 'request', method: ctx.method, path: ctx.path, status: ctx.status });
  }
});
provider.on('server_error', (ctx, error) => {
  console.error(`oidc-server: server_error: ${error.stack || error}`);
});

server.on('request', provider.callback());

emit({
  event: 'ready',
  issuer,
  port,
  jwks_uri: `${issuer}/jwks`,
  token_endpoint: `${issuer}/token`,
  kids: jwks.keys.map((k) => k.kid),
});

function shutdown() {
  // Like an IdP that went away: refuse new connections and drop the open ones at once.
  server.close();
  for (const socket of sockets) socket.destroy();
  setImmediate(() => process.exit(0));
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
