// JWT client authentication (edge_auth jwt), keys from files and secrets: every
// JWS algorithm end to end (JWKS file, PEM key, certificate, HMAC secret inline /
// file: / env:, and JWKS URLs for PS* ES512 EdDSA), the allow-list and its
// defaults, the attacks of issue 4 (alg none in any casing, HS256 signed with the
// RSA public key, key/alg mismatch, wrong key, tampering, stripped / zero / DER /
// short signatures, crit, b64, malformed and oversized tokens), exp / nbf / iat
// with leeway, iss / aud, claim rules (403), claim and identity headers
// (anti-spoofing), variables, `edge_auth bearer jwt`, the token from a variable,
// stripping, inheritance, and the verified-token cache (isolation between
// locations, exp checked on every request).
// JWKS URLs over time (rotation, refetch limits, failures, single flight):
// jwt-jwks.test.mjs. nginx -t: jwt-config.test.mjs.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startStack, loc, assertNoSecrets } from './lib/stack.mjs';
import { headerValues } from './lib/http.mjs';
import { ALGS, genKey, sign, signRaw, rawSignature, jwks, certPem, b64url, now, startJwksServer } from './lib/jwks-server.mjs';

const INVALID = 'Bearer realm="Restricted", error="invalid_token"';
const SCOPE = 'Bearer realm="Restricted", error="insufficient_scope"';
const NO_TOKEN = 'Bearer realm="Restricted"';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Every token sent and every key secret: none may reach the error log.
const sent = new Set();
const secrets = new Set();
const remember = (t) => {
  sent.add(t);
  return t;
};
const bearer = (t) => ({ Authorization: `Bearer ${remember(t)}` });

let seq = 0;
/** Claims of a valid token (a fresh jti each, so no two tokens share a cache entry). */
const claims = (extra = {}) => ({ sub: 'alice', iat: now(), exp: now() + 300, jti: `j-${process.pid}-${++seq}`, ...extra });

// Keys. One RSA key pair serves RS256..PS512 (each with its own kid and JWK "alg").
const rsa = genKey('RS256', { kid: 'rsa-main' });
const rsaOther = genKey('RS256', { kid: 'rsa-other' });
const K = {}; // the configured key of each algorithm
const W = {}; // a different key with the same kid: its tokens must fail the signature
for (const alg of ALGS) {
  const rsaFamily = alg.startsWith('RS') || alg.startsWith('PS');
  K[alg] = genKey(alg, { kid: `kid-${alg}`, ...(rsaFamily ? { from: rsa } : {}) });
  W[alg] = genKey(alg, { kid: `kid-${alg}`, ...(rsaFamily ? { from: rsaOther } : {}) });
}
for (const alg of ['HS256', 'HS384', 'HS512']) secrets.add(K[alg].secret.toString());

// Keys without "alg" members: the default allow-list decides.
const D = {
  rsa: genKey('RS256', { kid: 'd-rsa', jwkAlg: false, from: rsa }),
  p256: genKey('ES256', { kid: 'd-p256', jwkAlg: false }),
  p384: genKey('ES384', { kid: 'd-p384', jwkAlg: false }),
  ed: genKey('EdDSA', { kid: 'd-ed', jwkAlg: false }),
};
// Key/alg mismatch: an RSA key pinned to RS256, a P-256 and an Ed25519 key without "alg".
const M = {
  rsa: genKey('RS256', { kid: 'mm-rsa', from: rsa }),
  p256: genKey('ES256', { kid: 'mm-p256', jwkAlg: false }),
  ed: genKey('EdDSA', { kid: 'mm-ed', jwkAlg: false }),
};
// Algorithm confusion: the RSA key published without "alg".
const C = genKey('RS256', { kid: 'conf-rsa', jwkAlg: false, from: rsa });

