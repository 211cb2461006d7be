// The JSON documents of the image spec (descriptor, manifest, index, config) and their validating parsers.

import { TsociError } from '../errors.js';
import { type Digest, isDigest } from './digest.js';
import { isIndex, isManifest, isSchema1 } from './media-types.js';

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

/** The currency between stages: what a blob is, how big, and how to verify it. */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
  urls?: string[];
  artifactType?: string;
}

export interface Manifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
  subject?: Descriptor;
  artifactType?: string;
}

export interface Index {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
  config?: {
    User?: string;
    ExposedPorts?: Record<string, object>;
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    Volumes?: Record<string, object>;
    WorkingDir?: string;
    Labels?: Record<string, string>;
    StopSignal?: string;
    ArgsEscaped?: boolean;
  };
  rootfs: { type: string; diff_ids: Digest[] };
  history?: { created?: string; created_by?: string; author?: string; comment?: string; empty_layer?: boolean }[];
}

/** Largest manifest or index tsoci reads (containers/image's cap; CVE-2020-1702). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Largest image config tsoci reads. */
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

function invalid(what: string, why: string): TsociError {
  return new TsociError('MANIFEST_INVALID', `invalid ${what}: ${why}`);
}

function obj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseJSON(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch {
    throw invalid(what, 'not valid JSON');
  }
}

export function assertDescriptor(v: unknown, what: string): Descriptor {
  if (!obj(v)) throw invalid(what, 'descriptor is not an object');
  if (typeof v.mediaType !== 'string' || v.mediaType === '') throw invalid(what, 'descriptor has no mediaType');
  if (typeof v.digest !== 'string' || !isDigest(v.digest)) throw invalid(what, `bad digest ${JSON.stringify(v.digest)}`);
  if (typeof v.size !== 'number' || !Number.isSafeInteger(v.size) || v.size < 0) throw invalid(what, `bad size ${JSON.stringify(v.size)}`);
  if (v.platform !== undefined && !(obj(v.platform) && typeof v.platform.os === 'string' && typeof v.platform.architecture === 'string')) {
    throw invalid(what, 'bad platform');
  }
  return v as unknown as Descriptor;
}

export type ManifestKind = { kind: 'index'; mediaType: string; index: Index } | { kind: 'manifest'; mediaType: string; manifest: Manifest };

/**
 * Parses manifest bytes. The media type is the document's own `mediaType`, else `fallbackType` (a Content-Type or
 * descriptor type); a document whose `mediaType` contradicts `fallbackType` is refused (CVE-2021-41190).
 */
export function parseManifestOrIndex(bytes: Uint8Array, fallbackType: string | undefined, what = 'manifest'): ManifestKind {
  const doc = parseJSON(bytes, what);
  if (!obj(doc)) throw invalid(what, 'not a JSON object');
  const own = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  if (doc.schemaVersion === 1 || isSchema1(own) || isSchema1(fallbackType)) {
    throw new TsociError('UNSUPPORTED_MEDIA_TYPE', `${what} is a Docker schema 1 manifest, which tsoci does not support`, {
      hint: 'schema 1 is deprecated; push the image again with a current client (docker, buildah, skopeo) to get schema 2 or OCI',
    });
  }
  if (doc.schemaVersion !== 2) throw invalid(what, `schemaVersion ${JSON.stringify(doc.schemaVersion)} is not 2`);
  let mt = own ?? fallbackType;
  if (own && fallbackType && own !== fallbackType && (isIndex(fallbackType) || isManifest(fallbackType))) {
    throw invalid(what, `its mediaType ${own} contradicts the served type ${fallbackType}`);
  }
  if (!mt || !(isIndex(mt) || isManifest(mt))) {
    // Neither field says: decide by shape, as the spec's fields allow.
    if (Array.isArray(doc.manifests)) mt = 'application/vnd.oci.image.index.v1+json';
    else if (obj(doc.config) && Array.isArray(doc.layers)) mt = 'application/vnd.oci.image.manifest.v1+json';
    else throw new TsociError('UNSUPPORTED_MEDIA_TYPE', `${what} has unsupported media type ${mt ?? '(none)'}`);
  }
  if (isIndex(mt)) {
    if (!Array.isArray(doc.manifests)) throw invalid(what, 'index has no manifests array');
    doc.manifests.forEach((d, i) => assertDescriptor(d, `${what} entry ${i}`));
    return { kind: 'index', mediaType: mt, index: doc as unknown as Index };
  }
  if (!obj(doc.config)) throw invalid(what, 'manifest has no config');
  assertDescriptor(doc.config, `${what} config`);
  if (!Array.isArray(doc.layers)) throw invalid(what, 'manifest has no layers array');
  doc.layers.forEach((d, i) => assertDescriptor(d, `${what} layer ${i}`));
  return { kind: 'manifest', mediaType: mt, manifest: doc as unknown as Manifest };
}

export function parseImageConfig(bytes: Uint8Array, what = 'image config'): ImageConfig {
  const doc = parseJSON(bytes, what);
  if (!obj(doc)) throw invalid(what, 'not a JSON object');
  if (!obj(doc.rootfs) || doc.rootfs.type !== 'layers' || !Array.isArray(doc.rootfs.diff_ids)) {
    throw invalid(what, 'rootfs must be {"type":"layers","diff_ids":[...]}');
  }
  for (const d of doc.rootfs.diff_ids) if (typeof d !== 'string' || !isDigest(d)) throw invalid(what, `bad diff_id ${JSON.stringify(d)}`);
  if (doc.config !== undefined && doc.config !== null && !obj(doc.config)) throw invalid(what, 'config is not an object');
  return doc as unknown as ImageConfig;
}
