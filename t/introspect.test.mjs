// Token introspection (RFC 7662): `edge_auth introspect` with
// `edge_auth_introspection URL client=NAME [cache=TIME]`.
// - against a real OpenID provider (oidc-provider's introspection endpoint,
//   asked by resource-server clients): active / revoked / unknown tokens, both
//   client auth methods, a client the IdP does not let introspect, a wrong secret,
//   claim rules and claim headers on the answer;
// - against a fake endpoint: what the request carries, caching (cache=, the
//   token's exp, inactive answers, rules re-checked on cached claims), one call
//   for 20 parallel requests, failures (500, garbage, no "active", hang, refused,
//   401) denied in time and logged with the URL, `edge_auth bearer introspect`,
//   identity / claim headers, the answer shared by workers through the zone;
// - what `nginx -t` rejects.
// No log may hold a client secret or any token.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { startStack, stopStack, loc, assertNoSecrets } from './lib/stack.mjs';
import { nginxTest, freePorts } from './lib/nginx.mjs';
import { server as serverConf, expectRejected, expectAccepted } from './lib/conf-check.mjs';
import { headerValues } from './lib/http.mjs';
import { startIdp } from './lib/idp.mjs';
import { oauthClient } from './lib/token-endpoint.mjs';

const INVALID = 'Bearer realm="Restricted", error="invalid_token"';
const SCOPE = 'Bearer realm="Restricted", error="insufficient_scope"';
const NO_TOKEN = 'Bearer realm="Restricted"';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rnd = (tag) => `${tag}-${crypto.randomBytes(12).toString('base64url')}`;
const nowSec = () => Math.floor(Date.now() / 1000);

// Everything secret handed to nginx or sent to it; no log may hold any of it.
const secrets = new Set();
const logs = [];
const tokenSources = [];
const remember = (t) => (secrets.add(t), t);
const bearer = (t) => ({ Authorization: `Bearer ${remember(t)}` });

after(() => {
  const all = [...secrets];
  for (const src of tokenSources) all.push(...src());
  assertNoSecrets(logs.map((f) => f()).join('\n'), all);
});

/** Waits for an error-log line (since `mark`, see stack.logMark) matching re. */
async function waitForLine(mark, re, ms = 3000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const line = mark().find((l) => re.test(l));
    if (line) return line;
    if (Date.now() > deadline) assert.fail(`no error-log line matching ${re}:\n${mark().join('\n')}`);
    await sleep(25);
  }
}

// ---------------------------------------------------------------------------
// A fake RFC 7662 endpoint. Routes (/<route>/introspect) have a mode, an
// optional delay and optional client credentials to check; active tokens are
// in one table shared by all routes (token -> claims; an `exp` in the past makes
// the answer inactive, as a real IdP would).
//   modes: ok | 500 | garbage (the token echoed back as text) | no-active |
//          string-active | hang | active-expired ({"active":true,"exp":<past>}) |
//          huge (an active answer of 2 MiB)
function parseBasic(header) {
  const m = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!m) return null;
  const text = Buffer.from(m[1], 'base64').toString('utf8');
  const i = text.indexOf(':');
  const dec = (s) => decodeURIComponent(s.replace(/\+/g, ' '));
  return { id: dec(text.slice(0, i)), secret: dec(text.slice(i + 1)), raw: text };
}

