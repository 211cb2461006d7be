// Images out of a store into files: a docker-archive as `docker load` expects it (manifest.json with Config,
// RepoTags and Layers, `repositories`, layers as uncompressed tars named by their diff IDs), and OCI layouts
// (a directory, or a tar of one) that skopeo and umoci read, with Docker media types turned into OCI ones and
// layers recompressed on request. Archives are written to a temporary file and renamed into place; every
// byte written is hashed on the way and checked against the digest or diff ID it must have.

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, type Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { spawn } from 'node:child_process';
import tar from 'tar-stream';
import { TsociError } from '../../errors.js';
import { type Digest, sha256 } from '../../oci/digest.js';
import { type Compression, MediaType, layerCompression } from '../../oci/media-types.js';
import type { Descriptor, Manifest } from '../../oci/types.js';
import { decompressor } from '../../overlay/decompress.js';
import { parseReference } from '../../registry/reference.js';
import { writeFileAtomic } from '../atomic.js';
import type { StoredImage } from '../image.js';
import type { LayoutStore } from '../store.js';

/** An image to write, with the names it gets in the output (as the output format spells them). */
export interface ImageToWrite {
  image: StoredImage;
  names: string[];
}

export interface WriteOptions {
  /** Layer compression in OCI outputs; kept as stored when undefined. */
  compress?: Compression;
  /** Where temporary files go (recompressed layers). @default the output's directory */
  tmpDir?: string;
}

const EPOCH = new Date(0); // fixed mtimes: the same images give the same archive

/** Checks the bytes passing through against `want` (sha256) and, when given, a byte count. */
function verifying(want: Digest, what: string): Transform {
  const h = createHash('sha256');
  return new Transform({
    transform(c: Buffer, _e, cb) {
      h.update(c);
      cb(null, c);
    },
    flush(cb) {
      const got = `sha256:${h.digest('hex')}`;
      cb(got === want ? null : new TsociError('DIGEST_MISMATCH', `${what} has digest ${got}, expected ${want}`));
    },
  });
}

async function uncompressedSize(store: LayoutStore, d: Descriptor, c: Compression): Promise<number> {
  let n = 0;
  const z = await decompressor(c);
  const count = new Transform({
    transform(chunk: Buffer, _e, cb) {
      n += chunk.length;
      cb();
    },
  });
  await pipeline(await store.open(d), z, count);
  return n;
}

/** The uncompressed layer stream, checked against its diff ID, and its size (found by a first pass when compressed). */
async function plainLayer(store: LayoutStore, d: Descriptor, diffId: Digest): Promise<{ size: number; open: () => Promise<Readable> }> {
  const c = layerCompression(d.mediaType) ?? 'none';
  const size = c === 'none' ? d.size : await uncompressedSize(store, d, c);
  return {
    size,
    open: async () => {
      const src = await store.open(d);
      const out = verifying(diffId, `layer ${d.digest} uncompressed`);
      if (c === 'none') return src.pipe(out);
      const z = await decompressor(c);
      src.on('error', (e) => z.destroy(e));
      z.on('error', (e) => out.destroy(e));
      return src.pipe(z).pipe(out);
    },
  };
}

/** Adds a member to `pack`, streaming `src` into it. */
function addMember(pack: tar.Pack, name: string, size: number, src: Readable | Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const entry = pack.entry({ name, size, mtime: EPOCH, mode: 0o644, uid: 0, gid: 0 }, (err) => (err ? reject(err) : resolve()));
    if (Buffer.isBuffer(src)) {
      entry.end(src);
      return;
    }
    src.on('error', (e) => {
      entry.destroy(e);
      reject(e);
    });
    src.pipe(entry);
  });
}

/** Writes a tar built by `fill` to `file` atomically (or to `out` as it is made). */
async function writeTar(dest: { file: string } | { stream: Writable }, fill: (pack: tar.Pack) => Promise<void>): Promise<void> {
  const pack = tar.pack();
  if ('stream' in dest) {
    const piping = pipeline(pack, dest.stream, { end: false });
    try {
      await fill(pack);
      pack.finalize();
    } catch (e) {
      pack.destroy(e as Error);
      throw e;
    }
    await piping;
    return;
  }
  await mkdir(path.dirname(path.resolve(dest.file)), { recursive: true });
  const tmp = path.join(path.dirname(path.resolve(dest.file)), `.${path.basename(dest.file)}.tsoci-${randomBytes(4).toString('hex')}`);
  const out = createWriteStream(tmp, { highWaterMark: 1 << 20 });
  const piping = pipeline(pack, out);
  try {
    await fill(pack);
    pack.finalize();
    await piping;
    await rename(tmp, dest.file);
  } catch (e) {
    pack.destroy();
    await piping.catch(() => {});
    await rm(tmp, { force: true });
    throw e;
  }
}

