// Images in files, as ImageSources for copyImage: a docker-archive (`docker save`: manifest.json with Config,
// RepoTags and Layers, either legacy `<id>/layer.tar` members or the newer OCI layout inside), an oci-archive (a
// tar of an OCI layout) and an OCI layout directory. The format is told by content. Every path an archive's
// manifest names is looked up as a member key, never joined to a directory; layer diff IDs are checked against
// the config before anything is ingested.

import { createHash } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TsociError } from '../../errors.js';
import { type Digest, Verifier, sha256 } from '../../oci/digest.js';
import { MediaType, isIndex, layerCompression } from '../../oci/media-types.js';
import { hostPlatform, selectManifest } from '../../oci/platform.js';
import { type Descriptor, type ImageConfig, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, type Platform, parseImageConfig, parseManifestOrIndex } from '../../oci/types.js';
import { decompressor } from '../../overlay/decompress.js';
import { parseReference } from '../../registry/reference.js';
import type { ByteSource, ImageSource } from '../source.js';
import { type Member, type TarFiles, indexTarFile, isGzipFile, memberKey, readMember, stageTarStream } from './tar-file.js';

export type ArchiveFormat = 'docker-archive' | 'oci-archive' | 'oci-dir';

/** One image an archive holds, with the names it gives it (normalized references). */
export interface ArchiveImage {
  names: string[];
  source: ImageSource;
}

export interface OpenedArchive {
  format: ArchiveFormat;
  images: ArchiveImage[];
  close(): Promise<void>;
}

const REF_NAME = 'org.opencontainers.image.ref.name';
const CONTAINERD_NAME = 'io.containerd.image.name';
const BARE_TAG = /^[\w][\w.-]{0,127}$/;

function invalid(what: string, msg: string, hint?: string): TsociError {
  return new TsociError('ARCHIVE_INVALID', `${what}: ${msg}`, hint ? { hint } : {});
}

/** The files of an OCI layout directory, as members (read in place). */
async function dirFiles(dir: string): Promise<TarFiles> {
  const members = new Map<string, Member>();
  const add = (rel: string) => {
    const p = path.join(dir, rel);
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st?.isFile()) return;
    members.set(rel, { size: st.size, open: (offset = 0) => (offset >= st.size ? Readable.from([]) : createReadStream(p, { start: offset, highWaterMark: 1 << 20 })) });
  };
  for (const f of ['oci-layout', 'index.json', 'manifest.json', 'repositories']) add(f);
  for (const alg of await readdir(path.join(dir, 'blobs')).catch(() => [] as string[])) {
    for (const hex of await readdir(path.join(dir, 'blobs', alg)).catch(() => [] as string[])) add(`blobs/${alg}/${hex}`);
  }
  return {
    members,
    read: (name, max) => readMember(members.get(name), name, max, dir),
    close: async () => {},
  };
}

/** What a name in an archive becomes in the store: a full reference, or `localhost/<base>:<tag>` for a bare tag. */
export function archiveName(name: string, base: string): string | undefined {
  if (BARE_TAG.test(name) && !name.includes(':')) return `localhost/${base}:${name}`;
  try {
    return parseReference(name).toString();
  } catch {
    return undefined;
  }
}

/** The base name that stands in for a repository: the file or directory name, lower-cased, without extensions. */
function baseName(input: string | undefined): string {
  if (!input) return 'image';
  let b = path.basename(input).toLowerCase();
  while (/\.(tar|tgz|gz|zst|oci|docker)$/.test(b)) b = b.replace(/\.(tar|tgz|gz|zst|oci|docker)$/, '');
  const clean = b.replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '').replace(/[._-]+$/, '');
  return clean || 'image';
}

/**
 * Opens `input` (a tar file, a directory holding an OCI layout, or a stream such as stdin) and lists its images.
 * `stagingDir` is used only for streams and compressed archives; `platform` picks from multi-platform layouts.
 */
