// Redis as the second token level (edge_auth_redis, `store redis`): two nginx
// instances (separate prefixes, so separate zones: two nodes) share one private
// redis-server. One token request for the pair, cold or under parallel load;
// tokens sealed at rest with edge_auth_session_secret (and in clear without
// one), forged or transplanted values ignored; Redis killed (both nodes keep
// serving from their own zone, one log line per worker), restarted on the same
// port (picked up, sharing resumes); a Redis that hangs and a wrong password
// (fallback within the Redis timeout, nothing secret logged); nginx -t.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startStack, assertNoSecrets } from './lib/stack.mjs';
import { nginxTest } from './lib/nginx.mjs';
import { assertRejected } from './lib/conf-check.mjs';
import { startTokenEndpoint, oauthClient } from './lib/token-endpoint.mjs';
import { startRedis, startSilentServer, startDelayProxy } from './lib/redis.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rnd = (tag) => `${tag}-${crypto.randomBytes(12).toString('base64url')}`;

const CLIENT_SECRET = rnd('client-secret');
const SESSION_SECRET = crypto.randomBytes(36).toString('base64url'); // 48 characters
const RIGHT_PW = rnd('redis-pw');
const WRONG_PW = rnd('wrong-pw');
const CONF_PW = rnd('conf-pw');
const PREFIX = `ea-${crypto.randomBytes(4).toString('hex')}:`;

const stacks = [];
const endpoints = [];
const servers = []; // redis-servers and silent servers
const outputs = []; // nginx -t outputs

after(async () => {
  // Stop everything even when one stop fails (a crashed worker), then report.
  const stops = await Promise.allSettled(stacks.map((s) => s.stop()));
  await Promise.allSettled([...endpoints.map((te) => te.close()), ...servers.map((x) => x.close())]);
  const logs = stacks.map((s) => s.ngx.errorLog()).join('\n') + outputs.join('\n');
  assertNoSecrets(logs, [CLIENT_SECRET, SESSION_SECRET, RIGHT_PW, WRONG_PW, CONF_PW, ...endpoints.flatMap((te) => te.issued())]);
  const failed = stops.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
});

async function endpoint() {
  const te = await startTokenEndpoint();
  endpoints.push(te);
  return te;
}

/**
 * One nginx "node": an oauth client per name in `clients` (token URL = the
 * endpoint's route of that name, `store redis`), each at /NAME/ with X-Pid.
 * Two nodes with the same clients and endpoint compute the same Redis keys.
 */
async function startNode({ te, redis, session = true, clients, workers = 2, conf = {} }) {
  const s = await startStack({
    workers,
    http: ({ port }) => `
    edge_auth_redis ${redis};
    ${session ? `edge_auth_session_secret ${SESSION_SECRET};` : ''}
${clients
  .map((name) =>
    oauthClient(name, {
      token_url: te.url(name),
      client_id: `id-${name}`,
      client_secret: CLIENT_SECRET,
      store: 'redis',
      refresh_before: '1s',
      timeout: '2s',
      ...conf,
    }),
  )
  .join('')}
    server {
        listen 127.0.0.1:${port} reuseport;
${clients
  .map(
    (name) => `
        location /${name}/ {
            edge_auth_upstream_oauth ${name};
            add_header X-Pid $pid always;
            proxy_pass http://backend;
        }`,
  )
  .join('')}
        location /plain/ { proxy_pass http://backend; }
    }`,
  });
  stacks.push(s);
  return s;
}

/** A timed GET; `auth` is the Authorization the backend saw (on a 200). */
async function timed(s, path) {
  const start = Date.now();
  const res = await s.get(path);
  const end = Date.now();
  const seen = res.status === 200 ? res.json() : null;
  return { start, end, took: end - start, status: res.status, pid: res.headers['x-pid'], auth: seen?.headers.authorization, body: res.body };
}

/** A GET that must succeed; returns the bearer token the backend got. */
async function tokenVia(s, path) {
  const r = await timed(s, path);
  assert.equal(r.status, 200, `${path}: expected 200, got ${r.status}: ${r.body.slice(0, 200)}`);
  const m = /^Bearer (\S+)$/.exec(r.auth ?? '');
  assert.ok(m, `${path}: the backend got no bearer token (${r.auth})`);
  return m[1];
}

/** Error-log lines written since `mark` (a length of the log), as { level, pid, text }. */
function linesSince(s, mark = 0) {
  return s.ngx
    .errorLog()
    .slice(mark)
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const m = /\[(\w+)\] (\d+)#\d+: (.*)$/.exec(line);
      return m ? { level: m[1], pid: m[2], text: m[3], line } : { level: '', pid: '', text: line, line };
    });
}

