// Test images built by our own code: tar layers written with tar-stream, gzip (or none), an image config,
// a manifest (OCI or Docker schema2) and optionally an index of several platforms. Deterministic: fixed mtimes.

import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';

export const FIXED_MTIME = new Date('2024-01-01T00:00:00Z');

export interface Entry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';
  content?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  pax?: Record<string, string>;
  mtime?: Date;
}

export interface Blob {
  mediaType: string;
  digest: string;
  size: number;
  data: Buffer;
}

export interface BuiltImage {
  /** The manifest or index a tag points to. */
  top: Blob;
  /** Manifests an index names (pushed by digest before the index). */
  manifests: Blob[];
  /** Configs and layers. */
  blobs: Blob[];
  config: Record<string, unknown>;
  diffIds: string[];
  layerTars: Buffer[];
}

export function blobOf(mediaType: string, data: Buffer): Blob {
  return { mediaType, data, size: data.length, digest: `sha256:${createHash('sha256').update(data).digest('hex')}` };
}

/** An uncompressed tar of `entries`, in order. */
export async function tarLayer(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: unknown) => chunks.push(c as Buffer));
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const e of entries) {
    const type = e.type ?? (e.content !== undefined ? 'file' : e.name.endsWith('/') ? 'directory' : 'file');
    const body = type === 'file' ? Buffer.from(e.content ?? '') : undefined;
    const header = {
      name: e.name,
      type,
      mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      uname: '',
      gname: '',
      mtime: e.mtime ?? FIXED_MTIME,
      size: body ? body.length : 0,
      ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
      ...(e.devmajor !== undefined ? { devmajor: e.devmajor, devminor: e.devminor ?? 0 } : {}),
      ...(e.pax ? { pax: e.pax } : {}),
    } as tar.Header;
    await new Promise<void>((resolve, reject) => pack.entry(header, body ?? '', (err) => (err ? reject(err) : resolve())));
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** The files of a runnable image: static busybox as /bin/busybox, applets as symlinks, passwd and group. */
export function busyboxEntries(): Entry[] {
  const bin = readFileSync(process.env.TSOCI_TEST_BUSYBOX ?? '/bin/busybox');
  const applets = ['sh', 'ls', 'cat', 'echo', 'sleep', 'id', 'true', 'false', 'env', 'pwd', 'hostname', 'touch', 'mkdir', 'rm', 'stat', 'ip', 'test', 'wc', 'head', 'grep', 'readlink', 'ln'];
  return [
    { name: 'bin/', type: 'directory' },
    { name: 'bin/busybox', content: bin, mode: 0o755 },
    ...applets.map((a) => ({ name: `bin/${a}`, type: 'symlink' as const, linkname: 'busybox' })),
    { name: 'etc/', type: 'directory' },
    { name: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home/nobody:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n' },
    { name: 'etc/group', content: 'root:x:0:\nnogroup:x:65534:\napp:x:1000:\nstaff:x:50:app\n' },
    { name: 'tmp/', type: 'directory', mode: 0o1777 },
    { name: 'root/', type: 'directory', mode: 0o700 },
    { name: 'home/', type: 'directory' },
    { name: 'home/app/', type: 'directory', uid: 1000, gid: 1000 },
    { name: 'proc/', type: 'directory' },
    { name: 'sys/', type: 'directory' },
    { name: 'dev/', type: 'directory' },
  ];
}

export interface ImageSpec {
  layers: (Entry[] | Buffer)[];
  config?: Record<string, unknown>;
  platform?: { os: string; architecture: string; variant?: string };
  /** Docker schema2 media types instead of OCI ones. */
  docker?: boolean;
  compression?: 'gzip' | 'none';
  /** Omit the manifest's mediaType field (as skopeo does for OCI). */
  omitMediaType?: boolean;
  created?: string;
}

export async function buildImage(spec: ImageSpec): Promise<BuiltImage> {
  const gz = (spec.compression ?? 'gzip') === 'gzip';
  const layerTars: Buffer[] = [];
  for (const l of spec.layers) layerTars.push(Buffer.isBuffer(l) ? l : await tarLayer(l));
  const layerMt = spec.docker ? (gz ? 'application/vnd.docker.image.rootfs.diff.tar.gzip' : 'application/vnd.docker.image.rootfs.diff.tar') : gz ? 'application/vnd.oci.image.layer.v1.tar+gzip' : 'application/vnd.oci.image.layer.v1.tar';
  const layers = layerTars.map((t) => blobOf(layerMt, gz ? gzipSync(t) : t));
  const diffIds = layerTars.map((t) => blobOf('', t).digest);
  const platform = spec.platform ?? { os: 'linux', architecture: 'amd64' };
  const config = {
    created: spec.created ?? '2024-01-01T00:00:00Z',
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/bin/sh'], ...(spec.config ?? {}) },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: layerTars.map(() => ({ created: '2024-01-01T00:00:00Z', created_by: 'tsoci test helper' })),
  };
  const configBlob = blobOf(spec.docker ? 'application/vnd.docker.container.image.v1+json' : 'application/vnd.oci.image.config.v1+json', Buffer.from(JSON.stringify(config)));
  const manifestMt = spec.docker ? 'application/vnd.docker.distribution.manifest.v2+json' : 'application/vnd.oci.image.manifest.v1+json';
  const manifest = {
    schemaVersion: 2,
    ...(spec.omitMediaType ? {} : { mediaType: manifestMt }),
    config: { mediaType: configBlob.mediaType, digest: configBlob.digest, size: configBlob.size },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  };
  const top = blobOf(manifestMt, Buffer.from(JSON.stringify(manifest)));
  return { top, manifests: [], blobs: [configBlob, ...layers], config, diffIds, layerTars };
}

/** An index over images of several platforms (plus an attestation entry when asked). */
export function buildIndex(images: { image: BuiltImage; platform: { os: string; architecture: string; variant?: string } }[], opts: { docker?: boolean; attestation?: boolean } = {}): BuiltImage {
  const mt = opts.docker ? 'application/vnd.docker.distribution.manifest.list.v2+json' : 'application/vnd.oci.image.index.v1+json';
  const manifests: object[] = images.map(({ image, platform }) => ({ mediaType: image.top.mediaType, digest: image.top.digest, size: image.top.size, platform }));
  if (opts.attestation && images[0]) {
    manifests.push({
      mediaType: images[0].image.top.mediaType,
      digest: images[0].image.top.digest,
      size: images[0].image.top.size,
      platform: { os: 'unknown', architecture: 'unknown' },
      annotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
    });
  }
  const top = blobOf(mt, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mt, manifests })));
  return {
    top,
    manifests: images.map((i) => i.image.top),
    blobs: images.flatMap((i) => i.image.blobs),
    config: {},
    diffIds: [],
    layerTars: [],
  };
}

/** A layer of `n` bytes of random data in one file. */
export function randomFileEntry(name: string, n: number): Entry {
  return { name, content: randomBytes(n) };
}
