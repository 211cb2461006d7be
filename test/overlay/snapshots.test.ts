// Snapshots: tar fidelity in overlay form, media types, diff-ID checks, commit markers, sharing between images.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { LayoutStore } from '../../src/layout/store.js';
import { chainIds } from '../../src/oci/chain.js';
import { sha256 } from '../../src/oci/digest.js';
import type { Descriptor } from '../../src/oci/types.js';
import { type LayerRef, Snapshotter } from '../../src/overlay/snapshots.js';
import { tarLayer } from '../helpers/images.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'tsoci-snap-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;

async function setup(): Promise<{ root: string; store: LayoutStore; snap: Snapshotter }> {
  const root = path.join(tmp, `r${n++}`);
  const store = new LayoutStore(root);
  await store.init();
  return { root, store, snap: new Snapshotter(root) };
}

async function layer(store: LayoutStore, tar: Buffer, compression: 'gzip' | 'none' | 'zstd' = 'gzip', diffId = sha256(tar)): Promise<LayerRef> {
  let data = tar;
  let mediaType = 'application/vnd.oci.image.layer.v1.tar+gzip';
  if (compression === 'gzip') data = gzipSync(tar);
  if (compression === 'none') mediaType = 'application/vnd.oci.image.layer.v1.tar';
  if (compression === 'zstd') {
    const f = path.join(tmp, `z${n++}`);
    writeFileSync(f, tar);
    execFileSync('zstd', ['-q', '-f', f, '-o', `${f}.zst`]);
    data = readFileSync(`${f}.zst`);
    mediaType = 'application/vnd.oci.image.layer.v1.tar+zstd';
  }
  const desc: Descriptor = { mediaType, digest: sha256(data), size: data.length };
  await store.putBytes(data, desc);
  return { blob: desc, diffId };
}

