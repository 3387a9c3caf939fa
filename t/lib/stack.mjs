// One echo backend behind one nginx, plus the assertions every auth test makes.
//
//   const s = await startStack({
//     http: ({ port, path }) => `server { listen 127.0.0.1:${port};
//         ${loc('/basic/', `edge_auth basic; edge_auth_user_file ${path('htpasswd')};`)} }`,
//     files: { htpasswd: '...' },
//   });
//   const seen = await s.allowed('/basic/', { Authorization: basic('alice', 'pw') });
//   await s.denied('/basic/', {}, { reason: 'no credentials', challenges: ['Basic realm="Restricted", charset="UTF-8"'] });
//   await s.stop();
//
// The upstream `backend` (the echo server, keepalive) is declared for the test.

import assert from 'node:assert/strict';
import { startEcho } from './echo-backend.mjs';
import { startNginx } from './nginx.mjs';
import { request, headerValues } from './http.mjs';

/**
 * A proxied test location. Every location reports what edge_auth decided:
 * the backend sees X-Edge-User / X-Edge-Method, the client X-Err on a denial.
 * `return` would answer before the access phase, so locations always proxy.
 */
export function loc(path, directives = '', { observe = true } = {}) {
  const obs = observe
    ? `add_header X-Err $edge_auth_error always;
        edge_auth_upstream_header X-Edge-User $edge_auth_user;
        edge_auth_upstream_header X-Edge-Method $edge_auth_method;`
    : '';
  return `
    location ${path} {
        ${directives}
        ${obs}
        proxy_pass http://backend;
    }`;
}

export const BASIC_CHALLENGE = (realm = 'Restricted') => `Basic realm="${realm}", charset="UTF-8"`;
export const BEARER_CHALLENGE = (realm = 'Restricted') => `Bearer realm="${realm}"`;

/** Fails when any secret (or its base64 form) appears in the text (an error log). */
export function assertNoSecrets(log, secrets) {
  for (const secret of secrets) {
    if (!secret) continue;
    assert.ok(!log.includes(secret), `secret ${JSON.stringify(secret)} appears in the error log`);
    const b64 = Buffer.from(secret).toString('base64').replace(/=+$/, '');
    if (b64.length >= 8) assert.ok(!log.includes(b64), `base64 of secret ${JSON.stringify(secret)} appears in the error log`);
  }
}

/** Stops `stack` (when started), then closes `server` (when started), even if stopping failed. */
export async function stopStack(stack, server) {
  try {
    if (stack) await stack.stop();
  } finally {
    if (server) await server.close();
  }
}

/** Asserts a denial's response: status, text/plain short body, nosniff, no-store. */
export function assertDenialResponse(res, status = 401) {
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${res.body.slice(0, 200)}`);
  assert.match(res.headers['content-type'] ?? '', /^text\/plain\b/);
  assert.equal(res.headers['x-content-type-options'], 'nosniff');
  assert.match(res.headers['cache-control'] ?? '', /\bno-store\b/);
  assert.ok(res.body.length > 0 && res.body.length < 256, `short body expected, got ${res.body.length} bytes`);
}

export async function startStack({ http, main, workers = 1, env, files, ports } = {}) {
  const echo = await startEcho();
  let ngx;
  try {
    ngx = await startNginx({
      main,
      workers,
      env,
      files,
      ports,
      http: (ctx) => `
    upstream backend { server 127.0.0.1:${echo.port}; keepalive 8; }
${typeof http === 'function' ? http({ ...ctx, echo }) : http}`,
    });
  } catch (err) {
    await echo.close();
    throw err;
  }

  let stopping;
  const stack = {
    echo,
    ngx,
    port: ngx.port,
    url: ngx.url,
    get: (path, headers = {}, which = 0) => request(ngx.url(path, which), { headers }),
    request: (path, opts = {}, which = 0) => request(ngx.url(path, which), opts),

    /** Marks the error log; the returned function gives the lines written since. */
    logMark() {
      const at = ngx.errorLog().length;
      return () => ngx.errorLog().slice(at).split('\n').filter(Boolean);
    },

    /**
     * GET that must reach the backend: 200, exactly one more backend hit.
     * Returns what the backend saw ({ method, url, path, query, headers, rawHeaders }).
     */
    async allowed(path, headers = {}, { which = 0 } = {}) {
      const before = echo.hits();
      const res = await stack.get(path, headers, which);
      assert.equal(res.status, 200, `expected 200 for ${path}, got ${res.status} (X-Err: ${res.headers['x-err']}): ${res.body.slice(0, 200)}`);
      assert.equal(echo.hits(), before + 1, 'backend must be hit exactly once');
      return echo.last();
    },

    /**
     * A request (made by `send`, or a GET of `path` with `headers`) that must be
     * denied before the backend: status (a number, or a list of acceptable ones), denial headers, challenges
     * (exact list of WWW-Authenticate values, when given), $edge_auth_error as
     * X-Err (when `reason` is given: a string or a RegExp). Returns the response.
     */
    async denied(path, headers = {}, { status = 401, reason, challenges, send, which = 0 } = {}) {
      const before = echo.hits();
      const res = send ? await send() : await stack.get(path, headers, which);
      assertDenialResponse(res, Array.isArray(status) ? (status.includes(res.status) ? res.status : status[0]) : status);
      assert.equal(echo.hits(), before, 'a denied request must not reach the backend');
      if (challenges) assert.deepEqual(headerValues(res, 'WWW-Authenticate'), challenges);
      if (reason instanceof RegExp) assert.match(res.headers['x-err'] ?? '', reason);
      else if (reason !== undefined) assert.equal(res.headers['x-err'], reason);
      return res;
    },

    /** Stops nginx (asserting no worker crashed) and the backend; idempotent. */
    stop() {
      stopping ??= (async () => {
        try {
          await ngx.stop();
        } finally {
          await echo.close();
        }
      })();
      return stopping;
    },
  };
  return stack;
}
