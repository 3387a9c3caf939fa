// OAuth2 client credentials against a failing token endpoint: slow, 5xx
// (retried), 4xx (not retried, remembered ~5 s), garbage, 12 MB, no
// access_token, connection refused, hang. Each: on_error quickly, the backend
// never sees the request, nginx keeps serving, and the error log names the
// client, the token URL and what went wrong, never the secret nor a token.
//
// One nginx with one client per fault; the cases run concurrently.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startStack, assertNoSecrets } from './lib/stack.mjs';
import { freePorts } from './lib/nginx.mjs';
import { startTokenEndpoint, oauthClient } from './lib/token-endpoint.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rnd = (tag) => `${tag}-${crypto.randomBytes(12).toString('base64url')}`;

// name -> client parameters beyond token_url / client_id / client_secret
const CASES = {
  'f-slow': { mode: 'slow', opts: { delay: 3000 }, conf: { timeout: '1s', retries: 0 } },
  'f-500': { mode: '500', conf: { timeout: '2s', retries: 2 } },
  'f-401': { mode: '401', conf: { timeout: '1s' } },
  'f-garbage': { mode: 'garbage', conf: { timeout: '1s' } },
  'f-huge': { mode: 'huge', conf: { timeout: '2s' } },
  'f-notoken': { mode: 'no-token', conf: { timeout: '1s', on_error: 503 } },
  'f-refused': { mode: 'ok', conf: { timeout: '2s', retries: 2 } },
  'f-hang': { mode: 'hang', conf: { timeout: '1s', retries: 2 } },
};
const SECRETS = Object.fromEntries(Object.keys(CASES).map((n) => [n, rnd(`secret-${n}`)]));
const IDS = Object.fromEntries(Object.keys(CASES).map((n) => [n, `id-${n}`]));

