// A fake of GitHub's OAuth web flow and user API, for `preset github;
// base_url http://127.0.0.1:PORT;` (the API is then base_url + /api/v3, as
// for GitHub Enterprise Server):
//   GET  /login/oauth/authorize       302 back to redirect_uri with code + state at once
//   POST /login/oauth/access_token    JSON with Accept: application/json, else
//                                     form-encoded (as GitHub answers)
//   GET  /api/v3/user                 { login, id, name, avatar_url, email: null, ... }
//   GET  /api/v3/user/emails          several addresses, one primary + verified
//
//   const gh = await startGithubFake({ clientId: 'gh-app', clientSecret: '...' });
//   gh.url                             // http://127.0.0.1:<port> (base_url)
//   gh.user                            // the /user answer (editable)
//   gh.emails                          // the /user/emails answer (editable)
//   gh.requests                        // [{ method, path, headers, form, query }]
//   gh.issued()                        // codes and tokens handed out
//   await gh.close();
// The token endpoint checks client_id / client_secret (form or Basic), the code
// (once) and redirect_uri; the API wants Authorization: Bearer|token <token>.

import crypto from 'node:crypto';
import http from 'node:http';
import { auditSecret } from './audit.mjs';

const rnd = (n = 20) => crypto.randomBytes(n).toString('hex');

export async function startGithubFake({ clientId = 'gh-client', clientSecret = rnd() } = {}) {
  const server = http.createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = server.address().port;
  const base = `http://127.0.0.1:${port}`;
  const codes = new Map();
  const tokens = new Set();
  const issued = [];
  const requests = [];

  const gh = {
    url: base,
    port,
    clientId,
    clientSecret,
    user: {
      login: 'octo-cat',
      id: 583231,
      node_id: 'MDQ6VXNlcjU4MzIzMQ==',
      avatar_url: 'https://avatars.githubusercontent.test/u/583231?v=4',
      name: 'The Octocat',
      company: '@github',
      email: null, // private address: only /user/emails has it
      type: 'User',
    },
    emails: [
      { email: 'octo-old@example.test', primary: false, verified: true, visibility: null },
      { email: 'octo-unverified@example.test', primary: false, verified: false, visibility: null },
      { email: 'octocat@example.test', primary: true, verified: true, visibility: 'private' },
      { email: '583231+octo-cat@users.noreply.github.test', primary: false, verified: true, visibility: null },
    ],
    requests,
    issued: () => [...issued],
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };

  const json = (res, status, obj) => {
    const text = JSON.stringify(obj);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };

  server.on('request', async (req, res) => {
    const url = new URL(req.url, base);
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks).toString('utf8');
    const form = Object.fromEntries(new URLSearchParams(body));
    const query = Object.fromEntries(url.searchParams);
    requests.push({ at: Date.now(), method: req.method, path: url.pathname, headers: req.headers, form, query });

    if (url.pathname === '/login/oauth/authorize') {
      if (query.client_id !== clientId || !query.redirect_uri) return json(res, 404, { error: 'unknown client' });
      const back = new URL(query.redirect_uri);
      const code = rnd(10);
      codes.set(code, { redirect_uri: query.redirect_uri, scope: query.scope ?? '' });
      issued.push(code);
      back.searchParams.set('code', code);
      if (query.state !== undefined) back.searchParams.set('state', query.state);
      res.writeHead(302, { location: back.toString(), 'content-length': 0 });
      return res.end();
    }

    if (url.pathname === '/login/oauth/access_token' && req.method === 'POST') {
      const m = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
      let id = form.client_id;
      let secret = form.client_secret;
      if (m) {
        const t = Buffer.from(m[1], 'base64').toString('utf8');
        const i = t.indexOf(':');
        id = decodeURIComponent(t.slice(0, i));
        secret = decodeURIComponent(t.slice(i + 1));
      }
      const wantsJson = /application\/json/.test(req.headers.accept ?? '');
      const answer = (obj) => {
        if (wantsJson) return json(res, 200, obj); // GitHub answers errors with 200 too
        const text = new URLSearchParams(obj).toString();
        res.writeHead(200, { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      };
      if (id !== clientId || secret !== clientSecret) return answer({ error: 'incorrect_client_credentials', error_description: 'The client_id and/or client_secret passed are incorrect.' });
      const c = codes.get(form.code);
      codes.delete(form.code);
      if (!c || (form.redirect_uri && form.redirect_uri !== c.redirect_uri))
        return answer({ error: 'bad_verification_code', error_description: 'The code passed is incorrect or expired.' });
      const token = `gho_${rnd(18)}`;
      tokens.add(token);
      issued.push(token);
      auditSecret(token);
      return answer({ access_token: token, token_type: 'bearer', scope: c.scope.replace(/ /g, ',') });
    }

    if (url.pathname === '/api/v3/user' || url.pathname === '/api/v3/user/emails') {
      const m = /^(?:Bearer|token)\s+(\S+)$/i.exec(req.headers.authorization ?? '');
      if (!m || !tokens.has(m[1])) return json(res, 401, { message: 'Requires authentication', documentation_url: 'https://docs.github.com/rest' });
      return json(res, 200, url.pathname.endsWith('/emails') ? gh.emails : gh.user);
    }

    json(res, 404, { message: 'Not Found' });
  });

  return gh;
}
