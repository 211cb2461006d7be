// A registry repository as an ImageSource: manifests by tag or digest (digest computed from the bytes and checked
// against the reference and Docker-Content-Digest), blobs by digest with Range resume; mirrors tried first.

import { TsociError, isTsociError } from '../errors.js';
import type { ByteSource, ImageSource } from '../layout/source.js';
import { type Digest, sha256 } from '../oci/digest.js';
import { MANIFEST_ACCEPT, bareContentType, isIndex, isManifest } from '../oci/media-types.js';
import { type Descriptor, MAX_MANIFEST_BYTES, parseManifestOrIndex } from '../oci/types.js';
import { type ClientOptions, RegistryClient, readCappedBytes } from './client.js';
import { DOCKER_HUB, type Reference } from './reference.js';

export interface RegistrySourceOptions extends ClientOptions {
  /** Mirrors of docker.io (host[:port] or URL), tried in order before the origin. */
  registryMirrors?: string[];
}

function mirrorHost(m: string): string {
  try {
    return m.includes('://') ? new URL(m).host : m.replace(/\/+$/, '');
  } catch {
    throw new TsociError('INVALID_ARGUMENT', `invalid registry mirror "${m}" in the configuration`);
  }
}

export class RegistrySource implements ImageSource {
  readonly name: string;
  private readonly clients: RegistryClient[];
  private active = 0;
  private readonly manifests = new Map<string, Buffer>();

  constructor(readonly ref: Reference, opts: RegistrySourceOptions = {}) {
    this.name = ref.toString();
    const mirrors = ref.registry === DOCKER_HUB ? (opts.registryMirrors ?? []).map(mirrorHost) : [];
    const insecureRegistries = [...(opts.insecureRegistries ?? [])];
    // Mirrors configured with http:// are plain HTTP by the user's own word.
    for (const m of opts.registryMirrors ?? []) if (m.startsWith('http://')) insecureRegistries.push(mirrorHost(m));
    this.clients = [...mirrors.map((h) => ({ host: h, credsName: h })), { host: ref.apiHost, credsName: ref.registry }].map(
      (ep) => new RegistryClient(ep, { ...opts, insecureRegistries }),
    );
  }

  private scope(): string {
    return `repository:${this.ref.repository}:pull`;
  }

  /** Runs `fn` against the active endpoint, moving on to the next mirror/origin when one fails. */
  private async onEndpoints<T>(fn: (c: RegistryClient) => Promise<T>): Promise<T> {
    let lastErr: unknown;
    for (let i = this.active; i < this.clients.length; i++) {
      try {
        const out = await fn(this.clients[i]!);
        this.active = i;
        return out;
      } catch (e) {
        lastErr = e;
        if (i === this.clients.length - 1 || isTsociError(e, 'DIGEST_MISMATCH') || isTsociError(e, 'MANIFEST_INVALID')) throw e;
      }
    }
    throw lastErr;
  }

  async resolve(opts: { signal?: AbortSignal } = {}): Promise<Descriptor> {
    return this.onEndpoints(async (c) => {
      const { bytes, mediaType } = await this.fetchManifest(c, this.ref.target, opts.signal);
      const digest = sha256(bytes);
      if (this.ref.digest && this.ref.digest !== digest) {
        throw new TsociError('DIGEST_MISMATCH', `manifest of ${this.name} has digest ${digest}, not the requested one`);
      }
      this.manifests.set(digest, bytes);
      return { mediaType, digest, size: bytes.length };
    });
  }

