// bench/faults: faults injected while a steady load runs (issue 7). Each fault is
// one row: the codes seen while it lasted, codes outside the expected set, and
// the recovery time after it was removed; after each row the error log is read
// for alert/crit/emerg lines and workers that exited on a signal. Writes
// bench/.tmp/faults.json. See bench/README.md.
//
// A row: every stream (a location with its credentials) gets RATE requests per
// second from bench/lib/load.mjs for BASE s, then the fault is injected for FAULT s,
// then removed; the load goes on until every stream has recovered (at least AFTER s,
// at most MAX_AFTER s). Before the fault a stream must see only its `good` codes,
// during it only its `during` codes (answered within `maxLatency`), after it
// `during` codes until it recovers and `good` ones after that.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startTokenEndpoint, oauthClient } from '../../t/lib/token-endpoint.mjs';
import { startJwksServer, genKey, sign, now } from '../../t/lib/jwks-server.mjs';
import { startFakeOp } from '../../t/lib/fake-op.mjs';
import { startRedis } from '../../t/lib/redis.mjs';
import { htpasswdLine } from '../../t/lib/htpasswd.mjs';
import { TMP, runDir, startNginx, scanLog, metrics, metricSum, sleep } from './nginx.mjs';
import { startLoad, analyse, codeList } from './load.mjs';
import { loginCookie, mdTable } from './common.mjs';

const env = (name, dflt) => (process.env[name] === undefined || process.env[name] === '' ? dflt : process.env[name]);
const QUICK = process.argv.includes('--quick') || env('FAULTS_QUICK', '0') === '1';
const BASE_S = Number(env('FAULTS_BASE', QUICK ? 2 : 3));
const FAULT_S = Number(env('FAULTS_PERIOD', QUICK ? 6 : 12));
const AFTER_S = Number(env('FAULTS_AFTER', QUICK ? 4 : 6));
const MAX_AFTER_S = 30;
const RATE = Number(env('FAULTS_RATE', 100));
const WORKERS = 2;
const ONLY = env('FAULTS_ONLY', '') ? env('FAULTS_ONLY', '').split(',') : null;

const log = (...a) => console.log(...a);
const t0 = Date.now();
const dir = runDir('faults');
const rnd = (n = 12) => crypto.randomBytes(n).toString('base64url');

