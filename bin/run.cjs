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
const { readFileSync, renameSync, writeFileSync } = require('node:fs');
const path = require('node:path');

async function main(argv) {
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v' || argv[0] === 'version')) {
    const { version } = JSON.parse(readFileSync(path.join(__dirname, '../package.json'), 'utf8'));
    process.stdout.write(`tsoci/${version} ${process.platform}-${process.arch} node-${process.version}\n`);
    return 0;
  }
  if (argv[0] === 'run' || argv[0] === 'bundle' || argv[0] === 'pull') return loadFastPath().main(argv);
  return undefined;
}

/**
 * Loads dist/cli-bundle/fast.cjs (one CommonJS file) with the V8 code cache the build made for it, so that V8 neither
 * parses nor compiles it again. A cache V8 rejects (another Node version) is replaced, when the directory is ours
 * to write, for the next start; the module works the same without one.
 */
function loadFastPath() {
  const { Script } = require('node:vm');
  const Module = require('node:module');
  const file = path.join(__dirname, '../dist/cli-bundle/fast.cjs');
  const source = readFileSync(file, 'utf8');
  const buildId = /^\/\/ tsoci-build ([0-9a-f]+)\n/.exec(source)?.[1];
  const cacheFile = buildId ? path.join(path.dirname(file), `fast-${buildId}.v8cache`) : undefined;
  let cachedData;
  try {
    if (cacheFile) cachedData = readFileSync(cacheFile);
  } catch {}
  const script = new Script(Module.wrap(source), { filename: file, ...(cachedData ? { cachedData } : {}) });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, Module.createRequire(file), module, file, path.dirname(file));
  if (cacheFile && (!cachedData || script.cachedDataRejected)) {
    try {
      const tmp = `${cacheFile}.${process.pid}.tmp`;
      writeFileSync(tmp, script.createCachedData());
      renameSync(tmp, cacheFile);
    } catch {}
  }
  return module.exports;
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
