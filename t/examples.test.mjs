// Every conf-example runs: nginx starts with it (on a free port, proxying to
// an echo backend) and each documented `curl ... # STATUS` line gets STATUS;
// a denied request never reaches the backend.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startNginx } from './lib/nginx.mjs';
import { startEcho } from './lib/echo-backend.mjs';
import { examples, EXAMPLE_LISTEN, EXAMPLE_BACKEND } from './lib/examples.mjs';

const exec = promisify(execFile);
const list = examples();

describe('conf-examples run and answer as documented', () => {
  if (list.length === 0) it('conf-examples has no *.conf yet', { skip: true }, () => {});
  for (const ex of list) {
    describe(ex.name, { skip: ex.skip }, () => {
      let echo;
      let ngx;
      const local = (text) => text.replaceAll(EXAMPLE_LISTEN, `127.0.0.1:${ngx.port}`);
      before(async () => {
        echo = await startEcho();
        ngx = await startNginx({
          example: ex.file,
          rewrite: (text, { port }) =>
            text.replaceAll(EXAMPLE_LISTEN, `127.0.0.1:${port}`).replaceAll(EXAMPLE_BACKEND, `127.0.0.1:${echo.port}`),
        });
      });
      after(async () => {
        try {
          await ngx?.stop();
        } finally {
          await echo?.close();
        }
      });

      it('documents at least one request', () => {
        assert.ok(ex.curls.length > 0, 'no "#   curl ... # STATUS" lines');
      });

      for (const { command, status } of ex.curls) {
        it(`${command} -> ${status}`, async () => {
          const before = echo.hits();
          const curl = local(command).replace(/^curl\s/, `curl -s -o /dev/null -w '%{http_code}' --max-time 5 `);
          const { stdout } = await exec('bash', ['-c', curl]);
          assert.equal(Number(stdout), status);
          if (status === 401 || status === 403) assert.equal(echo.hits(), before, 'a denied request reached the backend');
        });
      }

      it('stops cleanly (no worker crashed)', async () => {
        await ngx.stop();
      });
    });
  }
});
