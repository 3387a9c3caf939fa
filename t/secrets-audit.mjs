// The secrets audit (issue 7), run by `make itest` after the whole suite:
// every secret, password and token the suite configured or was handed (see
// lib/audit.mjs) is looked for in every nginx log and every answer of nginx
// the suite saw. Prints what it scanned and each hit (where, and the first
// characters of the secret only), and exits 1 on any hit.
//
//   node secrets-audit.mjs [--summary FILE]    # adds its result to make's totals

import fs from 'node:fs';
import path from 'node:path';
import { AUDIT_DIR } from './lib/audit.mjs';

// Directives whose value (the last argument, or the one at `arg`) is a secret.
const SECRET_DIRECTIVES = [
  /^\s*edge_auth_token\s+("?)([^\s";]+)\1/,
  /^\s*client_secret\s+("?)([^\s";]+)\1/,
  /^\s*edge_auth_session_secret\s+("?)([^\s";]+)\1/,
  /^\s*edge_auth_jwt_secret\s+("?)([^\s";]+)\1/,
  /^\s*connect_jwt_secret\s+("?)([^\s";]+)\1/,
  /^\s*edge_auth_upstream_basic\s+\S+\s+("?)([^\s";]+)\1/,
  /^\s*edge_auth_user\s+\S+\s+("?)([^\s";]+)\1/,
  /^\s*edge_auth_upstream_header\s+\S*(?:key|token|secret|auth)\S*\s+("?)([^\s";]+)\1/i,
  /redis:\/\/[^:\s/]*:([^@\s;]*)()@/,
];
const NOT_A_SECRET = /^(file:|env:|\$|\{SHA\}|\{SSHA\}|\$apr1\$|\$2[aby]\$|\$[56]\$)/;

const secrets = new Set();
const add = (v) => {
  if (typeof v === 'string' && v.length >= 12 && !NOT_A_SECRET.test(v)) secrets.add(v);
};
const haystacks = []; // [where, text]

function readJsonl(file) {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      try {
        return JSON.parse(l);
      } catch {
        return undefined;
      }
    })
    .filter((x) => x !== undefined);
}

if (!fs.existsSync(AUDIT_DIR)) {
  console.error(`secrets audit: nothing recorded in ${AUDIT_DIR} (run the suite first)`);
  process.exit(1);
}
let responses = 0;
let logs = 0;
for (const entry of fs.readdirSync(AUDIT_DIR, { withFileTypes: true })) {
  const full = path.join(AUDIT_DIR, entry.name);
  if (entry.isFile() && entry.name.startsWith('secrets-')) {
    for (const v of readJsonl(full)) add(v);
  } else if (entry.isFile() && entry.name.startsWith('responses-')) {
    for (const r of readJsonl(full)) {
      // nginx's own answers only (lib/audit.mjs records no other)
      const has = (name, re) => r.headers.some(([n, v]) => n === name && re.test(v));
      if (!has('server', /^nginx/) || has('x-echo-backend', /./)) continue;
      responses++;
      // Set-Cookie carries the sealed session by design; /oauth2/auth hands the
      // access token to the proxy that asked, when pass_access_token is on.
      // RP-initiated logout sends the ID token to the provider as id_token_hint
      // (OpenID Connect RP-Initiated Logout 1.0), through the browser.
      const headers = r.headers
        .filter(([n]) => n !== 'set-cookie' && n !== 'x-auth-request-access-token')
        .map(([n, v]) => `${n}: ${n === 'location' ? v.replace(/id_token_hint=[^&]*/g, 'id_token_hint=') : v}`)
        .join('\n');
      haystacks.push([`answer ${r.status} to ${r.url}`, `${headers}\n\n${r.body}`]);
    }
  } else if (entry.isDirectory() && entry.name.startsWith('prefix-')) {
    for (const name of fs.readdirSync(full)) {
      const text = fs.readFileSync(path.join(full, name), 'utf8');
      if (name.endsWith('.log') || name.startsWith('asan')) {
        logs++;
        haystacks.push([`${entry.name}/${name}`, text]);
      } else if (name.endsWith('.conf')) {
        for (const line of text.split('\n')) {
          for (const re of SECRET_DIRECTIVES) {
            const m = re.exec(line);
            if (m) add(m[2] || m[1]);
          }
        }
      } else {
        // token files ("label:token" lines), secret and key files
        const trimmed = text.trim();
        if (/token/i.test(name)) for (const l of trimmed.split('\n')) add(l.split(':').slice(1).join(':').replace(/^sha256:.*/, '').trim());
        else add(trimmed);
      }
    }
  }
}

const hits = [];
for (const [where, text] of haystacks) {
  for (const s of secrets) {
    if (text.includes(s)) hits.push(`${where}: holds ${s.slice(0, 6)}… (${s.length} characters)`);
  }
}
console.log(`secrets audit: ${secrets.size} secrets, ${logs} logs, ${responses} answers of nginx: ${hits.length} hits`);
for (const h of hits.slice(0, 50)) console.log(`  ${h}`);

const i = process.argv.indexOf('--summary');
if (i > 0) {
  // one more test in make's totals
  const file = process.argv[i + 1];
  const old = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : 'pass 0\nfail 0\n';
  const num = (k) => Number(new RegExp(`^${k} (\\d+)$`, 'm').exec(old)?.[1] ?? 0);
  fs.writeFileSync(file, `pass ${num('pass') + (hits.length ? 0 : 1)}\nfail ${num('fail') + (hits.length ? 1 : 0)}\n`);
}
process.exit(hits.length ? 1 : 0);
