// OAuth2 client credentials (edge_auth_oauth_client / edge_auth_upstream_oauth):
// against a real OpenID provider (oidc-provider: both client auth methods,
// opaque tokens introspected, JWT access tokens verified), what the token
// request carries (scope, audience, resource, params, client auth), how the
// token is used (Authorization replaced, cached, purged on an upstream 401),
// require / forward_claim on JWT access tokens, and what nginx -t rejects.
// Faults: oauth-faults.test.mjs; concurrency and timing: oauth-timing.test.mjs.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startStack, stopStack, assertNoSecrets } from './lib/stack.mjs';
import { nginxTest } from './lib/nginx.mjs';
import { server, expectRejected } from './lib/conf-check.mjs';
import { headerValues } from './lib/http.mjs';
import { startIdp } from './lib/idp.mjs';
import { startTokenEndpoint, oauthClient } from './lib/token-endpoint.mjs';

const rnd = (tag) => `${tag}-${crypto.randomBytes(12).toString('base64url')}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Everything secret this file hands to nginx or gets back; no log may hold any of it.
const secrets = new Set();
const logs = [];
const tokenSources = [];

after(() => {
  const all = [...secrets];
  for (const src of tokenSources) all.push(...src());
  assertNoSecrets(logs.map((f) => f()).join('\n'), all);
});

/** Rows of the error log that name the client. */
const linesOf = (s, name) =>
  s.ngx
    .errorLog()
    .split('\n')
    .filter((l) => l.includes(`"${name}"`));

/** A request that gets on_error: that status, and the backend not contacted. */
async function expectOnError(s, path, status = 502) {
  const before = s.echo.hits();
  const res = await s.get(path);
  assert.equal(res.status, status, `expected ${status} for ${path}, got ${res.status}: ${res.body.slice(0, 200)}`);
  assert.equal(s.echo.hits(), before, 'the backend must not be contacted');
  return res;
}

async function waitForLine(s, name, re, ms = 3000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const line = linesOf(s, name).find((l) => re.test(l));
    if (line) return line;
    if (Date.now() > deadline) assert.fail(`no error-log line for "${name}" matching ${re}:\n${linesOf(s, name).join('\n')}`);
    await sleep(50);
  }
}

describe('real OpenID provider (oidc-provider)', () => {
  let idp;
  let s;
  const badSecret = rnd('wrong-secret');
  secrets.add(badSecret);

  before(async () => {
    idp = await startIdp();
    for (const c of Object.values(idp.clients)) {
      secrets.add(c.secret);
      secrets.add(`${c.id}:${c.secret}`);
    }
    tokenSources.push(() => idp.issued());
    const { basic, post } = idp.clients;
    s = await startStack({
      http: ({ port }) => `
