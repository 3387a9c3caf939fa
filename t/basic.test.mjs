// HTTP Basic: htpasswd formats, inline users, RFC 7617 parsing, malformed
// input, realm, bypass, stripping, inheritance, file reload, and that slow
// hashes neither block the event loop nor run once per request.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import { startStack, loc, assertNoSecrets, BASIC_CHALLENGE, BEARER_CHALLENGE } from './lib/stack.mjs';
import { basic, request, rawGet } from './lib/http.mjs';
import { htpasswdLine, passwordHash } from './lib/htpasswd.mjs';

const FORMATS = ['bcrypt', 'bcrypt-2b', 'bcrypt-2a', 'apr1', 'sha', 'ssha', 'sha256crypt', 'sha512crypt'];
const pw = (name) => `pw-${name}-Zq7x`;

const USERS = {
  ...Object.fromEntries(FORMATS.map((f) => [`u-${f}`, { password: pw(f), format: f }])),
  alice: { password: 'alice-secret-Vb3', format: 'sha' },
  carol: { password: 'pa:ss:word-K9', format: 'apr1' }, // the first colon splits
  'jürgen': { password: 'pässwört-ß1', format: 'sha' }, // UTF-8 (RFC 7617 charset)
  slowpoke: { password: 'slow-cached-Pq2', format: 'bcrypt', cost: 12 },
  glacier: { password: 'slow-fresh-Mm4', format: 'bcrypt', cost: 13 },
};
const INLINE = { hashed: 'inline-hashed-Xx1', clear: 'inline-cleartext-Yy2' };
const RELOAD = { before: 'reload-old-Aa1', after: 'reload-new-Bb2' };
const SECRETS = [
  ...Object.values(USERS).map((u) => u.password),
  ...Object.values(INLINE),
  ...Object.values(RELOAD),
];

const htpasswd = Object.entries(USERS)
  .map(([name, u]) => htpasswdLine(name, u.password, u.format, { cost: u.cost }))
  .join('\n');

