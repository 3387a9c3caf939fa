// A small scriptable OpenID provider for the login tests that need no browser:
// discovery, JWKS, an /authorize that answers at once (302 back to
// redirect_uri with code + state: no login page, so a plain HTTP client with a
// cookie jar runs a whole login), /token whose ID token is built per test
// (good or broken in one chosen way), /userinfo, /logout.
//
//   const op = await startFakeOp({ clientId: 'edge', clientSecret: 's3cret' });
//   op.issuer                      // http://127.0.0.1:<port>
//   op.set({ idToken: 'wrong-aud' })   // modes below; op.reset() back to defaults
//   op.identity = { sub: 'alice', email: 'alice@example.test', groups: ['admins'] }
//   op.authorizeRequests / op.tokenRequests / op.userinfoRequests   // what arrived
//   op.issued()                    // every code, access, refresh and ID token handed out
//   await op.close();
//
// Settings (op.set):
//   authorize: 'code' | 'access_denied' (302 with error=access_denied&state)
//   idToken:   'good' | 'none' (alg none, no signature) | 'bad-signature' (a byte of
//              the signature changed) | 'other-key' (signed by a key not in the JWKS,
//              same kid) | 'wrong-iss' | 'wrong-aud' | 'wrong-nonce' | 'expired'
//              (exp and iat an hour ago) | 'missing' (no id_token member) | 'no-sub'
//   token:     'ok' | 'invalid_grant' (400) | '500'
//   userinfo:  'good' | 'wrong-sub' | '500'
//   expiresIn: access token lifetime in seconds (default 3600)
//   refreshToken: true (issue one; rotated on each refresh) | false
// /token checks the client (client_secret_basic or _post, as the request chose),
// the code (once only), redirect_uri, and PKCE (S256 of code_verifier equal to
// the code_challenge given at /authorize, when one was given); a failed check
// is a 400 invalid_grant / 401 invalid_client, as a real OP answers.
// op.logoutToken({ sub, sid }) signs a back-channel logout token.

import crypto from 'node:crypto';
import http from 'node:http';
import * as jose from 'jose';
import { auditSecret } from './audit.mjs';

const DEFAULTS = {
  authorize: 'code',
  idToken: 'good',
  token: 'ok',
  userinfo: 'good',
  expiresIn: 3600,
  refreshToken: true,
};

const rnd = (n = 24) => crypto.randomBytes(n).toString('base64url');
const nowSec = () => Math.floor(Date.now() / 1000);