const downRe = (port) => new RegExp(`edge_auth: redis 127\\.0\\.0\\.1:${port} .*using the shared zone only until it is back`);
const backRe = (port) => new RegExp(`edge_auth: redis 127\\.0\\.0\\.1:${port} is back`);

/** Polls `fn` until it returns a truthy value (returned) or `ms` pass (fails with `what()`). */
async function waitFor(fn, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) assert.fail(typeof what === 'function' ? what() : what);
    await sleep(50);
  }
}

/** The one key `action` adds under `pattern` (the SET after a fetch may trail the response). */
async function newKey(redis, pattern, action) {
  const before = new Set(await redis.keys(pattern));
  await action();
  return waitFor(
    async () => {
      const added = (await redis.keys(pattern)).filter((k) => !before.has(k));
      assert.ok(added.length <= 1, `one new key expected, got ${added.join(', ')}`);
      return added[0];
    },
    2000,
    `no new key ${pattern} in redis`,
  );
}

const b64 = (s) => Buffer.from(s).toString('base64').replace(/=+$/, '');

describe('two nodes sharing one redis-server', () => {
  let redis;
  let te;
  let a;
  let b;
  let c; // a node without edge_auth_session_secret (same redis, its own prefix)
  const CLIENTS = ['seq', 'par', 'rest', 'forge', 'graft', 'stale', 'ra', 'short', 'cold3', 'back', 'backpar'];

  before(async () => {
    redis = await startRedis();
    servers.push(redis);
    te = await endpoint();
    te.set('rest', 'ok', { expiresIn: 30 });
    te.set('short', 'ok', { expiresIn: 2 });
    te.set('ra', 'ok', { expiresIn: 2, delay: 600 }); // a request that waited for a refresh would take >= 600 ms
    a = await startNode({ te, redis: redis.url({ prefix: PREFIX, timeout: '200ms' }), clients: CLIENTS });
    b = await startNode({ te, redis: redis.url({ prefix: PREFIX, timeout: '200ms' }), clients: CLIENTS });
    c = await startNode({ te, redis: redis.url({ prefix: `${PREFIX}clear:` }), session: false, clients: ['clear'], workers: 1 });
  });

  it('cold: a request to node A, then to node B = one token request; both backends get that token', async () => {
    const ta = await tokenVia(a, '/seq/1');
    assert.equal(te.hits('seq'), 1);
    const tb = await tokenVia(b, '/seq/2');
    assert.equal(te.hits('seq'), 1, 'node B must take the token from Redis, not from the IdP');
    assert.equal(tb, ta, 'both backends saw the same token');
    assert.equal(ta, te.grants('seq')[0].token);
    assert.ok(
      linesSince(b).some((l) => /oauth client "seq": token fetched from redis/.test(l.text)),
      'node B logs that it took the token from Redis',
    );
    // and both serve it from their zone now
    assert.equal(await tokenVia(a, '/seq/3'), ta);
    assert.equal(await tokenVia(b, '/seq/4'), ta);
    assert.equal(te.hits('seq'), 1);
  });

  it('cold: 20 parallel requests split across both nodes (2 workers each) = one token request', async () => {
    te.set('par', 'ok', { delay: 200 }); // the fetch is still in flight when the others look
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => timed(i % 2 ? b : a, `/par/${i}`)));
    const bad = results.filter((r) => r.status !== 200);
    assert.equal(bad.length, 0, `all must succeed: ${JSON.stringify(bad.slice(0, 3))}`);
    assert.equal(te.hits('par'), 1, `exactly one token request for both nodes, got ${te.hits('par')}`);
    const token = `Bearer ${te.grants('par')[0].token}`;
    for (const [name, s] of [['A', a], ['B', b]]) {
      const seen = s.echo.requests.filter((r) => r.path.startsWith('/par/'));
      assert.equal(seen.length, 10, `node ${name}'s backend got its 10 requests`);
      assert.ok(seen.every((r) => r.headers.authorization === token), `node ${name}'s backend saw only the one token`);
    }
    // one node fetched it, the other took it from Redis
    const fetched = [a, b].map((s) => linesSince(s).filter((l) => /oauth client "par": token fetched,/.test(l.text)).length);
    const fromRedis = [a, b].map((s) => linesSince(s).filter((l) => /oauth client "par": token fetched from redis/.test(l.text)).length);
    assert.equal(fetched[0] + fetched[1], 1, `one fetch from the IdP in all, got ${fetched}`);
    assert.ok(fromRedis[fetched[0] ? 1 : 0] >= 1, 'the other node took it from Redis');
    // the cross-node lock is released
    await waitFor(async () => (await redis.keys(`${PREFIX}lock:*`)).length === 0, 2000, 'a lock key stays in Redis after the fetch');
  });

  it('at rest with edge_auth_session_secret: the value is sealed (no token bytes), PTTL = remaining life', async () => {
    const key = await newKey(redis, `${PREFIX}token:*`, () => tokenVia(a, '/rest/1'));
    const token = te.grants('rest')[0].token;
    assert.match(key, new RegExp(`^${PREFIX}token:[0-9a-f]{16,}$`), 'the key is the prefix and a hex digest');
    assert.ok(!key.includes(CLIENT_SECRET) && !key.includes('id-rest'), 'the key names neither the client id nor the secret');
    const value = await redis.command('GET', key);
    assert.ok(Buffer.isBuffer(value) && value.length > token.length, `a sealed value is longer than the token (${value?.length})`);
    for (const form of [token, b64(token), Buffer.from(token).toString('hex')]) {
      assert.ok(!value.includes(form), `the Redis value contains the token (${form === token ? 'as is' : 'encoded'})`);
    }
    const pttl = Number(await redis.cli('PTTL', key));
    assert.ok(pttl > 0 && pttl <= 30_000, `PTTL ${pttl} ms: expected 0 < PTTL <= expires_in (30 s)`);
    assert.ok(pttl > 25_000, `PTTL ${pttl} ms: expected about the token's remaining life (30 s)`);
    // node B opens it
    assert.equal(await tokenVia(b, '/rest/2'), token);
    assert.equal(te.hits('rest'), 1);
  });

  it('at rest without edge_auth_session_secret: the value holds the token in clear (documented)', async () => {
    const key = await newKey(redis, `${PREFIX}clear:token:*`, () => tokenVia(c, '/clear/1'));
    const token = te.grants('clear')[0].token;
    const value = await redis.command('GET', key);
    assert.ok(value.includes(token), 'without a session secret the token is stored in clear (README: "set one")');
    const pttl = Number(await redis.cli('PTTL', key));
    assert.ok(pttl > 0 && pttl <= 3_600_000, `PTTL ${pttl}`);
  });

  it('sealed values are authenticated: a forged clear value or a value moved from another key is ignored', async () => {
    // a well-formed clear value (node C's) written over node A's sealed value
    const clearKey = (await redis.keys(`${PREFIX}clear:token:*`))[0];
    assert.ok(clearKey, 'node C stored its token (previous test)');
    const forged = await redis.command('GET', clearKey);
    const clearToken = te.grants('clear')[0].token;
    const forgeKey = await newKey(redis, `${PREFIX}token:*`, () => tokenVia(a, '/forge/1'));
    assert.equal(await redis.command('SET', forgeKey, forged, 'PX', '60000'), 'OK');
    const tb = await tokenVia(b, '/forge/2');
    assert.notEqual(tb, clearToken, 'node B used a token that was written into Redis in clear (forged)');
    assert.equal(te.hits('forge'), 2, 'node B ignored the forged value and asked the IdP');
    assert.equal(tb, te.grants('forge')[1].token);

    // another client's sealed value (valid, same secret) moved to this key
    const graftKey = await newKey(redis, `${PREFIX}token:*`, () => tokenVia(a, '/graft/1'));
    const others = (await redis.keys(`${PREFIX}token:*`)).filter((k) => k !== graftKey && k !== forgeKey);
    assert.ok(others.length > 0, 'other sealed values exist');
    const moved = await redis.command('GET', others[0]);
    assert.equal(await redis.command('SET', graftKey, moved, 'PX', '60000'), 'OK');
    const tg = await tokenVia(b, '/graft/2');
    const otherTokens = te.issued().filter((t) => !te.grants('graft').some((g) => g.token === t));
    assert.ok(!otherTokens.includes(tg), 'node B used another client\'s token, moved from its key');
    assert.equal(te.hits('graft'), 2, 'node B ignored the moved value and asked the IdP');
  });

  it('a lock left by a dead node: the waiting node fetches itself once the client timeout passed, not when the lock expires', async () => {
    const key = await newKey(redis, `${PREFIX}token:*`, () => tokenVia(a, '/stale/1'));
    const lock = key.replace(/:token:/, ':lock:');
    assert.equal(await redis.command('DEL', key), 1);
    assert.equal(await redis.command('SET', lock, '999999', 'PX', '20000'), 'OK'); // held by a node that died
    const first = await timed(b, '/stale/2');
    assert.ok(first.took < 2000 + 500, `the request waited ${first.took} ms (client timeout 2 s)`);
    const second = await timed(b, '/stale/3');
    assert.equal(second.status, 200);
    assert.ok(second.took < 500, `took ${second.took} ms`);
    assert.equal(te.hits('stale'), 2, 'node B fetched the token itself');
    assert.ok(Number(await redis.cli('PTTL', lock)) > 10_000, 'the stale lock is still there: B did not wait for it to expire');
    assert.equal(first.status, 200, `the request that waited for the dead node's token got ${first.status} after ${first.took} ms`);
  });

  it('refresh ahead is shared too: with a 2 s token, both nodes use every refreshed token', async () => {
    assert.equal(await tokenVia(b, '/ra/warm'), await tokenVia(a, '/ra/warm')); // warm first: a cold start on both at once is the delay-proxy test's
    const t0 = Date.now();
    const results = [];
    for (let i = 0; Date.now() - t0 < 4000; i++) {
      results.push(...(await Promise.all([timed(a, `/ra/a${i}`).then((r) => ({ ...r, node: 'A' })), timed(b, `/ra/b${i}`).then((r) => ({ ...r, node: 'B' }))])));
      await sleep(150);
    }
    assert.ok(results.every((r) => r.status === 200), 'all succeed');
    const slow = results.filter((r) => r.took > 450); // wide: a loaded CI machine is slow, a wait is >= 600 ms
    assert.equal(slow.length, 0, `no warm request waits for a refresh: ${slow.map((r) => `${r.node} ${r.start - t0} ms took ${r.took} ms`).join(', ')}`);
    const seenA = new Set(results.filter((r) => r.node === 'A').map((r) => r.auth));
    const seenB = new Set(results.filter((r) => r.node === 'B').map((r) => r.auth));
    const all = new Set([...seenA, ...seenB]);
    const onlyOne = [...all].filter((t) => !(seenA.has(t) && seenB.has(t)));
    assert.ok(all.size >= 3, `the token must rotate (saw ${all.size})`);
    const story = te.grants('ra').map((g) => {
      const by = (node) => results.filter((r) => r.node === node && r.auth === `Bearer ${g.token}`).map((r) => r.start - t0);
      return `issued at ${g.at - t0} ms; A used it at [${by('A')}]; B at [${by('B')}]`;
    }).join('\n');
    assert.ok(onlyOne.length <= 1, `${onlyOne.length} of ${all.size} tokens were used by one node only: refreshes are not shared:\n${story}`);
    assert.ok(te.hits('ra') <= all.size + 1, `${te.hits('ra')} token requests for ${all.size} tokens in use`);
  });

  it('redis killed: both nodes keep serving (own zone, own IdP fetch), one log line per worker, no request waits', async () => {
    // warm and shared before the outage
    const shared = await tokenVia(a, '/short/0');
    assert.equal(await tokenVia(b, '/short/0'), shared);
    assert.equal(te.hits('short'), 1);
    const hitsBefore = te.hits('short');
    const marks = [a, b].map((s) => s.ngx.errorLog().length);

    await redis.kill();
    const t0 = Date.now();
    const results = [];
    for (let i = 0; Date.now() - t0 < 4500; i++) {
      const round = await Promise.all([
        timed(a, `/short/a${i}`).then((r) => ({ ...r, node: 'A' })),
        timed(b, `/short/b${i}`).then((r) => ({ ...r, node: 'B' })),
        timed(a, `/seq/a${i}`).then((r) => ({ ...r, node: 'A' })),
        timed(b, `/seq/b${i}`).then((r) => ({ ...r, node: 'B' })),
      ]);
      results.push(...round);
      await sleep(200);
    }
    // a reload while Redis is down (reconnect timers pending): the old workers exit at once
    const r0 = Date.now();
    await c.ngx.reload();
    assert.ok(Date.now() - r0 < 1500, `reload took ${Date.now() - r0} ms with Redis down`);
    assert.equal(await tokenVia(c, '/clear/2'), te.grants('clear')[0].token, 'the zone survived the reload');

    // a key nobody fetched before: each node fetches it itself, at once
    const cold = [await timed(a, '/cold3/1'), await timed(b, '/cold3/2')];

    const bad = [...results, ...cold].filter((r) => r.status !== 200);
    assert.equal(bad.length, 0, `every request must succeed while Redis is down: ${JSON.stringify(bad.slice(0, 3))}`);
    const slowest = Math.max(...results.map((r) => r.took), ...cold.map((r) => r.took));
    assert.ok(slowest < 1000, `a request took ${slowest} ms while Redis was down (Redis timeout 200 ms)`);
    assert.equal(te.hits('cold3'), 2, 'without Redis, each node fetched the cold token itself');
    assert.notEqual(cold[0].auth, cold[1].auth);

    // the 2 s token expired during the outage: each node fetched its own
    assert.ok(te.hits('short') - hitsBefore >= 2, `expected own fetches by both nodes, got ${te.hits('short') - hitsBefore}`);
    const tokensOf = (node) => new Set(results.filter((r) => r.node === node && r.auth && r.auth !== `Bearer ${shared}` && r.auth.startsWith('Bearer tok-') && te.grants('short').some((g) => r.auth === `Bearer ${g.token}`)).map((r) => r.auth));
    const ta = tokensOf('A');
    const tb = tokensOf('B');
    assert.ok(ta.size >= 1 && tb.size >= 1, `both nodes moved on to a new token (A ${ta.size}, B ${tb.size})`);
    assert.ok([...ta].every((t) => !tb.has(t)), 'without Redis the nodes cannot share a token');

    for (const [i, s] of [a, b].entries()) {
      const lines = linesSince(s, marks[i]);
      const down = lines.filter((l) => downRe(redis.port).test(l.text));
      const perPid = new Map();
      for (const l of down) perPid.set(l.pid, (perPid.get(l.pid) ?? 0) + 1);
      assert.ok(down.length >= 1, `node ${'AB'[i]} did not log that Redis is down:\n${lines.map((l) => l.line).join('\n')}`);
      assert.ok(perPid.size <= 2 && [...perPid.values()].every((n) => n === 1), `node ${'AB'[i]}: the outage must be logged once per worker, got:\n${down.map((l) => l.line).join('\n')}`);
      assert.equal(down[0].level, 'error');
      assert.ok(!lines.some((l) => /fetched from redis/.test(l.text)), 'nothing came from Redis while it was down');
      assert.ok(!lines.some((l) => /\[(alert|crit|emerg)\]|exited on signal/.test(l.line)), `no alert, crash:\n${lines.map((l) => l.line).join('\n')}`);
    }
  });

  it('redis restarted on the same port: the nodes say it is back, and share again', async () => {
    const marks = [a, b].map((s) => s.ngx.errorLog().length);
    const restartedAt = Date.now();
    await redis.restart();
    // every worker that reported the outage reconnects (backoff 200 ms doubling)
    for (const [i, s] of [a, b].entries()) {
      const downPids = new Set(linesSince(s).filter((l) => downRe(redis.port).test(l.text)).map((l) => l.pid));
      await waitFor(
        () => {
          const backPids = new Set(linesSince(s, marks[i]).filter((l) => backRe(redis.port).test(l.text)).map((l) => l.pid));
          return [...downPids].every((p) => backPids.has(p));
        },
        15_000,
        () => `node ${'AB'[i]}: not every worker said "is back" (down: ${[...downPids]}):\n${linesSince(s, marks[i]).map((l) => l.line).join('\n')}`,
      );
      const back = linesSince(s, marks[i]).find((l) => backRe(redis.port).test(l.text));
      assert.equal(back.level, 'notice');
    }
    const tookBack = Date.now() - restartedAt;
    assert.ok(tookBack < 14_000, `reconnected after ${tookBack} ms`);

    // a fresh key: node A fetches it, node B takes it from the restarted Redis
    const key = await newKey(redis, `${PREFIX}token:*`, () => tokenVia(a, '/back/1'));
    assert.ok(key);
    assert.equal(await tokenVia(b, '/back/2'), te.grants('back')[0].token);
    assert.equal(te.hits('back'), 1, 'sharing resumed: one token request for the pair');

    // and under parallel load
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => timed(i % 2 ? b : a, `/backpar/${i}`)));
    assert.ok(results.every((r) => r.status === 200));
    assert.equal(te.hits('backpar'), 1, `one token request for 12 parallel requests on both nodes, got ${te.hits('backpar')}`);
    assert.equal(new Set(results.map((r) => r.auth)).size, 1);
  });
});

