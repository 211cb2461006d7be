// load, save and convert: archives in and out, composed from the archive sources, copyImage (the one verified
// way into a store) and the writers. convert uses a private temporary store next to its destination, never
// the user's.

import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { TsociError } from '../../errors.js';
import type { Digest } from '../../oci/digest.js';
import type { Compression } from '../../oci/media-types.js';
import type { Platform } from '../../oci/types.js';
import { parseReference } from '../../registry/reference.js';
import { type CopyEvent, copyImage } from '../copy.js';
import { asSweeper, asWriter } from '../gc.js';
import { type StoredImage, reachableDigests } from '../image.js';
import { setRef } from '../refs.js';
import type { ImageSource } from '../source.js';
import { LayoutStore } from '../store.js';
import { type ArchiveImage, archiveName, openArchive } from './sources.js';
import { type ImageToWrite, writeDockerArchive, writeOciLayout } from './writers.js';

export type ArchiveFormatName = 'docker-archive' | 'oci-archive' | 'oci-dir';

export interface LoadedImage {
  names: string[];
  digest: Digest;
}

export interface LoadOptions {
  /** The name to give the (single) image instead of the archive's names. */
  tag?: string;
  platform?: Platform;
  onEvent?: (e: CopyEvent) => void;
}

/**
 * Loads every image of an archive or layout into `store`. On any failure nothing the load stored stays: blobs it
 * added that no name reaches are removed (with the store to itself), and no name is set.
 */
export async function loadArchive(store: LayoutStore, input: { file: string } | { stream: Readable }, opts: LoadOptions = {}): Promise<{ format: string; images: LoadedImage[] }> {
  const stagingDir = path.join(store.ingestDir, `load-${randomBytes(6).toString('hex')}`);
  const archive = await openArchive(input, { stagingDir, ...(opts.platform ? { platform: opts.platform } : {}) });
  const added: Digest[] = [];
  try {
    const images = archive.images;
    if (opts.tag) {
      if (images.length !== 1) throw new TsociError('INVALID_ARGUMENT', `--tag names one image, and the archive holds ${images.length}`);
      images[0]!.names = [parseReference(opts.tag).toString()];
    }
    const out: LoadedImage[] = [];
    await asWriter(store, async () => {
      // Everything is copied (and verified) before any name is set.
      const copied: { img: ArchiveImage; top: Digest; desc: import('../../oci/types.js').Descriptor }[] = [];
      for (const img of images) {
        const c = await copyImage(img.source, store, {
          ...(opts.platform ? { platform: opts.platform } : {}),
          onEvent: (e) => {
            if (e.type === 'blob-done' && e.result === 'stored') added.push(e.desc.digest);
            opts.onEvent?.(e);
          },
        });
        copied.push({ img, top: c.top.digest, desc: c.top });
      }
      for (const c of copied) {
        for (const n of c.img.names) await setRef(store, n, c.desc);
        out.push({ names: c.img.names, digest: c.top });
      }
    });
    return { format: archive.format, images: out };
  } catch (e) {
    if (added.length) {
      await asSweeper(store, async () => {
        const keep = await reachableDigests(store);
        for (const d of added) if (!keep.has(d)) await rm(store.blobPath(d), { force: true });
      });
    }
    throw e;
  } finally {
    await archive.close();
  }
}

export interface SaveOptions {
  compress?: Compression;
}

/** Writes stored images to `dest` in `format`. */
export async function writeImages(store: LayoutStore, images: ImageToWrite[], format: ArchiveFormatName, dest: { path: string } | { stream: Writable }, opts: SaveOptions = {}): Promise<void> {
  if (format === 'docker-archive') {
    if (opts.compress && opts.compress !== 'none') throw new TsociError('INVALID_ARGUMENT', 'a docker-archive holds uncompressed layers', { hint: 'drop --compress, or write an oci-archive' });
    return writeDockerArchive(store, images, 'path' in dest ? { file: dest.path } : dest);
  }
  if (format === 'oci-dir') {
    if (!('path' in dest)) throw new TsociError('INVALID_ARGUMENT', 'an oci-dir needs a directory (-o DIR)');
    return writeOciLayout(store, images, { dir: dest.path }, opts);
  }
  return writeOciLayout(store, images, 'path' in dest ? { file: dest.path } : dest, opts);
}

