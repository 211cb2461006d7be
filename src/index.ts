// The public library API: each function is one verb of the CLI, composed from the stages.

import { TsociError, isTsociError } from './errors.js';
import { type Bundle, type BundleOptions, createBundle, destroyBundle } from './bundle/bundle.js';
import { type CopyEvent, copyImage } from './layout/copy.js';
import { asWriter, collectGarbage, type GcResult } from './layout/gc.js';
import { type StoredImage, readImage } from './layout/image.js';
import { findRef, listRefs, removeRef, setRef } from './layout/refs.js';
import { LayoutStore } from './layout/store.js';
import type { Digest } from './oci/digest.js';
import type { Platform } from './oci/types.js';
import { eraseCredentials, storeCredentials } from './registry/credentials.js';
import { DOCKER_HUB, DOCKER_HUB_API, type Reference, parseReference } from './registry/reference.js';
import type { Settings } from './settings.js';

export { TsociError, isTsociError } from './errors.js';
export type { ErrorCode } from './errors.js';
export { parseReference, Reference } from './registry/reference.js';
export { loadSettings, defaultRoot, type Settings } from './settings.js';
export { LayoutStore } from './layout/store.js';
export { copyImage, type CopyEvent } from './layout/copy.js';
export { readImage, type StoredImage } from './layout/image.js';
export { parsePlatform, formatPlatform, hostPlatform } from './oci/platform.js';
export * from './oci/types.js';
export { MediaType } from './oci/media-types.js';
export { toRuntimeSpec, type Overrides } from './bundle/convert.js';
export type { Bundle, BundleOptions } from './bundle/bundle.js';
export type { Spec } from './bundle/spec.js';

export async function openStore(settings: Pick<Settings, 'root'>): Promise<LayoutStore> {
  const store = new LayoutStore(settings.root);
  await store.init();
  return store;
}

export interface PullOptions {
  platform?: Platform;
  /** Extract each layer into its snapshot while it downloads (what bundle and run do on a cold store). */
  unpack?: boolean;
  onWarn?: (msg: string) => void;
  jobs?: number;
  signal?: AbortSignal;
  onEvent?: (e: CopyEvent) => void;
}

export interface PullResult {
  ref: string;
  digest: Digest;
  image: StoredImage;
}

/** The registry source for `ref`; undici and the client load only when a registry is needed. */
async function sourceFor(ref: Reference, settings: Settings): Promise<import('./registry/source.js').RegistrySource> {
  const { RegistrySource } = await import('./registry/source.js');
  return new RegistrySource(ref, {
    insecureRegistries: settings.insecureRegistries,
    registryMirrors: settings.registryMirrors,
    ...(settings.certsDir ? { certsDir: settings.certsDir } : {}),
    ...(settings.timeoutMs !== undefined ? { timeoutMs: settings.timeoutMs } : {}),
  });
}

/** Pulls `reference` from its registry into the store and names it there by its normalized form. */
export async function pull(reference: string, settings: Settings, opts: PullOptions = {}): Promise<PullResult> {
  const ref = parseReference(reference);
  const store = await openStore(settings);
  const source = await sourceFor(ref, settings);
  try {
    return await asWriter(store, async () => {
      const { streamingUnpack } = opts.unpack ? await import('./overlay/unpack.js') : { streamingUnpack: undefined };
      const unpack = streamingUnpack?.(settings.root, store, opts.onWarn ? { onWarn: opts.onWarn } : {});
      let copied;
      try {
        copied = await copyImage(source, store, { ...opts, ...(unpack ? { tapLayers: unpack.tapLayers } : {}) });
      } catch (e) {
        unpack?.abort(e);
        await unpack?.done().catch(() => {});
        throw e;
      }
      await unpack?.done();
      await setRef(store, ref.toString(), copied.top);
      return {
        ref: ref.toString(),
        digest: copied.top.digest,
        image: { ref: ref.toString(), ...copied },
      };
    });
  } finally {
    await source.close();
  }
}

/** The full normalized name of a local image reference (`alpine` -> `docker.io/library/alpine:latest`). */
export function localName(reference: string): string {
  return parseReference(reference).toString();
}

export interface ImageSummary {
  ref: string;
  repository: string;
  tag: string | undefined;
  digest: Digest;
  /** Bytes of the blobs as stored (compressed layers, config, manifests). */
  size: number;
  created: string | undefined;
  platform: string;
}

