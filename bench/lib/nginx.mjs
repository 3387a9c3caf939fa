// nginx instances for bench/soak and bench/faults, and what those scripts read
// from them: worker processes, their memory, the error log.
//
//   const run = runDir('soak');                        // bench/.tmp/soak/ (emptied first)
//   const ngx = await startNginx({ dir: run, name: 'edge', workers: 2,
//     http: ({ port, path }) => `server { listen 127.0.0.1:${port}; ... }` });
//   ngx.workers()            // [{ pid, title }] of the running (not shutting-down) workers
//   rss(pid)                 // { vmRss, rssAnon, rssFile, rssShmem } in kB, from /proc
//   ngx.logScan()            // { alert, crit, emerg, signalExits: [lines], lines }
//   await ngx.reload()       // `nginx -s reload`, resolves when the new workers run
//   await ngx.stop()         // QUIT, then KILL after 15 s
//
// Unlike t/lib/nginx.mjs (tests: 256 connections per worker, prefixes removed), this
// one is sized for load (worker_connections 4096) and keeps its prefix under
// bench/.tmp/ for reading the logs afterwards. The module is copied into the run
// directory first, so a rebuild during a run does not change what is being measured.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts, canConnect } from '../../t/lib/net.mjs';

export { freePorts };

export const BENCH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO = path.resolve(BENCH, '..');
export const MODULE = process.env.EDGE_AUTH_MODULE || path.join(REPO, 'build', 'ngx_http_edge_auth_module.so');
export const NGINX = process.env.NGINX_BIN || '/usr/sbin/nginx';
export const TMP = path.join(BENCH, '.tmp');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const children = new Set();
process.on('exit', () => {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {}
  }
});

/** bench/.tmp/<name>/, emptied; the module copied into it. */
export function runDir(name) {
  const dir = path.join(TMP, name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  fs.chmodSync(dir, 0o755);
  if (!fs.existsSync(MODULE)) throw new Error(`${MODULE} is missing: run make module first`);
  fs.copyFileSync(MODULE, path.join(dir, 'ngx_http_edge_auth_module.so'));
  return dir;
}

const readText = (file) => {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
};

/** Processes whose parent is `ppid`: [{ pid, title }] (title = the command line). */
export function childrenOf(ppid) {
  const out = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readText(`/proc/${entry}/stat`);
    // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(rest[1]) !== ppid) continue;
    out.push({ pid: Number(entry), title: readText(`/proc/${entry}/cmdline`).replace(/\0/g, ' ').trim() });
  }
  return out.sort((a, b) => a.pid - b.pid);
}

/** Memory of a process in kB (VmRSS = RssAnon + RssFile + RssShmem), null when gone. */
export function rss(pid) {
  const text = readText(`/proc/${pid}/status`);
  if (!text) return null;
  const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { vmRss: kb('VmRSS'), rssAnon: kb('RssAnon'), rssFile: kb('RssFile'), rssShmem: kb('RssShmem') };
}

/** Counts of alert / crit / emerg lines and the "exited on signal" lines of an error log text. */
export function scanLog(text) {
  const lines = text.split('\n').filter(Boolean);
  const at = (level) => lines.filter((l) => l.includes(`[${level}]`));
  return {
    alert: at('alert').length,
    crit: at('crit').length,
    emerg: at('emerg').length,
    severe: [...at('alert'), ...at('crit'), ...at('emerg')],
    signalExits: lines.filter((l) => /exited on signal/.test(l)),
    lines: lines.length,
  };
}

/**
 * Starts nginx in <dir>/<name>/. Options: http (text or function of ctx), main
 * (main-context text), workers, module (load edge-auth; default true), ports (how
 * many to allocate; default 1), files ({ name: content } written into the prefix),
 * logLevel (default info), connections (worker_connections, default 4096),
 * keepaliveRequests (default 1000000: wrk's connections last the whole run).
 * ctx = { port, ports, prefix, path(name) }.
 */
