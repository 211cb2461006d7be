// Applies a layer blob to a directory with the work split over threads: this thread reads the blob and
// decompresses it (zlib runs in the thread pool), while a worker thread hashes the tar stream for the diff ID,
// parses it and does the file system work (extract-worker.ts). (The hash is in the worker: on a streaming pull
// this thread already hashes the compressed bytes for the blob's digest.) Decompressed chunks are transferred,
// not copied, and at most a few MiB per layer are in flight.
//
// The workers are a pool, one per CPU, each extracting several layers at once: a worker costs ~40 ms of CPU to
// start and its own JIT warm-up, and five layers streaming in parallel on two cores gain nothing from five.

import { createReadStream } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Readable } from 'node:stream';
import type { Worker } from 'node:worker_threads';
import { TsociError } from '../errors.js';
import { startWorker } from '../sys/workers.js';
import type { Digest } from '../oci/digest.js';
import type { Compression } from '../oci/media-types.js';
import { decompressor } from './decompress.js';
import type { LayerFormat } from './extract.js';

const MAX_IN_FLIGHT = 8 << 20;
/** An idle worker is kept this long for the next layer, then stopped (it never keeps the process alive). */
const IDLE_MS = 2000;

type Out =
  | { op: 'ack'; job: number; bytes: number }
  | { op: 'lower'; job: number; id: number; rel: string }
  | { op: 'warn'; job: number; msg: string }
  | { op: 'done'; job: number; entries: number; digest: string }
  | { op: 'error'; job: number; code?: string; message?: string; hint?: string };

/** What a job's owner hears from the worker. */
interface JobSink {
  message(m: Out): void;
  /** The worker died: the job is over. */
  lost(e: Error): void;
}

interface PoolWorker {
  worker: Worker;
  jobs: Map<number, JobSink>;
  idle?: NodeJS.Timeout;
}

class ExtractPool {
  private readonly workers: PoolWorker[] = [];
  private nextJob = 0;

  constructor(private readonly size: number) {}

  /** A job on the least busy worker (a new one while there are fewer than `size`). */
  open(sink: JobSink): { id: number; post(m: object, transfer?: ArrayBuffer[]): void; close(): void } {
    const idle = this.workers.find((x) => x.jobs.size === 0);
    const w = idle ?? (this.workers.length < this.size ? this.spawn() : this.workers.reduce((a, b) => (b.jobs.size < a.jobs.size ? b : a)));
    const id = this.nextJob++;
    if (w.idle) clearTimeout(w.idle);
    w.idle = undefined;
    w.jobs.set(id, sink);
    w.worker.ref();
    return {
      id,
      post: (m, transfer) => w.worker.postMessage(m, transfer ?? []),
      close: () => {
        if (!w.jobs.delete(id) || w.jobs.size) return;
        w.worker.unref();
        w.idle = setTimeout(() => this.retire(w), IDLE_MS);
        w.idle.unref();
      },
    };
  }

  private spawn(): PoolWorker {
    const pw: PoolWorker = { worker: startWorker(import.meta.url, 'extract-worker'), jobs: new Map() };
    pw.worker.on('message', (m: Out) => pw.jobs.get(m.job)?.message(m));
    const fail = (e: Error) => {
      this.retire(pw);
      for (const sink of pw.jobs.values()) sink.lost(e);
      pw.jobs.clear();
    };
    pw.worker.on('error', fail);
    pw.worker.on('exit', (code) => fail(new TsociError('INTERNAL', `layer extraction stopped (worker exit ${code})`)));
    this.workers.push(pw);
    return pw;
  }

  private retire(pw: PoolWorker): void {
    const i = this.workers.indexOf(pw);
    if (i >= 0) this.workers.splice(i, 1);
    if (pw.idle) clearTimeout(pw.idle);
    if (!pw.jobs.size) void pw.worker.terminate();
  }
}

let pool: ExtractPool | undefined;