/** Every named image in the store, in index.json order. */
export async function listImages(settings: Settings): Promise<ImageSummary[]> {
  const store = await openStore(settings);
  const out: ImageSummary[] = [];
  for (const { ref, desc } of await listRefs(store)) {
    let r: Reference | undefined;
    try {
      r = parseReference(ref);
    } catch {
      r = undefined;
    }
    try {
      const img = await readImage(store, ref);
      const size = img.manifest.layers.reduce((n, l) => n + l.size, img.manifest.config.size + img.manifestDesc.size + (img.top === img.manifestDesc ? 0 : img.top.size));
      out.push({
        ref,
        repository: r?.name ?? ref,
        tag: r?.tag,
        digest: desc.digest,
        size,
        created: img.config.created,
        platform: [img.config.os, img.config.architecture, img.config.variant].filter(Boolean).join('/'),
      });
    } catch {
      out.push({ ref, repository: r?.name ?? ref, tag: r?.tag, digest: desc.digest, size: desc.size, created: undefined, platform: '' });
    }
  }
  return out;
}

/** Manifest and config of a stored image. */
export async function inspectImage(reference: string, settings: Settings, platform?: Platform): Promise<StoredImage> {
  const store = await openStore(settings);
  return readImage(store, localName(reference), platform);
}

/** Gives the image `src` names a second name `dst`. */
export async function tagImage(src: string, dst: string, settings: Settings): Promise<{ ref: string; digest: Digest }> {
  const store = await openStore(settings);
  const from = localName(src);
  const to = parseReference(dst);
  const desc = await findRef(store, from);
  if (!desc) throw new TsociError('REF_NOT_FOUND', `image ${from} is not in the store`, { hint: `pull it first: tsoci pull ${src}` });
  await setRef(store, to.toString(), desc);
  return { ref: to.toString(), digest: desc.digest };
}

/**
 * Removes the names; blobs no other name uses are deleted. The last name of an image a container was made from
 * is kept unless `force` (as docker rmi does); the container's snapshots stay while its bundle exists.
 */
export async function removeImages(references: string[], settings: Settings, opts: { force?: boolean } = {}): Promise<{ untagged: string[]; gc: GcResult }> {
  const store = await openStore(settings);
  const names = references.map(localName);
  for (const name of names) if (!(await findRef(store, name))) throw new TsociError('REF_NOT_FOUND', `image ${name} is not in the store`, { hint: 'see tsoci images' });
  if (!opts.force) {
    const { containerRecords, imageUses, madeFrom } = await import('./maintenance/usage.js');
    const images = await imageUses(store, settings.root);
    const containers = await containerRecords(settings.root);
    for (const name of names) {
      for (const img of images.filter((i) => i.refs.includes(name))) {
        // Other names that stay keep the image.
        if (img.refs.some((r) => r !== name && !names.includes(r))) continue;
        const user = containers.find((c) => madeFrom(c, img));
        if (user) {
          throw new TsociError('IMAGE_IN_USE', `image ${name} is used by container ${user.name} (${user.id.slice(0, 12)})`, {
            hint: `remove the container first (tsoci rm ${user.name}), or force with tsoci rmi -f ${name}`,
          });
        }
      }
    }
  }
  const untagged: string[] = [];
  for (const name of names) if (await removeRef(store, name)) untagged.push(name);
  const gc = await collectGarbage(store, { ingest: false });
  return { untagged, gc };
}

/** Removes unreferenced blobs, unused snapshots, partial downloads and what crashes left; says what was freed. */
export async function gc(settings: Settings): Promise<import('./maintenance/gc.js').GcReport> {
  const { collectRoot } = await import('./maintenance/gc.js');
  return collectRoot(settings.root, await openStore(settings));
}

/** Rehashes every blob and checks every image and snapshot; `repair` removes what is wrong. */
export async function verify(settings: Settings, opts: import('./maintenance/verify.js').VerifyOptions = {}): Promise<import('./maintenance/verify.js').VerifyReport> {
  const { verifyRoot } = await import('./maintenance/verify.js');
  return verifyRoot(settings.root, await openStore(settings), opts);
}