export async function openArchive(input: { file: string } | { stream: Readable }, opts: { stagingDir: string; what?: string; platform?: Platform }): Promise<OpenedArchive> {
  const what = opts.what ?? ('file' in input ? input.file : 'stdin');
  let files: TarFiles;
  let dir = false;
  if ('file' in input) {
    const st = statSync(input.file, { throwIfNoEntry: false });
    if (!st) throw new TsociError('INVALID_ARGUMENT', `${input.file} does not exist`);
    if (st.isDirectory()) {
      if (!existsSync(path.join(input.file, 'index.json'))) throw invalid(what, 'a directory without index.json is not an OCI layout');
      files = await dirFiles(input.file);
      dir = true;
    } else if (await isGzipFile(input.file)) {
      files = await stageTarStream(createReadStream(input.file, { highWaterMark: 1 << 20 }), opts.stagingDir, what);
    } else {
      files = await indexTarFile(input.file, what);
    }
  } else {
    files = await stageTarStream(input.stream, opts.stagingDir, what);
  }
  const base = baseName('file' in input ? input.file : undefined);
  try {
    if (files.members.has('manifest.json')) return { format: 'docker-archive', images: await dockerImages(files, what, base), close: () => files.close() };
    if (files.members.has('index.json')) return { format: dir ? 'oci-dir' : 'oci-archive', images: await layoutImages(files, what, base, opts.platform), close: () => files.close() };
    throw invalid(what, 'neither a docker-archive (no manifest.json) nor an OCI layout (no index.json)');
  } catch (e) {
    await files.close();
    throw e;
  }
}

function parseJson<T>(bytes: Buffer, what: string): T {
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch {
    throw invalid(what, 'is not valid JSON');
  }
}

/** The member a manifest.json path names, refusing paths that leave the archive and members it lacks. */
function memberFor(files: TarFiles, p: unknown, what: string): { key: string; member: Member } {
  if (typeof p !== 'string' || !p) throw invalid(what, `manifest.json names an invalid path ${JSON.stringify(p)}`);
  const key = memberKey(p);
  if (key === undefined) throw invalid(what, `manifest.json names a path outside the archive: ${p}`);
  const member = files.members.get(key);
  if (!member) throw invalid(what, `manifest.json names ${p}, which the archive does not hold`, 'the archive is incomplete');
  return { key, member };
}

async function head(m: Member, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  for await (const c of m.open()) {
    chunks.push(c as Buffer);
    got += (c as Buffer).length;
    if (got >= n) break;
  }
  return Buffer.concat(chunks).subarray(0, n);
}

