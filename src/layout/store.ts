// The content store: a standard OCI image layout under ROOT/image, fed only through verified, atomic ingest.
// Bytes arrive in ROOT/ingest/<alg>-<hex> (resumable), are hashed as they stream, fsync'd, and renamed into
// blobs/<alg>/<hex> only once size and digest match. Readers never see a partial blob.

import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { mkdir, rename, stat, truncate, unlink } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { TsociError, errnoCode, isRetryable, isTsociError } from '../errors.js';
import { type Digest, Verifier, sha256, splitDigest } from '../oci/digest.js';
import type { Descriptor } from '../oci/types.js';
import { fsyncDir, writeFileAtomic } from './atomic.js';
import { openSink } from './blob-sink.js';
import { withLock } from './lock.js';
import type { ByteSource } from './source.js';

/** Opens the blob's bytes from `offset` to the end (a Range request, a file at an offset...). */
export type BlobOpener = (offset: number, signal?: AbortSignal) => Promise<ByteSource>;

/**
 * A second consumer of a blob's bytes while it is ingested (streaming extraction): it sees every byte in order
 * from the first (bytes resumed from a partial included) and may slow the transfer down.
 */
export interface IngestTap {
  /** The next bytes; a returned promise holds the transfer until it settles. */
  write(chunk: Uint8Array): void | Promise<void>;
  /** The digest matched; resolves when the tap accepts the blob (rejecting discards it: nothing is stored). */
  verified(): Promise<void>;
  /** The blob was already in the store: no bytes will come, read the stored blob instead. */
  exists(): void;
  /** The transfer failed or the digest did not match. */
  abort(e: unknown): void;
}

export interface IngestOptions {
  /** Called with the bytes of the blob held so far (including resumed bytes). */
  onProgress?: (bytes: number) => void;
  signal?: AbortSignal;
  /** Attempts after a transient failure without progress. @default 5 */
  retries?: number;
  tap?: IngestTap;
}

export type IngestResult = 'stored' | 'exists';


export class LayoutStore {
  /** The OCI image layout directory (ROOT/image). */
  readonly layoutDir: string;
  readonly ingestDir: string;
  readonly locksDir: string;

  constructor(readonly root: string) {
    this.layoutDir = path.join(root, 'image');
    this.ingestDir = path.join(root, 'ingest');
    this.locksDir = path.join(root, 'locks');
  }