describe('snapshot extraction', () => {
  it('keeps types, numeric owners, modes with setuid/setgid/sticky, mtimes and xattrs', async () => {
    const { store, snap } = await setup();
    const mtime = new Date('2020-02-02T02:02:02Z');
    const l = await layer(
      store,
      await tarLayer([
        { name: 'd/', type: 'directory', mode: 0o1777, uid: 12345, gid: 54321, mtime },
        { name: 'd/f', content: 'abc', mode: 0o4751, uid: 7, gid: 7, mtime, pax: { uid: '3000000', 'SCHILY.xattr.user.tsoci': 'hello', 'SCHILY.xattr.security.capability': '\x01\x00\x00\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00' } },
        { name: 'd/g', content: 'x', mode: 0o2700 },
        { name: 'd/s', type: 'symlink', linkname: '../nowhere', uid: 5, gid: 6, mtime },
        { name: 'd/h', type: 'link', linkname: 'd/f' },
        { name: 'dev/c', type: 'character-device', devmajor: 1, devminor: 5, mode: 0o620 },
        { name: 'dev/b', type: 'block-device', devmajor: 7, devminor: 9, mode: 0o600 },
        { name: 'dev/p', type: 'fifo', mode: 0o644 },
        { name: 'sg/', type: 'directory', mode: 0o2775, gid: 50 },
        { name: 'sg/root-owned', content: 'r', mode: 0o644 },
        { name: 'sg/sub/', type: 'directory', mode: 0o755 },
      ]),
    );
    const [s] = await snap.ensure([l], (d) => store.blobPath(d.digest));
    const st = (p: string) => lstatSync(path.join(s!.dir, p));
    assert.equal(st('d').mode & 0o7777, 0o1777);
    assert.equal(st('d').uid, 12345);
    assert.equal(st('d').mtime.getTime(), mtime.getTime());
    assert.equal(st('d/f').mode & 0o7777, 0o4751);
    assert.equal(st('d/f').uid, 3000000);
    assert.equal(st('d/f').nlink, 2);
    assert.equal(st('d/f').ino, st('d/h').ino);
    assert.equal(st('d/g').mode & 0o7777, 0o2700);
    assert.equal(readlinkSync(path.join(s!.dir, 'd/s')), '../nowhere');
    assert.equal(st('d/s').uid, 5);
    assert.ok(st('dev/c').isCharacterDevice());
    assert.equal(st('dev/c').rdev, 1 * 256 + 5);
    assert.ok(st('dev/b').isBlockDevice());
    assert.ok(st('dev/p').isFIFO());
    assert.equal(st('sg').mode & 0o7777, 0o2775);
    assert.equal(st('sg/root-owned').gid, 0, 'owner as the tar says, not inherited from a setgid parent');
    assert.equal(st('sg/sub').gid, 0);
    assert.equal(st('sg/sub').mode & 0o7777, 0o755);
    const xattrs = execFileSync('getfattr', ['-d', '-m', '-', '--absolute-names', path.join(s!.dir, 'd/f')]).toString();
    assert.match(xattrs, /user\.tsoci="hello"/);
    assert.match(xattrs, /security\.capability=/);
  });

  it('reads GNU long names and long link names', async () => {
    const { store, snap } = await setup();
    const src = path.join(tmp, `gnu${n++}`);
    const deep = path.join('x'.repeat(90), 'y'.repeat(90));
    mkdirSync(path.join(src, deep), { recursive: true });
    writeFileSync(path.join(src, deep, 'file-with-a-long-name'), 'gnu long\n');
    symlinkSync(`/${'t'.repeat(150)}`, path.join(src, 'longlink'));
    const tar = execFileSync('tar', ['--format=gnu', '--numeric-owner', '-C', src, '-cf', '-', '.']);
    assert.ok(tar.includes(Buffer.from('././@LongLink')));
    const [s] = await snap.ensure([await layer(store, tar)], (d) => store.blobPath(d.digest));
    assert.equal(readFileSync(path.join(s!.dir, deep, 'file-with-a-long-name'), 'utf8'), 'gnu long\n');
    assert.equal(readlinkSync(path.join(s!.dir, 'longlink')), `/${'t'.repeat(150)}`);
  });

  it('converts whiteouts to overlay form: 0:0 char devices, opaque xattr wherever the marker stands', async () => {
    const { store, snap } = await setup();
    const base = await layer(store, await tarLayer([{ name: 'a/old', content: '1' }, { name: 'b/x', content: '2' }, { name: 'gone', content: '3' }]));
    const top = await layer(store, await tarLayer([{ name: 'b/.wh..wh..opq', content: '' }, { name: 'b/new', content: 'n' }, { name: '.wh.gone', content: '' }, { name: 'a/.wh.old', content: '' }, { name: 'b/.wh.inside-opaque', content: '' }]));
    const [, s] = await snap.ensure([base, top], (d) => store.blobPath(d.digest));
    const wh = lstatSync(path.join(s!.dir, 'gone'));
    assert.ok(wh.isCharacterDevice() && wh.rdev === 0);
    assert.ok(lstatSync(path.join(s!.dir, 'a/old')).isCharacterDevice());
    assert.equal(execFileSync('getfattr', ['--only-values', '-n', 'trusted.overlay.opaque', path.join(s!.dir, 'b')]).toString(), 'y');
    assert.deepEqual(readdirSync(path.join(s!.dir, 'b')), ['new'], 'plain whiteouts inside a same-layer opaque dir are dropped');
  });

  for (const c of ['none', 'zstd'] as const) {
    it(`extracts ${c === 'none' ? 'uncompressed' : 'zstd'} layers`, async () => {
      const { store, snap } = await setup();
      const [s] = await snap.ensure([await layer(store, await tarLayer([{ name: 'f', content: c }]), c)], (d) => store.blobPath(d.digest));
      assert.equal(readFileSync(path.join(s!.dir, 'f'), 'utf8'), c);
    });
  }

  it('discards the snapshot when the content does not match the diff ID', async () => {
    const { root, store, snap } = await setup();
    const l = await layer(store, await tarLayer([{ name: 'f', content: 'x' }]), 'gzip', sha256('something else'));
    await assert.rejects(snap.ensure([l], (d) => store.blobPath(d.digest)), (e: Error & { code?: string }) => e.code === 'DIGEST_MISMATCH');
    assert.deepEqual(readdirSync(path.join(root, 'snapshots')), []);
  });

  it('never uses a snapshot without its commit marker, and re-extracts it', async () => {
    const { store, snap } = await setup();
    const l = await layer(store, await tarLayer([{ name: 'f', content: 'good' }]));
    const dir = snap.snapshotDir(chainIds([l.diffId])[0]!);
    mkdirSync(path.join(dir, 'fs'), { recursive: true });
    writeFileSync(path.join(dir, 'chainid'), `${chainIds([l.diffId])[0]}\n`);
    writeFileSync(path.join(dir, 'fs', 'f'), 'half');
    assert.equal(await snap.get(chainIds([l.diffId])[0]!), undefined);
    const [s] = await snap.ensure([l], (d) => store.blobPath(d.digest));
    assert.equal(readFileSync(path.join(s!.dir, 'f'), 'utf8'), 'good');
  });

  it('extracts a layer shared by two images once', async () => {
    const { store, snap } = await setup();
    const shared = await layer(store, await tarLayer([{ name: 'base', content: 'b' }]));
    const a = await layer(store, await tarLayer([{ name: 'a', content: 'a' }]));
    const b = await layer(store, await tarLayer([{ name: 'b', content: 'b' }]));
    const events: number[] = [];
    await snap.ensure([shared, a], (d) => store.blobPath(d.digest), { onEvent: (e) => e.type === 'extract-done' && events.push(e.index) });
    await snap.ensure([shared, b], (d) => store.blobPath(d.digest), { onEvent: (e) => e.type === 'extract-done' && events.push(e.index) });
    assert.deepEqual(events.sort(), [0, 1, 1]);
  });
});

describe('extraction failures', () => {
  it('a lower-layer lookup that fails (a lower extraction failed) fails this extraction, not the process', { timeout: 20_000 }, async () => {
    const { applyBlob } = await import('../../src/overlay/apply-in-worker.js');
    // A hardlink to a file of a lower layer makes the worker ask for that layer.
    const layer = await tarLayer([{ name: 'big.bin', content: Buffer.alloc(3 << 20, 7) }, { name: 'link', type: 'link', linkname: 'etc/motd' }]);
    const blob = path.join(tmp, 'lookup-layer.tar');
    writeFileSync(blob, layer);
    const target = path.join(tmp, 'lookup-target');
    mkdirSync(target);
    let unhandled: unknown;
    const onUnhandled = (e: unknown) => (unhandled = e);
    process.on('unhandledRejection', onUnhandled);
    try {
      await assert.rejects(
        applyBlob({ blob, compression: 'none', diffId: sha256(layer), target, format: 'overlay', lowerLookup: () => Promise.reject(new Error('the lower layer failed')) }),
        /the lower layer failed/,
      );
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(unhandled, undefined);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
