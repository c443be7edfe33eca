// The child process of the API fuzz cases (test/fuzz-harness.ts runApiCases): runs each case's code against the
// compiled library, one after the other, and prints one JSON line per case: {"id", "ok"} or {"id", "name", "code",
// "message"}. Running them here, under the parent's timeout, turns a hang (even a synchronous one) into a failure.
// Usage: node test/fuzz-child.js cases.json, where cases.json holds [{id, dir, code}] and `code` is the body of an
// async function of (lib, dir, path, fs).
'use strict';
const fs = require('fs');
const path = require('path');

const lib = require(path.join(__dirname, '..', 'dist', 'lib', 'index.js'));
const cases = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));

async function main() {
  for (const c of cases) {
    process.stderr.write(`start ${c.id}\n`);
    let line;
    try {
      const run = new Function('lib', 'dir', 'path', 'fs', `return (async () => { ${c.code} })();`);
      await run(lib, c.dir, path, fs);
      line = { id: c.id, ok: true };
    } catch (err) {
      const e = err || {};
      line = { id: c.id, ok: false, name: e.name || typeof err, code: e.code, message: String(e.message || err) };
    }
    process.stdout.write(JSON.stringify(line) + '\n');
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`fuzz child failed: ${err && err.stack}\n`);
    process.exit(3);
  },
);
