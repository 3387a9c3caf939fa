// Static upstream injection: headers (replace, never duplicate), upstream
// Basic, query parameters (replace, percent-encode), value sources (literal,
// variables, file:, env:), order, and values that must never be sent.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, loc, assertNoSecrets } from './lib/stack.mjs';
import { rawGet, headerValues } from './lib/http.mjs';

const TOKEN = 'inject-client-tok-8e1f';
const KEY = 'inject-client-key-2c4d';
const SECRET = {
  file: 'file-secret-Ff6',
  env: 'env-secret-Ee5',
  upPass: 'up-pass-Hh9',
  upPassFile: 'up-pass-from-file-Gg7',
  backendKey: 'backend-key-Jj1',
};
const b64 = (s) => Buffer.from(s).toString('base64');

/** Query parameters of a raw request target, in order, undecoded. */
const params = (url) => (url.split('?')[1] ?? '').split('&').filter(Boolean);

describe('upstream injection', () => {
  let s;
  const auth = { Authorization: `Bearer ${TOKEN}` };

  before(async () => {
    s = await startStack({
      main: 'env EA_UP_SECRET;\nenv EA_UP_USER;',
      env: { EA_UP_SECRET: SECRET.env, EA_UP_USER: 'env-user' },
      files: { 'up.secret': SECRET.file + '\n', 'up.pass': SECRET.upPassFile + '\n' },
      http: ({ port, path }) => `
    # nginx's config parser turns \\r and \\n in quoted strings into CR and LF.
    map $arg_v $maybe_bad { default "fine"; crlf "a\\r\\nb"; lf "a\\nb"; cr "a\\rb"; }

    server {
        listen 127.0.0.1:${port};
        edge_auth_token ${TOKEN} label=svc;
        edge_auth_token ${KEY} label=keyed;

        ${loc('/hdr/', `edge_auth bearer;
            edge_auth_upstream_header X-Api-Version v2;
            edge_auth_upstream_header User-Agent edge-auth-test;`)}
        ${loc('/no-client-auth/', 'edge_auth_upstream_header X-Api-Version v3;')}
        ${loc('/order/', `edge_auth bearer;
            edge_auth_upstream_header X-A one;
            edge_auth_upstream_header X-A two;`)}
        ${loc('/refs/', `edge_auth bearer;
            edge_auth_upstream_header X-File file:${path('up.secret')};
            edge_auth_upstream_header X-Env env:EA_UP_SECRET;
            edge_auth_upstream_header X-Combo "u=$edge_auth_user m=$edge_auth_method";`)}
        ${loc('/ubasic/', `edge_auth bearer; edge_auth_upstream_basic svc-user ${SECRET.upPass};`)}
        ${loc('/ubasic-keep/', `edge_auth bearer; edge_auth_strip_credentials off;
            edge_auth_upstream_basic svc-user ${SECRET.upPass};`)}
        ${loc('/ubasic-refs/', `edge_auth bearer; edge_auth_upstream_basic env:EA_UP_USER file:${path('up.pass')};`)}
        ${loc('/query/', 'edge_auth bearer; edge_auth_upstream_query key "a b&c";')}
        ${loc('/query-var/', `edge_auth api_key;
            edge_auth_upstream_query apikey $http_x_api_key;
            edge_auth_upstream_query who $edge_auth_user;`)}
        ${loc('/query-refs/', `edge_auth bearer;
            edge_auth_upstream_query k1 file:${path('up.secret')};
            edge_auth_upstream_query k2 env:EA_UP_SECRET;`)}
        ${loc('/apikey-replace/', `edge_auth api_key; edge_auth_upstream_header X-API-Key ${SECRET.backendKey};`)}
        ${loc('/bad-value/', 'edge_auth bearer; edge_auth_upstream_header X-Test $maybe_bad;')}
    }`,
    });
  });
  after(() => s?.stop());

  describe('edge_auth_upstream_header', () => {
    it('replaces a client-sent header, never duplicates it', async () => {
      const seen = await s.allowed('/hdr/', { ...auth, 'X-Api-Version': 'client', 'User-Agent': 'client-ua' });
      assert.deepEqual(headerValues(seen.rawHeaders, 'X-Api-Version'), ['v2']);
      assert.deepEqual(headerValues(seen.rawHeaders, 'User-Agent'), ['edge-auth-test']);
      assert.equal(seen.headers.authorization, undefined);
      assert.equal(seen.headers['x-edge-user'], 'svc');
    });

    it('matches the client header name case-insensitively, even when sent twice', async () => {
      const before = s.echo.hits();
      const res = await rawGet(s.port, '/hdr/', [
        `Authorization: Bearer ${TOKEN}`,
        'x-api-VERSION: one',
        'X-API-Version: two',
      ]);
      assert.equal(res.status, 200);
      assert.equal(s.echo.hits(), before + 1);
      assert.deepEqual(headerValues(s.echo.last().rawHeaders, 'X-Api-Version'), ['v2']);
    });

    it('adds the header when the client sent none', async () => {
      const seen = await s.allowed('/hdr/', auth);
      assert.deepEqual(headerValues(seen.rawHeaders, 'X-Api-Version'), ['v2']);
    });

    it('works in a location without client authentication', async () => {
      const seen = await s.allowed('/no-client-auth/', { 'X-Api-Version': 'client' });
      assert.deepEqual(headerValues(seen.rawHeaders, 'X-Api-Version'), ['v3']);
    });

    it('directives apply in order: the last one for a name wins, once', async () => {
      const seen = await s.allowed('/order/', { ...auth, 'X-A': 'client' });
      assert.deepEqual(headerValues(seen.rawHeaders, 'X-A'), ['two']);
    });

    it('values from file: (newline stripped), env:, and text with variables', async () => {
      const seen = await s.allowed('/refs/', auth);
      assert.equal(seen.headers['x-file'], SECRET.file);
      assert.equal(seen.headers['x-env'], SECRET.env);
      assert.equal(seen.headers['x-combo'], 'u=svc m=bearer');
    });

    it('the consumed API key is replaced by the backend key', async () => {
      const seen = await s.allowed('/apikey-replace/', { 'X-API-Key': KEY });
      assert.deepEqual(headerValues(seen.rawHeaders, 'X-API-Key'), [SECRET.backendKey]);
      assert.equal(seen.headers['x-edge-user'], 'keyed');
    });

    it('a denied request injects nothing and never reaches the backend', async () => {
      await s.denied('/hdr/', { Authorization: 'Bearer wrong-token-Zz0' }, { reason: 'unknown token' });
    });

    // Only CR and LF can be produced from nginx's config; NUL cannot be
    // written in a config string or reach a variable unescaped, so it is not
    // tested here (src/core's unit tests cover the check itself).
    for (const v of ['crlf', 'lf', 'cr']) {
      it(`a value with ${v.toUpperCase()} is never sent: 500, backend not hit, logged`, async () => {
        const before = s.echo.hits();
        const mark = s.logMark();
        const res = await s.get(`/bad-value/?v=${v}`, auth);
        assert.equal(res.status, 500);
        assert.equal(s.echo.hits(), before);
        const lines = mark().filter((l) => /X-Test/i.test(l));
        assert.ok(lines.length >= 1, 'a log line naming the header');
      });
    }

    it('the same location with a clean value works', async () => {
      const seen = await s.allowed('/bad-value/?v=ok', auth);
      assert.equal(seen.headers['x-test'], 'fine');
    });
  });

  describe('edge_auth_upstream_basic', () => {
    it('sends Authorization: Basic base64(user:password) in place of the client credential', async () => {
      const seen = await s.allowed('/ubasic/', auth);
      assert.deepEqual(headerValues(seen.rawHeaders, 'Authorization'), [`Basic ${b64(`svc-user:${SECRET.upPass}`)}`]);
      assert.equal(seen.headers['x-edge-user'], 'svc');
    });

    it('replaces the client Authorization even with strip_credentials off', async () => {
      const seen = await s.allowed('/ubasic-keep/', auth);
      assert.deepEqual(headerValues(seen.rawHeaders, 'Authorization'), [`Basic ${b64(`svc-user:${SECRET.upPass}`)}`]);
    });

    it('user and password from env: and file:', async () => {
      const seen = await s.allowed('/ubasic-refs/', auth);
      assert.equal(seen.headers.authorization, `Basic ${b64(`env-user:${SECRET.upPassFile}`)}`);
    });
  });

  describe('edge_auth_upstream_query', () => {
    it('adds a percent-encoded parameter when there is no query', async () => {
      const seen = await s.allowed('/query/p', auth);
      assert.equal(seen.url, '/query/p?key=a%20b%26c');
      assert.equal(seen.query.key, 'a b&c');
    });

    it('replaces an existing parameter of the same name, keeps the others', async () => {
      const seen = await s.allowed('/query/p?x=1&key=client&keyx=2&xkey=3&key=again', auth);
      const p = params(seen.url);
      assert.deepEqual(p.filter((kv) => kv.startsWith('key=')), ['key=a%20b%26c']);
      for (const kept of ['x=1', 'keyx=2', 'xkey=3']) assert.ok(p.includes(kept), `${kept} kept in ${seen.url}`);
      assert.equal(seen.path, '/query/p');
    });

    it('variables: $http_x_api_key still holds the stripped API key; $edge_auth_user', async () => {
      const seen = await s.allowed('/query-var/?a=1', { 'X-API-Key': KEY });
      assert.equal(seen.headers['x-api-key'], undefined);
      assert.equal(seen.query.apikey, KEY);
      assert.equal(seen.query.who, 'keyed');
      assert.equal(seen.query.a, '1');
    });

    it('values from file: and env:', async () => {
      const seen = await s.allowed('/query-refs/', auth);
      assert.equal(seen.query.k1, SECRET.file);
      assert.equal(seen.query.k2, SECRET.env);
    });
  });

  it('never logs a secret; no worker crashed', async () => {
    assertNoSecrets(s.ngx.errorLog(), [TOKEN, KEY, ...Object.values(SECRET), 'wrong-token-Zz0']);
    await s.stop();
  });
});
