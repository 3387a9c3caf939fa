// The documentation cannot drift from the code: README.md's directive
// reference is checked against the command tables in src/ngx (syntax,
// context, since-version, block parameters; tools/check-directive-ref.mjs),
// and every conf-example the READMEs link to exists and is listed.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { check, checkRepo, REPO } from '../tools/check-directive-ref.mjs';

describe('README directive reference matches the source', () => {
  it('every directive and block parameter documented as the source defines it', () => {
    const { problems, notes } = checkRepo();
    for (const n of notes) console.log(`# ${n}`);
    assert.deepEqual(problems, [], `README.md drifted from src/ngx:\n  ${problems.join('\n  ')}`);
  });
});

describe('the checker finds drift (fixtures)', () => {
  const source = `
#define EA_ANY (NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF)
ngx_command_t ea_commands[] = {
    { ngx_string("x_flag"),
      EA_ANY | NGX_CONF_FLAG,
      ngx_conf_set_flag_slot, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL },
    { ngx_string("x_two"),
      EA_ANY | NGX_CONF_TAKE23,
      x_conf_two, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL },
    { ngx_string("x_block"),
      NGX_HTTP_MAIN_CONF | NGX_CONF_BLOCK | NGX_CONF_TAKE1,
      x_conf_block, NGX_HTTP_MAIN_CONF_OFFSET, 0, NULL },
    { ngx_string("x_status"),
      NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS,
      x_conf_status, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL },
    ngx_null_command
};

static char *
x_param(ngx_conf_t *cf, ngx_command_t *dummy, void *conf)
{
    if (name == "url") {
    } else if (name == "timeout" || name == "wait") {
    }
}

char *
x_conf_block(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    cf->handler = x_param;
}
`;
  const section = (name, { syntax = `\`${name} on | off;\``, context = 'http, server, location', since = '0.1.0', extra = '' } = {}) =>
    `### \`${name}\`\n- **Syntax:** ${syntax}\n- **Default:** —\n- **Context:** ${context}\n- **Since:** ${since}\n\nText.\n${extra}\n`;
  const good = {
    x_flag: section('x_flag'),
    x_two: section('x_two', { syntax: '`x_two A B [C];`' }),
    x_block: section('x_block', {
      syntax: '`x_block NAME { ... }`',
      context: 'http',
      extra: '| parameter | meaning |\n|---|---|\n| `url URL` | |\n| `timeout TIME`, `wait TIME` | |\n',
    }),
    x_status: section('x_status', { syntax: '`x_status;`', context: 'location' }),
  };
  const readme = (sections) => `# x\n\n## Directive reference\n\nIntro.\n\n${Object.values(sections).join('\n')}\n## Variables\n`;
  const run = (sections, pending = new Map()) =>
    check({ sources: [{ file: 'src/ngx/x.cpp', text: source }], readme: readme(sections), version: '0.2.0', pending });

  it('in step: no problem', () => {
    assert.deepEqual(run(good).problems, []);
  });

  it('a directive without a section', () => {
    const { x_two, ...rest } = good;
    assert.match(run(rest).problems.join('\n'), /x_two .*has no "### `x_two`" section/);
  });

  it('a documented directive the source lacks; accepted while PENDING, flagged once it is in the source', () => {
    const more = { ...good, x_new: section('x_new', { syntax: '`x_new;`', context: 'location' }) };
    assert.match(run(more).problems.join('\n'), /x_new is documented but no command table/);
    const pending = run(more, new Map([['x_new', 'being written']]));
    assert.deepEqual(pending.problems, []);
    assert.match(pending.notes.join('\n'), /x_new: documented, pending in source/);
    assert.match(run(good, new Map([['x_status', 'old']])).problems.join('\n'), /x_status is in the source now.*remove it from PENDING/);
  });

  it('a wrong context', () => {
    const p = run({ ...good, x_flag: section('x_flag', { context: 'http, server' }) }).problems.join('\n');
    assert.match(p, /x_flag: \*\*Context:\*\* "http, server", the source says "http, server, location"/);
  });

  it('a syntax with an argument count the flags refuse', () => {
    assert.match(run({ ...good, x_two: section('x_two', { syntax: '`x_two A;`' }) }).problems.join('\n'), /x_two: \*\*Syntax:\*\* documents 1..1 arguments/);
    assert.match(run({ ...good, x_two: section('x_two', { syntax: '`x_two A B C D;`' }) }).problems.join('\n'), /x_two: \*\*Syntax:\*\* documents 4..4/);
    assert.match(run({ ...good, x_two: section('x_two', { syntax: '`x_two A ...;`' }) }).problems.join('\n'), /x_two: \*\*Syntax:\*\* documents 1..more/);
    assert.match(run({ ...good, x_status: section('x_status', { syntax: '`x_status on;`', context: 'location' }) }).problems.join('\n'), /x_status: \*\*Syntax:\*\*/);
    assert.match(run({ ...good, x_two: section('x_two', { syntax: '`x_too A B;`' }) }).problems.join('\n'), /does not start with "x_two"/);
  });

  it('a block shown as no block', () => {
    const p = run({ ...good, x_block: good.x_block.replace('`x_block NAME { ... }`', '`x_block NAME;`') }).problems.join('\n');
    assert.match(p, /x_block: \*\*Syntax:\*\* shows no block/);
  });

  it('missing fields and since-versions', () => {
    assert.match(run({ ...good, x_flag: good.x_flag.replace(/- \*\*Since:\*\*.*\n/, '') }).problems.join('\n'), /x_flag has no \*\*Since:\*\* line/);
    assert.match(run({ ...good, x_flag: good.x_flag.replace(/- \*\*Default:\*\*.*\n/, '') }).problems.join('\n'), /x_flag has no \*\*Default:\*\* line/);
    assert.match(run({ ...good, x_flag: section('x_flag', { since: '0.3.0' }) }).problems.join('\n'), /Since:\*\* 0.3.0 is later than the source's version 0.2.0/);
    assert.match(run({ ...good, x_flag: section('x_flag', { since: 'soon' }) }).problems.join('\n'), /"soon" is not a version/);
  });

  it('block parameters: undocumented and unknown ones', () => {
    const p = run({ ...good, x_block: good.x_block.replace('| `url URL` | |', '| `uri URL` | |') }).problems.join('\n');
    assert.match(p, /parameter "url" \(accepted by x_param\(\)\) is not in the section's table/);
    assert.match(p, /parameter "uri" is documented but x_param\(\) does not accept it/);
  });

  it('one directive per section', () => {
    const p = run({ ...good, x_flag: good.x_flag.replace('### `x_flag`', '### `x_flag`, `x_two`') }).problems.join('\n');
    assert.match(p, /names 2 directives/);
  });
});

describe('conf-examples the READMEs point to', () => {
  const examplesDir = path.join(REPO, 'conf-examples');
  const confs = fs.readdirSync(examplesDir).filter((f) => f.endsWith('.conf')).sort();
  const links = (file) => [...fs.readFileSync(file, 'utf8').matchAll(/\(((?:conf-examples\/)?[\w.-]+\.conf)\)/g)].map((m) => path.basename(m[1]));

  it('every linked example exists', () => {
    for (const file of [path.join(REPO, 'README.md'), path.join(examplesDir, 'README.md')]) {
      for (const name of links(file)) assert.ok(confs.includes(name), `${path.relative(REPO, file)} links to conf-examples/${name}, which does not exist`);
    }
  });

  it('conf-examples/README.md lists every example', () => {
    const listed = new Set(links(path.join(examplesDir, 'README.md')));
    const missing = confs.filter((c) => !listed.has(c));
    assert.deepEqual(missing, [], `not in conf-examples/README.md: ${missing.join(', ')}`);
  });
});