async function startIntrospectionEndpoint() {
  const routes = new Map();
  const active = new Map();
  const sockets = new Set();
  const route = (name) => {
    if (!routes.has(name)) routes.set(name, { mode: 'ok', delay: 0, client: null, requests: [] });
    return routes.get(name);
  };
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks).toString('utf8');
    const name = req.url.split('/')[1];
    const r = route(name);
    const form = {};
    for (const [k, v] of new URLSearchParams(body)) form[k] = k in form ? [].concat(form[k], v) : v;
    r.requests.push({ at: Date.now(), method: req.method, path: req.url, headers: req.headers, body, form, basic: parseBasic(req.headers.authorization) });
    if (r.mode === 'hang') return; // the socket stays open until close()
    if (r.delay) await sleep(r.delay);
    const json = (status, obj) => {
      const text = JSON.stringify(obj);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    if (r.client) {
      const b = parseBasic(req.headers.authorization);
      const ok =
        r.client.method === 'client_secret_post'
          ? !b && form.client_id === r.client.id && form.client_secret === r.client.secret
          : b && b.id === r.client.id && b.secret === r.client.secret && form.client_secret === undefined;
      if (!ok) return json(401, { error: 'invalid_client', error_description: 'client authentication failed' });
    }
    switch (r.mode) {
      case '500':
        return json(500, { error: 'server_error' });
      case 'garbage':
        res.writeHead(200, { 'content-type': 'text/plain' });
        return res.end(`${form.token} is not a token I know`);
      case 'no-active':
        return json(200, { sub: 'someone', scope: 'read' });
      case 'string-active':
        return json(200, { active: 'true', sub: 'someone' });
      case 'active-expired':
        return json(200, { active: true, sub: 'someone', exp: nowSec() - 60 });
      case 'huge':
        return json(200, { active: true, sub: 'someone', padding: 'x'.repeat(2 * 1024 * 1024) });
      default: {
        const claims = active.get(form.token);
        if (!claims || (claims.exp !== undefined && claims.exp <= nowSec())) return json(200, { active: false });
        return json(200, { active: true, ...claims });
      }
    }
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = server.address().port;
  return {
    url: (name) => `http://127.0.0.1:${port}/${name}/introspect`,
    set(name, mode, { delay = 0, client = null } = {}) {
      Object.assign(route(name), { mode, delay, client });
    },
    /** An active token (a fresh random one unless given) with these claims. */
    activate(claims, token = rnd('opaque')) {
      active.set(token, claims);
      return token;
    },
    requests: (name) => route(name).requests,
    hits: (name) => route(name).requests.length,
    last: (name) => route(name).requests.at(-1),
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------------------
describe('real OpenID provider (oidc-provider introspection endpoint)', () => {
  let idp;
  let s;
  const wrongSecret = rnd('wrong-rs-secret');
  secrets.add(wrongSecret);

  before(async () => {
    idp = await startIdp({ resourceServers: true });
    for (const c of Object.values(idp.clients)) {
      secrets.add(c.secret);
      secrets.add(`${c.id}:${c.secret}`);
    }
    tokenSources.push(() => idp.issued());
    const { rs, rsPost, post } = idp.clients;
    const intro = (client, extra = '') => `edge_auth introspect;
        edge_auth_introspection ${idp.introspectionUrl} client=${client}${extra};
        edge_auth_upstream_header X-Client $edge_auth_claim_client_id;
        edge_auth_claim_header X-Tenant tenant;
        edge_auth_claim_header X-Scope scope;`;
    s = await startStack({
      http: ({ port }) => `
${oauthClient('gw', { token_url: idp.tokenUrl, client_id: rs.id, client_secret: rs.secret, timeout: '3s' })}
${oauthClient('gw-post', { token_url: idp.tokenUrl, client_id: rsPost.id, client_secret: rsPost.secret, auth_method: 'client_secret_post' })}
${oauthClient('not-rs', { token_url: idp.tokenUrl, client_id: post.id, client_secret: post.secret, auth_method: 'client_secret_post' })}
${oauthClient('gw-bad', { token_url: idp.tokenUrl, client_id: rs.id, client_secret: wrongSecret })}
    server {
        listen 127.0.0.1:${port};
        ${loc('/idp/', intro('gw'))}
        ${loc('/idp-post/', intro('gw-post'))}
        ${loc('/idp-short/', intro('gw', ' cache=1s'))}
        ${loc('/idp-other/', intro('not-rs'))}
        ${loc('/idp-bad/', intro('gw-bad'))}
        ${loc('/idp-write/', intro('gw') + '\n        edge_auth_require scope contains write;')}
    }`,
    });
    logs.push(() => s.ngx.errorLog());
  });

  after(() => stopStack(s, idp));

  const calls = () => idp.introspectionRequests().length;

  it('an active opaque token of client A, introspected by resource server B (client_secret_basic): 200, claims upstream, cached', async () => {
    const token = await idp.clientCredentials('basic', { scope: 'read' });
    const before = calls();
    const seen = await s.allowed('/idp/x', bearer(token));
    assert.equal(seen.headers['x-client'], idp.clients.basic.id, 'client_id of the introspection answer');
    assert.equal(seen.headers['x-tenant'], 'acme');
    assert.equal(seen.headers['x-scope'], 'read');
    assert.equal(seen.headers['x-edge-method'], 'introspect');
    assert.equal(seen.headers['x-edge-user'], undefined, 'a client-credentials token has no sub: $edge_auth_user is empty');
    assert.equal(seen.headers.authorization, undefined, 'the token is stripped before proxying');

    assert.equal(calls(), before + 1, 'one introspection call');
    const req = idp.introspectionRequests().at(-1);
    assert.equal(req.status, 200);
    assert.equal(req.body.active, true);
    assert.match(req.headers.authorization ?? '', /^Basic /, 'B authenticates with HTTP Basic');
    assert.equal(Buffer.from(req.headers.authorization.slice(6), 'base64').toString().split(':')[0], idp.clients.rs.id);
    assert.equal(req.form.token, token);
    assert.equal(req.form.token_type_hint, 'access_token');

    for (let i = 0; i < 3; i++) await s.allowed('/idp/y', bearer(token));
    assert.equal(calls(), before + 1, 'the active answer is cached');
  });

  it('client_secret_post: id and secret in the form body', async () => {
    const token = await idp.clientCredentials('post', { scope: 'read write' });
    const seen = await s.allowed('/idp-post/x', bearer(token));
    assert.equal(seen.headers['x-client'], idp.clients.post.id);
    assert.equal(seen.headers['x-scope'], 'read write');
    const req = idp.introspectionRequests().at(-1);
    assert.equal(req.status, 200);
    assert.equal(req.headers.authorization, undefined, 'no Authorization with client_secret_post');
    assert.equal(req.form.client_id, idp.clients.rsPost.id);
    assert.equal(req.body.active, true);
  });

  it('a revoked token: 401 invalid_token, backend not contacted', async () => {
    const token = await idp.clientCredentials('basic', { scope: 'read' });
    await idp.revoke(token, 'basic');
    const before = calls();
    await s.denied('/idp/x', bearer(token), { reason: 'token not active', challenges: [INVALID] });
    assert.equal(calls(), before + 1);
    assert.deepEqual(idp.introspectionRequests().at(-1).body, { active: false });
  });

  it('a token revoked after use is refused once the cached answer is older than cache=', async () => {
    const token = await idp.clientCredentials('basic', { scope: 'read' });
    await s.allowed('/idp-short/x', bearer(token));
    await idp.revoke(token, 'basic');
    await s.allowed('/idp-short/x', bearer(token)); // still the cached answer
    await sleep(1300);
    await s.denied('/idp-short/x', bearer(token), { reason: 'token not active', challenges: [INVALID] });
  });

  it('a token the IdP never issued: 401 invalid_token', async () => {
    const before = calls();
    await s.denied('/idp/x', bearer(rnd('garbage')), { reason: 'token not active', challenges: [INVALID] });
    assert.equal(calls(), before + 1);
  });

  it('an introspecting client the IdP does not allow (not a resource server) gets active:false: 401', async () => {
    const token = await idp.clientCredentials('basic', { scope: 'read' });
    await s.denied('/idp-other/x', bearer(token), { reason: 'token not active', challenges: [INVALID] });
    const req = idp.introspectionRequests().at(-1);
    assert.equal(req.form.client_id, idp.clients.post.id);
    assert.deepEqual(req.body, { active: false });
  });

  it('the answer belongs to the client that asked: a token active for B is not accepted where a client the IdP refuses asks', async () => {
    // Same URL, two clients: the IdP answers per client (RFC 7662 §2.2 lets it, e.g. by audience).
    const token = await idp.clientCredentials('basic', { scope: 'read' });
    await s.allowed('/idp/x', bearer(token)); // gw: active, cached
    const before = calls();
    await s.denied('/idp-other/x', bearer(token), { reason: 'token not active', challenges: [INVALID] });
    assert.equal(calls(), before + 1, 'the other client asks the IdP itself');
  });

  it('an inactive answer given to one client does not deny the token where another client asks', async () => {
    const token = await idp.clientCredentials('basic', { scope: 'read' });
    await s.denied('/idp-other/x', bearer(token), { reason: 'token not active' }); // not-rs: inactive, cached
    const seen = await s.allowed('/idp/x', bearer(token));
    assert.equal(seen.headers['x-client'], idp.clients.basic.id);
  });

  it('a wrong client secret: the IdP answers 401 invalid_client; 401 for the request, the URL in the log', async () => {
    const mark = s.logMark();
    const token = await idp.clientCredentials('basic', { scope: 'read' });
    await s.denied('/idp-bad/x', bearer(token), { reason: 'introspection unavailable', challenges: [INVALID] });
    const line = await waitForLine(mark, /introspection at/);
    assert.ok(line.includes(`"${idp.introspectionUrl}"`), `URL not named: ${line}`);
    assert.match(line, /HTTP 401/);
  });

  it('edge_auth_require on the introspected scope: 403 insufficient_scope; a token with the scope passes', async () => {
    const readOnly = await idp.clientCredentials('basic', { scope: 'read' });
    await s.denied('/idp-write/x', bearer(readOnly), { status: 403, challenges: [SCOPE] });
    const rw = await idp.clientCredentials('basic', { scope: 'read write' });
    const seen = await s.allowed('/idp-write/x', bearer(rw));
    assert.equal(seen.headers['x-scope'], 'read write');
  });
});

// ---------------------------------------------------------------------------
const FAULTS = ['500', 'garbage', 'no-active', 'string-active', 'hang', 'active-expired', 'huge'];

describe('fake introspection endpoint (one worker)', () => {
  let ep;
  let s;
  let refusedPort;
  // ':' and '+' in the id, '%&=:+/' in the secret: form-encoded before base64 (RFC 6749 §2.3.1)
  const basicClient = { id: 'rs:gw+1', secret: `S+/%&=:${crypto.randomBytes(9).toString('base64url')}`, method: 'client_secret_basic' };
  const postClient = { id: 'rs-post', secret: rnd('post-secret'), method: 'client_secret_post' };
  const wrong = rnd('wrong-secret');
  const staticToken = rnd('static-token');
  for (const x of [basicClient.secret, postClient.secret, wrong, staticToken, `${basicClient.id}:${basicClient.secret}`]) secrets.add(x);

  before(async () => {
    ep = await startIntrospectionEndpoint();
    [refusedPort] = await freePorts(1); // nothing listens there
    ep.set('a', 'ok', { client: basicClient });
    ep.set('p', 'ok', { client: postClient });
    ep.set('c', 'ok', { client: basicClient });
    ep.set('z', 'ok', { client: basicClient });
    ep.set('slow', 'ok', { client: basicClient, delay: 400 });
    ep.set('auth', 'ok', { client: basicClient });
    for (const m of FAULTS) ep.set(`f-${m}`, m);
    ep.set('slow500', '500', { delay: 300 });

    const intro = (routeName, client = 'fb', extra = '') =>
      `edge_auth_introspection ${ep.url(routeName)} client=${client}${extra};`;
    const claimHeaders = `edge_auth_claim_header X-Scope scope;
        edge_auth_claim_header X-Org org.id;
        edge_auth_claim_header X-Roles roles;
        edge_auth_claim_header X-Missing no_such_claim;
        edge_auth_identity_headers on;`;
    s = await startStack({
      files: { 'fb.secret': `${basicClient.secret}\n` },
      http: ({ port, path }) => `
${oauthClient('fb', { token_url: `http://127.0.0.1:${refusedPort}/token`, client_id: `"${basicClient.id}"`, client_secret: `file:${path('fb.secret')}`, timeout: '1s' })}
${oauthClient('fp', { token_url: `http://127.0.0.1:${refusedPort}/token`, client_id: postClient.id, client_secret: postClient.secret, auth_method: 'client_secret_post', timeout: '1s' })}
${oauthClient('fwrong', { token_url: `http://127.0.0.1:${refusedPort}/token`, client_id: `"${basicClient.id}"`, client_secret: wrong, timeout: '1s' })}
    server {
        listen 127.0.0.1:${port};
        ${loc('/a/', `edge_auth introspect; ${intro('a')} ${claimHeaders}`)}
        ${loc('/p/', `edge_auth introspect; ${intro('p', 'fp')}`)}
        ${loc('/c/', `edge_auth introspect; ${intro('c', 'fb', ' cache=1s')}`)}
        ${loc('/z/', `edge_auth introspect; ${intro('z', 'fb', ' cache=0')}`)}
        ${loc('/scope/', `edge_auth introspect; ${intro('a')} edge_auth_require scope contains orders.read; edge_auth_require tenant eq acme;`)}
        ${loc('/slow/', `edge_auth introspect; ${intro('slow')}`)}
        ${loc('/wrong/', `edge_auth introspect; ${intro('auth', 'fwrong')}`)}
        ${loc('/ba/', `edge_auth bearer introspect; edge_auth_token ${staticToken} label=static; ${intro('a')}`)}
        ${loc('/ib/', `edge_auth introspect bearer; edge_auth_token ${staticToken} label=static; ${intro('a')}`)}
        ${loc('/refused/', `edge_auth introspect; edge_auth_introspection http://127.0.0.1:${refusedPort}/introspect client=fb;`)}
        ${loc('/slow500/', `edge_auth introspect; ${intro('slow500')}`)}
        ${FAULTS
          .map((m) => loc(`/f-${m}/`, `edge_auth introspect; ${intro(`f-${m}`)}`))
          .join('\n')}
    }`,
    });
    logs.push(() => s.ngx.errorLog());
  });

  after(() => stopStack(s, ep));

  it('the request: POST form token + token_type_hint=access_token, Basic with the form-encoded id:secret', async () => {
    const token = ep.activate({ sub: 'alice', scope: 'read', exp: nowSec() + 300 });
    await s.allowed('/a/x', bearer(token));
    assert.equal(ep.hits('a'), 1);
    const req = ep.last('a');
    assert.equal(req.method, 'POST');
    assert.equal(req.path, '/a/introspect');
    assert.match(req.headers['content-type'] ?? '', /^application\/x-www-form-urlencoded/);
    assert.deepEqual(req.form, { token, token_type_hint: 'access_token' }, 'nothing else in the body with client_secret_basic');
    assert.deepEqual({ id: req.basic.id, secret: req.basic.secret }, { id: basicClient.id, secret: basicClient.secret });
    assert.ok(req.basic.raw.startsWith('rs%3Agw%2B1:'), `id not form-encoded before base64: ${req.basic.raw.split(':')[0]}`);

    // a token with form-special characters arrives intact
    const odd = ep.activate({ sub: 'odd', exp: nowSec() + 300 }, `${rnd('t')}+/=%&;~!`);
    assert.equal((await s.allowed('/a/x', bearer(odd))).headers['x-edge-user'], 'odd');
    assert.equal(ep.last('a').form.token, odd);
  });

  it('client_secret_post: client_id and client_secret in the body, no Authorization', async () => {
    const token = ep.activate({ sub: 'bob', exp: nowSec() + 300 });
    const seen = await s.allowed('/p/x', bearer(token));
    assert.equal(seen.headers['x-edge-user'], 'bob');
    const req = ep.last('p');
    assert.equal(req.headers.authorization, undefined);
    assert.deepEqual(req.form, { token, token_type_hint: 'access_token', client_id: postClient.id, client_secret: postClient.secret });
  });

  it('claims upstream: $edge_auth_user = sub, claim headers (nested, arrays), identity headers; client-sent copies replaced or removed', async () => {
    const token = ep.activate({
      sub: 'carol',
      scope: 'orders.read orders.write',
      email: 'carol@example.com',
      groups: ['ops', 'dev'],
      roles: ['admin', 'auditor'],
      org: { id: 'o-7' },
      exp: nowSec() + 300,
    });
    const seen = await s.allowed('/a/x', {
      ...bearer(token),
      'X-Missing': 'spoofed',
      'X-Org': 'spoofed',
      'X-Auth-Request-User': 'spoofed',
      'X-Auth-Request-Email': 'spoofed@evil',
    });
    assert.equal(seen.headers['x-edge-user'], 'carol');
    assert.equal(seen.headers['x-edge-method'], 'introspect');
    assert.equal(seen.headers['x-scope'], 'orders.read orders.write');
    assert.deepEqual(headerValues(seen.rawHeaders, 'X-Org'), ['o-7']);
    assert.equal(seen.headers['x-roles'], 'admin,auditor');
    assert.equal(seen.headers['x-missing'], undefined, 'a missing claim removes the client-sent header');
    assert.deepEqual(headerValues(seen.rawHeaders, 'X-Auth-Request-User'), ['carol']);
    assert.deepEqual(headerValues(seen.rawHeaders, 'X-Auth-Request-Email'), ['carol@example.com']);
    assert.equal(seen.headers['x-auth-request-groups'], 'ops,dev');
    assert.equal(seen.headers.authorization, undefined, 'the token is stripped');
  });

  it('an active answer is cached: 5 requests, 1 introspection call; another token, its own call and claims', async () => {
    const t1 = ep.activate({ sub: 'u1', exp: nowSec() + 300 });
    const t2 = ep.activate({ sub: 'u2', exp: nowSec() + 300 });
    const before = ep.hits('a');
    for (let i = 0; i < 5; i++) assert.equal((await s.allowed('/a/x', bearer(t1))).headers['x-edge-user'], 'u1');
    assert.equal(ep.hits('a'), before + 1);
    assert.equal((await s.allowed('/a/x', bearer(t2))).headers['x-edge-user'], 'u2');
    assert.equal((await s.allowed('/a/x', bearer(t1))).headers['x-edge-user'], 'u1');
    assert.equal(ep.hits('a'), before + 2);
  });

  it('cache=0: nothing is cached, every request asks, an active token passes', async () => {
    const token = ep.activate({ sub: 'nocache', exp: nowSec() + 300 });
    const before = ep.hits('z');
    await s.allowed('/z/x', bearer(token));
    await s.allowed('/z/x', bearer(token));
    assert.equal(ep.hits('z'), before + 2);
  });

  it('cache=1s: the active answer is asked again after 1 s', async () => {
    const token = ep.activate({ sub: 'short', exp: nowSec() + 300 });
    await s.allowed('/c/x', bearer(token));
    await s.allowed('/c/x', bearer(token));
    assert.equal(ep.hits('c'), 1);
    await sleep(1300);
    await s.allowed('/c/x', bearer(token));
    assert.equal(ep.hits('c'), 2);
  });

  it("the token's exp bounds the cache (sooner than cache=60s): asked again after exp, then inactive", async () => {
    const exp = nowSec() + 2;
    const token = ep.activate({ sub: 'expiring', exp });
    const before = ep.hits('a');
    await s.allowed('/a/x', bearer(token));
    await s.allowed('/a/x', bearer(token));
    assert.equal(ep.hits('a'), before + 1);
    await sleep(exp * 1000 - Date.now() + 300);
    await s.denied('/a/x', bearer(token), { reason: 'token not active', challenges: [INVALID] });
    assert.equal(ep.hits('a'), before + 2, 'the cached answer ended at exp');
  });

  it('an answer "active": true with an exp already past is not accepted', async () => {
    await s.denied('/f-active-expired/x', bearer(rnd('opaque')), { challenges: [INVALID] });
  });

  it('an inactive answer is cached too (cache=60s: 3 requests, 1 call; cache=1s: asked again after 1 s)', async () => {
    const token = rnd('unknown');
    const before = ep.hits('a');
    for (let i = 0; i < 3; i++) await s.denied('/a/x', bearer(token), { reason: 'token not active', challenges: [INVALID] });
    assert.equal(ep.hits('a'), before + 1);

    const other = rnd('unknown');
    const c = ep.hits('c');
    await s.denied('/c/x', bearer(other), { reason: 'token not active' });
    await s.denied('/c/x', bearer(other), { reason: 'token not active' });
    assert.equal(ep.hits('c'), c + 1);
    await sleep(1300);
    await s.denied('/c/x', bearer(other), { reason: 'token not active' });
    assert.equal(ep.hits('c'), c + 2);
  });

  it('20 parallel requests with a new token (one worker): 1 introspection call, all 200', async () => {
    const token = ep.activate({ sub: 'crowd', exp: nowSec() + 300 });
    const before = s.echo.hits();
    const res = await Promise.all(Array.from({ length: 20 }, () => s.get('/slow/x', bearer(token))));
    assert.deepEqual(res.map((r) => r.status), Array(20).fill(200));
    assert.equal(s.echo.hits(), before + 20);
    assert.equal(ep.hits('slow'), 1, 'requests for the same token share one call');
  });

  it('20 parallel requests with an inactive token: 1 call, all 401', async () => {
    const token = rnd('unknown');
    const before = s.echo.hits();
    const c = ep.hits('slow');
    const res = await Promise.all(Array.from({ length: 20 }, () => s.get('/slow/x', bearer(token))));
    assert.deepEqual(res.map((r) => r.status), Array(20).fill(401));
    assert.equal(s.echo.hits(), before);
    assert.equal(ep.hits('slow'), c + 1);
  });

  it('edge_auth_require: rules on the introspected claims; 403 insufficient_scope; cached claims re-checked per location', async () => {
    const good = ep.activate({ sub: 'd', scope: 'orders.read orders.write', tenant: 'acme', exp: nowSec() + 300 });
    const noScope = ep.activate({ sub: 'e', scope: 'orders.write', tenant: 'acme', exp: nowSec() + 300 });
    const otherTenant = ep.activate({ sub: 'f', scope: 'orders.read', tenant: 'globex', exp: nowSec() + 300 });
    await s.allowed('/scope/x', bearer(good));
    await s.denied('/scope/x', bearer(noScope), { status: 403, challenges: [SCOPE] });
    await s.denied('/scope/x', bearer(otherTenant), { status: 403, challenges: [SCOPE] });

    // /a/ and /scope/ ask the same URL: the answer cached by /a/ is reused, the rules of /scope/ still apply
    const cachedElsewhere = ep.activate({ sub: 'g', scope: 'orders.write', tenant: 'acme', exp: nowSec() + 300 });
    await s.allowed('/a/x', bearer(cachedElsewhere));
    const before = ep.hits('a');
    await s.denied('/scope/x', bearer(cachedElsewhere), { status: 403, challenges: [SCOPE] });
    await s.denied('/scope/x', bearer(cachedElsewhere), { status: 403, challenges: [SCOPE] });
    assert.equal(ep.hits('a'), before, 'no new call: the cached claims are checked against the rules');
  });

  it('no token: 401 Bearer challenge without error, no call; Basic credentials: 401, no call', async () => {
    const before = ep.hits('a');
    await s.denied('/a/x', {}, { reason: 'no credentials', challenges: [NO_TOKEN] });
    await s.denied('/a/x', { Authorization: 'Basic ' + Buffer.from('u:p').toString('base64') }, { challenges: [NO_TOKEN] });
    assert.equal(ep.hits('a'), before);
  });

  it('a JWT-looking token is introspected too when jwt is not enabled', async () => {
    const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const jwtLike = `${b64({ alg: 'RS256' })}.${b64({ sub: 'forged' })}.${crypto.randomBytes(16).toString('base64url')}`;
    const before = ep.hits('a');
    await s.denied('/a/x', bearer(jwtLike), { reason: 'token not active' });
    assert.equal(ep.hits('a'), before + 1);
  });

  it('edge_auth bearer introspect: a static token is accepted without a call, an unknown one is introspected', async () => {
    const before = ep.hits('a');
    const seen = await s.allowed('/ba/x', bearer(staticToken));
    assert.equal(seen.headers['x-edge-user'], 'static');
    assert.equal(seen.headers['x-edge-method'], 'bearer');
    assert.equal(ep.hits('a'), before, 'no introspection for a configured token');

    const token = ep.activate({ sub: 'h', exp: nowSec() + 300 });
    const seen2 = await s.allowed('/ba/x', bearer(token));
    assert.equal(seen2.headers['x-edge-user'], 'h');
    assert.equal(seen2.headers['x-edge-method'], 'introspect');
    assert.equal(ep.hits('a'), before + 1);

    await s.denied('/ba/x', bearer(rnd('unknown')), { reason: 'token not active', challenges: [INVALID] });
    assert.equal(ep.hits('a'), before + 2);
  });

  it('edge_auth introspect bearer (other order): a static token is still accepted without a call (README: "a Bearer credential that is not a configured static token is introspected")', async () => {
    const before = ep.hits('a');
    const seen = await s.allowed('/ib/x', bearer(staticToken));
    assert.equal(seen.headers['x-edge-user'], 'static');
    assert.equal(ep.hits('a'), before, 'no introspection for a configured token');
  });

  // ---- failures: 401 in time, nothing cached, one log line naming the URL ----

  for (const [mode, re] of [
    ['500', /HTTP 500/],
    ['garbage', /invalid_response/],
    ['no-active', /invalid_response: no boolean "active"/],
    ['string-active', /invalid_response: no boolean "active"/],
    ['huge', /invalid_response: answer larger than/],
  ]) {
    it(`endpoint answers ${mode}: 401 invalid_token, the URL and the error in the log, not cached`, async () => {
      const route = `f-${mode}`;
      const token = ep.activate({ sub: 'never', exp: nowSec() + 300 });
      const mark = s.logMark();
      await s.denied(`/${route}/x`, bearer(token), { reason: 'introspection unavailable', challenges: [INVALID] });
      const line = await waitForLine(mark, /introspection at/);
      assert.ok(line.includes(`"${ep.url(route)}"`), `URL not named: ${line}`);
      assert.match(line, re);
      assert.match(line, /\[error\]/);
      await s.denied(`/${route}/x`, bearer(token), { reason: 'introspection unavailable' });
      assert.equal(ep.hits(route), 2, 'a failed introspection is not cached');
    });
  }

  it('20 parallel requests while the endpoint fails (500 after 300 ms): 1 call, all 401', async () => {
    const token = ep.activate({ sub: 'never', exp: nowSec() + 300 });
    const before = s.echo.hits();
    const res = await Promise.all(Array.from({ length: 20 }, () => s.get('/slow500/x', bearer(token))));
    assert.deepEqual(res.map((r) => r.status), Array(20).fill(401));
    assert.equal(s.echo.hits(), before);
    assert.equal(ep.hits('slow500'), 1, 'the waiters share the failed call');
  });

  it('endpoint hangs: 401 within the client timeout (1s), a timeout line naming the URL', async () => {
    const mark = s.logMark();
    const t0 = Date.now();
    await s.denied('/f-hang/x', bearer(rnd('opaque')), { reason: 'introspection unavailable', challenges: [INVALID] });
    const took = Date.now() - t0;
    assert.ok(took >= 900 && took < 2500, `answered after ${took} ms (timeout 1s)`);
    const line = await waitForLine(mark, /introspection at/);
    assert.ok(line.includes(`"${ep.url('f-hang')}"`), `URL not named: ${line}`);
    assert.match(line, /transport: .*time(d)? ?out/i);
  });

  it('endpoint refuses connections: 401 at once, the URL in the log', async () => {
    const mark = s.logMark();
    const t0 = Date.now();
    await s.denied('/refused/x', bearer(rnd('opaque')), { reason: 'introspection unavailable', challenges: [INVALID] });
    assert.ok(Date.now() - t0 < 1000);
    const line = await waitForLine(mark, /introspection at/);
    assert.ok(line.includes(`"http://127.0.0.1:${refusedPort}/introspect"`), `URL not named: ${line}`);
    assert.match(line, /transport:/);
  });

  it('the endpoint rejects the client (wrong secret, 401): 401 for the request, HTTP 401 in the log', async () => {
    const token = ep.activate({ sub: 'i', exp: nowSec() + 300 });
    const mark = s.logMark();
    await s.denied('/wrong/x', bearer(token), { reason: 'introspection unavailable', challenges: [INVALID] });
    const line = await waitForLine(mark, /introspection at/);
    assert.ok(line.includes(`"${ep.url('auth')}"`), `URL not named: ${line}`);
    assert.match(line, /HTTP 401/);
    assert.equal(ep.last('auth').basic.secret, wrong);
  });

  it('nginx keeps serving while an introspection hangs', async () => {
    const hung = s.get('/f-hang/x', bearer(rnd('opaque')));
    await sleep(100);
    const token = ep.activate({ sub: 'j', exp: nowSec() + 300 });
    const t0 = Date.now();
    await s.allowed('/a/x', bearer(token));
    assert.ok(Date.now() - t0 < 500, 'another request is served at once');
    assert.equal((await hung).status, 401);
  });
});

describe('the answer is shared by workers through the zone', () => {
  let ep;
  let s;
  const client = { id: 'rs-2w', secret: rnd('secret-2w'), method: 'client_secret_basic' };
  secrets.add(client.secret);

  before(async () => {
    ep = await startIntrospectionEndpoint();
    ep.set('w', 'ok', { client });
    s = await startStack({
      workers: 2,
      http: ({ port }) => `
${oauthClient('w', { token_url: 'http://127.0.0.1:9/token', client_id: client.id, client_secret: client.secret })}
    server {
        listen 127.0.0.1:${port};
        ${loc('/w/', `edge_auth introspect; edge_auth_introspection ${ep.url('w')} client=w;`)}
    }`,
    });
    logs.push(() => s.ngx.errorLog());
  });

  after(() => stopStack(s, ep));

  it('after the first answer, 20 requests on fresh connections (either worker) make no call', async () => {
    const token = ep.activate({ sub: 'k', exp: nowSec() + 300 });
    await s.allowed('/w/x', bearer(token));
    for (let i = 0; i < 20; i++) await s.allowed('/w/x', bearer(token));
    assert.equal(ep.hits('w'), 1);
  });
});

// ---------------------------------------------------------------------------
describe('nginx -t', () => {
  const client = `edge_auth_oauth_client gw { token_url http://127.0.0.1:9/token; client_id gw; client_secret gw-secret-1; }`;
  const server = (body, http = client) => serverConf(body, http);

  it('edge_auth introspect without edge_auth_introspection', async () => {
    const res = await expectRejected(server('edge_auth introspect;'), { mentions: ['"edge_auth introspect" needs edge_auth_introspection'] });
    assert.ok(res.output.includes(res.conf), res.output);
  });

  it('an unknown client=NAME, with the file:line of the directive', async () => {
    await expectRejected(server('edge_auth introspect;\n            edge_auth_introspection http://127.0.0.1:9/i client=nope;'), {
      at: 'client=nope',
      mentions: ['unknown edge_auth_oauth_client "nope"'],
    });
  });

  it('no client=', async () => {
    await expectRejected(server('edge_auth introspect;\n            edge_auth_introspection http://127.0.0.1:9/i cache=10s;'), {
      at: 'edge_auth_introspection',
      mentions: ['needs client=NAME'],
    });
  });

  for (const url of ['ftp://idp/introspect', 'idp.example/introspect', '/introspect']) {
    it(`a URL that is not http(s): ${url}`, async () => {
      await expectRejected(server(`edge_auth introspect;\n            edge_auth_introspection ${url} client=gw;`), {
        at: 'edge_auth_introspection',
        mentions: ['must be an http(s) URL', url],
      });
    });
  }

  it('a bad cache= and an unknown parameter', async () => {
    await expectRejected(server('edge_auth introspect;\n            edge_auth_introspection http://127.0.0.1:9/i client=gw cache=soon;'), {
      at: 'edge_auth_introspection',
      mentions: ['cache=soon'],
    });
    await expectRejected(server('edge_auth introspect;\n            edge_auth_introspection http://127.0.0.1:9/i client=gw retries=3;'), {
      at: 'edge_auth_introspection',
      mentions: ['retries=3'],
    });
  });

  it('twice in one level', async () => {
    await expectRejected(
      server('edge_auth introspect;\n            edge_auth_introspection http://127.0.0.1:9/i client=gw;\n            edge_auth_introspection http://127.0.0.1:9/j client=gw;'),
      { at: '/j client=gw', mentions: ['is duplicate'] },
    );
  });

  it('accepted: inherited from server, with bearer, with a client defined after the use', async () => {
    await expectAccepted(`
    upstream backend { server 127.0.0.1:9; }
    server {
        listen 127.0.0.1:1;
        edge_auth_introspection https://idp.example/oauth2/introspect client=later cache=30s;
        location / { edge_auth introspect; edge_auth_require scope contains api.read; proxy_pass http://backend; }
        location /mixed/ { edge_auth bearer introspect; edge_auth_token t-1234567; proxy_pass http://backend; }
    }
    ${client.replace('gw {', 'later {')}`);
  });
});
