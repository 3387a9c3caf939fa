// A real OpenID provider (npm oidc-provider 9) on 127.0.0.1 for the OAuth2
// client-credentials tests. Fresh client secrets and signing key per run.
//
//   const idp = await startIdp();
//   idp.tokenUrl                        // http://127.0.0.1:<port>/token
//   idp.clients.basic / idp.clients.post // { id, secret, method } (client_secret_basic / _post)
//   idp.jwtResource                     // resource indicator whose tokens are JWTs (RS256)
//   idp.tokenRequests()                 // [{ headers, form }] seen at /token
//   idp.issued()                        // every access_token the IdP handed out
//   await idp.introspect(token)         // { active, client_id, ... } (asks as the basic client)
//   await idp.verifyJwt(token)          // jose jwtVerify against the IdP's JWKS
//   await idp.close();
//
// Without a resource indicator a client gets an opaque token (introspectable);
// with `resource <idp.jwtResource>` a JWT whose payload carries client_id,
// scope, aud and the extra claim `tenant: "acme"`.
//
// oidc-provider 9 prints "Unsupported runtime" on node 20 and a few
// "should change" notes for development defaults; both are harmless here.

import crypto from 'node:crypto';
import http from 'node:http';
import * as jose from 'jose';

const JWT_RESOURCE = 'https://api.edge-auth.test/';

export async function startIdp({ accessTokenTtl = 600 } = {}) {
  // Imported lazily: its "Unsupported runtime" warning only appears for files that use it.
  const { default: Provider } = await import('oidc-provider');

  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = crypto.randomBytes(8).toString('hex');
  const signing = { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
  const verifyKey = await jose.importJWK({ ...publicKey.export({ format: 'jwk' }), alg: 'RS256' }, 'RS256');

  const secret = () => crypto.randomBytes(24).toString('base64url');
  const clients = {
    basic: { id: 'edge-basic', secret: secret(), method: 'client_secret_basic' },
    post: { id: 'edge-post', secret: secret(), method: 'client_secret_post' },
  };

  // Listen first: the issuer must carry the port.
  const server = http.createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = server.address().port;
  const issuer = `http://127.0.0.1:${port}`;

  const provider = new Provider(issuer, {
    clients: Object.values(clients).map((c) => ({
      client_id: c.id,
      client_secret: c.secret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: c.method,
      scope: 'read write',
    })),
    jwks: { keys: [signing] },
    cookies: { keys: [secret()] },
    scopes: ['read', 'write'],
    ttl: { ClientCredentials: accessTokenTtl },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true, allowedPolicy: () => true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, indicator) => {
          if (indicator !== JWT_RESOURCE) throw new Provider.errors.InvalidTarget();
          return {
            scope: 'read write',
            audience: JWT_RESOURCE,
            accessTokenTTL: accessTokenTtl,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    extraTokenClaims: () => ({ tenant: 'acme' }),
  });

  const requests = [];
  const issued = [];
  provider.use(async (ctx, next) => {
    const isToken = ctx.path === '/token' && ctx.method === 'POST';
    let entry;
    if (isToken) {
      entry = { headers: { ...ctx.headers }, status: 0 };
      requests.push(entry);
    }
    await next();
    if (isToken) {
      entry.status = ctx.status;
      entry.form = ctx.oidc?.params
        ? Object.fromEntries(Object.entries(ctx.oidc.params).filter(([, v]) => v !== undefined))
        : undefined;
      const token = ctx.body && typeof ctx.body === 'object' ? ctx.body.access_token : undefined;
      if (token) issued.push(token);
    }
  });
  server.on('request', provider.callback());

  const basicAuth = 'Basic ' + Buffer.from(`${clients.basic.id}:${clients.basic.secret}`).toString('base64');

  return {
    issuer,
    port,
    tokenUrl: `${issuer}/token`,
    clients,
    jwtResource: JWT_RESOURCE,
    tokenRequests: () => requests,
    tokenHits: () => requests.length,
    issued: () => issued,
    /** RFC 7662 introspection, authenticated as the basic client. */
    async introspect(token) {
      const res = await fetch(`${issuer}/token/introspection`, {
        method: 'POST',
        headers: { authorization: basicAuth, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token }).toString(),
      });
      if (res.status !== 200) throw new Error(`introspection: HTTP ${res.status} ${await res.text()}`);
      return res.json();
    },
    /** Verifies a JWT access token's signature, issuer and audience; returns its payload. */
    async verifyJwt(token) {
      const { payload } = await jose.jwtVerify(token, verifyKey, { issuer, audience: JWT_RESOURCE });
      return payload;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
