// OIDC sessions in Redis (`session_store redis`, issue 5): two nginx nodes
// sharing one private redis-server and one OP (lib/fake-op.mjs, plain HTTP
// with a cookie jar):
// - a login on node A is a session on node B; the cookie holds only an id
//   (small, also for a 6 KB identity); nothing readable at rest in Redis;
// - sign out on one node ends the session everywhere (the old cookie value no
//   longer works); back-channel logout (a logout token for the OP session's sid)
//   ends it too, bad logout tokens are 400;
// - parallel requests on both nodes after the access token expired: one refresh;
// - Redis killed: 503 "session store unavailable" (no redirect loop, nginx keeps
//   serving other locations, a log line); Redis back: logins work again.
// No secret, token or cookie value in either node's log.

import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startStack, assertNoSecrets } from './lib/stack.mjs';
import { cookieJar, parseSetCookie } from './lib/cookie-jar.mjs';
import { startFakeOp } from './lib/fake-op.mjs';
import { startRedis } from './lib/redis.mjs';
import { request } from './lib/http.mjs';
import { SESSION_SECRET, SESSION_SECRET_LINE, COOKIE, provider, oidcLoc, loginRedirect, sessionCookies, isDeletion } from './lib/oidc.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const CLIENT_ID = 'edge-redis';
const CLIENT_SECRET = `cs-${crypto.randomBytes(18).toString('base64url')}`;
const PREFIX = `ea-oidc-${crypto.randomBytes(3).toString('hex')}:`;
const IDENTITY = {
  sub: 'alice',
  email: 'alice@example.test',
  email_verified: true,
  name: 'Alice Tester',
  preferred_username: 'alice',
  groups: ['admins', 'users'],
};

let op;
let redis;
let a;
let b;
const cookieValues = new Set();

function newJar() {
  return cookieJar([], {
    onResponse: (res) => {
      for (const sc of res.setCookies) {
        const { value } = parseSetCookie(sc);
        if (value.length >= 16) cookieValues.add(value);
      }
    },
  });
}

async function startNode() {
  return startStack({
    workers: 2,
    http: ({ port }) => `
    ${SESSION_SECRET_LINE}
    edge_auth_redis ${redis.url({ prefix: PREFIX, timeout: '300ms' })};
    ${provider('op', {
      issuer: op.issuer,
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      scopes: '"openid email profile groups"',
      session_store: 'redis',
      cookie_secure: 'off',
    })}
    server {
        listen 127.0.0.1:${port};
        ${oidcLoc('/private/', 'op', 'add_header X-Node $server_port always;')}
        location /plain/ { proxy_pass http://backend; }
    }`,
  });
}

