// Streaming unpack against the real registry behind our fault proxy: each layer extracted into its snapshot
// while it downloads, the blob still stored and verified, and a digest or diff-ID mismatch discarding both.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { tsoci } from '../helpers/cli.js';
import { unmountUnder } from '../helpers/mounts.js';
import { type BuiltImage, blobOf, buildImage, busyboxEntries } from '../helpers/images.js';
import { type FaultProxy, startProxy } from '../helpers/proxy.js';
import { type Registry, pushBlob, pushImage, pushManifest, startRegistry } from '../helpers/registry.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'tsoci-unpack-'));
let reg: Registry;
let proxy: FaultProxy;
let img: BuiltImage;
let other: BuiltImage;
let n = 0;
const payload = randomBytes(2_000_000);

const newRoot = () => path.join(tmp, `root-${n++}`);
const cli = (root: string, args: string[]) => tsoci(args, { env: { TSOCI_ROOT: root } });
const ref = (repo: string) => `${proxy.host}/${repo}:v1`;
const snapshotDirs = (root: string) => (existsSync(path.join(root, 'snapshots')) ? readdirSync(path.join(root, 'snapshots')) : []);
const blobs = (root: string) => readdirSync(path.join(root, 'image', 'blobs', 'sha256'));
const chain = (diffIds: string[]) => diffIds.reduce<string | undefined>((acc, d) => (acc ? `sha256:${createHash('sha256').update(`${acc} ${d}`).digest('hex')}` : d), undefined)!.slice(7, 19);

