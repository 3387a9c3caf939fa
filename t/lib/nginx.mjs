// Runs the stock /usr/sbin/nginx with the built module, one prefix directory
// per instance under t/.tmp/, on free loopback ports.
//
//   const ngx = await startNginx({
//     files: { htpasswd: 'alice:{SHA}...' },            // written into the prefix
//     http: ({ port, prefix }) => `server { listen 127.0.0.1:${port}; ... }`,
//   });
//   await fetch(ngx.url('/basic/'));
//   await ngx.stop();   // QUIT, wait, and fail if a worker died on a signal
//
//   const { code, output } = await nginxTest({ http: '...' });   // nginx -t
//
// `http` and `main` are strings or functions of { port, ports, prefix, path(name) }.
// Prefix directories are removed when the test process ends without a failure
// and kept (and listed on stderr) otherwise. With EDGE_AUTH_CORE=1 a crashed
// worker leaves a core file in its prefix (gdb /usr/sbin/nginx PREFIX/core).
//
// Sanitizers (make test-asan): EDGE_AUTH_SANITIZE=/path/libasan.so (or 1: gcc's)
// with EDGE_AUTH_MODULE naming an ASan + UBSan build of the module. Every nginx
// started here, `nginx -t` included, then runs with the ASan runtime preloaded
// and the sanitizer options below in its environment (nothing else gets them:
// not node, not the helpers' servers), and writes its reports into PREFIX/asan/.
// Any report fails the test: stop() and nginxTest() throw it, and a test file
// whose nginx left one exits non-zero (kept prefixes) even when no test noticed.

import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { auditPrefix } from './audit.mjs';
import { freePorts, canConnect } from './net.mjs';

export { freePorts };

export const T_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO = path.resolve(T_DIR, '..');
export const MODULE = process.env.EDGE_AUTH_MODULE || path.join(REPO, 'build', 'ngx_http_edge_auth_module.so');
export const NGINX = process.env.NGINX_BIN || '/usr/sbin/nginx';
const TMP = path.join(T_DIR, '.tmp');

const SANITIZE = process.env.EDGE_AUTH_SANITIZE;
/** The sanitizer runtime preloaded into nginx, or null. */
export const SANITIZER_RUNTIME = !SANITIZE
  ? null
  : SANITIZE === '1'
    ? execFileSync('gcc', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).trim()
    : SANITIZE;
/**
 * Timing budgets multiply by this: 1 normally, 3 under sanitizers (an ASan
 * nginx is several times slower to start, to stop and to answer); any value
 * from EDGE_AUTH_TIME_FACTOR.
 */
export const TIME_FACTOR = Number(process.env.EDGE_AUTH_TIME_FACTOR) || (SANITIZE ? 3 : 1);

// nginx under the sanitizers:
//  - ASan: no leak check (nginx does not free its cycle at exit); halt on the
//    first error (memory after an error cannot be trusted), by a plain exit, so
//    the report is the only outcome (no core); SEGV, SIGBUS, SIGFPE and abort()
//    reported with a stack. Reports go to PREFIX/asan/asan.<pid> (workers run
//    as nobody: the directory is world-writable, sticky).
//  - UBSan: report and go on (an undefined operation does not corrupt the
//    heap; one run then shows every report), with the stack. Its reports go to
//    stderr, which nginx points at its error log: with the ASan runtime
//    preloaded, UBSan's log_path is not applied (libasan's exported
//    __sanitizer_set_report_path interposes on libubsan's own).
//  - t/asan.supp and t/ubsan.supp, when present, list the reports that are not
//    ours (each entry says why).
function sanitizerEnv(prefix) {
  if (!SANITIZER_RUNTIME) return {};
  const dir = path.join(prefix, 'asan');
  fs.mkdirSync(dir, { recursive: true });
  fs.chmodSync(dir, 0o1777);
  const supp = (name) => (fs.existsSync(path.join(T_DIR, name)) ? `:suppressions=${path.join(T_DIR, name)}` : '');
  return {
    // libstdc++ too: ASan binds its __cxa_throw interceptor when it starts, and
    // nginx itself does not link libstdc++ (only the module, dlopen()ed later),
    // so the first exception would hit "CHECK failed: real___cxa_throw != 0".
    LD_PRELOAD: `${SANITIZER_RUNTIME} libstdc++.so.6`,
    ASAN_OPTIONS:
      'detect_leaks=0:halt_on_error=1:abort_on_error=0:handle_segv=1:handle_sigbus=1:handle_sigfpe=1:handle_abort=1' +
      `:check_initialization_order=1:detect_stack_use_after_return=0:log_path=${dir}/asan${supp('asan.supp')}`,
    UBSAN_OPTIONS: `print_stacktrace=1:halt_on_error=0${supp('ubsan.supp')}`,
  };
}

