// JWT test kit: signing keys for every JWS algorithm, token minting (npm jose for
// ordinary tokens, a hand-rolled signer for the hostile ones), and a JWKS server
// on 127.0.0.1 whose routes can switch keys (rotation), count hits, and fail.
//
//   const k = genKey('ES256');                  // { alg, kid, privateKey, publicKey, jwk, pem, secret }
//   const t = await sign(k, { sub: 'alice', exp: now() + 60 });          // jose SignJWT
//   const raw = signRaw(k, { alg: 'ES256', kid: k.kid, crit: ['x'] }, { sub: 'a' });  // any header
//   const js = await startJwksServer();
//   js.set('idp', { keys: [k.jwk] });            // GET js.url('idp') -> {"keys":[...]}
//   js.set('idp', { mode: 'hang' });             // ok | 500 | garbage | reset | hang | status
//   js.set('idp', { delay: 300, cacheControl: 'max-age=1' });
//   js.hits('idp'), js.requests('idp'), js.total()
//   await js.close();
//
// Modes:
//   ok        200 application/json {"keys": [...]} (after `delay` ms), Cache-Control when set
//   500       500 {"error":"boom"}
//   garbage   200 text that is not JSON
//   reset     the socket is destroyed without an answer
//   hang      never answers (the socket stays open until close() or another set())
//   status    { status, body } exactly as given
//
// Standalone: node t/lib/jwks-server.mjs --port 9200   (serves one fresh ES256 key at /idp/jwks.json)

import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import * as jose from 'jose';

export const now = () => Math.floor(Date.now() / 1000);
const rand = (n = 8) => crypto.randomBytes(n).toString('hex');
export const b64url = (v) =>
  (Buffer.isBuffer(v) ? v : Buffer.from(typeof v === 'string' ? v : JSON.stringify(v))).toString('base64url');

const HASH = { 256: 'sha256', 384: 'sha384', 512: 'sha512' };
const CURVE = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' };

/** Every algorithm the module verifies. */
export const ALGS = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/**
 * A key pair as KeyObjects imported from PEM. Node 20's generateKeyPairSync hands
 * out KeyObjects that can deadlock the process: exporting one (to JWK) holds the
 * key's mutex while allocating, and a garbage collection in between runs the
 * finished key-generation job's destructor, which takes the same mutex (seen
 * with node 20.20.2, main thread in ~KeyGenJob under ExportJWKEdKey). Keys
 * generated as PEM text and imported again are not tied to the job.
 */
