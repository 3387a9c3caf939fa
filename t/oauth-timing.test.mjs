// OAuth2 client credentials under load and over time: single flight across
// workers, refresh ahead (no request waits once warm), and isolation (a hung
// token fetch does not stall the worker's other requests).

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { startStack, assertNoSecrets } from './lib/stack.mjs';
import { startTokenEndpoint, oauthClient } from './lib/token-endpoint.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const SECRET = `timing-secret-${crypto.randomBytes(12).toString('base64url')}`;
const stacks = [];
const endpoints = [];

/** A stack with one oauth client `c` at /o/ and a plain location /plain/. */
async function oauthStack({ te, route, conf = {}, workers = 1, reuseport = false }) {
  const s = await startStack({
    workers,
    http: ({ port }) => `
${oauthClient('c', { token_url: te.url(route), client_id: `id-${route}`, client_secret: SECRET, ...conf })}
    server {
        listen 127.0.0.1:${port}${reuseport ? ' reuseport' : ''};
        location /o/ {
            edge_auth_upstream_oauth c;
            add_header X-Pid $pid always;
            proxy_pass http://backend;
        }
        location /plain/ { proxy_pass http://backend; }
    }`,
  });
  stacks.push(s);
  return s;
}

async function endpoint() {
  const te = await startTokenEndpoint();
  endpoints.push(te);
  return te;
}

/** A timed GET; the backend's view (the echo's JSON body) when it answered 200. */
async function timed(s, path) {
  const start = Date.now();
  const res = await s.get(path);
  const end = Date.now();
  const seen = res.status === 200 ? res.json() : null;
  return { start, end, took: end - start, status: res.status, pid: res.headers['x-pid'], auth: seen?.headers.authorization };
}

after(async () => {
  // Stop everything even when one stop fails (a crashed worker), then report.
  const stops = await Promise.allSettled(stacks.map((s) => s.stop()));
  await Promise.allSettled(endpoints.map((te) => te.close()));
  const logs = stacks.map((s) => s.ngx.errorLog()).join('\n');
  assertNoSecrets(logs, [SECRET, ...endpoints.flatMap((te) => te.issued())]);
  const failed = stops.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
});

describe('oauth timing', () => {
  it('single flight: 40 parallel cold requests over 2 workers = exactly 1 token fetch', async () => {
    const te = await endpoint();
    te.set('sf', 'ok', { delay: 300 });
    const s = await oauthStack({ te, route: 'sf', workers: 2, reuseport: true });

    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => timed(s, `/o/${i}`)));
    const bad = results.filter((r) => r.status !== 200);
    assert.equal(bad.length, 0, `all must succeed: ${JSON.stringify(bad.slice(0, 3))}`);
    assert.equal(te.hits('sf'), 1, `exactly one token fetch for 40 cold requests, got ${te.hits('sf')}`);
    const tokens = new Set(results.map((r) => r.auth));
    assert.deepEqual([...tokens], [`Bearer ${te.issued()[0]}`], 'every request carried the one token');
    const pids = new Set(results.map((r) => r.pid));
    assert.equal(pids.size, 2, `both workers must have served requests (reuseport), got pids ${[...pids]}`);
    assert.equal(s.echo.hits(), 40);
  });

  it('refresh ahead: 4 s token, refresh_before 2s, a request every 250 ms for 7 s: none waits, the token rotates', async () => {
    const te = await endpoint();
    te.set('ra', 'ok', { expiresIn: 4 });
    const s = await oauthStack({ te, route: 'ra', conf: { refresh_before: '2s', timeout: '2s' } });

    const t0 = Date.now();
    const pending = [];
    for (let i = 0; i < 28; i++) {
      await sleep(Math.max(0, t0 + i * 250 - Date.now()));
      pending.push(timed(s, `/o/${i}`));
    }
    const results = await Promise.all(pending);

    const failed = results.filter((r) => r.status !== 200);
    assert.equal(failed.length, 0, `every request must succeed: ${JSON.stringify(failed)}`);
    const slow = results.slice(1).filter((r) => r.took > 150);
    assert.equal(slow.length, 0, `no warm request may wait for a refresh: ${slow.map((r) => `${r.start - t0}ms took ${r.took}ms`).join(', ')}`);

    const grants = te.grants('ra');
    const distinct = new Set(results.map((r) => r.auth));
    assert.ok(distinct.size >= 2, `the backend must see the token change, saw ${distinct.size}`);
    // fetched at about 0, 2, 4, 6 s: a refresh per half-life, not one per request
    assert.ok(grants.length >= 3 && grants.length <= 5, `about 4 fetches expected in 7 s, got ${grants.length}`);

    // every request carried a token that was valid (issued, not expired) when it was sent
    for (const r of results) {
      const g = grants.find((x) => `Bearer ${x.token}` === r.auth);
      assert.ok(g, `request at ${r.start - t0} ms carried a token the endpoint never issued`);
      assert.ok(g.at <= r.end && r.start < g.at + 4000, `request at ${r.start - t0} ms carried a token issued at ${g.at - t0} ms (4 s life)`);
    }
    // refreshes happen before the old token expires
    for (let i = 1; i < grants.length; i++) {
      assert.ok(grants[i].at - grants[i - 1].at < 4000, `refresh ${i} came ${grants[i].at - grants[i - 1].at} ms after the previous token: expired in between`);
    }
  });

  it('refresh ahead across 2 workers: 30 parallel requests in the refresh window = one background refresh, nobody waits', async () => {
    const te = await endpoint();
    te.set('rp', 'ok', { expiresIn: 2 });
    const s = await oauthStack({ te, route: 'rp', workers: 2, reuseport: true, conf: { refresh_before: '1s' } });
    const cold = await timed(s, '/o/cold');
    assert.equal(cold.status, 200);
    const t1 = cold.auth;
    await sleep(Math.max(0, te.grants('rp')[0].at + 1150 - Date.now())); // inside the window, still valid
    te.set('rp', 'ok', { expiresIn: 2, delay: 300 }); // the refresh takes a while
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => timed(s, `/o/${i}`)));
    assert.ok(results.every((r) => r.status === 200), 'all succeed');
    const slow = results.filter((r) => r.took > 150);
    assert.equal(slow.length, 0, `no request waits for the refresh: ${slow.map((r) => r.took).join(', ')} ms`);
    assert.ok(results.every((r) => r.auth === t1), 'they use the still-valid token');
    assert.equal(new Set(results.map((r) => r.pid)).size, 2, 'both workers served');
    await sleep(500);
    assert.equal(te.hits('rp'), 2, 'exactly one background refresh');
    const after = await timed(s, '/o/after');
    assert.equal(after.auth, `Bearer ${te.grants('rp')[1].token}`, 'the refreshed token is used next');
  });

  it('isolation: worker_processes 1, a token fetch hanging 3 s does not delay other requests (< 100 ms)', async () => {
    const te = await endpoint();
    te.set('iso', 'ok', { delay: 3000 });
    const s = await oauthStack({ te, route: 'iso', conf: { timeout: '5s' } });

    const t0 = Date.now();
    const a = timed(s, '/o/waiting');
    await sleep(100);
    assert.equal(te.hits('iso'), 1, 'the fetch is in flight');
    const plain = [];
    for (let i = 0; i < 30 && Date.now() - t0 < 2600; i++) {
      plain.push(await timed(s, `/plain/${i}`));
      await sleep(100);
    }
    const first = await a;
    for (const r of plain) {
      assert.equal(r.status, 200);
      assert.ok(r.took < 100, `a plain request took ${r.took} ms while the fetch hung`);
    }
    assert.ok(plain.length >= 10, `only ${plain.length} plain requests`);
    assert.ok(plain.at(-1).end < first.end, 'the plain requests ran while the fetch hung');
    assert.equal(first.status, 200, 'the waiting request gets the token when it finally arrives');
    assert.ok(first.took >= 2900, `the waiting request finished after ${first.took} ms`);
  });
});