/** A docker-archive of `images` (one copy of each layer shared between them). */
export async function writeDockerArchive(store: LayoutStore, images: ImageToWrite[], dest: { file: string } | { stream: Writable }): Promise<void> {
  await writeTar(dest, async (pack) => {
    const manifest: { Config: string; RepoTags: string[]; Layers: string[] }[] = [];
    const repositories: Record<string, Record<string, string>> = {};
    const written = new Set<string>();
    for (const { image, names } of images) {
      const configBytes = await store.readBytes(image.manifest.config, 8 << 20);
      const configName = `${image.manifest.config.digest.slice(7)}.json`;
      if (!written.has(configName)) {
        await addMember(pack, configName, configBytes.length, configBytes);
        written.add(configName);
      }
      const layers: string[] = [];
      for (const [i, d] of image.manifest.layers.entries()) {
        const diffId = image.config.rootfs.diff_ids[i]!;
        const name = `${diffId.slice(7)}/layer.tar`;
        layers.push(name);
        if (written.has(name)) continue;
        const l = await plainLayer(store, d, diffId);
        await addMember(pack, `${diffId.slice(7)}/VERSION`, 3, Buffer.from('1.0'));
        await addMember(pack, name, l.size, await l.open());
        written.add(name);
      }
      const tags = names.map((n) => parseReference(n)).filter((r) => r.tag && !r.digest);
      manifest.push({ Config: configName, RepoTags: tags.map((r) => r.familiar()), Layers: layers });
      const top = layers.at(-1)?.split('/')[0];
      for (const r of tags) if (top) (repositories[r.familiar().replace(/:[^:/]+$/, '')] ??= {})[r.tag!] = top;
    }
    const m = Buffer.from(JSON.stringify(manifest));
    await addMember(pack, 'manifest.json', m.length, m);
    const r = Buffer.from(JSON.stringify(repositories));
    await addMember(pack, 'repositories', r.length, r);
  });
}

const TO_OCI: Record<string, string> = {
  [MediaType.DockerManifest]: MediaType.OciManifest,
  [MediaType.DockerConfig]: MediaType.OciConfig,
  [MediaType.DockerLayer]: MediaType.OciLayerGzip,
  [MediaType.DockerLayerUncompressed]: MediaType.OciLayer,
  [MediaType.DockerForeignLayer]: MediaType.OciLayerNondistGzip,
};

const LAYER_TYPE: Record<Compression, string> = { none: MediaType.OciLayer, gzip: MediaType.OciLayerGzip, zstd: MediaType.OciLayerZstd };

/** A blob as the OCI output will hold it: where its bytes come from. */
interface OutBlob {
  desc: Descriptor;
  /** A file to read (the store's blob or a recompressed temporary) or bytes. */
  from: { file: string } | { bytes: Buffer };
}

