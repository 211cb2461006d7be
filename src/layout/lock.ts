// Cross-process file locks (kernel flock) under ROOT/locks, released when the holder exits or dies.
// Node has no flock(2); util-linux flock(1) takes the lock and hands the fd to a `cat` that lives until
// our end of its stdin pipe closes: on release, or when the kernel closes it because this process died.

import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

export interface Lock {
  /** Releases the lock; resolves once the holder exited. */
  release(): Promise<void>;
}

/** Takes an exclusive (or shared) lock on `file`, waiting for other holders. */
export async function acquireLock(file: string, opts: { shared?: boolean } = {}): Promise<Lock> {
  await mkdir(path.dirname(file), { recursive: true });
  const child = spawn('flock', [opts.shared ? '-s' : '-x', file, 'sh', '-c', 'echo locked; exec cat >/dev/null'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    child.once('error', reject);
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`flock ${file} exited with ${code}: ${err.trim()}`)));
  });
  // The holder must not keep this process's event loop alive, nor be noticed by it.
  child.unref();
  (child.stdout as unknown as { unref?: () => void }).unref?.();
  (child.stderr as unknown as { unref?: () => void }).unref?.();
  (child.stdin as unknown as { unref?: () => void }).unref?.();
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      // Keep the event loop alive until the holder has gone, so the release is observed.
      child.ref();
      child.stdin!.end();
      await exited;
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
