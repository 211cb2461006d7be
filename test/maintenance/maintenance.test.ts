// verify, gc, rmi's container guard and system df, through the CLI, on a store filled from the real registry,
// with overlay bundles and runc containers.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tsoci } from '../helpers/cli.js';
import { unmountUnder } from '../helpers/mounts.js';
import { type BuiltImage, buildImage, busyboxEntries } from '../helpers/images.js';
import { type Registry, pushImage, startRegistry } from '../helpers/registry.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'tsoci-maint-'));
let reg: Registry;
let a: BuiltImage;
let b: BuiltImage;
let refA: string;
let refB: string;
let n = 0;

const newRoot = () => path.join(tmp, `root-${n++}`);
const cli = (root: string, args: string[]) => tsoci(args, { env: { TSOCI_ROOT: root } });
const blobFile = (root: string, digest: string) => path.join(root, 'image', 'blobs', 'sha256', digest.slice(7));
const snapshots = (root: string) => readdirSync(path.join(root, 'snapshots')).sort();
const chainId = (diffIds: string[]) =>
  diffIds.reduce<string | undefined>((acc, d) => (acc ? `sha256:${createHash('sha256').update(`${acc} ${d}`).digest('hex')}` : d), undefined)!;
const snapshotId = (diffIds: string[]) => chainId(diffIds).slice(7, 19);

