// Applies a layer blob to a directory with the work split over threads: this thread reads the blob and
// decompresses it (zlib runs in the thread pool), while a worker thread hashes the tar stream for the diff ID,
// parses it and does the file system work (extract-worker.ts). (The hash moved to the worker: on a streaming
// pull this thread already hashes the compressed bytes for the blob's digest.) Decompressed chunks are transferred, not copied, and at most
// a few MiB are in flight.

import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { TsociError } from '../errors.js';
import type { Digest } from '../oci/digest.js';
import type { Compression } from '../oci/media-types.js';
import { decompressor } from './decompress.js';
import type { LayerFormat } from './extract.js';

const MAX_IN_FLIGHT = 8 << 20;

/** Starts the extraction worker: the module next to this one (dist/, the bundle, or src/ under tsx). */
function startWorker(workerData: unknown): Worker {
  const self = import.meta.url;
  if (self.endsWith('.ts')) {
    // The sources run under tsx, whose loader a worker must register again.
    const url = new URL('./extract-worker.ts', self).href;
    const api = import.meta.resolve('tsx/esm/api');
    return new Worker(`import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(url)}); });`, { eval: true, workerData });
  }
  return new Worker(new URL('./extract-worker.js', self), { workerData });
}

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
  const w = startWorker({ target: o.target, format: o.format });
  let inFlight = 0;
  let resume: (() => void) | undefined;
  const result = new Promise<{ entries: number; digest: string }>((resolve, reject) => {
    w.on('message', (m: { op: string; id?: number; rel?: string; bytes?: number; entries?: number; digest?: string; code?: string; message?: string; hint?: string; msg?: string }) => {
      if (m.op === 'ack') {
        inFlight -= m.bytes!;
        if (inFlight < MAX_IN_FLIGHT / 2) resume?.();
      } else if (m.op === 'lower') {
        // A lookup fails when a lower layer's extraction failed: then this one fails with it (never unhandled).
        (o.lowerLookup ? o.lowerLookup(m.rel!) : Promise.resolve(undefined)).then((p) => w.postMessage({ op: 'lower', id: m.id, path: p }), reject);
      } else if (m.op === 'warn') o.onWarn?.(m.msg!);
      else if (m.op === 'done') resolve({ entries: m.entries!, digest: m.digest! });
      else if (m.op === 'error') reject(new TsociError((m.code as never) ?? 'INTERNAL', m.message ?? 'extraction failed', m.hint ? { hint: m.hint } : {}));
    });
    w.on('error', reject);
    w.on('exit', (code) => reject(new TsociError('INTERNAL', `layer extraction stopped (exit ${code})`)));
  });
  result.catch(() => {});
  let failed: unknown;
  result.catch((e: unknown) => (failed = e));
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
      w.postMessage({ op: 'data', buf }, [buf]);
      if (inFlight >= MAX_IN_FLIGHT) await new Promise<void>((r) => (resume = r));
      resume = undefined;
    }
    if (!failed) w.postMessage({ op: 'end' });
    const { entries, digest } = await result;
    if (digest !== o.diffId) throw new TsociError('DIGEST_MISMATCH', `layer ${o.diffId}: its uncompressed content has digest ${digest}`);
    return entries;
  } catch (e) {
    await w.terminate();
    if ((e as { code?: string }).code === 'Z_DATA_ERROR' || (e as { code?: string }).code === 'Z_BUF_ERROR') {
      throw new TsociError('MANIFEST_INVALID', `layer ${o.diffId} is not valid ${o.compression} data`);
    }
    throw failed ?? e;
  }
}
