// bench/soak: a million mixed requests against nginx with two workers, while the
// upstream OAuth token expires every 5 s and the JWT signing key rotates every 10 s.
// Prints each worker's memory at the start and the end, the status histogram per
// request kind, the error log's alert/crit/emerg count and worker crashes; writes
// bench/.tmp/soak.json. See bench/README.md.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startTokenEndpoint, oauthClient } from '../../t/lib/token-endpoint.mjs';
import { startJwksServer } from '../../t/lib/jwks-server.mjs';
import { startFakeOp } from '../../t/lib/fake-op.mjs';
import { htpasswdLine } from '../../t/lib/htpasswd.mjs';
import { BENCH, TMP, runDir, startNginx, rss, metrics, metricSum, sleep } from './nginx.mjs';
import { loginCookie, rotatingKeys, fmtKb, mdTable } from './common.mjs';

const env = (name, dflt) => (process.env[name] === undefined || process.env[name] === '' ? dflt : process.env[name]);
const REQUESTS = Number(env('SOAK_REQUESTS', 1_000_000));
const WARMUP_S = Number(env('SOAK_WARMUP', 10)); // seconds of the same load before the start RSS
const CONNECTIONS = Number(env('SOAK_CONNECTIONS', 32));
const THREADS = Number(env('SOAK_THREADS', 2));
const WORKERS = Number(env('SOAK_WORKERS', 2));
// every 30 s at most (issue 7); a million requests now take about 25 s, so 10 s gives
// the run rotations to live through
const ROTATE_S = Number(env('SOAK_ROTATE', 10));
const TOKEN_LIFE = Number(env('SOAK_TOKEN_LIFE', 5));
const JWKS_TTL = 5; // s: the rotation publishes a key this long (+2 s) before signing with it
const SAMPLE_S = Number(env("SOAK_SAMPLE", 10));
const RSS_GOAL_KB = 1024;

const log = (...a) => console.log(...a);
const t0 = Date.now();
const dir = runDir('soak');

// ---- the stack -------------------------------------------------------------------
const te = await startTokenEndpoint();
te.set('soak', 'ok', { expiresIn: TOKEN_LIFE });
const js = await startJwksServer();
const ISS = 'https://idp.soak.test';
const AUD = 'soak-api';
const rot = rotatingKeys({ jwks: js, route: 'soak', mintOpts: { count: 20, iss: ISS, aud: AUD } });
const CLIENT_SECRET = crypto.randomBytes(18).toString('base64url');
const op = await startFakeOp({ clientId: 'soak', clientSecret: CLIENT_SECRET });

const TOKENS = ['soak-bearer-' + crypto.randomBytes(12).toString('hex'), 'soak-bearer-' + crypto.randomBytes(12).toString('hex')];
const KEYS = ['soak-key-' + crypto.randomBytes(12).toString('hex')];
const PASSWORDS = { alice: 'pw-' + crypto.randomBytes(6).toString('hex'), bob: 'pw-' + crypto.randomBytes(6).toString('hex') };

const backend = await startNginx({
  dir,
  name: 'backend',
  module: false,
  logLevel: 'warn',
  http: ({ port }) => `
    server {
        listen 127.0.0.1:${port} backlog=4096;
        default_type text/plain;
        # what edge_auth must have done: a token injected, a user named
        location /oauth/ { if ($http_authorization !~ "^Bearer tok-") { return 418 "no upstream token\\n"; } return 200 "ok\\n"; }
        location / { if ($http_x_edge_user = "") { return 418 "no user\\n"; } return 200 "ok\\n"; }
    }`,
});