before(async () => {
  op = await startFakeOp({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
  redis = await startRedis();
  a = await startNode();
  b = await startNode();
});

after(async () => {
  const stops = await Promise.allSettled([a?.stop(), b?.stop()]);
  await Promise.allSettled([op?.close(), redis?.close()]);
  const log = [a, b].filter(Boolean).map((s) => s.ngx.errorLog()).join('\n');
  assertNoSecrets(log, [CLIENT_SECRET, SESSION_SECRET, ...op.issued(), ...cookieValues]);
  const failed = stops.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
});

beforeEach(() => {
  op.reset();
  op.identity = { ...IDENTITY };
});

/** A whole login on `node` with a fresh jar; asserts it ends at the backend. */
async function login(node = a, path = '/private/') {
  const jar = newJar();
  const { res, chain } = await jar.follow(node.url(path));
  assert.deepEqual(chain.map((r) => r.status), [302, 302, 302, 200], `login chain: ${res.status} ${res.body.slice(0, 200)}`);
  return { jar, res, chain, cookie: jar.value(node.url('/'), COOKIE) };
}

const withCookie = (value, headers = {}) => ({ Cookie: `${COOKIE}=${value}`, ...headers });

describe('sessions in Redis', () => {
  it('a login on node A is a session on node B; the cookie holds only an id', async () => {
    const { chain, cookie, jar } = await login(a);
    const set = sessionCookies(chain[2]).filter((c) => !isDeletion(c));
    assert.equal(set.length, 1, 'one cookie, no chunks');
    assert.ok(cookie.length <= 200, `a small cookie (an id), got ${cookie.length} bytes`);
    const onB = await jar.get(b.url('/private/b'));
    assert.equal(onB.status, 200, onB.body);
    const seen = onB.json();
    assert.equal(seen.headers['x-auth-request-user'], 'alice');
    assert.equal(seen.headers['x-auth-request-email'], 'alice@example.test');
    assert.doesNotMatch(seen.headers.cookie ?? '', new RegExp(COOKIE));
    const auth = await jar.get(b.url('/oauth2/auth'));
    assert.equal(auth.status, 202);
    assert.equal(auth.headers['x-auth-request-user'], 'alice');
  });

  it('Redis holds the session sealed: no token, email or cookie value readable', async () => {
    const before = new Set(await redis.keys(`${PREFIX}*`));
    const { cookie } = await login(a);
    const added = (await redis.keys(`${PREFIX}*`)).filter((k) => !before.has(k));
    assert.ok(added.length >= 1, 'a session key was written');
    const tokens = op.tokenRequests.at(-1).answer;
    for (const key of added) {
      assert.ok(!key.includes(cookie), 'the cookie value is not the key itself');
      const type = (await redis.command('TYPE', key)).toString();
      if (type !== 'string') continue;
      const value = (await redis.command('GET', key)).toString('latin1');
      for (const secret of [tokens.access_token, tokens.refresh_token, tokens.id_token, 'alice@example.test'])
        assert.ok(!value.includes(secret), `${key} holds ${secret.slice(0, 12)}... in clear`);
      const ttl = Number(await redis.command('PTTL', key));
      assert.ok(ttl > 0, `${key} expires (PTTL ${ttl})`);
    }
  });

  it('a 6 KB identity stays in Redis: still one small cookie', async () => {
    op.identity = { ...IDENTITY, huge: 'h'.repeat(6 * 1024) };
    const { chain, cookie, jar } = await login(a);
    assert.equal(sessionCookies(chain[2]).filter((c) => !isDeletion(c)).length, 1);
    assert.ok(cookie.length <= 200, `${cookie.length} bytes`);
    assert.equal((await jar.get(b.url('/private/'))).status, 200);
  });

  it('sign out on B ends the session on A: the old cookie value no longer works', async () => {
    const { cookie, jar } = await login(a);
    assert.equal((await request(a.url('/private/'), { headers: withCookie(cookie) })).status, 200);
    const out = await jar.get(b.url('/oauth2/sign_out?rd=/plain/'));
    assert.equal(out.status, 302);
    assert.ok(sessionCookies(out).some(isDeletion));
    const replay = await request(a.url('/private/'), { headers: withCookie(cookie) });
    loginRedirect(replay, `${op.issuer}/authorize`);
    const xhr = await request(b.url('/private/'), { headers: withCookie(cookie, { 'X-Requested-With': 'XMLHttpRequest' }) });
    assert.equal(xhr.status, 401);
  });

  it('parallel requests on both nodes after the access token expired: all served, one refresh grant, none refused', async () => {
    op.set({ expiresIn: 2 });
    const { cookie } = await login(a);
    for (let round = 0; round < 2; round++) {
      await sleep(2600);
      const grants = op.refreshGrants().length;
      const reqs = [];
      for (let i = 0; i < 4; i++) {
        reqs.push(request(a.url(`/private/a${i}`), { headers: withCookie(cookie) }));
        reqs.push(request(b.url(`/private/b${i}`), { headers: withCookie(cookie) }));
      }
      const all = await Promise.all(reqs);
      assert.deepEqual(all.map((r) => r.status), Array(8).fill(200), `round ${round}: ${all.map((r) => r.status)}`);
      const used = op.refreshGrants().slice(grants);
      assert.equal(used.length, 1, `round ${round}: refresh grants ${used.map((u) => `${u.status} ${u.answer?.error_description ?? ''}`).join(', ')}`);
      // right after: both nodes at once (the new 2 s token may already want another refresh)
      const later = await Promise.all([a, b].map((n) => request(n.url('/private/x'), { headers: withCookie(cookie) })));
      assert.deepEqual(later.map((r) => r.status), [200, 200], `round ${round}, node A, node B: ${later.map((r) => r.status)}`);
      const refused = op.refreshGrants().filter((g) => g.status !== 200);
      assert.equal(refused.length, 0, `a refresh token redeemed twice: ${refused.map((g) => g.answer?.error_description).join(', ')}`);
    }
  });
});

describe('back-channel logout', () => {
  const post = (node, token) =>
    request(node.url('/oauth2/backchannel_logout'), {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ logout_token: token }).toString(),
    });
  const sidOf = (idToken) => JSON.parse(Buffer.from(idToken.split('.')[1], 'base64url')).sid;

  it('bad logout tokens are refused with 400 and end nothing', async () => {
    const { cookie } = await login(a);
    const sid = sidOf(op.tokenRequests.at(-1).answer.id_token);
    const bad = [
      await op.logoutToken({ sid, nonce: 'n' }),
      await op.logoutToken({ sid, events: false }),
      await op.logoutToken({ sid, aud: 'someone-else' }),
      await op.logoutToken({ sid, iss: 'http://127.0.0.1:1' }),
      (await op.logoutToken({ sid })).replace(/\.[^.]+$/, '.AAAA'),
      'not-a-jwt',
    ];
    for (const t of bad) {
      const res = await post(b, t);
      assert.equal(res.status, 400, `${res.status} for a bad logout token: ${res.body}`);
    }
    assert.equal((await request(a.url('/private/'), { headers: withCookie(cookie) })).status, 200, 'the session lives');
  });

  it('a logout token for the OP session ends it on both nodes', async () => {
    const { cookie } = await login(a);
    const other = await login(a); // another OP session: not ended
    const sid = sidOf(op.tokenRequests.at(-2).answer.id_token);
    assert.ok(sid, 'the fake OP puts sid in the ID token');
    const res = await post(b, await op.logoutToken({ sid }));
    assert.equal(res.status, 200, res.body);
    const after = [];
    for (const node of [a, b]) after.push((await request(node.url('/private/'), { headers: withCookie(cookie) })).status);
    assert.deepEqual(after, [302, 302], `node A, node B after a logout token posted to B: ${after.join(', ')} (302 = login again)`);
    assert.equal((await request(b.url('/private/'), { headers: withCookie(other.cookie) })).status, 200, 'another session is untouched');
  });
});

