// Config.User in every form (name, uid, name:group, uid:gid, uid:group, name:gid), resolved in the rootfs's own
// /etc/passwd and /etc/group, read through resolveInRoot (links stay inside the rootfs; devices and FIFOs refused).

import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { TsociError } from '../errors.js';
import { resolveInRoot } from '../overlay/resolve.js';

const MAX_ID = 2 ** 31 - 1;
const MAX_FILE = 10 << 20;

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** A file of the rootfs as text, or undefined when it is missing. Refuses what is not a regular file. */
export function readRootfsFile(rootfs: string, file: string, max = MAX_FILE): string | undefined {
  const { host } = resolveInRoot(rootfs, file, { followFinal: true });
  let fd: number;
  try {
    fd = openSync(host, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return undefined;
    throw new TsociError('INVALID_ARGUMENT', `cannot read ${file} in the image: ${(e as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new TsociError('INVALID_ARGUMENT', `${file} in the image is not a regular file`);
    if (st.size > max) throw new TsociError('INVALID_ARGUMENT', `${file} in the image is larger than ${max} bytes`);
    const buf = Buffer.alloc(st.size);
    let n = 0;
    while (n < buf.length) {
      const r = readSync(fd, buf, n, buf.length - n, n);
      if (r === 0) break;
      n += r;
    }
    return buf.subarray(0, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

function parseId(s: string, what: string): number | undefined {
  if (!/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n > MAX_ID) throw new TsociError('INVALID_ARGUMENT', `${what} ${s} is out of range (at most ${MAX_ID})`);
  return n;
}

function passwd(rootfs: string): PasswdEntry[] {
  return (readRootfsFile(rootfs, '/etc/passwd') ?? '')
    .split('\n')
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 7 && /^\d+$/.test(f[2]!) && /^\d+$/.test(f[3]!))
    .map((f) => ({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]! }));
}

function groups(rootfs: string): GroupEntry[] {
  return (readRootfsFile(rootfs, '/etc/group') ?? '')
    .split('\n')
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 4 && /^\d+$/.test(f[2]!))
    .map((f) => ({ name: f[0]!, gid: Number(f[2]), members: f[3]!.split(',').map((m) => m.trim()).filter(Boolean) }));
}

/** Resolves a Config.User value. Empty means root. All-digit parts are ids, never looked up as names. */
export function resolveUser(rootfs: string, spec: string | undefined): ResolvedUser {
  const s = (spec ?? '').trim();
  if (!s) return { uid: 0, gid: 0, additionalGids: [], home: passwd(rootfs).find((p) => p.uid === 0)?.home || '/root' };
  const [userPart, groupPart, ...extra] = s.split(':');
  if (extra.length || !userPart) throw new TsociError('INVALID_ARGUMENT', `invalid user "${s}": expected user[:group]`);
  const pw = passwd(rootfs);
  const uidNum = parseId(userPart, 'uid');
  let entry: PasswdEntry | undefined;
  if (uidNum !== undefined) entry = pw.find((p) => p.uid === uidNum);
  else {
    entry = pw.find((p) => p.name === userPart);
    if (!entry) throw new TsociError('INVALID_ARGUMENT', `unable to find user ${userPart}: no matching entries in the image's /etc/passwd`);
  }
  const uid = uidNum ?? entry!.uid;
  let gid = entry?.gid ?? 0;
  let additionalGids: number[] = [];
  if (groupPart !== undefined) {
    if (!groupPart) throw new TsociError('INVALID_ARGUMENT', `invalid user "${s}": empty group`);
    const gidNum = parseId(groupPart, 'gid');
    if (gidNum !== undefined) gid = gidNum;
    else {
      const g = groups(rootfs).find((x) => x.name === groupPart);
      if (!g) throw new TsociError('INVALID_ARGUMENT', `unable to find group ${groupPart}: no matching entries in the image's /etc/group`);
      gid = g.gid;
    }
  } else if (entry) {
    additionalGids = [...new Set(groups(rootfs).filter((g) => g.members.includes(entry!.name) && g.gid !== gid).map((g) => g.gid))];
  }
  return { uid, gid, additionalGids, home: entry?.home || '/' };
}