const observe = `edge_auth_upstream_header X-Edge-User $edge_auth_user;`;
const edge = await startNginx({
  dir,
  name: 'edge',
  workers: WORKERS,
  logLevel: process.env.SOAK_LOG_LEVEL || 'notice',
  // nginx's default. Not more: nginx allocates a little from a connection's pool
  // for each request with headers beyond client_header_buffer_size (the 2.3 KB
  // session cookie) and frees it when the connection closes, so with 10^6 requests
  // per connection stock nginx alone (no module loaded) grows by ~80 bytes per such
  // request -- the reason keepalive_requests exists (see its documentation).
  keepaliveRequests: Number(env('SOAK_KEEPALIVE_REQUESTS', 1000)),
  files: {
    htpasswd: Object.entries(PASSWORDS)
      .map(([u, p]) => htpasswdLine(u, p, 'bcrypt', { cost: 5 }))
      .join('\n') + '\n',
    'session.key': crypto.randomBytes(36).toString('base64url'),
  },
  http: ({ port, path: p }) => `
    upstream backend { server 127.0.0.1:${backend.port}; keepalive 64; }
    edge_auth_session_secret file:${p('session.key')};
${oauthClient('soak', { token_url: te.url('soak'), client_id: 'soak-client', client_secret: CLIENT_SECRET })}
    edge_auth_oidc_provider op {
        issuer ${op.issuer};
        client_id soak;
        client_secret ${CLIENT_SECRET};
        cookie_secure off;
        scopes "openid email profile";
    }
    server {
        listen 127.0.0.1:${port} backlog=4096;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        add_header X-Kind $http_x_soak_kind always;
        edge_auth_oidc op;
        location /basic/ { edge_auth basic; edge_auth_user_file ${p('htpasswd')}; ${observe} proxy_pass http://backend; }
        location /bearer/ { edge_auth bearer; ${TOKENS.map((t, i) => `edge_auth_token ${t} label=svc${i};`).join(' ')} ${observe} proxy_pass http://backend; }
        location /apikey/ {
            edge_auth api_key; edge_auth_api_key_from header=X-API-Key query=api_key;
            edge_auth_token ${KEYS[0]} label=partner; ${observe} proxy_pass http://backend;
        }
        location /jwt/ {
            edge_auth jwt; edge_auth_jwt_keys ${js.url('soak')} ttl=${JWKS_TTL}s refresh_min=1s;
            edge_auth_jwt_algorithms RS256; edge_auth_jwt_issuer ${ISS}; edge_auth_jwt_audience ${AUD};
            ${observe} proxy_pass http://backend;
        }
        location /session/ { edge_auth oidc; edge_auth_identity_headers on; ${observe} proxy_pass http://backend; }
        location /oauth/ { edge_auth_upstream_oauth soak; proxy_pass http://backend; }
        location = /metrics { edge_auth_status; }
    }`,
});
const workers0 = edge.workers();
const base = edge.url('');

// ---- request kinds -----------------------------------------------------------------
const cookie = await loginCookie(edge.url('/session/'));
const basicHdr = (u) => `Authorization: Basic ${Buffer.from(`${u}:${PASSWORDS[u]}`).toString('base64')}`;
const jwtFile = path.join(dir, 'jwt.txt');
const writeTokens = (tokens) => {
  fs.writeFileSync(jwtFile + '.new', tokens.join('\n') + '\n');
  fs.renameSync(jwtFile + '.new', jwtFile);
};
writeTokens(await rot.tokens());

const SPEC = [
  // weight kind path headers...
  [4, 'basic', '/basic/a', basicHdr('alice')],
  [2, 'basic', '/basic/b', basicHdr('bob')],
  [3, 'bearer', '/bearer/a', `Authorization: Bearer ${TOKENS[0]}`],
  [3, 'bearer', '/bearer/b', `Authorization: Bearer ${TOKENS[1]}`],
  [4, 'apikey', '/apikey/h', `X-API-Key: ${KEYS[0]}`],
  [2, 'apikey', `/apikey/q?api_key=${KEYS[0]}&x=1`],
  [6, 'jwt', '/jwt/', '@jwt'],
  [6, 'session', '/session/', `Cookie: ${cookie}`, 'Accept: application/json'],
  [6, 'oauth', '/oauth/'],
  [1, 'denied', '/bearer/x', 'Authorization: Bearer wrong-token-0123456789'],
  [1, 'denied', '/jwt/x', '@badjwt'],
  [1, 'denied', '/apikey/x', 'X-API-Key: wrong-key-0123456789'],
  [1, 'denied', '/basic/x'],
];
const EXPECTED = { basic: [200], bearer: [200], apikey: [200], jwt: [200], session: [200], oauth: [200], denied: [401] };
// SOAK_KINDS=jwt,oauth keeps only those kinds (to find which one leaks)
const ONLY = env('SOAK_KINDS', '') ? new Set(env('SOAK_KINDS', '').split(',')) : null;
if (ONLY) SPEC.splice(0, SPEC.length, ...SPEC.filter((r) => ONLY.has(r[1])));
if (!SPEC.length) throw new Error(`SOAK_KINDS: no kind left of ${Object.keys(EXPECTED).join(', ')}`);
const specFile = path.join(dir, 'spec.tsv');
fs.writeFileSync(specFile, SPEC.map((r) => r.join('\t')).join('\n') + '\n');

