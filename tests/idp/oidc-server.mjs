// A real OpenID Provider (npm oidc-provider 8.x) for ciap's identity integration tests.
//
// Serves HTTPS on 127.0.0.1 (port 0 by default) with the test PKI made by scripts/gen-certs,
// issues client_credentials access tokens as RS256 JWTs through resource indicators, and signs
// them with the keys in --keys FILE (a private JWK set; when FILE does not exist a fresh RSA key
// is generated and written there, so a restart with another FILE rotates the keys). It is also
// an RFC 7662 introspection and RFC 7009 revocation server for the opaque access tokens it
// issues (the token is a random handle; only introspection tells what it means).
//
// Usage: node oidc-server.mjs --cert server.crt --key server.key [--port 0] [--keys keys.json]
//                             [--client-id ci-agent] [--client-secret ci-agent-secret]
//                             [--introspection-client-id ciap]
//                             [--introspection-client-secret ciap-introspection-secret]
//                             [--access-token-ttl 600]   (seconds, the JWT access tokens')
//
// Clients (both authenticate with client_secret_basic):
//   --client-id        the CI agent: grant_type=client_credentials; may introspect and revoke
//                      only its own tokens
//   --introspection-client-id   the proxy: no grants; may introspect every token this provider
//                      issued (POST /token/introspection, token=...); cannot revoke others' tokens
//
// Resources (resource indicators, RFC 8707; 600 s; the token carries scope "ci" only when the
// token request asks for scope=ci, as client_credentials goes in oidc-provider):
//   urn:ciap:<name>          a JWT access token (RS256) with aud `<name>`
//                            (e.g. resource=urn:ciap:ciap-test -> aud "ciap-test"); not stored,
//                            so introspection answers {"active":false} for it
//   urn:ciap:opaque:<name>   an opaque access token for audience `<name>`; introspection of it
//                            answers {"active":true,"client_id","exp","iat","iss","aud":"<name>",
//                            "scope":"ci","token_type":"Bearer"} (no sub: client_credentials
//                            tokens have no end-user), and {"active":false} once it expired or
//                            was revoked by its client (POST /token/revocation, token=...)
//
// stdout, one JSON object per line:
//   {"event":"ready","issuer":"https://127.0.0.1:PORT","port":PORT,"jwks_uri":...,
//    "token_endpoint":...,"introspection_endpoint":...,"revocation_endpoint":...,"kids":[...]}
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
    'introspection-client-id': { type: 'string', default: 'ciap' },
    'introspection-client-secret': { type: 'string', default: 'ciap-introspection-secret' },
    'access-token-ttl': { type: 'string', default: '600' },
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
const OPAQUE_PREFIX = 'urn:ciap:opaque:';
const INTROSPECTION_CLIENT_ID = args['introspection-client-id'];

const provider = new Provider(issuer, {
  jwks,
  clients: [{
    client_id: args['client-id'],
    client_secret: args['client-secret'],
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
  }, {
    // The proxy, as an RFC 7662 protected resource: it only introspects.
    client_id: INTROSPECTION_CLIENT_ID,
    client_secret: args['introspection-client-secret'],
    grant_types: [],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  cookies: { keys: ['ciap-test-cookie-key'] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // The proxy's client may introspect any token; any other client only its own (otherwise
      // the answer is {"active":false}).
      allowedPolicy: (ctx, client, token) => client.clientId === INTROSPECTION_CLIENT_ID
        || token.clientId === client.clientId,
    },
    // RFC 7009: a client revokes its own tokens (oidc-provider refuses others' tokens).
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => false,
      getResourceServerInfo: (ctx, resourceIndicator) => {
        if (resourceIndicator.startsWith(OPAQUE_PREFIX)) {
          if (resourceIndicator.length === OPAQUE_PREFIX.length) {
            throw new errors.InvalidTarget(`unknown resource ${resourceIndicator}`);
          }
          return {
            scope: 'ci',
            audience: resourceIndicator.slice(OPAQUE_PREFIX.length),
            accessTokenTTL: 600,
            accessTokenFormat: 'opaque',
          };
        }
        if (!resourceIndicator.startsWith(RESOURCE_PREFIX)
            || resourceIndicator.length === RESOURCE_PREFIX.length) {
          throw new errors.InvalidTarget(`unknown resource ${resourceIndicator}`);
        }
        return {
          scope: 'ci',
          audience: resourceIndicator.slice(RESOURCE_PREFIX.length),
          accessTokenTTL: Number(args['access-token-ttl']),
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  ttl: { ClientCredentials: Number(args['access-token-ttl']) },
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
  introspection_endpoint: `${issuer}/token/introspection`,
  revocation_endpoint: `${issuer}/token/revocation`,
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
