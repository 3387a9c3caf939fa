// Logs in to an OIDC-protected URL the way a browser would, without one:
// GET the URL (Accept: text/html, so the relying party redirects instead of
// answering 401), follow every 302 (to the provider's /authorize, which
// bench/oidc-op.mjs approves at once, back to the callback, back to the URL),
// keeping cookies, and print the Cookie header the browser would now send:
//
//   node bench/oidc-login.mjs http://127.0.0.1:18380/session/   ->   Cookie: edge_auth_session=…
//
// Fails (exit 1, the hops on stderr) unless the last answer is 200. VERBOSE=1
// prints the hops anyway. Node's standard library only.

import http from 'node:http';

const start = process.argv[2];
if (!start) {
  console.error('usage: oidc-login.mjs URL');
  process.exit(2);
}

const jar = new Map(); // "host|name" -> { name, value, path }
const hops = [];

function storeCookies(url, setCookies) {
  for (const line of setCookies || []) {
    const [pair, ...attrs] = line.split(';').map((s) => s.trim());
    const eq = pair.indexOf('=');
    if (eq < 1) continue;
    const name = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    let path = '/';
    let remove = value === '';
    for (const a of attrs) {
      const [k, v = ''] = a.split('=');
      if (/^path$/i.test(k)) path = v || '/';
      if (/^max-age$/i.test(k) && Number(v) <= 0) remove = true;
      if (/^expires$/i.test(k) && Date.parse(v) < Date.now()) remove = true;
    }
    // Cookies do not care about ports; every host here is 127.0.0.1.
    const key = `${url.hostname}|${name}`;
    if (remove) jar.delete(key);
    else jar.set(key, { name, value, path });
  }
}

function cookieHeader(url) {
  return [...jar.entries()]
    .filter(([k, c]) => k.startsWith(`${url.hostname}|`) && url.pathname.startsWith(c.path))
    .map(([, c]) => `${c.name}=${c.value}`)
    .join('; ');
}

function get(url) {
  return new Promise((resolve, reject) => {
    const headers = { Accept: 'text/html,application/xhtml+xml', 'User-Agent': 'edge-auth-bench-login' };
    const cookie = cookieHeader(url);
    if (cookie) headers.Cookie = cookie;
    const req = http.get(url, { headers, timeout: 10000 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout on ${url}`)));
    req.on('error', reject);
  });
}

try {
  let url = new URL(start);
  let res;
  for (let i = 0; ; i++) {
    if (i === 10) throw new Error('more than 10 redirects');
    res = await get(url);
    storeCookies(url, res.headers['set-cookie']);
    hops.push(`${res.status} ${url.href}${res.headers.location ? ` -> ${res.headers.location}` : ''}`);
    if (![301, 302, 303, 307].includes(res.status)) break;
    url = new URL(res.headers.location, url);
  }
  if (res.status !== 200) throw new Error(`ended with ${res.status}: ${res.body.slice(0, 200)}`);
  if (process.env.VERBOSE === '1') console.error(hops.join('\n'));
  const cookie = cookieHeader(new URL(start));
  if (!cookie) throw new Error('no cookie was set');
  console.log(`Cookie: ${cookie}`);
} catch (err) {
  console.error(`login failed: ${err.message}\n${hops.join('\n')}`);
  process.exit(1);
}
