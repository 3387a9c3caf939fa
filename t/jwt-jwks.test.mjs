// JWT keys from JWKS URLs, over time and under load: the first request waits for
// the first fetch; cold start over 2 workers = one fetch; rotation (a new kid
// triggers a refetch and is accepted at once); bursts of unknown kids refetch at
// most once per refresh_min (also across workers); ttl and Cache-Control max-age;
// a failing JWKS (500, garbage, reset, hang) keeps the last good keys and does
// not slow requests down; an unreachable JWKS on a cold start denies without
// contacting the backend; the verified-token cache serves a known token while
// the JWKS is down. The JWKS server is t/lib/jwks-server.mjs.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, loc, assertNoSecrets } from './lib/stack.mjs';
import { genKey, sign, now, startJwksServer } from './lib/jwks-server.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sent = new Set();
const bearer = (t) => {
  sent.add(t);
  return { Authorization: `Bearer ${t}` };
};
let seq = 0;
const claims = (extra = {}) => ({ sub: 'alice', iat: now(), exp: now() + 300, jti: `jj-${process.pid}-${++seq}`, ...extra });
const stranger = () => genKey('ES256', { kid: `unknown-${++seq}` });

/** Waits until `f()` is at least `n` (up to `ms`), then returns f(). */
async function reach(f, n, ms = 2000) {
  const deadline = Date.now() + ms;
  while (f() < n && Date.now() < deadline) await sleep(20);
  return f();
}

/** A timed GET with a token: { status, took, err, pid }. */
async function timed(s, path, token) {
  const start = Date.now();
  const res = await s.get(path, bearer(token));
  return { status: res.status, took: Date.now() - start, err: res.headers['x-err'], pid: res.headers['x-pid'] };
}

const stacks = [];
const servers = [];
after(async () => {
  const stops = await Promise.allSettled(stacks.map((s) => s.stop()));
  await Promise.allSettled(servers.map((js) => js.close()));
  const all = [];
  for (const t of sent) all.push(t, t.split('.')[2]);
  assertNoSecrets(stacks.map((s) => s.ngx.errorLog()).join('\n'), all);
  const failed = stops.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
});

