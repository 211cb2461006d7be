// Who uses what in a root: the images index.json names (their manifests and snapshot chains), the bundles with
// their records and mounts, the containers and the image each was made from. gc, verify, rmi and `system df`
// all decide from this one picture.

import { existsSync } from 'node:fs';
import { lstat, readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { BundleRecord } from '../bundle/bundle.js';
import { readIndex, REF_NAME } from '../layout/refs.js';
import type { LayoutStore } from '../layout/store.js';
import { chainIds } from '../oci/chain.js';
import type { Digest } from '../oci/digest.js';
import { isIndex, isManifest } from '../oci/media-types.js';
import { type Descriptor, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, parseImageConfig, parseManifestOrIndex } from '../oci/types.js';
import { isMountPoint } from '../overlay/mount.js';
import { Snapshotter } from '../overlay/snapshots.js';
import type { ContainerRecord } from '../runtime/containers.js';

/** One image manifest reachable from index.json, with what it needs. */
export interface ImageUse {
  /** The names (index.json entries) that reach this manifest. */
  refs: string[];
  /** The index.json entry's digest (an index or this manifest). */
  top: Digest;
  manifest: Digest;
  /** Blobs of the image: manifest, config, layers (and the index above it). */
  blobs: Descriptor[];
  /** Snapshot ids of its layer chain, base first. */
  snapshots: string[];
}

export interface BundleUse {
  stateDir: string;
  /** The bundle dir, from the record or (for one a crash left half-made) from the `dir` note. */
  dir: string | undefined;
  record: BundleRecord | undefined;
  mounted: boolean;
  /** config.json still exists in the bundle dir. */
  present: boolean;
}

/** Every manifest index.json reaches that is present with its config. Broken entries are skipped (verify names them). */
export async function imageUses(store: LayoutStore, root: string): Promise<ImageUse[]> {
  const snap = new Snapshotter(root);
  const byManifest = new Map<Digest, ImageUse>();
  const visit = async (ref: string, top: Descriptor, d: Descriptor, above: Descriptor[]): Promise<void> => {
    if (!(await store.has(d.digest))) return;
    let doc;
    try {
      doc = parseManifestOrIndex(await store.readBytes(d, MAX_MANIFEST_BYTES), d.mediaType, `manifest ${d.digest}`);
    } catch {
      return;
    }
    if (doc.kind === 'index') {
      for (const m of doc.index.manifests) if (isManifest(m.mediaType) || isIndex(m.mediaType)) await visit(ref, top, m, [...above, d]);
      return;
    }
    const known = byManifest.get(d.digest);
    if (known) {
      if (!known.refs.includes(ref)) known.refs.push(ref);
      return;
    }
    let diffIds: Digest[] = [];
    try {
      diffIds = parseImageConfig(await store.readBytes(doc.manifest.config, MAX_CONFIG_BYTES), `config ${doc.manifest.config.digest}`).rootfs.diff_ids;
    } catch {
      /* a missing or broken config: no snapshots to keep for it */
    }
    byManifest.set(d.digest, {
      refs: [ref],
      top: top.digest,
      manifest: d.digest,
      blobs: [...above, d, doc.manifest.config, ...doc.manifest.layers],
      snapshots: chainIds(diffIds).map((c) => snap.idFor(c)),
    });
  };
  for (const e of (await readIndex(store)).manifests) await visit(e.annotations?.[REF_NAME] ?? e.digest, e, e, []);
  return [...byManifest.values()];
}

/** The bundles tsoci made (ROOT/bundles/*), complete or half-made. */
export async function bundleUses(root: string): Promise<BundleUse[]> {
  const base = path.join(root, 'bundles');
  const out: BundleUse[] = [];
  for (const id of await readdir(base).catch(() => [] as string[])) {
    const stateDir = path.join(base, id);
    const record = await readFile(path.join(stateDir, 'bundle.json'), 'utf8')
      .then((t) => JSON.parse(t) as BundleRecord)
      .catch(() => undefined);
    const dir = record?.dir ?? (await readFile(path.join(stateDir, 'dir'), 'utf8').then((t) => t.trim()).catch(() => undefined));
    out.push({
      stateDir,
      dir,
      record,
      mounted: !!dir && isMountPoint(path.join(dir, 'rootfs')),
      present: !!dir && existsSync(path.join(dir, 'config.json')),
    });
  }
  return out;
}

/** Whether container `c` was made from `img`: by manifest digest, or by name for records older than that field. */
export function madeFrom(c: ContainerRecord, img: ImageUse): boolean {
  return c.imageDigest ? c.imageDigest === img.manifest : img.refs.includes(c.image);
}

/** Container records (ROOT/containers/<id>/record.json). */
export async function containerRecords(root: string): Promise<ContainerRecord[]> {
  const { Containers } = await import('../runtime/containers.js');
  return new Containers(root).records();
}

/**
 * Snapshot ids something still needs, each with who: images in index.json, and bundles that are mounted or
 * still present (a container's bundle is one of them). A bundle without a snapshot list in its record (copy
 * mode) needs none.
 */
export async function snapshotsInUse(images: ImageUse[], bundles: BundleUse[]): Promise<Map<string, string[]>> {
  const use = new Map<string, string[]>();
  const add = (id: string, who: string) => use.set(id, [...(use.get(id) ?? []), who]);
  for (const img of images) for (const id of img.snapshots) add(id, `image ${img.refs[0]}`);
  for (const b of bundles) {
    if (!b.mounted && !b.present) continue;
    for (const id of b.record?.snapshots ?? []) add(id, `bundle ${b.dir}`);
  }
  return use;
}

/** Bytes a tree takes on disk (allocated blocks; hardlinks counted once). */
export async function diskUsage(p: string, seen = new Set<string>()): Promise<number> {
  let st;
  try {
    st = await lstat(p);
  } catch {
    return 0;
  }
  const key = `${st.dev}:${st.ino}`;
  if (seen.has(key)) return 0;
  seen.add(key);
  let n = st.blocks * 512;
  if (st.isDirectory()) for (const e of await readdir(p).catch(() => [] as string[])) n += await diskUsage(path.join(p, e), seen);
  return n;
}
