#!/usr/bin/env node
'use strict';
// `npm test`: builds gatehouse once (unless GATEHOUSE_BIN names a binary), then runs
// every test/*.test.js with Node's built-in test runner. Each test file starts its
// own gatehouse process, so files run in parallel.

const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const here = path.resolve(__dirname, '..');
const repoRoot = path.resolve(here, '..', '..');
const env = { ...process.env };
let tmp;

if (!env.GATEHOUSE_BIN) {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-bin-'));
  env.GATEHOUSE_BIN = path.join(tmp, 'gatehouse');
  process.stdout.write(`building gatehouse into ${env.GATEHOUSE_BIN}\n`);
  try {
    execFileSync('go', ['build', '-o', env.GATEHOUSE_BIN, './cmd/gatehouse'], { cwd: repoRoot, stdio: 'inherit' });
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    process.stderr.write(`go build failed: ${err.message}\nSet GATEHOUSE_BIN to a gatehouse binary to skip the build.\n`);
    process.exit(2);
  }
}

const testDir = path.join(here, 'test');
const files = fs.readdirSync(testDir).filter((f) => f.endsWith('.test.js')).sort().map((f) => path.join(testDir, f));
const child = spawn(process.execPath, [
  '--test',
  '--test-reporter=spec',
  // The files mostly wait on the network (and one 30 s resend cool-down each),
  // so run them side by side even on a small machine.
  `--test-concurrency=${files.length}`,
  '--test-timeout=120000',
  ...files,
], { cwd: here, env, stdio: 'inherit' });

const cleanup = () => { if (tmp) fs.rmSync(tmp, { recursive: true, force: true }); };
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => child.kill(sig));
}
child.on('exit', (code, signal) => {
  cleanup();
  process.exit(code === null ? 1 : code);
});