  /**
   * Creates the layout's skeleton (oci-layout, index.json, blobs/sha256) if it is missing. Synchronous checks:
   * every command opens the store, and an asynchronous fs call costs a thread-pool round trip.
   */
  async init(): Promise<void> {
    const layoutFile = path.join(this.layoutDir, 'oci-layout');
    const indexFile = path.join(this.layoutDir, 'index.json');
    const blobs = path.join(this.layoutDir, 'blobs', 'sha256');
    if ([layoutFile, indexFile, blobs, this.ingestDir, this.locksDir].every((p) => existsSync(p))) return;
    mkdirSync(blobs, { recursive: true });
    mkdirSync(this.ingestDir, { recursive: true });
    mkdirSync(this.locksDir, { recursive: true });
    if (!existsSync(layoutFile)) await writeFileAtomic(layoutFile, '{"imageLayoutVersion":"1.0.0"}');
    if (!existsSync(indexFile)) {
      await withLock(this.lockFile('index'), async () => {
        if (!existsSync(indexFile)) {
          await writeFileAtomic(indexFile, JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] }));
        }
      });
    }
  }

  lockFile(name: string): string {
    return path.join(this.locksDir, `${name}.lock`);
  }

  blobPath(d: Digest): string {
    const [alg, hex] = splitDigest(d);
    return path.join(this.layoutDir, 'blobs', alg, hex);
  }

  /** True when a committed blob with this digest exists. */
  async has(d: Digest): Promise<boolean> {
    return exists(this.blobPath(d));
  }

  /** A stream of a committed blob (trusted: it was verified on the way in). */
  async open(desc: Pick<Descriptor, 'digest'>, opts: { start?: number; highWaterMark?: number } = {}): Promise<Readable> {
    const p = this.blobPath(desc.digest);
    if (!(await exists(p))) throw new TsociError('BLOB_UNKNOWN', `blob ${desc.digest} is not in the store`, { hint: 'pull the image again' });
    return createReadStream(p, { start: opts.start ?? 0, highWaterMark: opts.highWaterMark ?? 1 << 20 });
  }

  /** A whole small blob (manifest, config), refusing one larger than `max` bytes. */
  async readBytes(desc: Pick<Descriptor, 'digest' | 'size'>, max: number): Promise<Buffer> {
    if (desc.size > max) throw new TsociError('MANIFEST_TOO_LARGE', `blob ${desc.digest} is ${desc.size} bytes, more than the ${max} allowed`);
    try {
      return readFileSync(this.blobPath(desc.digest));
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') throw new TsociError('BLOB_UNKNOWN', `blob ${desc.digest} is not in the store`, { hint: 'pull the image again' });
      throw e;
    }
  }

  /** Stores bytes already in memory (manifests, configs), verified against `desc` when given. */
  async putBytes(bytes: Uint8Array, desc?: Pick<Descriptor, 'digest' | 'size'>, what = 'blob'): Promise<Digest> {
    const d = desc ?? { digest: sha256(bytes), size: bytes.length };
    const v = new Verifier(d.digest, d.size, what);
    v.update(bytes);
    v.check();
    if (await this.has(d.digest)) return d.digest;
    // No lock needed: the temp name is unique and rename is atomic and idempotent for equal content.
    await mkdir(this.ingestDir, { recursive: true });
    const tmp = path.join(this.ingestDir, `mem-${randomBytes(8).toString('hex')}`);
    const target = this.blobPath(d.digest);
    try {
      await writeFileAtomic(tmp, bytes);
      await mkdir(path.dirname(target), { recursive: true });
      await rename(tmp, target);
    } catch (e) {
      await unlink(tmp).catch(() => {});
      if (errnoCode(e) === 'ENOSPC') throw new TsociError('DISK_FULL', `no space left on the device of ${this.root} while storing ${what}`, { cause: e });
      throw e;
    }
    await fsyncDir(path.dirname(target));
    return d.digest;
  }

  /**
   * Stores the blob `desc` from `openAt(offset)`, resuming a partial download left in ROOT/ingest by an earlier
   * attempt or process, retrying transient failures with backoff. Resolves only after size and digest matched, the
   * bytes were fsync'd and the rename into blobs/ is done; on a mismatch nothing is stored.
   */
  async ingest(desc: Descriptor, openAt: BlobOpener, opts: IngestOptions = {}, what = `blob ${desc.digest}`): Promise<IngestResult> {
    if (await this.has(desc.digest)) {
      opts.onProgress?.(desc.size);
      opts.tap?.exists();
      return 'exists';
    }
    const [alg, hex] = splitDigest(desc.digest);
    return withLock(this.lockFile(`ingest-${alg}-${hex}`), async () => {
      if (await this.has(desc.digest)) {
        opts.onProgress?.(desc.size);
        opts.tap?.exists();
        return 'exists';
      }
      await mkdir(this.ingestDir, { recursive: true });
      const partial = path.join(this.ingestDir, `${alg}-${hex}`);
      try {
        await this.fill(partial, desc, openAt, opts, what, true);
        if (opts.tap) {
          try {
            await opts.tap.verified();
          } catch (e) {
            await unlink(partial).catch(() => {});
            throw e;
          }
        }
      } catch (e) {
        opts.tap?.abort(e);
        if (errnoCode(e) === 'ENOSPC' || errnoCode(e) === 'EDQUOT') {
          await unlink(partial).catch(() => {});
          throw new TsociError('DISK_FULL', `no space left on the device of ${this.root} while storing ${what}`, {
            cause: e,
            hint: 'free some space (tsoci gc, tsoci rmi) or choose another --root',
          });
        }
        throw e;
      }
      const target = this.blobPath(desc.digest);
      await mkdir(path.dirname(target), { recursive: true });
      await rename(partial, target);
      await fsyncDir(path.dirname(target));
      return 'stored';
    });
  }

  private async fill(partial: string, desc: Descriptor, openAt: BlobOpener, opts: IngestOptions, what: string, mayRestart: boolean): Promise<void> {
    const [alg] = splitDigest(desc.digest);
    let sink = await openSink(partial, alg);
    if (sink.bytes > desc.size) {
      await sink.abort();
      await truncate(partial, 0);
      sink = await openSink(partial, alg);
    }
    const resumedFrom = sink.bytes;
    let finished = false;
    const tap = opts.tap;
    try {
      if (resumedFrom > 0) opts.onProgress?.(resumedFrom);
      if (tap && resumedFrom > 0) await feedPartial(partial, resumedFrom, tap);
      const retries = opts.retries ?? 5;
      let failures = 0;
      while (sink.bytes < desc.size) {
        const before = sink.bytes;
        try {
          let reported = sink.bytes;
          await consume(await openAt(sink.bytes, opts.signal), (chunk) => {
            if (sink.bytes + chunk.length > desc.size) {
              throw new TsociError('SIZE_MISMATCH', `${what} is longer than its descriptor says (${desc.size} bytes)`);
            }
            const w = sink.write(chunk);
            const t = tap?.write(chunk);
            if (sink.bytes - reported >= 1 << 20) {
              reported = sink.bytes;
              opts.onProgress?.(reported);
            }
            return w && t ? Promise.all([w, t]).then(() => {}) : (w ?? t);
          });
          if (sink.bytes < desc.size) {
            throw new TsociError('SIZE_MISMATCH', `${what} ended after ${sink.bytes} of ${desc.size} bytes`, { retryable: true });
          }
        } catch (e) {
          // Whatever arrived before the failure is kept, so the next attempt resumes after it.
          await sink.flush();
          if (opts.signal?.aborted || !isRetryable(e)) throw e;
          failures = sink.bytes > before ? 1 : failures + 1;
          if (failures > retries || (isTsociError(e, 'TIMEOUT') && failures > 1)) throw e;
          const wait = (isTsociError(e) && e.retryAfterMs) || Math.min(200 * 2 ** (failures - 1), 5000);
          await new Promise((r) => setTimeout(r, wait));
        }
      }
      opts.onProgress?.(sink.bytes);
      finished = true;
      const got = `${alg}:${await sink.finish()}`;
      if (got !== desc.digest) {
        await unlink(partial).catch(() => {});
        // Bytes kept from an earlier attempt may have been the bad ones: start once more from scratch.
        // (Not when tapped: the tap has consumed the bad bytes; the next attempt starts clean.)
        if (mayRestart && resumedFrom > 0 && !tap) return await this.fill(partial, desc, openAt, opts, what, false);
        throw new TsociError('DIGEST_MISMATCH', `${what} has digest ${got}, expected ${desc.digest}`, {
          hint: 'the registry or file served corrupt content; nothing was stored',
        });
      }
    } catch (e) {
      if (!finished) await sink.abort();
      // A partial is kept for the next attempt only when it holds something worth resuming.
      if ((isTsociError(e, 'SIZE_MISMATCH') && !e.retryable) || (!finished && sink.bytes === 0)) await unlink(partial).catch(() => {});
      throw e;
    }
  }
}