/** What images, snapshots, containers and partial downloads take on disk. */
export async function systemDf(settings: Settings): Promise<import('./maintenance/df.js').UsageLine[]> {
  const { diskUsageReport } = await import('./maintenance/df.js');
  const { Containers } = await import('./runtime/containers.js');
  const c = new Containers(settings.root);
  return diskUsageReport(settings.root, await openStore(settings), async (id) => {
    const rec = await c.read(id);
    return !!rec && ['running', 'paused'].includes((await c.info(rec)).status);
  });
}

/** The registry host a login names, normalized like references (docker.io for Docker Hub). */
export function loginHost(server: string | undefined): string {
  if (!server) return DOCKER_HUB;
  let h = server.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  if (h === 'index.docker.io' || h === DOCKER_HUB_API) h = DOCKER_HUB;
  return h;
}

/** Checks the credentials against the registry, then stores them as docker login does. Returns the file written. */
export async function login(server: string | undefined, creds: { username: string; password: string }, settings: Settings): Promise<{ registry: string; file: string }> {
  const registry = loginHost(server);
  const { RegistryClient } = await import('./registry/client.js');
  const client = new RegistryClient(
    { host: registry === DOCKER_HUB ? DOCKER_HUB_API : registry, credsName: registry },
    {
      insecureRegistries: settings.insecureRegistries,
      credentials: async () => creds,
      ...(settings.certsDir ? { certsDir: settings.certsDir } : {}),
      ...(settings.timeoutMs !== undefined ? { timeoutMs: settings.timeoutMs } : {}),
    },
  );
  try {
    const res = await client.request('', { what: 'login' });
    await res.body.dump();
    if (res.status === 401) throw new TsociError('UNAUTHORIZED', `${registry} rejected the user name or password`, { hint: 'check them and try again' });
    if (res.status !== 200) throw new TsociError('REGISTRY_ERROR', `${registry} answered HTTP ${res.status} to the login check`);
  } finally {
    await client.close();
  }
  return { registry, file: await storeCredentials(registry, creds) };
}

export async function logout(server: string | undefined): Promise<{ registry: string; removed: boolean }> {
  const registry = loginHost(server);
  return { registry, removed: await eraseCredentials(registry) };
}

/** The stored image `reference` names, pulled first when missing (and `pull` is not 'never'). */
export async function imageFor(reference: string, settings: Settings, opts: PullOptions & { pull?: 'missing' | 'always' | 'never' } = {}): Promise<StoredImage> {
  return imageIn(await openStore(settings), reference, settings, opts);
}

/** imageFor in a store the caller opened already. */
async function imageIn(store: LayoutStore, reference: string, settings: Settings, opts: PullOptions & { pull?: 'missing' | 'always' | 'never' }): Promise<StoredImage> {
  const name = localName(reference);
  // A pull on the way to a bundle extracts while it downloads.
  if (opts.pull === 'always') return (await pull(reference, settings, { unpack: true, ...opts })).image;
  try {
    return await readImage(store, name, opts.platform);
  } catch (e) {
    if (!isTsociError(e, 'REF_NOT_FOUND') || opts.pull === 'never') throw e;
  }
  return (await pull(reference, settings, { unpack: true, ...opts })).image;
}

/** Writes a runtime bundle for `reference` in `dir` (pulling the image when missing). */
export async function bundle(reference: string, dir: string, settings: Settings, opts: BundleOptions & PullOptions & { pull?: 'missing' | 'always' | 'never' } = {}): Promise<Bundle> {
  // A flattened copy needs no snapshots: then a pull only downloads.
  const store = await openStore(settings);
  const img = await imageIn(store, reference, settings, { ...opts, unpack: opts.unpack ?? !opts.copy });
  return asWriter(store, () => createBundle(settings.root, store, img, dir, opts));
}

/** Unmounts and removes a bundle made by `bundle`. */
export async function unbundle(dir: string, settings: Settings): Promise<void> {
  await destroyBundle(settings.root, dir);
}

export type { RunOptions, RunResult, ExecOptions } from './runtime/run.js';
export type { ContainerInfo } from './runtime/containers.js';