describe('redis dies while a node waits for the token another node is fetching', () => {
  let redis;
  let te;
  let a;
  let b;

  before(async () => {
    redis = await startRedis();
    servers.push(redis);
    te = await endpoint();
    te.set('mid', 'ok', { delay: 800 });
    a = await startNode({ te, redis: redis.url({ prefix: PREFIX }), clients: ['mid'], workers: 1 });
    b = await startNode({ te, redis: redis.url({ prefix: PREFIX }), clients: ['mid'], workers: 1 });
  });

  it('the waiting node stops waiting and fetches itself; both requests succeed within the client timeout', async () => {
    const ra = timed(a, '/mid/1');
    await waitFor(() => te.hits('mid') === 1, 1000, 'node A did not start its fetch');
    const rb = timed(b, '/mid/2');
    await waitFor(async () => (await redis.keys(`${PREFIX}lock:*`)).length === 1, 500, 'no lock in Redis');
    await sleep(150); // B polls Redis for A's token
    await redis.kill();
    const [resA, resB] = await Promise.all([ra, rb]);
    assert.equal(resA.status, 200, `node A: ${resA.status}`);
    assert.equal(resB.status, 200, `node B: ${resB.status} after ${resB.took} ms`);
    assert.ok(resB.took < 2000, `node B's request took ${resB.took} ms (client timeout 2 s)`);
    assert.ok(te.hits('mid') <= 2);
    for (const s of [a, b]) {
      const r = await timed(s, '/mid/3');
      assert.equal(r.status, 200);
      assert.ok(r.took < 500, `a warm request took ${r.took} ms with Redis down`);
    }
  });
});