export interface ApplyBlobOptions {
  /** The blob file, or its bytes as a stream (streaming extraction while it downloads). */
  blob: string | Readable;
  compression: Compression;
  diffId: Digest;
  target: string;
  format: LayerFormat;
  /** Overlay form: finds a path in the layers below (hardlinks to lower files, implied parent dirs). */
  lowerLookup?: (rel: string) => Promise<string | undefined>;
  onWarn?: (msg: string) => void;
}

/** Extracts the blob into `target`; resolves with the number of tar entries once the diff ID matched. */
export async function applyBlob(o: ApplyBlobOptions): Promise<number> {
  pool ??= new ExtractPool(Math.max(1, availableParallelism()));
  let inFlight = 0;
  let resume: (() => void) | undefined;
  let job!: ReturnType<ExtractPool['open']>;
  /** Settles when the worker is done with this job (its last message), whatever the outcome. */
  const result = new Promise<{ entries: number; digest: string }>((resolve, reject) => {
    job = pool!.open({
      message(m) {
        if (m.op === 'ack') {
          inFlight -= m.bytes;
          if (inFlight < MAX_IN_FLIGHT / 2) resume?.();
        } else if (m.op === 'lower') {
          // A lookup fails when a lower layer's extraction failed: then this one fails with it (never unhandled).
          (o.lowerLookup ? o.lowerLookup(m.rel) : Promise.resolve(undefined)).then(
            (p) => job.post({ op: 'lower', job: job.id, id: m.id, path: p }),
            (e: unknown) => {
              failed ??= e;
              job.post({ op: 'abort', job: job.id });
            },
          );
        } else if (m.op === 'warn') o.onWarn?.(m.msg);
        else if (m.op === 'done') resolve({ entries: m.entries, digest: m.digest });
        else if (m.op === 'error') reject(new TsociError((m.code as never) ?? 'INTERNAL', m.message ?? 'extraction failed', m.hint ? { hint: m.hint } : {}));
      },
      lost: reject,
    });
  });
  let failed: unknown;
  result.catch((e: unknown) => {
    failed ??= e;
    resume?.(); // no more acks will come
  });
  job.post({ op: 'start', job: job.id, target: o.target, format: o.format });
  try {
    const src = typeof o.blob === 'string' ? createReadStream(o.blob, { highWaterMark: 1 << 20 }) : o.blob;
    // A stream that failed before this extraction started reading will emit nothing more.
    if (src.errored || src.destroyed) throw src.errored ?? new TsociError('INTERNAL', `the bytes of layer ${o.diffId} stopped before extraction began`);
    const dec = await decompressor(o.compression);
    src.on('error', (e: Error) => dec.destroy(e));
    src.pipe(dec);
    for await (const chunk of dec as AsyncIterable<Buffer>) {
      if (failed) break;
      // Transfer the chunk's memory when it owns it whole; copy otherwise (pooled or shared buffers).
      const owned = chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength && !(chunk.buffer instanceof SharedArrayBuffer);
      const buf = owned ? (chunk.buffer as ArrayBuffer) : new Uint8Array(chunk).buffer;
      inFlight += chunk.length;
      job.post({ op: 'data', job: job.id, buf }, [buf]);
      if (inFlight >= MAX_IN_FLIGHT && !failed) await new Promise<void>((r) => (resume = r));
      resume = undefined;
    }
    if (failed) throw failed;
    job.post({ op: 'end', job: job.id });
    const { entries, digest } = await result;
    if (digest !== o.diffId) throw new TsociError('DIGEST_MISMATCH', `layer ${o.diffId}: its uncompressed content has digest ${digest}`);
    return entries;
  } catch (e) {
    // The first failure is the one to report (not the worker's "stopped" that follows the abort).
    failed ??= e;
    // The worker stops this job and answers; only then is it safe for the caller to remove what it wrote.
    job.post({ op: 'abort', job: job.id });
    await result.catch(() => {});
    const code = (failed as { code?: string }).code;
    if (code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR') throw new TsociError('MANIFEST_INVALID', `layer ${o.diffId} is not valid ${o.compression} data`);
    throw failed;
  } finally {
    job.close();
  }
}