  /** GETs a manifest (4 MiB cap), checks Docker-Content-Digest, and works out its media type. */
  private async fetchManifest(c: RegistryClient, target: string, signal?: AbortSignal): Promise<{ bytes: Buffer; mediaType: string }> {
    const what = `manifest ${this.ref.name}${target.includes(':') ? '@' : ':'}${target}`;
    const res = await c.request(`${this.ref.repository}/manifests/${target}`, {
      headers: { accept: [...MANIFEST_ACCEPT, '*/*;q=0.1'].join(', ') },
      scope: this.scope(),
      signal,
      what,
    });
    if (res.status !== 200) return c.fail(res, what);
    const len = Number(res.headers['content-length']);
    if (Number.isFinite(len) && len > MAX_MANIFEST_BYTES) {
      await res.body.dump();
      throw new TsociError('MANIFEST_TOO_LARGE', `${what} is ${len} bytes, over the ${MAX_MANIFEST_BYTES}-byte limit`);
    }
    const bytes = await readCappedBytes(res.body, MAX_MANIFEST_BYTES, what);
    const digest = sha256(bytes);
    const dcd = res.headers['docker-content-digest'];
    const claimed = Array.isArray(dcd) ? dcd[0] : dcd;
    if (claimed && claimed.startsWith('sha256:') && claimed !== digest) {
      throw new TsociError('DIGEST_MISMATCH', `${what}: the registry says its digest is ${claimed}, but its bytes hash to ${digest}`);
    }
    const ct = bareContentType(res.headers['content-type'] as string | undefined);
    const parsed = parseManifestOrIndex(bytes, ct, what);
    return { bytes, mediaType: parsed.mediaType };
  }

  async open(desc: Descriptor, opts: { offset?: number; signal?: AbortSignal } = {}): Promise<ByteSource> {
    const cached = this.manifests.get(desc.digest);
    if (cached) return [cached.subarray(opts.offset ?? 0)];
    if (isIndex(desc.mediaType) || isManifest(desc.mediaType)) {
      return this.onEndpoints(async (c): Promise<ByteSource> => {
        const { bytes } = await this.fetchManifest(c, desc.digest, opts.signal);
        this.manifests.set(desc.digest, bytes);
        return [bytes.subarray(opts.offset ?? 0)];
      });
    }
    return this.onEndpoints((c) => this.openBlob(c, desc, opts.offset ?? 0, opts.signal));
  }

  private async openBlob(c: RegistryClient, desc: Descriptor, offset: number, signal?: AbortSignal): Promise<AsyncIterable<Uint8Array>> {
    const what = `blob ${desc.digest}`;
    const headers: Record<string, string> = {};
    if (offset > 0) headers.range = `bytes=${offset}-`;
    const res = await c.request(`${this.ref.repository}/blobs/${desc.digest}`, { headers, scope: this.scope(), signal, what });
    if (res.status !== 200 && res.status !== 206) return c.fail(res, what);
    const dcd = res.headers['docker-content-digest'];
    const claimed = Array.isArray(dcd) ? dcd[0] : dcd;
    if (claimed && claimed.startsWith('sha256:') && claimed !== desc.digest) {
      await res.body.dump();
      throw new TsociError('DIGEST_MISMATCH', `${what}: the registry served a blob it says is ${claimed}`);
    }
    const len = Number(res.headers['content-length']);
    let skip = 0;
    if (res.status === 206) {
      const cr = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
      if (!cr || Number(cr[1]) !== offset || (cr[3] !== '*' && Number(cr[3]) !== desc.size)) {
        await res.body.dump();
        throw new TsociError('REGISTRY_ERROR', `${what}: the registry answered a resume request with a wrong Content-Range (${String(res.headers['content-range'])})`);
      }
    } else {
      // A 200 to a Range request: the whole blob again; skip what we hold.
      skip = offset;
      if (Number.isFinite(len) && len !== desc.size) {
        await res.body.dump();
        throw new TsociError('SIZE_MISMATCH', `${what}: the registry announced ${len} bytes, the descriptor says ${desc.size}`);
      }
    }
    if (res.status === 206 && Number.isFinite(len) && len !== desc.size - offset) {
      await res.body.dump();
      throw new TsociError('SIZE_MISMATCH', `${what}: the registry announced ${len} remaining bytes, expected ${desc.size - offset}`);
    }
    return skip > 0 ? skipBytes(res.body, skip) : res.body;
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.close()));
  }
}

async function* skipBytes(src: AsyncIterable<Uint8Array>, n: number): AsyncIterable<Uint8Array> {
  let left = n;
  for await (const c of src) {
    if (left >= c.length) {
      left -= c.length;
      continue;
    }
    yield left > 0 ? c.subarray(left) : c;
    left = 0;
  }
}

export type { Digest };