describe('basic auth', () => {
  let s;
  const creds = (name) => ({ Authorization: basic(name, USERS[name].password) });

  before(async () => {
    s = await startStack({
      ports: 2,
      files: {
        htpasswd: `# comment line\n\n${htpasswd}\n`,
        'reload.htpasswd': htpasswdLine('dave', RELOAD.before, 'bcrypt') + '\n',
      },
      http: ({ ports, path }) => `
    edge_auth_user_file ${path('htpasswd')};
    map $arg_k $edge_bypass_k { default 0; letmein 1; }

    server {
        listen 127.0.0.1:${ports[0]};
        ${loc('/basic/', 'edge_auth basic;')}
        ${loc('/realm/', 'edge_auth basic; edge_auth_realm "Staff Only";')}
        ${loc('/realm-quote/', `edge_auth basic; edge_auth_realm 'say "hi" \\\\o/';`)}
        ${loc('/inline/', `edge_auth basic;
            edge_auth_user inl-hash "${passwordHash(INLINE.hashed, 'apr1')}";
            edge_auth_user inl-clear ${INLINE.clear};`)}
        ${loc('/keep/', 'edge_auth basic; edge_auth_strip_credentials off;')}
        ${loc('/reload/', `edge_auth basic; edge_auth_user_file ${path('reload.htpasswd')};`)}
        ${loc('/bypass/', 'edge_auth basic; edge_auth_bypass $http_x_health $edge_bypass_k;')}
        ${loc('/open/', '')}
    }

    server {
        listen 127.0.0.1:${ports[1]};
        edge_auth basic;
        edge_auth_realm Server;
        add_header X-Err $edge_auth_error always;

        location /inherit/ {
            proxy_pass http://backend;
            location /inherit/nested/ { proxy_pass http://backend; }
        }
        location /off/ {
            edge_auth off;
            proxy_pass http://backend;
            location /off/nested/ { proxy_pass http://backend; }
        }
        location /realm-loc/ { edge_auth_realm Loc; proxy_pass http://backend; }
        location /switch/ {
            edge_auth bearer;
            edge_auth_token switch-token-Tt5 label=sw;
            proxy_pass http://backend;
        }
    }`,
    });
  });
  after(() => s?.stop());

  it('no credentials: 401 with the Basic challenge, backend not hit', async () => {
    await s.denied('/basic/', {}, { reason: 'no credentials', challenges: [BASIC_CHALLENGE()] });
  });

  for (const format of FORMATS) {
    it(`accepts a ${format} htpasswd entry and strips Authorization`, async () => {
      const seen = await s.allowed('/basic/x?q=1', creds(`u-${format}`));
      assert.equal(seen.headers['x-edge-user'], `u-${format}`);
      assert.equal(seen.headers['x-edge-method'], 'basic');
      assert.equal(seen.headers.authorization, undefined);
      assert.equal(seen.url, '/basic/x?q=1');
    });
  }

  it('wrong password: 401 "password mismatch", one log line with location, method, user, no password', async () => {
    const mark = s.logMark();
    await s.denied('/basic/wrong', { Authorization: basic('alice', 'not-the-password-Qw') }, {
      reason: 'password mismatch',
      challenges: [BASIC_CHALLENGE()],
    });
    const lines = mark().filter((l) => l.includes('password mismatch'));
    assert.equal(lines.length, 1, `one log line expected, got:\n${lines.join('\n')}`);
    assert.match(lines[0], /\/basic\//);
    assert.match(lines[0], /GET/);
    assert.match(lines[0], /alice/);
    assertNoSecrets(lines.join('\n'), ['not-the-password-Qw']);
  });

  it('wrong password for a bcrypt user: 401', async () => {
    await s.denied('/basic/', { Authorization: basic('u-bcrypt', 'nope') }, { reason: 'password mismatch' });
  });

  it('unknown user: 401 "unknown user"', async () => {
    const mark = s.logMark();
    await s.denied('/basic/', { Authorization: basic('mallory', 'whatever-Ll0') }, {
      reason: 'unknown user',
      challenges: [BASIC_CHALLENGE()],
    });
    assert.equal(mark().filter((l) => l.includes('unknown user')).length, 1);
    assertNoSecrets(s.ngx.errorLog(), ['whatever-Ll0']);
  });

  it('the scheme is case-insensitive (RFC 7235)', async () => {
    const token = basic('alice', USERS.alice.password).slice('Basic '.length);
    for (const scheme of ['basic', 'BASIC', 'bAsIc']) {
      const seen = await s.allowed('/basic/', { Authorization: `${scheme} ${token}` });
      assert.equal(seen.headers['x-edge-user'], 'alice');
    }
  });

  it('the first colon splits user and password (password with colons)', async () => {
    const seen = await s.allowed('/basic/', creds('carol'));
    assert.equal(seen.headers['x-edge-user'], 'carol');
  });

  it('UTF-8 user names and passwords work', async () => {
    const seen = await s.allowed('/basic/', creds('jürgen'));
    const raw = seen.rawHeaders[seen.rawHeaders.findIndex((h) => h.toLowerCase() === 'x-edge-user') + 1];
    assert.equal(Buffer.from(raw, 'latin1').toString('utf8'), 'jürgen');
  });

  describe('malformed credentials: 401, backend not hit', () => {
    const alice = `alice:${USERS.alice.password}`;
    const cases = [
      ['bad base64', 'Basic !!not*base64!!', /^malformed credentials$/],
      ['base64url alphabet', 'Basic ' + Buffer.from('alice:?>?>?>').toString('base64url'), /^malformed credentials$/],
      ['missing padding of valid credentials', 'Basic ' + Buffer.from(alice).toString('base64').replace(/=+$/, ''), /^malformed credentials$/],
      ['missing colon', 'Basic ' + Buffer.from('alice' + USERS.alice.password).toString('base64'), /^malformed credentials$/],
      ['empty credentials "Basic "', 'Basic ', /^(malformed credentials|no credentials)$/],
      ['scheme only "Basic"', 'Basic', /^(malformed credentials|no credentials)$/],
      ['empty user and password "Basic Og=="', 'Basic Og==', /^(malformed credentials|unknown user)$/],
      ['unknown scheme', 'Digest username="alice", realm="Restricted"', /^(unsupported scheme|malformed credentials|no credentials)$/],
      ['6 KB header', 'Basic ' + Buffer.from('alice:' + 'x'.repeat(4500)).toString('base64'), /./],
      ['junk after valid credentials', `Basic ${Buffer.from(alice).toString('base64')} trailing`, /^malformed credentials$/],
    ];
    for (const [name, value, reason] of cases) {
      it(name, async () => {
        await s.denied('/basic/', { Authorization: value }, { reason, challenges: [BASIC_CHALLENGE()] });
      });
    }

    // nginx itself answers 400 to most control characters in a header value;
    // HTAB and bytes >= 0x80 pass its parser and reach the module.
    for (const [name, ch] of [['HTAB', '\t'], ['byte 0xff', '\xff']]) {
      it(`${name} inside the base64 (raw request)`, async () => {
        const b64 = Buffer.from(alice).toString('base64');
        await s.denied('/basic/', {}, {
          send: () => rawGet(s.port, '/basic/', [`Authorization: Basic ${b64.slice(0, 4)}${ch}${b64.slice(4)}`]),
          reason: /^malformed credentials$/,
          challenges: [BASIC_CHALLENGE()],
        });
      });
    }

    it('control characters inside the decoded credentials', async () => {
      const value = 'Basic ' + Buffer.from(`alice\x01:${USERS.alice.password}`).toString('base64');
      await s.denied('/basic/', { Authorization: value }, { reason: /./ });
      const nul = 'Basic ' + Buffer.from(`alice:${USERS.alice.password}\x00`).toString('base64');
      await s.denied('/basic/', { Authorization: nul }, { reason: /./ });
    });
  });

  it('edge_auth_realm sets the realm of the challenge', async () => {
    await s.denied('/realm/', {}, { challenges: [BASIC_CHALLENGE('Staff Only')] });
  });

  it('the realm is sent as a quoted-string (quotes and backslashes escaped)', async () => {
    await s.denied('/realm-quote/', {}, { challenges: [BASIC_CHALLENGE('say \\"hi\\" \\\\o/')] });
  });

  it('POST: a denied request body never reaches the backend; an allowed one arrives intact', async () => {
    const body = JSON.stringify({ hello: 'world' });
    const post = (headers) => s.request('/basic/post', { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body });
    await s.denied('/basic/post', {}, { send: () => post({}), reason: 'no credentials' });
    const before = s.echo.hits();
    const res = await post(creds('alice'));
    assert.equal(res.status, 200);
    assert.equal(s.echo.hits(), before + 1);
    assert.equal(s.echo.last().method, 'POST');
    assert.equal(s.echo.last().body, body);
  });

  it('keep-alive: each request on a connection is authenticated on its own', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await s.request('/basic/', { headers: creds('alice'), agent });
      assert.equal(first.status, 200);
      const before = s.echo.hits();
      const second = await s.request('/basic/', { agent });
      assert.equal(second.reusedSocket, true, 'the second request must reuse the connection');
      assert.equal(second.status, 401);
      assert.equal(s.echo.hits(), before);
      const third = await s.request('/basic/', { headers: { Authorization: basic('alice', 'wrong') }, agent });
      assert.equal(third.status, 401);
      assert.equal(third.headers['x-err'], 'password mismatch');
      assert.equal(s.echo.hits(), before);
    } finally {
      agent.destroy();
    }
  });

  it('inline edge_auth_user: hashed and cleartext passwords', async () => {
    let seen = await s.allowed('/inline/', { Authorization: basic('inl-hash', INLINE.hashed) });
    assert.equal(seen.headers['x-edge-user'], 'inl-hash');
    seen = await s.allowed('/inline/', { Authorization: basic('inl-clear', INLINE.clear) });
    assert.equal(seen.headers['x-edge-user'], 'inl-clear');
    await s.denied('/inline/', { Authorization: basic('inl-clear', 'wrong') }, { reason: 'password mismatch' });
  });

  it('a cleartext inline password logs a warning at load, without the password', () => {
    const log = s.ngx.errorLog();
    assert.match(log, /\[warn\].*cleartext/);
    assertNoSecrets(log, [INLINE.clear]);
  });

  it('edge_auth_strip_credentials off forwards Authorization', async () => {
    const auth = creds('alice');
    const seen = await s.allowed('/keep/', auth);
    assert.equal(seen.headers.authorization, auth.Authorization);
    assert.equal(seen.headers['x-edge-user'], 'alice');
  });

  it('edge_auth_bypass skips auth when a value is non-empty and not "0"', async () => {
    await s.allowed('/bypass/', { 'X-Health': '1' });
    await s.allowed('/bypass/?k=letmein');
    await s.denied('/bypass/', { 'X-Health': '0' }, { challenges: [BASIC_CHALLENGE()] });
    await s.denied('/bypass/?k=other');
    await s.denied('/bypass/', { 'X-Health': '' });
    const seen = await s.allowed('/bypass/', creds('alice'));
    assert.equal(seen.headers['x-edge-user'], 'alice');
  });

  it('a cached success does not let a wrong password in', async () => {
    await s.allowed('/basic/', creds('u-bcrypt'));
    await s.allowed('/basic/', creds('u-bcrypt'));
    await s.denied('/basic/', { Authorization: basic('u-bcrypt', pw('bcrypt') + 'x') }, { reason: 'password mismatch' });
    await s.denied('/basic/', { Authorization: basic('u-bcrypt', pw('bcrypt').slice(0, -1)) }, { reason: 'password mismatch' });
  });

  it('a bcrypt credential costs one hash, not one per request (cached in the zone)', async () => {
    const timed = async () => {
      const t0 = performance.now();
      await s.allowed('/basic/', creds('slowpoke'));
      return performance.now() - t0;
    };
    const first = await timed();
    assert.ok(first > 60, `bcrypt cost 12 should take well over 60 ms, took ${first.toFixed(1)} ms`);
    const again = Math.max(await timed(), await timed(), await timed());
    assert.ok(again < first / 3, `cached requests took up to ${again.toFixed(1)} ms vs ${first.toFixed(1)} ms for the first`);
  });

  it('a slow hash does not block the event loop (thread pool)', async () => {
    // One worker: if the bcrypt ran on the event loop, /open/ would wait for it.
    const t0 = performance.now();
    const slow = s.get('/basic/', creds('glacier')).then((res) => ({ res, ms: performance.now() - t0 }));
    await new Promise((r) => setTimeout(r, 30));
    const t1 = performance.now();
    const open = await s.get('/open/');
    const openMs = performance.now() - t1;
    const { res, ms } = await slow;
    assert.equal(open.status, 200);
    assert.equal(res.status, 200);
    assert.ok(ms > 150, `bcrypt cost 13 should take well over 150 ms, took ${ms.toFixed(1)} ms`);
    assert.ok(openMs < ms / 3, `/open/ took ${openMs.toFixed(1)} ms while a bcrypt check took ${ms.toFixed(1)} ms`);
  });

  it('the user file is re-read when it changes, without a reload; the cached credential goes with it', async () => {
    const file = s.ngx.prefix + '/reload.htpasswd';
    const dave = (p) => ({ Authorization: basic('dave', p) });
    const touch = (secondsAhead) => {
      const t = new Date(Date.now() + secondsAhead * 1000);
      fs.utimesSync(file, t, t);
    };
    await s.allowed('/reload/', dave(RELOAD.before));
    await s.allowed('/reload/', dave(RELOAD.before)); // now cached
    fs.writeFileSync(file, htpasswdLine('dave', RELOAD.after, 'sha') + '\n');
    touch(5); // a different mtime even within the same second
    await new Promise((r) => setTimeout(r, 1100)); // mtime is checked at most once a second
    const seen = await s.allowed('/reload/', dave(RELOAD.after));
    assert.equal(seen.headers['x-edge-user'], 'dave');
    await s.denied('/reload/', dave(RELOAD.before), { reason: 'password mismatch' });
  });

  it('a user file that disappears denies everyone (never falls back to allow)', async () => {
    const file = s.ngx.prefix + '/reload.htpasswd';
    await s.allowed('/reload/', { Authorization: basic('dave', RELOAD.after) });
    fs.rmSync(file);
    await new Promise((r) => setTimeout(r, 1100));
    await s.denied('/reload/', { Authorization: basic('dave', RELOAD.after) }, { status: [401, 500] });
  });

  describe('inheritance http -> server -> location', () => {
    it('a location inherits server-level edge_auth and realm, and the http-level user file', async () => {
      await s.denied('/inherit/', {}, { which: 1, challenges: [BASIC_CHALLENGE('Server')] });
      await s.allowed('/inherit/', creds('alice'), { which: 1 });
    });

    it('a nested location inherits from its parent', async () => {
      await s.denied('/inherit/nested/', {}, { which: 1, challenges: [BASIC_CHALLENGE('Server')] });
      await s.allowed('/inherit/nested/', creds('alice'), { which: 1 });
    });

    it('edge_auth off opens a location, and its nested locations', async () => {
      await s.allowed('/off/', {}, { which: 1 });
      await s.allowed('/off/nested/', {}, { which: 1 });
    });

    it('a location overrides the realm', async () => {
      await s.denied('/realm-loc/', {}, { which: 1, challenges: [BASIC_CHALLENGE('Loc')] });
    });

    it('a location overrides the method list', async () => {
      await s.denied('/switch/', creds('alice'), { which: 1, challenges: [BEARER_CHALLENGE('Server')] });
      await s.allowed('/switch/', { Authorization: 'Bearer switch-token-Tt5' }, { which: 1 });
    });
  });

  it('never logs a secret; no worker crashed', async () => {
    assertNoSecrets(s.ngx.errorLog(), SECRETS);
    await s.stop();
  });
});