describe('oauth lifecycle', () => {
  /** GET that the client abandons after `ms` (socket destroyed); resolves when it is gone. */
  function abandon(s, path, ms) {
    return new Promise((resolve) => {
      const req = http.request(s.url(path), { agent: false }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', () => resolve());
      req.on('close', () => resolve());
      req.end();
      setTimeout(() => req.destroy(), ms);
    });
  }

  it('clients that disconnect while parked (token arrives later / wait times out): no crash, later requests served', async () => {
    const te = await endpoint();
    te.set('dc', 'ok', { delay: 600 });
    te.set('dct', 'ok', { delay: 1500 });
    const s = await startStack({
      workers: 2,
      http: ({ port }) => `
${oauthClient('dc', { token_url: te.url('dc'), client_id: 'id-dc', client_secret: SECRET })}
${oauthClient('dct', { token_url: te.url('dct'), client_id: 'id-dct', client_secret: SECRET, timeout: '300ms', retries: 0 })}
    server {
        listen 127.0.0.1:${port} reuseport;
        location /dc/ { edge_auth_upstream_oauth dc; proxy_pass http://backend; }
        location /dct/ { edge_auth_upstream_oauth dct; proxy_pass http://backend; }
    }`,
    });
    stacks.push(s);
    // parked in both workers (one fetching, the other polling the zone), then gone
    await Promise.all([
      ...Array.from({ length: 8 }, (_, i) => abandon(s, `/dc/${i}`, 100)),
      ...Array.from({ length: 8 }, (_, i) => abandon(s, `/dct/${i}`, 100)),
    ]);
    await sleep(1700); // the token of dc arrives, dct's waits time out and its fetch ends
    for (let i = 0; i < 6; i++) {
      const r = await s.get(`/dc/after-${i}`);
      assert.equal(r.status, 200);
    }
    assert.equal(te.hits('dc'), 1, 'the abandoned requests still made one fetch, whose token is used now');
    assert.equal(s.echo.requests.filter((r) => r.path.startsWith('/dc/') && !r.path.startsWith('/dc/after')).length, 0, 'abandoned requests never reached the backend');
    assert.doesNotMatch(s.ngx.errorLog(), /exited on signal/);
  });

  it('nginx -s quit with a token fetch in flight: the worker exits at once', async () => {
    const te = await endpoint();
    te.set('q', 'hang');
    const s = await oauthStack({ te, route: 'q', conf: { timeout: '1s', retries: 2 } });
    const r = await s.get('/o/x');
    assert.equal(r.status, 502);
    assert.equal(te.hits('q'), 1, 'the first attempt still hangs (two retries to come)');
    const t0 = Date.now();
    await s.stop();
    const took = Date.now() - t0;
    assert.ok(took < 1000, `graceful stop took ${took} ms: the in-flight fetch kept the worker alive`);
  });

  it('reload with a token fetch in flight: the old worker exits at once, the new one fetches', async () => {
    const te = await endpoint();
    te.set('rl', 'hang');
    const s = await oauthStack({ te, route: 'rl', conf: { timeout: '1s', retries: 2 } });
    assert.equal((await s.get('/o/x')).status, 502);
    te.set('rl', 'ok');
    const t0 = Date.now();
    await s.ngx.reload(); // resolves when the old worker has exited
    const took = Date.now() - t0;
    assert.ok(took < 1000, `reload took ${took} ms: the in-flight fetch kept the old worker alive`);
    const after = await s.get('/o/y');
    assert.equal(after.status, 200);
  });
});
