// The only place that joins a path from an image onto a directory of the host. Components are walked one by one
// with lstat: `..` stops at the root, absolute symlinks restart at the root, relative ones resolve from their
// directory, so whatever a layer holds, the result lies inside the root. The final component is not followed
// unless asked: callers replace it, they do not write through it.

import { lstatSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { TsociError } from '../errors.js';

const MAX_LINKS = 40;

/** Splits an image path into clean components: no empty parts, no `.`, `..` applied and clamped at the root. */
export function cleanComponents(name: string): string[] {
  const out: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') out.pop();
    else out.push(c);
  }
  return out;
}

/** True when `name` has a `..` component that would climb above the root. */
export function escapesRoot(name: string): boolean {
  let depth = 0;
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    depth += c === '..' ? -1 : 1;
    if (depth < 0) return true;
  }
  return false;
}

/**
 * The host path of image path `name` under `root`, symlinks resolved inside the root. Also returns the
 * components relative to the root, for caches keyed by image path.
 */
export function resolveInRoot(root: string, name: string, opts: { followFinal?: boolean; knownDirs?: Set<string> } = {}): { host: string; rel: string } {
  let todo = cleanComponents(name);
  const done: string[] = [];
  let links = 0;
  while (todo.length) {
    const c = todo.shift()!;
    const isFinal = todo.length === 0;
    const rel = done.length ? `${done.join('/')}/${c}` : c;
    if (isFinal && !opts.followFinal) {
      done.push(c);
      break;
    }
    if (opts.knownDirs?.has(rel)) {
      done.push(c);
      continue;
    }
    let st;
    try {
      st = lstatSync(path.join(root, rel));
    } catch {
      // Missing: nothing below can be a link; the rest is taken as it is.
      done.push(c, ...todo);
      break;
    }
    if (!st.isSymbolicLink()) {
      done.push(c);
      continue;
    }
    if (++links > MAX_LINKS) throw new TsociError('UNSAFE_LAYER_ENTRY', `too many levels of symbolic links resolving ${name}`);
    const target = readlinkSync(path.join(root, rel));
    if (target.startsWith('/')) done.length = 0;
    const next = cleanComponents(`${target.startsWith('/') ? '' : done.join('/') + '/'}${target}`);
    done.length = 0;
    todo = [...next, ...todo];
  }
  const rel = done.join('/');
  return { host: rel ? path.join(root, rel) : root, rel };
}
