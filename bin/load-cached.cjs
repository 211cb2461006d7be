'use strict';
// Loads a CommonJS file of dist/cli-bundle compiled from the V8 code cache beside it (<name>-<build>.v8cache,
// named by the build ID in the file's first line, so that a cache never meets a file it was not made from): V8
// neither parses nor compiles it again. The files it requires by a relative .cjs name are loaded the same way.
// Used by bin/run.cjs and by the worker threads.
//
// The build makes each cache from the file alone, which holds only the code that runs as it loads; every function
// called later is still compiled on first use (~0.1 s of a cold bundle). So the caches are trained: the first
// time a kind of work (pull, bundle, run, an extraction worker) ends well, the caches of the files it used are
// written again with what it compiled, and `<cache>.trained` records the kind. A cache V8 rejects (another Node
// version) is replaced at once. Nothing is written where the directory is not ours to write; the code works the
// same without any cache.
const { readFileSync, renameSync, writeFileSync } = require('node:fs');
const path = require('node:path');
const { Script } = require('node:vm');
const Module = require('node:module');

/** file -> { module, script, cacheFile } */
const loaded = new Map();

function writeAtomic(file, data) {
  try {
    const tmp = `${file}.${process.pid}.${Math.random().toString(16).slice(2)}.tmp`;
    writeFileSync(tmp, data);
    renameSync(tmp, file);
  } catch {}
}

function loadCached(file) {
  const known = loaded.get(file);
  if (known) return known.module.exports;
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
  loaded.set(file, { module, script, cacheFile });
  script.runInThisContext()(module.exports, req, module, file, dir);
  if (cacheFile && (!cachedData || script.cachedDataRejected)) writeAtomic(cacheFile, script.createCachedData());
  return module.exports;
}

/** After work of `kind` ended well: writes the caches of the files this thread loaded, once per kind. */
function trainCaches(kind) {
  for (const { script, cacheFile } of loaded.values()) {
    if (!cacheFile) continue;
    const marker = `${cacheFile}.trained`;
    let kinds = [];
    try {
      kinds = readFileSync(marker, 'utf8').split('\n').filter(Boolean);
    } catch {}
    if (kinds.includes(kind)) continue;
    writeAtomic(cacheFile, script.createCachedData());
    writeAtomic(marker, [...kinds, kind].join('\n') + '\n');
  }
}

// The worker threads reach it through the global: their code is bundled apart from this file.
globalThis.__tsociTrainCaches = trainCaches;

module.exports = { loadCached, trainCaches };
