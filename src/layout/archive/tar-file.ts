// The entries of a tar archive by name, readable at any offset, without unpacking it: a tar file on disk is
// indexed by walking its headers with positional reads (data is never read), and its members are read in place;
// a stream (stdin, or a compressed archive) is read once, each member going to a numbered file in a staging
// directory. Names are only keys here, never paths joined to anything: nothing an archive names is written.

import { createReadStream } from 'node:fs';
import { type FileHandle, mkdir, open, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { TsociError } from '../../errors.js';

export interface Member {
  /** The member's bytes from `offset` to its end. */
  open(offset?: number): Readable;
  size: number;
}

export interface TarFiles {
  /** Regular files by normalized name (no leading `./` or `/`). */
  readonly members: Map<string, Member>;
  /** Reads a small member whole, refusing one over `max` bytes. */
  read(name: string, max: number): Promise<Buffer>;
  close(): Promise<void>;
}

/** A member name as a key: `./a//b` and `a/b` are one name; undefined for names that climb out or are absolute. */
export function memberKey(name: string): string | undefined {
  if (name.startsWith('/')) return undefined;
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) return undefined;
  return parts.join('/');
}

function invalid(what: string, msg: string): TsociError {
  return new TsociError('ARCHIVE_INVALID', `${what}: ${msg}`);
}

