// The perl helper's mount(2) and umount2(2): what reaches the kernel, with any bytes in paths, and its errors.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { acquireLock } from '../../src/layout/lock.js';
import { mount, umount } from '../../src/overlay/sys.js';
import { helperMounts } from '../../src/sys/helper.js';
import { mountsUnder, unmountUnder } from '../helpers/mounts.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'tsoci-helper-'));
after(() => {
  unmountUnder(dir);
  rmSync(dir, { recursive: true, force: true });
});

/** The mount's line of /proc/self/mountinfo (type and super options are after the ' - ' separator). */
function mountLine(target: string): string | undefined {
  const escaped = target.replace(/ /g, '\\040');
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === escaped);
}

describe('perl helper: mount and umount', () => {
  it('this machine mounts through the helper, not mount(8) or umount(8)', async () => {
    assert.equal(helperMounts, true, `no system call numbers for ${process.arch}`);
    const target = path.join(dir, 'no-tools');
    mkdirSync(target);
    // The helper is running once a first request went through; then no tool can be found on PATH.
    await assert.rejects(umount(path.join(dir, 'not-mounted-at-all')));
    const pathVar = process.env.PATH;
    process.env.PATH = path.join(dir, 'empty-path');
    try {
      await mount('tmpfs', 'tmpfs', target, ['size=1m']);
      assert.ok(mountLine(target), 'mounted without mount(8)');
      await umount(target);
      assert.equal(mountLine(target), undefined);
    } finally {
      process.env.PATH = pathVar;
    }
  });

  it('mounts a tmpfs with its options on a path with spaces and commas, and unmounts it', async () => {
    const target = path.join(dir, 'a dir, with spaces');
    mkdirSync(target);
    await mount('tmpfs', 'tsoci-test', target, ['size=1m', 'mode=0711']);
    const line = mountLine(target);
    assert.ok(line, 'mounted');
    assert.match(line, / - tmpfs tsoci-test rw,.*size=1024k/);
    assert.match(line, /mode=711/);
    await umount(target);
    assert.equal(mountLine(target), undefined);
  });

  it('an overlay with lowerdirs relative to cwd (how 120+ layers fit one option page)', async () => {
    const base = path.join(dir, 'ovl');
    for (const d of ['l1', 'l2', 'upper', 'work', 'merged']) mkdirSync(path.join(base, d), { recursive: true });
    writeFileSync(path.join(base, 'l1', 'a'), 'from l1\n');
    writeFileSync(path.join(base, 'l2', 'a'), 'from l2\n');
    const merged = path.join(base, 'merged');
    await mount('overlay', 'overlay', merged, [`lowerdir=l2:l1`, `upperdir=${path.join(base, 'upper')}`, `workdir=${path.join(base, 'work')}`], base);
    assert.equal(readFileSync(path.join(merged, 'a'), 'utf8'), 'from l2\n');
    // The helper went back to / after the mount: a later mount with a relative target is resolved by us, not it.
    await umount(path.relative(process.cwd(), merged));
    assert.deepEqual(mountsUnder(base), []);
  });

  it('a lock by a relative path is taken where it names, though the helper changed directory for a mount', async () => {
    const base = path.join(dir, 'lockcwd');
    for (const d of ['l1', 'upper', 'work', 'merged']) mkdirSync(path.join(base, d), { recursive: true });
    await mount('overlay', 'overlay', path.join(base, 'merged'), ['lowerdir=l1', `upperdir=${path.join(base, 'upper')}`, `workdir=${path.join(base, 'work')}`], base);
    await umount(path.join(base, 'merged'));
    const cwd = process.cwd();
    process.chdir(base);
    try {
      const lock = await acquireLock('relative.lock');
      await lock.release();
    } finally {
      process.chdir(cwd);
    }
    assert.ok(existsSync(path.join(base, 'relative.lock')));
    assert.ok(!existsSync('/relative.lock'));
  });

  it('lazy unmount detaches a busy mount', async () => {
    const target = path.join(dir, 'busy');
    mkdirSync(target);
    await mount('tmpfs', 'tmpfs', target, ['size=1m']);
    const cwd = process.cwd();
    process.chdir(target);
    try {
      await assert.rejects(umount(target), /umount of .*busy failed: Device or resource busy/);
      await umount(target, { lazy: true });
      assert.equal(mountLine(target), undefined);
    } finally {
      process.chdir(cwd);
    }
  });

  it('a failing mount rejects with the kernel error and the target', async () => {
    const missing = path.join(dir, 'no-such-dir');
    await assert.rejects(mount('tmpfs', 'tmpfs', missing, []), (e: Error) => e.message === `mount of tmpfs on ${missing} failed: No such file or directory`);
    await assert.rejects(mount('overlay', 'overlay', dir, ['lowerdir=/nonexistent-tsoci']), /mount of overlay on .* failed: No such file or directory/);
    await assert.rejects(umount(path.join(dir, 'not-mounted-anywhere')), /No such file or directory/);
  });
});
