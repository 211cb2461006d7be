#!/usr/bin/env node
'use strict';
// Start-up matters for a container tool: `tsoci --version`, `pull`, `run` and `bundle` (the lean fast path) answer without
// loading the CLI framework; everything else, and anything the fast path does not handle, goes to oclif.
// CommonJS on purpose: an ES module entry costs ~15 ms more (Node's ESM loader starts up for it).
// bin/tsoci hands NODE_EXTRA_CA_CERTS over under another name (Node 20 would parse the CA store at start-up for
// it): put it back, for the registry client and for whatever tsoci runs.
if (process.env.TSOCI_NODE_EXTRA_CA_CERTS !== undefined) {
  process.env.NODE_EXTRA_CA_CERTS = process.env.TSOCI_NODE_EXTRA_CA_CERTS;
  delete process.env.TSOCI_NODE_EXTRA_CA_CERTS;
}
const { readFileSync } = require('node:fs');
const path = require('node:path');
// The V8 flags every tsoci process runs with, set before any code loads: a code cache is rejected when the flags
// differ from those it was made with (scripts/bundle.mjs sets the same). --liftoff-only: see src/registry/wasm-tier.ts.
require('node:v8').setFlagsFromString('--liftoff-only');

async function main(argv) {
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v' || argv[0] === 'version')) {
    const { version } = JSON.parse(readFileSync(path.join(__dirname, '../package.json'), 'utf8'));
    process.stdout.write(`tsoci/${version} ${process.platform}-${process.arch} node-${process.version}\n`);
    return 0;
  }
  if (argv[0] === 'run' || argv[0] === 'bundle' || argv[0] === 'pull') {
    const code = await loadFastPath().main(argv);
    if (code === 0) require('./load-cached.cjs').trainCaches(argv[0]);
    return code;
  }
  return undefined;
}

/** The fast path: one CommonJS file, compiled from the code cache the build made for it (bin/load-cached.cjs). */
function loadFastPath() {
  return require('./load-cached.cjs').loadCached(path.join(__dirname, '../dist/cli-bundle/fast.cjs'));
}

main(process.argv.slice(2)).then(
  async (code) => {
    if (code === undefined) await require('@oclif/core').execute({ dir: __filename });
    else process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`${e?.stack ?? e}\n`);
    process.exitCode = 1;
  },
);