${oauthClient('idp-basic', { token_url: idp.tokenUrl, client_id: basic.id, client_secret: basic.secret, scope: 'read' })}
${oauthClient('idp-post', { token_url: idp.tokenUrl, client_id: post.id, client_secret: post.secret, auth_method: 'client_secret_post', scope: 'read write' })}
${oauthClient('idp-jwt', {
  token_url: idp.tokenUrl,
  client_id: basic.id,
  client_secret: basic.secret,
  scope: 'read',
  resource: idp.jwtResource,
  require: [`client_id eq ${basic.id}`, `aud eq ${idp.jwtResource}`, 'scope contains read'],
  forward_claim: ['X-Tenant tenant', 'X-Client client_id'],
})}
${oauthClient('idp-bad', { token_url: idp.tokenUrl, client_id: basic.id, client_secret: badSecret, timeout: '2s' })}
    server {
        listen 127.0.0.1:${port};
        location /basic/ { edge_auth_upstream_oauth idp-basic; proxy_pass http://backend; }
        location /post/ { edge_auth_upstream_oauth idp-post; proxy_pass http://backend; }
        location /jwt/ { edge_auth_upstream_oauth idp-jwt; proxy_pass http://backend; }
        location /bad/ { edge_auth_upstream_oauth idp-bad; proxy_pass http://backend; }
    }`,
    });
    logs.push(() => s.ngx.errorLog());
  });

  after(() => stopStack(s, idp));

  /** The one Authorization the backend saw: the IdP's token, replacing the client's. */
  function bearerSeen(seen) {
    const auths = headerValues(seen.rawHeaders, 'Authorization');
    assert.equal(auths.length, 1, `exactly one Authorization upstream, got ${JSON.stringify(auths)}`);
    const m = /^Bearer (\S+)$/.exec(auths[0]);
    assert.ok(m, `not a Bearer token: ${auths[0]}`);
    assert.ok(idp.issued().includes(m[1]), 'the backend got a token the IdP issued');
    return m[1];
  }

  it('client_secret_basic: the backend gets a valid IdP token (introspected), cached for the next request', async () => {
    const hits = idp.tokenHits();
    const seen = await s.allowed('/basic/a', { Authorization: 'Bearer client-own-token' });
    const token = bearerSeen(seen);
    assert.equal(idp.tokenHits(), hits + 1);
    const req = idp.tokenRequests().at(-1);
    assert.equal(req.status, 200);
    assert.match(req.headers.authorization ?? '', /^Basic /, 'client_secret_basic: HTTP Basic at the token endpoint');
    assert.equal(req.form.client_secret, undefined, 'no secret in the body with client_secret_basic');

    const info = await idp.introspect(token);
    assert.equal(info.active, true);
    assert.equal(info.client_id, idp.clients.basic.id);
    assert.equal(info.scope, 'read');

    const again = await s.allowed('/basic/b');
    assert.equal(bearerSeen(again), token, 'the cached token is reused');
    assert.equal(idp.tokenHits(), hits + 1, 'no second token request');
  });

  it('client_secret_post: the backend gets a valid IdP token of the other client', async () => {
    const seen = await s.allowed('/post/a');
    const token = bearerSeen(seen);
    const req = idp.tokenRequests().at(-1);
    assert.equal(req.status, 200);
    assert.equal(req.headers.authorization, undefined, 'client_secret_post: no Authorization header');
    assert.equal(req.form.client_id, idp.clients.post.id);
    const info = await idp.introspect(token);
    assert.equal(info.active, true);
    assert.equal(info.client_id, idp.clients.post.id);
    assert.equal(info.scope, 'read write');
  });

  it('resource indicator: a signed JWT access token (verified), require rules hold, claims forwarded', async () => {
    const seen = await s.allowed('/jwt/a', { 'X-Tenant': 'spoofed' });
    const token = bearerSeen(seen);
    assert.equal(idp.tokenRequests().at(-1).form.resource, idp.jwtResource);
    const claims = await idp.verifyJwt(token);
    assert.equal(claims.client_id, idp.clients.basic.id);
    assert.equal(claims.tenant, 'acme');
    assert.deepEqual(headerValues(seen.rawHeaders, 'X-Tenant'), ['acme'], 'the token claim replaces a client-sent header');
    assert.equal(seen.headers['x-client'], idp.clients.basic.id);
  });

  it('a wrong client secret: on_error, the IdP error in the log, not the secret', async () => {
    await expectOnError(s, '/bad/a');
    const line = await waitForLine(s, 'idp-bad', /failed/);
    assert.ok(line.includes(idp.tokenUrl), `token URL not named: ${line}`);
    assert.match(line, /\b401\b/);
    assert.match(line, /invalid_client/);
    assert.match(line, /client authentication failed/, "the IdP's error_description is logged");
  });
});

describe('token request and token use (fake token endpoint)', () => {
  let te;
  let s;
  const basicId = 'svc:edge+1'; // ':' and '+' must be form-encoded before base64 (RFC 6749 §2.3.1)
  const basicSecret = `S+/%&=:${crypto.randomBytes(9).toString('base64url')}`;
  const postId = rnd('post-id');
  const postSecret = rnd('post-secret');
  const plainSecret = rnd('plain-secret');
  for (const x of [basicSecret, postSecret, plainSecret, `${basicId}:${basicSecret}`]) secrets.add(x);
  const JWT_CLAIMS = { sub: 'svc-1', scope: 'read write', tenant: 'acme', org: { id: 'o-7' } };

  before(async () => {
    te = await startTokenEndpoint();
    tokenSources.push(() => te.issued());
    te.set('cl', 'ok-jwt', { claims: JWT_CLAIMS });
    te.set('cld', 'ok-jwt', { claims: JWT_CLAIMS });
    te.set('noexp', 'ok', { expiresIn: null });
    const plain = (route, extra = {}) => ({ token_url: te.url(route), client_id: `id-${route}`, client_secret: plainSecret, ...extra });
    s = await startStack({
      main: 'env EA_OAUTH_TEST_ID;',
      env: { EA_OAUTH_TEST_ID: postId },
      files: { 'basic.secret': `${basicSecret}\n`, 'hint.txt': 'hint-from-file\n' },
      http: ({ port, path }) => `
${oauthClient('p-basic', {
  token_url: te.url('pb'),
  client_id: `"${basicId}"`,
  client_secret: `file:${path('basic.secret')}`,
  scope: 'read write',
  audience: 'https://api.example/',
  resource: 'urn:edge:resource',
  param: ['foo bar', 'extra "a b&c=d"', `from_file file:${path('hint.txt')}`],
})}
${oauthClient('p-post', { token_url: te.url('pp'), client_id: 'env:EA_OAUTH_TEST_ID', client_secret: postSecret, auth_method: 'client_secret_post' })}
${oauthClient('purge', plain('pu'))}
${oauthClient('noexp', plain('noexp'))}
${oauthClient('cl-ok', plain('cl', {
  require: ['scope contains read', 'tenant eq acme', 'sub exists'],
  forward_claim: ['X-Tenant tenant', 'X-Sub sub', 'X-Org org.id', 'X-Missing no_such_claim'],
}))}
${oauthClient('cl-deny', plain('cld', { require: ['tenant eq acme', 'scope contains admin'] }))}
    server {
        listen 127.0.0.1:${port};
        location /pb/ { edge_auth_upstream_oauth p-basic; proxy_pass http://backend; }
        location /pp/ { edge_auth_upstream_oauth p-post; proxy_pass http://backend; }
        location /pu/ { edge_auth_upstream_oauth purge; proxy_pass http://backend; }
        location /noexp/ { edge_auth_upstream_oauth noexp; proxy_pass http://backend; }
        location /cl/ { edge_auth_upstream_oauth cl-ok; proxy_pass http://backend; }
        location /cld/ { edge_auth_upstream_oauth cl-deny; proxy_pass http://backend; }
    }`,
    });
    logs.push(() => s.ngx.errorLog());
  });

  after(() => stopStack(s, te));

  it('client_secret_basic: grant, scope, audience, resource, params in the body; id:secret form-encoded in Basic', async () => {
    const seen = await s.allowed('/pb/x', { Authorization: 'Basic ' + Buffer.from('me:mine').toString('base64') });
    assert.deepEqual(headerValues(seen.rawHeaders, 'Authorization'), [`Bearer ${te.issued().at(-1)}`], 'the client Authorization is replaced');
    assert.equal(te.hits('pb'), 1);
    const req = te.last('pb');
    assert.equal(req.method, 'POST');
    assert.match(req.headers['content-type'] ?? '', /^application\/x-www-form-urlencoded/);
    assert.deepEqual(req.form, {
      grant_type: 'client_credentials',
      scope: 'read write',
      audience: 'https://api.example/',
      resource: 'urn:edge:resource',
      foo: 'bar',
      extra: 'a b&c=d',
      from_file: 'hint-from-file',
    });
    assert.deepEqual(req.basic, { id: basicId, secret: basicSecret }, 'Basic carries id and secret (file: REF)');
    const raw = Buffer.from(req.headers.authorization.slice(6), 'base64').toString();
    assert.ok(raw.startsWith('svc%3Aedge%2B1:'), `id not form-encoded before base64: ${raw.split(':')[0]}`);
  });

  it('client_secret_post: id (env: REF) and secret in the body, no Authorization, nothing unset sent', async () => {
    await s.allowed('/pp/x');
    const req = te.last('pp');
    assert.equal(req.headers.authorization, undefined);
    assert.deepEqual(req.form, { grant_type: 'client_credentials', client_id: postId, client_secret: postSecret });
    assert.equal(req.basic, null);
  });

  it('a token without expires_in is cached (default lifetime), not fetched per request', async () => {
    const a = await s.allowed('/noexp/1');
    const b = await s.allowed('/noexp/2');
    assert.equal(a.headers.authorization, b.headers.authorization);
    assert.equal(te.hits('noexp'), 1);
  });

  it('upstream 401 drops the cached token: the next request fetches a new one; a 403 does not', async () => {
    const first = await s.allowed('/pu/1');
    const t1 = first.headers.authorization;
    assert.equal(te.hits('pu'), 1);

    s.echo.failNext(403);
    const forbidden = await s.get('/pu/2');
    assert.equal(forbidden.status, 403);
    assert.equal((await s.allowed('/pu/3')).headers.authorization, t1, 'a 403 keeps the token');
    assert.equal(te.hits('pu'), 1);

    s.echo.failNext(401);
    const rejected = await s.get('/pu/4');
    assert.equal(rejected.status, 401, "the backend's 401 reaches the client");
    assert.equal(s.echo.last().headers.authorization, t1, 'the rejected request carried the cached token');

    const next = await s.allowed('/pu/5');
    assert.equal(te.hits('pu'), 2, 'the request after the 401 fetches a new token');
    assert.notEqual(next.headers.authorization, t1, 'and carries the new token');
    assert.equal(next.headers.authorization, `Bearer ${te.grants('pu').at(-1).token}`);
    assert.equal((await s.allowed('/pu/6')).headers.authorization, next.headers.authorization, 'which is cached again');
    assert.equal(te.hits('pu'), 2);
  });

  it('forward_claim: claims of the JWT access token reach the backend, replacing client-sent headers', async () => {
    const seen = await s.allowed('/cl/x', { 'X-Tenant': 'evil', 'X-Sub': 'root', 'X-Missing': 'spoofed' });
    const token = te.grants('cl').at(-1).token;
    assert.equal(seen.headers.authorization, `Bearer ${token}`);
    assert.deepEqual(headerValues(seen.rawHeaders, 'X-Tenant'), ['acme']);
    assert.deepEqual(headerValues(seen.rawHeaders, 'X-Sub'), ['svc-1']);
    assert.deepEqual(headerValues(seen.rawHeaders, 'X-Org'), ['o-7'], 'nested claim with a dot');
    assert.deepEqual(headerValues(seen.rawHeaders, 'X-Missing'), [], 'an absent claim forwards nothing, and no client value');
  });

  it('require: a token failing "scope contains admin" is not used: on_error, the rule in the log', async () => {
    await expectOnError(s, '/cld/x');
    assert.equal(te.hits('cld'), 1);
    const line = await waitForLine(s, 'cl-deny', /admin/);
    assert.match(line, /scope/);
    assert.match(line, /contains/);
    assert.ok(!line.includes(te.grants('cld')[0].token), 'the token is not logged');
  });
});

describe('nginx -t', () => {
  const good = { token_url: 'https://idp.example/token', client_id: 'edge', client_secret: 'not-a-real-secret' };
  const block = (extra = {}) => oauthClient('c1', { ...good, ...extra });

  it('accepts a complete client with every parameter', async () => {
    const res = await nginxTest({
      http:
        block({
          auth_method: 'client_secret_post',
          scope: 'a b c',
          audience: 'https://api/',
          resource: 'urn:r',
          param: ['x y', 'z w'],
          refresh_before: '30s',
          timeout: '2s',
          retries: 3,
          require: ['scope contains a', 'tenant eq acme', 'sub exists'],
          forward_claim: 'X-Tenant tenant',
          store: 'shm',
          on_error: 503,
        }) + server('edge_auth_upstream_oauth c1;'),
    });
    assert.equal(res.code, 0, res.output);
  });

  it('accepts a client defined after the location that uses it', async () => {
    const res = await nginxTest({ http: server('edge_auth_upstream_oauth c1;') + block() });
    assert.equal(res.code, 0, res.output);
  });

  it('edge_auth_upstream_oauth UNKNOWN: names it, with file:line', async () => {
    await expectRejected(block() + server('edge_auth_upstream_oauth nosuchclient;'), {
      at: 'edge_auth_upstream_oauth nosuchclient',
      mentions: ['nosuchclient'],
    });
  });

  it('an unknown block parameter', async () => {
    await expectRejected(block({ bogus_param: 'x' }) + server('edge_auth_upstream_oauth c1;'), { at: 'bogus_param', mentions: ['bogus_param'] });
  });

  it('on_error 200', async () => {
    await expectRejected(block({ on_error: 200 }) + server('edge_auth_upstream_oauth c1;'), { at: 'on_error', mentions: ['200'] });
  });

  it('token_url ftp://', async () => {
    await expectRejected(block({ token_url: 'ftp://idp.example/token' }) + server('edge_auth_upstream_oauth c1;'), {
      at: 'ftp://',
      mentions: ['ftp://idp.example/token'],
    });
  });

  it('an unknown auth_method, a bad time, a bad require operator, a bad store', async () => {
    for (const [extra, at] of [
      [{ auth_method: 'private_key_jwt' }, 'private_key_jwt'],
      [{ timeout: 'soon' }, 'soon'],
      [{ require: 'scope resembles x' }, 'resembles'],
      [{ store: 'memcached' }, 'memcached'],
    ]) {
      await expectRejected(block(extra) + server('edge_auth_upstream_oauth c1;'), { at, mentions: [at] });
    }
  });

  it('a client without token_url or client_id', async () => {
    for (const missing of ['token_url', 'client_id']) {
      const res = await nginxTest({ http: oauthClient('c1', { ...good, [missing]: undefined }) + server('edge_auth_upstream_oauth c1;') });
      assert.notEqual(res.code, 0, `accepted without ${missing}:\n${res.output}`);
      assert.ok(res.output.includes(missing), `${missing} not named:\n${res.output}`);
    }
  });

  it('store redis without edge_auth_redis', async () => {
    const res = await nginxTest({ http: block({ store: 'redis' }) + server('edge_auth_upstream_oauth c1;') });
    assert.notEqual(res.code, 0, res.output);
    assert.match(res.output, /redis/);
  });
});
