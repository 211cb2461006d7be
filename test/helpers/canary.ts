// Host canaries: a directory outside every extraction root whose contents and attributes must never change.

import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Canary {
  dir: string;
  /** Throws with "HOST PATH WAS CHANGED! THIS IS A PATH ESCAPE!" when anything in `dir` differs from the start. */
  assertUntouched(): void;
  remove(): void;
}

function snapshot(dir: string): string {
  return readdirSync(dir)
    .sort()
    .map((n) => {
      const p = path.join(dir, n);
      const s = lstatSync(p);
      const content = s.isFile() ? readFileSync(p, 'utf8') : '';
      return `${n} ${s.mode.toString(8)} ${s.uid}:${s.gid} ${s.nlink} ${s.size} ${s.mtimeMs} ${content}`;
    })
    .join('\n') + `\n. ${lstatSync(dir).mode.toString(8)} ${lstatSync(dir).uid}`;
}

export function plantCanary(): Canary {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tsoci-canary-'));
  writeFileSync(path.join(dir, 'victim'), 'ORIGINAL');
  chmodSync(path.join(dir, 'victim'), 0o600);
  writeFileSync(path.join(dir, 'secret'), 'host secret');
  const before = snapshot(dir);
  return {
    dir,
    assertUntouched() {
      const after = snapshot(dir);
      if (after !== before) throw new Error(`HOST PATH WAS CHANGED! THIS IS A PATH ESCAPE!\nbefore:\n${before}\nafter:\n${after}`);
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
