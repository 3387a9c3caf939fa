// Architecture rules the build must keep: the core is nginx-free, and the
// module is linked so that the stock nginx can load it.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { REPO, MODULE, nginxTest } from './lib/nginx.mjs';

function* sourceFiles(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* sourceFiles(p);
    else if (/\.(c|cc|cpp|cxx|h|hh|hpp|hxx|inc|ipp)$/.test(entry.name)) yield p;
  }
}

const nm = (...args) => execFileSync('nm', [...args, MODULE], { encoding: 'utf8' });

describe('structure', () => {
  it('src/core includes no nginx header', () => {
    const core = path.join(REPO, 'src', 'core');
    const offenders = [];
    let files = 0;
    for (const file of sourceFiles(core)) {
      files++;
      fs.readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
        if (/^\s*#\s*include\s*[<"](?:[^>"]*\/)?(ngx_|nginx)[^>"]*[>"]/.test(line)) {
          offenders.push(`${path.relative(REPO, file)}:${i + 1}: ${line.trim()}`);
        }
      });
    }
    assert.ok(files > 0, 'src/core has source files');
    assert.deepEqual(offenders, []);
  });

  it('the module references no nginx symbol with C++ linkage', () => {
    const mangled = nm('-D', '--undefined-only').split('\n').filter((l) => /_Z.*ngx_/.test(l));
    assert.deepEqual(mangled, []);
  });

  it('the module exports only what nginx looks up (and its module struct)', () => {
    const exported = nm('-D', '--defined-only')
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length === 3 && f[1] !== 'A' && !f[2].startsWith('_'))
      .map((f) => f[2])
      .sort();
    const needed = ['ngx_module_names', 'ngx_module_order', 'ngx_modules'];
    for (const sym of needed) assert.ok(exported.includes(sym), `${sym} is exported`);
    assert.deepEqual(exported.filter((sym) => !needed.includes(sym) && sym !== 'ngx_http_edge_auth_module'), []);
  });

  it('the stock nginx loads the module', async () => {
    const res = await nginxTest({ http: '' });
    assert.equal(res.code, 0, res.output);
    assert.doesNotMatch(res.output, /not binary compatible/);
  });
});