function compressionOf(b: Buffer): 'gzip' | 'zstd' | 'none' {
  if (b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
  if (b.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

/** Hashes a member as stored and, when compressed, as uncompressed too (one read). */
async function hashMember(m: Member, compression: 'gzip' | 'zstd' | 'none'): Promise<{ digest: Digest; diffId: Digest }> {
  const raw = createHash('sha256');
  const plain = createHash('sha256');
  const src = m.open();
  if (compression === 'none') {
    for await (const c of src) raw.update(c as Buffer);
  } else {
    const inflater = await decompressor(compression);
    src.on('data', (c: Buffer) => raw.update(c));
    const done = (async () => {
      for await (const c of inflater) plain.update(c as Buffer);
    })();
    await pipeline(src, inflater).catch((e: unknown) => {
      throw new TsociError('ARCHIVE_INVALID', `a ${compression} layer does not decompress: ${(e as Error).message}`);
    });
    await done;
  }
  const digest = `sha256:${raw.digest('hex')}` as Digest;
  return { digest, diffId: compression === 'none' ? digest : (`sha256:${plain.digest('hex')}` as Digest) };
}

/** Checks each layer's uncompressed content against the config's diff ID (layers stored compressed). */
async function checkDiffIds(layers: { desc: Descriptor; member: Member }[], config: ImageConfig, what: string): Promise<void> {
  if (config.rootfs.diff_ids.length !== layers.length) throw invalid(what, `the config lists ${config.rootfs.diff_ids.length} diff IDs for ${layers.length} layers`);
  for (const [i, l] of layers.entries()) {
    const want = config.rootfs.diff_ids[i]!;
    const c = layerCompression(l.desc.mediaType) ?? 'none';
    if (c === 'none') {
      if (l.desc.digest !== want) throw new TsociError('DIGEST_MISMATCH', `${what}: layer ${i + 1} is ${l.desc.digest}, but the config's diff ID is ${want}`);
      continue;
    }
    const { diffId } = await hashMember(l.member, c);
    if (diffId !== want) throw new TsociError('DIGEST_MISMATCH', `${what}: layer ${i + 1} uncompresses to ${diffId}, but the config's diff ID is ${want}`);
  }
}

interface DockerEntry {
  Config?: unknown;
  RepoTags?: unknown;
  Layers?: unknown;
}

async function dockerImages(files: TarFiles, what: string, base: string): Promise<ArchiveImage[]> {
  const entries = parseJson<DockerEntry[]>(await files.read('manifest.json', MAX_MANIFEST_BYTES), `${what}: manifest.json`);
  if (!Array.isArray(entries) || entries.length === 0) throw invalid(what, 'manifest.json lists no images');
  const out: ArchiveImage[] = [];
  for (const e of entries) {
    const cfg = memberFor(files, e.Config, what);
    if (cfg.member.size > MAX_CONFIG_BYTES) throw new TsociError('MANIFEST_TOO_LARGE', `${what}: the config ${cfg.key} is over the limit`);
    const configBytes = await files.read(cfg.key, MAX_CONFIG_BYTES);
    const config = parseImageConfig(configBytes, `${what}: ${cfg.key}`);
    if (!Array.isArray(e.Layers)) throw invalid(what, `manifest.json has no Layers for ${cfg.key}`);
    const layers: { desc: Descriptor; member: Member }[] = [];
    for (const [i, p] of (e.Layers as unknown[]).entries()) {
      const { member } = memberFor(files, p, what);
      const compression = compressionOf(await head(member, 4));
      // An uncompressed layer's digest is its diff ID (ingest checks the bytes against it); a compressed one is
      // hashed here, once, with its uncompressed content checked against the diff ID on the way.
      let digest = config.rootfs.diff_ids[i];
      if (!digest) throw invalid(what, `the config lists fewer diff IDs than manifest.json lists layers`);
      if (compression !== 'none') {
        const h = await hashMember(member, compression);
        if (h.diffId !== digest) throw new TsociError('DIGEST_MISMATCH', `${what}: layer ${String(p)} uncompresses to ${h.diffId}, but the config's diff ID is ${digest}`);
        digest = h.digest;
      }
      const mediaType = compression === 'gzip' ? MediaType.OciLayerGzip : compression === 'zstd' ? MediaType.OciLayerZstd : MediaType.OciLayer;
      layers.push({ desc: { mediaType, digest, size: member.size }, member });
    }
    if (config.rootfs.diff_ids.length !== layers.length) throw invalid(what, `the config lists ${config.rootfs.diff_ids.length} diff IDs for ${layers.length} layers`);
    const configDesc: Descriptor = { mediaType: MediaType.OciConfig, digest: sha256(configBytes), size: configBytes.length };
    const manifestBytes = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: configDesc, layers: layers.map((l) => l.desc) }),
    );
    const manifestDesc: Descriptor = { mediaType: MediaType.OciManifest, digest: sha256(manifestBytes), size: manifestBytes.length };
    const names = (Array.isArray(e.RepoTags) ? (e.RepoTags as unknown[]) : []).flatMap((t) => {
      const n = typeof t === 'string' ? archiveName(t, base) : undefined;
      return n ? [n] : [];
    });
    const byDigest = new Map<string, () => ByteSource>([
      [manifestDesc.digest, () => [manifestBytes]],
      [configDesc.digest, () => [configBytes]],
    ]);
    const members = new Map(layers.map((l) => [l.desc.digest as string, l.member]));
    out.push({
      names,
      source: {
        name: `docker-archive:${what}${names[0] ? `:${names[0]}` : ''}`,
        resolve: async () => manifestDesc,
        open: async (desc, o = {}) => {
          const m = members.get(desc.digest);
          if (m) return m.open(o.offset ?? 0);
          const b = byDigest.get(desc.digest);
          if (!b) throw new TsociError('BLOB_UNKNOWN', `${what} has no blob ${desc.digest}`);
          return [...(b() as Iterable<Uint8Array>)].map((c) => c.subarray(o.offset ?? 0));
        },
        close: async () => {},
      },
    });
  }
  return out;
}

