// edge_auth_status (issue 6): the module's counters, kept in the shared zone
// by every worker, scraped after a known sequence of requests with exact
// values; Prometheus text and ?format=json; labels from the configuration
// only; counters survive a reload; nginx -t rejects a misplaced directive.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startStack } from './lib/stack.mjs';
import { basic, request } from './lib/http.mjs';
import { expectRejected, expectAccepted } from './lib/conf-check.mjs';
import { startTokenEndpoint, oauthClient } from './lib/token-endpoint.mjs';
import { startJwksServer, genKey, sign, now } from './lib/jwks-server.mjs';
import { startFakeOp } from './lib/fake-op.mjs';
import { cookieJar } from './lib/cookie-jar.mjs';
import { SESSION_SECRET_LINE, provider, oidcLoc } from './lib/oidc.mjs';

const TOKEN = `tok-${crypto.randomBytes(16).toString('hex')}`;
const CLIENT_SECRET = `cs-${crypto.randomBytes(16).toString('hex')}`;
const OP_SECRET = `op-${crypto.randomBytes(16).toString('hex')}`;

/** Parses Prometheus text into { 'name{labels}': value } and the HELP/TYPE lines. */
function parseProm(text) {
  const values = {};
  const types = {};
  for (const line of text.split('\n')) {
    if (!line) continue;
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t) types[t[1]] = t[2];
    if (line.startsWith('#')) continue;
    const m = /^(\S+?(?:\{.*\})?) (\d+)$/.exec(line);
    assert.ok(m, `not a sample line: ${JSON.stringify(line)}`);
    values[m[1]] = Number(m[2]);
  }
  return { values, types };
}

const req = (loc, method, outcome) =>
  `edge_auth_requests_total{location="${loc}",method="${method}",outcome="${outcome}"}`;

