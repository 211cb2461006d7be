// The supervisor of a detached container: a process of its own (started by tsoci run -d, in its own session)
// that runs `runc run` in the foreground with the container's output going to its log, waits for it, records
// the exit code, and removes the container when it was run with --rm. argv: ROOT ID.

import { Containers } from './containers.js';
import { exitCodeOf } from './runc.js';

const [root, id] = process.argv.slice(2) as [string, string];
const containers = new Containers(root);
const rec = await containers.read(id);
if (rec) {
  const runc = containers.runc(rec.runtime);
  const child = runc.spawnRun(id, containers.bundleDir(id), ['ignore', 'inherit', 'inherit']);
  const code = await new Promise<number>((resolve) => {
    child.on('error', () => resolve(127));
    child.on('close', (c, sig) => resolve(exitCodeOf(c, sig)));
  });
  const now = await containers.read(id);
  if (now) {
    if (now.rm) await containers.remove(now, true).catch(() => {});
    else await containers.write({ ...now, exitCode: code, finished: new Date().toISOString() });
  }
}
