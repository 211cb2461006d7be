// Mark-and-sweep of the store's blobs: whatever index.json does not reach is removed. Writers (pull, load) hold
// the `gc` lock shared while they add blobs and refs; the sweep holds it exclusively, so it never sees a blob
// that a running pull has stored but not yet named.

import { readdir, rm, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { withLock } from './lock.js';
import { reachableDigests } from './image.js';
import type { LayoutStore } from './store.js';

export interface GcResult {
  blobsRemoved: number;
  bytesFreed: number;
}

/** Runs `fn` as a writer: blobs it stores survive any concurrent sweep. */
export function asWriter<T>(store: LayoutStore, fn: () => Promise<T>): Promise<T> {
  return withLock(store.lockFile('gc'), fn, { shared: true });
}

/** Removes unreachable blobs and leftover ingest files; returns what was freed. */
export async function collectGarbage(store: LayoutStore, opts: { ingest?: boolean } = {}): Promise<GcResult> {
  return withLock(store.lockFile('gc'), async () => {
    const keep = await reachableDigests(store);
    const out: GcResult = { blobsRemoved: 0, bytesFreed: 0 };
    const blobs = path.join(store.layoutDir, 'blobs');
    for (const alg of await readdir(blobs).catch(() => [] as string[])) {
      for (const hex of await readdir(path.join(blobs, alg)).catch(() => [] as string[])) {
        if (keep.has(`${alg}:${hex}` as never)) continue;
        const p = path.join(blobs, alg, hex);
        const st = await stat(p).catch(() => undefined);
        await unlink(p).catch(() => {});
        out.blobsRemoved++;
        out.bytesFreed += st?.size ?? 0;
      }
    }
    // No writer runs now, so every ingest file is stale (kept when asked, for later resumes).
    if (opts.ingest !== false) for (const f of await readdir(store.ingestDir).catch(() => [] as string[])) {
      const p = path.join(store.ingestDir, f);
      out.bytesFreed += (await stat(p).catch(() => undefined))?.size ?? 0;
      await rm(p, { recursive: true, force: true });
    }
    return out;
  });
}
