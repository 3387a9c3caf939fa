// bench/reliability's table: check | figure | goal | met?, from the latest results of
// bench/soak (bench/.tmp/soak.json), bench/faults (bench/.tmp/faults.json), the
// sanitizer and valgrind runs (build/asan-summary.txt, build/valgrind-summary.txt:
// "N passed, N failed, R reports") and the fuzz campaign (the table in
// docs/fuzzing.md, or build/fuzz/campaign/summary.md while the document has none).
// Prints Markdown; also writes it to bench/.tmp/reliability.md.
//
//   node bench/lib/reliability.mjs [--quick]

import fs from 'node:fs';
import path from 'node:path';
import { REPO, TMP } from './nginx.mjs';

const read = (file) => {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
};
const readJson = (file) => {
  const text = read(file);
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
};
const n = (x) => Number(x).toLocaleString('en');
const kb = (x) => `${x >= 0 ? '+' : ''}${n(x)} kB`;
const yes = (ok) => (ok ? 'yes' : '**no**');
const day = (iso) => (iso ? iso.slice(0, 16).replace('T', ' ') + ' UTC' : '?');
const mtime = (file) => {
  try {
    return fs.statSync(file).mtime.toISOString();
  } catch {
    return null;
  }
};

const rows = [];
const sources = [];
const row = (check, figure, goal, met) => rows.push([check, figure, goal, met]);

// ---- sanitizers and valgrind: "N passed, N failed, R reports" -----------------------
function summaryRow(check, file, how) {
  const text = read(path.join(REPO, file));
  const m = text && /(\d+)\s+passed,\s*(\d+)\s+failed,\s*(\d+)\s+reports?/.exec(text);
  if (!m) {
    row(check, text === null ? `not run (no ${file}; ${how})` : `unreadable ${file}: ${text.trim().slice(0, 60)}`, '0 failed, 0 reports', '—');
    return;
  }
  const [, passed, failed, reports] = m.map(Number);
  row(check, `${n(passed)} passed, ${n(failed)} failed, ${n(reports)} reports`, '0 failed, 0 reports', yes(failed === 0 && reports === 0));
  sources.push(`${file}: ${day(mtime(path.join(REPO, file)))}`);
}
summaryRow('AddressSanitizer + UBSan (unit and integration tests)', 'build/asan-summary.txt', '`make test-asan`');
summaryRow('valgrind memcheck', 'build/valgrind-summary.txt', 'see its make target');

// ---- fuzzing ----------------------------------------------------------------------------
function fuzzTable(text) {
  // the first Markdown table whose header names executions and crashes
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const head = lines[i].split('|').map((c) => c.trim().toLowerCase());
    const ex = head.findIndex((c) => c.startsWith('executions'));
    const cr = head.findIndex((c) => c.startsWith('crashes'));
    if (ex < 0 || cr < 0) continue;
    const out = [];
    for (let j = i + 2; j < lines.length && lines[j].trim().startsWith('|'); j++) {
      const cells = lines[j].split('|').map((c) => c.trim());
      out.push({ target: cells[1], execs: Number(cells[ex].replace(/[,_\s]/g, '')), crashes: cells[cr] });
    }
    if (out.length) return out;
  }
  return null;
}
{
  const docFile = path.join(REPO, 'docs/fuzzing.md');
  const campaignFile = path.join(REPO, 'build/fuzz/campaign/summary.md');
  let table = null;
  let from = null;
  for (const [file, name] of [[docFile, 'docs/fuzzing.md'], [campaignFile, 'build/fuzz/campaign/summary.md']]) {
    const text = read(file);
    if (text && (table = fuzzTable(text))) {
      from = name;
      break;
    }
  }
  const GOAL = 10_000_000;
  if (!table) {
    row('fuzzing (libFuzzer, every parser of outside input)', 'see docs/fuzzing.md (no campaign table yet)', `≥ ${n(GOAL)} executions per target, 0 crashes`, '—');
  } else {
    const total = table.reduce((s, t) => s + (Number.isFinite(t.execs) ? t.execs : 0), 0);
    const least = table.reduce((a, t) => (Number.isFinite(t.execs) && (!a || t.execs < a.execs) ? t : a), null);
    const crashed = table.filter((t) => t.crashes !== '0');
    row(
      'fuzzing (libFuzzer, every parser of outside input)',
      `${table.length} targets, ${n(total)} executions (least: ${least?.target} ${n(least?.execs ?? 0)}), ` +
        `${crashed.length ? crashed.map((t) => `${t.target}: ${t.crashes}`).join(', ') : '0 crashes'} (${from})`,
      `≥ ${n(GOAL)} executions per target, 0 crashes`,
      yes(crashed.length === 0 && table.every((t) => t.execs >= GOAL)),
    );
    sources.push(`${from}: ${day(mtime(from === 'docs/fuzzing.md' ? docFile : campaignFile))}`);
  }
}

