// The content store: a standard OCI image layout under ROOT/image, fed only through verified, atomic ingest.
// Bytes arrive in ROOT/ingest/<alg>-<hex> (resumable), are hashed as they stream, fsync'd, and renamed into
// blobs/<alg>/<hex> only once size and digest match. Readers never see a partial blob.

import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { TsociError, errnoCode, isRetryable, isTsociError } from '../errors.js';
import { type Digest, Verifier, sha256, splitDigest } from '../oci/digest.js';
import type { Descriptor } from '../oci/types.js';
import { fsyncDir, writeFileAtomic } from './atomic.js';
import { withLock } from './lock.js';
import type { ByteSource } from './source.js';

/** Opens the blob's bytes from `offset` to the end (a Range request, a file at an offset...). */
export type BlobOpener = (offset: number, signal?: AbortSignal) => Promise<ByteSource>;

export interface IngestOptions {
  /** Called with the bytes of the blob held so far (including resumed bytes). */
  onProgress?: (bytes: number) => void;
  signal?: AbortSignal;
  /** Attempts after a transient failure without progress. @default 5 */
  retries?: number;
}

export type IngestResult = 'stored' | 'exists';

const WRITE_BATCH = 1 << 20;

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

  /** Creates the layout's skeleton (oci-layout, index.json, blobs/sha256) if it is missing. */
  async init(): Promise<void> {
    await mkdir(path.join(this.layoutDir, 'blobs', 'sha256'), { recursive: true });
    await mkdir(this.ingestDir, { recursive: true });
    await mkdir(this.locksDir, { recursive: true });
    const layoutFile = path.join(this.layoutDir, 'oci-layout');
    if (!(await exists(layoutFile))) await writeFileAtomic(layoutFile, '{"imageLayoutVersion":"1.0.0"}');
    const indexFile = path.join(this.layoutDir, 'index.json');
    if (!(await exists(indexFile))) {
      await withLock(this.lockFile('index'), async () => {
        if (!(await exists(indexFile))) {
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
      return await readFile(this.blobPath(desc.digest));
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
      return 'exists';
    }
    const [alg, hex] = splitDigest(desc.digest);
    return withLock(this.lockFile(`ingest-${alg}-${hex}`), async () => {
      if (await this.has(desc.digest)) {
        opts.onProgress?.(desc.size);
        return 'exists';
      }
      await mkdir(this.ingestDir, { recursive: true });
      const partial = path.join(this.ingestDir, `${alg}-${hex}`);
      try {
        await this.fill(partial, desc, openAt, opts, what, true);
      } catch (e) {
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
    const fh = await open(partial, 'a+');
    let resumedFrom = 0;
    try {
      const verifier = new Verifier(desc.digest, desc.size, what);
      let offset = (await fh.stat()).size;
      if (offset > desc.size) {
        await fh.truncate(0);
        offset = 0;
      }
      if (offset > 0) {
        // Rebuild the hash state from the bytes already on disk.
        resumedFrom = offset;
        const buf = Buffer.allocUnsafe(Math.min(WRITE_BATCH * 4, offset));
        for (let pos = 0; pos < offset; ) {
          const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, offset - pos), pos);
          if (bytesRead === 0) throw new Error(`short read of ${partial}`);
          verifier.update(buf.subarray(0, bytesRead));
          pos += bytesRead;
        }
        opts.onProgress?.(offset);
      }
      const retries = opts.retries ?? 5;
      let failures = 0;
      while (verifier.bytes < desc.size) {
        const before = verifier.bytes;
        try {
          await copyInto(fh, await openAt(verifier.bytes, opts.signal), verifier, opts);
          if (verifier.bytes < desc.size) {
            throw new TsociError('SIZE_MISMATCH', `${what} ended after ${verifier.bytes} of ${desc.size} bytes`, { retryable: true });
          }
          break;
        } catch (e) {
          if (opts.signal?.aborted || !isRetryable(e)) throw e;
          failures = verifier.bytes > before ? 1 : failures + 1;
          if (failures > retries) throw e;
          const wait = (isTsociError(e) && e.retryAfterMs) || Math.min(200 * 2 ** (failures - 1), 5000);
          await new Promise((r) => setTimeout(r, wait));
        }
      }
      try {
        verifier.check();
      } catch (e) {
        await fh.truncate(0);
        if (mayRestart && resumedFrom > 0) {
          // The bytes kept from an earlier attempt were bad: start once more from scratch.
          await fh.close();
          return await this.fill(partial, desc, openAt, opts, what, false);
        }
        throw e;
      }
      await fh.sync();
    } catch (e) {
      if (isTsociError(e, 'DIGEST_MISMATCH') || isTsociError(e, 'SIZE_MISMATCH')) await unlink(partial).catch(() => {});
      throw e;
    } finally {
      await fh.close().catch(() => {});
    }
  }
}

/** Appends a stream to `fh`, hashing as it goes; 1 MiB writes with one in flight while the next batch fills. */
async function copyInto(fh: FileHandle, src: ByteSource, verifier: Verifier, opts: IngestOptions): Promise<void> {
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let written = verifier.bytes;
  let inflight: Promise<unknown> = Promise.resolve();
  const flush = async () => {
    const bufs = pending;
    const pos = written;
    written += pendingBytes;
    pending = [];
    pendingBytes = 0;
    await inflight;
    inflight = fh.writev(bufs, pos);
  };
  try {
    for await (const chunk of src) {
      verifier.update(chunk);
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes >= WRITE_BATCH) {
        await flush();
        opts.onProgress?.(verifier.bytes);
      }
    }
  } finally {
    // Whatever arrived before a failure is kept, so the next attempt resumes after it.
    if (pendingBytes > 0) await flush();
    await inflight;
    opts.onProgress?.(verifier.bytes);
  }
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
