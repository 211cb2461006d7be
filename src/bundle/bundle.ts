// Runtime bundles: DIR/config.json plus DIR/rootfs, an overlay of the image's snapshots (upper and work dirs in
// ROOT/bundles/<id>, so DIR holds only the bundle), or a flattened copy where overlay cannot be mounted.
// Directories and records are made and removed synchronously: an asynchronous fs call costs a thread-pool round
// trip, and making and removing a bundle is mostly such calls (`tsoci run` pays for every one).

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, rmdirSync } from 'node:fs';
import path from 'node:path';
import { TsociError } from '../errors.js';
import { writeFileAtomic } from '../layout/atomic.js';
import { withLock } from '../layout/lock.js';
import type { StoredImage } from '../layout/image.js';
import type { LayoutStore } from '../layout/store.js';
import { layerCompression } from '../oci/media-types.js';
import { isMountPoint, mountAt, overlayMount, unmountAt } from '../overlay/mount.js';
import { type LayerRef, type SnapshotEvent, Snapshotter } from '../overlay/snapshots.js';
import { type Overrides, toRuntimeSpec } from './convert.js';
import type { Spec } from './spec.js';

export interface BundleOptions {
  /** Flattened copy instead of an overlay mount. */
  copy?: boolean;
  overrides?: Overrides;
  onWarn?: (msg: string) => void;
  onEvent?: (e: SnapshotEvent) => void;
}

export interface Bundle {
  dir: string;
  rootfs: string;
  mode: 'overlay' | 'copy';
  spec: Spec;
  /** Where tsoci keeps this bundle's upper/work dirs and record. */
  stateDir: string;
}

function bundleId(dir: string): string {
  return createHash('sha256').update(dir).digest('hex').slice(0, 16);
}

export function bundleStateDir(root: string, dir: string): string {
  return path.join(root, 'bundles', bundleId(path.resolve(dir)));
}

export function layerRefs(img: StoredImage): LayerRef[] {
  return img.manifest.layers.map((blob, i) => ({ blob, diffId: img.config.rootfs.diff_ids[i]! }));
}

/** Copy mode: every layer applied in order onto `rootfs`, whiteouts deleting. */
async function flatten(store: LayoutStore, layers: LayerRef[], rootfs: string, onWarn?: (m: string) => void): Promise<void> {
  for (const l of layers) {
    const compression = layerCompression(l.blob.mediaType);
    if (!compression) throw new TsociError('UNSUPPORTED_MEDIA_TYPE', `layer ${l.blob.digest} has media type ${l.blob.mediaType}, which tsoci cannot extract`);
    const { applyBlob } = await import('../overlay/apply-in-worker.js');
    await applyBlob({ blob: store.blobPath(l.blob.digest), compression, diffId: l.diffId, target: rootfs, format: 'flat', ...(onWarn ? { onWarn } : {}) });
  }
}

/** What ROOT/bundles/<id>/bundle.json says; written last, so a state dir without it is a half-made bundle. */
export interface BundleRecord {
  dir: string;
  image: string;
  manifest: string;
  mode: 'overlay' | 'copy';
  /** Ids of the snapshots the overlay's lowerdirs are (overlay mode). */
  snapshots?: string[];
  created: string;
}

/** One bundle dir is built or removed by one process at a time. */
function withBundleLock<T>(root: string, bdir: string, fn: () => Promise<T>): Promise<T> {
  return withLock(path.join(root, 'locks', `bundle-${bundleId(bdir)}.lock`), fn);
}

/** Builds a bundle for `img` in `dir` (created, mode 0700). */
export function createBundle(root: string, store: LayoutStore, img: StoredImage, dir: string, opts: BundleOptions = {}): Promise<Bundle> {
  const bdir = path.resolve(dir);
  return withBundleLock(root, bdir, () => buildBundle(root, store, img, bdir, opts));
}

