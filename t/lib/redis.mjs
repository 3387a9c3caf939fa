// A private redis-server on a free 127.0.0.1 port (no persistence: --save ''
// --appendonly no), which a test can stop, kill and restart on the same port,
// plus clients to look at what nginx stored, and a fake "redis" that accepts
// connections and never answers.
//
//   const redis = await startRedis();                     // or { password: 's3cret' }
//   redis.port, redis.url('prefix:')                      // edge_auth_redis arguments
//   await redis.command('GET', key)                       // RESP over a socket: Buffer | string | number | null | array
//   await redis.cli('PTTL', key)                          // redis-cli's text output, trimmed
//   await redis.keys('edge_auth:token:*')                 // sorted key names
//   await redis.kill();   // SIGKILL (a crash)       await redis.stop();   // SIGTERM, graceful
//   await redis.restart();                               // same port, empty data set
//   await redis.close();                                 // stops it for good (idempotent)
//
//   const silent = await startSilentServer();            // accepts, reads, never answers
//   silent.port, silent.received(), silent.connections(), await silent.close();
//
//   const slow = await startDelayProxy(redis.port, { delay: 100 });   // a distant Redis:
//   slow.port, await slow.close();                       // every reply arrives `delay` ms late
//
// Every redis-server still running when the test process exits is killed.

import { spawn } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import { freePorts } from './nginx.mjs';

export const REDIS_SERVER = process.env.REDIS_SERVER || 'redis-server';
export const REDIS_CLI = process.env.REDIS_CLI || 'redis-cli';

const running = new Set();
process.on('exit', () => {
  for (const child of running) {
    try {
      child.kill('SIGKILL');
    } catch {}
  }
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** RESP encoding of one command (binary safe: strings or Buffers). */
function encode(args) {
  const parts = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/**
 * Parses one RESP reply at `pos`; returns { value, end } or null when more
 * bytes are needed. Bulk strings stay Buffers; errors become Error values.
 */
function parse(buf, pos = 0) {
  const eol = buf.indexOf('\r\n', pos);
  if (eol < 0) return null;
  const type = String.fromCharCode(buf[pos]);
  const line = buf.toString('utf8', pos + 1, eol);
  const next = eol + 2;
  switch (type) {
    case '+':
      return { value: line, end: next };
    case '-':
      return { value: Object.assign(new Error(line), { redis: true }), end: next };
    case ':':
      return { value: Number(line), end: next };
    case '$': {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      if (buf.length < next + n + 2) return null;
      return { value: buf.subarray(next, next + n), end: next + n + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      const out = [];
      let at = next;
      for (let i = 0; i < n; i++) {
        const item = parse(buf, at);
        if (!item) return null;
        out.push(item.value);
        at = item.end;
      }
      return { value: out, end: at };
    }
    default:
      throw new Error(`not a RESP reply: ${JSON.stringify(buf.toString('latin1', pos, pos + 40))}`);
  }
}

/**
 * Sends commands on one fresh connection and resolves with their replies in
 * order (a Redis error reply is returned as an Error value, not thrown).
 * Rejects on a connection error or after `timeout` ms.
 */
export function respCommands(port, commands, { timeout = 3000 } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    let buf = Buffer.alloc(0);
    const replies = [];
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`redis on port ${port}: no answer within ${timeout} ms`));
    }, timeout);
    sock.on('connect', () => sock.write(Buffer.concat(commands.map(encode))));
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const r = parse(buf);
        if (!r) break;
        replies.push(r.value);
        buf = buf.subarray(r.end);
        if (replies.length === commands.length) {
          clearTimeout(timer);
          sock.end();
          resolve(replies);
          return;
        }
      }
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      if (replies.length < commands.length) reject(new Error(`redis on port ${port} closed the connection`));
    });
  });
}

