// Layer snapshots: each layer extracted once, in overlay form, into ROOT/snapshots/<id>/fs, keyed by chain ID.
// The id is the chain ID's first 12 hex digits (short, so that 120+ lowerdirs fit one mount option page); the
// full chain ID is kept in the snapshot and checked. A snapshot is built in ROOT/snapshots/new-<random>/ and
// renamed into place after its `committed` marker is written: a half-extracted one is never used, and leftovers
// are swept. Layers extract in parallel in worker threads, one per layer; a layer that hardlinks to a lower
// layer's file waits for that layer.

import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { lstatSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import pLimit from 'p-limit';
import { settleAll } from '../settle.js';
import { TsociError } from '../errors.js';
import { fsyncDir } from '../layout/atomic.js';
import { withLock } from '../layout/lock.js';
import { chainIds } from '../oci/chain.js';
import { type Digest, digestHex } from '../oci/digest.js';
import { layerCompression } from '../oci/media-types.js';
import type { Descriptor } from '../oci/types.js';
import { cleanComponents } from './resolve.js';

/** One layer of an image as the snapshotter needs it: the blob to read and the diff ID to verify. */
export interface LayerRef {
  blob: Descriptor;
  diffId: Digest;
}

/** A committed, extracted layer chain; `dir` is the overlay-form tree of its top layer. */
export interface Snapshot {
  chainId: Digest;
  id: string;
  dir: string;
}

export type SnapshotEvent = { type: 'extract-start'; index: number; chainId: Digest } | { type: 'extract-done'; index: number; chainId: Digest; entries: number; ms: number };

/** Where a layer's bytes come from: its stored blob file, or a stream arriving while the blob is ingested. */
export type LayerInput = string | StreamedLayer;

export interface StreamedLayer {
  /** The blob's bytes, as they arrive. */
  stream: Readable;
  /** Resolves once the whole blob matched its digest: the snapshot is committed only after that. */
  verified: Promise<void>;
  /** The outcome: called without an error once the snapshot is committed, with one when extraction failed. */
  settle(e?: unknown): void;
}

export interface EnsureOptions {
  /** A layer whose snapshot turned out to exist already (another process made it): its input is not read. */
  onUnused?: (index: number) => void;
  /** Layers extracted at once. @default the number of CPUs */
  jobs?: number;
  onEvent?: (e: SnapshotEvent) => void;
  onWarn?: (msg: string) => void;
}

const ID_LEN = 12;

/** Committed snapshots never change, so what is learnt about their directories holds for the process. */
const opaqueCache = new Map<string, boolean>();

function isOpaque(p: string): boolean {
  let v = opaqueCache.get(p);
  if (v === undefined) {
    try {
      v = execFileSync('getfattr', ['--only-values', '-h', '-n', 'trusted.overlay.opaque', '--', p], { stdio: ['ignore', 'pipe', 'ignore'] }).toString() === 'y';
    } catch {
      v = false;
    }
    opaqueCache.set(p, v);
  }
  return v;
}

/** Finds `rel` in overlay-form layer dirs (top first) as the merged view would: whiteouts and opaque dirs hide. */
export function lookupInLayers(dirsTopFirst: string[], rel: string): string | undefined {
  const parts = cleanComponents(rel);
  for (const dir of dirsTopFirst) {
    const p = path.join(dir, ...parts);
    const s = lstatSync(p, { throwIfNoEntry: false });
    if (s) return s.isCharacterDevice() && s.rdev === 0 ? undefined : p;
    // Not in this layer: is it hidden below, by a whiteout or an opaque directory on the way?
    for (let i = parts.length - 1; i >= 1; i--) {
      const a = path.join(dir, ...parts.slice(0, i));
      const as = lstatSync(a, { throwIfNoEntry: false });
      if (!as) continue;
      // A whiteout, a file or link in the way, or an opaque directory: the lower layers' path is hidden.
      if (!as.isDirectory() || isOpaque(a)) return undefined;
    }
  }
  return undefined;
}

export class Snapshotter {
  readonly dir: string;

  constructor(readonly root: string) {
    this.dir = path.join(root, 'snapshots');
  }

  idFor(chainId: Digest): string {
    return digestHex(chainId).slice(0, ID_LEN);
  }

  snapshotDir(chainId: Digest): string {
    return path.join(this.dir, this.idFor(chainId));
  }

  /** The committed snapshot of `chainId`, or undefined. */
  async get(chainId: Digest): Promise<Snapshot | undefined> {
    const d = this.snapshotDir(chainId);
    try {
      // Synchronous: two tiny reads per layer on every bundle; a thread-pool round trip each would cost more.
      const cid = readFileSync(path.join(d, 'chainid'), 'utf8');
      statSync(path.join(d, 'committed'));
      if (cid.trim() !== chainId) throw new TsociError('INTERNAL', `snapshot ${d} belongs to ${cid.trim()}, not ${chainId}`, { hint: 'run tsoci verify --repair' });
      return { chainId, id: this.idFor(chainId), dir: path.join(d, 'fs') };
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  /**
   * Snapshots for every prefix of `layers`, base first; extracts the missing ones (once, under a lock per chain
   * ID, in parallel), reading blob files from `blobPath`.
   */
  async ensure(layers: LayerRef[], input: (d: Descriptor, index: number) => LayerInput | Promise<LayerInput>, opts: EnsureOptions = {}): Promise<Snapshot[]> {
    const cids = chainIds(layers.map((l) => l.diffId));
    mkdirSync(this.dir, { recursive: true });
    const limit = pLimit(Math.max(1, opts.jobs ?? availableParallelism()));
    const done: Promise<Snapshot>[] = [];
    let failure: { e: unknown } | undefined;
    for (let i = 0; i < layers.length; i++) {
      const lowers = done.slice();
      done.push(
        limit(async () => {
          if (failure) throw failure.e; // no new extraction once one has failed
          const have = await this.get(cids[i]!);
          if (have) {
            opts.onUnused?.(i);
            return have;
          }
          return withLock(path.join(this.root, 'locks', `snapshot-${this.idFor(cids[i]!)}.lock`), async () => {
            const again = await this.get(cids[i]!);
            if (again) {
              opts.onUnused?.(i);
              return again;
            }
            return this.extract(i, layers[i]!, cids[i]!, lowers, input, opts);
          });
        }),
      );
      // A failure anywhere surfaces through settleAll below; keep unhandled rejections quiet meanwhile.
      done[i]!.catch((e: unknown) => void (failure ??= { e }));
    }
    return settleAll(done);
  }

  private async extract(index: number, layer: LayerRef, chainId: Digest, lowers: Promise<Snapshot>[], input: (d: Descriptor, index: number) => LayerInput | Promise<LayerInput>, opts: EnsureOptions): Promise<Snapshot> {
    const compression = layerCompression(layer.blob.mediaType);
    if (!compression) throw new TsociError('UNSUPPORTED_MEDIA_TYPE', `layer ${layer.blob.digest} has media type ${layer.blob.mediaType}, which tsoci cannot extract`);
    const tmp = path.join(this.dir, `new-${randomBytes(6).toString('hex')}`);
    const fs = path.join(tmp, 'fs');
    await mkdir(fs, { recursive: true, mode: 0o755 });
    const t0 = Date.now();
    opts.onEvent?.({ type: 'extract-start', index, chainId });
    let src: LayerInput | undefined;
    try {
      src = await input(layer.blob, index);
      const { applyBlob } = await import('./apply-in-worker.js'); // worker_threads and zlib only when extracting
      const entries = await applyBlob({
        blob: typeof src === 'string' ? src : src.stream,
        compression,
        diffId: layer.diffId,
        target: fs,
        format: 'overlay',
        lowerLookup: async (rel) => lookupInLayers((await Promise.all(lowers)).map((l) => l.dir).reverse(), rel),
        ...(opts.onWarn ? { onWarn: opts.onWarn } : {}),
      });
      // A streamed layer is committed only once its blob matched its digest.
      if (typeof src !== 'string') await src.verified;
      await writeFile(path.join(tmp, 'chainid'), `${chainId}\n`);
      await writeFile(path.join(tmp, 'diffid'), `${layer.diffId}\n`);
      await writeFile(path.join(tmp, 'committed'), `${new Date().toISOString()}\n`);
      await fsyncDir(tmp);
      const final = this.snapshotDir(chainId);
      await rm(final, { recursive: true, force: true });
      await rename(tmp, final);
      await fsyncDir(this.dir);
      opts.onEvent?.({ type: 'extract-done', index, chainId, entries, ms: Date.now() - t0 });
      if (src && typeof src !== 'string') src.settle();
      return { chainId, id: this.idFor(chainId), dir: path.join(final, 'fs') };
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      if (src && typeof src !== 'string') src.settle(e);
      throw e;
    }
  }

  /** Removes half-built snapshots left by interrupted extractions (only safe when no extraction runs). */
  async sweepTemporary(): Promise<number> {
    let n = 0;
    for (const d of await readdir(this.dir).catch(() => [] as string[])) {
      if (d.startsWith('new-')) {
        await rm(path.join(this.dir, d), { recursive: true, force: true });
        n++;
      }
    }
    return n;
  }
}

