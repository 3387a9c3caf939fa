// JWT configuration: what `nginx -t` must reject (with file:line where the
// directive is at fault, and the reason) and what it must accept.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { server, expectRejected, expectAccepted } from './lib/conf-check.mjs';
import { genKey, jwks } from './lib/jwks-server.mjs';

const SECRET = crypto.randomBytes(24).toString('base64url'); // 32 characters
const es = genKey('ES256', { kid: 'es' });
const rsaSmall = genKey('RS256', { kid: 'small', bits: 1024 });
const rsa = genKey('RS256', { kid: 'big' });

describe('nginx -t: edge_auth jwt', () => {
  it('edge_auth jwt without keys or a secret', async () => {
    const res = await expectRejected(server('edge_auth jwt;'), { mentions: ['edge_auth_jwt_keys', 'edge_auth_jwt_secret'] });
    assert.match(res.output, /\[emerg\]/);
  });

  it('edge_auth bearer jwt without keys or a secret', async () => {
    await expectRejected(server('edge_auth bearer jwt; edge_auth_token some-static-token;'), { mentions: ['edge_auth_jwt_keys'] });
  });

  it('edge_auth_jwt_algorithms none: "never accepted", alone or in a list', async () => {
    for (const list of ['none', 'RS256 none']) {
      await expectRejected(server(`edge_auth jwt; edge_auth_jwt_secret ${SECRET}; edge_auth_jwt_algorithms ${list};`), {
        at: 'edge_auth_jwt_algorithms',
        mentions: ['none', 'never accepted'],
      });
    }
  });

  it('edge_auth_jwt_algorithms with an unknown name (names are case-sensitive), naming it', async () => {
    for (const name of ['RS1024', 'rs256', 'None', 'HS256,RS256', 'ES256K']) {
      await expectRejected(server(`edge_auth jwt; edge_auth_jwt_secret ${SECRET}; edge_auth_jwt_algorithms RS256 ${name};`), {
        at: 'edge_auth_jwt_algorithms',
        mentions: [name],
      });
    }
  });

  it('a secret under 32 bytes, without printing it; 32 bytes are enough', async () => {
    const short = SECRET.slice(0, 31);
    await expectRejected(server(`edge_auth jwt; edge_auth_jwt_secret ${short};`), { at: 'edge_auth_jwt_secret', mentions: ['32'], hidden: [short] });
    await expectAccepted(server(`edge_auth jwt; edge_auth_jwt_secret ${SECRET};`));
  });

  it('a secret from a file: a missing file is named; a short file secret is refused', async () => {
    await expectRejected(server('edge_auth jwt; edge_auth_jwt_secret file:/nonexistent/edge-auth-jwt.secret;'), {
      at: 'edge_auth_jwt_secret',
      mentions: ['/nonexistent/edge-auth-jwt.secret'],
    });
    const short = 'short-secret-in-a-file';
    await expectRejected(
      { files: { 'jwt.secret': `${short}\n` }, http: ({ path }) => server(`edge_auth jwt; edge_auth_jwt_secret file:${path('jwt.secret')};`) },
      { at: 'edge_auth_jwt_secret', hidden: [short] },
    );
  });

  it('bad key files, each named: missing, garbage, empty JWKS, only a 1024-bit RSA key, only a private key', async () => {
    const cases = {
      'garbage.pem': 'this is not a key\n',
      'empty.jwks': '{"keys":[]}',
      'broken.jwks': '{"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}]}',
      'small.jwks': jwks(rsaSmall),
      'private.pem': es.privateKey.export({ format: 'pem', type: 'pkcs8' }),
      'notjson.jwks': '{"keys": [',
    };
    for (const [name, content] of Object.entries(cases)) {
      await expectRejected(
        { files: { [name]: content }, http: ({ path }) => server(`edge_auth jwt; edge_auth_jwt_keys ${path(name)};`) },
        { at: 'edge_auth_jwt_keys', mentions: [name] },
      );
    }
    await expectRejected(server('edge_auth jwt; edge_auth_jwt_keys /nonexistent/edge-auth-keys.jwks;'), {
      at: 'edge_auth_jwt_keys',
      mentions: ['/nonexistent/edge-auth-keys.jwks'],
    });
  });

  it('a JWKS file with one good key and one skipped key: accepted, with a warning', async () => {
    const res = await expectAccepted({
      files: { 'mixed.jwks': jwks(es, rsaSmall) },
      http: ({ path }) => server(`edge_auth jwt; edge_auth_jwt_keys ${path('mixed.jwks')};`),
    });
    assert.match(res.output, /\[warn\].*(1024|2048)/);
  });

  it('edge_auth_jwt_keys URL parameters: unknown, bad ttl, bad refresh_min, unsupported scheme', async () => {
    for (const [args, at] of [
      ['https://idp.example/jwks.json bogus=1', 'bogus=1'],
      ['https://idp.example/jwks.json ttl=soon', 'ttl=soon'],
      ['https://idp.example/jwks.json refresh_min=never', 'refresh_min=never'],
      ['ftp://idp.example/jwks.json', 'ftp://'],
    ]) {
      await expectRejected(server(`edge_auth jwt; edge_auth_jwt_keys ${args};`), { at: 'edge_auth_jwt_keys', mentions: [at.split('=')[0]] });
    }
  });

  it('edge_auth_require: unknown operator, a bad regex, a missing value', async () => {
    const base = `edge_auth jwt; edge_auth_jwt_secret ${SECRET};`;
    await expectRejected(server(`${base} edge_auth_require scope resembles read;`), { at: 'edge_auth_require', mentions: ['resembles'] });
    await expectRejected(server(`${base} edge_auth_require email match "([a-z";`), { at: 'edge_auth_require' });
    await expectRejected(server(`${base} edge_auth_require scope contains;`), { at: 'edge_auth_require' });
  });

  it('bad leeway, bad require_exp, claim header without a claim', async () => {
    const base = `edge_auth jwt; edge_auth_jwt_secret ${SECRET};`;
    await expectRejected(server(`${base} edge_auth_jwt_leeway soon;`), { at: 'edge_auth_jwt_leeway' });
    await expectRejected(server(`${base} edge_auth_jwt_require_exp maybe;`), { at: 'edge_auth_jwt_require_exp' });
    await expectRejected(server(`${base} edge_auth_claim_header X-Tenant;`), { at: 'edge_auth_claim_header' });
  });

  it('accepts a complete configuration (files, secret, URL with parameters, every directive)', async () => {
    await expectAccepted({
      files: { 'keys.jwks': jwks(es), 'rsa.pem': rsa.pem, 'jwt.secret': `${SECRET}\n` },
      http: ({ path }) => `
    upstream backend { server 127.0.0.1:9; }
    server {
        listen 127.0.0.1:1;
        edge_auth_jwt_keys ${path('keys.jwks')};
        location / {
            edge_auth bearer jwt;
            edge_auth_token static-token-abc label=svc;
            edge_auth_jwt_keys ${path('rsa.pem')};
            edge_auth_jwt_keys https://idp.example/.well-known/jwks.json ttl=10m refresh_min=30s;
            edge_auth_jwt_secret file:${path('jwt.secret')};
            edge_auth_jwt_algorithms RS256 PS256 ES256 EdDSA HS256;
            edge_auth_jwt_issuer https://idp.example/ https://idp2.example/;
            edge_auth_jwt_audience api://a api://b;
            edge_auth_jwt_leeway 10s;
            edge_auth_jwt_require_exp off;
            edge_auth_jwt_token $http_x_token;
            edge_auth_require scope contains read;
            edge_auth_require roles in a,b;
            edge_auth_require email match "^[a-z]+@example\\.com$";
            edge_auth_require sub exists;
            edge_auth_claim_header X-Tenant tenant;
            edge_auth_identity_headers on;
            edge_auth_upstream_header X-Tenant-Var $edge_auth_claim_tenant;
            proxy_pass http://backend;
        }
    }`,
    });
  });
});
