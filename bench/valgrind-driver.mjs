// bench/valgrind's driver: the stock nginx with build/ngx_http_edge_auth_module.so
// under valgrind memcheck (master_process off, one process), a configuration
// with every client authentication method and every upstream injection, a few
// thousand requests allowed and denied, clients that leave while their request
// waits (for a JWKS, a token, an introspection, a bcrypt hash), then QUIT and
// memcheck's verdict: zero errors, nothing definitely lost.
//
//   node bench/valgrind-driver.mjs            # bench/valgrind runs this
//   VALGRIND_REQUESTS=500 VALGRIND_LOG_LEVEL=info node bench/valgrind-driver.mjs
//
// Prints progress, then one line:
//   valgrind: 5004 requests (3740 allowed, 440 denied as expected, 0 unexpected), 28 clients left
//   while parked; memcheck: 0 errors, 0 bytes definitely lost in 0 blocks (bench/.tmp/valgrind/valgrind.log)
// writes build/valgrind-summary.txt ("N passed, N failed, R reports": requests with the
// expected status, the others, memcheck errors) and exits 1 unless all is clean.
//
// The helpers are the test suite's (t/lib): echo backend, JWKS server, fault-injecting
// token endpoint, scriptable OpenID provider; an RFC 7662 endpoint is defined here.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEcho } from '../t/lib/echo-backend.mjs';
import { startJwksServer, genKey, sign, now } from '../t/lib/jwks-server.mjs';
import { startTokenEndpoint, oauthClient } from '../t/lib/token-endpoint.mjs';
import { startFakeOp } from '../t/lib/fake-op.mjs';
import { cookieJar } from '../t/lib/cookie-jar.mjs';
import { htpasswdLine } from '../t/lib/htpasswd.mjs';
import { freePorts, canConnect } from '../t/lib/net.mjs';

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(BENCH, '..');
const MODULE = process.env.EDGE_AUTH_MODULE || path.join(REPO, 'build', 'ngx_http_edge_auth_module.so');
const NGINX = process.env.NGINX_BIN || '/usr/sbin/nginx';
const DIR = path.join(BENCH, '.tmp', 'valgrind');
const SUMMARY = path.join(REPO, 'build', 'valgrind-summary.txt');
const SUPP = path.join(REPO, 't', 'valgrind.supp');
const REQUESTS = Number(process.env.VALGRIND_REQUESTS || 5000);
const CONCURRENCY = Number(process.env.VALGRIND_CONCURRENCY || 4);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rnd = (n = 12) => crypto.randomBytes(n).toString('hex');
const log = (...a) => console.log('valgrind:', ...a);
const t0 = Date.now();
const secs = () => ((Date.now() - t0) / 1000).toFixed(0);

// ---- helpers ---------------------------------------------------------------------------
/** A small RFC 7662 endpoint: `active-*` tokens are active, others not; route `slow` answers after 1.5 s. */
async function startIntrospection() {
  let calls = 0;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      calls++;
      const token = new URLSearchParams(Buffer.concat(chunks).toString()).get('token') ?? '';
      const body = JSON.stringify(
        token.startsWith('active-')
          ? { active: true, sub: `svc-${token.slice(7, 12)}`, scope: 'api.read api.write', client_id: 'vg', exp: now() + 600 }
          : { active: false },
      );
      const answer = () => res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      if (req.url.startsWith('/slow/')) setTimeout(answer, 1500);
      else answer();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: (route) => `http://127.0.0.1:${port}/${route}/introspect`,
    calls: () => calls,
    close: () => new Promise((r) => (server.closeAllConnections(), server.close(r))),
  };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });

