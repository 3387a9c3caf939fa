// The secrets audit itself (t/secrets-audit.mjs, run by `make itest` after the
// suite): it finds a secret in a recorded log or nginx answer, reads secrets
// from recorded configurations and token files, and leaves alone what is
// meant to hold them (Set-Cookie, the backend's echo, id_token_hint).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SCANNER = path.join(path.dirname(new URL(import.meta.url).pathname), 'secrets-audit.mjs');

async function audit(files) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ea-audit-'));
  try {
    for (const [name, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      fs.writeFileSync(path.join(dir, name), text);
    }
    try {
      const { stdout } = await run('node', [SCANNER], { env: { ...process.env, EDGE_AUTH_AUDIT_DIR: dir } });
      return { code: 0, out: stdout };
    } catch (e) {
      return { code: e.code, out: e.stdout };
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const answer = (headers, body = '') => JSON.stringify({ url: 'http://127.0.0.1:1/x', status: 200, headers, body }) + '\n';
const SECRET = 'tok-0123456789abcdef';

describe('secrets audit', () => {
  it('a registered secret in an error log is a hit (exit 1), shown by its first characters only', async () => {
    const r = await audit({ 'secrets-1.jsonl': JSON.stringify(SECRET) + '\n', 'prefix-1-1/error.log': `denied ${SECRET}\n` });
    assert.equal(r.code, 1);
    assert.match(r.out, /1 hits/);
    assert.ok(!r.out.includes(SECRET));
  });
  it('secrets come from recorded configurations and token files too', async () => {
    const conf = `edge_auth_token ${SECRET};\nclient_secret "cs-abcdefghijklmnop";\nedge_auth_user bob "$apr1$x$hashhashhash";\n`;
    const r = await audit({
      'prefix-1-1/nginx.conf': conf,
      'prefix-1-1/tokens': 'lbl:from-file-token-123456\n',
      'prefix-1-1/error.log': 'cs-abcdefghijklmnop and from-file-token-123456 and $apr1$x$hashhashhash\n',
    });
    assert.equal(r.code, 1);
    assert.match(r.out, /2 hits/);
  });
  it("an nginx answer's body or header is a hit; Set-Cookie, the echo backend and id_token_hint are not", async () => {
    const base = { 'secrets-1.jsonl': JSON.stringify(SECRET) + '\n' };
    const hit = await audit({ ...base, 'responses-1.jsonl': answer([['server', 'nginx/1.22.1']], `oops ${SECRET}`) });
    assert.equal(hit.code, 1);
    const fine = await audit({
      ...base,
      'responses-1.jsonl':
        answer([['server', 'nginx/1.22.1'], ['set-cookie', `s=${SECRET}`]]) +
        answer([['server', 'nginx/1.22.1'], ['location', `https://op/logout?id_token_hint=${SECRET}&x=1`]]) +
        answer([['server', 'nginx/1.22.1'], ['x-echo-backend', '1']], SECRET) +
        answer([['server', 'node']], SECRET),
    });
    assert.equal(fine.code, 0, fine.out);
  });
});
