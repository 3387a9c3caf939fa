// OIDC login in a real browser (issue 5): headless Chromium (lib/browser.mjs)
// against a real OpenID provider (npm oidc-provider with its development
// login and consent pages, lib/idp.mjs) and nginx with the module:
// - a protected URL → the OP's login form → consent → back to the original URL;
//   the backend sees the identity headers and no session cookie;
// - a 5 s access token refreshed with the (rotating) refresh token: a request
//   after it expired still works and the OP saw refresh_token grants, none refused;
// - sign out (RP-initiated logout at the OP), then the protected URL wants a login again;
// - SSO: app1.edge.test and app2.edge.test (every *.edge.test is 127.0.0.1
//   for this Chromium) share a session through cookie_domain .edge.test;
// - forward-auth: a third server with stock nginx directives only
//   (auth_request /oauth2/auth, error_page 401 → /oauth2/start?rd=...) protects
//   its backend and works after the login.
// Skipped when /usr/bin/chromium is missing (`make deps` installs it).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, assertNoSecrets } from './lib/stack.mjs';
import { freePorts } from './lib/nginx.mjs';
import { startIdp } from './lib/idp.mjs';
import { startBrowser, haveChromium, opLogin, onLoginForm, opConfirmLogout, bodyText, pageRequest } from './lib/browser.mjs';
import { SESSION_SECRET, SESSION_SECRET_LINE, COOKIE, provider, oidcLoc } from './lib/oidc.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const skip = haveChromium() ? false : 'chromium is not installed (make deps)';

let idp;
let s;
let browser;
const seen = new Set(); // codes (from the browser's requests) and cookie values: never in the log
let appPort; // app1.edge.test and app2.edge.test
let faPort; // fa.edge.test: forward-auth with stock directives
const app1 = (p = '/') => `http://app1.edge.test:${appPort}${p}`;
const app2 = (p = '/') => `http://app2.edge.test:${appPort}${p}`;
const fa = (p = '/') => `http://fa.edge.test:${faPort}${p}`;

