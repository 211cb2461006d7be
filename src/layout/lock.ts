// Cross-process file locks (kernel flock) under ROOT/locks, released when the holder exits or dies. Node has no
// flock(2): the process's perl helper (src/sys/helper.ts) holds every lock this process takes.

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { field, request } from '../sys/helper.js';

export interface Lock {
  /** Releases the lock. */
  release(): Promise<void>;
}

/** Takes an exclusive (or shared) lock on `file`, waiting for other holders. */
export async function acquireLock(file: string, opts: { shared?: boolean } = {}): Promise<Lock> {
  mkdirSync(path.dirname(file), { recursive: true });
  // Absolute: the helper's working directory is not ours (it changes directory for mounts).
  const { id, done } = request('L', [opts.shared ? 's' : 'x', field(path.resolve(file))]);
  await done.catch((e: Error) => {
    throw new Error(`cannot lock ${file}: ${e.message}`);
  });
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      await request('U', [id]).done;
    },
  };
}

/** Runs `fn` while holding the lock on `file`. */
export async function withLock<T>(file: string, fn: () => Promise<T>, opts: { shared?: boolean } = {}): Promise<T> {
  const lock = await acquireLock(file, opts);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