/** One request: { status, body, headers }. */
function request(url, { method = 'GET', headers = {}, body, keepAlive = true } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: keepAlive ? agent : false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.setTimeout(120_000, () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** A request whose client goes away after `ms` (nginx has parked it by then). Resolves when closed. */
function leave(url, headers, ms) {
  return new Promise((resolve) => {
    const req = http.request(url, { headers, agent: false });
    req.on('error', () => resolve());
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.end();
    setTimeout(() => {
      req.destroy();
      resolve();
    }, ms);
  });
}

// ---- the stack -------------------------------------------------------------------------
fs.rmSync(DIR, { recursive: true, force: true });
fs.mkdirSync(DIR, { recursive: true });
if (!fs.existsSync(MODULE)) throw new Error(`${MODULE} is missing: run make module first`);
fs.copyFileSync(MODULE, path.join(DIR, 'ngx_http_edge_auth_module.so')); // a rebuild during the run changes nothing

const echo = await startEcho();
const js = await startJwksServer();
const te = await startTokenEndpoint();
const ie = await startIntrospection();
const CLIENT_SECRET = rnd(18);
const op = await startFakeOp({ clientId: 'vg', clientSecret: CLIENT_SECRET });

const rsa = genKey('RS256');
const ec = genKey('ES256');
const other = genKey('RS256', { kid: rsa.kid }); // same kid, not published
js.set('vg', { keys: [rsa, ec] });
js.set('slow', { keys: [rsa], delay: 3000 }); // a request waits for this one (and its client leaves)
te.set('up', 'ok-jwt', { expiresIn: 3600, claims: { sub: 'gateway', tenant: 'acme' } });
te.set('short', 'ok', { expiresIn: 4 }); // refreshed ahead during the run
te.set('slow', 'slow', { delay: 3000 });
te.set('intro', 'ok');

const ISS = 'https://idp.vg.test';
const AUD = 'vg-api';
const TOKEN = 'vg-bearer-' + rnd();
const KEY = 'vg-key-' + rnd();
const PW = { alice: 'pw-' + rnd(4), bob: 'pw-' + rnd(4), carol: 'pw-' + rnd(4) };
const [port] = await freePorts(1);

fs.writeFileSync(
  path.join(DIR, 'htpasswd'),
  [htpasswdLine('alice', PW.alice, 'sha'), htpasswdLine('bob', PW.bob, 'ssha'), htpasswdLine('carol', PW.carol, 'bcrypt', { cost: 4 })].join('\n') + '\n',
);
fs.writeFileSync(path.join(DIR, 'session.key'), crypto.randomBytes(36).toString('base64url'));
for (const d of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) fs.mkdirSync(path.join(DIR, d));

const obs = `edge_auth_upstream_header X-Edge-User $edge_auth_user; add_header X-Err $edge_auth_error always;`;
fs.writeFileSync(
  path.join(DIR, 'nginx.conf'),
  `# generated by bench/valgrind-driver.mjs
load_module ${path.join(DIR, 'ngx_http_edge_auth_module.so')};
master_process off;
daemon off;
worker_processes 1;
pid ${DIR}/nginx.pid;
error_log ${DIR}/error.log ${process.env.VALGRIND_LOG_LEVEL || "notice"};
thread_pool vg threads=2;
events { worker_connections 512; }
http {
    access_log off;
    client_body_temp_path ${DIR}/client_body;
    proxy_temp_path ${DIR}/proxy;
    fastcgi_temp_path ${DIR}/fastcgi;
    uwsgi_temp_path ${DIR}/uwsgi;
    scgi_temp_path ${DIR}/scgi;
    edge_auth_zone 4m;
    edge_auth_thread_pool vg;
    edge_auth_session_secret file:${DIR}/session.key;
    upstream backend { server 127.0.0.1:${echo.port}; keepalive 8; }
${oauthClient('up', { token_url: te.url('up'), client_id: 'up', client_secret: 'up-' + CLIENT_SECRET, scope: 'api', forward_claim: 'X-Tenant tenant' })}
${oauthClient('short', { token_url: te.url('short'), client_id: 'short', client_secret: 'short-' + CLIENT_SECRET, auth_method: 'client_secret_post', refresh_before: '2s' })}
${oauthClient('slow', { token_url: te.url('slow'), client_id: 'slow', client_secret: 'slow-' + CLIENT_SECRET, timeout: '5s', retries: 0 })}
${oauthClient('intro', { token_url: te.url('intro'), client_id: 'intro', client_secret: 'intro-' + CLIENT_SECRET })}
    edge_auth_oidc_provider op {
        issuer ${op.issuer};
        client_id vg;
        client_secret ${CLIENT_SECRET};
        cookie_secure off;
        scopes "openid email profile";
    }
    server {
        listen 127.0.0.1:${port};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        edge_auth_oidc op;
        location /basic/ { edge_auth basic; edge_auth_user_file ${DIR}/htpasswd; ${obs} proxy_pass http://backend; }
        location /bearer/ { edge_auth bearer; edge_auth_token ${TOKEN} label=svc; ${obs} proxy_pass http://backend; }
        location /apikey/ {
            edge_auth api_key; edge_auth_api_key_from header=X-API-Key query=api_key;
            edge_auth_token ${KEY} label=partner; ${obs} proxy_pass http://backend;
        }
        location /multi/ {
            edge_auth basic bearer api_key jwt; edge_auth_user_file ${DIR}/htpasswd; edge_auth_token ${TOKEN} label=svc;
            edge_auth_api_key_from header=X-API-Key;
            edge_auth_jwt_keys ${js.url('vg')} ttl=60s refresh_min=1s; edge_auth_jwt_algorithms RS256 ES256;
            ${obs} proxy_pass http://backend;
        }
        location /jwt/ {
            edge_auth jwt; edge_auth_jwt_keys ${js.url('vg')} ttl=60s refresh_min=1s;
            edge_auth_jwt_algorithms RS256 ES256; edge_auth_jwt_issuer ${ISS}; edge_auth_jwt_audience ${AUD};
            edge_auth_require scope contains read;
            edge_auth_claim_header X-Tenant tenant;
            ${obs} edge_auth_upstream_header X-Roles $edge_auth_claim_realm_access__roles; proxy_pass http://backend;
        }
        location /jwt-slow/ { edge_auth jwt; edge_auth_jwt_keys ${js.url('slow')}; edge_auth_jwt_algorithms RS256; ${obs} proxy_pass http://backend; }
        location /introspect/ {
            edge_auth bearer introspect; edge_auth_token ${TOKEN} label=svc;
            edge_auth_introspection ${ie.url('fast')} client=intro cache=2s;
            edge_auth_require scope contains api.read;
            ${obs} proxy_pass http://backend;
        }
        location /introspect-slow/ { edge_auth introspect; edge_auth_introspection ${ie.url('slow')} client=intro cache=0; ${obs} proxy_pass http://backend; }
        location /inject/ {
            edge_auth_upstream_header X-Backend-Key file:${DIR}/session.key;
            edge_auth_upstream_header X-Client $http_x_client;
            edge_auth_upstream_query api_key "k-$arg_n";
            edge_auth_upstream_query drop "";
            edge_auth_upstream_basic svc "pw-$arg_n";
            proxy_pass http://backend;
        }
        location /oauth/ { edge_auth bearer; edge_auth_token ${TOKEN} label=svc; edge_auth_upstream_oauth up; proxy_pass http://backend; }
        location /oauth-short/ { edge_auth_upstream_oauth short; proxy_pass http://backend; }
        location /oauth-slow/ { edge_auth_upstream_oauth slow; proxy_pass http://backend; }
        location /session/ { edge_auth oidc; edge_auth_identity_headers on; ${obs} proxy_pass http://backend; }
        location = /metrics { edge_auth_status; }
    }
}
`,
);

// ---- nginx under memcheck ---------------------------------------------------------------
const vgArgs = [
  '--tool=memcheck',
  '--leak-check=full',
  '--show-leak-kinds=definite',
  '--errors-for-leak-kinds=definite',
  '--error-exitcode=99',
  '--track-origins=no',
  '--num-callers=40',
  '--keep-debuginfo=yes', // the module is dlclose()d before the leak check: keep its symbols
  `--log-file=${DIR}/valgrind.log`,
  ...(fs.existsSync(SUPP) ? [`--suppressions=${SUPP}`] : []),
  NGINX,
  '-p',
  `${DIR}/`,
  '-c',
  `${DIR}/nginx.conf`,
  '-e',
  `${DIR}/error.log`,
];
log(`starting nginx under memcheck (${DIR})`);
const child = spawn('valgrind', vgArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
let output = '';
child.stdout.on('data', (d) => (output += d));
child.stderr.on('data', (d) => (output += d));
let exited = null;
const exit = new Promise((resolve) => child.on('exit', (code, signal) => resolve((exited = { code, signal }))));
process.on('exit', () => {
  if (!exited) child.kill('SIGKILL');
});

const deadline = Date.now() + 120_000;
while (!(await canConnect(port))) {
  if (exited || Date.now() > deadline) {
    if (!exited) child.kill('SIGKILL');
    throw new Error(`nginx under valgrind did not start: ${JSON.stringify(exited)}\n${output}\n${fs.readFileSync(`${DIR}/error.log`, 'utf8')}`);
  }
  await sleep(200);
}
log(`listening after ${secs()} s`);

const url = (p) => `http://127.0.0.1:${port}${p}`;
const basicAuth = (u, p) => ({ Authorization: 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64') });
const bearer = (t) => ({ Authorization: `Bearer ${t}` });

// ---- tokens and sessions -------------------------------------------------------------------
const claims = (sub, extra = {}) => ({ sub, iss: ISS, aud: AUD, iat: now(), exp: now() + 900, scope: 'read write', tenant: 'acme', realm_access: { roles: ['a', 'b'] }, ...extra });
const goodJwts = [];
for (let i = 0; i < 8; i++) goodJwts.push(await sign(i % 2 ? ec : rsa, claims(`user-${i}`)));
const expired = await sign(rsa, claims('late', { exp: now() - 3600, iat: now() - 7200 }));
const noScope = await sign(rsa, claims('noscope', { scope: 'write' }));
const wrongKey = await sign(other, claims('forger'));
const wrongAud = await sign(rsa, claims('stranger', { aud: 'elsewhere' }));
const tampered = goodJwts[0].slice(0, -6) + (goodJwts[0].endsWith('AAAAAA') ? 'BBBBBB' : 'AAAAAA');

async function login(target = '/session/') {
  const jar = cookieJar();
  const { res } = await jar.follow(url(target), { headers: { Accept: 'text/html' } });
  if (res.status !== 200) throw new Error(`login ended with ${res.status}`);
  return { jar, cookie: jar.cookiesFor(url(target)).map((c) => `${c.name}=${c.value}`).join('; ') };
}
const sessions = [];
for (let i = 0; i < 4; i++) sessions.push(await login());
log(`${sessions.length} OIDC logins after ${secs()} s`);

// ---- the request mix ---------------------------------------------------------------------
// [weight, kind, expected status(es), () => [path, options]]
const n = () => Math.floor(Math.random() * 1000);
const MIX = [
  [6, 'basic sha', [200], () => ['/basic/a', { headers: basicAuth('alice', PW.alice) }]],
  [3, 'basic ssha', [200], () => ['/basic/b', { headers: basicAuth('bob', PW.bob) }]],
  [1, 'basic bcrypt (cached after the first)', [200], () => ['/basic/c', { headers: basicAuth('carol', PW.carol) }]],
  [2, 'basic wrong password', [401], () => ['/basic/x', { headers: basicAuth('alice', 'nope') }]],
  [1, 'basic malformed', [401, 400], () => ['/basic/y', { headers: { Authorization: 'Basic !!!not-base64' } }]],
  [1, 'basic none', [401], () => ['/basic/z', {}]],
  [5, 'bearer', [200], () => [`/bearer/${n()}`, { headers: bearer(TOKEN) }]],
  [2, 'bearer wrong', [401], () => ['/bearer/x', { headers: bearer('wrong-' + rnd(8)) }]],
  [3, 'api key header', [200], () => ['/apikey/h', { headers: { 'X-API-Key': KEY } }]],
  [3, 'api key query', [200], () => [`/apikey/q?api_key=${KEY}&n=${n()}`, {}]],
  [2, 'api key wrong', [401], () => ['/apikey/x?api_key=nope', {}]],
  [6, 'jwt', [200], () => [`/jwt/${n()}`, { headers: bearer(goodJwts[n() % goodJwts.length]) }]],
  [1, 'jwt expired', [401], () => ['/jwt/e', { headers: bearer(expired) }]],
  [1, 'jwt scope missing', [403], () => ['/jwt/s', { headers: bearer(noScope) }]],
  [1, 'jwt unknown signer', [401], () => ['/jwt/k', { headers: bearer(wrongKey) }]],
  [1, 'jwt wrong audience', [401], () => ['/jwt/a', { headers: bearer(wrongAud) }]],
  [1, 'jwt tampered', [401], () => ['/jwt/t', { headers: bearer(tampered) }]],
  [1, 'jwt garbage', [401], () => ['/jwt/g', { headers: bearer('a.b.c') }]],
  [3, 'multi', [200], () => ['/multi/', { headers: [basicAuth('alice', PW.alice), bearer(TOKEN), { 'X-API-Key': TOKEN }, bearer(goodJwts[1])][n() % 4] }]],
  [1, 'multi none', [401], () => ['/multi/', {}]],
  [4, 'introspect active', [200], () => ['/introspect/a', { headers: bearer(`active-${n() % 20}-token`) }]],
  [1, 'introspect inactive', [401], () => ['/introspect/i', { headers: bearer(`revoked-${n() % 5}`) }]],
  [1, 'introspect static token', [200], () => ['/introspect/s', { headers: bearer(TOKEN) }]],
  [4, 'inject', [200], () => [`/inject/${n()}?n=${n()}&drop=1&api_key=client`, { headers: { 'X-Client': `c${n()}` } }]],
  [1, 'inject POST', [200], () => ['/inject/post', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ n: n() }) }]],
  [4, 'oauth', [200], () => [`/oauth/${n()}`, { headers: bearer(TOKEN) }]],
  [1, 'oauth client not authenticated', [401], () => ['/oauth/x', {}]],
  [3, 'oauth short-lived', [200], () => [`/oauth-short/${n()}`, {}]],
  [6, 'session', [200], () => ['/session/', { headers: { Cookie: sessions[n() % sessions.length].cookie, Accept: 'application/json' } }]],
  [1, 'session none (API)', [401], () => ['/session/api', { headers: { Accept: 'application/json', 'X-Requested-With': 'XMLHttpRequest' } }]],
  [1, 'session none (browser)', [302], () => ['/session/page', { headers: { Accept: 'text/html' } }]],
  [1, 'session forged', [401, 302], () => ['/session/', { headers: { Cookie: `edge_auth_session=${rnd(40)}`, Accept: 'application/json', 'X-Requested-With': 'XMLHttpRequest' } }]],
  [1, 'oauth2 userinfo', [200], () => ['/oauth2/userinfo', { headers: { Cookie: sessions[0].cookie } }]],
  [1, 'oauth2 auth', [202, 200], () => ['/oauth2/auth', { headers: { Cookie: sessions[1].cookie } }]],
  [1, 'metrics', [200], () => [n() % 2 ? '/metrics' : '/metrics?format=json', {}]],
];
const bag = MIX.flatMap((m) => Array(m[0]).fill(m));
const stats = { allowed: 0, denied: 0, unexpected: 0, byKind: {} };
const unexpected = [];
let sent = 0;

function record(kind, expected, status, detail) {
  const k = (stats.byKind[kind] ??= { n: 0, bad: 0 });
  k.n++;
  if (expected.includes(status)) {
    if (status < 300) stats.allowed++;
    else stats.denied++;
  } else {
    k.bad++;
    stats.unexpected++;
    if (unexpected.length < 20) unexpected.push(`${kind}: ${status} (expected ${expected.join('/')}) ${detail ?? ''}`);
  }
}

async function one(entry) {
  const [, kind, expected, make] = entry;
  const [p, opts] = make();
  try {
    const res = await request(url(p), opts);
    record(kind, expected, res.status, res.headers['x-err']);
  } catch (err) {
    record(kind, expected, 0, err.message);
  }
}

// First each kind once (in order), then the mix at random, CONCURRENCY at a time.
for (const m of MIX) await one(m);
sent = MIX.length;

// The parked clients: each waits for something slow and goes away meanwhile.
const parked = [];
const park = (p, headers, ms) => parked.push(leave(url(p), headers, ms));
for (let i = 0; i < 6; i++) park(`/jwt-slow/${i}`, bearer(goodJwts[0]), 400); // the JWKS answers after 3 s
for (let i = 0; i < 6; i++) park(`/oauth-slow/${i}`, {}, 400); // the token endpoint answers after 3 s
for (let i = 0; i < 6; i++) park(`/introspect-slow/${i}`, bearer(`active-slow-${i}`), 300); // 1.5 s each
for (let i = 0; i < 4; i++) park('/basic/new', basicAuth('carol', `guess-${i}`), 30); // bcrypt in the thread pool
const refreshLogin = async () => {
  // a session whose access token expires: the next request refreshes it (a refresh grant)
  op.set({ expiresIn: 2 });
  const s = await login('/session/r');
  op.set({ expiresIn: 3600 });
  await sleep(2500);
  const res = await request(url('/session/r'), { headers: { Cookie: s.cookie, Accept: 'application/json' } });
  record('session refreshed', [200], res.status, res.headers['x-err']);
  const out = await request(url('/oauth2/sign_out?rd=/session/'), { headers: { Cookie: s.cookie } });
  record('sign out', [302], out.status);
};
const background = refreshLogin();

async function worker() {
  while (sent < REQUESTS) {
    sent++;
    await one(bag[Math.floor(Math.random() * bag.length)]);
    if (sent % 500 === 0) log(`${sent} requests after ${secs()} s`);
  }
}
await Promise.all(Array.from({ length: CONCURRENCY }, worker));
await background;
await Promise.all(parked);
// Every slow answer arrives after its client left; then each slow path once more, waited for.
await sleep(3500);
for (const [kind, p, headers] of [
  ['jwt after its JWKS came', '/jwt-slow/late', bearer(goodJwts[0])],
  ['oauth after its token came', '/oauth-slow/late', {}],
]) {
  const res = await request(url(p), { headers });
  record(kind, [200], res.status, res.headers['x-err']);
}
agent.destroy();
await sleep(300);
const total = stats.allowed + stats.denied + stats.unexpected;
log(`${total} requests, ${parked.length} parked clients left, after ${secs()} s; QUIT`);

// ---- QUIT and the verdict ---------------------------------------------------------------------
// Again every 2 s: a QUIT that lands while the single process is not in
// epoll_wait() (valgrind makes that window wide) sets the flag, and the process
// then sleeps in epoll_wait() with no timer to wake it; the next signal does.
const quit = setInterval(() => child.kill('SIGQUIT'), 2000);
child.kill('SIGQUIT');
const killer = setTimeout(() => child.kill('SIGKILL'), 180_000);
await exit;
clearInterval(quit);
clearTimeout(killer);
await Promise.all([echo.close(), js.close(), te.close(), ie.close(), op.close()]);

const vlog = fs.readFileSync(`${DIR}/valgrind.log`, 'utf8');
const errors = Number(/ERROR SUMMARY: (\d+) errors?/.exec(vlog)?.[1] ?? NaN);
const lost = /definitely lost: ([\d,]+) bytes in ([\d,]+) blocks/.exec(vlog);
const [lostBytes, lostBlocks] = lost ? [lost[1], lost[2]].map((s) => Number(s.replace(/,/g, ''))) : [0, 0];
const errorLog = fs.readFileSync(`${DIR}/error.log`, 'utf8');
const severe = errorLog.split('\n').filter((l) => /\[(alert|crit|emerg)\]/.test(l));

log(`by kind: ${Object.entries(stats.byKind).map(([k, v]) => `${k} ${v.n}${v.bad ? ` (${v.bad} unexpected)` : ''}`).join(', ')}`);
if (unexpected.length) log(`unexpected answers:\n  ${unexpected.join('\n  ')}`);
if (severe.length) log(`alert/crit/emerg in the error log:\n  ${severe.slice(0, 10).join('\n  ')}`);
if (errors) log(`memcheck errors: see ${DIR}/valgrind.log`);
const clean = exited.code === 0 && errors === 0 && lostBytes === 0 && stats.unexpected === 0 && severe.length === 0;
fs.mkdirSync(path.dirname(SUMMARY), { recursive: true });
fs.writeFileSync(SUMMARY, `${stats.allowed + stats.denied} passed, ${stats.unexpected} failed, ${Number.isNaN(errors) ? 1 : errors} reports\n`);
console.log(
  `valgrind: ${total} requests (${stats.allowed} allowed, ${stats.denied} denied as expected, ${stats.unexpected} unexpected), ` +
    `${parked.length} clients left while parked; memcheck: ${errors} errors, ${lostBytes} bytes definitely lost in ${lostBlocks} blocks ` +
    `(exit ${exited.code ?? exited.signal}, ${secs()} s, ${path.relative(REPO, DIR)}/valgrind.log)${clean ? '' : ' FAILED'}`,
);
process.exit(clean ? 0 : 1);