describe('login in Chromium against oidc-provider', { skip }, () => {
  before(async () => {
    // nginx's ports must be known to register the redirect URIs at the OP first
    [appPort, faPort] = await freePorts(2);
    idp = await startIdp({
      accessTokenTtl: 5,
      loginClients: [
        {
          id: 'edge-app',
          method: 'client_secret_basic',
          redirectUris: [app1('/oauth2/callback'), app2('/oauth2/callback')],
          postLogoutRedirectUris: [app1('/'), app1('/bye/'), app2('/'), app2('/bye/')],
        },
      ],
      accounts: { alice: { groups: ['admins', 'users'], email: 'alice@example.test' } },
    });
    const conf = idp.clients['edge-app'];
    s = await startStack({
      http: ({ port }) => `
    ${SESSION_SECRET_LINE}
    ${provider('op', {
      issuer: idp.issuer,
      client_id: conf.id,
      client_secret: conf.secret,
      scopes: '"openid email profile groups"',
      cookie_domain: '.edge.test',
      cookie_secure: 'off',
      allowed_redirect_hosts: '.edge.test',
    })}
    server { listen 127.0.0.1:${port}; location / { return 404; } }
    server {
        listen 127.0.0.1:${appPort};
        server_name app1.edge.test;
        ${oidcLoc('/private/', 'op', 'add_header X-App app1 always;')}
        location /bye/ { proxy_pass http://backend; }
    }
    server {
        listen 127.0.0.1:${appPort};
        server_name app2.edge.test;
        ${oidcLoc('/private/', 'op', 'add_header X-App app2 always;')}
        location /bye/ { proxy_pass http://backend; }
    }
    # forward-auth, stock nginx only: edge-auth on app1 answers /oauth2/auth
    server {
        listen 127.0.0.1:${faPort};
        server_name fa.edge.test;
        location = /oauth2/auth {
            internal;
            proxy_pass http://127.0.0.1:${appPort}/oauth2/auth;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header Host app1.edge.test;
        }
        location /app/ {
            auth_request /oauth2/auth;
            auth_request_set $fa_user $upstream_http_x_auth_request_user;
            auth_request_set $fa_email $upstream_http_x_auth_request_email;
            proxy_set_header X-Forwarded-User $fa_user;
            proxy_set_header X-Forwarded-Email $fa_email;
            error_page 401 = @login;
            proxy_pass http://backend;
        }
        location @login {
            return 302 http://app1.edge.test:${appPort}/oauth2/start?rd=$scheme://$http_host$uri;
        }
    }`,
    });
    browser = await startBrowser();
    const newPage = browser.newPage;
    browser.newPage = async () => {
      const page = await newPage();
      page.on('request', (req) => {
        const code = new URL(req.url()).searchParams.get('code');
        if (code) seen.add(code);
      });
      page.on('response', async (res) => {
        for (const h of (await res.headersArray()).filter((x) => x.name.toLowerCase() === 'set-cookie')) {
          const value = h.value.split(';')[0].split('=').slice(1).join('=');
          if (value.length >= 16) seen.add(value);
        }
      });
      return page;
    };
  });

  after(async () => {
    try {
      await browser?.close();
      await s?.stop();
    } finally {
      await idp?.close();
    }
    if (s) {
      const conf = idp.clients['edge-app'];
      assert.ok(seen.size >= 4 && idp.allTokens().length >= 6, 'codes, cookies and tokens were collected');
      assertNoSecrets(s.ngx.errorLog(), [conf.secret, SESSION_SECRET, ...idp.allTokens(), ...seen]);
    }
  });

  /** Navigates; returns the echo backend's JSON when the page is one (else null). */
  async function open(page, url) {
    await page.goto(url);
    return echoed(page);
  }
  async function echoed(page) {
    try {
      return JSON.parse(await bodyText(page));
    } catch {
      return null;
    }
  }

  it('protected URL → OP login form → consent → back to the original URL; the backend sees the identity', async () => {
    const page = await browser.newPage();
    const hits = s.echo.hits();
    await page.goto(app1('/private/page?x=1'));
    assert.ok(page.url().startsWith(idp.issuer), `at the OP: ${page.url()}`);
    assert.ok(await onLoginForm(page), 'the OP shows its login form');
    assert.equal(s.echo.hits(), hits, 'the backend was not contacted');
    await opLogin(page, 'alice');
    assert.equal(page.url(), app1('/private/page?x=1'), 'back at the original URL');
    const seen = await echoed(page);
    assert.ok(seen, `the backend's answer: ${await bodyText(page)}`);
    assert.equal(seen.url, '/private/page?x=1');
    assert.equal(seen.headers['x-auth-request-user'], 'alice');
    assert.equal(seen.headers['x-auth-request-email'], 'alice@example.test');
    assert.equal(seen.headers['x-auth-request-groups'], 'admins,users');
    assert.equal(seen.headers['x-auth-request-preferred-username'], 'alice');
    assert.doesNotMatch(seen.headers.cookie ?? '', new RegExp(COOKIE), 'no session cookie upstream');
    const cookies = await page.context().cookies();
    const session = cookies.filter((c) => c.name === COOKIE || c.name.startsWith(`${COOKIE}_`));
    assert.ok(session.length >= 1, `a session cookie: ${cookies.map((c) => c.name)}`);
    for (const c of session) {
      assert.equal(c.domain, '.edge.test', 'cookie_domain');
      assert.equal(c.httpOnly, true);
      assert.equal(c.sameSite, 'Lax');
    }
    assert.ok(!cookies.some((c) => c.name.includes('_st_')), 'no state cookie left');
    // the token request: the code, PKCE, client_secret_basic (the real OP checked them)
    const grant = idp.requests().find((r) => r.form?.grant_type === 'authorization_code');
    assert.equal(grant.status, 200);
    assert.match(grant.headers.authorization ?? '', /^Basic /);
    assert.ok(grant.form.code_verifier, 'PKCE code_verifier sent');
    await page.context().close();
  });

  it('a 5 s access token is refreshed: a request after it expired works, the OP saw refresh grants, none refused', async () => {
    const page = await browser.newPage();
    await page.goto(app1('/private/'));
    await opLogin(page, 'alice');
    assert.equal((await echoed(page))?.headers['x-auth-request-user'], 'alice');
    const before = idp.refreshGrants().length;
    await sleep(6500);
    const seen = await open(page, app1('/private/after-expiry'));
    assert.equal(page.url(), app1('/private/after-expiry'), 'no trip to the OP');
    assert.equal(seen?.headers['x-auth-request-user'], 'alice');
    const grants = idp.refreshGrants().slice(before);
    assert.ok(grants.length >= 1, 'the OP saw a refresh_token grant');
    assert.deepEqual(grants.map((g) => g.status), grants.map(() => 200), 'no refresh token was redeemed twice (the OP would refuse it)');
    // several more navigations keep working (each refresh rotated the refresh token)
    for (let i = 0; i < 3; i++) {
      const again = await open(page, app1(`/private/n${i}`));
      assert.equal(again?.headers['x-auth-request-user'], 'alice');
    }
    assert.ok(idp.refreshGrants().every((g) => g.status === 200));
    await page.context().close();
  });

  it('sign out: the session cookie is gone, the OP ends its session, the protected URL wants a login again', async () => {
    const page = await browser.newPage();
    await page.goto(app1('/private/'));
    await opLogin(page, 'alice');
    assert.equal(page.url(), app1('/private/'));
    await page.goto(app1('/oauth2/sign_out?rd=/bye/'));
    const atOp = page.url().startsWith(idp.issuer);
    if (atOp) {
      assert.ok(await opConfirmLogout(page), `the OP's logout page: ${await bodyText(page)}`);
    }
    const cookies = await page.context().cookies();
    assert.ok(!cookies.some((c) => c.name === COOKIE || c.name.startsWith(`${COOKIE}_`)), 'the session cookie is deleted');
    assert.ok(page.url().startsWith(app1('/')), `back on the app after sign-out: ${page.url()}`);
    const res = await pageRequest(page, app1('/private/'));
    assert.equal(res.status, 302);
    assert.ok(res.headers.location.startsWith(`${idp.issuer}/auth?`), res.headers.location);
    await page.goto(app1('/private/'));
    assert.ok(await onLoginForm(page), 'the OP asks for a login again (its session ended too)');
    await page.context().close();
  });

  it('SSO: a login on app1.edge.test is a session on app2.edge.test (cookie_domain .edge.test)', async () => {
    const page = await browser.newPage();
    await page.goto(app1('/private/'));
    await opLogin(page, 'alice');
    const tokenRequestsBefore = idp.requests().length;
    const seen = await open(page, app2('/private/two'));
    assert.equal(page.url(), app2('/private/two'), 'no trip to the OP');
    assert.equal(seen?.headers['x-auth-request-user'], 'alice');
    assert.equal(idp.requests().length, tokenRequestsBefore, 'no token request for app2');
    // sign out on app2 ends it on app1 too (one cookie)
    await page.goto(app2('/oauth2/sign_out?rd=/bye/'));
    if (page.url().startsWith(idp.issuer)) await opConfirmLogout(page);
    const res = await pageRequest(page, app1('/private/'));
    assert.equal(res.status, 302);
    assert.ok(res.headers.location.startsWith(idp.issuer));
    await page.context().close();
  });

  it('forward-auth: stock auth_request + error_page 401 → /oauth2/start?rd=... works after the login', async () => {
    const page = await browser.newPage();
    const hits = s.echo.hits();
    await page.goto(fa('/app/dashboard'));
    assert.ok(page.url().startsWith(idp.issuer), `sent to the OP: ${page.url()}`);
    assert.equal(s.echo.hits(), hits);
    await opLogin(page, 'alice');
    assert.equal(page.url(), fa('/app/dashboard'), 'rd brought the browser back to the other server');
    const seen = await echoed(page);
    assert.equal(seen?.headers['x-forwarded-user'], 'alice');
    assert.equal(seen?.headers['x-forwarded-email'], 'alice@example.test');
    const again = await open(page, fa('/app/other'));
    assert.equal(again?.headers['x-forwarded-user'], 'alice');
    // an XHR without a session gets the 401 → @login redirect from stock nginx; with it, the page
    const other = await browser.newPage();
    const res = await pageRequest(other, fa('/app/x'));
    assert.equal(res.status, 302);
    assert.ok(res.headers.location.startsWith(app1('/oauth2/start?rd=')), res.headers.location);
    await other.context().close();
    await page.context().close();
  });
});
