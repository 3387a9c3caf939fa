// Shared pieces of the OIDC login tests (issue 5): the provider block, the
// login redirect's anatomy, and the cookie names of a session.
//
//   http: `${SESSION_SECRET_LINE}
//          ${provider('op', { issuer: op.issuer, client_id: 'edge', client_secret: SECRET, cookie_secure: 'off' })}
//          server { ... ${oidcLoc('/private/', 'op')} }`
//   const r = loginRedirect(res);        // { url, params, stateCookie } of a 302 to the OP
//   sessionCookies(res)                  // the session Set-Cookies (chunks included) of a response

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { headerValues } from './http.mjs';
import { parseSetCookie } from './cookie-jar.mjs';

export const SESSION_SECRET = crypto.randomBytes(36).toString('base64url'); // 48 characters
export const SESSION_SECRET_LINE = `edge_auth_session_secret ${SESSION_SECRET};`;
export const COOKIE = 'edge_auth_session';

/**
 * `edge_auth_oidc_provider NAME { ... }` from an object: keys are directives,
 * values strings, numbers or arrays (joined with spaces); null / undefined
 * skips one. Insertion order is kept.
 */
export function provider(name, params) {
  const lines = Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `        ${k} ${Array.isArray(v) ? v.join(' ') : v};`);
  return `
    edge_auth_oidc_provider ${name} {
${lines.join('\n')}
    }`;
}

/** A proxied location behind login with provider `name` (identity headers on). */
export function oidcLoc(path, name, extra = '', { method = 'oidc' } = {}) {
  return `
        location ${path} {
            edge_auth ${method};
            edge_auth_oidc ${name};
            edge_auth_identity_headers on;
            add_header X-Err $edge_auth_error always;
            edge_auth_upstream_header X-Edge-User $edge_auth_user;
            edge_auth_upstream_header X-Edge-Email $edge_auth_email;
            edge_auth_upstream_header X-Edge-Groups $edge_auth_groups;
            edge_auth_upstream_header X-Edge-Method $edge_auth_method;
            ${extra}
            proxy_pass http://backend;
        }`;
}

/** Set-Cookie values of a response, parsed ({ name, value, attrs, raw }). */
export const setCookies = (res) => headerValues(res, 'Set-Cookie').map(parseSetCookie);

const isSessionName = (name, base = COOKIE) => name === base || new RegExp(`^${base}_\\d+$`).test(name);
const isStateName = (name, base = COOKIE) => name.startsWith(`${base}_st_`);

/** The session cookie Set-Cookies of a response (NAME or NAME_<n>; deletions included). */
export const sessionCookies = (res, base = COOKIE) => setCookies(res).filter((c) => isSessionName(c.name, base));
/** The state cookie Set-Cookies of a response. */
export const stateCookies = (res, base = COOKIE) => setCookies(res).filter((c) => isStateName(c.name, base));
export { isSessionName, isStateName };

/** A Set-Cookie that deletes (Max-Age=0 or an Expires in the past). */
export const isDeletion = (c) => c.attrs.maxAge === 0 || (c.attrs.maxAge === undefined && c.attrs.expires !== undefined && c.attrs.expires < Date.now());

/**
 * Asserts `res` is the login redirect to `authorizationEndpoint` and returns
 * { url, params, state, stateCookie }: 302, Location with the authorization
 * request's parameters, one new state cookie named after the state,
 * Cache-Control no-store.
 */
export function loginRedirect(res, authorizationEndpoint) {
  assert.equal(res.status, 302, `expected the login redirect, got ${res.status}: ${res.body?.slice(0, 200)}`);
  const url = new URL(res.headers.location);
  if (authorizationEndpoint) assert.equal(`${url.origin}${url.pathname}`, authorizationEndpoint, 'Location is the authorization endpoint');
  const params = Object.fromEntries(url.searchParams);
  assert.ok(params.state, 'state in the authorization request');
  const fresh = stateCookies(res).filter((c) => !isDeletion(c));
  assert.equal(fresh.length, 1, `one new state cookie, got ${fresh.map((c) => c.raw).join(' | ')}`);
  const stateCookie = fresh[0];
  assert.equal(stateCookie.name, `${COOKIE}_st_${params.state.slice(0, 20)}`, 'state cookie named after the state');
  assert.match(res.headers['cache-control'] ?? '', /no-store/);
  return { url, params, state: params.state, stateCookie };
}

/** Status, text/plain, no-store, a short body: the login error pages. */
export function assertErrorPage(res, status, bodyRe) {
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${res.body.slice(0, 300)}`);
  assert.match(res.headers['content-type'] ?? '', /^text\/plain\b/, 'text/plain');
  assert.match(res.headers['cache-control'] ?? '', /no-store/, 'Cache-Control: no-store');
  assert.ok(res.body.length < 512, `short body, got ${res.body.length} bytes`);
  assert.equal(res.headers.location, undefined, 'no redirect');
  if (bodyRe) assert.match(res.body, bodyRe);
}

/**
 * Opens a session cookie's value as nginx sealed it (AES-256-GCM, the key
 * HKDF-SHA256 of the session secret, the cookie name as associated data):
 * the session JSON, or null when it does not open.
 */
export function openSessionCookie(value, { secret = SESSION_SECRET, name = COOKIE } = {}) {
  const key = Buffer.from(crypto.hkdfSync('sha256', Buffer.from(secret), 'edge-auth', 'edge-auth session v1', 32));
  const box = Buffer.from(value, 'base64url');
  if (box.length < 28) return null;
  try {
    const d = crypto.createDecipheriv('aes-256-gcm', key, box.subarray(0, 12));
    d.setAAD(Buffer.from(name));
    d.setAuthTag(box.subarray(box.length - 16));
    return JSON.parse(Buffer.concat([d.update(box.subarray(12, box.length - 16)), d.final()]).toString());
  } catch {
    return null;
  }
}
