// The secrets audit (issue 7): while the suite runs, every test process
// records here what nginx answered, nginx's logs and configurations, and the
// secrets, passwords and tokens it handed to nginx or got from a fake IdP;
// after the suite, t/secrets-audit.mjs looks for every secret in every
// recorded log and answer.
//
//   auditSecret(token);                    // a value that must never be shown
//   auditResponse(url, res);               // http.mjs does this for each request()
//   auditPrefix(prefix);                   // nginx.mjs does this before a prefix is removed
//
// Records go to t/.tmp/audit/ (one file per process and kind); EDGE_AUTH_AUDIT=0
// turns recording off.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const AUDIT_DIR =
  process.env.EDGE_AUTH_AUDIT_DIR || path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '.tmp', 'audit');
const on = process.env.EDGE_AUTH_AUDIT !== '0';
const MAX_BODY = 256 * 1024;
let seq = 0;

function append(kind, line) {
  if (!on) return;
  try {
    fs.mkdirSync(AUDIT_DIR, { recursive: true });
    fs.appendFileSync(path.join(AUDIT_DIR, `${kind}-${process.pid}.jsonl`), `${line}\n`);
  } catch {
    // recording is best effort: a test never fails because of it
  }
}

/** Values (strings) that nginx must never log or answer with. Short ones are ignored. */
export function auditSecret(...values) {
  for (const v of values.flat()) {
    if (typeof v === 'string' && v.length >= 12) append('secrets', JSON.stringify(v));
  }
}

/**
 * An answer a test received. Only nginx's own answers are audited: those with a
 * `Server: nginx` header and not proxied from the echo backend (which shows
 * the backend everything it received, injected credentials included, by design).
 */
export function auditResponse(url, { status, rawHeaders = [], body = '' }) {
  const headers = [];
  let server = '';
  let echoed = false;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    if (name === 'server') server = rawHeaders[i + 1];
    if (name === 'x-echo-backend') echoed = true;
    headers.push([name, rawHeaders[i + 1]]);
  }
  if (!/^nginx/.test(server) || echoed) return;
  append('responses', JSON.stringify({ url: String(url), status, headers, body: String(body).slice(0, MAX_BODY) }));
}

/** Copies an nginx prefix's logs and configuration (the suite removes prefixes of passing files). */
export function auditPrefix(prefix) {
  if (!on) return;
  const out = path.join(AUDIT_DIR, `prefix-${process.pid}-${++seq}`);
  try {
    fs.mkdirSync(out, { recursive: true });
    for (const entry of fs.readdirSync(prefix, { withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const { name } = entry;
      const keep = /\.log$|\.conf$|^asan/.test(name) || /token|secret|key|passw/i.test(name);
      const file = path.join(prefix, name);
      if (keep && fs.statSync(file).size <= 8 * 1024 * 1024) fs.copyFileSync(file, path.join(out, name));
    }
  } catch {
    // best effort
  }
}
