// Bugs found by bench/faults and bench/soak (issue 7), each pinned by a minimal
// reproduction. Each describe names the bug it guards.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startStack } from './lib/stack.mjs';
import { TIME_FACTOR } from './lib/nginx.mjs';
import { startTokenEndpoint, oauthClient } from './lib/token-endpoint.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** GET over `agent` (a kept-alive connection): { status, ms, reused }. */
function get(url, agent, headers = {}) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const req = http.get(url, { agent, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, ms: Date.now() - t0, reused: req.reusedSocket }));
    });
    req.on('error', reject);
  });
}

/**
 * A token endpoint and an nginx for one describe, started before its tests and
 * stopped after: `route` answers `mode` (opts), `server(te, port)` is the server
 * block. Returns { s, te }, filled once started.
 */
function tokenEndpointStack({ workers, route, mode, opts, client, server }) {
  const env = { s: null, te: null };
  before(async () => {
    env.te = await startTokenEndpoint();
    env.te.set(route, mode, opts);
    env.s = await startStack({
      workers,
      http: ({ port }) => `
${oauthClient(route, { token_url: env.te.url(route), client_id: route, client_secret: `${route}-secret`, ...client })}
${server(port)}`,
    });
  });
  after(async () => {
    try {
      if (env.s) await env.s.stop();
    } finally {
      if (env.te) await env.te.close();
    }
  });
  return env;
}

// A request that waits for an OAuth token (edge_auth_upstream_oauth, cold cache)
// on a kept-alive connection got 502 at once, "no token: the token request
// failed", without any token request: the third request of a connection sees
// EPOLLIN|EPOLLOUT together, the write event re-ran the phase while the request
// was parked, and ea_oauth_token took that for the wake-up of a failed fetch.
// The generic wait list (ngx_edge_auth_wait.cpp) guards with ctx->parked; the
// OAuth waiters did not. Found by bench/soak: every soak run's first OAuth
// request on a reused connection failed.
describe('a request parked for an OAuth token on a kept-alive connection', () => {
  const env = tokenEndpointStack({
    workers: 1,
    route: 'ka',
    mode: 'ok',
    opts: { expiresIn: 3600, delay: 300 },
    client: { timeout: '3s' },
    server: (port) => `
    server {
        listen 127.0.0.1:${port};
        location /plain/ { proxy_pass http://backend; }
        location /oauth/ { edge_auth_upstream_oauth ka; proxy_pass http://backend; }
    }`,
  });

  it('waits for the token (200 after the 300 ms fetch), not 502 at once without a token request', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      assert.equal((await get(env.s.url('/plain/1'), agent)).status, 200);
      assert.equal((await get(env.s.url('/plain/2'), agent)).status, 200);
      const res = await get(env.s.url('/oauth/x'), agent);
      assert.ok(res.reused, 'the third request went over the same connection');
      assert.equal(res.status, 200, `got ${res.status} after ${res.ms} ms; log:\n${env.s.ngx.errorLog().split('\n').filter((l) => /edge_auth/.test(l)).join('\n')}`);
      assert.ok(res.ms >= 250, `answered after ${res.ms} ms: before the token endpoint did`);
      assert.equal(env.te.hits('ka'), 1, 'one token request');
      assert.equal(env.s.echo.last().headers.authorization?.startsWith('Bearer tok-'), true, 'the backend got the token');
    } finally {
      agent.destroy();
    }
  });

  it('the same with the token expiring: each refetch is waited for on a busy kept-alive connection', async () => {
    env.te.set('ka', 'ok', { expiresIn: 1, delay: 200 });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const statuses = [];
      const until = Date.now() + 3500;
      while (Date.now() < until) {
        statuses.push((await get(env.s.url('/oauth/y'), agent)).status);
        await sleep(20);
      }
      assert.deepEqual([...new Set(statuses)], [200], `statuses: ${statuses.join(' ')}`);
    } finally {
      agent.destroy();
    }
  });
});