async function buildBundle(root: string, store: LayoutStore, img: StoredImage, bdir: string, opts: BundleOptions): Promise<Bundle> {
  const rootfs = path.join(bdir, 'rootfs');
  const stateDir = bundleStateDir(root, bdir);
  // A state dir without its record is what a killed `bundle` left: nobody else can be building here (we hold the
  // bundle's lock), so it is cleaned up and built again.
  if (existsSync(stateDir) && !existsSync(path.join(stateDir, 'bundle.json'))) await removeBundleFiles(root, bdir);
  if (existsSync(path.join(bdir, 'config.json')) || isMountPoint(rootfs)) {
    throw new TsociError('INVALID_ARGUMENT', `${bdir} already holds a bundle`, { hint: `remove it first: tsoci unbundle ${bdir}` });
  }
  mkdirSync(bdir, { recursive: true, mode: 0o700 });
  mkdirSync(rootfs, { recursive: true, mode: 0o755 });
  // The state dir exists from here on, so a crash at any later point is recognised as a half-made bundle.
  mkdirSync(stateDir, { recursive: true });
  await writeFileAtomic(path.join(stateDir, 'dir'), bdir + '\n');
  const layers = layerRefs(img);
  let mode: 'overlay' | 'copy' = opts.copy ? 'copy' : 'overlay';
  let snapshots: string[] | undefined;
  try {
    if (mode === 'overlay') {
      const snaps = await new Snapshotter(root).ensure(layers, (d) => store.blobPath(d.digest), { ...(opts.onEvent ? { onEvent: opts.onEvent } : {}), ...(opts.onWarn ? { onWarn: opts.onWarn } : {}) });
      snapshots = snaps.map((s) => s.id);
      mkdirSync(path.join(stateDir, 'upper'), { recursive: true, mode: 0o755 });
      mkdirSync(path.join(stateDir, 'work'), { recursive: true });
      const lowers = snaps.length ? snaps.map((s) => s.dir).reverse() : [path.join(stateDir, 'empty')];
      if (!snaps.length) mkdirSync(lowers[0]!, { recursive: true });
      try {
        await mountAt(overlayMount(lowers, { upper: path.join(stateDir, 'upper'), work: path.join(stateDir, 'work') }), rootfs);
      } catch (e) {
        opts.onWarn?.(`overlay mount failed (${(e as Error).message}); making a flattened copy instead`);
        mode = 'copy';
        snapshots = undefined;
        rmSync(path.join(stateDir, 'upper'), { recursive: true, force: true });
        rmSync(path.join(stateDir, 'work'), { recursive: true, force: true });
      }
    }
    if (mode === 'copy') {
      await flatten(store, layers, rootfs, opts.onWarn);
    }
    const { spec, warnings } = toRuntimeSpec(img.config, rootfs, opts.overrides ?? {});
    for (const w of warnings) opts.onWarn?.(w);
    await writeFileAtomic(path.join(bdir, 'config.json'), JSON.stringify(spec, null, 2) + '\n', 0o600);
    const record: BundleRecord = { dir: bdir, image: img.ref, manifest: img.manifestDesc.digest, mode, ...(snapshots ? { snapshots } : {}), created: new Date().toISOString() };
    await writeFileAtomic(path.join(stateDir, 'bundle.json'), JSON.stringify(record, null, 2) + '\n');
    return { dir: bdir, rootfs, mode, spec, stateDir };
  } catch (e) {
    // A half-made bundle is not a bundle yet: remove what was made, whatever stage failed.
    await removeBundleFiles(root, bdir).catch(() => {});
    throw e;
  }
}

/** Unmounts and removes a bundle made by createBundle (config.json, rootfs, state; DIR itself when empty). */
export function destroyBundle(root: string, dir: string): Promise<void> {
  const bdir = path.resolve(dir);
  return withBundleLock(root, bdir, () => destroyLocked(root, bdir));
}

async function destroyLocked(root: string, bdir: string): Promise<void> {
  const stateDir = bundleStateDir(root, bdir);
  if (!existsSync(stateDir) && !existsSync(path.join(bdir, 'config.json'))) {
    throw new TsociError('INVALID_ARGUMENT', `${bdir} is not a bundle made by tsoci`);
  }
  let rec: { dir: string } | undefined;
  try {
    rec = JSON.parse(readFileSync(path.join(stateDir, 'bundle.json'), 'utf8')) as { dir: string };
  } catch {}
  if (rec && rec.dir !== bdir) throw new TsociError('INTERNAL', `[internal] bundle record ${stateDir} names ${rec.dir}`);
  await removeBundleFiles(root, bdir);
}

/** What a bundle (or a half-made one) consists of: the rootfs mount, the rootfs, config.json, the state dir. */
async function removeBundleFiles(root: string, bdir: string): Promise<void> {
  const rootfs = path.join(bdir, 'rootfs');
  await unmountAt(rootfs);
  // Never remove through a mount: that would delete inside the overlay.
  if (isMountPoint(rootfs)) throw new TsociError('INTERNAL', `${rootfs} is still mounted`, { hint: `unmount it by hand: umount ${rootfs}` });
  rmSync(rootfs, { recursive: true, force: true });
  rmSync(path.join(bdir, 'config.json'), { force: true });
  rmSync(bundleStateDir(root, bdir), { recursive: true, force: true });
  try {
    if (readdirSync(bdir).length === 0) rmdirSync(bdir);
  } catch {}
}