/** A small member read whole: refused when missing or over `max` bytes (what `TarFiles.read` does). */
export async function readMember(m: Member | undefined, name: string, max: number, what: string): Promise<Buffer> {
  if (!m) throw invalid(what, `it has no ${name}`);
  if (m.size > max) throw new TsociError('MANIFEST_TOO_LARGE', `${what}: ${name} is ${m.size} bytes, over the ${max}-byte limit`);
  const chunks: Buffer[] = [];
  for await (const c of m.open()) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function parseOctal(b: Buffer): number {
  // Base-256 (GNU) for sizes above 8 GiB.
  if (b[0]! & 0x80) {
    let v = b[0]! & 0x7f;
    for (let i = 1; i < b.length; i++) v = v * 256 + b[i]!;
    return v;
  }
  const s = b.toString('latin1').replace(/\0.*$/s, '').trim();
  return s ? parseInt(s, 8) : 0;
}

function checksumOk(h: Buffer): boolean {
  const want = parseOctal(h.subarray(148, 156));
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  return sum === want;
}

function cstr(b: Buffer): string {
  const i = b.indexOf(0);
  return b.subarray(0, i < 0 ? b.length : i).toString('utf8');
}

class Members implements TarFiles {
  readonly members = new Map<string, Member>();
  constructor(private readonly what: string, private readonly cleanup: () => Promise<void>) {}

  add(name: string, m: Member): void {
    const key = memberKey(name);
    if (key === undefined) return; // never looked up: manifests naming such paths are refused by name
    if (this.members.has(key)) throw invalid(this.what, `the archive holds ${key} twice`);
    this.members.set(key, m);
  }

  read(name: string, max: number): Promise<Buffer> {
    return readMember(this.members.get(name), name, max, this.what);
  }

  close(): Promise<void> {
    return this.cleanup();
  }
}

/** Indexes the tar file at `file` by its headers. */
export async function indexTarFile(file: string, what = file): Promise<TarFiles> {
  let fh: FileHandle;
  try {
    fh = await open(file, 'r');
  } catch (e) {
    throw new TsociError('INVALID_ARGUMENT', `cannot open ${file}: ${(e as Error).message}`, { cause: e });
  }
  try {
    const total = (await fh.stat()).size;
    const out = new Members(what, async () => {});
    const header = Buffer.alloc(512);
    let pos = 0;
    let longName: string | undefined;
    let paxPath: string | undefined;
    let paxSize: number | undefined;
    let first = true;
    for (;;) {
      const { bytesRead } = await fh.read(header, 0, 512, pos);
      if (bytesRead < 512) throw invalid(what, first ? 'not a tar archive (nor an OCI layout directory)' : 'the archive is truncated');
      if (header.every((b) => b === 0)) break; // end of archive
      if (!checksumOk(header)) throw invalid(what, first ? 'not a tar archive (nor an OCI layout directory)' : `a damaged tar header at byte ${pos}`);
      first = false;
      const type = String.fromCharCode(header[156]!) || '0';
      const size = paxSize ?? parseOctal(header.subarray(124, 136));
      const dataAt = pos + 512;
      if (dataAt + size > total) throw invalid(what, 'the archive is truncated');
      const next = dataAt + Math.ceil(size / 512) * 512;
      const readData = async (): Promise<Buffer> => {
        if (size > 1 << 20) throw invalid(what, `an extended header of ${size} bytes`);
        const b = Buffer.alloc(size);
        await fh.read(b, 0, size, dataAt);
        return b;
      };
      if (type === 'L') {
        longName = cstr(await readData());
      } else if (type === 'x') {
        for (const [k, v] of parsePax(await readData())) {
          if (k === 'path') paxPath = v;
          if (k === 'size') paxSize = Number(v);
        }
      } else if (type !== 'g' && type !== 'K') {
        // global headers and long link names matter to no member we read; anything else is a member
        const prefix = header.subarray(257, 263).toString('latin1').startsWith('ustar') ? cstr(header.subarray(345, 500)) : '';
        const base = cstr(header.subarray(0, 100));
        const name = paxPath ?? longName ?? (prefix ? `${prefix}/${base}` : base);
        if (type === '0' || type === '\0' || type === '7') {
          out.add(name, { size, open: (offset = 0) => (offset >= size ? Readable.from([]) : createReadStream(file, { start: dataAt + offset, end: dataAt + size - 1, highWaterMark: 1 << 20 })) });
        }
        longName = paxPath = undefined;
        paxSize = undefined;
      }
      pos = next;
    }
    return out;
  } finally {
    await fh.close();
  }
}

function* parsePax(b: Buffer): Generator<[string, string]> {
  let i = 0;
  while (i < b.length) {
    const sp = b.indexOf(0x20, i);
    if (sp < 0) return;
    const len = Number(b.subarray(i, sp).toString('latin1'));
    if (!len) return;
    const rec = b.subarray(sp + 1, i + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) yield [rec.slice(0, eq), rec.slice(eq + 1)];
    i += len;
  }
}

/**
 * Reads a tar stream once (gzip-compressed ones too), each member into a numbered file under `stagingDir`
 * (removed by close()). For stdin and compressed archives, which cannot be read at an offset.
 */
export async function stageTarStream(src: Readable, stagingDir: string, what: string): Promise<TarFiles> {
  await mkdir(stagingDir, { recursive: true });
  const out = new Members(what, () => rm(stagingDir, { recursive: true, force: true }));
  const extract = tar.extract();
  let n = 0;
  let sawEntry = false;
  extract.on('entry', (h, stream, next) => {
    sawEntry = true;
    if (h.type !== 'file' && h.type !== 'contiguous-file') {
      stream.on('end', next).resume();
      return;
    }
    const file = path.join(stagingDir, `m${n++}`);
    const size = h.size ?? 0;
    void (async () => {
      const fh = await open(file, 'w');
      try {
        await pipeline(stream, fh.createWriteStream({ highWaterMark: 1 << 20 } as never));
      } finally {
        await fh.close().catch(() => {});
      }
      out.add(h.name, { size, open: (offset = 0) => createReadStream(file, { start: offset, highWaterMark: 1 << 20 }) });
    })().then(() => next(), next);
  });
  const head = await peek(src);
  try {
    const input = head.gzip ? head.stream.pipe(createGunzip()) : head.stream;
    await pipeline(input, extract);
  } catch (e) {
    await out.close();
    if ((e as TsociError).code === 'ARCHIVE_INVALID') throw e;
    const msg = (e as Error).message;
    throw invalid(what, !sawEntry ? 'not a tar archive' : /unexpected end/i.test(msg) ? 'the archive is truncated' : msg);
  }
  if (!sawEntry) {
    await out.close();
    throw invalid(what, 'not a tar archive (or empty)');
  }
  return out;
}

/** The stream with its first bytes looked at: gzip magic or not. */
async function peek(src: Readable): Promise<{ gzip: boolean; stream: Readable }> {
  const it = src[Symbol.asyncIterator]();
  const first = await it.next();
  const head = first.done ? Buffer.alloc(0) : Buffer.from(first.value as Buffer);
  const gzip = head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
  async function* rest() {
    if (head.length) yield head;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value as Buffer;
    }
  }
  return { gzip, stream: Readable.from(rest(), { objectMode: false }) };
}

/** Whether the file starts like a gzip stream (a `docker save | gzip` archive). */
export async function isGzipFile(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const b = Buffer.alloc(2);
    await fh.read(b, 0, 2, 0);
    return b[0] === 0x1f && b[1] === 0x8b;
  } finally {
    await fh.close();
  }
}