export async function startNginx({ dir, name, http, main = '', workers = 1, module = true, ports: nports = 1, files = {}, logLevel = 'info', connections = 4096, keepaliveRequests = 1000000, env = {} }) {
  const prefix = path.join(dir, name);
  fs.mkdirSync(prefix, { recursive: true, mode: 0o755 });
  fs.chmodSync(prefix, 0o755);
  for (const [file, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(prefix, file)), { recursive: true });
    fs.writeFileSync(path.join(prefix, file), content, { mode: 0o644 });
  }
  const ports = await freePorts(nports);
  const ctx = { port: ports[0], ports, prefix, path: (f) => path.join(prefix, f) };
  const render = (part) => (typeof part === 'function' ? part(ctx) : part ?? '');
  const conf = path.join(prefix, 'nginx.conf');
  const errorLog = path.join(prefix, 'error.log');
  const write = (httpText) =>
    fs.writeFileSync(
      conf,
      `# generated by bench/lib/nginx.mjs
${module ? `load_module ${path.join(dir, 'ngx_http_edge_auth_module.so')};` : ''}
user nobody nogroup;
worker_processes ${workers};
worker_rlimit_nofile ${connections * 4};
pid ${prefix}/nginx.pid;
error_log ${errorLog} ${logLevel};
${render(main)}
events { worker_connections ${connections}; }
http {
    access_log off;
    client_body_temp_path ${prefix}/client_body;
    proxy_temp_path ${prefix}/proxy;
    fastcgi_temp_path ${prefix}/fastcgi;
    uwsgi_temp_path ${prefix}/uwsgi;
    scgi_temp_path ${prefix}/scgi;
    keepalive_requests ${keepaliveRequests};
${httpText}
}
`,
      { mode: 0o644 },
    );
  write(render(http));

  const child = spawn(NGINX, ['-p', prefix + '/', '-c', conf, '-e', errorLog, '-g', 'daemon off;'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  let exited = null;
  const exit = new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      children.delete(child);
      exited = { code, signal };
      resolve(exited);
    }),
  );
  const deadline = Date.now() + 10_000;
  for (const port of ports) {
    while (!(await canConnect(port))) {
      if (exited || Date.now() > deadline) {
        if (!exited) child.kill('SIGKILL');
        await exit;
        throw new Error(`nginx ${name} did not start (${JSON.stringify(exited)}):\n${output}\n${readText(errorLog)}`);
      }
      await sleep(20);
    }
  }
  const master = child.pid;
  const workersNow = () => childrenOf(master).filter((p) => /worker process$/.test(p.title));
  while (workersNow().length < workers && Date.now() < deadline) await sleep(20);

  const ngx = {
    name,
    prefix,
    port: ports[0],
    ports,
    conf,
    master,
    errorLogPath: errorLog,
    url: (p = '/', which = 0) => `http://127.0.0.1:${ports[which]}${p}`,
    errorLog: () => readText(errorLog),
    logScan: () => scanLog(readText(errorLog)),
    /** Running workers (not the old ones shutting down after a reload). */
    workers: workersNow,
    /** Every child of the master: workers, old workers shutting down, cache processes. */
    children: () => childrenOf(master),
    alive: () => !exited,
    /** `nginx -s reload`; resolves when `workers` new workers run (old ones may still drain). */
    async reload({ waitOld = false, timeout = 15_000 } = {}) {
      const before = new Set(workersNow().map((w) => w.pid));
      const r = spawnSync(NGINX, ['-p', prefix + '/', '-c', conf, '-e', errorLog, '-s', 'reload'], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`nginx -s reload failed: ${r.stderr}${r.stdout}`);
      const limit = Date.now() + timeout;
      for (;;) {
        const fresh = workersNow().filter((w) => !before.has(w.pid));
        const old = childrenOf(master).filter((p) => before.has(p.pid));
        if (fresh.length >= workers && (!waitOld || old.length === 0)) return { fresh, old };
        if (Date.now() > limit) throw new Error(`reload of ${name}: new workers ${fresh.length}/${workers}, old still running ${old.length}`);
        await sleep(20);
      }
    },
    /** Graceful stop; resolves { code, signal, killed }. */
    async stop() {
      if (exited) return { ...exited, killed: false };
      child.kill('SIGQUIT');
      let killed = false;
      const timer = setTimeout(() => {
        killed = true;
        child.kill('SIGKILL');
      }, 15_000);
      await exit;
      clearTimeout(timer);
      return { ...exited, killed };
    },
  };
  return ngx;
}

/** The edge_auth_status JSON of an nginx (`path` is the status location). */
export async function metrics(url) {
  const res = await fetch(url + (url.includes('?') ? '&' : '?') + 'format=json');
  if (res.status !== 200) throw new Error(`metrics: HTTP ${res.status}`);
  return (await res.json()).metrics;
}

/** Sum of the values of metric `name` whose labels include `labels`. */
export function metricSum(list, name, labels = {}) {
  return list
    .filter((m) => m.name === name && Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
    .reduce((n, m) => n + Number(m.value), 0);
}
