// `tsoci system df`: what images, snapshots, containers and partial downloads take, and how much of it gc (or
// removing stopped containers) would free, in the spirit of `docker system df`.

import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { LayoutStore } from '../layout/store.js';
import { Snapshotter } from '../overlay/snapshots.js';
import { bundleStateDir } from '../bundle/bundle.js';
import { bundleUses, containerRecords, diskUsage, imageUses, madeFrom, snapshotsInUse } from './usage.js';

export interface UsageLine {
  type: 'Images' | 'Snapshots' | 'Containers' | 'Partial downloads';
  total: number;
  active: number;
  bytes: number;
  reclaimable: number;
}

export async function diskUsageReport(root: string, store: LayoutStore, isRunning: (id: string) => Promise<boolean>): Promise<UsageLine[]> {
  const images = await imageUses(store, root);
  const bundles = await bundleUses(root);
  const containers = await containerRecords(root);
  const names = new Set(images.flatMap((i) => i.refs));

  // Images: the blobs in the store; those of images no container was made from are reclaimable.
  const used = images.filter((img) => containers.some((c) => madeFrom(c, img)));
  const blobSize = new Map<string, number>();
  const pinned = new Set<string>();
  for (const img of images) for (const b of img.blobs) blobSize.set(b.digest, b.size);
  for (const img of used) for (const b of img.blobs) pinned.add(b.digest);
  let storeBytes = 0;
  const blobsDir = path.join(store.layoutDir, 'blobs');
  for (const alg of await readdir(blobsDir).catch(() => [] as string[])) {
    for (const hex of await readdir(path.join(blobsDir, alg)).catch(() => [] as string[])) {
      const size = (await stat(path.join(blobsDir, alg, hex)).catch(() => undefined))?.size ?? 0;
      storeBytes += size;
      blobSize.set(`${alg}:${hex}`, size);
    }
  }
  let pinnedBytes = 0;
  for (const d of pinned) pinnedBytes += blobSize.get(d) ?? 0;
  const activeImages = new Set(used.flatMap((img) => img.refs)).size;

  // Snapshots: those no image and no live bundle uses are reclaimable.
  const inUse = await snapshotsInUse(images, bundles);
  const inBundles = new Set(bundles.filter((b) => b.mounted || b.present).flatMap((b) => b.record?.snapshots ?? []));
  const snaps = new Snapshotter(root);
  let snapTotal = 0;
  let snapBytes = 0;
  let snapFree = 0;
  for (const name of await readdir(snaps.dir).catch(() => [] as string[])) {
    const bytes = await diskUsage(path.join(snaps.dir, name));
    snapBytes += bytes;
    if (name.startsWith('new-')) {
      snapFree += bytes;
      continue;
    }
    snapTotal++;
    if (!inUse.has(name)) snapFree += bytes;
  }

  // Containers: their upper dirs, logs and records; stopped ones are reclaimable.
  let cBytes = 0;
  let cFree = 0;
  let running = 0;
  for (const c of containers) {
    const dir = path.join(root, 'containers', c.id);
    const bytes = (await diskUsage(bundleStateDir(root, path.join(dir, 'bundle')))) + (await diskUsage(path.join(dir, 'container.log')));
    cBytes += bytes;
    if (await isRunning(c.id)) running++;
    else cFree += bytes;
  }

  const ingest = await readdir(store.ingestDir).catch(() => [] as string[]);
  let ingestBytes = 0;
  for (const f of ingest) ingestBytes += (await stat(path.join(store.ingestDir, f)).catch(() => undefined))?.size ?? 0;

  return [
    { type: 'Images', total: names.size, active: activeImages, bytes: storeBytes, reclaimable: storeBytes - pinnedBytes },
    { type: 'Snapshots', total: snapTotal, active: inBundles.size, bytes: snapBytes, reclaimable: snapFree },
    { type: 'Containers', total: containers.length, active: running, bytes: cBytes, reclaimable: cFree },
    { type: 'Partial downloads', total: ingest.length, active: 0, bytes: ingestBytes, reclaimable: ingestBytes },
  ];
}