/** Runs `reference` (pulling per `pull`): foreground resolves with the exit code; detached with the id. */
export async function run(
  reference: string,
  settings: Settings,
  opts: import('./runtime/run.js').RunOptions & PullOptions & { pull?: 'missing' | 'always' | 'never' },
): Promise<import('./runtime/run.js').RunResult> {
  const { runContainer } = await import('./runtime/run.js');
  const store = await openStore(settings);
  const img = await imageIn(store, reference, settings, opts);
  return runContainer(settings.root, store, img, opts);
}

/** Containers with their status reconciled with the runtime; only running ones unless `all`. */
export async function listContainers(settings: Settings, all = false): Promise<import('./runtime/containers.js').ContainerInfo[]> {
  const { Containers } = await import('./runtime/containers.js');
  const c = new Containers(settings.root);
  const out = [];
  for (const r of await c.records()) {
    const i = await c.info(r);
    if (all || i.status === 'running' || i.status === 'paused') out.push(i);
  }
  return out;
}

export async function exec(container: string, settings: Settings, opts: import('./runtime/run.js').ExecOptions): Promise<number> {
  const { execInContainer } = await import('./runtime/run.js');
  return execInContainer(settings.root, container, opts);
}

export async function logs(container: string, settings: Settings, out: NodeJS.WritableStream, follow = false): Promise<void> {
  const { containerLogs } = await import('./runtime/run.js');
  return containerLogs(settings.root, container, out, follow);
}

export async function stop(container: string, settings: Settings, timeout?: number): Promise<string> {
  const { stopContainer } = await import('./runtime/run.js');
  return (await stopContainer(settings.root, container, timeout)).name;
}

export async function kill(container: string, settings: Settings, signal?: string): Promise<string> {
  const { killContainer } = await import('./runtime/run.js');
  return (await killContainer(settings.root, container, signal)).name;
}

/** Removes containers (running ones only with `force`); returns their names. */
export async function removeContainers(containers: string[], settings: Settings, force = false): Promise<string[]> {
  const { Containers } = await import('./runtime/containers.js');
  const c = new Containers(settings.root);
  const out: string[] = [];
  for (const ref of containers) {
    const rec = await c.find(ref);
    await c.remove(rec, force);
    out.push(rec.name);
  }
  return out;
}

export type { ArchiveFormatName, LoadedImage } from './layout/archive/transfers.js';

/** Loads a docker-archive, oci-archive or OCI layout directory (a path, or a stream such as stdin). */
export async function load(
  input: { file: string } | { stream: NodeJS.ReadableStream },
  settings: Settings,
  opts: import('./layout/archive/transfers.js').LoadOptions = {},
): Promise<{ format: string; images: import('./layout/archive/transfers.js').LoadedImage[] }> {
  const { loadArchive } = await import('./layout/archive/transfers.js');
  return loadArchive(await openStore(settings), input as { file: string } | { stream: import('node:stream').Readable }, opts);
}

/** Writes stored images as a docker-archive, an oci-archive or into an OCI layout directory. */
export async function save(
  references: string[],
  dest: { path: string } | { stream: NodeJS.WritableStream },
  format: import('./layout/archive/transfers.js').ArchiveFormatName,
  settings: Settings,
  opts: import('./layout/archive/transfers.js').SaveOptions & { platform?: Platform } = {},
): Promise<{ names: string[] }> {
  const { writeImages } = await import('./layout/archive/transfers.js');
  const store = await openStore(settings);
  // As a writer: no gc removes a blob while it is being written out.
  return asWriter(store, async () => {
    const images = [];
    for (const r of references) {
      const name = localName(r);
      images.push({ image: await readImage(store, name, opts.platform), names: [name] });
    }
    await writeImages(store, images, format, dest as { path: string } | { stream: import('node:stream').Writable }, opts.compress ? { compress: opts.compress } : {});
    return { names: images.map((i) => i.names[0]!) };
  });
}

/** Copies an image between skopeo-style transports (docker://, docker-archive:, oci-archive:, oci:) without the store. */
export async function convert(
  src: string,
  dst: string,
  settings: Settings,
  opts: import('./layout/archive/transfers.js').ConvertOptions = {},
): Promise<{ names: string[]; digest: Digest }> {
  const { convertImage, parseTransport } = await import('./layout/archive/transfers.js');
  return convertImage(parseTransport(src, 'source'), parseTransport(dst, 'destination'), async (ref) => sourceFor(parseReference(ref), settings), opts);
}