describe('edge_auth_status', () => {
  let s;
  let te;
  let js;
  let op;
  let key;

  before(async () => {
    te = await startTokenEndpoint();
    te.set('billing', 'ok', { expiresIn: 3600 });
    js = await startJwksServer();
    key = genKey('ES256');
    js.set('idp', { keys: [key] });
    op = await startFakeOp({ clientId: 'metrics-app', clientSecret: OP_SECRET });
    s = await startStack({
      workers: 2,
      http: ({ port }) => `
    ${SESSION_SECRET_LINE}
    edge_auth_redis redis://127.0.0.1:1 timeout=100ms;
    ${oauthClient('billing', { token_url: te.url('billing'), client_id: 'svc', client_secret: CLIENT_SECRET, store: 'redis' })}
    ${provider('corp', { issuer: op.issuer, client_id: 'metrics-app', client_secret: OP_SECRET, cookie_secure: 'off' })}
    map $http_x_health $skip { default 0; "yes" 1; }
    server {
        listen 127.0.0.1:${port};
        location /api/ {
            edge_auth bearer;
            edge_auth_token ${TOKEN};
            edge_auth_bypass $skip;
            edge_auth_upstream_header X-Tenant acme;
            edge_auth_upstream_query tenant acme;
            edge_auth_upstream_oauth billing;
            proxy_pass http://backend;
        }
        location /jwt/ {
            edge_auth jwt;
            edge_auth_jwt_keys ${js.url('idp')};
            edge_auth_jwt_algorithms ES256;
            edge_auth_require role eq admin;
            proxy_pass http://backend;
        }
        location ~ ^/re/(?<x>[a-z]+)$ {
            edge_auth bearer;
            edge_auth_token ${TOKEN};
            edge_auth_upstream_basic svc pw;
            proxy_pass http://backend;
        }
        ${oidcLoc('/app/', 'corp')}
        location = /metrics {
            edge_auth_status;
        }
    }`,
    });
  });

  after(async () => {
    await s?.stop();
    await te?.close();
    await js?.close();
    await op?.close?.();
  });

  const scrape = async (query = '') => {
    const res = await s.get(`/metrics${query}`);
    assert.equal(res.status, 200, res.body);
    return res;
  };

  it('counts a known sequence of requests exactly, across both workers', async () => {
    const bearer = { Authorization: `Bearer ${TOKEN}` };
    // /api/: 3 allowed GETs, 1 allowed POST, 2 denied (no credential, wrong token), 1 bypassed
    for (let i = 0; i < 3; i++) await s.allowed('/api/x', bearer);
    const post = await s.request('/api/x', { method: 'POST', headers: bearer, body: 'x' });
    assert.equal(post.status, 200);
    await s.denied('/api/x');
    await s.denied('/api/x', { Authorization: 'Bearer nope' });
    await s.allowed('/api/x', { 'X-Health': 'yes' });
    // /jwt/: two requests with one token (the second from the cache), one 403, one 401
    const good = await sign(key, { sub: 'u1', role: 'admin', exp: now() + 600 });
    const user = await sign(key, { sub: 'u2', role: 'user', exp: now() + 600 });
    await s.allowed('/jwt/a', { Authorization: `Bearer ${good}` });
    await s.allowed('/jwt/a', { Authorization: `Bearer ${good}` });
    await s.denied('/jwt/a', { Authorization: `Bearer ${user}` }, { status: 403 });
    await s.denied('/jwt/a', { Authorization: 'Bearer a.b.c' });
    // a regex location: its name in the configuration is the label
    await s.allowed('/re/abc', bearer);
    // OIDC: a browser without a session is sent to log in, then logs in
    const jar = cookieJar();
    const { res } = await jar.follow(s.url('/app/'));
    assert.equal(res.status, 200);

    const { values, types } = parseProm((await scrape()).body);
    assert.equal(types.edge_auth_requests_total, 'counter');
    assert.equal(types.edge_auth_zone_bytes, 'gauge');
    const expect = {
      [req('/api/', 'GET', 'allowed')]: 3,
      [req('/api/', 'POST', 'allowed')]: 1,
      [req('/api/', 'GET', 'denied_401')]: 2,
      [req('/api/', 'GET', 'bypassed')]: 1,
      [req('/jwt/', 'GET', 'allowed')]: 2,
      [req('/jwt/', 'GET', 'denied_403')]: 1,
      [req('/jwt/', 'GET', 'denied_401')]: 1,
      [req('^/re/(?<x>[a-z]+)$', 'GET', 'allowed')]: 1,
      [req('/app/', 'GET', 'redirect')]: 1,
      [req('/app/', 'GET', 'allowed')]: 1,
      // every request that reached the backend through /api/ got all three
      'edge_auth_upstream_injections_total{location="/api/",kind="header"}': 5,
      'edge_auth_upstream_injections_total{location="/api/",kind="query"}': 5,
      'edge_auth_upstream_injections_total{location="/api/",kind="oauth"}': 5,
      'edge_auth_upstream_injections_total{location="^/re/(?<x>[a-z]+)$",kind="basic"}': 1,
      // one fetch, then from the cache; the first request missed it
      'edge_auth_token_fetches_total{client="billing",result="ok"}': 1,
      'edge_auth_token_cache_total{client="billing",result="miss"}': 1,
      'edge_auth_token_cache_total{client="billing",result="hit"}': 4,
      [`edge_auth_jwks_fetches_total{source="${js.url('idp')}",result="ok"}`]: 1,
      'edge_auth_jwt_cache_hits_total{location="/jwt/"}': 1,
      'edge_auth_sessions_total{provider="corp",event="created"}': 1,
      'edge_auth_info{version="0.1.0"}': 1,
    };
    for (const [series, value] of Object.entries(expect)) {
      assert.equal(values[series], value, `${series}\n${Object.entries(values).map(([k, v]) => `${k} ${v}`).join('\n')}`);
    }
    // the status location itself is not an edge_auth location
    assert.ok(!Object.keys(values).some((k) => k.includes('location="/metrics"')));
    assert.ok(!Object.keys(values).some((k) => k.includes('method="other"')), 'no request here had another method');
    // nothing from request data: no path, query or header value is a label
    assert.ok(!Object.keys(values).some((k) => /\/api\/x|abc|nope|yes/.test(k)), Object.keys(values).join('\n'));
    const used = values['edge_auth_zone_bytes{state="used"}'];
    const free = values['edge_auth_zone_bytes{state="free"}'];
    assert.ok(used > 0 && free > 0, `zone used ${used}, free ${free}`);
    assert.equal(used + free, 10 * 1024 * 1024, 'used + free = the zone size');
    // free counts the free chunks of partly used slab pages too, not only whole free pages
    assert.notEqual(free % 4096, 0, `free ${free}: whole pages only`);
  });

  it('Redis errors are counted (a Redis nobody listens on: the token still comes from the zone)', async () => {
    const { values } = parseProm((await scrape()).body);
    assert.ok(values.edge_auth_redis_errors_total >= 1, `edge_auth_redis_errors_total ${values.edge_auth_redis_errors_total}`);
  });

  it('a sign-out ends a session: sessions_total{event="ended"} counts it', async () => {
    const before = parseProm((await scrape()).body).values['edge_auth_sessions_total{provider="corp",event="ended"}'] ?? 0;
    const jar = cookieJar();
    const { res } = await jar.follow(s.url('/app/'));
    assert.equal(res.status, 200);
    const out = await jar.get(s.url('/oauth2/sign_out?rd=/'));
    assert.equal(out.status, 302);
    const { values } = parseProm((await scrape()).body);
    assert.equal(values['edge_auth_sessions_total{provider="corp",event="ended"}'], before + 1);
    assert.equal(values['edge_auth_sessions_total{provider="corp",event="created"}'], 2);
  });

  it('Prometheus text: content type, HELP and TYPE once per metric', async () => {
    const res = await scrape();
    assert.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/);
    const types = res.body.split('\n').filter((l) => l.startsWith('# TYPE '));
    assert.equal(new Set(types).size, types.length, 'one TYPE line per metric');
    assert.ok(res.body.endsWith('\n'));
  });

  it('?format=json gives the same counters for humans', async () => {
    const text = parseProm((await scrape()).body).values;
    const res = await scrape('?format=json');
    assert.match(res.headers['content-type'], /^application\/json/);
    const doc = JSON.parse(res.body);
    assert.equal(doc.version, '0.1.0');
    const allowed = doc.metrics.find(
      (m) => m.name === 'edge_auth_requests_total' && m.labels.location === '/api/' && m.labels.method === 'GET' && m.labels.outcome === 'allowed',
    );
    assert.equal(allowed.value, text[req('/api/', 'GET', 'allowed')] + 0);
  });

  it('only GET and HEAD', async () => {
    const res = await s.request('/metrics', { method: 'POST', body: 'x' });
    assert.equal(res.status, 405);
    const head = await s.request('/metrics', { method: 'HEAD' });
    assert.equal(head.status, 200);
  });

  it('counters survive a reload', async () => {
    const before = parseProm((await scrape()).body).values[req('/api/', 'GET', 'allowed')];
    assert.ok(before >= 3);
    await s.ngx.reload();
    await s.allowed('/api/x', { Authorization: `Bearer ${TOKEN}` });
    const after = parseProm((await scrape()).body).values;
    assert.equal(after[req('/api/', 'GET', 'allowed')], before + 1);
    // the cached token survived too: still one fetch
    assert.equal(after['edge_auth_token_fetches_total{client="billing",result="ok"}'], 1);
  });

  it('no secret, token or cookie value in the exposition', async () => {
    const all = (await scrape()).body + (await scrape('?format=json')).body;
    for (const secret of [TOKEN, CLIENT_SECRET, OP_SECRET, ...te.issued()]) assert.ok(!all.includes(secret));
  });
});