describe('two nodes, one of them 300 ms away from Redis', () => {
  let redis;
  let proxy;
  let te;
  let near;
  let far;

  before(async () => {
    redis = await startRedis();
    servers.push(redis);
    proxy = await startDelayProxy(redis.port, { delay: 300 });
    servers.push(proxy);
    te = await endpoint();
    te.set('race', 'ok', { delay: 40 }); // the near node's fetch ends while the far node's GET reply travels
    near = await startNode({ te, redis: redis.url({ prefix: PREFIX }), clients: ['race'], workers: 1 });
    far = await startNode({ te, redis: `redis://127.0.0.1:${proxy.port} prefix=${PREFIX} timeout=1s`, clients: ['race'], workers: 1 });
    // both connections are up before the race
    assert.equal((await timed(near, '/plain/')).status, 200);
  });

  it('cold on both at once: the far node, finding no token, must not fetch a second one after the near node released its lock', async () => {
    const [rn, rf] = await Promise.all([timed(near, '/race/1'), timed(far, '/race/2')]);
    assert.equal(rn.status, 200);
    assert.equal(rf.status, 200);
    const lines = [near, far].map((s) => linesSince(s).filter((l) => /edge_auth: (oauth|redis)/.test(l.text)).map((l) => l.line).join('\n'));
    assert.equal(
      te.hits('race'),
      1,
      `${te.hits('race')} token requests for the pair: the far node took the lock after the near node's DEL without looking for the token again\nnear:\n${lines[0]}\nfar:\n${lines[1]}`,
    );
    assert.equal(rf.auth, rn.auth);
  });
});

