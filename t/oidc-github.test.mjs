// `preset github` (plain OAuth2, issue 5) against a local fake of GitHub's
// OAuth web flow and user API (lib/github-fake.mjs, `base_url` pointing at it):
// login with a cookie jar, the code exchanged with Accept: application/json,
// the identity from /user (login as the user) and /user/emails (the primary
// verified address, not the others); no ID token needed; sign out; no secret
// or token in the log.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startStack, assertNoSecrets } from './lib/stack.mjs';
import { cookieJar, parseSetCookie } from './lib/cookie-jar.mjs';
import { startGithubFake } from './lib/github-fake.mjs';
import { SESSION_SECRET, SESSION_SECRET_LINE, COOKIE, provider, oidcLoc, loginRedirect, sessionCookies, isDeletion } from './lib/oidc.mjs';

const CLIENT_ID = 'Iv1.edge0auth0test';
const CLIENT_SECRET = crypto.randomBytes(20).toString('hex');

let gh;
let s;
const cookieValues = new Set();
const newJar = () =>
  cookieJar([], {
    onResponse: (res) => {
      for (const sc of res.setCookies) {
        const { value } = parseSetCookie(sc);
        if (value.length >= 16) cookieValues.add(value);
      }
    },
  });

before(async () => {
  gh = await startGithubFake({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
  s = await startStack({
    http: ({ port }) => `
    ${SESSION_SECRET_LINE}
    ${provider('github', { preset: 'github', base_url: gh.url, client_id: CLIENT_ID, client_secret: CLIENT_SECRET, cookie_secure: 'off' })}
    ${provider('gh_team', { preset: 'github', base_url: gh.url, client_id: CLIENT_ID, client_secret: CLIENT_SECRET, cookie_secure: 'off', endpoint_prefix: '/gh', cookie_name: 'gh_session', allowed_users: 'someone-else' })}
    server {
        listen 127.0.0.1:${port};
        ${oidcLoc('/private/', 'github')}
        ${oidcLoc('/team/', 'gh_team')}
    }`,
  });
});

after(async () => {
  try {
    if (s) await s.stop();
  } finally {
    if (gh) await gh.close();
  }
  assertNoSecrets(s.ngx.errorLog(), [CLIENT_SECRET, SESSION_SECRET, ...gh.issued(), ...cookieValues]);
});

describe('preset github', () => {
  it('redirects to GitHub\'s authorize URL (no nonce needed, no openid scope)', async () => {
    const res = await newJar().get(s.url('/private/'));
    const { params } = loginRedirect(res, `${gh.url}/login/oauth/authorize`);
    assert.equal(params.client_id, CLIENT_ID);
    assert.equal(params.redirect_uri, s.url('/oauth2/callback'));
    assert.doesNotMatch(params.scope ?? '', /openid/);
    assert.match(params.scope ?? '', /user:email/, 'the emails API needs user:email');
  });

  it('login: the backend sees the GitHub login as the user and the primary verified email', async () => {
    const jar = newJar();
    const seenBefore = gh.requests.length;
    const { res, chain } = await jar.follow(s.url('/private/repo?tab=1'));
    const mine = gh.requests.slice(seenBefore);
    assert.deepEqual(chain.map((r) => r.status), [302, 302, 302, 200], `${res.status} ${res.body.slice(0, 300)}`);
    assert.equal(res.url, s.url('/private/repo?tab=1'));
    const seen = res.json();
    assert.equal(seen.headers['x-auth-request-user'], 'octo-cat');
    assert.equal(seen.headers['x-edge-user'], 'octo-cat', '$edge_auth_user = login');
    assert.equal(seen.headers['x-auth-request-email'], 'octocat@example.test', 'the primary verified address');
    assert.equal(seen.headers['x-auth-request-preferred-username'], 'octo-cat');
    assert.doesNotMatch(seen.headers.cookie ?? '', new RegExp(COOKIE));

    const tokenReq = mine.find((r) => r.path === '/login/oauth/access_token');
    assert.match(tokenReq.headers.accept ?? '', /application\/json/, 'asks for JSON');
    assert.equal(tokenReq.form.redirect_uri ?? s.url('/oauth2/callback'), s.url('/oauth2/callback'));
    const api = mine.filter((r) => r.path.startsWith('/api/v3/'));
    assert.deepEqual(api.map((r) => r.path).sort(), ['/api/v3/user', '/api/v3/user/emails']);
    for (const r of api) assert.match(r.headers.authorization ?? '', /^(Bearer|token) gho_/);

    const info = await jar.get(s.url('/oauth2/userinfo'));
    assert.equal(info.status, 200);
    assert.equal(info.json().user, 'octo-cat');
    assert.equal(info.json().email, 'octocat@example.test');
    const again = await jar.get(s.url('/private/other'));
    assert.equal(again.status, 200);
    assert.equal(again.json().headers['x-auth-request-user'], 'octo-cat');
  });

  it('no primary verified email: logged in without an email (never an unverified one)', async () => {
    const saved = gh.emails;
    gh.emails = [
      { email: 'octo-unverified@example.test', primary: true, verified: false, visibility: null },
      { email: 'octo-old@example.test', primary: false, verified: true, visibility: null },
    ];
    try {
      const { res, chain } = await newJar().follow(s.url('/private/'));
      assert.equal(chain.at(-1).status, 200, res.body);
      const email = res.json().headers['x-auth-request-email'] ?? '';
      assert.ok(!email.includes('unverified'), `email: ${email}`);
    } finally {
      gh.emails = saved;
    }
  });

  it('allowed_users applies to the GitHub login: 403', async () => {
    const { chain } = await newJar().follow(s.url('/team/'));
    assert.deepEqual(chain.map((r) => r.status), [302, 302, 403]);
    assert.ok(chain[2].url.startsWith(s.url('/gh/callback')), chain[2].url);
    assert.equal(sessionCookies(chain[2], 'gh_session').filter((c) => !isDeletion(c)).length, 0);
  });

  it('sign out: no end_session_endpoint, straight back to rd; login needed again', async () => {
    const jar = newJar();
    const { chain } = await jar.follow(s.url('/private/'));
    assert.equal(chain.at(-1).status, 200);
    const out = await jar.get(s.url('/oauth2/sign_out?rd=/private/bye'));
    assert.equal(out.status, 302);
    assert.equal(new URL(out.headers.location, s.url('/')).toString(), s.url('/private/bye'));
    assert.ok(sessionCookies(out).some(isDeletion));
    loginRedirect(await jar.get(s.url('/private/')), `${gh.url}/login/oauth/authorize`);
  });
});