describe('edge_auth_status in a bad place', () => {
  const at = (body) => `
    server {
        listen 127.0.0.1:1;
        ${body}
    }`;
  it('nginx -t rejects it outside a location, with file:line', async () => {
    await expectRejected(at('edge_auth_status;'), { at: 'edge_auth_status', mentions: ['not allowed here'] });
  });
  it('nginx -t rejects it with arguments', async () => {
    await expectRejected(at('location /m { edge_auth_status on; }'), { at: 'edge_auth_status', mentions: ['invalid number of arguments'] });
  });
  it('nginx -t rejects it after proxy_pass', async () => {
    await expectRejected(at('location /m { proxy_pass http://127.0.0.1:9; edge_auth_status; }'), {
      at: 'edge_auth_status',
      mentions: ['conflicts with the location\'s content handler'],
    });
  });
  it('nginx -t rejects it before proxy_pass (which would replace it silently)', async () => {
    await expectRejected(at('location /m { edge_auth_status; proxy_pass http://127.0.0.1:9; }'), {
      at: 'edge_auth_status',
      mentions: ['conflicts with the location\'s content handler'],
    });
  });
  it('nginx -t accepts it behind client authentication', async () => {
    await expectAccepted(at('location /m { edge_auth basic; edge_auth_user ops "{SHA}x"; edge_auth_status; }'));
  });
});