describe('a redis that accepts connections and never answers', () => {
  let silent;
  let te;
  let h;

  before(async () => {
    silent = await startSilentServer();
    servers.push(silent);
    te = await endpoint();
    h = await startNode({ te, redis: `redis://127.0.0.1:${silent.port} prefix=${PREFIX} timeout=200ms`, clients: ['h1', 'h2', 'h3'], workers: 1 });
  });

  it('requests still get a token (fallback to the zone) within the Redis timeout, not hanging', async () => {
    const first = await timed(h, '/h1/1');
    assert.equal(first.status, 200, `got ${first.status}: ${first.body.slice(0, 200)}`);
    assert.equal(first.auth, `Bearer ${te.grants('h1')[0].token}`);
    assert.ok(first.took < 200 + 800, `the first request took ${first.took} ms (Redis timeout 200 ms)`);
    assert.ok(silent.connections() >= 1 && silent.received().includes(`${PREFIX}token:`), 'nginx did ask the hanging "redis"');

    // a cold key under parallel load: one IdP fetch, nobody hangs
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => timed(h, `/h2/${i}`)));
    assert.ok(results.every((r) => r.status === 200), `all succeed: ${results.map((r) => r.status)}`);
    const slowest = Math.max(...results.map((r) => r.took));
    assert.ok(slowest < 200 + 800, `a request took ${slowest} ms`);
    assert.equal(te.hits('h2'), 1);
    // warm: from the zone, no Redis wait
    const warm = await timed(h, '/h1/2');
    assert.ok(warm.took < 150, `a warm request took ${warm.took} ms`);

    const down = linesSince(h).filter((l) => downRe(silent.port).test(l.text));
    assert.ok(down.length >= 1, 'the slow Redis is logged');
    assert.match(down[0].text, /timed out/);
    assert.ok(down.length <= 2, `logged per token fetch at most, not per request: ${down.length} lines`);
  });

  it('nginx -s quit with a request parked on the hanging Redis: exits promptly, the request is answered', async () => {
    const parked = timed(h, '/h3/1');
    await sleep(60);
    const t0 = Date.now();
    await h.stop(); // fails on a crashed worker
    const took = Date.now() - t0;
    const r = await parked;
    assert.ok(took < 1500, `stop took ${took} ms`);
    assert.equal(r.status, 200, `the parked request got ${r.status}`);
  });
});