async function rsaKey(kid) {
  // PEM round trip: exporting generateKeyPairSync's KeyObjects to JWK can deadlock node 20.
  const pems = crypto.generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const priv = crypto.createPrivateKey(pems.privateKey);
  const pub = crypto.createPublicKey(pems.publicKey);
  return { kid, priv, jwk: { ...pub.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' } };
}

function parseBasic(header) {
  const m = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!m) return null;
  const text = Buffer.from(m[1], 'base64').toString('utf8');
  const i = text.indexOf(':');
  const dec = (s) => decodeURIComponent(s.replace(/\+/g, ' '));
  return { id: dec(text.slice(0, i)), secret: dec(text.slice(i + 1)) };
}

export async function startFakeOp({ clientId = 'edge-login', clientSecret = rnd(), identity, endSession = true } = {}) {
  const kid = rnd(6);
  const key = await rsaKey(kid);
  const otherKey = await rsaKey(kid); // same kid, not published

  const server = http.createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = server.address().port;
  const issuer = `http://127.0.0.1:${port}`;

  const codes = new Map(); // code -> { nonce, redirect_uri, code_challenge, identity }
  const accessTokens = new Map(); // access token -> identity
  const refreshTokens = new Map(); // refresh token -> identity (deleted when redeemed)
  const issued = [];
  const authorizeRequests = [];
  const tokenRequests = [];
  const userinfoRequests = [];
  const logoutRequests = [];

  const op = {
    issuer,
    port,
    clientId,
    clientSecret,
    settings: { ...DEFAULTS },
    identity: identity ?? {
      sub: 'alice',
      email: 'alice@example.test',
      email_verified: true,
      name: 'Alice Tester',
      preferred_username: 'alice',
      groups: ['admins', 'users'],
      picture: 'https://avatars.example.test/alice.png',
    },
    authorizeRequests,
    tokenRequests,
    userinfoRequests,
    logoutRequests,
    set(s) {
      Object.assign(op.settings, s);
      return op;
    },
    reset() {
      op.settings = { ...DEFAULTS };
      return op;
    },
    issued: () => [...issued],
    refreshGrants: () => tokenRequests.filter((r) => r.form.grant_type === 'refresh_token'),
    /** A back-channel logout token for sub / sid (signed with the published key). */
    async logoutToken({ sub, sid, aud = clientId, iss = issuer, nonce, events = true } = {}) {
      const payload = {
        iss,
        aud,
        iat: nowSec(),
        jti: rnd(12),
        ...(sub ? { sub } : {}),
        ...(sid ? { sid } : {}),
        ...(nonce ? { nonce } : {}),
        ...(events ? { events: { 'http://schemas.openid.net/event/backchannel-logout': {} } } : {}),
      };
      const t = await new jose.SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid, typ: 'logout+jwt' }).sign(key.priv);
      issued.push(t);
      return t;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };

  const json = (res, status, obj, headers = {}) => {
    const text = JSON.stringify(obj);
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  };

  async function idToken(entry) {
    const mode = op.settings.idToken;
    const now = nowSec();
    const payload = {
      ...entry.identity,
      iss: mode === 'wrong-iss' ? `${issuer}/other` : issuer,
      aud: mode === 'wrong-aud' ? 'someone-else' : clientId,
      iat: mode === 'expired' ? now - 3600 : now,
      exp: mode === 'expired' ? now - 3000 : now + 600,
      ...(entry.nonce !== undefined ? { nonce: mode === 'wrong-nonce' ? rnd(16) : entry.nonce } : {}),
      sid: entry.sid,
    };
    if (mode === 'no-sub') delete payload.sub;
    if (mode === 'none') {
      const enc = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
      return `${enc({ alg: 'none', typ: 'JWT' })}.${enc(payload)}.`;
    }
    const signer = mode === 'other-key' ? otherKey : key;
    let t = await new jose.SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' }).sign(signer.priv);
    if (mode === 'bad-signature') {
      const [h, p, s] = t.split('.');
      const sig = Buffer.from(s, 'base64url');
      sig[10] ^= 0x01;
      t = `${h}.${p}.${sig.toString('base64url')}`;
    }
    return t;
  }

  function tokens(identityForToken) {
    const access = `at-${rnd()}`;
    accessTokens.set(access, identityForToken);
    issued.push(access);
    auditSecret(access);
    const out = { access_token: access, token_type: 'Bearer', expires_in: op.settings.expiresIn };
    if (op.settings.refreshToken) {
      const refresh = `rt-${rnd()}`;
      refreshTokens.set(refresh, identityForToken);
      issued.push(refresh);
      auditSecret(refresh);
      out.refresh_token = refresh;
    }
    return out;
  }

  server.on('request', async (req, res) => {
    const url = new URL(req.url, issuer);
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks).toString('utf8');

    if (url.pathname === '/.well-known/openid-configuration') {
      return json(res, 200, {
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        userinfo_endpoint: `${issuer}/userinfo`,
        jwks_uri: `${issuer}/jwks`,
        ...(endSession ? { end_session_endpoint: `${issuer}/logout` } : {}),
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
        code_challenge_methods_supported: ['S256'],
        scopes_supported: ['openid', 'email', 'profile', 'groups'],
        backchannel_logout_supported: true,
        backchannel_logout_session_supported: true,
      });
    }
    if (url.pathname === '/jwks') return json(res, 200, { keys: [key.jwk] });

    if (url.pathname === '/authorize') {
      const q = Object.fromEntries(url.searchParams);
      authorizeRequests.push({ at: Date.now(), url: req.url, query: q, headers: req.headers });
      if (!q.redirect_uri) return json(res, 400, { error: 'invalid_request', error_description: 'no redirect_uri' });
      const back = new URL(q.redirect_uri);
      if (op.settings.authorize === 'access_denied') {
        back.searchParams.set('error', 'access_denied');
        back.searchParams.set('error_description', 'The user said no');
      } else {
        const code = `code-${rnd()}`;
        issued.push(code);
        auditSecret(code);
        codes.set(code, {
          client_id: q.client_id,
          nonce: q.nonce,
          redirect_uri: q.redirect_uri,
          code_challenge: q.code_challenge,
          code_challenge_method: q.code_challenge_method,
          identity: { ...op.identity },
          sid: `sid-${rnd(8)}`,
        });
        back.searchParams.set('code', code);
      }
      if (q.state !== undefined) back.searchParams.set('state', q.state);
      res.writeHead(302, { location: back.toString(), 'content-length': 0 });
      return res.end();
    }

    if (url.pathname === '/token' && req.method === 'POST') {
      const form = Object.fromEntries(new URLSearchParams(body));
      const basic = parseBasic(req.headers.authorization);
      const entry = { at: Date.now(), headers: req.headers, body, form, basic, status: 0 };
      tokenRequests.push(entry);
      const answer = (status, obj) => {
        entry.status = status;
        entry.answer = obj;
        return json(res, status, obj);
      };
      const clientOk = basic
        ? basic.id === clientId && basic.secret === clientSecret && form.client_secret === undefined
        : form.client_id === clientId && form.client_secret === clientSecret;
      if (!clientOk) return answer(401, { error: 'invalid_client' });
      if (op.settings.token === '500') return answer(500, { error: 'server_error' });
      if (op.settings.token === 'invalid_grant') return answer(400, { error: 'invalid_grant', error_description: 'scripted failure' });

      if (form.grant_type === 'authorization_code') {
        const c = codes.get(form.code);
        codes.delete(form.code);
        if (!c) return answer(400, { error: 'invalid_grant', error_description: 'unknown or used code' });
        if (c.redirect_uri !== form.redirect_uri) return answer(400, { error: 'invalid_grant', error_description: 'redirect_uri mismatch' });
        if (c.code_challenge) {
          const want = crypto.createHash('sha256').update(form.code_verifier ?? '').digest('base64url');
          if (c.code_challenge_method !== 'S256' || want !== c.code_challenge)
            return answer(400, { error: 'invalid_grant', error_description: 'PKCE verification failed' });
        }
        const out = tokens(c.identity);
        if (op.settings.idToken !== 'missing') {
          out.id_token = await idToken(c);
          issued.push(out.id_token);
          auditSecret(out.id_token);
        }
        return answer(200, out);
      }
      if (form.grant_type === 'refresh_token') {
        const ident = refreshTokens.get(form.refresh_token);
        if (!ident) return answer(400, { error: 'invalid_grant', error_description: 'unknown or used refresh token' });
        refreshTokens.delete(form.refresh_token); // rotation: each refresh token works once
        return answer(200, tokens(ident));
      }
      return answer(400, { error: 'unsupported_grant_type' });
    }

    if (url.pathname === '/userinfo') {
      const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
      const ident = m && accessTokens.get(m[1]);
      userinfoRequests.push({ at: Date.now(), headers: req.headers, known: !!ident });
      if (!ident) return json(res, 401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer error="invalid_token"' });
      if (op.settings.userinfo === '500') return json(res, 500, { error: 'server_error' });
      const claims = { ...ident };
      if (op.settings.userinfo === 'wrong-sub') claims.sub = 'mallory';
      return json(res, 200, claims);
    }

    if (url.pathname === '/logout') {
      logoutRequests.push({ at: Date.now(), query: Object.fromEntries(url.searchParams) });
      const to = url.searchParams.get('post_logout_redirect_uri');
      if (to) {
        const back = new URL(to);
        const st = url.searchParams.get('state');
        if (st) back.searchParams.set('state', st);
        res.writeHead(302, { location: back.toString(), 'content-length': 0 });
        return res.end();
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      return res.end('signed out');
    }

    json(res, 404, { error: 'not_found' });
  });

  return op;
}
