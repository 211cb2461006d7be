// copyImage: descriptors from any ImageSource, ingested into the store; the one routine behind pull, load and
// convert. Blobs (config and layers) go first, in parallel; the manifest and index are stored after them, so a
// manifest in the store always has its blobs.

import pLimit from 'p-limit';
import { settleAll } from '../settle.js';
import { TsociError } from '../errors.js';
import { isIndex } from '../oci/media-types.js';
import { hostPlatform, selectManifest } from '../oci/platform.js';
import {
  type Descriptor,
  type ImageConfig,
  type Manifest,
  MAX_CONFIG_BYTES,
  MAX_MANIFEST_BYTES,
  type Platform,
  parseImageConfig,
  parseManifestOrIndex,
} from '../oci/types.js';
import { Verifier } from '../oci/digest.js';
import type { ImageSource } from './source.js';
import type { IngestResult, IngestTap, LayoutStore } from './store.js';

export type BlobKind = 'config' | 'layer';

export type CopyEvent =
  | { type: 'resolved'; top: Descriptor; manifest: Descriptor; blobs: { desc: Descriptor; kind: BlobKind }[] }
  | { type: 'blob-progress'; desc: Descriptor; bytes: number }
  | { type: 'blob-done'; desc: Descriptor; kind: BlobKind; result: IngestResult };

export interface CopyOptions {
  /** Platform chosen from an index. @default the host's */
  platform?: Platform;
  /** Blobs transferred at once. @default 4 */
  jobs?: number;
  signal?: AbortSignal;
  onEvent?: (e: CopyEvent) => void;
  /**
   * Streaming extraction: called once the config is stored (it is fetched first), it gives the tap through
   * which layer `index` flows while it is ingested, or undefined for a layer not to tap.
   */
  tapLayers?: (manifest: Manifest, config: ImageConfig) => (desc: Descriptor, index: number) => IngestTap | undefined;
}

export interface CopiedImage {
  /** What the source's name resolved to: an index or a manifest. */
  top: Descriptor;
  /** The image manifest chosen (equal to `top` without an index). */
  manifestDesc: Descriptor;
  manifest: Manifest;
  config: ImageConfig;
}

async function readSmall(source: ImageSource, desc: Descriptor, max: number, what: string, signal?: AbortSignal): Promise<Buffer> {
  if (desc.size > max) throw new TsociError('MANIFEST_TOO_LARGE', `${what} is ${desc.size} bytes, over the ${max}-byte limit`);
  const v = new Verifier(desc.digest, desc.size, what);
  const chunks: Uint8Array[] = [];
  for await (const c of await source.open(desc, signal ? { signal } : {})) {
    v.update(c);
    chunks.push(c);
  }
  v.check();
  return Buffer.concat(chunks);
}

/** Copies the image `source` names (one platform of an index) into `store`; returns what was stored. */
export async function copyImage(source: ImageSource, store: LayoutStore, opts: CopyOptions = {}): Promise<CopiedImage> {
  const signal = opts.signal;
  const top = await source.resolve(signal ? { signal } : {});
  const topBytes = await readSmall(source, top, MAX_MANIFEST_BYTES, `manifest of ${source.name}`, signal);
  const parsedTop = parseManifestOrIndex(topBytes, top.mediaType, `manifest of ${source.name}`);
  let manifestDesc = top;
  let manifestBytes = topBytes;
  let manifest: Manifest;
  if (parsedTop.kind === 'index') {
    manifestDesc = selectManifest(parsedTop.index.manifests, opts.platform ?? hostPlatform(), source.name);
    if (isIndex(manifestDesc.mediaType)) throw new TsociError('UNSUPPORTED_MEDIA_TYPE', `${source.name}: nested indexes are not supported`);
    manifestBytes = await readSmall(source, manifestDesc, MAX_MANIFEST_BYTES, `manifest ${manifestDesc.digest}`, signal);
    const m = parseManifestOrIndex(manifestBytes, manifestDesc.mediaType, `manifest ${manifestDesc.digest}`);
    if (m.kind !== 'manifest') throw new TsociError('MANIFEST_INVALID', `index entry ${manifestDesc.digest} of ${source.name} is not an image manifest`);
    manifest = m.manifest;
  } else {
    manifest = parsedTop.manifest;
  }
  const blobs: { desc: Descriptor; kind: BlobKind }[] = [
    { desc: manifest.config, kind: 'config' },
    ...manifest.layers.map((desc) => ({ desc, kind: 'layer' as const })),
  ];
  opts.onEvent?.({ type: 'resolved', top, manifest: manifestDesc, blobs });
  const limit = pLimit(Math.max(1, opts.jobs ?? 4));
  const controller = new AbortController();
  const onAbort = () => controller.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  let tapFor: ((desc: Descriptor, index: number) => IngestTap | undefined) | undefined;
  const transfer = async (desc: Descriptor, kind: BlobKind, index: number) => {
    if (controller.signal.aborted) throw controller.signal.reason;
    if (kind === 'config' && desc.size > MAX_CONFIG_BYTES) throw new TsociError('MANIFEST_TOO_LARGE', `image config of ${source.name} is ${desc.size} bytes, over the limit`);
    const tap = kind === 'layer' ? tapFor?.(desc, index) : undefined;
    const result = await store.ingest(desc, (offset, sig) => source.open(desc, { offset, signal: sig ?? controller.signal }), {
      signal: controller.signal,
      onProgress: (bytes) => opts.onEvent?.({ type: 'blob-progress', desc, bytes }),
      ...(tap ? { tap } : {}),
    }, `${kind} ${desc.digest} of ${source.name}`);
    opts.onEvent?.({ type: 'blob-done', desc, kind, result });
  };
  try {
    if (opts.tapLayers) {
      // The config first: the taps need its diff IDs.
      await transfer(manifest.config, 'config', -1);
      const config = parseImageConfig(await store.readBytes(manifest.config, MAX_CONFIG_BYTES), `image config of ${source.name}`);
      tapFor = opts.tapLayers(manifest, config);
    }
    // Every transfer settles (files closed, locks released) before the first failure is reported.
    await settleAll(
      blobs
        .map((b, i) => ({ ...b, index: i - 1 })) // config first, then the layers in order
        .filter((b) => !(opts.tapLayers && b.kind === 'config'))
        .map(({ desc, kind, index }) =>
        limit(async () => {
          await transfer(desc, kind, index);
        }).catch((e: unknown) => {
          // The first failure stops the other transfers.
          controller.abort(e);
          throw e;
        }),
      ),
    );
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  const config = parseImageConfig(await store.readBytes(manifest.config, MAX_CONFIG_BYTES), `image config of ${source.name}`);
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw new TsociError('MANIFEST_INVALID', `${source.name}: the config lists ${config.rootfs.diff_ids.length} diff_ids for ${manifest.layers.length} layers`);
  }
  await store.putBytes(manifestBytes, manifestDesc, `manifest of ${source.name}`);
  if (top !== manifestDesc) await store.putBytes(topBytes, top, `index of ${source.name}`);
  return { top, manifestDesc, manifest, config };
}
