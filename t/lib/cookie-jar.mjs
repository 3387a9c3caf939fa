// An HTTP client with a cookie jar (RFC 6265, the parts a test needs), for
// running a whole login with plain requests:
//
//   const jar = cookieJar();
//   const res = await jar.get('http://app1.edge.test:8080/private/');   // Cookie sent, Set-Cookie kept
//   const { res, chain } = await jar.follow(url);   // follows redirects (GET), across hosts
//   jar.names('http://app1.edge.test:8080/')        // cookie names that would be sent there
//   jar.value(url, 'edge_auth_session')             // one cookie's value, or undefined
//   jar.set(url, 'edge_auth_session', 'x')          // plant / overwrite a cookie (host-only)
//   const other = jar.clone();                      // another browser with the same cookies
//   cookieJar([], { onResponse: (res) => ... })     // sees every response (collect cookie values)
//   cookieJar([], { agent: new http.Agent({ keepAlive: true, maxSockets: 1 }) })   // one kept-alive
//                                                   // connection, as a browser (default: a new one per request)
//
// Any host name under .edge.test (and localhost) is connected to 127.0.0.1 with
// the name in the Host header, so server names and cookie domains can be
// tested on loopback. Cookies: Domain (leading dot ignored; host-only without
// it), Path, Max-Age / Expires (a past date or Max-Age <= 0 deletes), Secure
// (sent only to https URLs, as a browser does: a test over plain http needs
// `cookie_secure off`), HttpOnly and SameSite kept as attributes only.
// Responses are http.mjs's (status, headers, rawHeaders, body, json()) plus
// setCookies: the raw Set-Cookie values, in order, and url.

import http from 'node:http';
import { headerValues } from './http.mjs';
import { auditResponse, auditSecret } from './audit.mjs';

const LOOPBACK_NAME = /(^|\.)edge\.test$|^localhost$/;

/** Parses one Set-Cookie value: { name, value, attrs: { path, domain, maxAge, expires, secure, httpOnly, sameSite } }. */
export function parseSetCookie(text) {
  const [pair, ...rest] = text.split(';');
  const eq = pair.indexOf('=');
  const cookie = { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), attrs: {}, raw: text };
  for (const part of rest) {
    const i = part.indexOf('=');
    const k = (i < 0 ? part : part.slice(0, i)).trim().toLowerCase();
    const v = i < 0 ? '' : part.slice(i + 1).trim();
    if (k === 'path') cookie.attrs.path = v;
    else if (k === 'domain') cookie.attrs.domain = v.replace(/^\./, '').toLowerCase();
    else if (k === 'max-age') cookie.attrs.maxAge = Number(v);
    else if (k === 'expires') cookie.attrs.expires = Date.parse(v);
    else if (k === 'secure') cookie.attrs.secure = true;
    else if (k === 'httponly') cookie.attrs.httpOnly = true;
    else if (k === 'samesite') cookie.attrs.sameSite = v;
  }
  return cookie;
}

function domainMatch(host, domain) {
  return host === domain || host.endsWith(`.${domain}`);
}