describe('basic auth across workers', () => {
  const ZOE = 'zoe-shared-cache-Nn5';
  let s;
  before(async () => {
    s = await startStack({
      workers: 2,
      files: { htpasswd: htpasswdLine('zoe', ZOE, 'bcrypt', { cost: 12 }) + '\n' },
      // reuseport: the kernel spreads new connections over both workers.
      http: ({ port, path }) => `
    server {
        listen 127.0.0.1:${port} reuseport;
        ${loc('/z/', `edge_auth basic; edge_auth_user_file ${path('htpasswd')}; add_header X-Worker $pid always;`)}
    }`,
    });
  });
  after(() => s?.stop());

  it('a verified bcrypt credential is cached in the shared zone for every worker', async () => {
    const auth = { Authorization: basic('zoe', ZOE) };
    const timed = async () => {
      const t0 = performance.now();
      const res = await s.get('/z/', auth);
      assert.equal(res.status, 200);
      return { ms: performance.now() - t0, pid: res.headers['x-worker'] };
    };
    const first = await timed();
    assert.ok(first.ms > 60, `bcrypt cost 12 should take well over 60 ms, took ${first.ms.toFixed(1)} ms`);
    const pids = new Set([first.pid]);
    for (let i = 0; i < 40 && pids.size < 2; i++) {
      const next = await timed();
      pids.add(next.pid);
      assert.ok(next.ms < first.ms / 3, `worker ${next.pid} took ${next.ms.toFixed(1)} ms (first: ${first.ms.toFixed(1)} ms)`);
    }
    assert.equal(pids.size, 2, 'requests reached both workers');
  });

  it('never logs a secret; no worker crashed', async () => {
    assertNoSecrets(s.ngx.errorLog(), [ZOE]);
    await s.stop();
  });
});
