// Reading images back out of the store: a reference to its manifest, config and layers; and the walk from
// index.json to every blob it reaches (for rmi, gc and verify).

import { TsociError } from '../errors.js';
import type { Digest } from '../oci/digest.js';
import { isIndex, isManifest } from '../oci/media-types.js';
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
import { findRef, readIndex } from './refs.js';
import type { LayoutStore } from './store.js';

export interface StoredImage {
  ref: string;
  top: Descriptor;
  manifestDesc: Descriptor;
  manifest: Manifest;
  config: ImageConfig;
}

/** The image `ref` (a full normalized reference) names in the store, for `platform` when it is an index. */
export async function readImage(store: LayoutStore, ref: string, platform?: Platform): Promise<StoredImage> {
  const top = await findRef(store, ref);
  if (!top) throw new TsociError('REF_NOT_FOUND', `image ${ref} is not in the store`, { hint: `pull it first: tsoci pull ${ref}` });
  let manifestDesc = top;
  let doc = parseManifestOrIndex(await store.readBytes(top, MAX_MANIFEST_BYTES), top.mediaType, `manifest of ${ref}`);
  if (doc.kind === 'index') {
    // Only the manifests that were pulled are candidates.
    const present: Descriptor[] = [];
    for (const d of doc.index.manifests) if (await store.has(d.digest)) present.push(d);
    manifestDesc = selectManifest(present, platform ?? hostPlatform(), ref);
    doc = parseManifestOrIndex(await store.readBytes(manifestDesc, MAX_MANIFEST_BYTES), manifestDesc.mediaType, `manifest of ${ref}`);
    if (doc.kind !== 'manifest') throw new TsociError('MANIFEST_INVALID', `${ref}: nested indexes are not supported`);
  }
  const config = parseImageConfig(await store.readBytes(doc.manifest.config, MAX_CONFIG_BYTES), `image config of ${ref}`);
  return { ref, top, manifestDesc, manifest: doc.manifest, config };
}

/** Every digest reachable from index.json (indexes, manifests, configs, layers) that is present in the store. */
export async function reachableDigests(store: LayoutStore): Promise<Set<Digest>> {
  const seen = new Set<Digest>();
  const visit = async (d: Descriptor): Promise<void> => {
    if (seen.has(d.digest)) return;
    if (!(await store.has(d.digest))) return;
    seen.add(d.digest);
    if (!isIndex(d.mediaType) && !isManifest(d.mediaType)) return;
    const doc = parseManifestOrIndex(await store.readBytes(d, MAX_MANIFEST_BYTES), d.mediaType, `manifest ${d.digest}`);
    if (doc.kind === 'index') for (const m of doc.index.manifests) await visit(m);
    else for (const b of [doc.manifest.config, ...doc.manifest.layers]) await visit(b);
  };
  for (const d of (await readIndex(store)).manifests) await visit(d);
  return seen;
}