/** Gives a tap the bytes a resumed partial already holds. */
async function feedPartial(partial: string, bytes: number, tap: IngestTap): Promise<void> {
  for await (const c of createReadStream(partial, { start: 0, end: bytes - 1, highWaterMark: 1 << 20 })) {
    const w = tap.write(c as Buffer);
    if (w) await w;
  }
}

/**
 * Feeds every chunk of `src` to `onChunk`, waiting when it returns a promise. Node streams are read through
 * 'data' events, which costs far less per chunk than async iteration at hundreds of MB/s.
 */
function consume(src: ByteSource, onChunk: (c: Uint8Array) => Promise<void> | void): Promise<void> {
  if (!(src instanceof Readable)) {
    return (async () => {
      for await (const c of src) {
        const w = onChunk(c);
        if (w) await w;
      }
    })();
  }
  return new Promise<void>((resolve, reject) => {
    let failed = false;
    const fail = (e: unknown) => {
      if (failed) return;
      failed = true;
      src.destroy();
      reject(e);
    };
    src.on('data', (c: Uint8Array) => {
      if (failed) return;
      try {
        const w = onChunk(c);
        if (w) {
          src.pause();
          w.then(() => src.resume(), fail);
        }
      } catch (e) {
        fail(e);
      }
    });
    src.once('end', () => (failed ? undefined : resolve()));
    src.once('error', fail);
    src.once('close', () => {
      if (!failed && !src.readableEnded) fail(Object.assign(new Error('stream closed before its end'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    });
  });
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return false;
    throw e;
  }
}
