// A steady-rate HTTP load that records every response (bench/faults): wrk gives
// totals, a fault row needs each response's status and time.
//
//   const load = startLoad({ url: ngx.url('/oauth/'), rate: 100, timeout: 10_000,
//                            headers: () => ({ authorization: `Bearer ${tok()}` }) });
//   ...                       // inject a fault, remove it
//   await load.stop();        // waits for the requests in flight
//   load.records              // [{ t0, t1, code }]: code = status, or 'timeout',
//                             // 'aborted' (abortAfter), or the socket error ('ECONNRESET')
//   analyse(load.records, { faultStart, faultEnd, during: [200, 502], good: [200], maxLatency: 3000 })
//
// Requests go out at `rate` per second whatever the answers take (an open loop, as
// independent clients do), over a keep-alive agent. A request on a reused kept-alive
// connection that the server closed at the same moment (a reload's old worker does
// that) is sent again, as browsers and HTTP libraries do for idempotent requests
// (RFC 9112 9.3.1); those are counted in `retried`, not as errors.

import http from 'node:http';

export function startLoad({ url, headers = {}, rate = 100, timeout = 10_000, abortAfter = 0, maxInFlight = 2000 }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 256 });
  const records = [];
  const pending = new Set();
  let retried = 0;
  let skipped = 0;
  let credit = 0;
  let last = performance.now();
  let abortNow = abortAfter;

  const pick = (v) => (typeof v === 'function' ? v() : v);

  function send(target, hdrs, rec, resends) {
    return new Promise((resolve) => {
      let settled = false;
      const finish = (code) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearTimeout(abortTimer);
        rec.t1 = Date.now();
        rec.code = code;
        resolve();
      };
      // a resend goes over a new connection of its own (as browsers retry)
      const req = http.request(target, { agent: resends ? false : agent, headers: hdrs }, (res) => {
        res.on('data', () => {});
        res.on('end', () => finish(res.statusCode));
        res.on('error', () => finish(res.statusCode));
      });
      req.on('error', (err) => {
        if (settled) return;
        // a kept-alive connection closed by the server as we reused it: send it
        // again, once, on a new connection
        if (resends === 0 && req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) {
          settled = true;
          clearTimeout(timer);
          clearTimeout(abortTimer);
          retried++;
          send(target, hdrs, rec, resends + 1).then(resolve);
          return;
        }
        rec.reused = req.reusedSocket;
        rec.resends = resends;
        finish(rec.aborting ? 'aborted' : err.code || 'error');
      });
      const timer = setTimeout(() => {
        rec.aborting = false;
        finish('timeout');
        req.destroy();
      }, timeout);
      const abortTimer =
        rec.abortAfter > 0
          ? setTimeout(() => {
              rec.aborting = true;
              finish('aborted');
              req.destroy();
            }, rec.abortAfter)
          : null;
      req.end();
    });
  }

  function fire() {
    if (pending.size >= maxInFlight) {
      skipped++;
      return;
    }
    const rec = { t0: Date.now(), t1: 0, code: null, abortAfter: abortNow };
    records.push(rec);
    const p = send(pick(url), pick(headers), rec, 0).then(() => pending.delete(p));
    pending.add(p);
  }

  const tick = setInterval(() => {
    const now = performance.now();
    credit += ((now - last) * rate) / 1000;
    last = now;
    while (credit >= 1) {
      credit -= 1;
      fire();
    }
  }, 5);

  return {
    records,
    get retried() {
      return retried;
    },
    get skipped() {
      return skipped;
    },
    inFlight: () => pending.size,
    /** From now on every request is abandoned by the client after `ms` (0: never). */
    setAbortAfter(ms) {
      abortNow = ms;
    },
    /** Stops sending; resolves when every request in flight has ended. */
    async stop() {
      clearInterval(tick);
      await Promise.all([...pending]);
      agent.destroy();
    },
  };
}

