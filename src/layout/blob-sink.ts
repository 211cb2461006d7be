// Where ingest puts bytes: hashed on the main thread and appended to a partial file in ROOT/ingest with 1 MiB
// writes, one in flight while the next batch fills. (A worker thread for hashing was measured: ~10% faster on
// large pulls but +90 MB RSS; not worth it on two cores where the registry competes for CPU.)

import { createHash } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';

export interface BlobSink {
  /** Bytes held: those the partial file had, plus those accepted since. */
  readonly bytes: number;
  /** Hashes and (soon) writes a chunk; resolves when more may be sent. */
  write(chunk: Uint8Array): Promise<void> | void;
  /** Resolves once every accepted byte is in the file. */
  flush(): Promise<void>;
  /** Flushes, fsyncs, closes; the hex digest of all bytes held. */
  finish(): Promise<string>;
  /** Closes without a digest (the partial stays for a later resume). */
  abort(): Promise<void>;
}

const BATCH = 1 << 20;

class MainThreadSink implements BlobSink {
  private hash;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private written: number;
  private inflight: Promise<unknown> = Promise.resolve();
  bytes: number;

  private constructor(private fh: FileHandle, alg: string, size: number) {
    this.hash = createHash(alg);
    this.bytes = size;
    this.written = size;
  }

  static async open(path: string, alg: string): Promise<MainThreadSink> {
    const fh = await open(path, 'a+');
    const size = (await fh.stat()).size;
    const s = new MainThreadSink(fh, alg, size);
    const buf = Buffer.allocUnsafe(Math.min(4 << 20, Math.max(size, 1)));
    for (let pos = 0; pos < size; ) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - pos), pos);
      if (bytesRead === 0) break;
      s.hash.update(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
    return s;
  }

  write(chunk: Uint8Array): Promise<void> | void {
    this.hash.update(chunk);
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this.bytes += chunk.length;
    if (this.pendingBytes >= BATCH) return this.send();
  }

  private async send(): Promise<void> {
    const bufs = this.pending;
    const pos = this.written;
    this.written += this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    await this.inflight;
    this.inflight = this.fh.writev(bufs, pos);
  }

  async flush(): Promise<void> {
    if (this.pendingBytes) await this.send();
    await this.inflight;
  }

  async finish(): Promise<string> {
    await this.flush();
    await this.fh.sync();
    await this.fh.close();
    return this.hash.digest('hex');
  }

  async abort(): Promise<void> {
    await this.flush().catch(() => {});
    await this.fh.close().catch(() => {});
  }
}

/** A sink appending to `path` (created if missing), after hashing what it already holds. */
export function openSink(path: string, alg: string): Promise<BlobSink> {
  return MainThreadSink.open(path, alg);
}
