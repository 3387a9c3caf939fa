// A scriptable OpenID provider for bench/run: enough of OIDC Core for an
// authorization-code login without a browser or a login form. Node's standard
// library only (no npm install needed).
//
//   node bench/oidc-op.mjs PORT LOGFILE CLIENT_ID CLIENT_SECRET
//
//   GET  /.well-known/openid-configuration   discovery (issuer http://127.0.0.1:PORT)
//   GET  /authorize    auto-approves: 302 to redirect_uri?code=…&state=… (no login page)
//   POST /token        authorization_code (PKCE S256 or plain checked when a challenge was
//                      sent) and refresh_token grants; client_secret_basic or _post;
//                      an RS256 ID token with iss, sub, aud, azp, exp, iat, nonce, sid,
//                      email, name, preferred_username, groups; expires_in 3600
//   GET  /userinfo     Bearer access token -> the same identity
//   GET  /jwks         the public key
//   GET  /end_session  302 to post_logout_redirect_uri (or 200)
//
// Every request is appended to LOGFILE as "<epoch> <METHOD> <path>" so the caller
// can check that no provider call happens while it measures.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';

const [port, logFile, clientId, clientSecret] = [Number(process.argv[2]), process.argv[3], process.argv[4], process.argv[5]];
if (!port || !logFile || !clientId || !clientSecret) {
  console.error('usage: oidc-op.mjs PORT LOGFILE CLIENT_ID CLIENT_SECRET');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const log = fs.openSync(logFile, 'a');

// PEM out, KeyObjects back in: exporting generateKeyPairSync's own KeyObjects to
// JWK can deadlock node 20 (t/lib/idp.mjs has the same workaround).
const pems = crypto.generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
});
const privateKey = crypto.createPrivateKey(pems.privateKey);
const kid = crypto.randomBytes(8).toString('hex');
const jwk = { ...crypto.createPublicKey(pems.publicKey).export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };

const b64u = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
function signJwt(payload) {
  const input = `${b64u({ alg: 'RS256', typ: 'JWT', kid })}.${b64u(payload)}`;
  return `${input}.${crypto.sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
}

const identity = {
  sub: 'bench-user-0001',
  email: 'bench.user@example.test',
  email_verified: true,
  name: 'Bench User',
  preferred_username: 'bench',
  groups: ['bench', 'staff'],
};

const codes = new Map();    // code -> { redirect_uri, nonce, challenge, method, scope }
const access = new Set();   // issued access tokens
const refresh = new Set();  // issued refresh tokens
const random = () => crypto.randomBytes(24).toString('base64url');

function tokens(nonce) {
  const now = Math.floor(Date.now() / 1000);
  const at = random();
  const rt = random();
  access.add(at);
  refresh.add(rt);
  const claims = { iss: issuer, aud: clientId, azp: clientId, iat: now, exp: now + 3600, sid: 'bench-sid-1', ...identity };
  if (nonce) claims.nonce = nonce;
  return { access_token: at, token_type: 'Bearer', expires_in: 3600, refresh_token: rt, id_token: signJwt(claims), scope: 'openid email profile' };
}

function send(res, status, body, headers = {}) {
  const data = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': typeof body === 'string' ? 'text/plain' : 'application/json',
    'Content-Length': Buffer.byteLength(data),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(data);
}

function clientOk(req, form) {
  const auth = req.headers.authorization || '';
  if (auth.startsWith('Basic ')) {
    const [id, secret] = Buffer.from(auth.slice(6), 'base64').toString().split(':').map((s) => decodeURIComponent(s.replace(/\+/g, ' ')));
    return id === clientId && secret === clientSecret;
  }
  return form.get('client_id') === clientId && form.get('client_secret') === clientSecret;
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, issuer);
  fs.writeSync(log, `${(Date.now() / 1000).toFixed(3)} ${req.method} ${url.pathname}\n`);
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    const q = url.searchParams;
    switch (url.pathname) {
      case '/.well-known/openid-configuration':
        return send(res, 200, {
          issuer,
          authorization_endpoint: `${issuer}/authorize`,
          token_endpoint: `${issuer}/token`,
          userinfo_endpoint: `${issuer}/userinfo`,
          jwks_uri: `${issuer}/jwks`,
          end_session_endpoint: `${issuer}/end_session`,
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['RS256'],
          token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
          code_challenge_methods_supported: ['S256', 'plain'],
          scopes_supported: ['openid', 'email', 'profile'],
          claims_supported: ['sub', 'email', 'name', 'preferred_username', 'groups'],
        });
      case '/jwks':
        return send(res, 200, { keys: [jwk] });
      case '/authorize': {
        if (q.get('client_id') !== clientId || q.get('response_type') !== 'code' || !q.get('redirect_uri')) {
          return send(res, 400, { error: 'invalid_request' });
        }
        const code = random();
        codes.set(code, {
          redirect_uri: q.get('redirect_uri'),
          nonce: q.get('nonce'),
          challenge: q.get('code_challenge'),
          method: q.get('code_challenge_method') || 'plain',
        });
        const to = new URL(q.get('redirect_uri'));
        to.searchParams.set('code', code);
        if (q.has('state')) to.searchParams.set('state', q.get('state'));
        return send(res, 302, '', { Location: to.toString() });
      }
      case '/token': {
        const form = new URLSearchParams(body);
        if (req.method !== 'POST') return send(res, 405, { error: 'invalid_request' });
        if (!clientOk(req, form)) return send(res, 401, { error: 'invalid_client' });
        if (form.get('grant_type') === 'authorization_code') {
          const c = codes.get(form.get('code'));
          codes.delete(form.get('code'));
          if (!c || c.redirect_uri !== form.get('redirect_uri')) return send(res, 400, { error: 'invalid_grant' });
          if (c.challenge) {
            const v = form.get('code_verifier') || '';
            const got = c.method === 'S256' ? crypto.createHash('sha256').update(v).digest('base64url') : v;
            if (got !== c.challenge) return send(res, 400, { error: 'invalid_grant', error_description: 'PKCE' });
          }
          return send(res, 200, tokens(c.nonce));
        }
        if (form.get('grant_type') === 'refresh_token') {
          if (!refresh.delete(form.get('refresh_token'))) return send(res, 400, { error: 'invalid_grant' });
          return send(res, 200, tokens(null));
        }
        return send(res, 400, { error: 'unsupported_grant_type' });
      }
      case '/userinfo': {
        const auth = req.headers.authorization || '';
        if (!auth.startsWith('Bearer ') || !access.has(auth.slice(7))) return send(res, 401, { error: 'invalid_token' });
        return send(res, 200, identity);
      }
      case '/end_session': {
        const to = q.get('post_logout_redirect_uri');
        return to ? send(res, 302, '', { Location: to }) : send(res, 200, 'signed out\n');
      }
      default:
        return send(res, 404, { error: 'not_found' });
    }
  });
});
process.on('SIGTERM', () => process.exit(0));
server.listen(port, '127.0.0.1');
