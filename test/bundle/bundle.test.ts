// tsoci bundle against the real kernel and runc: overlay mounts seen in /proc/self/mountinfo, config.json run
// by runc, the assembled rootfs compared with what umoci unpack builds from the same layout.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tsoci } from '../helpers/cli.js';
import { type BuiltImage, type Entry, buildImage, busyboxEntries } from '../helpers/images.js';
import { type Registry, pushImage, startRegistry } from '../helpers/registry.js';
import { diffTrees, listTree } from '../helpers/tree.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'tsoci-bundle-'));
const root = path.join(tmp, 'root');
let reg: Registry;
let run: BuiltImage;
let k = 0;
/** The CLI with this file's store (flags after the image belong to the command, as in docker). */
const tsociR = (args: string[]) => tsoci(args, { env: { TSOCI_ROOT: root } });
const out = () => path.join(tmp, `b${k++}`);

function mounted(dir: string): string | undefined {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === dir);
}

function runc(dir: string, extra: string[] = []): { code: number; out: string; err: string } {
  const id = `tsoci-test-${process.pid}-${k++}`;
  const r = spawnSync('runc', ['run', '--bundle', dir, ...extra, id], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  spawnSync('runc', ['delete', '-f', id]);
  return { code: r.status ?? -1, out: r.stdout.toString(), err: r.stderr.toString() };
}

/** The multi-layer image of the conformance check: whiteouts, opaque dir, type changes, hardlinks, setuid, long path. */
function conformanceLayers(): Entry[][] {
  const long = `opt/long/${'a'.repeat(60)}/${'b'.repeat(60)}/file-with-a-long-name.txt`;
  return [
    [
      ...busyboxEntries(),
      { name: 'etc/motd', content: 'motd\n' },
      { name: 'usr/', type: 'directory' },
      { name: 'usr/share/', type: 'directory' },
      { name: 'usr/share/info/', type: 'directory' },
      { name: 'usr/share/info/dir', content: 'info\n' },
      { name: 'usr/share/keep', content: 'keep\n' },
      { name: 'base-file', content: 'from layer 1\n', mode: 0o640, uid: 1000, gid: 50 },
    ],
    [
      { name: 'etc/.wh.motd', content: '' },
      { name: 'usr/share/.wh.info', content: '' },
      { name: 'opt/', type: 'directory' },
      { name: 'opt/links/', type: 'directory' },
      { name: 'opt/links/hl-a', content: 'hardlink payload\n' },
      { name: 'opt/links/hl-b', type: 'link', linkname: 'opt/links/hl-a' },
      { name: 'usr/local/', type: 'directory' },
      { name: 'usr/local/bin/', type: 'directory' },
      { name: 'usr/local/bin/hl-c', type: 'link', linkname: 'opt/links/hl-a' },
      { name: 'opt/links/base-link', type: 'link', linkname: 'base-file' },
      { name: 'opt/links/sym-rel', type: 'symlink', linkname: 'hl-a' },
      { name: 'opt/links/sym-abs', type: 'symlink', linkname: '/etc/passwd' },
      { name: 'opt/links/sym-dangling', type: 'symlink', linkname: '../../nonexistent' },
      { name: 'usr/local/bin/suid', content: '#!/bin/sh\nid\n', mode: 0o4755 },
      { name: 'usr/local/bin/sgid', content: '#!/bin/sh\nid\n', mode: 0o2755 },
      { name: 'opt/sticky/', type: 'directory', mode: 0o1777 },
      { name: long, content: 'long path file\n' },
      { name: 'opt/replaceme/', type: 'directory' },
      { name: 'opt/replaceme/a', content: 'old a\n' },
      { name: 'opt/replaceme/sub/c', content: 'old c\n' },
      { name: 'opt/delete-me', content: 'gone in layer 3\n' },
      { name: 'opt/dir-to-file/', type: 'directory' },
      { name: 'opt/dir-to-file/inner', content: 'x\n' },
      { name: 'opt/file-to-dir', content: 'file\n' },
      { name: 'home/app/', type: 'directory', mode: 0o700, uid: 65534, gid: 65534 },
      { name: 'home/app/file', content: 'nobody\n', uid: 65534, gid: 65534 },
      { name: 'dev/null-ish', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'opt/fifo', type: 'fifo', mode: 0o644 },
    ],
    [
      { name: 'opt/replaceme/new.txt', content: 'after opaque\n' },
      { name: 'opt/replaceme/.wh..wh..opq', content: '' },
      { name: 'opt/.wh.delete-me', content: '' },
      { name: 'opt/dir-to-file', content: 'was a directory\n' },
      { name: 'opt/file-to-dir/', type: 'directory' },
      { name: 'opt/file-to-dir/inner', content: 'y\n' },
    ],
  ];
}

before(async () => {
  reg = await startRegistry();
  run = await buildImage({
    layers: [busyboxEntries(), [{ name: 'etc/motd', content: 'hello from the image\n' }, { name: 'work/', type: 'directory' }]],
    config: { Entrypoint: ['/bin/sh', '-c'], Cmd: ['cat /etc/motd'], Env: ['PATH=/bin', 'GREETING=hi there=x'], WorkingDir: '/work', User: 'app', Labels: { 'com.example.k': 'v', 'org.systemd.property.ExecStartPre': '/bin/evil' } },
  });
  await pushImage(reg, 'b/run', 'v1', run);
  await pushImage(reg, 'b/conf', 'v1', await buildImage({ layers: conformanceLayers(), config: { Cmd: ['/bin/sh'] } }));
  await pushImage(reg, 'b/many', 'v1', await buildImage({ layers: [busyboxEntries(), ...Array.from({ length: 119 }, (_, i) => [{ name: `layers/l${i + 2}`, content: `layer ${i + 2}\n` }])], config: { Cmd: ['/bin/sh', '-c', 'cat /layers/l2 /layers/l120; ls /layers | wc -l'] } }));
  await pushImage(reg, 'b/bad', 'v1', await buildImage({ layers: [[{ name: '../../escape', content: 'x' }]] }));
});

after(async () => {
  for (const d of readdirSync(tmp)) spawnSync('umount', ['-l', path.join(tmp, d, 'rootfs')]);
  await reg.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('tsoci bundle', () => {
  it('pulls when missing, mounts an overlay rootfs, and runc runs config.json as the image says', async () => {
    const dir = out();
    const r = await tsociR(['bundle', `${reg.host}/b/run:v1`, dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: image label org\.systemd\.property\.ExecStartPre dropped/);
    const m = mounted(path.join(dir, 'rootfs'));
    assert.ok(m, 'rootfs is a mount point');
    assert.match(m!, / - overlay overlay .*lowerdir=[^,]*snapshots\/[0-9a-f]{12}\/fs:[^,]*snapshots\/[0-9a-f]{12}\/fs,upperdir=/);
    assert.ok(!m!.includes(dir + '/upper'), 'upper dir is not in the bundle');
    const spec = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8'));
    assert.deepEqual(spec.process.args, ['/bin/sh', '-c', 'cat /etc/motd']);
    assert.equal(spec.annotations['org.systemd.property.ExecStartPre'], undefined);
    const res = runc(dir);
    assert.equal(res.code, 0, res.err);
    assert.equal(res.out, 'hello from the image\n');
  });

  it('runs with the image user, cwd and env, and overrides win', async () => {
    const dir = out();
    const r = await tsociR(['bundle', '-e', 'GREETING=override', '-e', 'EXTRA=1', `${reg.host}/b/run:v1`, dir, 'echo "$(id -u):$(id -g):$(id -G) $(pwd) $GREETING $EXTRA $HOME"']);
    assert.equal(r.code, 0, r.stderr);
    const res = runc(dir);
    assert.equal(res.code, 0, res.err);
    assert.equal(res.out, '1000:1000:1000 50 /work override 1 /home/app\n');
  });

  it('-u, -w, --entrypoint, --hostname and a read-only volume', async () => {
    const dir = out();
    const vol = path.join(tmp, 'vol');
    mkdirSync(vol, { recursive: true });
    writeFileSync(path.join(vol, 'data'), 'host data\n');
    const r = await tsociR(['bundle', '-u', '65534:65534', '-w', '/tmp', '--entrypoint', '/bin/sh', '--hostname', 'box', '-v', `${vol}:/mnt:ro`, `${reg.host}/b/run:v1`, dir, '-c', 'id -u; pwd; hostname; cat /mnt/data; touch /mnt/x 2>/dev/null || echo read-only']);
    assert.equal(r.code, 0, r.stderr);
    const res = runc(dir);
    assert.equal(res.out, '65534\n/tmp\nbox\nhost data\nread-only\n', res.err);
  });

  it('an unknown user is an error', async () => {
    const r = await tsociR(['bundle', '-u', 'nosuchuser', `${reg.host}/b/run:v1`, out()]);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /unable to find user nosuchuser/);
  });

  it('a second bundle reuses the snapshots, and unbundle leaves no mount behind', async () => {
    const snaps = () => readdirSync(path.join(root, 'snapshots')).filter((d) => !d.startsWith('new-')).length;
    const before = snaps();
    const dir = out();
    assert.equal((await tsociR(['bundle', `${reg.host}/b/run:v1`, dir])).code, 0);
    assert.equal(snaps(), before);
    assert.ok(mounted(path.join(dir, 'rootfs')));
    const u = await tsociR(['unbundle', dir]);
    assert.equal(u.code, 0, u.stderr);
    assert.equal(mounted(path.join(dir, 'rootfs')), undefined);
    assert.ok(!existsSync(dir));
  });

  it('assembles 120 layers in one overlay mount', async () => {
    const dir = out();
    const r = await tsociR(['bundle', `${reg.host}/b/many:v1`, dir]);
    assert.equal(r.code, 0, r.stderr);
    const res = runc(dir);
    assert.deepEqual(res.out.split('\n').map((l) => l.trim()), ['layer 2', 'layer 120', '119', ''], res.err);
  });

  it('refuses a hostile layer with one line and leaves nothing mounted', async () => {
    const dir = out();
    const r = await tsociR(['bundle', `${reg.host}/b/bad:v1`, dir]);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /^tsoci: refusing layer entry "\.\.\/\.\.\/escape": .*\[UNSAFE_LAYER_ENTRY\]\n$/);
    assert.equal(mounted(path.join(dir, 'rootfs')), undefined);
    assert.ok(!readdirSync(path.join(root, 'snapshots')).some((d) => d.startsWith('new-')), 'no half-extracted snapshot left');
    assert.ok(!existsSync(dir), 'the half-made bundle directory is removed');
  });

  it('falls back to a flattened copy where overlay cannot be mounted (a store on overlayfs)', async () => {
    const base = path.join(tmp, 'ovl');
    for (const d of ['l', 'u', 'w', 'm']) mkdirSync(path.join(base, d), { recursive: true });
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${base}/l,upperdir=${base}/u,workdir=${base}/w`, `${base}/m`]);
    try {
      const dir = out();
      const env = { TSOCI_ROOT: path.join(base, 'm', 'root') };
      const r = await tsoci(['bundle', `${reg.host}/b/run:v1`, dir], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /\(copy\)\n$/);
      assert.match(r.stderr, /warning: overlay mount failed .* making a flattened copy instead/);
      assert.equal(mounted(path.join(dir, 'rootfs')), undefined);
      const res = runc(dir);
      assert.equal(res.out, 'hello from the image\n', res.err);
      assert.equal((await tsoci(['unbundle', dir], { env })).code, 0);
    } finally {
      execFileSync('umount', [`${base}/m`]);
    }
  });

  for (const mode of ['overlay', 'copy'] as const) {
    it(`builds the same tree as umoci unpack (${mode} mode)`, async () => {
      const dir = out();
      const ref = `${reg.host}/b/conf:v1`;
      const r = await tsociR(['bundle', ...(mode === 'copy' ? ['--copy'] : []), ref, dir]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`\\(${mode}\\)`));
      const um = path.join(tmp, `umoci-${mode}`);
      execFileSync('umoci', ['unpack', '--image', `${root}/image:${ref}`, um], { stdio: 'pipe' });
      const ours = listTree(path.join(dir, 'rootfs'));
      const theirs = listTree(path.join(um, 'rootfs'));
      // The root directory's own mode differs by design (umoci makes it 0700 like its bundle).
      ours.delete('.');
      theirs.delete('.');
      assert.deepEqual(diffTrees(ours, theirs), []);
      assert.equal(ours.get('opt/dir-to-file')?.[0], 'f');
      assert.equal(ours.get('opt/replaceme/a'), undefined);
      assert.ok(ours.has(`opt/long/${'a'.repeat(60)}/${'b'.repeat(60)}/file-with-a-long-name.txt`));
    });
  }
});
