// Bearer tokens and API keys: token sources (literal, env:, file:, token
// file with plain and sha256 entries), labels as $edge_auth_user, where API
// keys are read, stripping, several methods in one location, malformed input.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
import { startStack, loc, assertNoSecrets, BASIC_CHALLENGE, BEARER_CHALLENGE } from './lib/stack.mjs';
import { basic, rawGet, headerValues } from './lib/http.mjs';
import { htpasswdLine, sha256hex } from './lib/htpasswd.mjs';

const TOK = {
  alpha: 'tok-alpha-4f9c1e',
  env: 'tok-from-env-77ab2',
  file: 'tok-from-file-9d0e3',
  beta: 'tok-beta-c3a8d1',
  gamma: 'tok-gamma-hashed-5e6f', // only its SHA-256 is configured
  unlabeled: 'tok-unlabeled-1b2c',
};
const BASIC_PW = 'multi-basic-pw-Hh8';
const SECRETS = [...Object.values(TOK), BASIC_PW];

describe('bearer tokens and API keys', () => {
  let s;
  const bearer = (t) => ({ Authorization: `Bearer ${t}` });

  before(async () => {
    s = await startStack({
      main: 'env EA_TEST_TOKEN;',
      env: { EA_TEST_TOKEN: TOK.env },
      files: {
        'token.secret': TOK.file + '\n',
        tokens: `# label:token or label:sha256:<hex>\nbeta:${TOK.beta}\n\ngamma:sha256:${sha256hex(TOK.gamma)}\n`,
        htpasswd: htpasswdLine('multi', BASIC_PW, 'sha') + '\n',
      },
      http: ({ port, path }) => `
    log_format edge_request '$request';
    server {
        listen 127.0.0.1:${port};
        edge_auth_token ${TOK.alpha} label=alpha;
        edge_auth_token env:EA_TEST_TOKEN label=envtok;
        edge_auth_token file:${path('token.secret')} label=filetok;
        edge_auth_token ${TOK.unlabeled};
        edge_auth_token_file ${path('tokens')};
        edge_auth_user_file ${path('htpasswd')};

        ${loc('/bearer/', 'edge_auth bearer;')}
        ${loc('/bearer-keep/', 'edge_auth bearer; edge_auth_strip_credentials off;')}
        ${loc('/apikey/', 'edge_auth api_key;')}
        ${loc('/apikey-query/', 'edge_auth api_key; edge_auth_api_key_from query=api_key header=X-Key;')}
        ${loc('/apikey-log/', `edge_auth api_key; edge_auth_api_key_from query=api_key; access_log ${path('access.log')} edge_request;`)}
        ${loc('/apikey-query-keep/', 'edge_auth api_key; edge_auth_api_key_from query=api_key; edge_auth_strip_credentials off;')}
        ${loc('/multi/', 'edge_auth basic bearer api_key;')}
        ${loc('/multi-realm/', 'edge_auth bearer basic; edge_auth_realm "API";')}
    }`,
    });
  });
  after(() => s?.stop());

  describe('bearer', () => {
    it('no credentials: 401 with the Bearer challenge', async () => {
      await s.denied('/bearer/', {}, { reason: 'no credentials', challenges: [BEARER_CHALLENGE()] });
    });

    const sources = [
      ['a literal token', TOK.alpha, 'alpha'],
      ['an env: token', TOK.env, 'envtok'],
      ['a file: token (trailing newline stripped)', TOK.file, 'filetok'],
      ['a token-file entry', TOK.beta, 'beta'],
      ['a token-file sha256 entry', TOK.gamma, 'gamma'],
    ];
    for (const [name, token, label] of sources) {
      it(`accepts ${name}; $edge_auth_user is the label; Authorization is stripped`, async () => {
        const seen = await s.allowed('/bearer/p?x=1', bearer(token));
        assert.equal(seen.headers['x-edge-user'], label);
        assert.equal(seen.headers['x-edge-method'], 'bearer');
        assert.equal(seen.headers.authorization, undefined);
        assert.equal(seen.url, '/bearer/p?x=1');
      });
    }

    it('accepts a token configured without a label', async () => {
      const seen = await s.allowed('/bearer/', bearer(TOK.unlabeled));
      assert.equal(seen.headers['x-edge-method'], 'bearer');
    });

    it('the scheme is case-insensitive', async () => {
      for (const scheme of ['bearer', 'BEARER', 'BeArEr']) {
        const seen = await s.allowed('/bearer/', { Authorization: `${scheme} ${TOK.alpha}` });
        assert.equal(seen.headers['x-edge-user'], 'alpha');
      }
    });

    it('unknown token: 401 "unknown token", one log line, token not logged', async () => {
      const mark = s.logMark();
      const res = await s.denied('/bearer/t', bearer('tok-not-configured-00'), { reason: 'unknown token' });
      const challenges = headerValues(res, 'WWW-Authenticate');
      assert.equal(challenges.length, 1);
      assert.ok(challenges[0].startsWith(BEARER_CHALLENGE()), challenges[0]);
      const lines = mark().filter((l) => l.includes('unknown token'));
      assert.equal(lines.length, 1, lines.join('\n'));
      assert.match(lines[0], /\/bearer\//);
      assert.match(lines[0], /GET/);
      assertNoSecrets(s.ngx.errorLog(), ['tok-not-configured-00']);
    });

    it('the hash of a sha256 entry is not itself a token', async () => {
      await s.denied('/bearer/', bearer(sha256hex(TOK.gamma)), { reason: 'unknown token' });
      await s.denied('/bearer/', bearer(`sha256:${sha256hex(TOK.gamma)}`), { reason: 'unknown token' });
    });

    it('labels are not tokens; a token is not matched by prefix or suffix', async () => {
      await s.denied('/bearer/', bearer('alpha'));
      await s.denied('/bearer/', bearer(TOK.alpha.slice(0, -1)));
      await s.denied('/bearer/', bearer(TOK.alpha + 'x'));
      await s.denied('/bearer/', bearer(`beta:${TOK.beta}`));
    });

    it('an API key header is not a bearer credential', async () => {
      await s.denied('/bearer/', { 'X-API-Key': TOK.alpha }, { reason: 'no credentials' });
    });

    const malformed = [
      ['empty token', 'Bearer '],
      ['scheme only', 'Bearer'],
      ['two tokens', `Bearer ${TOK.alpha} ${TOK.beta}`],
      ['unknown scheme', `Token ${TOK.alpha}`],
      ['Basic credentials', basic('alpha', TOK.alpha)],
      ['6 KB token', `Bearer ${'A'.repeat(6 * 1024)}`],
    ];
    for (const [name, value] of malformed) {
      it(`malformed: ${name} -> 401, backend not hit`, async () => {
        const res = await s.denied('/bearer/', { Authorization: value }, { reason: /./ });
        const challenges = headerValues(res, 'WWW-Authenticate');
        assert.equal(challenges.length, 1);
        assert.ok(challenges[0].startsWith(BEARER_CHALLENGE()), challenges[0]);
      });
    }

    // nginx itself answers 400 to most control characters in a header value;
    // HTAB and bytes >= 0x80 pass its parser and reach the module.
    for (const [name, ch] of [['HTAB', '\t'], ['byte 0xff', '\xff']]) {
      it(`malformed: ${name} inside the token (raw request)`, async () => {
        await s.denied('/bearer/', {}, {
          send: () => rawGet(s.port, '/bearer/', [`Authorization: Bearer ${TOK.alpha.slice(0, 5)}${ch}${TOK.alpha.slice(5)}`]),
          reason: /./,
        });
      });
    }

    it('edge_auth_strip_credentials off forwards the bearer token', async () => {
      const seen = await s.allowed('/bearer-keep/', bearer(TOK.alpha));
      assert.equal(seen.headers.authorization, `Bearer ${TOK.alpha}`);
    });
  });

  describe('api_key', () => {
    it('no credentials: 401 and no Basic/Bearer challenge', async () => {
      await s.denied('/apikey/', {}, { reason: 'no credentials', challenges: [] });
    });

    it('reads X-API-Key by default, strips it, labels the user', async () => {
      const seen = await s.allowed('/apikey/?a=1', { 'X-API-Key': TOK.beta, 'X-Other': 'kept' });
      assert.equal(seen.headers['x-edge-user'], 'beta');
      assert.equal(seen.headers['x-edge-method'], 'api_key');
      assert.equal(seen.headers['x-api-key'], undefined);
      assert.equal(seen.headers['x-other'], 'kept');
      assert.equal(seen.url, '/apikey/?a=1');
    });

    it('the header name is case-insensitive (raw request)', async () => {
      const before = s.echo.hits();
      const res = await rawGet(s.port, '/apikey/', [`x-api-KEY: ${TOK.alpha}`]);
      assert.equal(res.status, 200);
      assert.equal(s.echo.hits(), before + 1);
      assert.equal(s.echo.last().headers['x-edge-user'], 'alpha');
      assert.equal(s.echo.last().headers['x-api-key'], undefined);
    });

    it('unknown key: 401 "unknown token"', async () => {
      await s.denied('/apikey/', { 'X-API-Key': 'key-not-configured-11' }, { reason: 'unknown token', challenges: [] });
      assertNoSecrets(s.ngx.errorLog(), ['key-not-configured-11']);
    });

    it('a bearer token is not an API key', async () => {
      await s.denied('/apikey/', bearer(TOK.alpha), { challenges: [] });
    });

    it('edge_auth_api_key_from query=: key in the query, removed before proxying, other params kept', async () => {
      const seen = await s.allowed(`/apikey-query/p?a=1&api_key=${TOK.alpha}&b=two`);
      assert.equal(seen.headers['x-edge-user'], 'alpha');
      assert.equal(seen.headers['x-edge-method'], 'api_key');
      assert.equal(seen.url, '/apikey-query/p?a=1&b=two');
    });

    it('a query API key is not in the access log: $request shows REDACTED (allowed and denied)', async () => {
      await s.allowed(`/apikey-log/log?a=1&api_key=${TOK.alpha}&b=2`);
      await s.denied('/apikey-log/log?api_key=wrong-key-not-configured-123');
      const log = () => fs.readFileSync(path.join(s.ngx.prefix, 'access.log'), 'utf8');
      for (let i = 0; i < 50 && (log().match(/apikey-log\/log/g) ?? []).length < 2; i++) await sleep(20);
      const lines = log().split('\n').filter((l) => l.includes('/apikey-log/log'));
      assert.ok(lines.includes('GET /apikey-log/log?a=1&api_key=REDACTED&b=2 HTTP/1.1'), lines.join('\n'));
      assert.ok(lines.includes('GET /apikey-log/log?api_key=REDACTED HTTP/1.1'), lines.join('\n'));
      assert.ok(!log().includes(TOK.alpha) && !log().includes('wrong-key-not'));
    });

    it('edge_auth_api_key_from: the only parameter removed leaves no stray "?"', async () => {
      const seen = await s.allowed(`/apikey-query/p?api_key=${TOK.alpha}`);
      assert.equal(seen.url, '/apikey-query/p');
      assert.deepEqual(seen.query, {});
    });

    it('edge_auth_api_key_from header=: the other named place works; the default header no longer does', async () => {
      const seen = await s.allowed('/apikey-query/', { 'X-Key': TOK.beta });
      assert.equal(seen.headers['x-edge-user'], 'beta');
      assert.equal(seen.headers['x-key'], undefined);
      await s.denied('/apikey-query/', { 'X-API-Key': TOK.beta });
    });

    it('a query key with percent-encoding is decoded before lookup', async () => {
      // tokens are plain; "tok%2Dalpha..." is the same key
      const enc = TOK.alpha.replace(/-/g, '%2D');
      const seen = await s.allowed(`/apikey-query/?api_key=${enc}`);
      assert.equal(seen.headers['x-edge-user'], 'alpha');
    });

    it('unknown key in the query: 401, parameter name similar but not equal is ignored', async () => {
      await s.denied(`/apikey-query/?api_key=nope-22`, {}, { reason: 'unknown token' });
      await s.denied(`/apikey-query/?xapi_key=${TOK.alpha}`, {}, { reason: 'no credentials' });
      await s.denied(`/apikey-query/?api_keyx=${TOK.alpha}`, {}, { reason: 'no credentials' });
    });

    it('edge_auth_strip_credentials off keeps the query parameter', async () => {
      const seen = await s.allowed(`/apikey-query-keep/?api_key=${TOK.alpha}&z=1`);
      assert.equal(seen.url, `/apikey-query-keep/?api_key=${TOK.alpha}&z=1`);
    });
  });

  describe('several methods in one location', () => {
    it('no credentials: 401 with every applicable challenge', async () => {
      const res = await s.denied('/multi/', {}, { reason: 'no credentials' });
      assert.deepEqual(headerValues(res, 'WWW-Authenticate').sort(), [BASIC_CHALLENGE(), BEARER_CHALLENGE()].sort());
    });

    it('challenges carry the configured realm', async () => {
      const res = await s.denied('/multi-realm/', {});
      assert.deepEqual(headerValues(res, 'WWW-Authenticate').sort(), [BASIC_CHALLENGE('API'), BEARER_CHALLENGE('API')].sort());
    });

    it('whichever credential the request carries is used', async () => {
      let seen = await s.allowed('/multi/', { Authorization: basic('multi', BASIC_PW) });
      assert.equal(seen.headers['x-edge-method'], 'basic');
      assert.equal(seen.headers['x-edge-user'], 'multi');
      seen = await s.allowed('/multi/', bearer(TOK.beta));
      assert.equal(seen.headers['x-edge-method'], 'bearer');
      assert.equal(seen.headers['x-edge-user'], 'beta');
      seen = await s.allowed('/multi/', { 'X-API-Key': TOK.alpha });
      assert.equal(seen.headers['x-edge-method'], 'api_key');
      assert.equal(seen.headers['x-edge-user'], 'alpha');
      assert.equal(seen.headers['x-api-key'], undefined);
    });

    it('a wrong credential of one method is denied with that reason', async () => {
      await s.denied('/multi/', { Authorization: basic('multi', 'wrong-pw') }, { reason: 'password mismatch' });
      await s.denied('/multi/', bearer('tok-wrong-33'), { reason: 'unknown token' });
      await s.denied('/multi/', { 'X-API-Key': 'key-wrong-44' }, { reason: 'unknown token' });
    });
  });

  it('never logs a secret; no worker crashed', async () => {
    assertNoSecrets(s.ngx.errorLog(), [...SECRETS, 'tok-wrong-33', 'key-wrong-44', 'nope-22']);
    await s.stop();
  });
});

describe('nginx reload (SIGHUP) with a changed token set', () => {
  const OLD = 'reload-old-token-aa11';
  const NEW = 'reload-new-token-bb22';
  const conf = (token, label) => ({ port }) => `
    server {
        listen 127.0.0.1:${port};
        ${loc('/r/', `edge_auth bearer; edge_auth_token ${token} label=${label};`)}
    }`;
  let s;
  before(async () => {
    s = await startStack({ workers: 2, http: conf(OLD, 'old') });
  });
  after(() => s?.stop());

  it('the new configuration applies after a reload, the old token no longer does', async () => {
    const bearer = (t) => ({ Authorization: `Bearer ${t}` });
    assert.equal((await s.allowed('/r/', bearer(OLD))).headers['x-edge-user'], 'old');
    await s.denied('/r/', bearer(NEW), { reason: 'unknown token' });
    await s.ngx.reload({ http: (ctx) => `
    upstream backend { server 127.0.0.1:${s.echo.port}; keepalive 8; }
${conf(NEW, 'new')(ctx)}` });
    // old workers finish gracefully; every new connection lands on a new worker
    assert.equal((await s.allowed('/r/', bearer(NEW))).headers['x-edge-user'], 'new');
    await s.denied('/r/', bearer(OLD), { reason: 'unknown token' });
  });

  it('never logs a secret; no worker crashed', async () => {
    assertNoSecrets(s.ngx.errorLog(), [OLD, NEW]);
    await s.stop();
  });
});