/** Compresses the layer `d` of `store` to `c` into a temporary file; returns its descriptor. */
async function recompress(store: LayoutStore, d: Descriptor, diffId: Digest, c: Compression, tmpDir: string): Promise<OutBlob> {
  await mkdir(tmpDir, { recursive: true });
  const file = path.join(tmpDir, `layer-${randomBytes(6).toString('hex')}`);
  const plain = await plainLayer(store, d, diffId);
  const h = createHash('sha256');
  let size = 0;
  const count = new Transform({
    transform(chunk: Buffer, _e, cb) {
      h.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  const compressor = c === 'gzip' ? createGzip({ level: 6 }) : c === 'zstd' ? zstdCompressor() : new PassThrough();
  await pipeline(await plain.open(), compressor, count, createWriteStream(file));
  return { desc: { mediaType: LAYER_TYPE[c], digest: `sha256:${h.digest('hex')}` as Digest, size }, from: { file } };
}

/** zstd through the zstd program (Node 20 has no zstd compressor; Debian's zstd package is a test dependency too). */
function zstdCompressor(): Transform {
  const child = spawn('zstd', ['-q', '-c', '-3', '-T0'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const t = new Transform({
    transform(chunk: Buffer, _e, cb) {
      if (child.stdin.write(chunk)) cb();
      else child.stdin.once('drain', () => cb());
    },
    flush(cb) {
      child.stdout.once('end', () => cb());
      child.stdin.end();
    },
  });
  child.stdout.on('data', (c: Buffer) => t.push(c));
  child.on('error', (e) => t.destroy(new TsociError('INVALID_ARGUMENT', `cannot run zstd: ${e.message}`, { hint: 'install the zstd package' })));
  return t;
}

/** The OCI form of an image: its blobs as the output holds them and its manifest (re-digested when changed). */
async function ociImage(store: LayoutStore, image: StoredImage, opts: WriteOptions, tmpDir: string): Promise<{ manifest: OutBlob; blobs: OutBlob[] }> {
  const m = image.manifest;
  const blobs: OutBlob[] = [];
  const config: Descriptor = { ...m.config, mediaType: TO_OCI[m.config.mediaType] ?? m.config.mediaType };
  blobs.push({ desc: config, from: { file: store.blobPath(m.config.digest) } });
  const layers: Descriptor[] = [];
  for (const [i, d] of m.layers.entries()) {
    const have = layerCompression(d.mediaType);
    if (opts.compress && have && have !== opts.compress) {
      const b = await recompress(store, d, image.config.rootfs.diff_ids[i]!, opts.compress, tmpDir);
      blobs.push(b);
      layers.push(b.desc);
    } else {
      const desc: Descriptor = { ...d, mediaType: TO_OCI[d.mediaType] ?? d.mediaType };
      blobs.push({ desc, from: { file: store.blobPath(d.digest) } });
      layers.push(desc);
    }
  }
  const unchanged = image.manifestDesc.mediaType === MediaType.OciManifest && layers.every((l, i) => l.digest === m.layers[i]!.digest && l.mediaType === m.layers[i]!.mediaType) && config.mediaType === m.config.mediaType;
  if (unchanged) {
    const bytes = await store.readBytes(image.manifestDesc, 4 << 20);
    return { manifest: { desc: { mediaType: MediaType.OciManifest, digest: image.manifestDesc.digest, size: bytes.length }, from: { bytes } }, blobs };
  }
  const doc: Manifest = { schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers, ...(m.annotations ? { annotations: m.annotations } : {}) } as Manifest;
  const bytes = Buffer.from(JSON.stringify(doc));
  return { manifest: { desc: { mediaType: MediaType.OciManifest, digest: sha256(bytes), size: bytes.length }, from: { bytes } }, blobs };
}

function indexEntry(desc: Descriptor, name: string | undefined): Descriptor {
  return { mediaType: desc.mediaType, digest: desc.digest, size: desc.size, ...(name ? { annotations: { 'org.opencontainers.image.ref.name': name } } : {}) };
}

/** OCI layout output: a directory (blobs added, index.json merged) or a tar of one. */
export async function writeOciLayout(store: LayoutStore, images: ImageToWrite[], dest: { dir: string } | { file: string } | { stream: Writable }, opts: WriteOptions = {}): Promise<void> {
  const base = 'dir' in dest ? dest.dir : 'file' in dest ? path.dirname(path.resolve(dest.file)) : store.root;
  const tmpDir = opts.tmpDir ?? path.join(base, `.tsoci-tmp-${randomBytes(4).toString('hex')}`);
  try {
    const entries: Descriptor[] = [];
    const all = new Map<string, OutBlob>();
    for (const { image, names } of images) {
      const o = await ociImage(store, image, opts, tmpDir);
      for (const b of [...o.blobs, o.manifest]) all.set(b.desc.digest, b);
      for (const n of names.length ? names : [undefined]) entries.push(indexEntry(o.manifest.desc, n));
    }
    const layoutFile = Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    if ('dir' in dest) {
      await mkdir(path.join(dest.dir, 'blobs', 'sha256'), { recursive: true });
      for (const b of all.values()) await putDirBlob(dest.dir, b);
      await writeFileAtomic(path.join(dest.dir, 'oci-layout'), layoutFile);
      const indexFile = path.join(dest.dir, 'index.json');
      const old = await readFile(indexFile, 'utf8').then((t) => JSON.parse(t) as { manifests?: Descriptor[] }).catch(() => ({ manifests: [] as Descriptor[] }));
      const names = new Set(entries.map((e) => e.annotations?.['org.opencontainers.image.ref.name']).filter(Boolean));
      const kept = (old.manifests ?? []).filter((e) => !names.has(e.annotations?.['org.opencontainers.image.ref.name']));
      await writeFileAtomic(indexFile, JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [...kept, ...entries] }));
      return;
    }
    await writeTar(dest, async (pack) => {
      await addMember(pack, 'oci-layout', layoutFile.length, layoutFile);
      for (const b of all.values()) {
        const name = `blobs/sha256/${b.desc.digest.slice(7)}`;
        if ('bytes' in b.from) await addMember(pack, name, b.from.bytes.length, b.from.bytes);
        else await addMember(pack, name, b.desc.size, createReadStream(b.from.file, { highWaterMark: 1 << 20 }).pipe(verifying(b.desc.digest as Digest, `blob ${b.desc.digest}`)));
      }
      const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: entries }));
      await addMember(pack, 'index.json', index.length, index);
    });
  } finally {
    await rm(tmpDir, { recursive: true, force: true });
  }
}

async function putDirBlob(dir: string, b: OutBlob): Promise<void> {
  const target = path.join(dir, 'blobs', 'sha256', b.desc.digest.slice(7));
  const st = await stat(target).catch(() => undefined);
  if (st?.size === b.desc.size) return; // content-addressed: a blob of this digest and size is this blob
  if ('bytes' in b.from) {
    await writeFileAtomic(target, b.from.bytes);
    return;
  }
  const tmp = `${target}.tsoci-${randomBytes(4).toString('hex')}`;
  try {
    await pipeline(createReadStream(b.from.file, { highWaterMark: 1 << 20 }), verifying(b.desc.digest as Digest, `blob ${b.desc.digest}`), createWriteStream(tmp));
    await rename(tmp, target);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