describe('JWKS URLs, one worker', () => {
  let js;
  let s;
  const keys = {};
  const ROUTES = {
    cold: '',
    rot: 'refresh_min=1s',
    burst: 'refresh_min=1s',
    fail500: 'ttl=1s',
    garbage: 'ttl=1s',
    reset: 'ttl=1s',
    hang: 'ttl=1s',
    maxage: '',
    ttl5m: '',
    down: '',
    vc: 'ttl=1s',
    life: 'ttl=1s refresh_min=1s',
    m1: '',
    m2: '',
  };

  before(async () => {
    js = await startJwksServer();
    servers.push(js);
    for (const r of Object.keys(ROUTES)) {
      keys[r] = genKey('ES256', { kid: `${r}-1` });
      js.set(r, { keys: [keys[r]] });
    }
    js.set('cold', { delay: 300 });
    js.set('maxage', { cacheControl: 'public, max-age=1' });
    js.set('down', { mode: 'reset' });
    s = await startStack({
      http: ({ port }) => `
    server {
        listen 127.0.0.1:${port};
${Object.entries(ROUTES)
  .filter(([r]) => r !== 'm1' && r !== 'm2')
  .map(([r, params]) => loc(`/${r}/`, `edge_auth jwt; edge_auth_jwt_keys ${js.url(r)} ${params};`))
  .join('\n')}
        ${loc('/multi/', `edge_auth jwt; edge_auth_jwt_keys ${js.url('m1')}; edge_auth_jwt_keys ${js.url('m2')};`)}
    }`,
    });
    stacks.push(s);
  });

  it('cold start: the first request waits for the fetch (300 ms) and is accepted; the keys are fetched once', async () => {
    const first = await timed(s, '/cold/', await sign(keys.cold, claims()));
    assert.equal(first.status, 200, first.err);
    assert.ok(first.took >= 250, `the first request did not wait for the keys (${first.took} ms)`);
    for (let i = 0; i < 5; i++) await s.allowed('/cold/', bearer(await sign(keys.cold, claims())));
    assert.equal(js.hits('cold'), 1, 'one fetch, then the cached keys');
    assert.match(js.requests('cold')[0].headers.accept ?? '', /json/);
  });

  it('rotation: the JWKS switches to a new key; a token with the new kid triggers a refetch and is accepted at once', async () => {
    await s.allowed('/rot/', bearer(await sign(keys.rot, claims())));
    assert.equal(js.hits('rot'), 1);
    const next = genKey('ES256', { kid: 'rot-2' });
    js.set('rot', { keys: [next] });
    await sleep(1100); // past refresh_min of the first fetch, whether or not it counts
    const seen = await s.allowed('/rot/', bearer(await sign(next, claims({ sub: 'rotated' }))));
    assert.equal(seen.headers['x-edge-user'], 'rotated');
    assert.equal(js.hits('rot'), 2, 'exactly one refetch');
    await s.allowed('/rot/', bearer(await sign(next, claims())));
    assert.equal(js.hits('rot'), 2, 'the new keys are cached');
    // the retired key is gone with the document that dropped it
    await s.denied('/rot/', bearer(await sign(keys.rot, claims())), { reason: 'unknown key id' });
  });

  it('a burst of unknown kids: at most one refetch per refresh_min (1 s)', async () => {
    await s.allowed('/burst/', bearer(await sign(keys.burst, claims())));
    assert.equal(js.hits('burst'), 1);
    await sleep(1100);
    const tokens = await Promise.all(Array.from({ length: 20 }, () => sign(stranger(), claims())));
    const results = await Promise.all(tokens.map((t) => timed(s, '/burst/', t)));
    for (const r of results) {
      assert.equal(r.status, 401);
      assert.equal(r.err, 'unknown key id');
    }
    assert.equal(await reach(() => js.hits('burst'), 2), 2, 'one refetch for the burst');
    for (let i = 0; i < 10; i++) await s.denied('/burst/', bearer(await sign(stranger(), claims())), { reason: 'unknown key id' });
    await sleep(200);
    assert.equal(js.hits('burst'), 2, 'no refetch within refresh_min of the last');
    await s.allowed('/burst/', bearer(await sign(keys.burst, claims())));
    await sleep(1000);
    await s.denied('/burst/', bearer(await sign(stranger(), claims())), { reason: 'unknown key id' });
    assert.equal(await reach(() => js.hits('burst'), 3), 3, 'refresh_min later, an unknown kid refetches again');
  });

  it('a failing JWKS (500, not JSON, connection reset, hanging) keeps the last good keys; requests are not slowed down', async () => {
    const failing = { fail500: '500', garbage: 'garbage', reset: 'reset', hang: 'hang' };
    for (const r of Object.keys(failing)) await s.allowed(`/${r}/`, bearer(await sign(keys[r], claims())));
    const lines = s.logMark();
    for (const [r, mode] of Object.entries(failing)) js.set(r, { mode });
    await sleep(1200); // the documents are stale (ttl=1s)
    for (const r of Object.keys(failing)) {
      for (let i = 0; i < 3; i++) {
        const res = await timed(s, `/${r}/`, await sign(keys[r], claims()));
        assert.equal(res.status, 200, `${r}: ${res.status} ${res.err}`);
        assert.ok(res.took < 500, `${r}: a request waited ${res.took} ms for a refresh`);
      }
    }
    for (const r of ['fail500', 'garbage', 'reset']) {
      assert.ok((await reach(() => js.hits(r), 2)) >= 2, `${r}: no refresh attempted after ttl`);
      const url = js.url(r);
      const line = await (async () => {
        const deadline = Date.now() + 2000;
        for (;;) {
          const l = lines().find((x) => x.includes(url) && /fail/.test(x));
          if (l || Date.now() > deadline) return l;
          await sleep(20);
        }
      })();
      assert.ok(line, `${r}: no log line about the failed fetch of ${url}:\n${lines().join('\n')}`);
      assert.match(line, /last good keys/);
    }
    assert.ok(js.hits('hang') >= 2, 'hang: a refresh was attempted');
    // an unknown kid while the JWKS fails: denied, the known key still works
    await s.denied('/fail500/', bearer(await sign(stranger(), claims())), { reason: 'unknown key id' });
    await s.allowed('/fail500/', bearer(await sign(keys.fail500, claims())));
    for (const r of Object.keys(failing)) js.set(r, { mode: 'ok' });
  });

  it('Cache-Control max-age=1 overrides the default ttl; the default ttl (5m) is not refetched after 1.3 s', async () => {
    await s.allowed('/maxage/', bearer(await sign(keys.maxage, claims())));
    await s.allowed('/ttl5m/', bearer(await sign(keys.ttl5m, claims())));
    assert.equal(js.hits('maxage'), 1);
    assert.equal(js.hits('ttl5m'), 1);
    await sleep(1300);
    await s.allowed('/maxage/', bearer(await sign(keys.maxage, claims())));
    await s.allowed('/ttl5m/', bearer(await sign(keys.ttl5m, claims())));
    assert.equal(await reach(() => js.hits('maxage'), 2), 2, 'max-age=1: refetched once stale');
    await sleep(100);
    assert.equal(js.hits('ttl5m'), 1, 'ttl 5m: still fresh');
  });

  it('cold start with the JWKS unreachable: denied, backend not contacted, no crash; no fetch per request', async () => {
    const res = await s.denied('/down/', bearer(await sign(keys.down, claims())), { status: [401, 503] });
    assert.ok(res.status === 401 || res.status === 503);
    const hits = js.hits('down');
    assert.ok(hits >= 1, 'a fetch was attempted');
    for (let i = 0; i < 5; i++) await s.denied('/down/', bearer(await sign(keys.down, claims())), { status: [401, 503] });
    assert.ok(js.hits('down') <= hits + 1, `a fetch per request: ${js.hits('down')} after ${hits}`);
  });

  it('verified-token cache: with the JWKS down after warm-up, the same token is still accepted', async () => {
    const t = await sign(keys.vc, claims({ sub: 'cached' }));
    await s.allowed('/vc/', bearer(t));
    js.set('vc', { mode: 'reset' });
    await sleep(1200);
    for (let i = 0; i < 3; i++) {
      const seen = await s.allowed('/vc/', bearer(t));
      assert.equal(seen.headers['x-edge-user'], 'cached');
    }
    js.set('vc', { mode: 'ok' });
  });

  it('the verified-token cache does not outlive the key set: a token whose key left the JWKS is refused after the refresh', async () => {
    // issue 4: cached "until the earlier of exp and the key set's lifetime" (ttl=1s here)
    const t = await sign(keys.life, claims({ sub: 'retired-key' }));
    await s.allowed('/life/', bearer(t));
    const next = genKey('ES256', { kid: 'life-2' });
    js.set('life', { keys: [next] });
    await sleep(1200);
    await s.allowed('/life/', bearer(await sign(next, claims())));
    assert.equal(await reach(() => js.hits('life'), 2), 2, 'the keys were refreshed');
    await s.denied('/life/', bearer(await sign(keys.life, claims())), { reason: 'unknown key id' });
    await s.denied('/life/', bearer(t), { reason: 'unknown key id' });
  });

  it('keys named by the token (jwk, jku, x5u) are never used or fetched', async () => {
    const evil = genKey('ES256', { kid: 'evil-1' });
    js.set('evil', { keys: [evil] });
    const header = { jwk: evil.jwk, jku: js.url('evil'), x5u: js.url('evil') };
    await s.denied('/cold/', bearer(await sign(evil, claims({ sub: 'admin' }), { header })), { reason: 'unknown key id' });
    await s.denied('/cold/', bearer(await sign(evil, claims({ sub: 'admin' }), { header: { ...header, kid: undefined } })), { reason: 'signature mismatch' });
    await s.denied('/cold/', bearer(await sign(evil, claims({ sub: 'admin' }), { header: { ...header, kid: keys.cold.kid } })), { reason: 'signature mismatch' });
    assert.equal(js.hits('evil'), 0, 'the jku/x5u URL was fetched');
  });

  it('two JWKS URLs in one location: tokens of either', async () => {
    await s.allowed('/multi/', bearer(await sign(keys.m1, claims())));
    await s.allowed('/multi/', bearer(await sign(keys.m2, claims())));
    assert.equal(js.hits('m1'), 1);
    assert.equal(js.hits('m2'), 1);
  });
});