async function ok(root: string, args: string[]): Promise<string> {
  const r = await cli(root, args);
  assert.equal(r.code, 0, `tsoci ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function gcJson(root: string): Promise<{ blobs: { removed: number }; snapshots: { removed: number }; ingest: { removed: number }; bundles: { removed: number }; bytesFreed: number }> {
  return JSON.parse(await ok(root, ['gc', '--json']));
}

before(async () => {
  reg = await startRegistry();
  // Two images on one shared base layer.
  a = await buildImage({ layers: [busyboxEntries(), [{ name: 'a.txt', content: 'only in a\n' }]], config: { Cmd: ['sleep', '30'] } });
  b = await buildImage({ layers: [busyboxEntries(), [{ name: 'b.txt', content: 'only in b\n'.repeat(1000) }]] });
  await pushImage(reg, 'maint/a', 'v1', a);
  await pushImage(reg, 'maint/b', 'v1', b);
  refA = `${reg.host}/maint/a:v1`;
  refB = `${reg.host}/maint/b:v1`;
});

after(async () => {
  await reg.stop();
  unmountUnder(tmp); // whatever a failed test left mounted
  rmSync(tmp, { recursive: true, force: true });
});

describe('tsoci verify', () => {
  it('is clean on a sound store; names a corrupt blob, the image it breaks and an uncommitted snapshot; --repair removes them', async () => {
    const root = newRoot();
    const dirA = path.join(tmp, `bundle-${n++}`);
    const dirB = path.join(tmp, `bundle-${n++}`);
    await ok(root, ['pull', refA]);
    await ok(root, ['pull', refB]);
    await ok(root, ['bundle', refA, dirA]);
    await ok(root, ['bundle', refB, dirB]);
    await ok(root, ['unbundle', dirB]);
    assert.match(await ok(root, ['verify']), /Checked 7 blobs .*, 2 images, 3 snapshots: no problems/);

    const bLayer = b.blobs[2]!.digest;
    const f = blobFile(root, bLayer);
    const bytes = readFileSync(f);
    bytes[bytes.length >> 1]! ^= 0x01;
    writeFileSync(f, bytes);
    const bTop = snapshotId(b.diffIds);
    unlinkSync(path.join(root, 'snapshots', bTop, 'committed'));

    const bad = await cli(root, ['verify']);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, new RegExp(`^blob ${bLayer}: content hashes to sha256:[0-9a-f]{64}$`, 'm'));
    assert.match(bad.stdout, new RegExp(`^image ${refB}: blob ${bLayer} is corrupt$`, 'm'));
    assert.match(bad.stdout, new RegExp(`^snapshot ${bTop}: has no commit marker`, 'm'));
    assert.equal(bad.stderr.trim().split('\n').length, 1);
    assert.match(bad.stderr, /the store has 3 problems .*\[STORE_DAMAGED\]/);

    const json = await cli(root, ['verify', '--json']);
    assert.equal(json.code, 1);
    assert.deepEqual(JSON.parse(json.stdout).problems.map((p: { kind: string }) => p.kind).sort(), ['blob', 'image', 'snapshot']);

    const repair = await cli(root, ['verify', '--repair']);
    assert.equal(repair.code, 0, repair.stderr);
    assert.equal(repair.stdout.match(/\(removed\)/g)?.length, 3);
    assert.ok(!existsSync(f));
    assert.ok(!snapshots(root).includes(bTop));
    assert.match(await ok(root, ['verify']), /no problems/);
    assert.doesNotMatch(await ok(root, ['images']), /maint\/b/);
    // The mounted bundle of A was not touched, and B comes back with a pull.
    assert.equal(readFileSync(path.join(dirA, 'rootfs', 'a.txt'), 'utf8'), 'only in a\n');
    await ok(root, ['pull', refB]);
    assert.match(await ok(root, ['verify']), /no problems/);
    await ok(root, ['unbundle', dirA]);
  });
});

describe('tsoci gc', () => {
  it('removes unreferenced blobs, unused snapshots, partial downloads and stale bundles; keeps what a bundle uses', async () => {
    const root = newRoot();
    const dirA = path.join(tmp, `bundle-${n++}`);
    const dirB = path.join(tmp, `bundle-${n++}`);
    await ok(root, ['pull', refA]);
    await ok(root, ['pull', refB]);
    await ok(root, ['bundle', refA, dirA]);
    await ok(root, ['bundle', refB, dirB]);
    const base = snapshotId(a.diffIds.slice(0, 1));
    const topA = snapshotId(a.diffIds);
    const topB = snapshotId(b.diffIds);
    assert.deepEqual(snapshots(root), [base, topA, topB].sort());

    // Nothing is unused yet.
    let r = await gcJson(root);
    assert.deepEqual([r.blobs.removed, r.snapshots.removed, r.ingest.removed, r.bundles.removed], [0, 0, 0, 0]);

    // Leftovers of interrupted work, and a bundle its user deleted by hand.
    mkdirSync(path.join(root, 'ingest'), { recursive: true });
    writeFileSync(path.join(root, 'ingest', `sha256-${'0'.repeat(64)}`), Buffer.alloc(5000, 1));
    mkdirSync(path.join(root, 'snapshots', 'new-0123456789ab', 'fs'), { recursive: true });
    writeFileSync(path.join(root, 'snapshots', 'new-0123456789ab', 'fs', 'x'), Buffer.alloc(8192, 2));
    execFileSync('umount', [path.join(dirB, 'rootfs')]);
    rmSync(dirB, { recursive: true, force: true });

    // A's name goes, but its bundle still uses its top snapshot; the base is B's too.
    await ok(root, ['rmi', refA]);
    r = await gcJson(root);
    assert.deepEqual([r.snapshots.removed, r.ingest.removed, r.bundles.removed], [0, 1, 1]);
    assert.ok(r.bytesFreed >= 5000 + 8192, `freed ${r.bytesFreed}`);
    assert.deepEqual(snapshots(root), [base, topA, topB].sort());
    assert.equal(readFileSync(path.join(dirA, 'rootfs', 'a.txt'), 'utf8'), 'only in a\n');

    await ok(root, ['unbundle', dirA]);
    r = await gcJson(root);
    assert.equal(r.snapshots.removed, 1);
    assert.deepEqual(snapshots(root), [base, topB].sort());

    await ok(root, ['rmi', refB]);
    const text = await ok(root, ['gc']);
    assert.match(text, /^Removed 0 blobs, 2 snapshots, 0 partial downloads, 0 stale bundles\nTotal reclaimed space: [\d.]+[kM]B$/m);
    assert.deepEqual(snapshots(root), []);
    assert.deepEqual(readdirSync(path.join(root, 'image', 'blobs', 'sha256')), []);
    assert.match(await ok(root, ['verify']), /Checked 0 blobs .*no problems/);
  });
});

describe('images in use', () => {
  it('rmi keeps the last name of an image a container uses unless -f; the container keeps its snapshots; system df counts it', async () => {
    const root = newRoot();
    await ok(root, ['run', '-d', '--name', 'keeper', refA]);
    try {
      const refused = await cli(root, ['rmi', refA]);
      assert.equal(refused.code, 125);
      assert.match(refused.stderr, /^tsoci: image .*maint\/a:v1 is used by container keeper \([0-9a-f]{12}\) \(remove the container first .* or force with tsoci rmi -f .*\) \[IMAGE_IN_USE\]\n$/);

      // Another name keeps the image, so this one may go.
      await ok(root, ['tag', refA, 'localhost/copy:1']);
      await ok(root, ['rmi', refA]);
      assert.equal((await cli(root, ['rmi', 'localhost/copy:1'])).code, 125);

      const df = JSON.parse(await ok(root, ['system', 'df', '--json'])) as { type: string; total: number; active: number; bytes: number; reclaimable: number }[];
      const line = (t: string) => df.find((l) => l.type === t)!;
      assert.deepEqual([line('Images').total, line('Images').active, line('Images').reclaimable], [1, 1, 0]);
      assert.deepEqual([line('Snapshots').total, line('Snapshots').active, line('Snapshots').reclaimable], [2, 2, 0]);
      assert.deepEqual([line('Containers').total, line('Containers').active], [1, 1]);
      assert.ok(line('Images').bytes >= a.blobs.reduce((s, x) => s + x.size, 0));
      assert.ok(line('Snapshots').bytes > 500_000, 'busybox is in a snapshot');
      assert.match(await ok(root, ['system', 'df']), /^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE\nImages\s+1\s+1\s/);

      const removed = JSON.parse(await ok(root, ['rmi', '-f', 'localhost/copy:1', '--json']));
      assert.equal(removed.gc.blobsRemoved, 4, 'manifest, config and both layers');
      const r = await gcJson(root);
      assert.equal(r.snapshots.removed, 0);
      assert.equal(await ok(root, ['exec', 'keeper', 'cat', '/a.txt']), 'only in a\n');
    } finally {
      await cli(root, ['rm', '-f', 'keeper']);
    }
    const r = await gcJson(root);
    assert.equal(r.snapshots.removed, 2);
    assert.deepEqual(snapshots(root), []);
    assert.match(await ok(root, ['verify']), /no problems/);
  });
});
