// The Debian package (issue 6): `make deb` builds
// build/libnginx-mod-http-edge-auth_<version>_<arch>.deb from the current tree
// (make reuses it while debian/, config, CMakeLists.txt and src/ are unchanged)
// and lintian reports no error; its Depends name nginx-dev's nginx-abi and the
// runtime libraries; `apt-get install` puts the module, the modules-available
// snippet and the modules-enabled link in place; the stock /usr/sbin/nginx,
// with a private config that includes /etc/nginx/modules-enabled/*.conf and
// conf-examples/basic.conf's server, passes `nginx -t`, serves an authenticated
// request (200) and denies one without credentials (401); `apt-get purge`
// leaves the machine as it was (module, snippet, links, modules-enabled, a
// system nginx running or not, as before).
//
// Needs root (skipped otherwise). Refuses to run (skips, saying why) when the
// package is already installed or left in config-files state: the test would
// replace or purge it and cannot put a previous build back. It never starts or
// stops the system nginx service: the package's nginx-reload trigger reloads a
// system nginx only if one is running (invoke-rc.d; nothing in a container
// without an init system), and the test's own nginx runs with a private
// config, pid file, error log and temp paths (the stock prefix, so that the
// snippet's relative `modules/...` path resolves).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO, NGINX, freePorts } from './lib/nginx.mjs';
import { startEcho } from './lib/echo-backend.mjs';
import { examples, EXAMPLE_LISTEN, EXAMPLE_BACKEND } from './lib/examples.mjs';
import { request, basic } from './lib/http.mjs';

const PKG = 'libnginx-mod-http-edge-auth';
const SO = '/usr/lib/nginx/modules/ngx_http_edge_auth_module.so';
const SNIPPET = '/usr/share/nginx/modules-available/mod-http-edge-auth.conf';
const ENABLED_DIR = '/etc/nginx/modules-enabled';
const LINK = path.join(ENABLED_DIR, '50-mod-http-edge-auth.conf');
const ABI_FILE = '/usr/share/nginx/src/debian/libnginx-mod.abisubstvars';
const EXAMPLE = 'basic.conf';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function run(cmd, args, opts = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', (err) => resolve({ code: -1, output: String(err) }));
    child.on('close', (code) => resolve({ code, output }));
  });
}