// Locations whose key has no kid (PEM, certificate, secret).
const KIDLESS = new Set(['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'ES384']);
const HS_FILE_SECRET = K.HS384.secret.toString();
const HS_ENV_SECRET = K.HS512.secret.toString();
const MIXED_STATIC = `static-${crypto.randomBytes(9).toString('hex')}`;
const MIXED_DOTTED = 'st.at.ic'; // three parts: taken for a JWT, never as a static token
secrets.add(MIXED_STATIC);

describe('edge_auth jwt (keys from files, secrets and JWKS URLs)', () => {
  let js;
  let s;

  before(async () => {
    js = await startJwksServer();
    js.set('ps', { keys: [K.PS256, K.PS384, K.PS512] });
    js.set('es512', { keys: [K.ES512] });
    js.set('eddsa', { keys: [K.EdDSA] });
    js.set('confusion', { keys: [C] });

    const anyKeys = ALGS.filter((a) => !a.startsWith('HS')).map((a) => K[a]);
    s = await startStack({
      main: 'env EA_JWT_HS512;',
      env: { EA_JWT_HS512: HS_ENV_SECRET },
      ports: 2,
      files: {
        'keys/rs256.pem': rsa.pem,
        'keys/rs384.crt': certPem(rsa),
        'keys/rs512.jwks': jwks(K.RS512),
        'keys/es256.jwks': jwks(K.ES256),
        'keys/es384.pem': K.ES384.pem,
        'keys/default.jwks': jwks(D.rsa, D.p256, D.p384, D.ed),
        'keys/any.jwks': jwks(...anyKeys),
        'keys/mismatch.jwks': jwks(M.rsa, M.p256, M.ed),
        'keys/confusion.pem': rsa.pem,
        'secrets/hs384': `${HS_FILE_SECRET}\n`,
      },
      http: ({ ports, path }) => {
        const ES = `edge_auth jwt; edge_auth_jwt_keys ${path('keys/es256.jwks')};`;
        const algLoc = {
          HS256: `edge_auth_jwt_secret ${K.HS256.secret};`,
          HS384: `edge_auth_jwt_secret file:${path('secrets/hs384')};`,
          HS512: 'edge_auth_jwt_secret env:EA_JWT_HS512;',
          RS256: `edge_auth_jwt_keys ${path('keys/rs256.pem')};`,
          RS384: `edge_auth_jwt_keys ${path('keys/rs384.crt')};`,
          RS512: `edge_auth_jwt_keys ${path('keys/rs512.jwks')};`,
          PS256: `edge_auth_jwt_keys ${js.url('ps')};`,
          PS384: `edge_auth_jwt_keys ${js.url('ps')};`,
          PS512: `edge_auth_jwt_keys ${js.url('ps')};`,
          ES256: `edge_auth_jwt_keys ${path('keys/es256.jwks')};`,
          ES384: `edge_auth_jwt_keys ${path('keys/es384.pem')};`,
          ES512: `edge_auth_jwt_keys ${js.url('es512')};`,
          EdDSA: `edge_auth_jwt_keys ${js.url('eddsa')};`,
        };
        return `
    server {
        listen 127.0.0.1:${ports[0]};
        large_client_header_buffers 4 64k;
${ALGS.map((alg) => loc(`/alg/${alg}/`, `edge_auth jwt; ${algLoc[alg]} edge_auth_jwt_algorithms ${alg};`)).join('\n')}
        ${loc('/default-keys/', `edge_auth jwt; edge_auth_jwt_keys ${path('keys/default.jwks')};`)}
        ${loc('/default-secret/', `edge_auth jwt; edge_auth_jwt_secret ${K.HS256.secret};`)}
        ${loc('/any/', `edge_auth jwt; edge_auth_jwt_keys ${path('keys/any.jwks')}; edge_auth_jwt_secret ${K.HS256.secret}; edge_auth_jwt_algorithms ${ALGS.join(' ')};`)}
        ${loc('/mismatch/', `edge_auth jwt; edge_auth_jwt_keys ${path('keys/mismatch.jwks')}; edge_auth_jwt_algorithms RS256 PS256 ES256 ES384 EdDSA HS256;`)}
        ${loc('/confusion-jwks/', `edge_auth jwt; edge_auth_jwt_keys ${js.url('confusion')}; edge_auth_jwt_algorithms RS256 HS256;`)}
        ${loc('/confusion-pem/', `edge_auth jwt; edge_auth_jwt_keys ${path('keys/confusion.pem')}; edge_auth_jwt_algorithms RS256 HS256;`)}
        ${loc('/time/', ES)}
        ${loc('/leeway0/', `${ES} edge_auth_jwt_leeway 0;`)}
        ${loc('/noexp/', `${ES} edge_auth_jwt_require_exp off;`)}
        ${loc('/claims/', `${ES} edge_auth_jwt_issuer https://issuer.one/ https://issuer.two/; edge_auth_jwt_audience api://orders api://billing;`)}
        ${loc('/rules/', `${ES}
            edge_auth_require scope contains orders.read;
            edge_auth_require realm_access.roles contains admin;
            edge_auth_require tenant in acme,globex;
            edge_auth_require email match "^[a-z]+@example\\.com$";
            edge_auth_require plan ne free;
            edge_auth_require email_verified eq true;
            edge_auth_require sub exists;`)}
        ${loc('/headers/', `${ES}
            edge_auth_claim_header X-Tenant tenant;
            edge_auth_claim_header X-Org-Id org.id;
            edge_auth_claim_header X-Roles realm_access.roles;
            edge_auth_claim_header X-Url-Roles https://example.com/roles;
            edge_auth_claim_header X-Missing no_such_claim;
            edge_auth_identity_headers on;`)}
        ${loc('/vars/', `${ES}
            edge_auth_upstream_header X-V-Email $edge_auth_email;
            edge_auth_upstream_header X-V-Groups $edge_auth_groups;
            edge_auth_upstream_header X-V-Tenant $edge_auth_claim_tenant;
            edge_auth_upstream_header X-V-Amr $edge_auth_claim_amr;
            edge_auth_upstream_header X-V-Level $edge_auth_claim_level;
            edge_auth_upstream_header X-V-Text "user=$edge_auth_user method=$edge_auth_method";
            proxy_set_header X-P-Sub $edge_auth_user;
            add_header X-A-Tenant $edge_auth_claim_tenant always;`)}
        ${loc('/mixed/', `edge_auth bearer jwt; edge_auth_token ${MIXED_STATIC} label=svc; edge_auth_token ${MIXED_DOTTED} label=dotted; edge_auth_jwt_secret ${K.HS256.secret};`)}
        ${loc('/cookie/', `${ES} edge_auth_jwt_token $cookie_access_token;`)}
        ${loc('/arg/', `${ES} edge_auth_jwt_token $arg_token;`)}
        ${loc('/nostrip/', `${ES} edge_auth_strip_credentials off;`)}
        ${loc('/realm/', `${ES} edge_auth_realm "JWT Zone";`)}
        ${loc('/iso-a/', `${ES} edge_auth_jwt_issuer https://a.example/;`)}
        ${loc('/iso-b/', `${ES} edge_auth_jwt_issuer https://b.example/;`)}
        ${loc('/iso-rules/', `${ES} edge_auth_jwt_issuer https://a.example/; edge_auth_require scope contains admin;`)}
        ${loc('/iso-aud/', `${ES} edge_auth_jwt_issuer https://a.example/; edge_auth_jwt_audience api://x;`)}
        ${loc('/iso-hs/', `edge_auth jwt; edge_auth_jwt_secret ${K.HS384.secret}; edge_auth_jwt_algorithms HS256;`)}
    }
    server {
        listen 127.0.0.1:${ports[1]};
        edge_auth jwt;
        edge_auth_jwt_keys ${path('keys/es256.jwks')};
        edge_auth_jwt_issuer https://inherit.example/;
        edge_auth_claim_header X-Tenant tenant;
        ${loc('/inherit/')}
        ${loc('/override/', 'edge_auth_jwt_issuer https://other.example/;')}
        ${loc('/public/', 'edge_auth off;')}
    }`;
      },
    });
  });

  after(async () => {
    try {
      if (s) await s.stop();
    } finally {
      if (js) await js.close();
    }
    // Not the token, not its signature, not a secret.
    const all = [...secrets];
    for (const t of sent) {
      all.push(t);
      const sig = t.split('.')[2];
      if (sig && sig.length >= 16) all.push(sig);
    }
    if (s) assertNoSecrets(s.ngx.errorLog(), all);
  });

  describe('every algorithm end to end', () => {
    for (const alg of ALGS) {
      it(`${alg}: accepted with a matching allow-list; wrong key, tampered payload and the 12 other algorithms refused`, async () => {
        const path = `/alg/${alg}/`;
        const t = await sign(K[alg], claims({ sub: `user-${alg}` }));
        const seen = await s.allowed(`${path}a`, bearer(t));
        assert.equal(seen.headers['x-edge-user'], `user-${alg}`, '$edge_auth_user = sub');
        assert.equal(seen.headers['x-edge-method'], 'jwt');
        assert.equal(seen.headers.authorization, undefined, 'the token is stripped before proxying');
        await s.allowed(`${path}b`, bearer(t)); // again (from the verified-token cache)
        await s.allowed(`${path}c`, bearer(await sign(K[alg], claims(), { header: { kid: undefined } }))); // no kid: every fitting key

        // A key without a kid (PEM, certificate, secret) stands in for any kid; when it
        // does not verify, the token's kid named no key: "unknown key id" (jose.h).
        const withKid = KIDLESS.has(alg) ? 'unknown key id' : 'signature mismatch';
        await s.denied(path, bearer(await sign(W[alg], claims())), { reason: withKid, challenges: [INVALID] });
        await s.denied(path, bearer(await sign(W[alg], claims(), { header: { kid: undefined } })), { reason: 'signature mismatch', challenges: [INVALID] });
        const [h, , sig] = t.split('.');
        const forged = `${h}.${b64url(claims({ sub: 'admin' }))}.${sig}`;
        await s.denied(path, bearer(forged), { reason: withKid, challenges: [INVALID] });
        const retyped = `${b64url({ alg, typ: 'at+jwt' })}.${t.split('.')[1]}.${sig}`;
        await s.denied(path, bearer(retyped), { reason: 'signature mismatch' });

        for (const other of ALGS.filter((a) => a !== alg)) {
          await s.denied(path, bearer(await sign(K[other], claims())), { reason: 'algorithm not allowed', challenges: [INVALID] });
        }
      });
    }

    it('50 parallel requests, distinct tokens over every algorithm: all accepted', async () => {
      const jobs = [];
      for (let i = 0; i < 50; i++) {
        const alg = ALGS[i % ALGS.length];
        const t = remember(await sign(K[alg], claims({ sub: `p${i}` })));
        jobs.push(s.get(`/alg/${alg}/p${i}`, { Authorization: `Bearer ${t}` }).then((r) => [i, r]));
      }
      for (const [i, r] of await Promise.all(jobs)) {
        assert.equal(r.status, 200, `request ${i} (${ALGS[i % ALGS.length]}): ${r.status} ${r.headers['x-err']}`);
        assert.equal(r.json().headers['x-edge-user'], `p${i}`);
      }
    });
  });

  describe('default allow-lists', () => {
    it('keys only: RS256 and ES256; PS256 with the same RSA key, ES384, EdDSA, HS256 refused', async () => {
      await s.allowed('/default-keys/', bearer(await sign({ ...D.rsa, alg: 'RS256' }, claims())));
      await s.allowed('/default-keys/', bearer(await sign(D.p256, claims())));
      for (const [key, alg] of [[D.rsa, 'PS256'], [D.p384, 'ES384'], [D.ed, 'EdDSA'], [K.HS256, 'HS256']]) {
        const t = await sign({ ...key, alg }, claims());
        await s.denied('/default-keys/', bearer(t), { reason: 'algorithm not allowed', challenges: [INVALID] });
      }
    });

    it('a secret only: HS256; HS384 and HS512 with the same secret refused, RS256 refused', async () => {
      await s.allowed('/default-secret/', bearer(await sign(K.HS256, claims())));
      for (const alg of ['HS384', 'HS512']) {
        await s.denied('/default-secret/', bearer(await sign({ ...K.HS256, alg }, claims())), { reason: 'algorithm not allowed' });
      }
      await s.denied('/default-secret/', bearer(await sign(K.RS256, claims())), { reason: 'algorithm not allowed' });
    });
  });

  describe('attacks', () => {
    it('alg "none" in any casing, with or without a signature, is refused even when every algorithm is allowed', async () => {
      for (const path of ['/any/', '/default-secret/', '/alg/RS256/']) {
        for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
          const h = b64url({ alg, typ: 'JWT' });
          const p = b64url(claims({ sub: 'admin' }));
          await s.denied(path, bearer(`${h}.${p}.`), { reason: 'malformed token', challenges: [INVALID] });
          await s.denied(path, bearer(`${h}.${p}.${b64url(crypto.randomBytes(32))}`), { reason: 'unsecured token (alg none)', challenges: [INVALID] });
          const withKid = b64url({ alg, kid: K.RS256.kid });
          await s.denied(path, bearer(`${withKid}.${p}.${b64url('x')}`), { reason: 'unsecured token (alg none)' });
        }
      }
    });

    it('algorithm confusion: HS256 signed with the RSA public key (PEM text, DER, n, JWK) and RS256 HS256 allowed: refused', async () => {
      const pem = rsa.pem;
      const macKeys = {
        'PEM text': Buffer.from(pem),
        'PEM text without the final newline': Buffer.from(pem.trimEnd()),
        'SPKI DER': rsa.publicKey.export({ format: 'der', type: 'spki' }),
        'PKCS#1 PEM': Buffer.from(rsa.publicKey.export({ format: 'pem', type: 'pkcs1' })),
        'modulus n': Buffer.from(rsa.jwk.n, 'base64url'),
        'JWK JSON': Buffer.from(JSON.stringify(C.jwk)),
      };
      const reasons = new Set(['key does not match algorithm', 'no key for algorithm', 'unknown key id']);
      for (const path of ['/confusion-jwks/', '/confusion-pem/']) {
        // the keys work for RS256
        await s.allowed(path, bearer(await sign(C, claims())));
        for (const [what, hmacKey] of Object.entries(macKeys)) {
          for (const kid of [C.kid, undefined]) {
            const header = kid ? { alg: 'HS256', typ: 'JWT', kid } : { alg: 'HS256', typ: 'JWT' };
            const t = signRaw(null, header, claims({ sub: 'admin' }), { hmacKey });
            const res = await s.denied(path, bearer(t), { challenges: [INVALID] });
            assert.ok(reasons.has(res.headers['x-err']), `${path} ${what} kid=${kid}: reason ${res.headers['x-err']}`);
          }
        }
      }
    });

    it('key/alg mismatch: PS256 on an RS256-pinned key, ES384 on a P-256 key, ES256 and EdDSA on the wrong curve, HS256 on the RSA key', async () => {
      await s.allowed('/mismatch/', bearer(await sign(M.rsa, claims())));
      await s.allowed('/mismatch/', bearer(await sign(M.p256, claims())));
      await s.allowed('/mismatch/', bearer(await sign(M.p256, claims(), { header: { kid: undefined } })));
      await s.allowed('/mismatch/', bearer(await sign(M.ed, claims())));
      const cases = [
        ['PS256 with the RS256 key', signRaw(M.rsa, { alg: 'PS256', kid: 'mm-rsa' }, claims())],
        ['ES384 naming the P-256 key', signRaw(M.p256, { alg: 'ES384', kid: 'mm-p256' }, claims(), { signature: crypto.randomBytes(96) })],
        ['ES256 naming the Ed25519 key', signRaw(M.ed, { alg: 'ES256', kid: 'mm-ed' }, claims(), { signature: crypto.randomBytes(64) })],
        ['EdDSA naming the P-256 key', signRaw(M.p256, { alg: 'EdDSA', kid: 'mm-p256' }, claims(), { signature: crypto.randomBytes(64) })],
        ['HS256 naming the RSA key, MAC with its PEM', signRaw(null, { alg: 'HS256', kid: 'mm-rsa' }, claims(), { hmacKey: Buffer.from(rsa.pem) })],
      ];
      for (const [what, t] of cases) {
        const res = await s.denied('/mismatch/', bearer(t), { challenges: [INVALID] });
        assert.equal(res.headers['x-err'], 'key does not match algorithm', what);
      }
      const noKid = signRaw(M.p256, { alg: 'ES384' }, claims(), { signature: crypto.randomBytes(96) });
      await s.denied('/mismatch/', bearer(noKid), { reason: 'no key for algorithm' });
      // the P-256 signature (64 bytes) under ES384 (96 expected): refused on its form
      await s.denied('/mismatch/', bearer(signRaw(M.p256, { alg: 'ES384', kid: 'mm-p256' }, claims())), { reason: 'malformed signature' });
    });

    it('unknown kid (keys from a file): refused', async () => {
      const stranger = genKey('ES256', { kid: 'not-configured' });
      await s.denied('/alg/ES256/', bearer(await sign(stranger, claims())), { reason: 'unknown key id', challenges: [INVALID] });
    });

    it('a valid signature from another key (with the configured kid, or none): refused', async () => {
      for (const alg of ['ES256', 'PS256', 'EdDSA']) {
        await s.denied(`/alg/${alg}/`, bearer(await sign(W[alg], claims())), { reason: 'signature mismatch' });
      }
      for (const alg of ['ES384', 'RS256', 'HS256']) {
        await s.denied(`/alg/${alg}/`, bearer(await sign(W[alg], claims(), { header: { kid: undefined } })), { reason: 'signature mismatch' });
      }
    });

    it('ECDSA signatures: zero r||s, DER-encoded, one byte short, one byte long; RSA and Ed25519 signatures cut short', async () => {
      const input = (alg, key) => `${b64url({ alg, kid: key.kid })}.${b64url(claims())}`;
      const path = '/any/'; // keys with kids: the signature decides
      for (const alg of ['ES256', 'ES384', 'ES512']) {
        const key = K[alg];
        const size = { ES256: 64, ES384: 96, ES512: 132 }[alg];
        const si = input(alg, key);
        // the genuine signature is accepted (the case below differ from it only in form)
        await s.allowed(path, bearer(`${si}.${b64url(rawSignature(key, alg, si))}`));
        await s.denied(path, bearer(`${si}.${b64url(Buffer.alloc(size))}`), { reason: /^(signature mismatch|malformed signature)$/ });
        let der;
        do der = rawSignature(key, alg, si, { der: true });
        while (der.length === size);
        await s.denied(path, bearer(`${si}.${b64url(der)}`), { reason: 'malformed signature' });
        const raw = rawSignature(key, alg, si);
        await s.denied(path, bearer(`${si}.${b64url(raw.subarray(1))}`), { reason: 'malformed signature' });
        await s.denied(path, bearer(`${si}.${b64url(Buffer.concat([raw, Buffer.alloc(1)]))}`), { reason: 'malformed signature' });
      }
      const rsi = input('RS256', K.RS256);
      const rsig = rawSignature(K.RS256, 'RS256', rsi);
      await s.denied(path, bearer(`${rsi}.${b64url(rsig.subarray(0, 255))}`), { reason: /^(signature mismatch|malformed signature)$/ });
      const esi = input('EdDSA', K.EdDSA);
      const esig = rawSignature(K.EdDSA, 'EdDSA', esi);
      await s.denied(path, bearer(`${esi}.${b64url(esig.subarray(0, 63))}`), { reason: 'malformed signature' });
      const hsi = `${b64url({ alg: 'HS256' })}.${b64url(claims())}`;
      const hsig = rawSignature(K.HS256, 'HS256', hsi);
      await s.allowed('/alg/HS256/', bearer(`${hsi}.${b64url(hsig)}`));
      await s.denied('/alg/HS256/', bearer(`${hsi}.${b64url(hsig.subarray(0, 16))}`), { reason: 'malformed signature' });
    });

    it('crit with an unknown member, b64: false: refused although correctly signed', async () => {
      const k = K.ES256;
      const t1 = signRaw(k, { alg: 'ES256', kid: k.kid, crit: ['https://example.com/ext'], 'https://example.com/ext': true }, claims());
      await s.denied('/alg/ES256/', bearer(t1), { reason: 'unsupported critical header', challenges: [INVALID] });
      const t2 = signRaw(k, { alg: 'ES256', kid: k.kid, crit: ['exp'], exp: now() + 60 }, claims());
      await s.denied('/alg/ES256/', bearer(t2), { reason: 'unsupported critical header' });
      const t3 = signRaw(k, { alg: 'ES256', kid: k.kid, b64: false, crit: ['b64'] }, claims());
      await s.denied('/alg/ES256/', bearer(t3), { reason: /^(unencoded payload not supported|unsupported critical header)$/ });
      const t4 = signRaw(k, { alg: 'ES256', kid: k.kid, b64: false }, claims());
      await s.denied('/alg/ES256/', bearer(t4), { reason: /^(unencoded payload not supported|malformed token header)$/ });
    });

    it('malformed tokens: 401 invalid_token with the reason, never a crash', async () => {
      const k = K.ES256;
      const good = await sign(k, claims());
      const [h, p, sig] = good.split('.');
      const signed = (header, payload) => signRaw(k, header, payload, { alg: 'ES256' });
      const hdr = { alg: 'ES256', kid: k.kid };
      let nested = { x: 1 };
      for (let i = 0; i < 40; i++) nested = { n: nested };
      // a signature with '-' or '_' in it, to spell it in the standard base64 alphabet
      let alt;
      for (let i = 0; i < 50 && !alt; i++) {
        const t = await sign(k, claims());
        if (/[-_]/.test(t.split('.')[2])) alt = t;
      }
      assert.ok(alt, 'no signature with - or _ in 50 tries');
      const [ah, ap, asig] = alt.split('.');
      const stdAlphabet = `${ah}.${ap}.${asig.replace(/-/g, '+').replace(/_/g, '/')}`;
      const big = await sign(k, claims({ filler: 'x'.repeat(20 * 1024) }));
      assert.ok(big.length > 20 * 1024);

      const rows = [
        ['one part', h, 'malformed token'],
        ['two parts', `${h}.${p}`, 'malformed token'],
        ['four parts', `${good}.${sig}`, 'malformed token'],
        ['five parts', `${good}..`, 'malformed token'],
        ['empty header', `.${p}.${sig}`, 'malformed token'],
        ['empty payload', `${h}..${sig}`, 'malformed token'],
        ['stripped signature', `${h}.${p}.`, 'malformed token'],
        ['only dots', '..', 'malformed token'],
        ['padded header', `${h}==.${p}.${sig}`, 'malformed token'],
        ['padded signature', `${h}.${p}.${sig}==`, 'malformed token'],
        ['standard base64 alphabet in the signature', stdAlphabet, 'malformed token'],
        ['a character outside base64url', `${h}.${p}!.${sig}`, 'malformed token'],
        ['a percent-encoded dot', `${h}%2E${p}.${sig}`, 'malformed token'],
        ['non-JSON header', `${b64url('not json at all')}.${p}.${sig}`, 'malformed token header'],
        ['header is a JSON array', signed('["alg","ES256"]', claims()), 'malformed token header'],
        ['header is a JSON string', signed('"ES256"', claims()), 'malformed token header'],
        ['header is binary', `${b64url(Buffer.from([0xff, 0xfe, 0x00, 0x7b]))}.${p}.${sig}`, 'malformed token header'],
        ['header with a duplicate alg', signed(`{"alg":"ES256","kid":"${k.kid}","alg":"none"}`, claims()), 'malformed token header'],
        ['header without alg', signed({ kid: k.kid }, claims()), 'malformed token header'],
        ['alg is a number', signed({ alg: 256, kid: k.kid }, claims()), 'malformed token header'],
        ['kid is a number', signed({ alg: 'ES256', kid: 7 }, claims()), 'malformed token header'],
        ['kid with a control character', signed({ alg: 'ES256', kid: 'a\nb' }, claims()), 'malformed token header'],
        ['alg in lower case', signed({ alg: 'es256', kid: k.kid }, claims()), 'unknown algorithm'],
        ['alg HS1024', signed({ alg: 'HS1024', kid: k.kid }, claims()), 'unknown algorithm'],
        ['payload not JSON (signed)', signed(hdr, 'not json'), 'malformed token payload'],
        ['payload a JSON array (signed)', signed(hdr, '[1,2,3]'), 'malformed token payload'],
        ['payload with a duplicate sub (signed)', signed(hdr, `{"sub":"alice","exp":${now() + 300},"sub":"admin"}`), 'malformed token payload'],
        ['payload nested 40 deep (signed)', signed(hdr, claims({ deep: nested })), 'malformed token payload'],
        ['exp is a string', signed(hdr, claims({ exp: String(now() + 300) })), 'malformed claim'],
        ['huge token, 20 KB, valid signature', big, /too (large|long)$/],
        ['huge garbage, 20 KB', `${'A'.repeat(10_000)}.${'B'.repeat(10_000)}.${'C'.repeat(500)}`, /too (large|long)$/],
      ];
      const failures = [];
      for (const [what, t, reason] of rows) {
        try {
          await s.denied('/alg/ES256/', bearer(t), { reason, challenges: [INVALID] });
        } catch (e) {
          failures.push(`${what}: got ${JSON.stringify(e.actual)}, expected ${JSON.stringify(e.expected)}`);
        }
      }
      assert.deepEqual(failures, []);
      // and the location still works
      await s.allowed('/alg/ES256/', bearer(good));
    });
  });

  describe('token size', () => {
    // The JOSE core takes tokens up to 16 KB (JwtPolicy::max_token_size); IdPs put
    // group lists in access tokens, so 4-16 KB tokens occur in practice.
    it('a 10 KB JWT is accepted from Authorization as it is from a cookie', async () => {
      const t = await sign(K.ES256, claims({ sub: 'big', groups: Array.from({ length: 400 }, (_, i) => `group-${i}-xxxxxxxxxx`) }));
      assert.ok(t.length > 9000 && t.length < 16 * 1024, `${t.length}`);
      await s.allowed('/cookie/', { Cookie: `access_token=${remember(t)}` });
      await s.allowed('/alg/ES256/', bearer(t));
    });
  });

  describe('time claims', () => {
    it('leeway 30 s (default): exp, nbf and iat within it accepted, beyond it refused; exp required', async () => {
      const n = now();
      await s.allowed('/time/', bearer(await sign(K.ES256, claims({ exp: n - 10 }))));
      await s.denied('/time/', bearer(await sign(K.ES256, claims({ exp: n - 45 }))), { reason: 'token expired', challenges: [INVALID] });
      await s.allowed('/time/', bearer(await sign(K.ES256, claims({ nbf: n + 10 }))));
      await s.denied('/time/', bearer(await sign(K.ES256, claims({ nbf: n + 45 }))), { reason: 'token not yet valid' });
      await s.allowed('/time/', bearer(await sign(K.ES256, claims({ iat: n + 10 }))));
      await s.denied('/time/', bearer(await sign(K.ES256, claims({ iat: n + 45 }))), { reason: 'token issued in the future' });
      await s.denied('/time/', bearer(await sign(K.ES256, claims({ exp: undefined }))), { reason: 'token has no expiry' });
      await s.denied('/time/', bearer(await sign(K.ES256, claims({ nbf: 'soon' }))), { reason: 'malformed claim' });
    });

    it('leeway 0: expired 2 s ago, valid in 3 s, issued 3 s ahead: refused', async () => {
      const n = now();
      await s.denied('/leeway0/', bearer(await sign(K.ES256, claims({ exp: n - 2 }))), { reason: 'token expired' });
      await s.denied('/leeway0/', bearer(await sign(K.ES256, claims({ nbf: n + 3 }))), { reason: 'token not yet valid' });
      await s.denied('/leeway0/', bearer(await sign(K.ES256, claims({ iat: n + 3 }))), { reason: 'token issued in the future' });
      await s.allowed('/leeway0/', bearer(await sign(K.ES256, claims({ exp: n + 5 }))));
    });

    it('edge_auth_jwt_require_exp off: a token without exp accepted; an expired one still refused', async () => {
      await s.allowed('/noexp/', bearer(await sign(K.ES256, claims({ exp: undefined }))));
      await s.denied('/noexp/', bearer(await sign(K.ES256, claims({ exp: now() - 120 }))), { reason: 'token expired' });
    });

    it('cached tokens: exp checked on every request (exp in 2 s, leeway 0); nbf not cached as a denial', async () => {
      const n = now();
      const soon = await sign(K.ES256, claims({ exp: n + 2 }));
      const later = await sign(K.ES256, claims({ nbf: n + 2, exp: n + 60 }));
      await s.allowed('/leeway0/', bearer(soon));
      await s.allowed('/leeway0/', bearer(soon));
      await s.denied('/leeway0/', bearer(later), { reason: 'token not yet valid' });
      await sleep((n + 3) * 1000 - Date.now() + 100);
      await s.denied('/leeway0/', bearer(soon), { reason: 'token expired', challenges: [INVALID] });
      await s.allowed('/leeway0/', bearer(later));
    });

    it('a denial logs its reason (and not the token)', async () => {
      const lines = s.logMark();
      await s.denied('/time/', bearer(await sign(K.ES256, claims({ exp: now() - 3600 }))), { reason: 'token expired' });
      assert.ok(lines().some((l) => l.includes('token expired')), `no log line with the reason:\n${lines().join('\n')}`);
    });
  });

  describe('issuer and audience', () => {
    const ok = { iss: 'https://issuer.one/', aud: 'api://orders' };
    it('any of the configured issuers and audiences (aud a string or an array)', async () => {
      await s.allowed('/claims/', bearer(await sign(K.ES256, claims(ok))));
      await s.allowed('/claims/', bearer(await sign(K.ES256, claims({ iss: 'https://issuer.two/', aud: ['urn:other', 'api://billing'] }))));
    });

    it('iss: another, absent, without the final slash, a number: refused', async () => {
      for (const iss of ['https://issuer.three/', undefined, 'https://issuer.one', 'HTTPS://ISSUER.ONE/']) {
        await s.denied('/claims/', bearer(await sign(K.ES256, claims({ ...ok, iss }))), { reason: 'issuer not accepted', challenges: [INVALID] });
      }
      await s.denied('/claims/', bearer(await sign(K.ES256, claims({ ...ok, iss: 1 }))), { reason: /^(issuer not accepted|malformed claim)$/ });
    });

    it('aud: another, absent, an array without a configured one, another case, a number: refused', async () => {
      for (const aud of ['api://other', undefined, ['urn:a', 'urn:b'], [], 'API://ORDERS']) {
        await s.denied('/claims/', bearer(await sign(K.ES256, claims({ ...ok, aud }))), { reason: 'audience not accepted', challenges: [INVALID] });
      }
      await s.denied('/claims/', bearer(await sign(K.ES256, claims({ ...ok, aud: 5 }))), { reason: /^(audience not accepted|malformed claim)$/ });
    });
  });

  describe('claim rules (edge_auth_require)', () => {
    const good = {
      scope: 'profile orders.read orders.write',
      realm_access: { roles: ['user', 'admin'] },
      tenant: 'globex',
      email: 'alice@example.com',
      plan: 'pro',
      email_verified: true,
    };

    it('all rules hold: 200', async () => {
      await s.allowed('/rules/', bearer(await sign(K.ES256, claims(good))));
    });

    it('any rule failing: 403 insufficient_scope, backend not contacted', async () => {
      const broken = {
        'scope without orders.read (a prefix does not count)': { scope: 'profile orders.readonly' },
        'no scope': { scope: undefined },
        'roles without admin': { realm_access: { roles: ['user'] } },
        'no realm_access': { realm_access: undefined },
        'tenant not in the list': { tenant: 'acme2' },
        'tenant in another case': { tenant: 'ACME' },
        'email not matching (anchored)': { email: 'alice@example.com.evil.test' },
        'email upper case': { email: 'Alice@example.com' },
        'plan free': { plan: 'free' },
        'no plan (ne with a missing claim denies)': { plan: undefined },
        'email_verified false': { email_verified: false },
        'no sub': { sub: undefined },
      };
      for (const [what, extra] of Object.entries(broken)) {
        const res = await s.denied('/rules/', bearer(await sign(K.ES256, claims({ ...good, ...extra }))), {
          status: 403,
          challenges: [SCOPE],
        });
        assert.match(res.headers['x-err'] ?? '', /claim rule failed/, what);
      }
    });

    it('an invalid token that would also fail the rules: 401, not 403', async () => {
      await s.denied('/rules/', bearer(await sign(K.ES256, claims({ exp: now() - 3600 }))), { status: 401, reason: 'token expired', challenges: [INVALID] });
      await s.denied('/rules/', bearer(await sign(W.ES256, claims(good))), { status: 401, reason: 'signature mismatch' });
    });
  });

  describe('claims upstream', () => {
    const spoof = {
      'X-Tenant': 'evil',
      'X-Org-Id': 'evil-org',
      'X-Roles': 'root',
      'X-Url-Roles': 'root',
      'X-Missing': 'spoofed',
      'X-Auth-Request-User': 'root',
      'X-Auth-Request-Email': 'root@evil.test',
      'X-Auth-Request-Groups': 'wheel',
    };

    it('claim headers and identity headers replace client-sent ones; a missing claim removes the header', async () => {
      const t = await sign(K.ES256, claims({
        sub: 'u-42',
        email: 'alice@example.com',
        groups: ['eng', 'ops'],
        tenant: 'acme',
        org: { id: 'o-7', name: 'Acme' },
        realm_access: { roles: ['user', 'admin'] },
        'https://example.com/roles': ['editor'],
      }));
      const seen = await s.allowed('/headers/', { ...spoof, ...bearer(t) });
      const one = (name) => headerValues(seen.rawHeaders, name);
      assert.deepEqual(one('X-Tenant'), ['acme']);
      assert.deepEqual(one('X-Org-Id'), ['o-7'], 'nested claim');
      assert.deepEqual(one('X-Roles'), ['user,admin'], 'array joined with ","');
      assert.deepEqual(one('X-Url-Roles'), ['editor'], 'a claim named with dots');
      assert.deepEqual(one('X-Missing'), [], 'absent claim: the client value is removed');
      assert.deepEqual(one('X-Auth-Request-User'), ['u-42']);
      assert.deepEqual(one('X-Auth-Request-Email'), ['alice@example.com']);
      assert.deepEqual(one('X-Auth-Request-Groups'), ['eng,ops']);
      assert.deepEqual(one('Authorization'), []);
    });

    it('a token without email, groups, tenant: those headers are removed, not passed from the client', async () => {
      const seen = await s.allowed('/headers/', { ...spoof, ...bearer(await sign(K.ES256, claims({ sub: 'bare' }))) });
      const one = (name) => headerValues(seen.rawHeaders, name);
      assert.deepEqual(one('X-Auth-Request-User'), ['bare']);
      for (const name of ['X-Auth-Request-Email', 'X-Auth-Request-Groups', 'X-Tenant', 'X-Org-Id', 'X-Roles', 'X-Url-Roles', 'X-Missing']) {
        assert.deepEqual(one(name), [], `${name} must not reach the backend`);
      }
    });

    it('a claim with CR/LF is never sent as a header (no header injection)', async () => {
      const t = await sign(K.ES256, claims({ tenant: 'acme\r\nX-Injected: 1', email: 'a@b.c\nX-Injected: 2' }));
      const before = s.echo.hits();
      const res = await s.get('/headers/', { 'X-Tenant': 'evil', ...bearer(t) });
      if (s.echo.hits() > before) {
        const seen = s.echo.last();
        assert.equal(seen.headers['x-injected'], undefined, 'a header was injected');
        assert.ok(!headerValues(seen.rawHeaders, 'X-Tenant').some((v) => v === 'evil' || v.includes('\n')), 'X-Tenant forwarded unsafely');
        assert.equal(res.status, 200);
      } else {
        assert.ok(res.status >= 400, `status ${res.status}`);
      }
    });

    it('variables: $edge_auth_user/method/email/groups and $edge_auth_claim_<name> (arrays joined, numbers)', async () => {
      const t = await sign(K.ES256, claims({ sub: 'vic', email: 'vic@example.com', groups: ['a', 'b', 'c'], tenant: 'initech', amr: ['pwd', 'otp'], level: 3 }));
      const res = await s.get('/vars/', { 'X-V-Tenant': 'evil', ...bearer(t) });
      assert.equal(res.status, 200, res.headers['x-err']);
      const seen = res.json();
      assert.equal(seen.headers['x-v-email'], 'vic@example.com');
      assert.equal(seen.headers['x-v-groups'], 'a,b,c');
      assert.deepEqual(headerValues(seen.rawHeaders, 'X-V-Tenant'), ['initech']);
      assert.equal(seen.headers['x-v-amr'], 'pwd,otp');
      assert.equal(seen.headers['x-v-level'], '3');
      assert.equal(seen.headers['x-v-text'], 'user=vic method=jwt');
      assert.equal(seen.headers['x-p-sub'], 'vic', 'stock proxy_set_header sees $edge_auth_user');
      assert.equal(res.headers['x-a-tenant'], 'initech', 'stock add_header sees $edge_auth_claim_tenant');
    });

    it('variables of a denied request are empty', async () => {
      const res = await s.denied('/vars/', bearer(await sign(W.ES256, claims({ tenant: 'initech' }))), { reason: 'signature mismatch' });
      assert.equal(res.headers['x-a-tenant'], undefined, 'a claim of an unverified token must not be exposed');
    });
  });

  describe('token sources and methods', () => {
    it('edge_auth bearer jwt: a static token, a JWT, and a three-part string never taken for a static token', async () => {
      const st = await s.allowed('/mixed/', bearer(MIXED_STATIC));
      assert.equal(st.headers['x-edge-method'], 'bearer');
      assert.equal(st.headers['x-edge-user'], 'svc');
      const jw = await s.allowed('/mixed/', bearer(await sign(K.HS256, claims({ sub: 'jwt-user' }))));
      assert.equal(jw.headers['x-edge-method'], 'jwt');
      assert.equal(jw.headers['x-edge-user'], 'jwt-user');
      await s.denied('/mixed/', bearer('not-a-configured-token'), { reason: 'unknown token' });
      await s.denied('/mixed/', bearer(await sign(W.HS256, claims(), { header: { kid: undefined } })), { reason: 'signature mismatch', challenges: [INVALID] });
      const dotted = await s.denied('/mixed/', bearer(MIXED_DOTTED), { challenges: [INVALID] });
      assert.match(dotted.headers['x-err'] ?? '', /^malformed token/, 'a three-part credential is verified as a JWT');
      await s.denied('/mixed/', {}, { reason: 'no credentials', challenges: [NO_TOKEN] });
    });

    it('no token: 401 Bearer challenge without an error parameter; another scheme likewise', async () => {
      await s.denied('/alg/ES256/', {}, { reason: 'no credentials', challenges: [NO_TOKEN] });
      const res = await s.denied('/alg/ES256/', { Authorization: 'Basic YWxpY2U6cHc=' }, {});
      const ch = headerValues(res, 'WWW-Authenticate');
      assert.equal(ch.length, 1);
      assert.ok(ch[0].startsWith(NO_TOKEN), ch[0]);
    });

    it('edge_auth_jwt_token $cookie_access_token: the cookie, not Authorization', async () => {
      const t = remember(await sign(K.ES256, claims({ sub: 'cookie-user' })));
      const seen = await s.allowed('/cookie/', { Cookie: `theme=dark; access_token=${t}; x=y` });
      assert.equal(seen.headers['x-edge-user'], 'cookie-user');
      await s.denied('/cookie/', {}, { challenges: [NO_TOKEN] });
      await s.denied('/cookie/', bearer(await sign(K.ES256, claims())), { challenges: [NO_TOKEN] });
      await s.denied('/cookie/', { Cookie: `access_token=${remember(await sign(W.ES256, claims()))}` }, { reason: 'signature mismatch', challenges: [INVALID] });
    });

    it('edge_auth_jwt_token $arg_token: the query argument', async () => {
      const t = remember(await sign(K.ES256, claims({ sub: 'arg-user' })));
      const seen = await s.allowed(`/arg/?a=1&token=${t}`);
      assert.equal(seen.headers['x-edge-user'], 'arg-user');
      await s.denied('/arg/?a=1', {}, { challenges: [NO_TOKEN] });
      const bad = remember(await sign(W.ES256, claims()));
      await s.denied(`/arg/?token=${bad}`, {}, { reason: 'signature mismatch', challenges: [INVALID] }); // logged without the query
    });

    it('Authorization stripped by default, kept with edge_auth_strip_credentials off', async () => {
      const t = await sign(K.ES256, claims());
      assert.equal((await s.allowed('/time/', bearer(t))).headers.authorization, undefined);
      assert.equal((await s.allowed('/nostrip/', bearer(t))).headers.authorization, `Bearer ${t}`);
    });

    it('edge_auth_realm is used in both challenges', async () => {
      await s.denied('/realm/', {}, { challenges: ['Bearer realm="JWT Zone"'] });
      await s.denied('/realm/', bearer(await sign(W.ES256, claims())), { challenges: ['Bearer realm="JWT Zone", error="invalid_token"'] });
    });

    it('server-level settings are inherited per directive; a location overrides one; edge_auth off', async () => {
      const t = await sign(K.ES256, claims({ iss: 'https://inherit.example/', tenant: 'acme' }));
      const seen = await s.allowed('/inherit/', { 'X-Tenant': 'evil', ...bearer(t) }, { which: 1 });
      assert.equal(seen.headers['x-edge-method'], 'jwt');
      assert.deepEqual(headerValues(seen.rawHeaders, 'X-Tenant'), ['acme'], 'edge_auth_claim_header inherited');
      await s.denied('/override/', bearer(t), { which: 1, reason: 'issuer not accepted' });
      await s.allowed('/override/', bearer(await sign(K.ES256, claims({ iss: 'https://other.example/' }))), { which: 1 });
      await s.allowed('/public/', {}, { which: 1 });
    });
  });

  describe('verified-token cache', () => {
    it('a token cached for one location is not accepted where the issuer, audience, allow-list, leeway, require_exp or secret differ; rules apply per request', async () => {
      const t = await sign(K.ES256, claims({ iss: 'https://a.example/', scope: 'read' }));
      await s.allowed('/iso-a/', bearer(t));
      await s.allowed('/iso-a/', bearer(t));
      await s.denied('/iso-b/', bearer(t), { reason: 'issuer not accepted' });
      await s.denied('/iso-aud/', bearer(t), { reason: 'audience not accepted' });
      await s.denied('/iso-rules/', bearer(t), { status: 403, challenges: [SCOPE] });
      await s.allowed('/iso-a/', bearer(t));

      // same keys, another allow-list / leeway / require_exp
      const ps = await sign(K.PS256, claims());
      await s.allowed('/alg/PS256/', bearer(ps));
      await s.denied('/alg/PS384/', bearer(ps), { reason: 'algorithm not allowed' });
      const late = await sign(K.ES256, claims({ exp: now() - 10 }));
      await s.allowed('/time/', bearer(late));
      await s.denied('/leeway0/', bearer(late), { reason: 'token expired' });
      const noExp = await sign(K.ES256, claims({ exp: undefined }));
      await s.allowed('/noexp/', bearer(noExp));
      await s.denied('/time/', bearer(noExp), { reason: 'token has no expiry' });

      const h = await sign(K.HS256, claims(), { header: { kid: undefined } });
      await s.allowed('/default-secret/', bearer(h));
      await s.denied('/iso-hs/', bearer(h), { reason: 'signature mismatch' });
      await s.allowed('/default-secret/', bearer(h));
    });
  });
});

// nginx variable names cannot hold dots, so nested claims use "__" for "." (README, Variables).
describe('nested claim variables: $edge_auth_claim_realm_access__roles', () => {
  let s;
  const key = genKey('ES256', { kid: 'dot' });
  after(async () => {
    if (s) {
      await s.stop();
      assertNoSecrets(s.ngx.errorLog(), [...sent]);
    }
  });

  it('nested claims through __ in edge_auth_upstream_header', async () => {
    s = await startStack({
      files: { 'keys.jwks': jwks(key) },
      http: ({ port, path }) => `
    server {
        listen 127.0.0.1:${port};
        ${loc('/d/', `edge_auth jwt; edge_auth_jwt_keys ${path('keys.jwks')} ;
            edge_auth_upstream_header X-Claim-Roles $edge_auth_claim_realm_access__roles;
            edge_auth_upstream_header X-Claim-Org "org=\${edge_auth_claim_org__id}";`)}
    }`,
    });
    const t = remember(await sign(key, claims({ realm_access: { roles: ['user', 'admin'] }, org: { id: 'o-9' } })));
    const seen = await s.allowed('/d/', { Authorization: `Bearer ${t}`, 'X-Claim-Roles': 'evil' });
    assert.deepEqual(headerValues(seen.rawHeaders, 'X-Claim-Roles'), ['user,admin']);
    assert.equal(seen.headers['x-claim-org'], 'org=o-9');
  });
});
