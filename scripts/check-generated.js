#!/usr/bin/env node
// Fails when gen/ is not exactly what `buf generate` writes from proto/ now (stale or hand-edited code).
'use strict';
const { execFileSync } = require('node:child_process');
const { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } = require('node:fs');
const { join, relative } = require('node:path');
const { tmpdir } = require('node:os');

const root = join(__dirname, '..');
const out = mkdtempSync(join(tmpdir(), 'hive-registry-gen-'));
const buf = join(root, 'node_modules', '.bin', 'buf');

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

try {
  // Generate into a scratch directory with the repo's own buf.gen.yaml, only the output folder changed.
  const template = readFileSync(join(root, 'buf.gen.yaml'), 'utf8').replace(/out: gen/g, `out: ${out}`);
  execFileSync(buf, ['generate', '--template', template], { cwd: root, stdio: 'inherit' });
  const want = new Map(files(out).map((f) => [relative(out, f), readFileSync(f, 'utf8')]));
  const have = new Map(files(join(root, 'gen')).map((f) => [relative(join(root, 'gen'), f), readFileSync(f, 'utf8')]));
  const problems = [];
  for (const [name, text] of want) {
    if (!have.has(name)) problems.push(`missing: gen/${name}`);
    else if (have.get(name) !== text) problems.push(`stale: gen/${name}`);
  }
  for (const name of have.keys()) if (!want.has(name)) problems.push(`not generated from proto/: gen/${name}`);
  if (problems.length > 0) {
    console.error(`gen/ is out of date with proto/ (run npm run generate and commit):\n  ${problems.join('\n  ')}`);
    process.exit(1);
  }
  console.log(`gen/ is up to date (${want.size} files)`);
} finally {
  rmSync(out, { recursive: true, force: true });
}
