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
// With startIdp({ resourceServers: true }) (introspection by a resource server):
//   idp.clients.rs / idp.clients.rsPost  // resource servers: no grant, may introspect
//                                        // any token (client_secret_basic / _post)
//   idp.introspectionUrl                // http://127.0.0.1:<port>/token/introspection
//   idp.introspectionRequests()         // [{ headers, form, status, body }] seen there
//   await idp.clientCredentials('basic', { scope: 'read' })  // an opaque access token
//   await idp.revoke(token, 'basic')    // RFC 7009 revocation by the token's client
// Then only the resource servers and the token's own client get an active answer
// (any other client gets {"active": false}); without the option every client may
// introspect every token, as before.
//
// Without a resource indicator a client gets an opaque token (introspectable);
// with `resource <idp.jwtResource>` a JWT whose payload carries client_id,
// scope, aud and the extra claim `tenant: "acme"`.
//
// With startIdp({ loginClients: [...] }) (authorization-code login, issue 5):
//   const idp = await startIdp({
//     loginClients: [{ id, secret, redirectUris, postLogoutRedirectUris, backchannelLogoutUri,
//                      method: 'client_secret_basic' }],   // secret: generated when absent
//     accessTokenTtl: 5,                 // seconds, also for the login's access tokens
//     accounts: { alice: { email: 'alice@example.test', groups: ['admins'] } },
//   });
//   idp.issuer, idp.clients[id]          // the login clients by id ({ id, secret, method })
//   idp.requests()                       // every POST /token: [{ headers, form, status }]
//   idp.refreshGrants()                  // those with grant_type=refresh_token
//   idp.allTokens()                      // every access, refresh and ID token handed out
//   idp.account('alice')                 // the claims findAccount gives for login "alice"
// The development login / consent pages (devInteractions) accept any login name
// with any password; claims come from `accounts[login]`, defaults derived from the
// login (sub = login, email = login@example.test, name, preferred_username,
// groups ['users'], picture). `accounts[login].huge = N` adds a claim of N bytes
// (a 6 KB identity for cookie chunking). Refresh tokens are always issued and
// rotated; scopes openid email profile groups offline_access; RP-initiated logout
// (/session/end) and back-channel logout are enabled. ID tokens carry every claim
// of the granted scopes (conformIdTokenClaims off), userinfo the same.
//
// oidc-provider 9 prints "Unsupported runtime" on node 20 and a few
// "should change" notes for development defaults; both are harmless here.

import crypto from 'node:crypto';
import http from 'node:http';
import * as jose from 'jose';
import { auditSecret } from './audit.mjs';

const JWT_RESOURCE = 'https://api.edge-auth.test/';