/** A transport reference as skopeo spells it. */
export type Transport = { kind: 'docker'; ref: string } | { kind: ArchiveFormatName; path: string; ref: string | undefined };

export function parseTransport(s: string, role: 'source' | 'destination'): Transport {
  const m = /^(docker-archive|oci-archive|oci|docker):(.*)$/.exec(s);
  if (!m) throw new TsociError('INVALID_ARGUMENT', `${s}: the ${role} must be docker-archive:PATH[:REF], oci-archive:PATH[:REF], oci:DIR[:REF]${role === 'source' ? ' or docker://REF' : ''}`);
  const [, t, rest] = m as unknown as [string, string, string];
  if (t === 'docker') {
    if (role === 'destination') throw new TsociError('INVALID_ARGUMENT', 'tsoci convert does not push: docker:// is a source only');
    if (!rest.startsWith('//')) throw new TsociError('INVALID_ARGUMENT', `${s}: write docker://REF`);
    return { kind: 'docker', ref: rest.slice(2) };
  }
  const i = rest.indexOf(':');
  const p = i < 0 ? rest : rest.slice(0, i);
  if (!p) throw new TsociError('INVALID_ARGUMENT', `${s}: the path is missing`);
  return { kind: t === 'oci' ? 'oci-dir' : (t as ArchiveFormatName), path: p, ref: i < 0 ? undefined : rest.slice(i + 1) || undefined };
}

export interface ConvertOptions {
  compress?: Compression;
  platform?: Platform;
  onEvent?: (e: CopyEvent) => void;
}

/** Copies one image from `src` to `dst` (skopeo transport names), verified, without the user's store. */
export async function convertImage(src: Transport, dst: Transport, registrySource: (ref: string) => Promise<ImageSource>, opts: ConvertOptions = {}): Promise<{ names: string[]; digest: Digest }> {
  if (dst.kind === 'docker') throw new TsociError('INVALID_ARGUMENT', 'docker:// is a source only');
  const work = path.join(path.dirname(path.resolve(dst.path)), `.tsoci-convert-${randomBytes(6).toString('hex')}`);
  const tmp = new LayoutStore(work);
  await tmp.init();
  let source: ImageSource;
  let names: string[];
  let closeArchive = async () => {};
  try {
    if (src.kind === 'docker') {
      source = await registrySource(src.ref);
      names = [parseReference(src.ref).toString()];
    } else {
      const archive = await openArchive({ file: src.path }, { stagingDir: path.join(work, 'staging'), ...(opts.platform ? { platform: opts.platform } : {}) });
      closeArchive = () => archive.close();
      const want = src.ref ? archiveName(src.ref, 'image') : undefined;
      const matches = src.ref ? archive.images.filter((i) => i.names.includes(want!) || i.source.name.endsWith(`:${src.ref}`)) : archive.images;
      if (matches.length !== 1) {
        if (src.ref) throw new TsociError('INVALID_ARGUMENT', `${src.path} has no image named ${src.ref}`);
        throw new TsociError('INVALID_ARGUMENT', `${src.path} holds ${archive.images.length} images`, { hint: `name one: ${src.kind === 'oci-dir' ? 'oci' : src.kind}:${src.path}:REF` });
      }
      source = matches[0]!.source;
      names = matches[0]!.names;
    }
    try {
      const c = await copyImage(source, tmp, { ...(opts.platform ? { platform: opts.platform } : {}), ...(opts.onEvent ? { onEvent: opts.onEvent } : {}) });
      const image: StoredImage = { ref: names[0] ?? '', top: c.top, manifestDesc: c.manifestDesc, manifest: c.manifest, config: c.config };
      const outNames = dst.ref ? [dst.kind === 'oci-dir' || dst.kind === 'oci-archive' ? dst.ref : parseReference(dst.ref).toString()] : names;
      await writeImages(tmp, [{ image, names: outNames }], dst.kind, { path: dst.path }, opts.compress ? { compress: opts.compress } : {});
      return { names: outNames, digest: c.manifestDesc.digest };
    } finally {
      await source.close();
    }
  } finally {
    await closeArchive();
    await rm(work, { recursive: true, force: true });
  }
}
