// Configuration: what `nginx -t` must reject (with file:line and reason),
// what it must accept, and every conf-examples/*.conf.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nginxTestFile } from './lib/nginx.mjs';
import { server, expectRejected, expectAccepted } from './lib/conf-check.mjs';
import { examples } from './lib/examples.mjs';

describe('nginx -t rejects', () => {
  it('edge_auth oidc without edge_auth_oidc, with file:line', async () => {
    await expectRejected(server('edge_auth oidc;'), { at: 'edge_auth oidc', mentions: ['edge_auth_oidc'] });
  });

  it('edge_auth basic oidc without edge_auth_oidc', async () => {
    await expectRejected(server('edge_auth basic oidc; edge_auth_user a "{SHA}x";'), { at: 'edge_auth basic oidc', mentions: ['edge_auth_oidc'] });
  });

  it('an unknown method, naming it', async () => {
    await expectRejected(server('edge_auth basci;'), { at: 'edge_auth basci', mentions: ['basci'] });
  });

  for (const [directive, file] of [
    ['edge_auth_upstream_header X-K', '/nonexistent/edge-auth-header.secret'],
    ['edge_auth_upstream_query k', '/nonexistent/edge-auth-query.secret'],
    ['edge_auth_upstream_basic user', '/nonexistent/edge-auth-basic.secret'],
    ['edge_auth_token', '/nonexistent/edge-auth-token.secret'],
  ]) {
    it(`a missing secret file: ${directive} file:..., naming the file`, async () => {
      await expectRejected(server(`edge_auth bearer; edge_auth_token some-token-1;\n            ${directive} file:${file};`), {
        at: file,
        mentions: [file],
      });
    });
  }

  it('a missing user file, naming it', async () => {
    await expectRejected(server('edge_auth basic; edge_auth_user_file /nonexistent/edge-auth-htpasswd;'), {
      at: 'edge_auth_user_file',
      mentions: ['/nonexistent/edge-auth-htpasswd'],
    });
  });

  it('an unknown edge_auth_api_key_from place', async () => {
    await expectRejected(server('edge_auth api_key; edge_auth_api_key_from cookie=k;'), {
      at: 'edge_auth_api_key_from',
      mentions: ['cookie'],
    });
  });

  it('edge_auth_strip_credentials takes on|off', async () => {
    await expectRejected(server('edge_auth_strip_credentials maybe;'), {
      at: 'edge_auth_strip_credentials',
      mentions: ['"on" or "off"'],
    });
  });

  it('edge_auth_zone outside http', async () => {
    await expectRejected(server('edge_auth_zone 1m;'), { at: 'edge_auth_zone', mentions: ['not allowed here'] });
  });

  it('edge_auth in the main context', async () => {
    await expectRejected({ main: 'edge_auth basic;', http: '' }, { at: 'edge_auth basic', mentions: ['not allowed here'] });
  });

  it('a thread pool that does not exist', async () => {
    await expectRejected({ http: 'edge_auth_thread_pool edge_no_such_pool;' + server('edge_auth basic; edge_auth_user a "{SHA}x";') }, {
      at: 'edge_auth_thread_pool',
      mentions: ['edge_no_such_pool'],
    });
  });

  it('edge_auth_user without a password', async () => {
    await expectRejected(server('edge_auth basic; edge_auth_user alice;'), {
      at: 'edge_auth_user alice',
      mentions: ['invalid number of arguments'],
    });
  });
});

describe('nginx -t rejects a location whose method lacks what it needs (file:line of edge_auth)', () => {
  for (const [line, needs] of [
    ['edge_auth basic;', 'edge_auth_user_file or edge_auth_user'],
    ['edge_auth bearer;', 'edge_auth_token or edge_auth_token_file'],
    ['edge_auth api_key;', 'edge_auth_token or edge_auth_token_file'],
    ['edge_auth jwt;', 'edge_auth_jwt_keys or edge_auth_jwt_secret'],
    ['edge_auth introspect;', 'edge_auth_introspection'],
    ['edge_auth bearer api_key;', 'edge_auth_token or edge_auth_token_file'],
  ]) {
    it(line, async () => {
      await expectRejected(server(line), { at: line, mentions: [needs] });
    });
  }

  it('inherited: edge_auth basic on the server, a location without users', async () => {
    await expectRejected(
      `
    upstream backend { server 127.0.0.1:9; }
    server {
        listen 127.0.0.1:1;
        edge_auth basic;
        location /a/ { edge_auth_user alice "{SHA}GpHWL3ymc5liWkNopqtdSjuqYHM="; proxy_pass http://backend; }
        location /b/ { proxy_pass http://backend; }
    }`,
      { at: 'edge_auth basic', mentions: ['needs edge_auth_user_file or edge_auth_user'] },
    );
  });
});