describe('Redis outage', () => {
  it('Redis killed: 503 "session store unavailable", no redirect loop, nginx keeps serving; Redis back: works again', async () => {
    const { cookie } = await login(a);
    const marks = [a, b].map((n) => n.logMark());
    // a login started before the outage, finished during it
    const pending = newJar();
    const first = await pending.get(a.url('/private/pending'));
    const atOp = await pending.get(first.headers.location);

    await redis.kill();
    for (const node of [a, b]) {
      const t0 = Date.now();
      const nav = await request(node.url('/private/'), { headers: withCookie(cookie) });
      assert.equal(nav.status, 503, `${nav.status} ${nav.headers.location ?? ''} ${nav.body}`);
      assert.equal(nav.headers.location, undefined, 'no redirect');
      assert.match(nav.headers['content-type'] ?? '', /^text\/plain/);
      assert.match(nav.body, /session store unavailable/);
      assert.ok(Date.now() - t0 < 3000, 'answered without hanging');
      const xhr = await request(node.url('/private/'), { headers: withCookie(cookie, { 'X-Requested-With': 'XMLHttpRequest' }) });
      assert.equal(xhr.status, 503);
      const auth = await request(node.url('/oauth2/auth'), { headers: withCookie(cookie) });
      assert.equal(auth.status, 503, 'forward-auth: 503, not 401 (a proxy would loop through login)');
      const plain = await request(node.url('/plain/'));
      assert.equal(plain.status, 200, 'other locations are served');
    }
    const cb = await pending.get(atOp.headers.location);
    assert.equal(cb.status, 503, `a callback during the outage: ${cb.status} ${cb.headers.location ?? ''}`);
    assert.equal(cb.headers.location, undefined);
    for (const mark of marks) assert.ok(mark().some((l) => /redis/i.test(l)), 'the outage is logged');

    await redis.restart(); // same port, empty data set
    let res;
    const deadline = Date.now() + 5000;
    do {
      res = await request(a.url('/private/'), { headers: withCookie(cookie) });
      if (res.status !== 503) break;
      await sleep(200);
    } while (Date.now() < deadline);
    assert.notEqual(res.status, 503, 'recovers once Redis is back');
    loginRedirect(res, `${op.issuer}/authorize`); // the data set is empty: log in again
    const again = await login(a);
    assert.equal((await again.jar.get(b.url('/private/'))).status, 200, 'shared again');
  });
});