// ---- soak ----------------------------------------------------------------------------------
const soak = readJson(path.join(TMP, 'soak.json'));
if (!soak) {
  row('soak', 'not run (bench/soak)', '', '—');
} else {
  const hist = Object.entries(soak.histogram)
    .flatMap(([, h]) => Object.entries(h))
    .reduce((acc, [s, c]) => ((acc[s] = (acc[s] ?? 0) + c), acc), {});
  row(
    'soak: mixed requests (Basic, bearer, API key, JWT, cookie session, OAuth injection, 5 % denials)',
    `${n(soak.requests)} in ${soak.wallSeconds} s (${n(soak.rps)} req/s), ${soak.workers} workers, ` +
      `${soak.tokenFetches} token refreshes (${soak.tokenLife} s tokens), ${soak.rotations} JWT key rotation(s), ${soak.jwksFetches} JWKS fetches`,
    '1,000,000',
    soak.requests >= 1_000_000 ? 'yes' : `— (${soak.quick ? 'quick run' : 'fewer requests'})`,
  );
  row(
    'soak: RSS growth per worker, start → end',
    soak.rss.map((r) => `${kb(r.growthKb)} (${n(r.start.vmRss)} → ${n(r.end.vmRss)} kB)`).join(', '),
    '< 1 MB',
    yes(soak.goals.rss),
  );
  row(
    'soak: status codes',
    `${Object.entries(hist).map(([s, c]) => `${s}: ${n(c)}`).join(', ')}; unexpected ${n(soak.unexpected)}, socket errors ${n(soak.socketErrors)}`,
    'only the expected (200; 401 for the denials)',
    yes(soak.goals.codes),
  );
  row(
    'soak: error log alert/crit/emerg lines; workers exited on a signal',
    `${soak.log.alert + soak.log.crit + soak.log.emerg}; ${soak.log.signalExits}`,
    '0; 0',
    yes(soak.goals.alerts && soak.goals.crashes),
  );
  sources.push(`soak: ${day(soak.date)}${soak.quick ? ' (quick)' : ''}`);
}

// ---- faults ----------------------------------------------------------------------------------
const faults = readJson(path.join(TMP, 'faults.json'));
if (!faults) {
  row('faults under load', 'not run (bench/faults)', '', '—');
} else {
  for (const r of faults.rows) {
    const expected = r.streams.map((s) => `${s.label}: ${s.during.join('/')}`).join('; ');
    row(
      `fault: ${r.fault}`,
      `${r.seen}; unexpected: ${r.unexpected}; recovery ${r.recovery}`,
      `${expected}; recovers; no alert, no crash`,
      yes(r.ok),
    );
  }
  row(
    'faults: workers exited on a signal; alert/crit/emerg lines (whole run)',
    `${faults.log.signalExits}; ${faults.log.alert + faults.log.crit + faults.log.emerg}`,
    '0; 0',
    yes(faults.log.signalExits === 0 && faults.log.alert + faults.log.crit + faults.log.emerg === 0),
  );
  sources.push(`faults: ${day(faults.date)}${faults.quick ? ' (quick)' : ''}, ${faults.rate} req/s per stream, ${faults.faultSeconds} s per fault`);
}

const esc = (c) => String(c).replace(/\|/g, '\\|');
const table = [
  '| check | figure | goal | met? |',
  '|---|---|---|---|',
  ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
].join('\n');
const text = `${table}\n\nFrom: ${sources.join('; ')}.\n`;
fs.mkdirSync(TMP, { recursive: true });
fs.writeFileSync(path.join(TMP, 'reliability.md'), text);
console.log(text);