// The first line of a report written to stderr (UBSan's, or one that could not
// go to its file); the report goes on with indented lines (its stack).
const REPORT_LINE = /==\d+==\s*(ERROR|WARNING): \w*Sanitizer|\S+:\d+:\d+: runtime error: |SUMMARY: \w*Sanitizer/;

/** The reports in a text: each report line with the stack lines that follow it. */
function reportsInText(text) {
  const out = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!REPORT_LINE.test(lines[i])) continue;
    let j = i + 1;
    while (j < lines.length && /^\s+#\d+ /.test(lines[j])) j++;
    out.push(lines.slice(i, j).join('\n'));
    i = j - 1;
  }
  return out;
}

/** Sanitizer reports an nginx left in `prefix` (files, then `logText`): [] when clean. */
export function sanitizerReports(prefix, logText = '') {
  if (!SANITIZER_RUNTIME) return [];
  const reports = [];
  const dir = path.join(prefix, 'asan');
  let files = [];
  try {
    files = fs.readdirSync(dir).sort();
  } catch {}
  for (const f of files) {
    const text = readLog(path.join(dir, f));
    if (text.trim()) reports.push(`${path.join(dir, f)}:\n${text}`);
  }
  const inLog = reportsInText(logText);
  if (inLog.length) reports.push(`in nginx's output / error log:\n${inLog.join('\n')}`);
  return reports;
}

// make test-asan counts the reports: one line per report in EDGE_AUTH_SANITIZE_LOG.
const tallied = new Set();
function tally(prefix, reports) {
  const file = process.env.EDGE_AUTH_SANITIZE_LOG;
  if (!file || tallied.has(prefix)) return;
  tallied.add(prefix);
  for (const r of reports) fs.appendFileSync(file, `${prefix}: ${r.split('\n').find((l) => REPORT_LINE.test(l)) ?? r.split('\n')[0]}\n`);
}

function assertNoReports(prefix, logText, what) {
  const reports = sanitizerReports(prefix, logText);
  if (!reports.length) return;
  tally(prefix, reports);
  const shown = reports.map((r) => r.split('\n').slice(0, 80).join('\n')).join('\n\n');
  throw new Error(`sanitizer report${reports.length > 1 ? 's' : ''} from ${what} (prefix ${prefix}):\n${shown}`);
}

const prefixes = new Set();
const running = new Set();

process.on('exit', (code) => {
  for (const child of running) {
    try {
      child.kill('SIGTERM');
    } catch {}
  }
  // A report no stop() saw (a test that failed before stopping its nginx, or never stops it).
  const unseen = [...prefixes].filter((dir) => {
    const reports = sanitizerReports(dir, readLog(path.join(dir, 'error.log')));
    tally(dir, reports);
    return reports.length;
  });
  if (unseen.length) {
    process.stderr.write(`sanitizer reports in (asan/ or error.log):\n  ${unseen.join('\n  ')}\n`);
    process.exitCode = 1;
    code = 1;
  }
  for (const dir of prefixes) auditPrefix(dir);
  if (code === 0 && !process.exitCode) {
    for (const dir of prefixes) fs.rmSync(dir, { recursive: true, force: true });
  } else if (prefixes.size) {
    process.stderr.write(`kept nginx prefixes:\n  ${[...prefixes].join('\n  ')}\n`);
  }
});

function makePrefix() {
  fs.mkdirSync(TMP, { recursive: true });
  const dir = path.join(TMP, crypto.randomBytes(6).toString('hex'));
  fs.mkdirSync(dir, { mode: 0o755 });
  fs.chmodSync(dir, process.env.EDGE_AUTH_CORE ? 0o777 : 0o755); // workers (nobody) write cores there
  prefixes.add(dir);
  return dir;
}

