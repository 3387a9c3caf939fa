#!/usr/bin/env node
// Checks README.md's "Directive reference" against the connector's source, so
// the two cannot drift apart (node, no dependencies).
//
//   node tools/check-directive-ref.mjs            # one line per drift, exit 1 if any
//   import { checkRepo } from '../tools/check-directive-ref.mjs';
//   const { problems, notes } = checkRepo();        // problems: [] when in step
//
// From the source (src/ngx/*.cpp): every entry of an ngx_command_t table, its
// context flags (NGX_HTTP_MAIN_CONF / SRV / LOC) and argument flags
// (NGX_CONF_TAKE*, FLAG, 1MORE, BLOCK ...), macros such as EA_HTTP_ANY_CONF
// expanded; for a block directive, the parameter names its block handler
// accepts (the function the directive's handler installs as cf->handler,
// every `name == "..."` in it). The version from src/core/version.h.
//
// In README.md, between "## Directive reference" and the next "## " heading,
// each directive has a "### `name`" section with
//   - **Syntax:** `name ARGS;`   (the argument count must be one the flags accept)
//   - **Default:** ...
//   - **Context:** http, server, location   (exactly what the flags say)
//   - **Since:** X.Y.Z           (not later than kVersion)
// and a block directive's section has a table whose first column names every
// parameter (`param ARGS`, several per cell allowed). Nothing may be documented
// that the source lacks, except a name in PENDING (documented ahead of the
// code that is being written); a PENDING name that the source has is itself a
// drift, so the entry gets removed once the code lands.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Directives documented before their code lands: name -> why. Remove an entry once the source has it. */
export const PENDING = new Map([
  // ['edge_auth_example', 'issue N: being added to src/ngx'],
]);

const CONTEXTS = [
  ['NGX_HTTP_MAIN_CONF', 'http'],
  ['NGX_HTTP_SRV_CONF', 'server'],
  ['NGX_HTTP_SIF_CONF', 'if in server'],
  ['NGX_HTTP_LOC_CONF', 'location'],
  ['NGX_HTTP_LIF_CONF', 'if in location'],
  ['NGX_HTTP_LMT_CONF', 'limit_except'],
];

const INF = Infinity;

/* ---- source ------------------------------------------------------------- */

function stripComments(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, '');
}

