// node:test reporter that writes the totals the Makefile reads:
//
//   node --test --test-reporter=./lib/summary-reporter.mjs --test-reporter-destination=FILE
//   -> FILE contains "pass N\nfail N\n"
//
// Counted: leaf tests (a test with subtests is counted through its subtests;
// describe() suites never count by themselves). Skipped and todo tests are
// neither passes nor failures. A parent that fails although none of its
// children failed (a failing hook, an error after its subtests, a file that
// does not load) counts as one failure, so no failure is ever lost.

export default async function* summaryReporter(source) {
  let pass = 0;
  let fail = 0;
  // Per file and nesting level: did a child of the test now open at that level
  // report, and did one of them fail? Children always report before their parent.
  const levels = new Map();
  const level = (file, n) => {
    const key = `${file}\0${n}`;
    if (!levels.has(key)) levels.set(key, { children: 0, failed: 0 });
    return levels.get(key);
  };

  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { file, nesting, skip, todo, details } = event.data;
    const own = level(file, nesting + 1);
    const hadChildren = own.children > 0;
    const childFailed = own.failed > 0;
    own.children = 0;
    own.failed = 0;

    const failed = event.type === 'test:fail' && !todo;
    const parent = level(file, nesting);
    parent.children += 1;
    if (failed || childFailed) parent.failed += 1;

    if (skip || todo) continue;
    if (details?.type === 'suite' || hadChildren) {
      if (failed && !childFailed) fail += 1;
      continue;
    }
    if (failed) fail += 1;
    else pass += 1;
  }
  yield `pass ${pass}\nfail ${fail}\n`;
}
