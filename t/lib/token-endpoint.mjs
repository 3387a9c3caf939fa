// A fault-injecting OAuth2 token endpoint on 127.0.0.1. Each route (any name,
// e.g. one per edge_auth_oauth_client) has its own mode, counters and
// recorded requests, so one endpoint serves many clients independently.
//
//   const te = await startTokenEndpoint();
//   te.url('billing')                       // http://127.0.0.1:<port>/billing/token
//   te.set('billing', 'ok', { expiresIn: 4 });
//   te.set('billing', 'ok-jwt', { claims: { sub: 'svc', scope: 'read', tenant: 'acme' } });
//   te.set('billing', 'slow', { delay: 3000 });   // any mode also takes { delay }
//   te.hits('billing'), te.requests('billing'), te.last('billing')
//   te.issued()                              // every access_token handed out (all routes)
//   te.grants('billing')                     // [{ token, at }] handed out on one route
//   await te.close();
//
// Modes:
//   ok        200 {access_token, token_type: "Bearer", expires_in}  (expiresIn: null omits it)
//   ok-jwt    like ok, the token looks like a JWT: b64url(header).b64url(claims).sig
//   slow      ok after `delay` ms (default 3000)
//   500       500 {"error":"server_error","error_description":"temporarily unavailable"}
//   401       401 {"error":"invalid_client","error_description":"bad secret"}
//   garbage   200 text that is not JSON
//   huge      200 a 12 MB JSON body (a token inside a giant document)
//   no-token  200 {"token_type":"Bearer","expires_in":3600}
//   hang      never answers (the socket stays open until close())
//   status    { status, body } exactly as given
//
// A recorded request: { at (ms), method, path, headers, body, form (object of the
// urlencoded body, repeated names as arrays), basic ({ id, secret } decoded from
// Authorization: Basic per RFC 6749 §2.3.1, or null) }.
//
// Standalone: node t/lib/token-endpoint.mjs --port 9100 [--mode ok]

import crypto from 'node:crypto';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { auditSecret } from './audit.mjs';

const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const formDecode = (s) => decodeURIComponent(s.replace(/\+/g, ' '));

/** An unsigned JWT-looking token whose payload carries `claims` (plus a random jti). */
export function fakeJwt(claims) {
  const header = { alg: 'RS256', typ: 'at+jwt', kid: 'fake' };
  const payload = { jti: crypto.randomBytes(8).toString('hex'), ...claims };
  return `${b64url(header)}.${b64url(payload)}.${crypto.randomBytes(32).toString('base64url')}`;
}

function parseForm(body) {
  const form = {};
  for (const [k, v] of new URLSearchParams(body)) {
    if (k in form) form[k] = [].concat(form[k], v);
    else form[k] = v;
  }
  return form;
}

function parseBasic(header) {
  const m = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!m) return null;
  const text = Buffer.from(m[1], 'base64').toString('utf8');
  const i = text.indexOf(':');
  if (i < 0) return { id: formDecode(text), secret: null };
  return { id: formDecode(text.slice(0, i)), secret: formDecode(text.slice(i + 1)) };
}

let hugeBody;
const HUGE_BYTES = 12 * 1024 * 1024;
function huge() {
  if (!hugeBody) {
    const head = '{"token_type":"Bearer","expires_in":3600,"access_token":"';
    const tail = '"}';
    hugeBody = Buffer.alloc(HUGE_BYTES, 'a');
    hugeBody.write(head, 0);
    hugeBody.write(tail, HUGE_BYTES - tail.length);
  }
  return hugeBody;
}

