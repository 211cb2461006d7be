// `tsoci gc`: with the store to itself (the exclusive gc lock; every pull, load and bundle holds it shared),
// removes blobs index.json does not reach, snapshots no image and no live bundle uses, partial downloads,
// half-extracted snapshots, half-made bundles a crash left, and the state of bundles whose directory is gone.

import { randomBytes } from 'node:crypto';
import { readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { destroyBundle } from '../bundle/bundle.js';
import { asSweeper, sweepBlobs, sweepIngest } from '../layout/gc.js';
import type { LayoutStore } from '../layout/store.js';
import { Snapshotter } from '../overlay/snapshots.js';
import { bundleUses, diskUsage, imageUses, snapshotsInUse } from './usage.js';

export interface Freed {
  removed: number;
  bytes: number;
}

export interface GcReport {
  blobs: Freed;
  snapshots: Freed;
  /** Partial downloads in ROOT/ingest. */
  ingest: Freed;
  /** Half-made bundles and the state of bundles whose directory is gone. */
  bundles: Freed;
  bytesFreed: number;
}

const SNAPSHOT_ID = /^[0-9a-f]{12}$/;

export function collectRoot(root: string, store: LayoutStore): Promise<GcReport> {
  return asSweeper(store, async () => {
    const bundles: Freed = { removed: 0, bytes: 0 };
    // Bundles first: a half-made one may be the last user of some snapshots.
    for (const b of await bundleUses(root)) {
      const stale = b.record ? !b.present && !b.mounted : !!b.dir;
      if (!stale) continue;
      const bytes = await diskUsage(b.stateDir);
      if (b.record || !b.dir) await rm(b.stateDir, { recursive: true, force: true });
      else await destroyBundle(root, b.dir); // a crash left it: unmount, remove its rootfs and state
      bundles.removed++;
      bundles.bytes += bytes;
    }
    const blobGc = await sweepBlobs(store);
    const ingestGc = await sweepIngest(store);
    const inUse = await snapshotsInUse(await imageUses(store, root), await bundleUses(root));
    const snaps = new Snapshotter(root);
    const snapshots: Freed = { removed: 0, bytes: 0 };
    for (const name of await readdir(snaps.dir).catch(() => [] as string[])) {
      const p = path.join(snaps.dir, name);
      const leftover = name.startsWith('new-'); // an extraction that never committed (none runs now)
      if (!leftover && (!SNAPSHOT_ID.test(name) || inUse.has(name))) continue;
      const bytes = await diskUsage(p);
      // Out of the way first, in one atomic step, so that a crash mid-removal never leaves a damaged snapshot
      // under its real id.
      const doomed = leftover ? p : path.join(snaps.dir, `new-gc-${randomBytes(6).toString('hex')}`);
      if (!leftover) await rename(p, doomed);
      await rm(doomed, { recursive: true, force: true });
      if (!leftover) snapshots.removed++;
      snapshots.bytes += bytes;
    }
    const report: GcReport = {
      blobs: { removed: blobGc.blobsRemoved, bytes: blobGc.bytesFreed },
      snapshots,
      ingest: { removed: ingestGc.filesRemoved, bytes: ingestGc.bytesFreed },
      bundles,
      bytesFreed: 0,
    };
    report.bytesFreed = report.blobs.bytes + report.snapshots.bytes + report.ingest.bytes + report.bundles.bytes;
    return report;
  });
}