async function layoutImages(files: TarFiles, what: string, base: string, platform?: Platform): Promise<ArchiveImage[]> {
  const index = parseJson<{ manifests?: Descriptor[] }>(await files.read('index.json', MAX_MANIFEST_BYTES), `${what}: index.json`);
  if (!Array.isArray(index.manifests) || index.manifests.length === 0) throw invalid(what, 'index.json lists no images');
  const blobKey = (d: Descriptor) => {
    const m = /^([a-z0-9]+):([a-f0-9]+)$/.exec(String(d.digest));
    if (!m) throw invalid(what, `a descriptor has an invalid digest ${JSON.stringify(d.digest)}`);
    return `blobs/${m[1]}/${m[2]}`;
  };
  const member = (d: Descriptor): Member => {
    const m = files.members.get(blobKey(d));
    if (!m) throw invalid(what, `the layout has no blob ${d.digest}`, 'the archive is incomplete');
    return m;
  };
  const out: ArchiveImage[] = [];
  for (const entry of index.manifests) {
    const ann = entry.annotations ?? {};
    const raw = ann[CONTAINERD_NAME] ?? ann[REF_NAME];
    const named = raw ? archiveName(raw, base) : undefined;
    // The manifest this entry means on this platform, its config, and its layers' diff IDs, before any ingest.
    let manifestDesc = entry;
    let doc = parseManifestOrIndex(await readVerified(member(entry), entry, what), entry.mediaType, `${what}: manifest ${entry.digest}`);
    if (doc.kind === 'index') {
      const present = doc.index.manifests.filter((d) => files.members.has(blobKey(d)));
      manifestDesc = selectManifest(present, platform ?? hostPlatform(), what);
      if (isIndex(manifestDesc.mediaType)) throw new TsociError('UNSUPPORTED_MEDIA_TYPE', `${what}: nested indexes are not supported`);
      doc = parseManifestOrIndex(await readVerified(member(manifestDesc), manifestDesc, what), manifestDesc.mediaType, `${what}: manifest ${manifestDesc.digest}`);
    }
    if (doc.kind !== 'manifest') throw invalid(what, `${manifestDesc.digest} is not an image manifest`);
    const config = parseImageConfig(await readVerified(member(doc.manifest.config), doc.manifest.config, what, MAX_CONFIG_BYTES), `${what}: config`);
    await checkDiffIds(doc.manifest.layers.map((desc) => ({ desc, member: member(desc) })), config, what);
    out.push({
      names: named ? [named] : [],
      source: {
        name: `${what}${raw ? `:${raw}` : ''}`,
        resolve: async () => entry,
        open: async (desc, o = {}) => member(desc).open(o.offset ?? 0),
        close: async () => {},
      },
    });
  }
  // Unnamed images get the archive's name, when that is unambiguous.
  if (out.length === 1 && out[0]!.names.length === 0) out[0]!.names.push(`localhost/${base}:latest`);
  return out;
}

async function readVerified(m: Member, d: Descriptor, what: string, max = MAX_MANIFEST_BYTES): Promise<Buffer> {
  if (d.size > max || m.size > max) throw new TsociError('MANIFEST_TOO_LARGE', `${what}: ${d.digest} is over the ${max}-byte limit`);
  const v = new Verifier(d.digest, d.size, `${what}: blob ${d.digest}`);
  const chunks: Buffer[] = [];
  for await (const c of m.open()) {
    v.update(c as Buffer);
    chunks.push(c as Buffer);
  }
  v.check();
  return Buffer.concat(chunks);
}
