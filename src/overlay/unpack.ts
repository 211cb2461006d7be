// Streaming unpack: each layer is extracted into its snapshot while it downloads, in one pass. The store's
// ingest hashes the bytes and writes the blob; a tap hands the same bytes to the snapshotter, which inflates,
// checks the diff ID and extracts in a worker. The two commit in order: the snapshot once the blob's digest
// matched, the blob once the snapshot is committed; a mismatch on either side discards both.

import { availableParallelism } from 'node:os';
import { PassThrough } from 'node:stream';
import type { LayoutStore, IngestTap } from '../layout/store.js';
import type { Descriptor, ImageConfig, Manifest } from '../oci/types.js';
import { type LayerInput, type Snapshot, type SnapshotEvent, Snapshotter } from './snapshots.js';

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

const BATCH = 4 << 20;
const BATCH_MS = 50;

/** One layer's meeting point: the ingest writes into it, the snapshotter reads from it. */
class LayerFeed implements IngestTap {
  /** What the snapshotter extracts from: the stream (bytes arriving) or the stored blob. */
  readonly input = deferred<LayerInput>();
  private stream: PassThrough | undefined;
  private readonly digestOk = deferred<void>();
  private readonly settled = deferred<void>();
  /** Set when the snapshot side is out (failed or not needed): bytes go nowhere. */
  private out: { error?: unknown } | undefined;
  private drained: (() => void) | undefined;
  private aborted = false;

  constructor(private readonly blobFile: string) {}

  private open(): PassThrough {
    if (!this.stream) {
      this.stream = new PassThrough({ highWaterMark: 4 << 20 });
      this.stream.on('drain', () => this.drained?.());
      // The extractor may not have started reading when the transfer fails: it sees the error when it does.
      this.stream.on('error', () => {});
      this.input.resolve({ stream: this.stream, verified: this.digestOk.promise, settle: (e) => this.settle(e) });
    }
    return this.stream;
  }

  /**
   * Network chunks are small: they go on in batches of 4 MiB, fewer and larger steps for zlib and the worker. On a
   * slow network a batch would wait long for its 4 MiB: what arrived goes on after BATCH_MS anyway.
   */
  private batch: Uint8Array[] = [];
  private batchBytes = 0;
  private timer: NodeJS.Timeout | undefined;

  write(chunk: Uint8Array): void | Promise<void> {
    if (this.out) {
      if (this.out.error) throw this.out.error; // stops the transfer: the blob is not wanted
      return;
    }
    this.batch.push(chunk);
    this.batchBytes += chunk.length;
    if (this.batchBytes >= BATCH) return this.flush();
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      // Not when the extractor is behind (the next full batch waits for it) or the layer is over.
      if (!this.out && !this.aborted && !this.stream?.writableNeedDrain) void this.flush();
    }, BATCH_MS);
  }

  private stopTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private flush(): void | Promise<void> {
    this.stopTimer();
    if (!this.batchBytes) return;
    const buf = this.batch.length === 1 ? this.batch[0]! : Buffer.concat(this.batch, this.batchBytes);
    this.batch = [];
    this.batchBytes = 0;
    if (this.open().write(buf)) return;
    return new Promise<void>((r) => (this.drained = r));
  }

  verified(): Promise<void> {
    if (!this.out) {
      void this.flush();
      this.open().end();
    }
    this.digestOk.resolve();
    return this.settled.promise;
  }

  exists(): void {
    this.input.resolve(this.blobFile);
    this.settled.resolve();
  }

  abort(e: unknown): void {
    this.aborted = true;
    this.stopTimer();
    this.digestOk.reject(e);
    this.input.reject(e);
    this.stream?.destroy(e instanceof Error ? e : new Error(String(e)));
  }

  /** From the snapshot side: committed (no error), failed, or not needed. */
  settle(e?: unknown): void {
    this.stopTimer();
    if (e === undefined) {
      this.out ??= {};
      this.settled.resolve();
    } else {
      this.out = { error: e };
      this.settled.reject(e);
    }
    this.drained?.();
    this.stream?.resume(); // whatever is buffered is dropped
  }
}

export interface StreamingUnpack {
  /** For copyImage's tapLayers: starts the snapshotter and gives the tap for each layer. */
  tapLayers(manifest: Manifest, config: ImageConfig): (desc: Descriptor, index: number) => IngestTap | undefined;
  /** Stops: the copy failed before every layer was handed over. */
  abort(e: unknown): void;
  /** The image's snapshots, base first, once all are committed. */
  done(): Promise<Snapshot[]>;
}

/** Streaming extraction of one image's layers into ROOT/snapshots while copyImage ingests them into `store`. */
export function streamingUnpack(root: string, store: LayoutStore, opts: { onEvent?: (e: SnapshotEvent) => void; onWarn?: (m: string) => void } = {}): StreamingUnpack {
  const snapshotter = new Snapshotter(root);
  let feeds: LayerFeed[] = [];
  let result: Promise<Snapshot[]> | undefined;
  const started = deferred<void>();
  return {
    tapLayers(manifest, config) {
      feeds = manifest.layers.map((d) => new LayerFeed(store.blobPath(d.digest)));
      const layers = manifest.layers.map((blob, i) => ({ blob, diffId: config.rootfs.diff_ids[i]! }));
      // One extraction per CPU, as many as the pool has workers (the work is CPU-bound: all five layers of the
      // big image at once took 25 MB more and were no faster). A layer waiting for a slot holds its download
      // back; the layers before it free the slots, so every download completes.
      result = snapshotter.ensure(layers, (_d, i) => feeds[i]!.input.promise, {
        jobs: Math.max(2, availableParallelism()),
        onUnused: (i) => feeds[i]!.settle(),
        ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
        ...(opts.onWarn ? { onWarn: opts.onWarn } : {}),
      });
      result.catch(() => {});
      started.resolve();
      return (_desc, index) => feeds[index];
    },
    abort(e) {
      for (const f of feeds) f.abort(e);
      started.reject(e);
    },
    async done() {
      await started.promise;
      return result!;
    },
  };
}
