// The conf-examples and what their comments promise.
//
//   for (const ex of examples()) it(ex.name, { skip: ex.skip }, ...)
//   ex.file, ex.curls: [{ command: "curl -u alice:... http://127.0.0.1:8080/", status: 200 }]
//
// An example whose first line is `# needs: idp` is skipped (it needs a real IdP).
// Documented requests are comment lines `#   curl ... # STATUS`; examples
// listen on 127.0.0.1:8080 and proxy to the echo backend on 127.0.0.1:9000.

import fs from 'node:fs';
import path from 'node:path';
import { REPO } from './nginx.mjs';

export const EXAMPLES_DIR = path.join(REPO, 'conf-examples');
export const EXAMPLE_LISTEN = '127.0.0.1:8080';
export const EXAMPLE_BACKEND = '127.0.0.1:9000';

export function examples() {
  if (!fs.existsSync(EXAMPLES_DIR)) return [];
  return fs
    .readdirSync(EXAMPLES_DIR)
    .filter((f) => f.endsWith('.conf'))
    .sort()
    .map((name) => {
      const file = path.join(EXAMPLES_DIR, name);
      const lines = fs.readFileSync(file, 'utf8').split('\n');
      const skip = /^#\s*needs:.*\bidp\b/.test(lines[0]) ? 'needs an IdP (first line "# needs: idp")' : false;
      const curls = lines
        .map((l) => l.match(/^#\s+(curl\s.*?)\s+#\s*(\d{3})\s*$/))
        .filter(Boolean)
        .map((m) => ({ command: m[1], status: Number(m[2]) }));
      return { name, file, skip, curls };
    });
}
