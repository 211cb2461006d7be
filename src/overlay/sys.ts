// The system calls Node lacks (mknod, setxattr, mount, umount): mount and umount through the process's perl
// helper (src/sys/helper.ts), the others through the standard tools; one place to swap for a native module.
// Synchronous variants are for the extraction workers.

import { execFile, execFileSync } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { TsociError } from '../errors.js';
import { field, helperMounts, request } from '../sys/helper.js';

const run = promisify(execFile);

function toolError(tool: string, e: unknown): TsociError {
  const err = e as { stderr?: Buffer | string; message?: string; code?: string };
  const detail = String(err.stderr ?? err.message ?? '').trim().split('\n')[0];
  if (err.code === 'ENOENT') return new TsociError('INTERNAL', `${tool} is not installed`, { hint: 'run scripts/install-deps.sh' });
  return new TsociError('INTERNAL', `${tool} failed: ${detail}`);
}

/** Creates a device node or fifo (`c`, `b` or `p`). */
export function mknodSync(p: string, kind: 'c' | 'b' | 'p', mode: number, major = 0, minor = 0): void {
  const args = ['-m', (mode & 0o7777).toString(8), '--', p, kind];
  if (kind !== 'p') args.push(String(major), String(minor));
  try {
    execFileSync('mknod', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    throw toolError('mknod', e);
  }
}

/** Sets an extended attribute on `p` itself (never through a symlink). */
export function lsetxattrSync(p: string, name: string, value: Buffer): void {
  try {
    execFileSync('setfattr', ['-h', '-n', name, '-v', `0s${value.toString('base64')}`, '--', p], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    throw toolError('setfattr', e);
  }
}

const MNT_DETACH = 2;

/** Mounts `source` of `type` on `target` with `options`, from `cwd` (for relative lowerdirs). */
export async function mount(type: string, source: string, target: string, options: string[], cwd?: string): Promise<void> {
  if (helperMounts) {
    const data = options.join(',');
    await request('M', [field(cwd), field(type), field(source), field(path.resolve(target)), field(data)]).done.catch((e: Error) => {
      throw new TsociError('INTERNAL', `mount of ${type} on ${target} failed: ${e.message}`);
    });
    return;
  }
  try {
    await run('mount', ['-t', type, '-o', options.join(','), '--', source, target], cwd ? { cwd } : {});
  } catch (e) {
    throw toolError('mount', e);
  }
}

/** Unmounts `target`; `lazy` detaches it now and lets the kernel finish when it is no longer busy. */
export async function umount(target: string, opts: { lazy?: boolean } = {}): Promise<void> {
  if (helperMounts) {
    await request('N', [String(opts.lazy ? MNT_DETACH : 0), field(path.resolve(target))]).done.catch((e: Error) => {
      throw new TsociError('INTERNAL', `umount of ${target} failed: ${e.message}`);
    });
    return;
  }
  try {
    await run('umount', [...(opts.lazy ? ['-l'] : []), '--', target]);
  } catch (e) {
    throw toolError('umount', e);
  }
}
