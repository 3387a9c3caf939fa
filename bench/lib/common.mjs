// Pieces bench/soak and bench/faults share: logging in with plain requests, the
// JWT signing key that rotates, small formatting helpers.
//
//   const cookie = await loginCookie(ngx.url('/session/'));   // "edge_auth_session=…"
//   const rot = rotatingKeys({ jwks, route: 'soak', mint: (key) => [...tokens] });
//   rot.start({ every: 30_000, lead: 7_000, keepOld: 12_000, onTokens: (tokens) => ... });

import { cookieJar } from '../../t/lib/cookie-jar.mjs';
import { genKey, sign, now } from '../../t/lib/jwks-server.mjs';

/**
 * A browser's login through an OIDC-protected URL (the fake OP approves at once):
 * follows the redirects keeping cookies; returns the Cookie header value for the URL.
 */
export async function loginCookie(url) {
  const jar = cookieJar();
  const { res, chain } = await jar.follow(url, { headers: { Accept: 'text/html' } });
  if (res.status !== 200) {
    throw new Error(`login at ${url} ended with ${res.status}: ${chain.map((r) => `${r.status} ${r.url}`).join(' -> ')}`);
  }
  const cookies = jar.cookiesFor(url);
  if (!cookies.length) throw new Error(`login at ${url}: no cookie was set`);
  return cookies.map((c) => `${c.name}=${c.value}`).join('; ');
}

/** `count` RS256 tokens signed with `key`: sub user-0.., iss, aud, exp in `life` s. */
export async function mintTokens(key, { count = 20, iss, aud, life = 900, prefix = 'user' } = {}) {
  const out = [];
  for (let i = 0; i < count; i++) {
    out.push(await sign(key, { sub: `${prefix}-${i}`, iss, aud, iat: now(), exp: now() + life }));
  }
  return out;
}

/**
 * A signing key that rotates the way an IdP should: every `every` ms a new key is
 * published next to the current one; `lead` ms later (longer than the JWKS ttl,
 * so every worker has it) tokens are signed with it (onTokens is called with
 * fresh tokens); `keepOld` ms after that the old key leaves the JWKS.
 */
export function rotatingKeys({ jwks, route, mintOpts = {}, alg = 'RS256' }) {
  let n = 0;
  let current = genKey(alg, { kid: `${route}-${n}` });
  const timers = new Set();
  const later = (ms, fn) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };
  const state = { rotations: 0, published: 1, dropped: 0, current: () => current };
  let keys = [current]; // what the JWKS holds (rotations may overlap when every < lead + keepOld)
  jwks.set(route, { keys });
  state.tokens = () => mintTokens(current, mintOpts);
  state.start = ({ every, lead, keepOld, onTokens }) => {
    const rotate = () => {
      const old = current;
      const next = genKey(alg, { kid: `${route}-${++n}` });
      keys = [...keys, next];
      jwks.set(route, { keys });
      state.published++;
      later(lead, async () => {
        current = next;
        state.rotations++;
        onTokens(await mintTokens(next, mintOpts));
        later(keepOld, () => {
          keys = keys.filter((k) => k !== old);
          jwks.set(route, { keys });
          state.dropped++;
        });
      });
    };
    const t = setInterval(rotate, every);
    state.stop = () => {
      clearInterval(t);
      for (const x of timers) clearTimeout(x);
      timers.clear();
    };
  };
  state.stop = () => {};
  return state;
}

export const fmtKb = (kb) => `${(kb / 1024).toFixed(1)} MB`;
export const pad = (s, n) => String(s).padEnd(n);
export const padL = (s, n) => String(s).padStart(n);

/** Markdown table text from a header row and rows (arrays of cells). */
export function mdTable(header, rows) {
  const widths = header.map((h, i) => Math.max(String(h).length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}