describe('a redis that hangs, with a Redis timeout longer than the client\'s timeout', () => {
  let silent;
  let te;
  let h;

  before(async () => {
    silent = await startSilentServer();
    servers.push(silent);
    te = await endpoint();
    h = await startNode({
      te,
      redis: `redis://127.0.0.1:${silent.port} prefix=${PREFIX} timeout=5s`,
      clients: ['l1'],
      workers: 1,
      conf: { timeout: '1s', retries: 0 },
    });
  });

  it('no request waits past the client\'s timeout (1 s) for Redis', async () => {
    const r = await timed(h, '/l1/1');
    assert.ok(r.took < 1000 + 500, `the request took ${r.took} ms, past the client's timeout (1 s)`);
    assert.equal(r.status, 200, `Redis slow must not fail the request (README: "Redis down or slow never fails a request"), got ${r.status} after ${r.took} ms`);
  });
});

describe('wrong and right Redis passwords', () => {
  let redis;
  let te;
  let w;
  let ok;

  before(async () => {
    redis = await startRedis({ password: RIGHT_PW });
    servers.push(redis);
    te = await endpoint();
    w = await startNode({ te, redis: redis.url({ prefix: `${PREFIX}w:`, pass: WRONG_PW }), clients: ['w1', 'w2'], workers: 1 });
    ok = await startStack({
      env: { EA_REDIS_PW: RIGHT_PW },
      main: 'env EA_REDIS_PW;',
      http: ({ port }) => `
    edge_auth_redis redis://:env:EA_REDIS_PW@127.0.0.1:${redis.port}/3 prefix=${PREFIX}ok:;
    edge_auth_session_secret ${SESSION_SECRET};
${oauthClient('ok1', { token_url: te.url('ok1'), client_id: 'id-ok1', client_secret: CLIENT_SECRET, store: 'redis' })}
    server {
        listen 127.0.0.1:${port};
        location /ok1/ { edge_auth_upstream_oauth ok1; proxy_pass http://backend; }
    }`,
    });
    stacks.push(ok);
  });

  it('wrong password: the setup failure is logged (without the password), requests fall back', async () => {
    const r = await timed(w, '/w1/1');
    assert.equal(r.status, 200, `got ${r.status}: ${r.body.slice(0, 200)}`);
    assert.ok(r.took < 1000, `took ${r.took} ms`);
    assert.equal(r.auth, `Bearer ${te.grants('w1')[0].token}`);
    const line = await waitFor(() => linesSince(w).find((l) => downRe(redis.port).test(l.text)), 2000, 'no log line about the failed Redis setup');
    assert.match(line.text, /setup failed|WRONGPASS|auth/i);
    assert.equal(line.level, 'error');
    assert.deepEqual(await redis.keys('*'), [], 'nothing was written without authentication');

    // A wrong password is one long outage: logged once, retried with backoff
    // (200 ms doubling), never announced as back.
    const connections = async () => Number(/total_connections_received:(\d+)/.exec(await redis.cli('INFO', 'stats'))[1]);
    const c0 = await connections();
    await sleep(2000);
    const attempts = (await connections()) - c0 - 1; // minus the INFO connection itself
    const r2 = await timed(w, '/w2/1');
    assert.equal(r2.status, 200);
    assert.ok(r2.took < 1000, `took ${r2.took} ms`);
    assertNoSecrets(w.ngx.errorLog(), [WRONG_PW, RIGHT_PW]);
    const lines = linesSince(w);
    const down = lines.filter((l) => downRe(redis.port).test(l.text));
    const back = lines.filter((l) => backRe(redis.port).test(l.text));
    const story = `${attempts} connections from nginx in 2 s; log:\n${lines.filter((l) => /edge_auth: redis/.test(l.text)).slice(0, 12).map((l) => l.line).join('\n')}`;
    assert.equal(back.length, 0, `"is back" logged although AUTH keeps failing (${story})`);
    assert.equal(down.length, 1, `the outage must be logged once (one worker), got ${down.length} lines (${story})`);
    assert.ok(attempts <= 4, `reconnects must back off (200 ms doubling): ${story}`);
  });

  it('right password from env: (and a database number): the token is stored in that database', async () => {
    await tokenVia(ok, '/ok1/1');
    const keys = await waitFor(
      async () => (await redis.cli('-n', '3', 'KEYS', `${PREFIX}ok:token:*`)).split('\n').filter(Boolean),
      2000,
      'no key in database 3',
    );
    assert.equal(keys.length, 1);
    assert.equal(await redis.cli('-n', '0', 'KEYS', `${PREFIX}ok:*`), '', 'nothing in database 0');
    assertNoSecrets(ok.ngx.errorLog(), [RIGHT_PW]);
    assert.ok(!linesSince(ok).some((l) => /edge_auth: redis/.test(l.text)), 'no Redis complaint with the right password');
  });
});