const inc = (obj, k) => (obj[k] = (obj[k] ?? 0) + 1);

/**
 * What a stream saw around a fault. Phases by the time a request was sent:
 * before faultStart (must be `good`), during the fault (must be in `during` and,
 * when maxLatency is given, answered within it), and after faultEnd: requests are
 * allowed `during` codes until recovery, `good` ones only after it. Recovery is
 * the first request after faultEnd from which every request sent within the next
 * `window` ms was good; recoveryMs is its send time minus faultEnd (null: never).
 * `good` and `during` are lists of status codes (or 'aborted').
 */
export function analyse(records, { faultStart, faultEnd, during, good, maxLatency = Infinity, window = 1000 }) {
  const goodSet = new Set(good);
  const duringSet = new Set(during);
  const done = records.filter((r) => r.code !== null).sort((a, b) => a.t0 - b.t0);
  const seen = {};
  const unexpected = {};
  const examples = [];
  const bad = (r, why) => {
    inc(unexpected, why);
    if (examples.length < 5) examples.push({ at: r.t0 - faultStart, code: r.code, ms: r.t1 - r.t0, reused: r.reused, resends: r.resends });
  };

  const after = done.filter((r) => r.t0 >= faultEnd);
  let recoveryAt = null;
  for (let i = 0; i < after.length && recoveryAt === null; i++) {
    if (!goodSet.has(after[i].code)) continue;
    let ok = true;
    let n = 0;
    for (let j = i; j < after.length && after[j].t0 < after[i].t0 + window; j++, n++) {
      if (!goodSet.has(after[j].code)) {
        ok = false;
        break;
      }
    }
    // a window must have been observed in full
    const lastT0 = after.at(-1).t0;
    if (ok && n > 0 && lastT0 >= after[i].t0 + window * 0.9) recoveryAt = after[i].t0;
  }

  let maxFaultLatency = 0;
  for (const r of done) {
    const ms = r.t1 - r.t0;
    if (r.t0 < faultStart) {
      if (!goodSet.has(r.code)) bad(r, `${r.code} before the fault`);
      continue;
    }
    const inFault = r.t0 < faultEnd;
    const transitional = !inFault && (recoveryAt === null || r.t0 < recoveryAt);
    if (inFault || transitional) {
      inc(seen, r.code);
      maxFaultLatency = Math.max(maxFaultLatency, ms);
      if (!(duringSet.has(r.code) || goodSet.has(r.code))) bad(r, String(r.code));
      else if (inFault && !duringSet.has(r.code)) bad(r, String(r.code));
      else if (ms > maxLatency && r.code !== 'aborted') bad(r, `${r.code} after ${(ms / 1000).toFixed(1)} s`);
    } else if (!goodSet.has(r.code)) {
      bad(r, `${r.code} after recovery`);
    }
  }
  // how long the answers took during the fault, per code
  const byCode = {};
  for (const r of done) {
    if (r.t0 < faultStart || r.t0 >= faultEnd) continue;
    (byCode[r.code] ??= []).push(r.t1 - r.t0);
  }
  const latency = Object.fromEntries(
    Object.entries(byCode).map(([code, ms]) => {
      ms.sort((a, b) => a - b);
      return [code, { p50: ms[Math.floor(ms.length / 2)], p99: ms[Math.floor(ms.length * 0.99)], max: ms.at(-1) }];
    }),
  );
  const firstOther = done.find((r) => r.t0 >= faultStart && r.t0 < faultEnd && !goodSet.has(r.code));
  return {
    requests: done.length,
    firstOtherMs: firstOther ? firstOther.t0 - faultStart : null,
    latency,
    seen,
    unexpected,
    examples,
    recoveryMs: recoveryAt === null ? null : recoveryAt - faultEnd,
    maxFaultLatency,
  };
}

/** "200×812, 502×340" */
export const codeList = (counts) =>
  Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k}×${n}`)
    .join(', ') || '—';