export async function startIdp({ accessTokenTtl = 600, resourceServers = false, loginClients = [], accounts = {} } = {}) {
  // Imported lazily: its "Unsupported runtime" warning only appears for files that use it.
  const { default: Provider } = await import('oidc-provider');

  // PEM out, KeyObjects back in: exporting generateKeyPairSync's own KeyObjects
  // to JWK can deadlock node 20 (see lib/jwks-server.mjs).
  const pems = crypto.generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const privateKey = crypto.createPrivateKey(pems.privateKey);
  const publicKey = crypto.createPublicKey(pems.publicKey);
  const kid = crypto.randomBytes(8).toString('hex');
  const signing = { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
  const verifyKey = await jose.importJWK({ ...publicKey.export({ format: 'jwk' }), alg: 'RS256' }, 'RS256');

  const secret = () => crypto.randomBytes(24).toString('base64url');
  const clients = {
    basic: { id: 'edge-basic', secret: secret(), method: 'client_secret_basic' },
    post: { id: 'edge-post', secret: secret(), method: 'client_secret_post' },
  };
  const servers = resourceServers
    ? {
        rs: { id: 'edge-rs', secret: secret(), method: 'client_secret_basic' },
        rsPost: { id: 'edge-rs-post', secret: secret(), method: 'client_secret_post' },
      }
    : {};
  const serverIds = new Set(Object.values(servers).map((c) => c.id));
  const logins = Object.fromEntries(
    loginClients.map((c) => [c.id, { method: 'client_secret_basic', ...c, secret: c.secret ?? secret() }]),
  );
  const login = loginClients.length > 0;

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
    })).concat(
      Object.values(servers).map((c) => ({
        client_id: c.id,
        client_secret: c.secret,
        grant_types: [],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: c.method,
      })),
      Object.values(logins).map((c) => ({
        client_id: c.id,
        client_secret: c.secret,
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: c.redirectUris ?? [],
        post_logout_redirect_uris: c.postLogoutRedirectUris ?? [],
        ...(c.backchannelLogoutUri ? { backchannel_logout_uri: c.backchannelLogoutUri, backchannel_logout_session_required: true } : {}),
        token_endpoint_auth_method: c.method,
      })),
    ),
    jwks: { keys: [signing] },
    cookies: { keys: [secret()] },
    scopes: login ? ['read', 'write', 'openid', 'offline_access'] : ['read', 'write'],
    ttl: login
      ? {
          ClientCredentials: accessTokenTtl,
          AccessToken: accessTokenTtl,
          IdToken: 3600,
          RefreshToken: 86400,
          Grant: 86400,
          Session: 86400,
          Interaction: 600,
          AuthorizationCode: 60,
        }
      : { ClientCredentials: accessTokenTtl },
    ...(login
      ? {
          claims: {
            openid: ['sub'],
            email: ['email', 'email_verified'],
            profile: ['name', 'preferred_username', 'picture', 'huge'],
            groups: ['groups'],
          },
          conformIdTokenClaims: false,
          findAccount: (ctx, id) => ({ accountId: id, claims: () => accountClaims(id) }),
          issueRefreshToken: () => true,
          rotateRefreshToken: () => true,
        }
      : {}),
    features: {
      devInteractions: { enabled: login },
      rpInitiatedLogout: { enabled: login },
      backchannelLogout: { enabled: login },
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        allowedPolicy: resourceServers
          ? (ctx, client, token) => serverIds.has(client.clientId) || client.clientId === token.clientId
          : () => true,
      },
      revocation: { enabled: resourceServers },
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

  function accountClaims(id) {
    const a = accounts[id] ?? {};
    const { huge, ...rest } = a;
    return {
      sub: id,
      email: `${id}@example.test`,
      email_verified: true,
      name: `${id[0]?.toUpperCase() ?? ''}${id.slice(1)} Tester`,
      preferred_username: id,
      groups: ['users'],
      picture: `https://avatars.example.test/${encodeURIComponent(id)}.png`,
      ...(huge ? { huge: 'h'.repeat(huge) } : {}),
      ...rest,
    };
  }

  const requests = [];
  const issued = [];
  const allTokens = []; // access, refresh and ID tokens of every /token answer
  const introspections = [];
  provider.use(async (ctx, next) => {
    const isToken = ctx.path === '/token' && ctx.method === 'POST';
    const isIntrospection = ctx.path === '/token/introspection' && ctx.method === 'POST';
    let entry;
    if (isToken) {
      entry = { headers: { ...ctx.headers }, status: 0 };
      requests.push(entry);
    }
    let seen;
    if (isIntrospection) {
      seen = { headers: { ...ctx.headers }, status: 0 };
      introspections.push(seen);
    }
    await next();
    if (isIntrospection) {
      seen.status = ctx.status;
      seen.form = ctx.oidc?.params
        ? Object.fromEntries(Object.entries(ctx.oidc.params).filter(([, v]) => v !== undefined))
        : undefined;
      seen.body = ctx.body && typeof ctx.body === 'object' ? { ...ctx.body } : ctx.body;
    }
    if (isToken) {
      entry.status = ctx.status;
      entry.form = ctx.oidc?.params
        ? Object.fromEntries(Object.entries(ctx.oidc.params).filter(([, v]) => v !== undefined))
        : undefined;
      const token = ctx.body && typeof ctx.body === 'object' ? ctx.body.access_token : undefined;
      if (token) issued.push(token);
      for (const k of ['access_token', 'refresh_token', 'id_token']) auditSecret(ctx.body?.[k]);
      for (const k of ['access_token', 'refresh_token', 'id_token']) {
        const v = ctx.body && typeof ctx.body === 'object' ? ctx.body[k] : undefined;
        if (v) allTokens.push(v);
      }
    }
  });
  server.on('request', provider.callback());

  const basicAuth = 'Basic ' + Buffer.from(`${clients.basic.id}:${clients.basic.secret}`).toString('base64');
  const allClients = { ...clients, ...servers };
  /** Form POST to the IdP as one of its clients (client_secret_basic or _post). */
  const asClient = (path, which, fields) => {
    const c = allClients[which];
    if (!c) throw new Error(`no IdP client "${which}"`);
    const headers = { 'content-type': 'application/x-www-form-urlencoded' };
    const form = { ...fields };
    if (c.method === 'client_secret_post') Object.assign(form, { client_id: c.id, client_secret: c.secret });
    else headers.authorization = 'Basic ' + Buffer.from(`${encodeURIComponent(c.id)}:${encodeURIComponent(c.secret)}`).toString('base64');
    return fetch(`${issuer}${path}`, { method: 'POST', headers, body: new URLSearchParams(form).toString() });
  };

  return {
    issuer,
    port,
    tokenUrl: `${issuer}/token`,
    clients: { ...allClients, ...logins },
    /** Every POST /token seen: [{ headers, form, status }]. */
    requests: () => requests,
    /** Every access, refresh and ID token /token handed out (issued() has the access tokens only). */
    allTokens: () => [...allTokens],
    /** The refresh_token grants among them. */
    refreshGrants: () => requests.filter((r) => r.form?.grant_type === 'refresh_token'),
    /** The claims of login `id` (what findAccount answers). */
    account: (id) => accountClaims(id),
    /** The OP's RP-initiated logout URL. */
    endSessionUrl: `${issuer}/session/end`,
    jwtResource: JWT_RESOURCE,
    introspectionUrl: `${issuer}/token/introspection`,
    introspectionRequests: () => introspections,
    /** An access token of client `which` (client_credentials grant, as a client would get it). */
    async clientCredentials(which, { scope } = {}) {
      const res = await asClient('/token', which, { grant_type: 'client_credentials', ...(scope ? { scope } : {}) });
      const body = await res.json();
      if (res.status !== 200 || !body.access_token) throw new Error(`token: HTTP ${res.status} ${JSON.stringify(body)}`);
      return body.access_token;
    },
    /** RFC 7009 revocation by client `which` (needs resourceServers: true). */
    async revoke(token, which) {
      const res = await asClient('/token/revocation', which, { token, token_type_hint: 'access_token' });
      if (res.status !== 200) throw new Error(`revocation: HTTP ${res.status} ${await res.text()}`);
    },
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
