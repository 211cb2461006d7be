// Mount points in /proc/self/mountinfo, for checks and for cleaning up after a failed test.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Mount points at or below `prefix`, in mount order. */
export function mountsUnder(prefix: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => (l.split(' ')[4] ?? '').replace(/\\040/g, ' '))
    .filter((m) => m !== '' && m.startsWith(prefix));
}

/** Lazily unmounts everything at or below `prefix`, deepest first. */
export function unmountUnder(prefix: string): void {
  for (const m of mountsUnder(prefix).reverse()) execFileSync('umount', ['-l', m]);
}