function pathMatch(reqPath, cookiePath) {
  if (reqPath === cookiePath) return true;
  if (!reqPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || reqPath[cookiePath.length] === '/';
}

/** onResponse(res): called with every response (e.g. to remember cookie values that must never be logged). */
export function cookieJar(initial = [], { onResponse, agent = false } = {}) {
  // { name, value, domain, hostOnly, path, secure, expiresAt, httpOnly, sameSite, order }
  let cookies = initial.map((c) => ({ ...c }));
  let order = 0;

  const live = () => {
    const now = Date.now();
    cookies = cookies.filter((c) => c.expiresAt === undefined || c.expiresAt > now);
    return cookies;
  };

  function store(url, setCookie) {
    const u = new URL(url);
    const host = u.hostname.toLowerCase();
    const c = parseSetCookie(setCookie);
    if (!c.name) return;
    const a = c.attrs;
    let domain = host;
    let hostOnly = true;
    if (a.domain) {
      if (!domainMatch(host, a.domain)) return; // a browser ignores it
      domain = a.domain;
      hostOnly = false;
    }
    let path = a.path;
    if (!path || !path.startsWith('/')) {
      const p = u.pathname;
      path = p.lastIndexOf('/') > 0 ? p.slice(0, p.lastIndexOf('/')) : '/';
    }
    let expiresAt;
    if (a.maxAge !== undefined && !Number.isNaN(a.maxAge)) expiresAt = a.maxAge <= 0 ? 0 : Date.now() + a.maxAge * 1000;
    else if (a.expires !== undefined && !Number.isNaN(a.expires)) expiresAt = a.expires;
    cookies = cookies.filter((x) => !(x.name === c.name && x.domain === domain && x.path === path));
    if (expiresAt !== undefined && expiresAt <= Date.now()) return; // deletion
    cookies.push({
      name: c.name,
      value: c.value,
      domain,
      hostOnly,
      path,
      secure: !!a.secure,
      httpOnly: !!a.httpOnly,
      sameSite: a.sameSite,
      expiresAt,
      order: order++,
    });
  }

  function matching(url) {
    const u = new URL(url);
    const host = u.hostname.toLowerCase();
    return live()
      .filter((c) => (c.hostOnly ? c.domain === host : domainMatch(host, c.domain)))
      .filter((c) => pathMatch(u.pathname, c.path))
      .filter((c) => !c.secure || u.protocol === 'https:')
      .sort((a, b) => b.path.length - a.path.length || a.order - b.order);
  }

  function request(url, { method = 'GET', headers = {}, body } = {}) {
    const u = new URL(url);
    const sent = matching(url);
    const hdrs = { ...headers };
    const has = Object.keys(hdrs).find((k) => k.toLowerCase() === 'cookie');
    if (sent.length && !has) hdrs.Cookie = sent.map((c) => `${c.name}=${c.value}`).join('; ');
    const loopback = LOOPBACK_NAME.test(u.hostname);
    if (loopback && !Object.keys(hdrs).some((k) => k.toLowerCase() === 'host')) hdrs.Host = u.host;
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: loopback ? '127.0.0.1' : u.hostname,
          port: u.port || 80,
          path: u.pathname + u.search,
          method,
          headers: hdrs,
          agent,
          maxHeaderSize: 1024 * 1024, // chunked session cookies: many large Set-Cookie headers
        },
        (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const setCookies = headerValues(res.rawHeaders, 'Set-Cookie');
            for (const sc of setCookies) store(url, sc);
            // session and state cookie values: never in a log or another answer
            auditSecret(setCookies.map((sc) => parseSetCookie(sc).value));
            auditResponse(url, { status: res.statusCode, rawHeaders: res.rawHeaders, body: text });
            const out = {
              url,
              status: res.statusCode,
              headers: res.headers,
              rawHeaders: res.rawHeaders,
              body: text,
              json: () => JSON.parse(text),
              setCookies,
              sentCookies: sent.map((c) => c.name),
            };
            if (onResponse) onResponse(out);
            resolve(out);
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      if (body !== undefined) req.write(body);
      req.end();
    });
  }

  const jar = {
    request,
    get: (url, headers = {}) => request(url, { headers }),
    /**
     * Follows redirects with GET (as a browser does after a 302) up to `max`
     * hops; `stop(url)` true stops before requesting that URL (e.g. a foreign
     * host). Returns { res: the last response, chain: every response }.
     */
    async follow(url, { headers = {}, max = 10, stop, method = 'GET', body } = {}) {
      const chain = [];
      let res = await request(url, { headers, method, body });
      chain.push(res);
      for (let i = 0; i < max && res.status >= 300 && res.status < 400 && res.headers.location; i++) {
        const next = new URL(res.headers.location, res.url).toString();
        if (stop && stop(next)) break;
        res = await request(next, { headers });
        chain.push(res);
      }
      return { res, chain };
    },
    /** The cookies (objects) that would be sent to url. */
    cookiesFor: (url) => matching(url).map((c) => ({ ...c })),
    /** Their names. */
    names: (url) => matching(url).map((c) => c.name),
    value: (url, name) => matching(url).find((c) => c.name === name)?.value,
    /** Every cookie held. */
    all: () => live().map((c) => ({ ...c })),
    /** Plants or replaces a host-only cookie for url's host, path /. */
    set(url, name, value, { domain, path = '/' } = {}) {
      const host = new URL(url).hostname.toLowerCase();
      const d = domain ? domain.replace(/^\./, '') : host;
      cookies = cookies.filter((x) => !(x.name === name && x.domain === d && x.path === path));
      cookies.push({ name, value, domain: d, hostOnly: !domain, path, secure: false, httpOnly: true, order: order++ });
    },
    /** Removes every cookie named `name` (or matching the RegExp). */
    delete(name) {
      cookies = cookies.filter((c) => !(name instanceof RegExp ? name.test(c.name) : c.name === name));
    },
    clear() {
      cookies = [];
    },
    clone: () => cookieJar(live(), { onResponse }), // a fresh connection per request
  };
  return jar;
}