function writeFiles(prefix, files) {
  for (const [name, content] of Object.entries(files ?? {})) {
    const file = path.join(prefix, name);
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
    fs.writeFileSync(file, content, { mode: 0o644 });
  }
}

const render = (part, ctx) => (typeof part === 'function' ? part(ctx) : part ?? '');

/** The whole nginx.conf around the test's own `main` and `http` text. */
function buildConf({ prefix, main, http, workers, ctx }) {
  return `# generated by t/lib/nginx.mjs
load_module ${MODULE};
user nobody nogroup;
worker_processes ${workers};
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log info;
${process.env.EDGE_AUTH_CORE ? `worker_rlimit_core 1g;\nworking_directory ${prefix};` : ''}
${render(main, ctx)}
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path ${prefix}/client_body;
    proxy_temp_path ${prefix}/proxy;
    fastcgi_temp_path ${prefix}/fastcgi;
    uwsgi_temp_path ${prefix}/uwsgi;
    scgi_temp_path ${prefix}/scgi;
${render(http, ctx)}
}
`;
}

function run(cmd, args, opts = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('close', (code) => resolve({ code, output }));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function readLog(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/**
 * `nginx -t` on a config built like startNginx's. Takes the options of
 * startNginx, or a string used as the `http` text. Returns { code, output, conf, prefix }.
 */
export async function nginxTest(opts) {
  if (typeof opts === 'string') opts = { http: opts };
  const { http, main, workers = 1, env = {}, files } = opts;
  const prefix = makePrefix();
  writeFiles(prefix, files);
  const ctx = { port: 1, ports: [1], prefix, path: (name) => path.join(prefix, name) };
  const conf = path.join(prefix, 'nginx.conf');
  fs.writeFileSync(conf, buildConf({ prefix, main, http, workers, ctx }), { mode: 0o644 });
  const res = await run(NGINX, ['-t', '-p', prefix, '-c', conf, '-e', path.join(prefix, 'error.log')], {
    env: { ...process.env, ...env, ...sanitizerEnv(prefix) },
  });
  assertNoReports(prefix, res.output, 'nginx -t');
  return { ...res, conf, prefix };
}

/**
 * Copies a config file of its own (a conf-example) into the prefix so that it
 * runs as if from its directory: every file next to it is copied too, so
 * relative paths resolve; its `load_module` of edge-auth (or, without one, an
 * added first line) loads the module built here; `rewrite(text, ctx)` may edit
 * it (ports). Returns the copy's path and the -g directives (pid, unless set).
 */
function writeExample(prefix, confFile, rewrite, ctx) {
  const dir = path.dirname(confFile);
  // Copies, not links: a link left dangling in t/.tmp would break node's test discovery.
  for (const entry of fs.readdirSync(dir)) {
    if (entry !== path.basename(confFile)) fs.cpSync(path.join(dir, entry), path.join(prefix, entry), { recursive: true });
  }
  let text = fs.readFileSync(confFile, 'utf8');
  const loadRe = /^\s*load_module\s+\S*edge_auth\S*\s*;/m;
  text = loadRe.test(text) ? text.replace(loadRe, `load_module ${MODULE};`) : `load_module ${MODULE};\n${text}`;
  if (rewrite) text = rewrite(text, ctx);
  const conf = path.join(prefix, path.basename(confFile));
  fs.writeFileSync(conf, text, { mode: 0o644 });
  return { conf, globals: /^\s*pid\s/m.test(text) ? '' : `pid ${prefix}/nginx.pid;` };
}

/** `nginx -t` on a whole config file of its own (a conf-example); see writeExample. */
export async function nginxTestFile(confFile, { env = {} } = {}) {
  const prefix = makePrefix();
  const { conf, globals } = writeExample(prefix, confFile, null, { prefix });
  const res = await run(NGINX, ['-t', '-p', prefix + '/', '-c', conf, '-e', path.join(prefix, 'error.log'), ...(globals ? ['-g', globals] : [])], {
    env: { ...process.env, ...env, ...sanitizerEnv(prefix) },
  });
  assertNoReports(prefix, res.output, 'nginx -t');
  return { ...res, conf, prefix };
}

/**
 * Starts nginx; resolves once every listening port accepts connections.
 * Options: http, main (text or function of ctx), workers (default 1),
 * env (added to nginx's environment; list names with `env NAME;` in main),
 * files ({ relative name: content } written into the prefix), ports (how many, default 1).
 * Or, instead of http/main: example (a whole config file, see writeExample)
 * with rewrite(text, ctx) to put the test's ports in.
 */
export async function startNginx(opts = {}) {
  let lastError;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      lastError = err;
      if (!/Address already in use/.test(err.message)) throw err;
    }
  }
  throw lastError;
}

