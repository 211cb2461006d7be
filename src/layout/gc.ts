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

/** Removes unreachable blobs and leftover ingest files under the exclusive gc lock; returns what was freed. */
export function collectGarbage(store: LayoutStore, opts: { ingest?: boolean } = {}): Promise<GcResult> {
  return asSweeper(store, async () => {
    const out = await sweepBlobs(store);
    if (opts.ingest !== false) {
      const i = await sweepIngest(store);
      out.bytesFreed += i.bytesFreed;
    }
    return out;
  });
}

/** Runs `fn` with the store to itself: no writer adds blobs, refs or snapshots meanwhile. */
export function asSweeper<T>(store: LayoutStore, fn: () => Promise<T>): Promise<T> {
  return withLock(store.lockFile('gc'), fn);
}

/** Removes the blobs index.json does not reach. Only under asSweeper. */
export async function sweepBlobs(store: LayoutStore): Promise<GcResult> {
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
  return out;
}

/** Removes partial downloads: with no writer running (asSweeper), every ingest file is stale. */
export async function sweepIngest(store: LayoutStore): Promise<{ filesRemoved: number; bytesFreed: number }> {
  const out = { filesRemoved: 0, bytesFreed: 0 };
  for (const f of await readdir(store.ingestDir).catch(() => [] as string[])) {
    const p = path.join(store.ingestDir, f);
    out.bytesFreed += (await stat(p).catch(() => undefined))?.size ?? 0;
    out.filesRemoved++;
    await rm(p, { recursive: true, force: true });
  }
  return out;
}