function generatePair(type, options = {}) {
  const { publicKey, privateKey } = crypto.generateKeyPairSync(type, {
    ...options,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { publicKey: crypto.createPublicKey(publicKey), privateKey: crypto.createPrivateKey(privateKey) };
}

/**
 * A key for `alg`. Asymmetric: privateKey/publicKey (KeyObjects), jwk (public, with
 * kid, alg unless jwkAlg is false, use "sig"), pem (SPKI PUBLIC KEY). HS*: secret
 * (Buffer of `bytes` printable base64url characters, so it can stand in a config),
 * jwk (oct). `curve` overrides the EC curve; `from` reuses another key's material
 * (one RSA key pair for RS256..PS512, each with its own kid and JWK "alg").
 */
export function genKey(alg, { kid = `k-${rand(4)}`, jwkAlg = true, bits = 2048, bytes = 48, curve, from } = {}) {
  const key = { alg, kid };
  if (alg.startsWith('HS')) {
    key.secret = from?.secret ?? Buffer.from(crypto.randomBytes(bytes).toString('base64url').slice(0, bytes));
    key.jwk = { kty: 'oct', k: key.secret.toString('base64url') };
  } else {
    let pair;
    if (from) pair = { privateKey: from.privateKey, publicKey: from.publicKey };
    else if (alg.startsWith('RS') || alg.startsWith('PS')) pair = generatePair('rsa', { modulusLength: bits });
    else if (alg.startsWith('ES')) pair = generatePair('ec', { namedCurve: curve ?? CURVE[alg] });
    else if (alg === 'EdDSA') pair = generatePair('ed25519');
    else throw new Error(`no key for ${alg}`);
    key.privateKey = pair.privateKey;
    key.publicKey = pair.publicKey;
    key.jwk = pair.publicKey.export({ format: 'jwk' });
    key.pem = pair.publicKey.export({ format: 'pem', type: 'spki' });
  }
  key.jwk = { ...key.jwk, kid, use: 'sig', ...(jwkAlg ? { alg } : {}) };
  return key;
}

/** A self-signed X.509 certificate (PEM) for an asymmetric key, made by the openssl CLI. */
export function certPem(key) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ea-cert-'));
  try {
    const file = path.join(dir, 'key.pem');
    fs.writeFileSync(file, key.privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    return execFileSync('openssl', ['req', '-x509', '-new', '-key', file, '-subj', '/CN=edge-auth-test', '-days', '2'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** {"keys": [...]} of the given keys (or JWK objects). */
export const jwks = (...keys) => JSON.stringify({ keys: keys.map((k) => k.jwk ?? k) });

/**
 * A JWT signed by jose's SignJWT: header { alg: key.alg, kid: key.kid, typ: 'JWT' } plus
 * `header` (kid: undefined drops it). Claims as given (no iat/exp added).
 */
export async function sign(key, claims, { header = {} } = {}) {
  const h = { alg: key.alg, kid: key.kid, typ: 'JWT', ...header };
  for (const k of Object.keys(h)) if (h[k] === undefined) delete h[k];
  return new jose.SignJWT(claims).setProtectedHeader(h).sign(key.secret ?? key.privateKey);
}

/** The raw signature of `input` with `key` as algorithm `alg` (ECDSA: raw r||s, or DER with der: true). */
export function rawSignature(key, alg, input, { der = false, hmacKey } = {}) {
  const data = Buffer.from(input);
  const bits = alg.slice(2);
  if (alg.startsWith('HS')) return crypto.createHmac(HASH[bits], hmacKey ?? key.secret).update(data).digest();
  if (alg.startsWith('RS')) return crypto.sign(HASH[bits], data, key.privateKey);
  if (alg.startsWith('PS'))
    return crypto.sign(HASH[bits], data, { key: key.privateKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(bits) / 8 });
  if (alg.startsWith('ES')) return crypto.sign(HASH[bits], data, { key: key.privateKey, dsaEncoding: der ? 'der' : 'ieee-p1363' });
  if (alg === 'EdDSA') return crypto.sign(null, data, key.privateKey);
  throw new Error(`cannot sign ${alg}`);
}

/**
 * A compact JWS built by hand: header and payload are objects (JSON-encoded) or
 * strings (used verbatim, e.g. a header with a duplicate member); signed with
 * `key` as `alg` (default header.alg, else key.alg). Options: der (ECDSA DER
 * signature), hmacKey (HMAC with these bytes instead of key.secret), signature
 * (a Buffer used as the signature instead).
 */
export function signRaw(key, header, payload, { alg, der, hmacKey, signature } = {}) {
  const h = b64url(header);
  const p = b64url(payload);
  const input = `${h}.${p}`;
  const a = alg ?? (typeof header === 'object' ? header.alg : undefined) ?? key.alg;
  const sig = signature ?? rawSignature(key, a, input, { der, hmacKey });
  return `${input}.${b64url(sig)}`;
}

export async function startJwksServer({ port = 0, host = '127.0.0.1' } = {}) {
  const routes = new Map();
  const hanging = new Set();
  const route = (name) => {
    if (!routes.has(name)) routes.set(name, { keys: [], mode: 'ok', delay: 0, cacheControl: null, requests: [] });
    return routes.get(name);
  };

  const server = http.createServer((req, res) => {
    const m = /^\/([^/]+)\/jwks\.json$/.exec(new URL(req.url, 'http://x').pathname);
    if (!m) {
      res.writeHead(404).end();
      return;
    }
    const r = route(m[1]);
    r.requests.push({ at: Date.now(), method: req.method, headers: req.headers });
    const answer = () => {
      switch (r.mode) {
        case 'ok': {
          const body = JSON.stringify({ keys: r.keys });
          const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
          if (r.cacheControl) headers['cache-control'] = r.cacheControl;
          res.writeHead(200, headers).end(body);
          return;
        }
        case '500':
          res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"boom"}');
          return;
        case 'garbage':
          res.writeHead(200, { 'content-type': 'application/json' }).end('<html>not json</html>');
          return;
        case 'reset':
          req.socket.destroy();
          return;
        case 'hang':
          hanging.add(res);
          res.on('close', () => hanging.delete(res));
          return;
        case 'status':
          res.writeHead(r.status ?? 200, { 'content-type': 'application/json' }).end(r.body ?? '');
          return;
        default:
          res.writeHead(500).end(`unknown mode ${r.mode}`);
      }
    };
    if (r.delay > 0) setTimeout(answer, r.delay);
    else answer();
  });
  server.keepAliveTimeout = 30_000;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const actualPort = server.address().port;

  return {
    port: actualPort,
    url: (name) => `http://${host}:${actualPort}/${name}/jwks.json`,
    /**
     * Changes a route: keys (keys or JWK objects), mode, delay (ms), cacheControl,
     * status/body (mode status). Unset options keep their value. Leaving `hang`
     * ends the hung requests (their sockets are destroyed).
     */
    set(name, { keys, mode, delay, cacheControl, status, body } = {}) {
      const r = route(name);
      if (keys !== undefined) r.keys = keys.map((k) => k.jwk ?? k);
      if (mode !== undefined) {
        if (r.mode === 'hang' && mode !== 'hang') for (const res of hanging) res.destroy();
        r.mode = mode;
      }
      if (delay !== undefined) r.delay = delay;
      if (cacheControl !== undefined) r.cacheControl = cacheControl;
      if (status !== undefined) r.status = status;
      if (body !== undefined) r.body = body;
    },
    hits: (name) => route(name).requests.length,
    requests: (name) => route(name).requests,
    total: () => [...routes.values()].reduce((n, r) => n + r.requests.length, 0),
    close: () =>
      new Promise((resolve) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const i = process.argv.indexOf('--port');
  const js = await startJwksServer({ port: i > 0 ? Number(process.argv[i + 1]) : 9200 });
  const k = genKey('ES256');
  js.set('idp', { keys: [k] });
  console.log(`JWKS at ${js.url('idp')}; a token: ${await sign(k, { sub: 'demo', exp: now() + 3600 })}`);
  const stop = () => js.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