// ---- the stack -------------------------------------------------------------------
const te = await startTokenEndpoint();
for (const c of ['ok', 'slow', 'e500', 'garbage', 'redis', 'park']) te.set(c, 'ok', { expiresIn: c === 'ok' ? 3600 : 4 });
let teDown = await startTokenEndpoint();
const teDownPort = teDown.port;
teDown.set('down', 'ok', { expiresIn: 4 });
let jsRot = await startJwksServer();
const jsRotPort = jsRot.port;
const k1 = genKey('RS256', { kid: 'rot-1' });
const k2 = genKey('RS256', { kid: 'rot-2' });
jsRot.set('rot', { keys: [k1] });
const redisDir = path.join(dir, 'redis');
fs.mkdirSync(redisDir, { recursive: true });
// A Redis that keeps its data across a crash (append-only file, fsync always), as a
// production one would: the sessions it held are still there after the restart.
const redis = await startRedis({ args: ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', redisDir] });
const OIDC_SECRET = rnd();
const op = await startFakeOp({ clientId: 'faults', clientSecret: OIDC_SECRET });

const PW = { alice: `pw-${rnd(6)}` };
const BEARER = `bearer-${rnd()}`;
const HS_SECRET = rnd(36);
const ZONE_USERS = 3000;
const zoneUsers = Array.from({ length: ZONE_USERS }, (_, i) => [`zu${i}`, `zp-${i}-${rnd(4)}`]);

const backend = await startNginx({
  dir,
  name: 'backend',
  module: false,
  logLevel: 'warn',
  http: ({ port }) => `
    server {
        listen 127.0.0.1:${port} backlog=4096;
        default_type text/plain;
        location ~ ^/z?oauth { if ($http_authorization !~ "^Bearer tok-") { return 418 "no upstream token\\n"; } return 200 "ok\\n"; }
        location / { if ($http_x_edge_user = "") { return 418 "no user\\n"; } return 200 "ok\\n"; }
    }`,
});

const user = 'edge_auth_upstream_header X-Edge-User $edge_auth_user;';
const client = (name, extra = {}) =>
  oauthClient(name, { token_url: te.url(name), client_id: `id-${name}`, client_secret: `secret-${name}`, ...extra });
const edge = await startNginx({
  dir,
  name: 'edge',
  workers: WORKERS,
  keepaliveRequests: 1000,
  files: {
    htpasswd: htpasswdLine('alice', PW.alice, 'bcrypt', { cost: 5 }) + '\n',
    'htpasswd-slow': htpasswdLine('slow', `pw-${rnd(6)}`, 'bcrypt', { cost: 10 }) + '\n',
    'session.key': rnd(36),
  },
  http: ({ port, path: p }) => `
    upstream backend { server 127.0.0.1:${backend.port}; keepalive 32; }
    edge_auth_session_secret file:${p('session.key')};
    edge_auth_redis redis://127.0.0.1:${redis.port} timeout=200ms;
${client('ok')}
${oauthClient('down', { token_url: teDown.url('down'), client_id: 'id-down', client_secret: 'secret-down', timeout: '2s', retries: 2 })}
${client('slow', { timeout: '5s' })}
${client('e500', { timeout: '2s', retries: 2 })}
${client('garbage', { timeout: '2s' })}
${client('redis', { timeout: '2s', store: 'redis' })}
${client('park', { timeout: '5s', retries: 1 })}
    edge_auth_oidc_provider op {
        issuer ${op.issuer}; client_id faults; client_secret ${OIDC_SECRET}; cookie_secure off;
    }
    edge_auth_oidc_provider rop {
        issuer ${op.issuer}; client_id faults; client_secret ${OIDC_SECRET}; cookie_secure off;
        session_store redis; cookie_name rsess; endpoint_prefix /oauth2r;
    }
    server {
        listen 127.0.0.1:${port} backlog=4096;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        location /basic/ { edge_auth basic; edge_auth_user_file ${p('htpasswd')}; ${user} proxy_pass http://backend; }
        location /basic-slow/ { edge_auth basic; edge_auth_user_file ${p('htpasswd-slow')}; ${user} proxy_pass http://backend; }
        location /bearer/ { edge_auth bearer; edge_auth_token ${BEARER} label=svc; ${user} proxy_pass http://backend; }
        location /jwt-static/ { edge_auth jwt; edge_auth_jwt_secret ${HS_SECRET}; ${user} proxy_pass http://backend; }
        location /jwt-rot/ {
            edge_auth jwt; edge_auth_jwt_keys ${jsRot.url('rot')} ttl=5s refresh_min=1s; edge_auth_jwt_algorithms RS256;
            ${user} proxy_pass http://backend;
        }
        location /session/ { edge_auth oidc; edge_auth_oidc op; ${user} proxy_pass http://backend; }
        location /session-redis/ { edge_auth oidc; edge_auth_oidc rop; ${user} proxy_pass http://backend; }
        location /oauth-ok/ { edge_auth_upstream_oauth ok; proxy_pass http://backend; }
        location /oauth-down/ { edge_auth_upstream_oauth down; proxy_pass http://backend; }
        location /oauth-slow/ { edge_auth_upstream_oauth slow; proxy_pass http://backend; }
        location /oauth-e500/ { edge_auth_upstream_oauth e500; proxy_pass http://backend; }
        location /oauth-garbage/ { edge_auth_upstream_oauth garbage; proxy_pass http://backend; }
        location /oauth-redis/ { edge_auth_upstream_oauth redis; proxy_pass http://backend; }
        location /oauth-park/ { edge_auth_upstream_oauth park; proxy_pass http://backend; }
        location = /metrics { edge_auth_status; }
    }`,
});

// The zone row has an nginx of its own with the smallest useful zone.
const small = await startNginx({
  dir,
  name: 'small-zone',
  workers: WORKERS,
  keepaliveRequests: 1000,
  files: { htpasswd: zoneUsers.map(([u, pw]) => htpasswdLine(u, pw, 'sha')).join('\n') + '\n' },
  http: ({ port, path: p }) => `
    upstream backend { server 127.0.0.1:${backend.port}; keepalive 32; }
    edge_auth_zone 64k;
${oauthClient('zo', { token_url: te.url('ok'), client_id: 'id-zo', client_secret: 'secret-zo' })}
    server {
        listen 127.0.0.1:${port} backlog=4096;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        location /zjwt/ { edge_auth jwt; edge_auth_jwt_secret ${HS_SECRET}; ${user} proxy_pass http://backend; }
        location /zbasic/ { edge_auth basic; edge_auth_user_file ${p('htpasswd')}; ${user} proxy_pass http://backend; }
        location /zoauth/ { edge_auth_upstream_oauth zo; proxy_pass http://backend; }
        location = /metrics { edge_auth_status; }
    }`,
});

// ---- credentials -------------------------------------------------------------------
const sessionCookie = await loginCookie(edge.url('/session/'));
const redisCookie = await loginCookie(edge.url('/session-redis/'));
const hsKey = { alg: 'HS256', kid: undefined, secret: Buffer.from(HS_SECRET) };
const staticJwt = await sign(hsKey, { sub: 'static', exp: now() + 3600 }, { header: { kid: undefined } });
const rotOld = await sign(k1, { sub: 'old-key', exp: now() + 3600 });
const rotNew = await sign(k2, { sub: 'new-key', exp: now() + 3600 });
const rotUnknown = await sign(genKey('RS256', { kid: 'rot-unpublished' }), { sub: 'unknown-key', exp: now() + 3600 });
const basicAuth = (u, pw) => `Basic ${Buffer.from(`${u}:${pw}`).toString('base64')}`;
const H = {
  basic: { authorization: basicAuth('alice', PW.alice) },
  bearer: { authorization: `Bearer ${BEARER}` },
  jwt: { authorization: `Bearer ${staticJwt}` },
  session: { cookie: sessionCookie, accept: 'application/json' },
  redisSession: { cookie: redisCookie, accept: 'application/json' },
};

// ---- rows ------------------------------------------------------------------------------
const rows = [];

/**
 * One fault. streams: [{ label, url, headers, during, good, maxLatency, atFault }]
 * (atFault: the stream starts with the fault). inject/remove: async functions.
 * faultFor: async function that lasts the fault (default: sleep FAULT_S).
 */
async function row({ name, streams, inject, remove, faultFor, note, target = edge }) {
  if (ONLY && !ONLY.some((o) => name.includes(o))) return;
  const logAt = target.errorLog().length;
  const edgeLogAt = edge.errorLog().length;
  const pidsBefore = target.workers().map((w) => w.pid).join(',');
  const loads = new Map();
  const begin = (s) => loads.set(s, startLoad({ url: s.url, headers: s.headers ?? {}, rate: s.rate ?? RATE, timeout: 15_000 }));
  for (const s of streams) if (!s.atFault) begin(s);
  await sleep(BASE_S * 1000);

  const faultStart = Date.now();
  const ctx = { loads };
  await inject(ctx);
  for (const s of streams) if (s.atFault) begin(s);
  if (faultFor) await faultFor(ctx);
  else await sleep(FAULT_S * 1000);
  const faultEnd = Date.now();
  await remove(ctx);

  const verdict = () =>
    streams.map((s) =>
      analyse(loads.get(s).records, { faultStart, faultEnd, during: s.during, good: s.good, maxLatency: s.maxLatency ?? 5000 }),
    );
  const deadline = faultEnd + MAX_AFTER_S * 1000;
  for (;;) {
    await sleep(500);
    const sinceEnd = Date.now() - faultEnd;
    if (sinceEnd >= AFTER_S * 1000 && verdict().every((v) => v.recoveryMs !== null)) break;
    if (Date.now() > deadline) break;
  }
  await Promise.all([...loads.values()].map((l) => l.stop()));
  await sleep(300);

  const results = verdict();
  const scan = scanLog(target.errorLog().slice(logAt));
  const edgeScan = target === edge ? scan : scanLog(edge.errorLog().slice(edgeLogAt));
  const pidsAfter = target.workers().map((w) => w.pid).join(',');
  const unexpected = streams
    .map((s, i) => (Object.keys(results[i].unexpected).length ? `${s.label}: ${codeList(results[i].unexpected)}` : ''))
    .filter(Boolean);
  const recoveries = results.map((r) => r.recoveryMs);
  const recovery = recoveries.includes(null) ? null : Math.max(...recoveries);
  const retried = [...loads.values()].reduce((n, l) => n + l.retried, 0);
  const r = {
    fault: name,
    seen: streams.map((s, i) => `${s.label}: ${codeList(results[i].seen)}`).join('; '),
    unexpected: unexpected.length ? unexpected.join('; ') : 'none',
    recoveryMs: recovery,
    recovery: recovery === null ? 'NOT RECOVERED' : `${(recovery / 1000).toFixed(1)} s`,
    alerts: scan.alert + scan.crit + scan.emerg + (target === edge ? 0 : edgeScan.alert + edgeScan.crit + edgeScan.emerg),
    signalExits: scan.signalExits.length + (target === edge ? 0 : edgeScan.signalExits.length),
    severe: [...scan.severe, ...scan.signalExits].slice(0, 5),
    workersReplaced: name.startsWith('nginx -s reload') ? null : pidsBefore !== pidsAfter,
    maxLatencyMs: Math.max(...results.map((x) => x.maxFaultLatency)),
    retriedResets: retried,
    streams: streams.map((s, i) => ({ label: s.label, during: s.during, good: s.good, ...results[i] })),
    note: typeof note === 'function' ? note(ctx, results) : note ?? '',
  };
  r.ok = unexpected.length === 0 && recovery !== null && r.alerts === 0 && r.signalExits === 0 && r.workersReplaced !== true;
  rows.push(r);
  const firsts = streams
    .map((s, i) => (results[i].firstOtherMs === null ? '' : `${s.label}: first non-${s.good.join('/')} ${(results[i].firstOtherMs / 1000).toFixed(1)} s into it`))
    .filter(Boolean);
  const lat = streams
    .map((s, i) => `${s.label}: ${Object.entries(results[i].latency).map(([c, l]) => `${c} p50 ${l.p50} / p99 ${l.p99} / max ${l.max} ms`).join(', ')}`)
    .join('; ');
  log(`${r.ok ? 'ok  ' : 'FAIL'} ${name}: seen ${r.seen}; unexpected ${r.unexpected}; recovery ${r.recovery}; ` +
    `answer times during the fault: ${lat}${firsts.length ? `; ${firsts.join(', ')}` : ''}; ` +
    `alerts ${r.alerts}, signal exits ${r.signalExits}${r.note ? `; ${r.note}` : ''}`);
  for (const l of r.severe) log(`       ${l}`);
  for (const [i, s] of streams.entries()) for (const e of results[i].examples) log(`       ${s.label}: ${e.code} sent at ${(e.at / 1000).toFixed(2)} s (fault at 0), took ${e.ms} ms` +
    (e.reused === undefined ? '' : ` (${e.reused ? 'a kept-alive' : 'a new'} connection, after ${e.resends} resends)`));
}

const url = (p) => edge.url(p);
const tokenRow = (name, mode, opts, label, during, maxLatency) =>
  row({
    name,
    streams: [{ label, url: url(`/oauth-${label}/`), during, good: [200], maxLatency }],
    inject: async () => te.set(label, mode, { expiresIn: 4, ...opts }),
    remove: async () => te.set(label, 'ok', { expiresIn: 4 }),
    note: () => `token requests ${te.hits(label)}`,
  });

log(`faults: ${RATE} req/s per stream, ${BASE_S} s before each fault, ${FAULT_S} s of fault, then until recovered ` +
  `(at least ${AFTER_S} s, at most ${MAX_AFTER_S}); nginx with ${WORKERS} workers; upstream tokens live 4 s`);

await row({
  name: 'token endpoint down (connection refused)',
  streams: [{ label: 'down', url: url('/oauth-down/'), during: [200, 502], good: [200], maxLatency: 3000 }],
  inject: async () => {
    await teDown.close();
  },
  remove: async () => {
    teDown = await startTokenEndpoint({ port: teDownPort });
    teDown.set('down', 'ok', { expiresIn: 4 });
  },
  note: '502 once the cached token expired (timeout 2s, retries 2)',
});
await tokenRow('token endpoint slow (3 s)', 'slow', { delay: 3000 }, 'slow', [200], 4000);
await tokenRow('token endpoint 500', '500', {}, 'e500', [200, 502], 3000);
await tokenRow('token endpoint garbage (200, not JSON)', 'garbage', {}, 'garbage', [200, 502], 3000);

await row({
  name: 'JWKS endpoint down during a key rotation',
  streams: [
    { label: 'old kid', url: url('/jwt-rot/'), headers: { authorization: `Bearer ${rotOld}` }, during: [200], good: [200], maxLatency: 2000 },
    { label: 'new kid', url: url('/jwt-rot/'), headers: { authorization: `Bearer ${rotNew}` }, during: [401], good: [200], maxLatency: 6000, atFault: true },
  ],
  inject: async () => {
    await jsRot.close(); // down; the IdP rotates meanwhile: tokens with the new kid appear
  },
  remove: async () => {
    jsRot = await startJwksServer({ port: jsRotPort });
    jsRot.set('rot', { keys: [k1, k2] });
  },
  note: 'old-kid tokens on the last good keys; new-kid tokens 401 until the JWKS is back',
});

await row({
  name: 'Redis killed and restarted',
  streams: [
    { label: 'oauth store redis', url: url('/oauth-redis/'), during: [200], good: [200], maxLatency: 3000 },
    { label: 'session_store redis', url: url('/session-redis/'), headers: H.redisSession, during: [200, 503], good: [200], maxLatency: 3000 },
  ],
  inject: () => redis.kill(),
  remove: () => redis.restart(),
  note: 'sessions 503 while Redis is down; tokens from the zone and the IdP',
});

// The redis-server process listening on the port (for SIGSTOP/SIGCONT).
function redisPid() {
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmd;
    try {
      cmd = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    // redis-server retitles itself "redis-server 127.0.0.1:PORT"
    if (/redis-server/.test(cmd[0]) && (cmd[0].includes(`:${redis.port}`) || cmd[cmd.indexOf('--port') + 1] === String(redis.port))) return Number(entry);
  }
  throw new Error(`no redis-server on port ${redis.port}`);
}

await row({
  name: 'Redis frozen (SIGSTOP) and resumed',
  streams: [
    { label: 'oauth store redis', url: url('/oauth-redis/'), during: [200], good: [200], maxLatency: 3000 },
    { label: 'session_store redis', url: url('/session-redis/'), headers: H.redisSession, during: [200, 503], good: [200], maxLatency: 1500 },
  ],
  inject: async () => process.kill(redisPid(), 'SIGSTOP'),
  remove: async () => process.kill(redisPid(), 'SIGCONT'),
  note: 'every command times out after 200 ms: sessions 503, tokens from the zone',
});

await row({
  name: 'nginx -s reload ×10',
  streams: [
    { label: 'basic', url: url('/basic/'), headers: H.basic, during: [200], good: [200], maxLatency: 2000 },
    { label: 'bearer', url: url('/bearer/'), headers: H.bearer, during: [200], good: [200], maxLatency: 2000 },
    { label: 'jwt', url: url('/jwt-static/'), headers: H.jwt, during: [200], good: [200], maxLatency: 2000 },
    { label: 'session', url: url('/session/'), headers: H.session, during: [200], good: [200], maxLatency: 2000 },
    { label: 'oauth', url: url('/oauth-ok/'), during: [200], good: [200], maxLatency: 2000 },
    { label: 'oauth, fetch in flight', url: url('/oauth-slow/'), during: [200], good: [200], maxLatency: 3000 },
  ],
  inject: async () => {
    // tokens of 2 s fetched in 1 s: a fetch is in flight at most reloads
    te.set('slow', 'slow', { delay: 1000, expiresIn: 2 });
  },
  faultFor: async (ctx) => {
    ctx.times = [];
    for (let i = 0; i < 10; i++) {
      const a = Date.now();
      await edge.reload();
      ctx.times.push(Date.now() - a);
      await sleep(Math.max(0, (FAULT_S * 1000) / 10 - (Date.now() - a)));
    }
    const limit = Date.now() + 20_000;
    while (edge.children().length > WORKERS && Date.now() < limit) await sleep(100);
    ctx.leftover = edge.children().length - WORKERS;
  },
  remove: async () => te.set('slow', 'ok', { expiresIn: 4 }),
  note: (ctx) => `new workers up in ${Math.max(...ctx.times)} ms at most; old workers left after 20 s: ${ctx.leftover}; ` +
    `kept-alive requests resent after an old worker closed the connection: ${[...ctx.loads.values()].reduce((n, l) => n + l.retried, 0)}`,
});

// Zone filled: distinct JWTs and Basic users during the fault, one of each before and after.
const distinctJwts = [];
for (let i = 0; i < 4000; i++) distinctJwts.push(await sign(hsKey, { sub: `z${i}`, exp: now() + 3600, pad: 'x'.repeat(200) }, { header: { kid: undefined } }));
let flood = false;
let jn = 0;
let bn = 0;
await row({
  name: 'shared zone filled (64k zone, distinct JWTs and Basic users)',
  target: small,
  streams: [
    { label: 'jwt', url: small.url('/zjwt/'), headers: () => ({ authorization: `Bearer ${distinctJwts[flood ? jn++ % distinctJwts.length : 0]}` }), during: [200], good: [200], maxLatency: 2000, rate: RATE * 2 },
    { label: 'basic', url: small.url('/zbasic/'), headers: () => ({ authorization: basicAuth(...zoneUsers[flood ? bn++ % ZONE_USERS : 0]) }), during: [200], good: [200], maxLatency: 2000, rate: RATE * 2 },
    { label: 'oauth', url: small.url('/zoauth/'), during: [200], good: [200], maxLatency: 2000 },
  ],
  inject: async (ctx) => {
    flood = true;
    ctx.before = metricSum(await metrics(small.url('/metrics')), 'edge_auth_zone_bytes', { state: 'free' });
  },
  faultFor: async (ctx) => {
    ctx.minFree = Infinity;
    const until = Date.now() + FAULT_S * 1000;
    while (Date.now() < until) {
      await sleep(1000);
      ctx.minFree = Math.min(ctx.minFree, metricSum(await metrics(small.url('/metrics')), 'edge_auth_zone_bytes', { state: 'free' }));
    }
  },
  remove: async () => {
    flood = false;
  },
  note: (ctx) => `${jn} distinct JWTs, ${bn} Basic users; zone free ${ctx.before} -> ${ctx.minFree} bytes (whole free pages); ` +
    `"zone too small" lines ${(small.errorLog().match(/zone too small/g) ?? []).length}; token requests ${te.hits('ok')}`,
});

await row({
  name: 'clients disconnect while parked (token endpoint slow then hanging; JWKS hanging; bcrypt in the thread pool)',
  streams: [
    { label: 'parked, aborted at 0.5 s', url: url('/oauth-park/'), during: ['aborted', 200], good: [200], maxLatency: 6000 },
    { label: 'JWT of an unknown key, JWKS hanging, aborted at 0.5 s', url: url('/jwt-rot/'), headers: { authorization: `Bearer ${rotUnknown}` }, during: ['aborted', 401], good: [401], maxLatency: 6000 },
    { label: 'Basic, wrong password, bcrypt cost 10 in the thread pool, aborted at 20 ms', url: url('/basic-slow/'), headers: () => ({ authorization: basicAuth('slow', `wrong-${rnd(4)}`) }), during: ['aborted', 401], good: [401], maxLatency: 3000, rate: 10 },
    { label: 'bystander', url: url('/bearer/'), headers: H.bearer, during: [200], good: [200], maxLatency: 1000 },
  ],
  inject: async (ctx) => {
    const [parked, jwks, bcrypt] = ctx.loads.values();
    parked.setAbortAfter(500);
    jwks.setAbortAfter(500);
    bcrypt.setAbortAfter(20);
    te.set('park', 'slow', { delay: 3000, expiresIn: 2 });
    jsRot.set('rot', { mode: 'hang' }); // an unknown kid makes the worker refetch (once a second) and wait
  },
  faultFor: async () => {
    await sleep((FAULT_S * 1000) / 2);
    te.set('park', 'hang', { expiresIn: 2 });
    await sleep((FAULT_S * 1000) / 2);
  },
  remove: async (ctx) => {
    te.set('park', 'ok', { expiresIn: 2 });
    jsRot.set('rot', { mode: 'ok' });
    for (const l of ctx.loads.values()) l.setAbortAfter(0);
  },
  note: () => `the token endpoint answered 3 s after the clients left, then hung (timeout 5 s); token requests ${te.hits('park')}; JWKS requests ${jsRot.hits('rot')}`,
});

// ---- the end ----------------------------------------------------------------------------
const finalChecks = [];
for (const [p, h] of [['/basic/', H.basic], ['/bearer/', H.bearer], ['/session/', H.session], ['/oauth-ok/', {}], ['/jwt-rot/', { authorization: `Bearer ${rotNew}` }]]) {
  const res = await fetch(url(p), { headers: h });
  await res.arrayBuffer();
  finalChecks.push(`${p} ${res.status}`);
}
const stopAt = Date.now();
const stopped = await edge.stop();
const stopSmall = await small.stop();
const stopMs = Date.now() - stopAt;
await backend.stop();
await Promise.all([te.close(), teDown.close(), jsRot.close(), op.close(), redis.close()]);
const final = scanLog(edge.errorLog());
const finalSmall = scanLog(small.errorLog());

log('');
log(mdTable(
  ['fault', 'expected codes seen', 'unexpected codes', 'recovery'],
  rows.map((r) => [r.fault, r.seen, r.unexpected, r.recovery]),
));
log('');
log(`after the rows: ${finalChecks.join(', ')}; nginx -s quit took ${stopMs} ms${stopped.killed || stopSmall.killed ? ' (KILLED after 15 s)' : ''}`);
log(`whole run: ${final.alert + finalSmall.alert} alert, ${final.crit + finalSmall.crit} crit, ${final.emerg + finalSmall.emerg} emerg; ` +
  `workers exited on a signal: ${final.signalExits.length + finalSmall.signalExits.length}`);
for (const l of [...final.severe, ...final.signalExits, ...finalSmall.severe, ...finalSmall.signalExits].slice(0, 10)) log(`  ${l}`);

const result = {
  date: new Date().toISOString(),
  quick: QUICK,
  rate: RATE,
  baseSeconds: BASE_S,
  faultSeconds: FAULT_S,
  rows,
  finalChecks,
  quitMs: stopMs,
  killed: stopped.killed || stopSmall.killed,
  log: {
    alert: final.alert + finalSmall.alert,
    crit: final.crit + finalSmall.crit,
    emerg: final.emerg + finalSmall.emerg,
    signalExits: final.signalExits.length + finalSmall.signalExits.length,
  },
  totalSeconds: Math.round((Date.now() - t0) / 1000),
};
result.ok = rows.every((r) => r.ok) && !result.killed && result.log.signalExits === 0 && result.log.alert + result.log.crit + result.log.emerg === 0;
fs.writeFileSync(path.join(TMP, 'faults.json'), JSON.stringify(result, null, 1) + '\n');
log(`\nwritten: bench/.tmp/faults.json; logs and configs in bench/.tmp/faults/ (${result.totalSeconds} s in all)`);
process.exit(result.ok ? 0 : 1);
