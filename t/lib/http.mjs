// Client side of the tests.
//
//   const res = await request(url, { headers: { Authorization: basic('alice', 'pw') } });
//   res.status, res.headers['content-type'], headerValues(res, 'WWW-Authenticate'), res.body
//   const raw = await rawRequest(port, 'GET / HTTP/1.1\r\nHost: x\r\nX: \x01\r\n\r\n');
//
// request() uses http.request on a fresh connection (no pooling across nginx
// restarts) and keeps the raw header list, so repeated headers (several
// WWW-Authenticate challenges) can be counted. rawRequest() writes bytes that
// no HTTP client would send (control characters and the like).

import http from 'node:http';
import net from 'node:net';
import { auditResponse, auditSecret } from './audit.mjs';

export function basic(user, password) {
  if (typeof password === 'string' && password.length >= 10) auditSecret(password);
  return 'Basic ' + Buffer.from(`${user}:${password}`, 'utf8').toString('base64');
}

/** One request; `agent` (default: none, a fresh connection) to reuse connections. */
export function request(url, { method = 'GET', headers = {}, body, agent = false } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        auditResponse(url, { status: res.statusCode, rawHeaders: res.rawHeaders, body: text });
        resolve({
          status: res.statusCode,
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body: text,
          json: () => JSON.parse(text),
          reusedSocket: req.reusedSocket,
        });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** Every value of a header, in order, from a raw header list (or a response). */
export function headerValues(resOrRaw, name) {
  const raw = Array.isArray(resOrRaw) ? resOrRaw : resOrRaw.rawHeaders;
  const out = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].toLowerCase() === name.toLowerCase()) out.push(raw[i + 1]);
  }
  return out;
}

/** Sends bytes as they are; parses the status line, headers and body of a close-delimited answer. */
export function rawRequest(port, data) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    const chunks = [];
    sock.on('connect', () => sock.write(Buffer.isBuffer(data) ? data : Buffer.from(data, 'latin1')));
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', reject);
    sock.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const head = end < 0 ? text : text.slice(0, end);
      const [statusLine, ...lines] = head.split('\r\n');
      const rawHeaders = [];
      const headers = {};
      for (const line of lines) {
        const i = line.indexOf(':');
        if (i < 0) continue;
        const k = line.slice(0, i).trim();
        const v = line.slice(i + 1).trim();
        rawHeaders.push(k, v);
        headers[k.toLowerCase()] = v;
      }
      resolve({
        status: Number(statusLine.split(' ')[1]),
        headers,
        rawHeaders,
        body: end < 0 ? '' : text.slice(end + 4),
      });
    });
  });
}

/** A GET with the given extra header lines (strings, sent verbatim) and Connection: close. */
export function rawGet(port, path, headerLines = []) {
  const lines = [`GET ${path} HTTP/1.1`, 'Host: 127.0.0.1', ...headerLines, 'Connection: close'];
  return rawRequest(port, lines.join('\r\n') + '\r\n\r\n');
}