// After a failed background refresh the flight marker said "paused" for 5 s, and
// once the token expired inside those 5 s no worker could start a fetch: requests
// waited for the whole client timeout and got 502 ("no token within 2000ms")
// without any token request, even with the IdP back. Found by bench/faults
// ("token endpoint down": 502s that took exactly the 2 s timeout).
describe('a failed background refresh does not hold off the fetch once the token expired', () => {
  const env = tokenEndpointStack({
    workers: 1,
    route: 'bg',
    mode: 'ok',
    opts: { expiresIn: 4 },
    client: { timeout: '2s', retries: 0 },
    server: (port) => `
    server {
        listen 127.0.0.1:${port};
        location /oauth/ { edge_auth_upstream_oauth bg; proxy_pass http://backend; }
    }`,
  });

  it('the IdP fails the refresh ahead, comes back; a request after expiry gets a new token at once', async () => {
    const t0 = Date.now();
    assert.equal((await env.s.get('/oauth/1')).status, 200, 'first token (4 s)');
    env.te.set('bg', '500');
    await sleep(2300 - (Date.now() - t0)); // inside the refresh window (the last 2 s)
    assert.equal((await env.s.get('/oauth/2')).status, 200, 'the old token while the refresh fails');
    for (let i = 0; i < 50 && !/"bg": token request .* failed: HTTP 500/.test(env.s.ngx.errorLog()); i++) await sleep(20);
    assert.match(env.s.ngx.errorLog(), /oauth client "bg": token request .* failed: HTTP 500/, 'the background refresh failed');
    env.te.set('bg', 'ok', { expiresIn: 4 }); // the IdP is back
    await sleep(4300 - (Date.now() - t0)); // the first token has expired
    const a = Date.now();
    const res = await env.s.get('/oauth/3');
    const took = Date.now() - a;
    assert.equal(res.status, 200, `got ${res.status} after ${took} ms:\n${env.s.ngx.errorLog().split('\n').filter((l) => /"bg"/.test(l)).join('\n')}`);
    assert.ok(took < 1000, `the request waited ${took} ms for a token the IdP gives at once`);
  });
});

// While the token endpoint failed (5xx or no answer), requests parked in the
// worker that fetched got 502 when the fetch failed, but those parked in
// another worker, polling the zone, saw the flight marker gone and started a
// fetch of their own: a second token request to the failing IdP, and their
// 502 came a whole fetch later. Found by bench/faults ("token endpoint 500"
// and "down": the slow 502s of the other worker). A failed flight now leaves
// a short marker that answers the other workers' waiters at once.
describe('a failed token fetch answers the requests waiting in other workers at once', () => {
  const env = tokenEndpointStack({
    workers: 2,
    route: 'down',
    mode: '500',
    opts: { delay: 700 },
    client: { timeout: '5s', retries: 0 },
    server: (port) => `
    server {
        # reuseport: the kernel spreads the connections over both workers (without it one
        # worker may take them all, as a slow ASan build did)
        listen 127.0.0.1:${port} reuseport;
        location /oauth/ { edge_auth_upstream_oauth down; add_header X-Pid $pid always; proxy_pass http://backend; }
    }`,
  });

  it('parked requests in both workers: one token request, every 502 about when it failed', async () => {
    // each on its own connection, so both workers take some
    for (let round = 0; round < 5; round++) {
      const hits = env.te.hits('down');
      const t0 = Date.now();
      const answers = await Promise.all(Array.from({ length: 16 }, (_, i) =>
        new Promise((resolve, reject) => {
          const req = http.get(env.s.url(`/oauth/${round}-${i}`), { agent: false }, (res) => {
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode, ms: Date.now() - t0, pid: res.headers['x-pid'] }));
          });
          req.on('error', reject);
        })));
      const pids = new Set(answers.map((a) => a.pid));
      if (pids.size < 2) continue; // one worker took them all: no one polled; try again
      assert.deepEqual([...new Set(answers.map((a) => a.status))], [502]);
      assert.equal(env.te.hits('down') - hits, 1, 'one token request for all of them');
      const slowest = Math.max(...answers.map((a) => a.ms));
      const bound = 700 + 600 * TIME_FACTOR; // a second fetch would take another 700 ms (and show in the hits)
      assert.ok(slowest < bound, `the slowest 502 came after ${slowest} ms (the fetch failed after ~700 ms): ${answers.map((a) => `${a.pid}:${a.ms}`).join(' ')}`);
      return;
    }
    assert.fail('the requests never reached both workers');
  });
});
