// `nginx -t` checks shared by the configuration tests:
//
//   await expectRejected(server('edge_auth oidc;'), { at: 'edge_auth oidc', mentions: ['not supported yet'] });
//   await expectAccepted({ http: '...' });
//
// `opts` is what nginxTest takes (a string is the http block).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { nginxTest } from './nginx.mjs';

/** An http block whose one location holds `body` (after `http`, when given): for nginx -t only. */
export const server = (body, http = '') => `${http ? `\n    ${http}` : ''}
    upstream backend { server 127.0.0.1:9; }
    server {
        listen 127.0.0.1:1;
        location / {
            ${body}
            proxy_pass http://backend;
        }
    }`;

/** 1-based line of the first line of `file` that contains `needle`. */
export function lineOf(file, needle) {
  const i = fs.readFileSync(file, 'utf8').split('\n').findIndex((l) => l.includes(needle));
  assert.ok(i >= 0, `${needle} not in ${file}`);
  return i + 1;
}

/**
 * Asserts that `res` (from nginxTest) is a rejection: a non-zero exit, not
 * because a directive does not exist (unless `unknownDirective`), with the
 * file:line of the first conf line containing `at` (when given), or else
 * some nginx.conf:LINE (with `anyLine`), an [emerg] line (with `emerg`),
 * each of `mentions`, a match of `match`, and none of `hidden`.
 */
export function assertRejected(res, { at, anyLine = false, emerg = false, mentions = [], match, hidden = [], unknownDirective = false } = {}) {
  assert.notEqual(res.code, 0, `nginx -t accepted it:\n${res.output}`);
  if (!unknownDirective) assert.doesNotMatch(res.output, /unknown directive/, 'rejected only because a directive does not exist');
  if (emerg) assert.match(res.output, /\[emerg\]/);
  if (at) {
    const where = `${res.conf}:${lineOf(res.conf, at)}`;
    assert.ok(res.output.includes(where), `no ${where} in:\n${res.output}`);
  }
  if (anyLine) assert.match(res.output, /nginx\.conf:\d+/, 'the error names the file and line');
  for (const m of mentions) assert.ok(res.output.includes(m), `"${m}" not in:\n${res.output}`);
  if (match) assert.match(res.output, match);
  for (const h of hidden) assert.ok(!res.output.includes(h), `"${h}" printed:\n${res.output}`);
  return res;
}

/** nginx -t with `opts` must fail; see assertRejected for `want`. Returns nginxTest's result. */
export async function expectRejected(opts, want) {
  return assertRejected(await nginxTest(opts), want);
}

/** nginx -t with `opts` must succeed ("test is successful"). */
export async function expectAccepted(opts) {
  const res = await nginxTest(opts);
  assert.equal(res.code, 0, res.output);
  assert.match(res.output, /test is successful/);
  return res;
}