/** dpkg's view of the package: 'not-installed', 'installed', 'config-files', ... */
function pkgState() {
  const r = spawnSync('dpkg-query', ['-W', '-f=${db:Status-Status}', PKG], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : 'not-installed';
}

/** apt-get as the package scripts see it in CI; waits for another apt/dpkg to finish. */
async function aptGet(...args) {
  const deadline = Date.now() + 5 * 60_000;
  for (;;) {
    const res = await run('apt-get', ['-o', 'DPkg::Lock::Timeout=60', ...args], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (res.code === 0) return res;
    if (/Could not get lock|Unable to (?:acquire|lock)|is another process using it/i.test(res.output) && Date.now() < deadline) {
      await sleep(3000);
      continue;
    }
    throw new Error(`apt-get ${args.join(' ')} failed (exit ${res.code}):\n${res.output}`);
  }
}

/** Master processes of a system nginx: started without -c / -p, or with a config under /etc/nginx. */
function systemNginxMasters() {
  const r = spawnSync('pgrep', ['-x', 'nginx'], { encoding: 'utf8' });
  const masters = [];
  for (const pid of r.stdout.split('\n').filter(Boolean)) {
    let title;
    try {
      title = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
    } catch {
      continue; // gone meanwhile
    }
    if (!/master process/.test(title)) continue;
    const conf = title.match(/\s-c\s+(\S+)/)?.[1];
    const prefix = /\s-p\s/.test(title);
    if ((!conf && !prefix) || conf?.startsWith('/etc/nginx/')) masters.push(Number(pid));
  }
  return masters.sort();
}

const listDir = (dir) => (fs.existsSync(dir) ? fs.readdirSync(dir).sort() : null);
const linkTarget = (p) => {
  try {
    return fs.readlinkSync(p);
  } catch {
    return null;
  }
};

/** What the test must leave as it found it. */
function machineState() {
  return {
    package: pkgState(),
    so: fs.existsSync(SO),
    snippet: fs.existsSync(SNIPPET),
    modulesEnabled: (listDir(ENABLED_DIR) ?? []).map((name) => `${name} -> ${linkTarget(path.join(ENABLED_DIR, name))}`),
    modulesAvailable: listDir(path.dirname(SNIPPET)),
    systemNginx: systemNginxMasters().length > 0,
  };
}

const isRoot = process.getuid?.() === 0;
const initial = isRoot ? pkgState() : null;
const skip = !isRoot
  ? 'needs root: installs and purges the package with apt-get'
  : initial !== 'not-installed'
    ? `${PKG} is ${initial} on this machine: the test would replace and purge it and cannot restore it; ` +
      `run \`apt-get purge ${PKG}\` first`
    : false;

describe(`Debian package ${PKG}`, { skip }, () => {
  let before0; // machineState() before anything
  let deb; // build/<package>_<version>_<arch>.deb
  let installedByUs = false;
  let purged = false;
  let tmp; // private nginx prefix
  let echo;
  let ngx; // our nginx: { child, exit, exited(), output() }
  let masterPid;
  let conf;
  const failed = new Set();
  const done = new Set();
  // A step runs only when the ones it needs passed (no cascade of confusing failures).
  const step = (name, needs, fn, opts = {}) =>
    it(name, opts, async (t) => {
      const missing = needs.filter((n) => failed.has(n) || !done.has(n));
      if (missing.length) return t.skip(`needs: ${missing.join(', ')}`);
      try {
        await fn(t);
        done.add(name);
      } catch (err) {
        failed.add(name);
        throw err;
      }
    });

  const BUILT = 'make deb builds it from this tree and lintian reports no error';
  const INSTALLED = 'apt-get install puts the module, the snippet and the modules-enabled link in place';
  const TESTED = 'the stock nginx -t accepts conf-examples/basic.conf with the module from modules-enabled';

  let mastersBefore = [];

  before(() => {
    before0 = machineState();
    mastersBefore = systemNginxMasters();
  });

  after(async () => {
    // Whatever happened: no private nginx left, the package gone, no system nginx we started.
    if (ngx && ngx.exited() === null) {
      ngx.child.kill('SIGQUIT');
      await Promise.race([ngx.exit, sleep(10_000)]);
      if (ngx.exited() === null) ngx.child.kill('SIGKILL');
    }
    await echo?.close();
    if (installedByUs && !purged) await aptGet('purge', '-y', PKG).catch((err) => console.error(err.message));
    // Not expected (nginx's trigger only reloads a running one), and then the purge step has
    // failed already: stop a system nginx that appeared while the package was installed.
    for (const pid of systemNginxMasters().filter((p) => !mastersBefore.includes(p))) {
      console.error(`stopping the system nginx (master ${pid}) that appeared during the test`);
      process.kill(pid, 'SIGQUIT');
    }
    if (tmp && !failed.size) fs.rmSync(tmp, { recursive: true, force: true });
    else if (tmp) console.error(`kept nginx prefix: ${tmp}`);
  });

  step(BUILT, [], async (t) => {
    const start = Date.now();
    const res = await run('make', ['-C', REPO, '--no-print-directory', 'deb']);
    assert.equal(res.code, 0, `make deb failed:\n${res.output.slice(-4000)}`);
    const what = res.output.match(/^deb: (?:built|.*up to date).*$/m)?.[0] ?? '';
    t.diagnostic(`make deb: ${Math.round((Date.now() - start) / 1000)} s (${what})`);
    const version = spawnSync('dpkg-parsechangelog', ['-l', path.join(REPO, 'debian/changelog'), '-S', 'Version'], {
      encoding: 'utf8',
    }).stdout.trim();
    const arch = spawnSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).stdout.trim();
    deb = path.join(REPO, 'build', `${PKG}_${version}_${arch}.deb`);
    assert.ok(fs.existsSync(deb), `${deb} exists`);
    const lintian = fs.readFileSync(path.join(REPO, 'build/deb/lintian.txt'), 'utf8');
    assert.ok(fs.statSync(path.join(REPO, 'build/deb/lintian.txt')).mtimeMs >= start - 1000, 'lintian ran now');
    assert.deepEqual(lintian.split('\n').filter((l) => /^E:/.test(l)), [], lintian);
    for (const line of lintian.split('\n').filter((l) => /^[WIP]:/.test(l))) t.diagnostic(`lintian: ${line}`);
  }, { timeout: 20 * 60_000 });

  step("Depends: nginx-dev's nginx-abi and the runtime libraries", [BUILT], () => {
    const abi = fs.readFileSync(ABI_FILE, 'utf8').match(/^nginx:abi=(\S+)/m)?.[1];
    assert.ok(abi, `nginx:abi in ${ABI_FILE}`);
    const depends = spawnSync('dpkg-deb', ['-f', deb, 'Depends'], { encoding: 'utf8' }).stdout.trim();
    const names = depends.split(/[,|]/).map((d) => d.trim().split(/[\s(]/)[0]);
    for (const name of [abi, 'libssl3', 'libjansson4', 'libcurl4', 'libhiredis0.14']) {
      assert.ok(names.includes(name), `Depends (${depends}) names ${name}`);
    }
  });

  step(INSTALLED, [BUILT], async () => {
    installedByUs = true; // from here on, after() purges whatever happens
    const res = await aptGet('install', '-y', deb);
    assert.equal(pkgState(), 'installed');
    // nothing else came with it: a purge then leaves the package list as it was
    const newly = res.output.match(/^The following NEW packages will be installed:\n((?:[ \t]+.*\n)+)/m)?.[1];
    assert.deepEqual(newly?.trim().split(/\s+/) ?? [], [PKG], res.output);
    assert.ok(fs.statSync(SO).isFile(), SO);
    assert.equal(fs.readFileSync(SNIPPET, 'utf8'), 'load_module modules/ngx_http_edge_auth_module.so;\n');
    assert.equal(linkTarget(LINK), SNIPPET, `${LINK} links to the snippet`);
    const owned = spawnSync('dpkg', ['-L', PKG], { encoding: 'utf8' }).stdout.split('\n');
    for (const f of [SO, SNIPPET]) assert.ok(owned.includes(f), `dpkg -L lists ${f}`);
    // the system nginx, running or not, is where it was
    assert.equal(systemNginxMasters().length > 0, before0.systemNginx, 'system nginx running as before');
  }, { timeout: 10 * 60_000 });

  step(TESTED, [INSTALLED], async () => {
    const ex = examples().find((e) => e.name === EXAMPLE);
    assert.ok(ex, `conf-examples/${EXAMPLE}`);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-auth-deb-'));
    fs.chmodSync(tmp, 0o755); // workers (nobody) read the htpasswd file
    for (const entry of fs.readdirSync(path.dirname(ex.file))) {
      if (entry !== EXAMPLE) fs.cpSync(path.join(path.dirname(ex.file), entry), path.join(tmp, entry), { recursive: true });
    }
    echo = await startEcho();
    const [port] = await freePorts(1);
    const loadRe = /^\s*load_module\s+\S*edge_auth\S*\s*;[^\n]*$/m;
    let text = fs.readFileSync(ex.file, 'utf8');
    assert.match(text, loadRe, `${EXAMPLE} loads the module`);
    // The packaged snippet instead of the example's load_module (as /etc/nginx/nginx.conf does).
    // Its `modules/...` path is relative to nginx's prefix: keep the stock prefix (no -p).
    // Temp paths of our own: the stock ones (/var/lib/nginx/*) belong to the system nginx, and
    // nginx chowns them to its worker user at startup.
    const temps = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'];
    const httpRe = /^http\s*\{[^\n]*$/m;
    assert.match(text, httpRe);
    text = text
      .replace(loadRe, `include ${ENABLED_DIR}/*.conf;`)
      .replace(httpRe, (m) => `${m}\n${temps.map((d) => `    ${d}_temp_path ${tmp}/${d};`).join('\n')}`)
      .replaceAll(EXAMPLE_LISTEN, `127.0.0.1:${port}`)
      .replaceAll(EXAMPLE_BACKEND, `127.0.0.1:${echo.port}`);
    assert.doesNotMatch(text, /load_module/);
    conf = { file: path.join(tmp, 'nginx.conf'), port, curls: ex.curls };
    fs.writeFileSync(conf.file, text, { mode: 0o644 });
    const res = await run(NGINX, [
      '-t', '-c', conf.file, '-e', path.join(tmp, 'error.log'), '-g', `pid ${tmp}/nginx.pid;`,
    ]);
    assert.equal(res.code, 0, res.output);
    assert.match(res.output, /test is successful/);
  });

  step('the stock nginx serves it: an authenticated request gets 200, one without credentials 401', [TESTED], async () => {
    const child = spawn(NGINX, [
      '-c', conf.file, '-e', path.join(tmp, 'error.log'), '-g', `daemon off; pid ${tmp}/nginx.pid;`,
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let exited = null;
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const exit = new Promise((resolve) => child.on('exit', (code, signal) => resolve((exited = { code, signal }))));
    ngx = { child, exit, exited: () => exited, output: () => output };
    masterPid = child.pid;

    const deadline = Date.now() + 10_000;
    for (;;) {
      const up = await request(`http://127.0.0.1:${conf.port}/`).then(() => true, () => false);
      if (up) break;
      assert.ok(!exited && Date.now() < deadline, `nginx did not start (${JSON.stringify(exited)}):\n${output}`);
      await sleep(50);
    }
    // the master loaded the packaged .so (from the modules-enabled snippet), nothing else of ours
    const maps = fs.readFileSync(`/proc/${masterPid}/maps`, 'utf8');
    assert.ok(maps.includes(SO), `nginx mapped ${SO}`);
    assert.doesNotMatch(maps, /build\/ngx_http_edge_auth_module\.so/);

    const ok = conf.curls.find((c) => c.status === 200 && /\s-u\s+\S+:\S+/.test(c.command));
    const denied = conf.curls.find((c) => c.status === 401 && !/\s-u\s/.test(c.command));
    assert.ok(ok && denied, `${EXAMPLE} documents a 200 with -u and a 401 without credentials`);
    const [user, password] = ok.command.match(/\s-u\s+(\S+?):(\S+)/).slice(1);

    const hits = echo.hits();
    const res = await request(`http://127.0.0.1:${conf.port}/`, { headers: { Authorization: basic(user, password) } });
    assert.equal(res.status, 200, res.body);
    assert.equal(echo.hits(), hits + 1, 'the authenticated request reached the backend');
    assert.equal(echo.last().headers['x-remote-user'], user);
    assert.equal(echo.last().headers.authorization, undefined, 'the credential is stripped');

    const no = await request(`http://127.0.0.1:${conf.port}/`);
    assert.equal(no.status, 401);
    assert.match(no.headers['www-authenticate'] ?? '', /^Basic /);
    assert.equal(echo.hits(), hits + 1, 'the denied request did not reach the backend');

    child.kill('SIGQUIT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exit;
    clearTimeout(timer);
    assert.notEqual(exited.signal, 'SIGKILL', 'nginx stopped on QUIT');
    assert.doesNotMatch(output + (fs.existsSync(path.join(tmp, 'error.log')) ? fs.readFileSync(path.join(tmp, 'error.log'), 'utf8') : ''),
      /exited on signal/);
  });

  step('apt-get purge leaves the machine as it was', [INSTALLED], async () => {
    await aptGet('purge', '-y', PKG);
    purged = true;
    assert.equal(pkgState(), 'not-installed');
    assert.ok(!fs.existsSync(SO), `${SO} is gone`);
    assert.ok(!fs.existsSync(SNIPPET), `${SNIPPET} is gone`);
    assert.equal(linkTarget(LINK), null, `${LINK} is gone`);
    assert.equal(linkTarget(`${LINK}.removed`), null, `${LINK}.removed is gone`);
    assert.deepEqual(machineState(), before0);
  }, { timeout: 10 * 60_000 });
});
