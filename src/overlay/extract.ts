// Applies one layer tar to a directory, confined to it: every entry's parent is resolved inside the root
// (resolve.ts), existing non-directories are replaced rather than written through, files are created with
// O_EXCL|O_NOFOLLOW, hardlink targets are resolved inside the root too. Two output forms:
//  - 'overlay': the layer alone, in overlayfs form (whiteouts as 0:0 char devices, opaque dirs as the
//    trusted.overlay.opaque xattr), for a snapshot that is one lowerdir;
//  - 'flat': applied onto what earlier layers left (whiteouts delete), for the copy mode.
// The filesystem work is synchronous: callers run it in worker threads, one per layer.

import {
  chmodSync,
  closeSync,
  constants,
  copyFileSync,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import tar from 'tar-stream';
import { TsociError } from '../errors.js';
import { cleanComponents, escapesRoot, resolveInRoot } from './resolve.js';
import { lsetxattrSync, mknodSync } from './sys.js';

export type LayerFormat = 'overlay' | 'flat';

export interface ApplyOptions {
  format: LayerFormat;
  /**
   * Overlay form only: finds image path `rel` in the layers below (top first, whiteouts honoured) and returns its
   * host path; used for hardlinks to lower files (copied up) and for the attributes of implied parent directories.
   */
  lowerLookup?: (rel: string) => string | undefined | Promise<string | undefined>;
  onWarn?: (msg: string) => void;
}

export interface ApplyResult {
  entries: number;
}

/** A tar entry's body as tar-stream gives it (a streamx Readable). */
type EntryStream = AsyncIterable<Buffer> & { resume(): unknown };

const WH = '.wh.';
const OPAQUE = '.wh..wh..opq';

function unsafe(name: string, why: string): TsociError {
  return new TsociError('UNSAFE_LAYER_ENTRY', `refusing layer entry ${JSON.stringify(name)}: ${why}`, {
    hint: 'the image is malformed or hostile; nothing outside the extraction directory was touched',
  });
}

/** Whiteout kind of a base name: a plain whiteout (with the name it hides), opaque, or none. */
export function classifyWhiteout(base: string): { kind: 'none' } | { kind: 'opaque' } | { kind: 'file'; target: string } {
  if (base === OPAQUE) return { kind: 'opaque' };
  if (!base.startsWith(WH)) return { kind: 'none' };
  const target = base.slice(WH.length);
  if (!target) throw unsafe(base, 'a whiteout with an empty name');
  if (target === '.' || target === '..' || target.includes('/')) throw unsafe(base, 'a whiteout that names . or ..');
  return { kind: 'file', target };
}

/** Applies the tar stream `src` under `root` (which must exist). */
export async function applyLayer(root: string, src: AsyncIterable<Uint8Array> & { destroy(): unknown }, opts: ApplyOptions): Promise<ApplyResult> {
  const st = new LayerState(root, opts);
  const extract = tar.extract();
  let entries = 0;
  let failure: unknown;
  extract.on('entry', (header, stream, next) => {
    entries++;
    st.entry(header, stream as unknown as EntryStream).then(
      () => next(),
      (e: unknown) => {
        failure ??= e;
        stream.resume();
        next(e as Error);
      },
    );
  });
  const finished = new Promise<void>((resolve, reject) => {
    extract.on('finish', () => resolve());
    extract.on('error', (e: unknown) => reject(failure ?? e));
  });
  finished.catch(() => {});
  try {
    for await (const chunk of src) {
      if (failure) break;
      if (!extract.write(chunk)) await new Promise<void>((r) => extract.once('drain', () => r()));
    }
    extract.end(undefined as never);
    await finished;
  } catch (e) {
    extract.destroy();
    src.destroy();
    throw failure ?? e;
  }
  if (failure) throw failure;
  await st.finish();
  return { entries };
}

class LayerState {
  /** Image paths (relative, clean) this layer wrote: whiteouts never hide those. */
  private touched = new Set<string>();
  /** Directories known to be real directories (not links), to spare lstat calls; cleared below replaced paths. */
  private knownDirs = new Set<string>();
  private dirTimes: [string, Date][] = [];
  private whiteouts: { rel: string; uid: number; gid: number }[] = [];
  private opaque = new Set<string>();
  /** Directories (image paths) with the setgid bit: what is created in them takes their group. */
  private setgidDirs = new Set<string>();
  private readonly root0 = process.geteuid?.() === 0 && process.getegid?.() === 0;
  private readonly umask = process.umask();

  constructor(private root: string, private opts: ApplyOptions) {
    if (lstatSync(root).mode & 0o2000) this.setgidDirs.add('');
  }

  private forget(rel: string): void {
    for (const k of this.knownDirs) if (k === rel || k.startsWith(`${rel}/`)) this.knownDirs.delete(k);
  }

  /** Host path of the directory `relDir`, resolved inside the root and created (with parents) if missing. */
  private async parentDir(relDir: string): Promise<string> {
    if (!relDir) return this.root;
    const { host, rel } = resolveInRoot(this.root, relDir, { followFinal: true, knownDirs: this.knownDirs });
    if (this.knownDirs.has(rel)) return host;
    let s;
    try {
      s = lstatSync(host);
    } catch {
      s = undefined;
    }
    if (s && !s.isDirectory()) throw unsafe(relDir, 'a parent path is not a directory');
    if (!s) {
      // Create missing parents one by one, each resolved again (a component may be a link made by this layer).
      const parts = cleanComponents(rel);
      let cur = '';
      for (const p of parts) {
        cur = cur ? `${cur}/${p}` : p;
        const r = resolveInRoot(this.root, cur, { followFinal: true, knownDirs: this.knownDirs });
        let ps;
        try {
          ps = lstatSync(r.host);
        } catch {
          ps = undefined;
        }
        if (ps && !ps.isDirectory()) throw unsafe(relDir, 'a parent path is not a directory');
        if (!ps) await this.impliedDir(r.host, r.rel);
        this.knownDirs.add(r.rel);
      }
    }
    this.knownDirs.add(rel);
    return host;
  }

  /** A directory the tar implies but does not list: attributes copied from the lower layers when they have it. */
  private async impliedDir(host: string, rel: string): Promise<void> {
    mkdirSync(host, { mode: 0o755 });
    const lower = this.opts.lowerLookup ? await this.opts.lowerLookup(rel) : undefined;
    if (lower) {
      const ls = lstatSync(lower);
      if (ls.isDirectory()) {
        lchownSync(host, ls.uid, ls.gid);
        chmodSync(host, ls.mode & 0o7777);
        if (ls.mode & 0o2000) this.setgidDirs.add(rel);
      }
    }
  }

  private removeExisting(host: string, rel: string, keepDir: boolean): boolean {
    let s;
    try {
      s = lstatSync(host);
    } catch {
      return false;
    }
    if (keepDir && s.isDirectory()) return true;
    rmSync(host, { recursive: true, force: true });
    this.forget(rel);
    return false;
  }

  async entry(h: tar.Header, stream: EntryStream): Promise<void> {
    // tar-stream applies PAX path/linkpath/size only; ids and times above the ustar limits come from PAX too.
    const pax = (h.pax ?? {}) as Record<string, string>;
    if (pax.uid && /^\d+$/.test(pax.uid)) h.uid = Number(pax.uid);
    if (pax.gid && /^\d+$/.test(pax.gid)) h.gid = Number(pax.gid);
    if (pax.mtime && Number.isFinite(Number(pax.mtime))) h.mtime = new Date(Number(pax.mtime) * 1000);
    const name = h.name;
    if (name.includes('\0')) throw unsafe(name, 'a NUL byte in the name');
    if (escapesRoot(name)) throw unsafe(name, 'its path climbs out of the root with ..');
    const parts = cleanComponents(name);
    const type = h.type === 'contiguous-file' ? 'file' : h.type;
    if (parts.length === 0) {
      if (type !== 'directory') throw unsafe(name, 'it would change the type of the root directory');
      this.attrs(this.root, h, true);
      if ((h.mode ?? 0) & 0o2000) this.setgidDirs.add('');
      stream.resume();
      return;
    }
    const base = parts[parts.length - 1]!;
    const relDir = parts.slice(0, -1).join('/');
    const wh = classifyWhiteout(base);
    if (wh.kind !== 'none') {
      stream.resume();
      await this.parentDir(relDir);
      const dirRel = resolveInRoot(this.root, relDir, { followFinal: true, knownDirs: this.knownDirs }).rel;
      if (wh.kind === 'opaque') this.opaque.add(dirRel);
      else this.whiteouts.push({ rel: dirRel ? `${dirRel}/${wh.target}` : wh.target, uid: h.uid ?? 0, gid: h.gid ?? 0 });
      return;
    }
    const dir = await this.parentDir(relDir);
    const dirRel = resolveInRoot(this.root, relDir, { followFinal: true, knownDirs: this.knownDirs }).rel;
    const rel = dirRel ? `${dirRel}/${base}` : base;
    const target = path.join(dir, base);
    // In overlay form the root started empty: a path exists only if this layer made it (an entry or an implied
    // parent), so the lstat is spared for every new path.
    const mayExist = this.opts.format === 'flat' || this.touched.has(rel) || this.knownDirs.has(rel);
    this.touched.add(rel);
    const isDir = mayExist ? this.removeExisting(target, rel, type === 'directory') : false;
    const mode = (h.mode ?? 0o644) & 0o7777;
    switch (type) {
      case 'directory':
        if (mode & 0o2000) this.setgidDirs.add(rel);
        this.knownDirs.add(rel);
        if (isDir) this.attrs(target, h, true);
        else {
          // A new directory: created with its mode, owner and mode set only where creation did not give them.
          mkdirSync(target, { mode: mode & 0o1777 });
          const chown = this.needsChown(h, dirRel);
          if (chown) lchownSync(target, h.uid ?? 0, h.gid ?? 0);
          if (chown || !this.creationGives(mode)) chmodSync(target, mode);
          this.xattrs(target, h);
          if (h.mtime) this.dirTimes.push([target, h.mtime]);
        }
        stream.resume();
        break;
      case 'file': {
        const fd = openSync(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode & 0o777);
        try {
          let pos = 0;
          for await (const chunk of stream) {
            for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off, pos + off);
            pos += chunk.length;
          }
          // chown clears setuid/setgid, so the mode goes after it; both are skipped when creation already did it.
          const chown = this.needsChown(h, dirRel);
          if (chown) fchownSync(fd, h.uid ?? 0, h.gid ?? 0);
          if (chown || !this.creationGives(mode)) fchmodSync(fd, mode);
          if (h.mtime) futimesSync(fd, h.mtime, h.mtime);
        } finally {
          closeSync(fd);
        }
        this.xattrs(target, h);
        break;
      }
      case 'symlink':
        stream.resume();
        symlinkSync(h.linkname ?? '', target);
        lchownSync(target, h.uid ?? 0, h.gid ?? 0);
        if (h.mtime) lutimesSync(target, h.mtime, h.mtime);
        this.xattrs(target, h);
        break;
      case 'link':
        stream.resume();
        await this.hardlink(name, h.linkname ?? '', target);
        break;
      case 'character-device':
      case 'block-device':
      case 'fifo':
        stream.resume();
        mknodSync(target, type === 'fifo' ? 'p' : type === 'character-device' ? 'c' : 'b', mode, h.devmajor ?? 0, h.devminor ?? 0);
        lchownSync(target, h.uid ?? 0, h.gid ?? 0);
        chmodSync(target, mode);
        if (h.mtime) utimesSync(target, h.mtime, h.mtime);
        this.xattrs(target, h);
        break;
      default:
        stream.resume();
        throw unsafe(name, `unsupported entry type ${type}`);
    }
  }

  private async hardlink(name: string, linkname: string, target: string): Promise<void> {
    if (escapesRoot(linkname)) throw unsafe(name, 'its hardlink target climbs out of the root with ..');
    const lparts = cleanComponents(linkname);
    if (!lparts.length) throw unsafe(name, 'a hardlink to the root directory');
    const ldir = lparts.slice(0, -1).join('/');
    const lres = resolveInRoot(this.root, ldir, { followFinal: true, knownDirs: this.knownDirs });
    const src = path.join(lres.host, lparts[lparts.length - 1]!);
    let s;
    try {
      s = lstatSync(src);
    } catch {
      s = undefined;
    }
    if (s?.isDirectory()) throw unsafe(name, 'a hardlink to a directory');
    if (s) {
      linkSync(src, target);
      return;
    }
    // The target is in a lower layer: copy it up into this one (overlay form cannot link across layers).
    const lower = this.opts.lowerLookup ? await this.opts.lowerLookup(lres.rel ? `${lres.rel}/${lparts[lparts.length - 1]}` : lparts[lparts.length - 1]!) : undefined;
    if (!lower) throw new TsociError('UNSAFE_LAYER_ENTRY', `layer entry ${JSON.stringify(name)} is a hardlink to ${JSON.stringify(linkname)}, which does not exist`);
    const ls = lstatSync(lower);
    if (!ls.isFile()) throw unsafe(name, 'a hardlink to something that is not a regular file');
    copyFileSync(lower, target, constants.COPYFILE_EXCL);
    lchownSync(target, ls.uid, ls.gid);
    chmodSync(target, ls.mode & 0o7777);
    utimesSync(target, ls.atime, ls.mtime);
  }

  /** Whether a new inode needs chown: not when it is to be 0:0, we are root and its directory is not setgid. */
  private needsChown(h: tar.Header, dirRel: string): boolean {
    return !((h.uid ?? 0) === 0 && (h.gid ?? 0) === 0 && this.root0 && !this.setgidDirs.has(dirRel));
  }

  /** Whether creating with `mode` (less the umask) already gives exactly `mode`. */
  private creationGives(mode: number): boolean {
    return (mode & 0o7000) === 0 && (mode & ~this.umask) === mode;
  }

  private attrs(target: string, h: tar.Header, isDir: boolean): void {
    lchownSync(target, h.uid ?? 0, h.gid ?? 0);
    chmodSync(target, (h.mode ?? 0o755) & 0o7777);
    this.xattrs(target, h);
    if (isDir && h.mtime) this.dirTimes.push([target, h.mtime]);
  }

  private xattrs(target: string, h: tar.Header): void {
    const pax = h.pax as Record<string, string> | undefined;
    if (!pax) return;
    for (const [k, v] of Object.entries(pax)) {
      if (!k.startsWith('SCHILY.xattr.')) continue;
      let name = k.slice('SCHILY.xattr.'.length);
      if (this.opts.format === 'overlay' && name.startsWith('trusted.overlay.')) name = `trusted.overlay.overlay.${name.slice('trusted.overlay.'.length)}`;
      try {
        lsetxattrSync(target, name, Buffer.from(v, 'binary'));
      } catch (e) {
        if (name.startsWith('user.')) this.opts.onWarn?.(`xattr ${name} on ${h.name} not set: ${(e as Error).message}`);
        else throw e;
      }
    }
  }

  /** Whiteouts and opaque directories (applied after the layer's entries, whatever their order), then dir mtimes. */
  async finish(): Promise<void> {
    const underOpaque = (rel: string) => [...this.opaque].some((o) => o === '' || rel.startsWith(`${o}/`));
    for (const w of this.whiteouts) {
      if (this.touched.has(w.rel)) continue;
      const parts = cleanComponents(w.rel);
      const dir = await this.parentDir(parts.slice(0, -1).join('/'));
      const host = path.join(dir, parts[parts.length - 1]!);
      if (this.opts.format === 'flat') {
        rmSync(host, { recursive: true, force: true });
        this.forget(w.rel);
      } else if (!underOpaque(w.rel)) {
        this.removeExisting(host, w.rel, false);
        mknodSync(host, 'c', 0, 0, 0);
        lchownSync(host, w.uid, w.gid);
      }
    }
    for (const o of this.opaque) {
      const host = await this.parentDir(o);
      if (this.opts.format === 'overlay') lsetxattrSync(host, 'trusted.overlay.opaque', Buffer.from('y'));
      else this.clearUntouched(host, o);
    }
    for (let i = this.dirTimes.length - 1; i >= 0; i--) {
      const [p, t] = this.dirTimes[i]!;
      try {
        utimesSync(p, t, t);
      } catch {
        /* removed by a later whiteout of this layer */
      }
    }
  }

  /** Flat form of an opaque directory: whatever earlier layers put below it goes; this layer's entries stay. */
  private clearUntouched(host: string, rel: string): void {
    for (const child of readdirSync(host)) {
      const crel = rel ? `${rel}/${child}` : child;
      const chost = path.join(host, child);
      const keptBelow = [...this.touched].some((t) => t.startsWith(`${crel}/`));
      if (this.touched.has(crel) || keptBelow) {
        if (keptBelow && lstatSync(chost).isDirectory()) this.clearUntouched(chost, crel);
        continue;
      }
      rmSync(chost, { recursive: true, force: true });
      this.forget(crel);
    }
  }
}