export async function startTokenEndpoint({ port = 0, host = '127.0.0.1' } = {}) {
  const routes = new Map();
  const issued = [];
  const grants = []; // { route, token, at }
  const timers = new Set();
  const route = (name) => {
    if (!routes.has(name)) routes.set(name, { mode: 'ok', opts: {}, requests: [] });
    return routes.get(name);
  };

  function send(res, status, body, type = 'application/json') {
    const buf = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    res.on('error', () => {});
    res.writeHead(status, { 'content-type': type, 'content-length': buf.length, 'cache-control': 'no-store' });
    res.end(buf);
  }

  function answer(res, mode, opts, name) {
    const expires = opts.expiresIn === undefined ? 3600 : opts.expiresIn;
    const grant = (token) => {
      issued.push(token);
      auditSecret(token);
      grants.push({ route: name, token, at: Date.now() });
      const body = { access_token: token, token_type: 'Bearer' };
      if (expires !== null) body.expires_in = expires;
      send(res, 200, body);
    };
    switch (mode) {
      case 'ok':
      case 'slow':
        return grant(opts.token ?? `tok-${crypto.randomBytes(12).toString('hex')}`);
      case 'ok-jwt':
        return grant(fakeJwt(opts.claims ?? { sub: 'svc', scope: 'read', tenant: 'acme' }));
      case '500':
        return send(res, 500, { error: 'server_error', error_description: 'temporarily unavailable' });
      case '401':
        return send(res, 401, { error: 'invalid_client', error_description: 'bad secret' });
      case 'garbage':
        return send(res, 200, '<html>this is not JSON {', 'application/json');
      case 'huge':
        return send(res, 200, huge());
      case 'no-token':
        return send(res, 200, { token_type: 'Bearer', expires_in: 3600 });
      case 'status':
        return send(res, opts.status ?? 500, opts.body ?? '');
      case 'hang':
        return; // never answer
      default:
        return send(res, 500, { error: 'server_error', error_description: `unknown test mode ${mode}` });
    }
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://te');
    const name = url.pathname.replace(/^\/+/, '').replace(/\/token$/, '') || 'default';
    const r = route(name);
    const entry = {
      at: Date.now(),
      method: req.method,
      path: url.pathname,
      headers: req.headers,
      body: '',
      form: {},
      basic: parseBasic(req.headers.authorization),
    };
    r.requests.push(entry);
    const { mode, opts } = r; // the mode when the request arrived
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size <= 64 * 1024) chunks.push(c);
    });
    req.on('end', () => {
      entry.body = Buffer.concat(chunks).toString('utf8');
      if (/x-www-form-urlencoded/i.test(req.headers['content-type'] ?? '')) entry.form = parseForm(entry.body);
      const delay = opts.delay ?? (mode === 'slow' ? 3000 : 0);
      if (delay > 0) {
        const t = setTimeout(() => {
          timers.delete(t);
          if (!res.destroyed) answer(res, mode, opts, name);
        }, delay);
        timers.add(t);
      } else {
        answer(res, mode, opts, name);
      }
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const actual = server.address().port;

  return {
    port: actual,
    url: (name = 'default') => `http://127.0.0.1:${actual}/${name}/token`,
    /** Switches a route's mode (takes effect for requests arriving from now on). */
    set(name, mode, opts = {}) {
      const r = route(name);
      r.mode = mode;
      r.opts = opts;
    },
    mode: (name = 'default') => route(name).mode,
    hits: (name = 'default') => route(name).requests.length,
    requests: (name = 'default') => route(name).requests,
    last: (name = 'default') => route(name).requests.at(-1),
    /** Every access_token this endpoint handed out, on every route. */
    issued: () => issued,
    /** Tokens handed out on one route, in order: [{ token, at (ms) }]. */
    grants: (name = 'default') => grants.filter((g) => g.route === name),
    close: () =>
      new Promise((resolve) => {
        for (const t of timers) clearTimeout(t);
        timers.clear();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const arg = (flag, dflt) => {
    const i = process.argv.indexOf(flag);
    return i > 0 ? process.argv[i + 1] : dflt;
  };
  const te = await startTokenEndpoint({ port: Number(arg('--port', 9100)) });
  te.set('default', arg('--mode', 'ok'));
  console.log(`token endpoint on ${te.url()} (any /<name>/token), mode ${te.mode()}`);
  const stop = () => te.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

/**
 * An edge_auth_oauth_client block. `params` maps a parameter to a value, or to
 * an array of values for repeatable ones (param, require, forward_claim).
 *   oauthClient('billing', { token_url: te.url('billing'), client_id: 'id', scope: 'a b',
 *                            param: ['foo bar', 'x y'] })
 */
export function oauthClient(name, params) {
  const lines = [];
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null) continue;
    for (const v of [].concat(value)) lines.push(`        ${key} ${v};`);
  }
  return `    edge_auth_oauth_client ${name} {\n${lines.join('\n')}\n    }\n`;
}
