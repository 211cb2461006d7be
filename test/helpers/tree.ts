// A comparable listing of a directory tree: type, mode, owner, link target and content hash per path.

import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';

export function listTree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    const p = rel ? path.join(root, rel) : root;
    const s = lstatSync(p);
    const type = s.isDirectory() ? 'd' : s.isFile() ? 'f' : s.isSymbolicLink() ? 'l' : s.isCharacterDevice() ? 'c' : s.isBlockDevice() ? 'b' : s.isFIFO() ? 'p' : '?';
    let extra = '';
    if (type === 'f') extra = createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 16);
    if (type === 'l') extra = readlinkSync(p);
    if (type === 'c' || type === 'b') extra = `${Math.floor(s.rdev / 256)}:${s.rdev % 256}`;
    out.set(rel || '.', `${type} ${(s.mode & 0o7777).toString(8)} ${s.uid}:${s.gid} ${extra}`);
    if (type === 'd') for (const c of readdirSync(p).sort()) walk(rel ? `${rel}/${c}` : c);
  };
  walk('');
  return out;
}

/** Lines that differ between two listings, for assertion messages. */
export function diffTrees(a: Map<string, string>, b: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of a) if (b.get(k) !== v) out.push(`- ${k}: ${v}  |  ${b.get(k) ?? '(missing)'}`);
  for (const [k, v] of b) if (!a.has(k)) out.push(`+ ${k}: ${v}`);
  return out;
}
