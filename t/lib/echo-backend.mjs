// HTTP echo backend: answers every request with 200 and a JSON description of
// what it received (method, url, path, query, headers, rawHeaders, body), and records the request, so a test can assert what nginx
// forwarded (injected headers, stripped credentials, query) and that a denied
// request never arrived.
//
//   const echo = await startEcho();   // 127.0.0.1, ephemeral port
//   ... echo.port, echo.hits(), echo.last().headers['x-user'] ...
//   await echo.close();
//
// Standalone (demo, bench):  node t/lib/echo-backend.mjs --port 9000

import http from 'node:http';
import { fileURLToPath } from 'node:url';

function describeRequest(req) {
  const url = new URL(req.url, 'http://backend');
  const query = {};
  for (const [k, v] of url.searchParams) {
    if (k in query) query[k] = [].concat(query[k], v);
    else query[k] = v;
  }
  return {
    method: req.method,
    url: req.url,
    path: url.pathname,
    query,
    headers: req.headers,
    // Raw pairs keep duplicates and the exact bytes (node joins repeated headers).
    rawHeaders: req.rawHeaders,
  };
}

export async function startEcho({ port = 0, host = '127.0.0.1' } = {}) {
  const requests = [];
  const statuses = []; // failNext(): answers for the next requests instead of 200
  const server = http.createServer((req, res) => {
    const seen = describeRequest(req);
    requests.push(seen);
    const status = statuses.length ? statuses.shift() : 200;
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      seen.body = Buffer.concat(chunks).toString('utf8');
      const body = JSON.stringify(seen);
      res.writeHead(status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'x-echo-backend': '1', // the secrets audit skips what the backend was shown
      });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return {
    port: server.address().port,
    requests,
    hits: () => requests.length,
    last: () => requests[requests.length - 1],
    /** The next `count` requests are answered with `status` (same JSON body) instead of 200. */
    failNext: (status = 401, count = 1) => {
      for (let i = 0; i < count; i++) statuses.push(status);
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const i = process.argv.indexOf('--port');
  const port = i > 0 ? Number(process.argv[i + 1]) : 9000;
  const echo = await startEcho({ port });
  console.log(`echo backend on 127.0.0.1:${echo.port}`);
  const stop = () => echo.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
