// Overlay mounts as data (computed, then performed by one small executor), containerd's way. Long lowerdir lists
// are made relative to their common parent and mounted from there, so that 120+ layers fit one option page.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { TsociError } from '../errors.js';
import { mount, umount } from './sys.js';

export interface Mount {
  type: string;
  source: string;
  options: string[];
  /** Directory to mount from, when lowerdirs are relative to it. */
  cwd?: string;
}

const PAGE = 4096;

function commonDir(paths: string[]): string {
  let prefix = path.dirname(paths[0]!);
  for (const p of paths) while (!`${p}/`.startsWith(`${prefix}/`) && prefix !== '/') prefix = path.dirname(prefix);
  return prefix;
}

/** An overlay of `lowersTopFirst` (top layer first), writable through `upper`/`work`. Pure. */
export function overlayMount(lowersTopFirst: string[], rw: { upper: string; work: string }): Mount {
  if (!lowersTopFirst.length) throw new TsociError('INTERNAL', '[internal] an overlay needs at least one lower directory');
  for (const d of lowersTopFirst) if (/[,:]/.test(d)) throw new TsociError('INTERNAL', `[internal] layer path ${d} contains , or :`);
  const tail = [`upperdir=${rw.upper}`, `workdir=${rw.work}`, 'index=off'];
  const abs: Mount = { type: 'overlay', source: 'overlay', options: [`lowerdir=${lowersTopFirst.join(':')}`, ...tail] };
  if (abs.options.join(',').length < PAGE - 512) return abs;
  const cwd = commonDir(lowersTopFirst);
  const rel = lowersTopFirst.map((d) => path.relative(cwd, d));
  const m: Mount = { type: 'overlay', source: 'overlay', options: [`lowerdir=${rel.join(':')}`, ...tail], cwd };
  if (m.options.join(',').length >= PAGE) {
    throw new TsociError('INVALID_ARGUMENT', `the image has too many layers (${lowersTopFirst.length}) for one overlay mount`, { hint: 'use --copy' });
  }
  return m;
}

export async function mountAt(m: Mount, target: string): Promise<void> {
  await mount(m.type, m.source, target, m.options, m.cwd);
}

/** True when `target` is a mount point in this mount namespace (from /proc/self/mountinfo). */
export function isMountPoint(target: string): boolean {
  const t = path.resolve(target);
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4]?.replace(/\\040/g, ' ') === t);
}

export async function unmountAt(target: string): Promise<void> {
  if (!isMountPoint(target)) return;
  try {
    await umount(target);
  } catch {
    await umount(target, { lazy: true });
  }
}