describe('token endpoint faults', { concurrency: true }, () => {
  let s;
  let te;
  let closedPort;

  before(async () => {
    te = await startTokenEndpoint();
    [closedPort] = await freePorts(1); // nothing listens there
    for (const [name, c] of Object.entries(CASES)) te.set(name, c.mode, c.opts);
    const clients = Object.entries(CASES)
      .map(([name, c]) =>
        oauthClient(name, {
          token_url: name === 'f-refused' ? `http://127.0.0.1:${closedPort}/token` : te.url(name),
          client_id: IDS[name],
          client_secret: SECRETS[name],
          ...c.conf,
        }),
      )
      .join('');
    const locations = Object.keys(CASES)
      .map(
        (name) => `
        location /${name}/ { edge_auth_upstream_oauth ${name}; proxy_pass http://backend; }`,
      )
      .join('');
    s = await startStack({
      http: ({ port }) => `
${clients}
    server {
        listen 127.0.0.1:${port};
        ${locations}
        location /plain/ { proxy_pass http://backend; }
    }`,
    });
  });

  after(async () => {
    try {
      if (s) await s.stop(); // fails on a crashed worker
    } finally {
      if (te) await te.close();
    }
    // Secrets: nothing secret in the log, whatever happened above.
    const log = s ? s.ngx.errorLog() : '';
    assertNoSecrets(log, [
      ...Object.values(SECRETS),
      ...Object.entries(SECRETS).map(([n, sec]) => `${IDS[n]}:${sec}`),
      ...(te ? te.issued() : []),
    ]);
  });

  const backendSaw = (name) => s.echo.requests.filter((r) => r.path.startsWith(`/${name}/`)).length;
  const url = (name) => (name === 'f-refused' ? `http://127.0.0.1:${closedPort}/token` : te.url(name));

  /** Lines of the error log that name the client. */
  const linesOf = (name) =>
    s.ngx
      .errorLog()
      .split('\n')
      .filter((l) => l.includes(`"${name}"`));

  /** Waits (bounded) for an error-log line of the client's failed token request, and returns it. */
  async function failureLine(name, ms = 3000) {
    const deadline = Date.now() + ms;
    for (;;) {
      const line = linesOf(name).find((l) => l.includes(url(name)));
      if (line) return line;
      if (Date.now() > deadline) assert.fail(`no error-log line for "${name}" naming ${url(name)}:\n${linesOf(name).join('\n')}`);
      await sleep(50);
    }
  }

  /** One request to the faulty client: status, how long, backend not hit, nginx still serving. */
  async function expectOnError(name, { status = 502, within }) {
    const t0 = Date.now();
    const res = await s.get(`/${name}/x`, { Authorization: 'Bearer client-sent' });
    const took = Date.now() - t0;
    assert.equal(res.status, status, `${name}: expected ${status}, got ${res.status}: ${res.body.slice(0, 200)}`);
    assert.ok(took <= within, `${name}: on_error after ${took} ms (limit ${within} ms)`);
    assert.equal(backendSaw(name), 0, `${name}: the backend must not be contacted`);
    const plain = await s.get('/plain/alive');
    assert.equal(plain.status, 200, 'nginx keeps serving other locations');
    return { res, took };
  }

  it('slow (3 s) with timeout 1s: on_error within ~1.5 s', async () => {
    const { took } = await expectOnError('f-slow', { within: 1500 });
    assert.ok(took >= 900, `answered after ${took} ms, before the 1 s timeout ran out`);
    assert.equal(te.hits('f-slow'), 1);
    const line = await failureLine('f-slow');
    assert.match(line, /time(d)? ?out/i, 'the log says the request timed out');
  });

  it('500: retried (hits == retries + 1), then on_error', async () => {
    await expectOnError('f-500', { within: 2500 });
    const line = await failureLine('f-500');
    assert.match(line, /\b500\b/);
    assert.match(line, /server_error/);
    assert.match(line, /temporarily unavailable/);
    assert.equal(te.hits('f-500'), 3, 'retries 2 = 3 attempts');
    await sleep(700); // no late 4th attempt
    assert.equal(te.hits('f-500'), 3);
    // gaps between attempts: backoff with jitter (~200 ms doubling), not immediate
    const at = te.requests('f-500').map((r) => r.at);
    assert.ok(at[1] - at[0] >= 80, `first retry after ${at[1] - at[0]} ms`);
    assert.ok(at[2] - at[1] >= 150, `second retry after ${at[2] - at[1]} ms`);
  });

  it('401 invalid_client: one hit, on_error, remembered ~5 s (no new hit), then tried again', async () => {
    const { took } = await expectOnError('f-401', { within: 1000 });
    assert.ok(took < 500, `a 4xx answer should fail the request at once, took ${took} ms`);
    const line = await failureLine('f-401');
    assert.match(line, /\b401\b/);
    assert.match(line, /invalid_client/);
    assert.match(line, /bad secret/);
    assert.equal(te.hits('f-401'), 1, 'a 4xx is not retried');

    const failedAt = Date.now();
    const { took: second } = await expectOnError('f-401', { within: 300 });
    assert.equal(te.hits('f-401'), 1, 'a second request within 5 s must not hit the token endpoint');
    assert.ok(second < 200, `remembered failure should answer at once, took ${second} ms`);

    // After the negative-cache window, the endpoint is asked again.
    te.set('f-401', 'ok');
    await sleep(Math.max(0, failedAt + 6000 - Date.now()));
    const res = await s.get('/f-401/again');
    assert.equal(res.status, 200, `after the 4xx window a new fetch must be tried: ${res.status}`);
    assert.equal(te.hits('f-401'), 2);
    assert.equal(s.echo.last().headers.authorization, `Bearer ${te.issued().at(-1)}`);
  });

  it('garbage (200, not JSON): on_error, logged with the status', async () => {
    await expectOnError('f-garbage', { within: 1000 });
    const line = await failureLine('f-garbage');
    assert.match(line, /\b200\b/);
    assert.equal(te.hits('f-garbage'), 1, 'a bad 2xx body is not a network error: not retried');
  });

  it('12 MB body: on_error, not retried, logged with the status and the size cap', async () => {
    await expectOnError('f-huge', { within: 2000 });
    const line = await failureLine('f-huge');
    assert.match(line, /1048576|1 ?MiB|too large|larger/i, 'the log says the body was too large');
    await sleep(700); // a retry would come within the backoff window
    assert.equal(te.hits('f-huge'), 1, 'an oversized 2xx body is a bad answer, not a network error: not retried');
    assert.match(line, /\b200\b/, 'the log names the HTTP status the IdP answered');
  });

  it('200 without access_token: on_error (custom 503)', async () => {
    await expectOnError('f-notoken', { status: 503, within: 1000 });
    const line = await failureLine('f-notoken');
    assert.match(line, /\b200\b/);
    assert.match(line, /access_token/);
    assert.equal(te.hits('f-notoken'), 1, 'not retried');
  });

  it('connection refused: retried, then on_error within timeout', async () => {
    await expectOnError('f-refused', { within: 2500 });
    const line = await failureLine('f-refused');
    assert.match(line, /refused|connect/i);
  });

  it('hang: on_error after timeout 1s; the attempt is abandoned (timeout per attempt) and retried', async () => {
    const { took } = await expectOnError('f-hang', { within: 1500 });
    assert.ok(took >= 900, `answered after ${took} ms, before the 1 s timeout`);
    // each attempt gives up after 1 s: 3 attempts and a failure line within ~4 s
    const line = await failureLine('f-hang', 5000);
    assert.match(line, /time(d)? ?out/i);
    assert.equal(te.hits('f-hang'), 3, 'a hung attempt is a network error: retried, 3 attempts in all');
  });
});
