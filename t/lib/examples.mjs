// The conf-examples and what their comments promise.
//
//   for (const ex of examples()) it(ex.name, { skip: ex.skip }, ...)
//   ex.file, ex.curls: [{ command: "curl -u alice:... http://127.0.0.1:8080/", status: 200 }]
//
// An example whose first line is `# needs: idp` is skipped (it needs a real IdP);
// `# needs: directive NAME` skips it while the module under test has no
// directive NAME (an example written ahead of the code; remove the line once
// the directive is in). Documented requests are comment lines `#   curl ... # STATUS`; examples
// listen on 127.0.0.1:8080 and proxy to the echo backend on 127.0.0.1:9000.

import fs from 'node:fs';
import path from 'node:path';
import { REPO, MODULE } from './nginx.mjs';

export const EXAMPLES_DIR = path.join(REPO, 'conf-examples');
export const EXAMPLE_LISTEN = '127.0.0.1:8080';
export const EXAMPLE_BACKEND = '127.0.0.1:9000';

let moduleBytes;

/** Whether the built module has a directive NAME (its name is a C string in the .so). */
export function moduleHasDirective(name) {
  moduleBytes ??= fs.existsSync(MODULE) ? fs.readFileSync(MODULE) : Buffer.alloc(0);
  return moduleBytes.includes(Buffer.from(`\0${name}\0`));
}

/** Why an example is skipped (its first line, `# needs: ...`), or false. */
function skipReason(first) {
  const needs = first.match(/^#\s*needs:\s*(.*)$/);
  if (!needs) return false;
  if (/\bidp\b/.test(needs[1])) return 'needs an IdP (first line "# needs: idp")';
  for (const m of needs[1].matchAll(/\bdirective\s+(\w+)/g)) {
    if (!moduleHasDirective(m[1])) return `needs the directive ${m[1]}, which ${path.basename(MODULE)} does not have yet`;
  }
  return false;
}

export function examples() {
  if (!fs.existsSync(EXAMPLES_DIR)) return [];
  return fs
    .readdirSync(EXAMPLES_DIR)
    .filter((f) => f.endsWith('.conf'))
    .sort()
    .map((name) => {
      const file = path.join(EXAMPLES_DIR, name);
      const lines = fs.readFileSync(file, 'utf8').split('\n');
      const skip = skipReason(lines[0]);
      const curls = lines
        .map((l) => l.match(/^#\s+(curl\s.*?)\s+#\s*(\d{3})\s*$/))
        .filter(Boolean)
        .map((m) => ({ command: m[1], status: Number(m[2]) }));
      return { name, file, skip, curls };
    });
}