function run(cmd, args, { timeout = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/**
 * Starts redis-server on 127.0.0.1 (a free port unless `port` is given).
 * Options: password (requirepass), args (more redis-server arguments).
 */
export async function startRedis({ port, password, args = [] } = {}) {
  let child = null;
  let exited = null;
  let output = '';
  let actualPort = port;

  async function spawnOn(p) {
    output = '';
    exited = null;
    const argv = [
      '--port', String(p),
      '--bind', '127.0.0.1',
      '--save', '',
      '--appendonly', 'no',
      '--dir', os.tmpdir(),
      '--daemonize', 'no',
      '--logfile', '',
      '--loglevel', 'warning',
      '--databases', '16',
      ...(password ? ['--requirepass', password] : []),
      ...args,
    ];
    const c = spawn(REDIS_SERVER, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(c);
    c.stdout.on('data', (d) => (output += d));
    c.stderr.on('data', (d) => (output += d));
    const exit = new Promise((resolve) =>
      c.on('exit', (code, signal) => {
        running.delete(c);
        exited = { code, signal };
        resolve(exited);
      }),
    );
    c.on('error', (err) => {
      exited = { error: err.message };
    });
    c.exitPromise = exit;
    child = c;

    const deadline = Date.now() + 5000;
    for (;;) {
      if (exited) throw new Error(`redis-server did not start on ${p} (${JSON.stringify(exited)}):\n${output}`);
      try {
        const cmds = password ? [['AUTH', password], ['PING']] : [['PING']];
        const replies = await respCommands(p, cmds, { timeout: 500 });
        if (replies.at(-1) === 'PONG') return;
      } catch {}
      if (Date.now() > deadline) {
        c.kill('SIGKILL');
        throw new Error(`redis-server on ${p} did not answer PING:\n${output}`);
      }
      await sleep(20);
    }
  }

  if (actualPort) {
    await spawnOn(actualPort);
  } else {
    let lastError;
    for (let attempt = 0; attempt < 3 && !child?.pid; attempt++) {
      [actualPort] = await freePorts(1);
      try {
        await spawnOn(actualPort);
        lastError = null;
        break;
      } catch (err) {
        lastError = err;
        child = null;
      }
    }
    if (lastError) throw lastError;
  }

  async function signal(sig) {
    if (!child || exited) return;
    const c = child;
    c.kill(sig);
    const timer = setTimeout(() => c.kill('SIGKILL'), 5000);
    await c.exitPromise;
    clearTimeout(timer);
    // the port must refuse connections before we say it is down
    const deadline = Date.now() + 2000;
    while (Date.now() < deadline) {
      const open = await new Promise((resolve) => {
        const s = net.connect({ port: actualPort, host: '127.0.0.1' });
        s.once('connect', () => (s.destroy(), resolve(true)));
        s.once('error', () => resolve(false));
      });
      if (!open) return;
      await sleep(20);
    }
  }

  const redis = {
    get port() {
      return actualPort;
    },
    password,
    /** The edge_auth_redis arguments: URL (with the password unless told otherwise) and options. */
    url: ({ prefix, timeout, db, pass = password } = {}) =>
      [
        `redis://${pass ? `:${pass}@` : ''}127.0.0.1:${actualPort}${db !== undefined ? `/${db}` : ''}`,
        prefix !== undefined ? `prefix=${prefix}` : '',
        timeout !== undefined ? `timeout=${timeout}` : '',
      ]
        .filter(Boolean)
        .join(' '),
    running: () => Boolean(child && !exited),
    output: () => output,
    /** One command over RESP (authenticated when the server has a password); Redis errors reject. */
    async command(...args) {
      const cmds = password ? [['AUTH', password], args] : [args];
      const replies = await respCommands(actualPort, cmds);
      const reply = replies.at(-1);
      if (reply instanceof Error) throw reply;
      return reply;
    },
    /** Sorted key names matching a pattern. */
    async keys(pattern = '*') {
      const list = await redis.command('KEYS', pattern);
      return list.map((b) => b.toString('utf8')).sort();
    },
    /** redis-cli against this server; resolves with its trimmed stdout, rejects on failure. */
    async cli(...args) {
      const auth = password ? ['-a', password, '--no-auth-warning'] : [];
      const res = await run(REDIS_CLI, ['-h', '127.0.0.1', '-p', String(actualPort), ...auth, ...args]);
      if (res.code !== 0) throw new Error(`redis-cli ${args.join(' ')}: exit ${res.code}: ${res.stderr}${res.stdout}`);
      return res.stdout.trim();
    },
    /** SIGKILL: a crash, connections reset, nothing saved. */
    kill: () => signal('SIGKILL'),
    /** SIGTERM: a graceful shutdown. */
    stop: () => signal('SIGTERM'),
    /** Starts it again on the same port (after kill/stop); the data set is empty. */
    async restart() {
      if (child && !exited) await signal('SIGKILL');
      await spawnOn(actualPort);
    },
    close: () => signal('SIGKILL'),
  };
  return redis;
}

/**
 * A TCP server that accepts connections, records what it receives and never
 * answers: a Redis that hangs.
 */
export async function startSilentServer() {
  const sockets = new Set();
  let received = Buffer.alloc(0);
  let connections = 0;
  const server = net.createServer((sock) => {
    connections++;
    sockets.add(sock);
    sock.on('data', (d) => (received = Buffer.concat([received, d])));
    sock.on('error', () => {});
    sock.on('close', () => sockets.delete(sock));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    port: server.address().port,
    received: () => received,
    connections: () => connections,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * A TCP proxy to 127.0.0.1:targetPort that forwards requests at once and
 * delivers every chunk of the answers `delay` ms late (in order): a Redis
 * with that much latency.
 */
export async function startDelayProxy(targetPort, { delay = 100 } = {}) {
  const sockets = new Set();
  const timers = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect({ port: targetPort, host: '127.0.0.1' });
    sockets.add(client);
    sockets.add(upstream);
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d) => {
      const t = setTimeout(() => {
        timers.delete(t);
        if (!client.destroyed) client.write(d);
      }, delay);
      timers.add(t);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.on('error', end);
      s.on('close', () => {
        sockets.delete(s);
        end();
      });
    }
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    port: server.address().port,
    close: () =>
      new Promise((resolve) => {
        for (const t of timers) clearTimeout(t);
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