async function ok(root: string, args: string[]): Promise<string> {
  const r = await cli(root, args);
  assert.equal(r.code, 0, `tsoci ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

before(async () => {
  reg = await startRegistry();
  img = await buildImage({ layers: [busyboxEntries(), [{ name: 'etc/motd', content: 'streamed\n' }, { name: 'data/', type: 'directory' }], [{ name: 'data/payload.bin', content: payload }, { name: 'data/link', type: 'link', linkname: 'etc/motd' }]] });
  other = await buildImage({ layers: [busyboxEntries(), [{ name: 'other.txt', content: 'other\n' }]] });
  await pushImage(reg, 'unpack/app', 'v1', img);
  await pushImage(reg, 'unpack/other', 'v1', other);
  // An image whose config names a wrong diff ID for its last layer.
  const config = { ...img.config, rootfs: { type: 'layers', diff_ids: [...img.diffIds.slice(0, 2), `sha256:${'5'.repeat(64)}`] } };
  const cfg = blobOf('application/vnd.oci.image.config.v1+json', Buffer.from(JSON.stringify(config)));
  await pushBlob(reg, 'unpack/lying', cfg);
  for (const b of img.blobs.slice(1)) await pushBlob(reg, 'unpack/lying', b);
  const manifest = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: cfg.mediaType, digest: cfg.digest, size: cfg.size }, layers: img.blobs.slice(1).map((b) => ({ mediaType: b.mediaType, digest: b.digest, size: b.size })) };
  await pushManifest(reg, 'unpack/lying', 'v1', 'application/vnd.oci.image.manifest.v1+json', Buffer.from(JSON.stringify(manifest)));
  proxy = await startProxy(reg.url);
});

afterEach(() => {
  proxy.fault = () => undefined;
});

after(async () => {
  await proxy.close();
  await reg.stop();
  unmountUnder(tmp); // whatever a failed test left mounted
  rmSync(tmp, { recursive: true, force: true });
});

describe('streaming unpack', () => {
  it('pull --unpack stores every blob verified and commits a snapshot per layer, in one download', async () => {
    const root = newRoot();
    proxy.requests.length = 0;
    await ok(root, ['pull', '--unpack', ref('unpack/app')]);
    for (const b of img.blobs) assert.ok(blobs(root).includes(b.digest.slice(7)));
    const ids = [1, 2, 3].map((k) => chain(img.diffIds.slice(0, k)));
    assert.deepEqual(snapshotDirs(root).sort(), [...ids].sort());
    for (const id of ids) assert.ok(existsSync(path.join(root, 'snapshots', id, 'committed')));
    assert.ok(readFileSync(path.join(root, 'snapshots', ids[2]!, 'fs', 'data', 'payload.bin')).equals(payload));
    for (const b of img.blobs) assert.equal(proxy.requests.filter((q) => q.method === 'GET' && q.url.endsWith(`/blobs/${b.digest}`)).length, 1);
    assert.match(await ok(root, ['verify']), /no problems/);
    // The bundle after it extracts nothing and downloads nothing.
    proxy.requests.length = 0;
    const dir = path.join(tmp, `b-${n++}`);
    await ok(root, ['bundle', ref('unpack/app'), dir]);
    assert.equal(proxy.requests.length, 0);
    assert.equal(readFileSync(path.join(dir, 'rootfs', 'data', 'link'), 'utf8'), 'streamed\n');
    await ok(root, ['unbundle', dir]);
  });

  it('extracts a layer while it is still downloading (one pass, not pull then extract)', async () => {
    const root = newRoot();
    const last = img.blobs[3]!;
    // The payload layer arrives over about two seconds.
    proxy.fault = (req) => (req.url.endsWith(`/blobs/${last.digest}`) ? { kind: 'slow', bytesPerSecond: 1_000_000 } : undefined);
    const pulling = cli(root, ['pull', '--unpack', ref('unpack/app')]);
    let done = false;
    void pulling.finally(() => (done = true));
    let seenEarly = false;
    while (!done && !seenEarly) {
      const blobStored = existsSync(path.join(root, 'image', 'blobs', 'sha256', last.digest.slice(7)));
      const extracting = snapshotDirs(root)
        .filter((d) => d.startsWith('new-'))
        .some((d) => (statSync(path.join(root, 'snapshots', d, 'fs', 'data', 'payload.bin'), { throwIfNoEntry: false })?.size ?? 0) > 0);
      seenEarly = extracting && !blobStored;
      await new Promise((r) => setTimeout(r, 20));
    }
    const r = await pulling;
    assert.equal(r.code, 0, r.stderr);
    assert.ok(seenEarly, 'payload.bin was being written before its blob was stored');
    assert.ok(readFileSync(path.join(root, 'snapshots', chain(img.diffIds), 'fs', 'data', 'payload.bin')).equals(payload));
  });

  it('a cold bundle streams too; layers already stored are read from the store', async () => {
    const root = newRoot();
    await ok(root, ['pull', ref('unpack/other')]); // the busybox layer's blob is stored, not extracted
    proxy.requests.length = 0;
    const dir = path.join(tmp, `b-${n++}`);
    await ok(root, ['bundle', ref('unpack/app'), dir]);
    assert.equal(proxy.requests.filter((q) => q.url.endsWith(`/blobs/${img.blobs[1]!.digest}`)).length, 0, 'the shared layer was not fetched');
    assert.equal(readFileSync(path.join(dir, 'rootfs', 'etc', 'motd'), 'utf8'), 'streamed\n');
    assert.ok(readFileSync(path.join(dir, 'rootfs', 'data', 'payload.bin')).equals(payload));
    await ok(root, ['unbundle', dir]);
    assert.match(await ok(root, ['verify']), /no problems/);
  });

  it('a connection reset mid-layer is resumed, and the snapshot is whole', async () => {
    const root = newRoot();
    const last = img.blobs[3]!.digest;
    let faults = 0;
    proxy.fault = (req) => (req.url.endsWith(`/blobs/${last}`) && faults++ === 0 ? { kind: 'reset-after', bytes: 1_200_000 } : undefined);
    await ok(root, ['pull', '--unpack', ref('unpack/app')]);
    assert.equal(faults, 2);
    assert.ok(readFileSync(path.join(root, 'snapshots', chain(img.diffIds), 'fs', 'data', 'payload.bin')).equals(payload));
    assert.match(await ok(root, ['verify']), /no problems/);
  });

  it('corrupt bytes found at the end of a layer discard its blob and its snapshot', async () => {
    const root = newRoot();
    const last = img.blobs[3]!;
    proxy.fault = (req) => (req.url.endsWith(`/blobs/${last.digest}`) ? { kind: 'corrupt-at', byte: last.size - 10 } : undefined);
    const r = await cli(root, ['pull', '--unpack', ref('unpack/app')]);
    assert.equal(r.code, 125, r.stderr);
    assert.match(r.stderr.trim().split('\n').at(-1)!, /\[DIGEST_MISMATCH\]$/);
    assert.ok(!blobs(root).includes(last.digest.slice(7)));
    assert.ok(!snapshotDirs(root).includes(chain(img.diffIds)));
    assert.deepEqual(snapshotDirs(root).filter((d) => d.startsWith('new-')), []);
    assert.equal(JSON.parse(readFileSync(path.join(root, 'image', 'index.json'), 'utf8')).manifests.length, 0);
    assert.match(await ok(root, ['verify']), /no problems/);
  });

  it('a layer that does not match its diff ID discards its blob and its snapshot', async () => {
    const root = newRoot();
    const dir = path.join(tmp, `b-${n++}`);
    const r = await cli(root, ['bundle', ref('unpack/lying'), dir]);
    assert.equal(r.code, 125, r.stderr);
    assert.match(r.stderr.trim().split('\n').at(-1)!, /uncompressed content has digest .*\[DIGEST_MISMATCH\]$/);
    assert.ok(!blobs(root).includes(img.blobs[3]!.digest.slice(7)), 'the layer blob was not stored');
    assert.equal(snapshotDirs(root).filter((d) => !d.startsWith('new-')).length, 2, 'the two good layers are kept');
    assert.deepEqual(snapshotDirs(root).filter((d) => d.startsWith('new-')), []);
    assert.ok(!existsSync(dir));
    assert.match(await ok(root, ['verify']), /no problems/);
  });
});
