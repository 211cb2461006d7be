// Starting a worker thread of tsoci from wherever the code runs: in the bundle, the worker's CommonJS file
// compiled from its code cache by bin/load-cached.cjs; in dist/, the module beside the caller; under tsx, the
// TypeScript source (whose loader a worker must register again).

import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/** Starts worker module `name` (e.g. 'extract-worker'), which lives beside the module at `callerUrl`. */
export function startWorker(callerUrl: string, name: string): Worker {
  if (callerUrl.endsWith('.ts')) {
    const url = new URL(`./${name}.ts`, callerUrl).href;
    const api = import.meta.resolve('tsx/esm/api');
    return new Worker(`import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(url)}); });`, { eval: true });
  }
  const dir = path.dirname(fileURLToPath(callerUrl));
  const bundled = path.join(dir, `${name}.cjs`);
  const loader = path.resolve(dir, '../../bin/load-cached.cjs');
  if (existsSync(bundled) && existsSync(loader)) {
    return new Worker(`require(${JSON.stringify(loader)}).loadCached(${JSON.stringify(bundled)});`, { eval: true });
  }
  return new Worker(new URL(`./${name}.js`, callerUrl));
}
