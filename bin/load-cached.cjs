'use strict';
// Loads a CommonJS file of dist/cli-bundle compiled from the V8 code cache the build wrote beside it
// (<name>-<build>.v8cache, named by the build ID in the file's first line, so that a cache never meets a file it
// was not made from): V8 neither parses nor compiles it again. The files it requires by a relative .cjs name are
// loaded the same way. A cache V8 rejects (another Node version) is replaced, when the directory is ours to write,
// for the next start; the code works the same without one. Used by bin/run.cjs and by the extraction workers.
const { readFileSync, renameSync, writeFileSync } = require('node:fs');
const path = require('node:path');
const { Script } = require('node:vm');
const Module = require('node:module');

const loaded = new Map();

function loadCached(file) {
  const known = loaded.get(file);
  if (known) return known.exports;
  const source = readFileSync(file, 'utf8');
  const buildId = /^\/\/ tsoci-build ([0-9a-f]+)\n/.exec(source)?.[1];
  const cacheFile = buildId ? file.replace(/\.cjs$/, `-${buildId}.v8cache`) : undefined;
  let cachedData;
  try {
    if (cacheFile) cachedData = readFileSync(cacheFile);
  } catch {}
  const script = new Script(Module.wrap(source), { filename: file, ...(cachedData ? { cachedData } : {}) });
  const dir = path.dirname(file);
  const plain = Module.createRequire(file);
  const req = (id) => (id.startsWith('./') && id.endsWith('.cjs') ? loadCached(path.join(dir, id)) : plain(id));
  req.resolve = plain.resolve;
  const module = { exports: {} };
  loaded.set(file, module);
  script.runInThisContext()(module.exports, req, module, file, dir);
  if (cacheFile && (!cachedData || script.cachedDataRejected)) {
    try {
      const tmp = `${cacheFile}.${process.pid}.tmp`;
      writeFileSync(tmp, script.createCachedData());
      renameSync(tmp, cacheFile);
    } catch {}
  }
  return module.exports;
}

module.exports = { loadCached };