/** `#define NAME (A | B)` of every file, so flags written with a macro expand. */
function macros(sources) {
  const out = new Map();
  for (const { text } of sources) {
    for (const m of stripComments(text).matchAll(/^#define\s+(\w+)\s+\(?([A-Z0-9_|\s]+?)\)?\s*$/gm)) {
      out.set(m[1], m[2].split('|').map((s) => s.trim()).filter(Boolean));
    }
  }
  return out;
}

function expand(tokens, defs, depth = 0) {
  const flags = new Set();
  for (const t of tokens) {
    if (defs.has(t) && depth < 8) for (const f of expand(defs.get(t), defs, depth + 1)) flags.add(f);
    else flags.add(t);
  }
  return flags;
}

/** Argument counts the flags accept: { min, max, block, flag }. */
export function argsFromFlags(flags) {
  const takes = {
    NGX_CONF_NOARGS: [0], NGX_CONF_TAKE1: [1], NGX_CONF_TAKE2: [2], NGX_CONF_TAKE3: [3],
    NGX_CONF_TAKE4: [4], NGX_CONF_TAKE5: [5], NGX_CONF_TAKE6: [6], NGX_CONF_TAKE7: [7],
    NGX_CONF_TAKE12: [1, 2], NGX_CONF_TAKE13: [1, 3], NGX_CONF_TAKE23: [2, 3],
    NGX_CONF_TAKE123: [1, 2, 3], NGX_CONF_TAKE1234: [1, 2, 3, 4],
  };
  const counts = new Set();
  let min = INF;
  let max = -1;
  for (const [name, ns] of Object.entries(takes)) {
    if (flags.has(name)) for (const n of ns) counts.add(n);
  }
  if (flags.has('NGX_CONF_FLAG')) counts.add(1);
  for (const n of counts) {
    min = Math.min(min, n);
    max = Math.max(max, n);
  }
  if (flags.has('NGX_CONF_1MORE')) [min, max] = [Math.min(min, 1), INF];
  if (flags.has('NGX_CONF_2MORE')) [min, max] = [Math.min(min, 2), INF];
  if (flags.has('NGX_CONF_ANY')) [min, max] = [0, INF];
  return { counts, min, max, block: flags.has('NGX_CONF_BLOCK'), flag: flags.has('NGX_CONF_FLAG'), open: max === INF };
}

/** The body of function `name` (nginx style: the name starts a line). */
function functionBody(sources, name) {
  for (const { text } of sources) {
    const at = text.search(new RegExp(`^${name}\\(`, 'm'));
    if (at < 0) continue;
    const open = text.indexOf('\n{', at);
    const close = text.indexOf('\n}\n', open);
    if (open < 0 || close < 0) continue;
    return { text: text.slice(open, close) };
  }
  return null;
}

/** Every directive of every ngx_command_t table: { name, file, contexts, args, handler, params }. */
export function sourceDirectives(sources) {
  const defs = macros(sources);
  const out = [];
  for (const src of sources) {
    const text = stripComments(src.text);
    for (const table of text.matchAll(/ngx_command_t\s+\w+\s*\[\s*\]\s*=\s*\{([\s\S]*?)ngx_null_command/g)) {
      for (const m of table[1].matchAll(/\{\s*ngx_string\("([^"]+)"\)\s*,\s*([^,]+),\s*(\w+)/g)) {
        const flags = expand(m[2].split('|').map((s) => s.trim()), defs);
        const contexts = CONTEXTS.filter(([f]) => flags.has(f)).map(([, c]) => c);
        const args = argsFromFlags(flags);
        const d = { name: m[1], file: src.file, flags, contexts, args, handler: m[3], params: null };
        if (args.block) d.params = blockParams(sources, m[3]);
        out.push(d);
      }
    }
  }
  return out;
}

/** Parameter names a block directive accepts: those its cf->handler compares `name` with. */
function blockParams(sources, handler) {
  const body = functionBody(sources, handler);
  if (!body) return { error: `cannot find the handler ${handler}()` };
  const set = stripComments(body.text).match(/cf->handler\s*=\s*(\w+)\s*;/);
  if (!set) return { error: `${handler}() installs no cf->handler` };
  const inner = functionBody(sources, set[1]);
  if (!inner) return { error: `cannot find the block handler ${set[1]}()` };
  const names = new Set();
  for (const m of stripComments(inner.text).matchAll(/\bname\s*==\s*"([^"]+)"/g)) names.add(m[1]);
  if (names.size === 0) return { error: `${set[1]}() compares no parameter name` };
  return { names, handler: set[1] };
}

export function sourceVersion(text) {
  const m = text.match(/kVersion\s*=\s*"([^"]+)"/);
  return m ? m[1] : null;
}

/* ---- README ------------------------------------------------------------- */

/** The "## Directive reference" section: [{ name, heading, line, body }] for each "### " in it. */
export function referenceSections(readme) {
  const lines = readme.split('\n');
  const start = lines.findIndex((l) => /^## Directive reference\s*$/.test(l));
  if (start < 0) return null;
  let end = lines.findIndex((l, i) => i > start && /^## /.test(l));
  if (end < 0) end = lines.length;
  const sections = [];
  let cur = null;
  for (let i = start + 1; i < end; i++) {
    const l = lines[i];
    if (/^### /.test(l)) {
      cur = { heading: l.slice(4).trim(), line: i + 1, lines: [] };
      sections.push(cur);
    } else if (cur) {
      cur.lines.push(l);
    }
  }
  return sections.map((s) => ({ ...s, names: [...s.heading.matchAll(/`([^`]+)`/g)].map((m) => m[1]), body: s.lines.join('\n') }));
}

function field(body, label) {
  const m = body.match(new RegExp(`^- \\*\\*${label}:\\*\\*[ \\t]*(.*)$`, 'm'));
  return m ? m[1].trim() : null;
}

/** Argument counts a syntax line documents: { min, max, block }. */
export function argsFromSyntax(syntax, name) {
  const span = syntax.match(/`([^`]+)`/);
  if (!span) return { error: 'no `code` span' };
  let text = span[1].trim();
  if (!text.startsWith(name) || !/^[\s;{]|^$/.test(text.slice(name.length))) {
    return { error: `the syntax does not start with "${name}"` };
  }
  text = text.slice(name.length).trim();
  const block = text.includes('{');
  if (block) text = text.slice(0, text.indexOf('{'));
  text = text.replace(/;\s*$/, '').trim();
  const tokens = text ? text.split(/\s+/) : [];
  let min = 0;
  let max = 0;
  let alt = false;
  for (const t of tokens) {
    if (t === '|') {
      alt = true;  // the next token is another form of the same argument
      continue;
    }
    if (t === '...') {
      max = INF;
    } else if (!alt) {
      max += 1;
      if (!(t.startsWith('[') && t.endsWith(']'))) min += 1;
    }
    alt = false;
  }
  return { min, max, block };
}

function semver(v) {
  return v.split('.').map(Number);
}

function laterThan(a, b) {
  const x = semver(a);
  const y = semver(b);
  for (let i = 0; i < 3; i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) > (y[i] ?? 0);
  return false;
}

/** First-column names of the tables in a section: the documented block parameters. */
function tableParams(body) {
  const names = new Set();
  for (const line of body.split('\n')) {
    if (!/^\|/.test(line)) continue;
    const cell = line.replace(/\\\|/g, ' ').split('|')[1] ?? '';  // \| is a pipe inside a cell
    if (/^\s*:?-+/.test(cell)) continue;
    for (const m of cell.matchAll(/`([^`]+)`/g)) {
      const word = m[1].trim().split(/\s+/)[0];
      if (/^[a-z][a-z0-9_]*$/.test(word)) names.add(word);
    }
  }
  return names;
}

/* ---- the check ---------------------------------------------------------- */

/**
 * sources: [{ file, text }] of src/ngx/*.cpp; readme: README.md's text;
 * version: kVersion; pending: Map name -> reason.
 * Returns { problems: [string], notes: [string], directives: [name] }.
 */
export function check({ sources, readme, version, pending = PENDING }) {
  const problems = [];
  const notes = [];
  const src = sourceDirectives(sources);
  const byName = new Map();
  for (const d of src) {
    if (byName.has(d.name)) problems.push(`source: ${d.name} is in two command tables (${byName.get(d.name).file}, ${d.file})`);
    byName.set(d.name, d);
  }
  if (src.length === 0) problems.push('source: no ngx_command_t table found in src/ngx/*.cpp');
  if (!version) problems.push('source: no kVersion in src/core/version.h');

  const sections = referenceSections(readme);
  if (!sections) return { problems: [...problems, 'README.md: no "## Directive reference" section'], notes, directives: [] };

  const documented = new Map();
  for (const s of sections) {
    if (s.names.length === 0) continue;  // a prose subsection
    const where = `README.md:${s.line}`;
    if (s.names.length > 1) {
      problems.push(`${where}: "### ${s.heading}" names ${s.names.length} directives; give each its own "### \`name\`" section`);
      continue;
    }
    const name = s.names[0];
    if (documented.has(name)) {
      problems.push(`${where}: ${name} is documented twice (also README.md:${documented.get(name).line})`);
      continue;
    }
    documented.set(name, s);

    const d = byName.get(name);
    if (!d) {
      if (pending.has(name)) notes.push(`${name}: documented, pending in source (${pending.get(name)})`);
      else problems.push(`${where}: ${name} is documented but no command table in src/ngx has it`);
    } else if (pending.has(name)) {
      problems.push(`tools/check-directive-ref.mjs: ${name} is in the source now (${d.file}); remove it from PENDING`);
    }

    const syntax = field(s.body, 'Syntax');
    const def = field(s.body, 'Default');
    const context = field(s.body, 'Context');
    const since = field(s.body, 'Since');
    if (syntax === null) problems.push(`${where}: ${name} has no **Syntax:** line`);
    if (def === null || def === '') problems.push(`${where}: ${name} has no **Default:** line`);
    if (context === null) problems.push(`${where}: ${name} has no **Context:** line`);
    if (since === null) {
      problems.push(`${where}: ${name} has no **Since:** line`);
    } else if (!/^\d+\.\d+\.\d+$/.test(since)) {
      problems.push(`${where}: ${name}: **Since:** "${since}" is not a version (X.Y.Z)`);
    } else if (version && laterThan(since, version)) {
      problems.push(`${where}: ${name}: **Since:** ${since} is later than the source's version ${version}`);
    }
    if (!d) continue;

    if (context !== null) {
      const want = d.contexts.join(', ');
      if (context !== want) problems.push(`${where}: ${name}: **Context:** "${context}", the source says "${want}"`);
    }
    if (syntax !== null) {
      const doc = argsFromSyntax(syntax, name);
      if (doc.error) {
        problems.push(`${where}: ${name}: **Syntax:** ${doc.error}`);
      } else {
        if (doc.block !== d.args.block) {
          problems.push(`${where}: ${name}: **Syntax:** ${doc.block ? 'shows a block' : 'shows no block'}, the source's flags ${d.args.block ? 'have' : 'have no'} NGX_CONF_BLOCK`);
        }
        const accepts = (n) => (n === INF ? d.args.open : d.args.open ? n >= d.args.min : d.args.counts.has(n));
        const lo = accepts(doc.min);
        const hi = accepts(doc.max);
        if (!lo || !hi || (doc.max === INF) !== d.args.open) {
          const show = (n) => (n === INF ? 'more' : String(n));
          problems.push(`${where}: ${name}: **Syntax:** documents ${show(doc.min)}..${show(doc.max)} arguments, the source's flags accept ${d.args.open ? `${d.args.min} or more` : [...d.args.counts].sort().join(' or ')}`);
        }
      }
    }
    if (d.params) {
      if (d.params.error) {
        problems.push(`source: ${name}: ${d.params.error}`);
      } else {
        const doc = tableParams(s.body);
        for (const p of d.params.names) {
          if (!doc.has(p)) problems.push(`${where}: ${name}: parameter "${p}" (accepted by ${d.params.handler}()) is not in the section's table`);
        }
        for (const p of doc) {
          if (!d.params.names.has(p)) problems.push(`${where}: ${name}: parameter "${p}" is documented but ${d.params.handler}() does not accept it`);
        }
      }
    }
  }

  for (const d of src) {
    if (!documented.has(d.name)) problems.push(`README.md: ${d.name} (${d.file}) has no "### \`${d.name}\`" section in the Directive reference`);
  }
  for (const [name] of pending) {
    if (!documented.has(name) && !byName.has(name)) problems.push(`tools/check-directive-ref.mjs: PENDING names ${name}, which is neither documented nor in the source`);
  }
  return { problems, notes, directives: [...documented.keys()] };
}

/** Runs the check on a checkout (default: this one). */
export function checkRepo(repo = REPO, pending = PENDING) {
  const dir = path.join(repo, 'src', 'ngx');
  const sources = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.cpp'))
    .sort()
    .map((f) => ({ file: `src/ngx/${f}`, text: fs.readFileSync(path.join(dir, f), 'utf8') }));
  const readme = fs.readFileSync(path.join(repo, 'README.md'), 'utf8');
  const version = sourceVersion(fs.readFileSync(path.join(repo, 'src', 'core', 'version.h'), 'utf8'));
  return check({ sources, readme, version, pending });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { problems, notes, directives } = checkRepo(process.argv[2] ? path.resolve(process.argv[2]) : REPO);
  for (const n of notes) console.log(`note: ${n}`);
  for (const p of problems) console.log(p);
  console.log(problems.length === 0 ? `directive reference: ${directives.length} directives in step with the source` : `directive reference: ${problems.length} drift(s)`);
  process.exitCode = problems.length === 0 ? 0 : 1;
}