describe('nginx -t warns about Secure session cookies on a plain-http server', () => {
  const SECRET = 'edge_auth_session_secret 0123456789abcdef0123456789abcdef0123;';
  const conf = (params, listen = 'listen 127.0.0.1:1;', extra = '') => `
    ${SECRET}
    edge_auth_oidc_provider corp { issuer http://127.0.0.1:9; client_id app; client_secret s; ${params} }
    upstream backend { server 127.0.0.1:9; }
    server {
        ${listen}
        ${extra}
        location /a/ { edge_auth oidc; edge_auth_oidc corp; proxy_pass http://backend; }
        location /b/ { edge_auth oidc; edge_auth_oidc corp; proxy_pass http://backend; }
    }`;
  const warning = /\[warn\].*edge_auth_oidc_provider "corp" sets Secure cookies.*nginx\.conf:\d+.*cookie_secure off/;

  it('cookie_secure on (the default) and no ssl listen: a warning with file:line, once per server', async () => {
    const res = await expectAccepted(conf(''));
    assert.match(res.output, warning);
    assert.equal(res.output.match(/sets Secure cookies/g).length, 1, res.output);
  });
  it('no warning with cookie_secure off', async () => {
    const res = await expectAccepted(conf('cookie_secure off;'));
    assert.doesNotMatch(res.output, /Secure cookies/);
  });
  it('no warning behind a TLS proxy (trust_forwarded_headers on)', async () => {
    const res = await expectAccepted(conf('trust_forwarded_headers on;'));
    assert.doesNotMatch(res.output, /Secure cookies/);
  });
  it('no warning when the server listens with ssl', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ea-cert-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
      '-subj', '/CN=edge.test', '-keyout', `${dir}/key.pem`, '-out', `${dir}/cert.pem`], { stdio: 'ignore' });
    try {
      const res = await expectAccepted(conf('', 'listen 127.0.0.1:1 ssl;',
        `ssl_certificate ${dir}/cert.pem; ssl_certificate_key ${dir}/key.pem;`));
      assert.doesNotMatch(res.output, /Secure cookies/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('nginx -t accepts', () => {
  it('edge_auth on the server level, users and tokens in each location', async () => {
    await expectAccepted(`
    upstream backend { server 127.0.0.1:9; }
    server {
        listen 127.0.0.1:1;
        edge_auth basic;
        location /a/ { edge_auth_user alice "{SHA}GpHWL3ymc5liWkNopqtdSjuqYHM="; proxy_pass http://backend; }
        location /b/ { edge_auth bearer; edge_auth_token tok-b; proxy_pass http://backend; }
    }`);
  });

  it('every directive of this release in its contexts', async () => {
    await expectAccepted({
      main: 'env EA_CONF_TOKEN;\nthread_pool edge_pool threads=2;',
      env: { EA_CONF_TOKEN: 'conf-env-token-1' },
      files: { htpasswd: 'alice:{SHA}GpHWL3ymc5liWkNopqtdSjuqYHM=\n', tokens: 'lbl:tok-1\n', secret: 's3\n' },
      http: ({ path: p }) => `
    edge_auth_zone 1m;
    edge_auth_thread_pool edge_pool;
    edge_auth_realm "Http Realm";
    edge_auth basic;
    edge_auth_user_file ${p('htpasswd')};
    map $http_x_health $health { default 0; ok 1; }
    upstream backend { server 127.0.0.1:9; }
    server {
        listen 127.0.0.1:1;
        edge_auth_bypass $health;
        edge_auth_token env:EA_CONF_TOKEN label=env;
        edge_auth_token file:${p('secret')};
        edge_auth_token_file ${p('tokens')};
        location / {
            edge_auth basic bearer api_key;
            edge_auth_realm Loc;
            edge_auth_api_key_from header=X-Key query=key;
            edge_auth_strip_credentials off;
            edge_auth_user bob "$apr1$HfdAupQn$WK3r1qBMBwUf8cyKPXzOv0";
            edge_auth_upstream_header X-User $edge_auth_user;
            edge_auth_upstream_header X-Secret file:${p('secret')};
            edge_auth_upstream_basic svc env:EA_CONF_TOKEN;
            edge_auth_upstream_query k "$edge_auth_method";
            add_header X-Err $edge_auth_error always;
            proxy_pass http://backend;
        }
        location /open/ { edge_auth off; proxy_pass http://backend; }
    }`,
    });
  });

  it('a cleartext inline password: accepted with a warning that does not show it', async () => {
    const res = await expectAccepted(server('edge_auth basic; edge_auth_user bob cleartext-pass-Rr3;'));
    assert.match(res.output, /\[warn\].*cleartext/);
    assert.ok(!res.output.includes('cleartext-pass-Rr3'), res.output);
  });
});

describe('conf-examples pass nginx -t', () => {
  const list = examples();
  if (list.length === 0) it('conf-examples has no *.conf yet', { skip: true }, () => {});
  for (const ex of list) {
    it(ex.name, { skip: ex.skip }, async () => {
      const res = await nginxTestFile(ex.file);
      assert.equal(res.code, 0, res.output);
    });
  }
});