describe('nginx -t', { concurrency: true }, () => {
  const client = `
    edge_auth_oauth_client c {
        token_url http://127.0.0.1:9/token;
        client_id x;
        client_secret y;
        store redis;
    }`;

  async function check(http, { ok = false, match, env, main, line = true } = {}) {
    const res = await nginxTest({ http, env, main });
    outputs.push(res.output);
    if (ok) assert.equal(res.code, 0, `nginx -t must accept:\n${http}\n${res.output}`);
    else assertRejected(res, { emerg: true, anyLine: line, match, unknownDirective: true });
    assertNoSecrets(res.output, [CONF_PW, RIGHT_PW]);
    return res;
  }

  it('rediss:// (TLS) is rejected', () => check(`edge_auth_redis rediss://:${CONF_PW}@127.0.0.1:6379;`, { match: /edge_auth_redis: .*redis:\/\// }));
  it('other schemes and no scheme are rejected', async () => {
    await check(`edge_auth_redis http://127.0.0.1:6379;`, { match: /edge_auth_redis/ });
    await check(`edge_auth_redis 127.0.0.1:6379;`, { match: /edge_auth_redis/ });
  });
  for (const port of ['70000', '0', '65536', '12ab', '-1']) {
    it(`bad port ${port} is rejected`, () => check(`edge_auth_redis redis://:${CONF_PW}@127.0.0.1:${port};`, { match: /invalid port/ }));
  }
  it('bad database number is rejected', () => check(`edge_auth_redis redis://:${CONF_PW}@127.0.0.1:6379/x;`, { match: /database/ }));
  // Regression: this error used to come without the file and line of "store redis".
  it('store redis without edge_auth_redis is rejected', () => check(client, { match: /"c" uses "store redis" but there is no edge_auth_redis in \S+nginx\.conf:\d+/ }));
  it('an unresolvable host is rejected (the password not echoed)', () =>
    check(`edge_auth_redis redis://:${CONF_PW}@no-such-host.invalid:6379;`, { match: /cannot resolve host "no-such-host\.invalid"/ }));
  it('bad timeout, unknown parameter, duplicate directive are rejected', async () => {
    await check(`edge_auth_redis redis://:${CONF_PW}@127.0.0.1:6379 timeout=0;`, { match: /invalid timeout/ });
    await check(`edge_auth_redis redis://:${CONF_PW}@127.0.0.1:6379 timeout=soon;`, { match: /invalid timeout/ });
    await check(`edge_auth_redis redis://:${CONF_PW}@127.0.0.1:6379 pool=4;`, { match: /invalid parameter "pool=4"/ });
    await check(`edge_auth_redis redis://:${CONF_PW}@127.0.0.1:6379;\n    edge_auth_redis redis://127.0.0.1:6380;`, { match: /duplicate/ });
  });
  it('a password env: reference that is not set is rejected, naming the variable', () =>
    check(`edge_auth_redis redis://:env:EA_NO_SUCH_PW_VAR@127.0.0.1:6379;`, { match: /EA_NO_SUCH_PW_VAR/ }));
  it('edge_auth_session_secret shorter than 32 bytes is rejected (not echoed)', async () => {
    const short = CONF_PW.slice(0, 20);
    const res = await check(`edge_auth_session_secret ${short};`, { match: /at least 32 bytes/ });
    assert.ok(!res.output.includes(short));
  });
  it('valid configurations are accepted (no connection at -t)', async () => {
    await check(`edge_auth_redis redis://:${CONF_PW}@127.0.0.1:6379/2 prefix=app: timeout=1s;\n    edge_auth_session_secret ${SESSION_SECRET};\n${client}`, { ok: true });
    await check(`edge_auth_redis redis://localhost;\n${client}`, { ok: true });
    await check(`edge_auth_redis redis://user:${CONF_PW}@[::1]:6390;`, { ok: true });
  });
});