async function startOnce({ http, main, workers = 1, env = {}, files, ports: nports = 1, example, rewrite }) {
  const prefix = makePrefix();
  writeFiles(prefix, files);
  const ports = await freePorts(nports);
  const ctx = { port: ports[0], ports, prefix, path: (name) => path.join(prefix, name) };
  const errorLog = path.join(prefix, 'error.log');
  let conf = path.join(prefix, 'nginx.conf');
  let globals = '';
  if (example) ({ conf, globals } = writeExample(prefix, example, rewrite, ctx));
  else fs.writeFileSync(conf, buildConf({ prefix, main, http, workers, ctx }), { mode: 0o644 });

  const child = spawn(NGINX, ['-p', prefix + '/', '-c', conf, '-e', errorLog, '-g', `daemon off; ${globals}`], {
    env: { ...process.env, ...env, ...sanitizerEnv(prefix) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  let exited = null;
  const exit = new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      running.delete(child);
      exited = { code, signal };
      resolve(exited);
    }),
  );

  const deadline = Date.now() + 10_000 * TIME_FACTOR;
  for (const port of ports) {
    while (!(await canConnect(port))) {
      if (exited || Date.now() > deadline) {
        if (!exited) child.kill('SIGKILL');
        await exit;
        throw new Error(
          `nginx did not start (${JSON.stringify(exited)}) in ${prefix}:\n${output}\n${readLog(errorLog)}`,
        );
      }
      await sleep(exited ? 0 : 15);
    }
  }

  const instance = {
    prefix,
    port: ports[0],
    ports,
    conf,
    errorLogPath: errorLog,
    /** The error log as it is now. */
    errorLog: () => readLog(errorLog),
    /** http://127.0.0.1:<port><path>; `which` picks another listening port. */
    url: (p = '/', which = 0) => `http://127.0.0.1:${ports[which]}${p}`,
    /** The stdout/stderr nginx printed so far. */
    output: () => output,
    /**
     * Rewrites nginx.conf (same ctx) and reloads with SIGHUP; resolves when the
     * new workers run and the old ones have exited (so no connection reaches an
     * old worker any more).
     */
    async reload(newOpts) {
      if (newOpts) {
        writeFiles(prefix, newOpts.files);
        fs.writeFileSync(
          conf,
          buildConf({ prefix, main: newOpts.main ?? main, http: newOpts.http ?? http, workers, ctx }),
        );
      }
      const before = readLog(errorLog).length;
      child.kill('SIGHUP');
      const limit = Date.now() + 10_000 * TIME_FACTOR;
      for (;;) {
        const fresh = readLog(errorLog).slice(before);
        if (/\[emerg\]/.test(fresh)) throw new Error(`reload failed:\n${fresh}`);
        const started = fresh.match(/start worker process/g)?.length ?? 0;
        const exited = fresh.match(/worker process \d+ exited/g)?.length ?? 0;
        if (started >= workers && exited >= workers) return;
        if (Date.now() > limit) throw new Error(`reload timed out:\n${fresh}`);
        await sleep(20);
      }
    },
    /**
     * Graceful stop (QUIT). Throws if nginx does not exit in time, if any
     * worker died on a signal (a crash) during the instance's life, or (under
     * sanitizers) if any sanitizer report was written.
     */
    async stop() {
      if (!exited) {
        child.kill('SIGQUIT');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000 * TIME_FACTOR);
        await exit;
        clearTimeout(timer);
      }
      // the config's error_log may be stderr (conf-examples): look at both
      const log = readLog(errorLog) + '\n' + output;
      const crashes = log.split('\n').filter((l) => /exited on signal/.test(l));
      assertNoReports(prefix, log, 'nginx');
      if (crashes.length) throw new Error(`nginx worker crashed (prefix ${prefix}):\n${crashes.join('\n')}`);
      if (exited.signal === 'SIGKILL') throw new Error(`nginx did not stop on QUIT (prefix ${prefix})`);
    },
  };
  return instance;
}