describe('JWKS URLs, two workers', () => {
  let js;
  let s;
  const sf = genKey('ES256', { kid: 'sf-1' });

  before(async () => {
    js = await startJwksServer();
    servers.push(js);
    js.set('sf', { keys: [sf], delay: 300 });
    s = await startStack({
      workers: 2,
      http: ({ port }) => `
    server {
        listen 127.0.0.1:${port} reuseport;
        ${loc('/sf/', `edge_auth jwt; edge_auth_jwt_keys ${js.url('sf')} refresh_min=1s; add_header X-Pid $pid always;`)}
    }`,
    });
    stacks.push(s);
  });

  it('cold start: 20 parallel requests (distinct tokens) over 2 workers = exactly 1 JWKS fetch, all accepted', async () => {
    const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => sign(sf, claims({ sub: `p${i}` }))));
    const results = await Promise.all(tokens.map((t) => timed(s, '/sf/', t)));
    const bad = results.filter((r) => r.status !== 200);
    assert.equal(bad.length, 0, `all must be accepted: ${JSON.stringify(bad.slice(0, 3))}`);
    assert.equal(js.hits('sf'), 1, `exactly one JWKS fetch, got ${js.hits('sf')}`);
    assert.equal(new Set(results.map((r) => r.pid)).size, 2, 'both workers served requests');
    assert.equal(s.echo.hits(), 20);
  });

  it('a burst of 20 unknown kids over 2 workers: one refetch per refresh_min', async () => {
    js.set('sf', { delay: 0 });
    await sleep(1100);
    const before = js.hits('sf');
    const tokens = await Promise.all(Array.from({ length: 20 }, () => sign(stranger(), claims())));
    const results = await Promise.all(tokens.map((t) => timed(s, '/sf/', t)));
    assert.ok(results.every((r) => r.status === 401 && r.err === 'unknown key id'), JSON.stringify(results.filter((r) => r.status !== 401)));
    assert.equal(new Set(results.map((r) => r.pid)).size, 2, 'both workers saw unknown kids');
    assert.equal(await reach(() => js.hits('sf'), before + 1), before + 1);
    await sleep(200);
    assert.equal(js.hits('sf'), before + 1, 'one refetch across both workers');
  });
});