// Each template once, with node's fetch, before anything is measured.
async function probe(p, headers) {
  const h = {};
  for (const line of headers) {
    const [k, ...v] = line.split(':');
    h[k] = v.join(':').trim();
  }
  const res = await fetch(base + p, { headers: h });
  await res.arrayBuffer();
  return res.status;
}
const firstJwt = fs.readFileSync(jwtFile, 'utf8').split('\n')[0];
for (const [, kind, p, ...headers] of SPEC) {
  const hs = headers.map((h) => (h === '@jwt' ? `Authorization: Bearer ${firstJwt}` : h === '@badjwt' ? `Authorization: Bearer ${firstJwt.slice(0, -30)}AAAA${firstJwt.slice(-26)}` : h));
  const status = await probe(p, hs);
  if (!EXPECTED[kind].includes(status)) throw new Error(`probe ${kind} ${p}: ${status}, expected ${EXPECTED[kind]}\n${edge.errorLog().slice(-2000)}`);
}

// ---- load ---------------------------------------------------------------------------
rot.start({ every: ROTATE_S * 1000, lead: (JWKS_TTL + 2) * 1000, keepOld: 12_000, onTokens: writeTokens });

/** wrk with bench/soak.lua until `requests` responses; resolves the parsed counts. */
function runWrk(label, requests, seconds = 3600) {
  return new Promise((resolve, reject) => {
    const out = path.join(dir, `wrk-${label}.txt`);
    const quota = requests ? Math.ceil(requests / THREADS) : 0;
    const doneMarks = Array.from({ length: THREADS }, (_, i) => `${out}.done${i + 1}`);
    const started = Date.now();
    const child = spawn('wrk', [`-t${THREADS}`, `-c${CONNECTIONS}`, `-d${seconds}s`, '--timeout', '10s', '-s', path.join(BENCH, 'soak.lua'), base], {
      env: { ...process.env, SOAK_SPEC: specFile, SOAK_JWT_FILE: jwtFile, SOAK_QUOTA: String(quota), SOAK_OUT: out },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.stderr.on('data', (d) => (text += d));
    // wrk sleeps for -d whatever its threads do: once every thread has its quota
    // (soak.lua's response() writes a mark), SIGINT ends it and runs done().
    let finished = 0;
    const poll = setInterval(() => {
      if (quota && !finished && doneMarks.every((f) => fs.existsSync(f))) {
        finished = Date.now();
        child.kill('SIGINT');
      }
    }, 100);
    child.on('exit', (code) => {
      clearInterval(poll);
      if (!fs.existsSync(out)) return reject(new Error(`wrk (${label}) exited ${code} without results:\n${text}`));
      const counts = {};
      const stats = {};
      for (const line of fs.readFileSync(out, 'utf8').split('\n').filter(Boolean)) {
        const parts = line.split(' ');
        if (parts.length === 3) (counts[parts[0]] ??= {})[parts[1]] = Number(parts[2]);
        else stats[parts[0]] = Number(parts[1]);
      }
      resolve({ counts, stats, seconds: ((finished || Date.now()) - started) / 1000, text });
    });
  });
}

const workerRss = () => Object.fromEntries(edge.workers().map((w) => [w.pid, rss(w.pid)]));

log(`soak: ${REQUESTS.toLocaleString('en')} requests (after ${WARMUP_S} s of warm-up), wrk -t${THREADS} -c${CONNECTIONS}, nginx ${WORKERS} workers;`);
log(`      upstream token life ${TOKEN_LIFE} s, JWT key rotation every ${ROTATE_S} s, JWKS ttl ${JWKS_TTL} s`);
const warm = await runWrk('warmup', 0, WARMUP_S);
const warmN = Object.values(warm.counts).reduce((n, h) => n + Object.values(h).reduce((a, b) => a + b, 0), 0);
log(`warm-up: ${warmN.toLocaleString('en')} requests in ${WARMUP_S} s`);
await sleep(1000);
const rssStart = workerRss();
const mBefore = await metrics(edge.url('/metrics'));
const teHits0 = te.hits('soak');
const jsHits0 = js.hits('soak');
const rot0 = rot.rotations;

const samples = [];
const sampler = setInterval(() => samples.push({ at: Math.round((Date.now() - tMain) / 1000), rss: workerRss() }), SAMPLE_S * 1000);
const tMain = Date.now();
const main = await runWrk('main', REQUESTS);
clearInterval(sampler);
const wall = (Date.now() - tMain) / 1000;
await sleep(1000);
const rssEnd = workerRss();
const mAfter = await metrics(edge.url('/metrics'));
rot.stop();

// ---- results ------------------------------------------------------------------------
const kinds = Object.keys(EXPECTED).filter((k) => !ONLY || ONLY.has(k));
const histogram = {};
let total = 0;
let unexpectedTotal = 0;
for (const [kind, byStatus] of Object.entries(main.counts)) {
  histogram[kind] = byStatus;
  for (const [status, n] of Object.entries(byStatus)) {
    total += n;
    if (!EXPECTED[kind]?.includes(Number(status))) unexpectedTotal += n;
  }
}
const socketErrors = ['connect', 'read', 'write', 'timeout'].reduce((n, k) => n + (main.stats[`errors_${k}`] ?? 0), 0);

// The module's own counters over the same window (it also counts the requests wrk
// had in flight when its threads stopped: at most one per connection).
const delta = (name, labels) => metricSum(mAfter, name, labels) - metricSum(mBefore, name, labels);
const allowed = ['/basic/', '/bearer/', '/apikey/', '/jwt/', '/session/'].reduce((n, l) => n + delta('edge_auth_requests_total', { location: l, outcome: 'allowed' }), 0);
const denied = delta('edge_auth_requests_total', { outcome: 'denied_401' });
const oauthInj = delta('edge_auth_upstream_injections_total', { kind: 'oauth' });
const sum200 = (ks) => ks.reduce((n, k) => n + (histogram[k]?.['200'] ?? 0), 0);
const cross = [
  ['allowed decisions', allowed, sum200(['basic', 'bearer', 'apikey', 'jwt', 'session'])],
  ['denied_401 decisions', denied, histogram.denied?.['401'] ?? 0],
  ['oauth injections', oauthInj, sum200(['oauth'])],
].map(([what, counted, seen]) => ({ what, counted, seen, ok: counted >= seen && counted - seen <= CONNECTIONS }));

const scan = edge.logScan();
const workers1 = edge.workers();
const samePids = workers0.map((w) => w.pid).join(',') === workers1.map((w) => w.pid).join(',');
const tokenFetches = te.hits('soak') - teHits0;
const jwksFetches = js.hits('soak') - jsHits0;
const fetchErrors = delta('edge_auth_token_fetches_total', { result: 'error' }) + delta('edge_auth_jwks_fetches_total', { result: 'error' });

const rssRows = Object.keys(rssStart).map((pid) => {
  const a = rssStart[pid];
  const b = rssEnd[pid] ?? { vmRss: NaN, rssAnon: NaN };
  return { pid: Number(pid), start: a, end: b, growthKb: b.vmRss - a.vmRss, anonGrowthKb: b.rssAnon - a.rssAnon };
});
const maxGrowth = Math.max(...rssRows.map((r) => r.growthKb));
const rssOk = rssRows.every((r) => r.growthKb < RSS_GOAL_KB);

log('');
log(`main run: ${total.toLocaleString('en')} responses in ${wall.toFixed(1)} s (${Math.round(total / wall).toLocaleString('en')} req/s); ` +
  `latency p50 ${(main.stats.latency_p50_us / 1000).toFixed(2)} ms, p99 ${(main.stats.latency_p99_us / 1000).toFixed(2)} ms, max ${(main.stats.latency_max_us / 1000).toFixed(0)} ms`);
log(`during it: ${tokenFetches} upstream token fetches, ${jwksFetches} JWKS fetches, ${rot.rotations - rot0} key rotations; fetch errors counted by the module: ${fetchErrors}`);
log('');
log(mdTable(
  ['worker', 'VmRSS start', 'VmRSS end', 'growth', 'of which heap (RssAnon)'],
  rssRows.map((r) => [r.pid, `${r.start.vmRss} kB`, `${r.end.vmRss} kB`, `${r.growthKb >= 0 ? '+' : ''}${r.growthKb} kB`, `${r.anonGrowthKb >= 0 ? '+' : ''}${r.anonGrowthKb} kB`]),
));
if (samples.length) {
  log(`VmRSS every ${SAMPLE_S} s (kB): ` + Object.keys(rssStart).map((pid) => `${pid}: ${samples.map((s) => s.rss[pid]?.vmRss ?? '-').join(' ')}`).join('; '));
}
log('');
log(mdTable(
  ['kind', 'expected', 'responses', 'unexpected'],
  kinds.map((k) => {
    const h = histogram[k] ?? {};
    const bad = Object.entries(h).filter(([s]) => !EXPECTED[k].includes(Number(s)));
    return [k, EXPECTED[k].join('/'), Object.entries(h).map(([s, n]) => `${s}: ${n}`).join(', ') || '—', bad.length ? bad.map(([s, n]) => `${s}: ${n}`).join(', ') : 'none'];
  }).concat(Object.keys(histogram).filter((k) => !kinds.includes(k)).map((k) => [k, '—', JSON.stringify(histogram[k]), 'all'])),
));
log(`socket errors (connect/read/write/timeout): ${['connect', 'read', 'write', 'timeout'].map((k) => main.stats[`errors_${k}`]).join('/')}`);
for (const c of cross) log(`edge_auth_status ${c.what}: ${c.counted} (wrk saw ${c.seen})${c.ok ? '' : '  MISMATCH'}`);
log(`error log: ${scan.alert} alert, ${scan.crit} crit, ${scan.emerg} emerg; workers exited on a signal: ${scan.signalExits.length}; same worker pids at the end: ${samePids ? 'yes' : 'NO'}`);
for (const l of [...scan.severe, ...scan.signalExits].slice(0, 10)) log(`  ${l}`);

const goals = {
  rss: rssOk,
  codes: unexpectedTotal === 0 && socketErrors === 0,
  alerts: scan.alert + scan.crit + scan.emerg === 0,
  crashes: scan.signalExits.length === 0 && samePids,
  metrics: cross.every((c) => c.ok),
};
log('');
log(`goals: RSS growth < 1 MB per worker: ${rssOk ? 'met' : 'MISSED'} (largest ${maxGrowth} kB); only expected codes: ${goals.codes ? 'met' : 'MISSED'} ` +
  `(${unexpectedTotal} unexpected, ${socketErrors} socket errors); alerts 0: ${goals.alerts ? 'met' : 'MISSED'}; no worker crash: ${goals.crashes ? 'met' : 'MISSED'}`);

const result = {
  date: new Date().toISOString(),
  requests: total,
  requested: REQUESTS,
  warmupSeconds: WARMUP_S,
  warmupRequests: warmN,
  wallSeconds: Number(wall.toFixed(1)),
  rps: Math.round(total / wall),
  connections: CONNECTIONS,
  workers: WORKERS,
  tokenLife: TOKEN_LIFE,
  rotateEvery: ROTATE_S,
  tokenFetches,
  jwksFetches,
  rotations: rot.rotations - rot0,
  rss: rssRows,
  rssSamples: samples,
  maxGrowthKb: maxGrowth,
  histogram,
  expected: EXPECTED,
  unexpected: unexpectedTotal,
  socketErrors,
  latency: { p50us: main.stats.latency_p50_us, p99us: main.stats.latency_p99_us, maxus: main.stats.latency_max_us },
  metricsCheck: cross,
  log: { alert: scan.alert, crit: scan.crit, emerg: scan.emerg, signalExits: scan.signalExits.length, severe: scan.severe.slice(0, 20) },
  samePids,
  goals,
  totalSeconds: Math.round((Date.now() - t0) / 1000),
  quick: process.env.SOAK_QUICK === '1',
};
fs.writeFileSync(path.join(TMP, 'soak.json'), JSON.stringify(result, null, 1) + '\n');
log(`\nwritten: bench/.tmp/soak.json; logs and configs in bench/.tmp/soak/ (${result.totalSeconds} s in all)`);

const stopped = await edge.stop();
await backend.stop();
await Promise.all([te.close(), js.close(), op.close()]);
const after = edge.logScan();
if (stopped.killed) log('nginx did not stop on QUIT within 15 s');
if (after.signalExits.length > scan.signalExits.length) log(`a worker crashed while stopping: ${after.signalExits.join('\n')}`);
process.exit(Object.values(goals).every(Boolean) && !stopped.killed ? 0 : 1);
