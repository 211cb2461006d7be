// `tsoci verify`: rehashes every blob, checks that every name in index.json reaches a complete image, and that
// every snapshot carries its commit marker and the chain ID its directory is named after. Leftovers of
// interrupted work (partial downloads, uncommitted extractions) are expected after a crash and not errors: they
// are never used, resumes reuse them, and gc removes them. With `repair`, what is wrong is removed, under the
// exclusive gc lock; plain checks hold it shared, so no gc removes a blob while it is being checked.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pLimit from 'p-limit';
import { asSweeper, asWriter } from '../layout/gc.js';
import { readIndex, removeRef, REF_NAME } from '../layout/refs.js';
import type { LayoutStore } from '../layout/store.js';
import type { Digest } from '../oci/digest.js';
import { isIndex, isManifest } from '../oci/media-types.js';
import { type Descriptor, MAX_MANIFEST_BYTES, parseManifestOrIndex } from '../oci/types.js';
import { Snapshotter } from '../overlay/snapshots.js';

export interface Problem {
  kind: 'blob' | 'image' | 'snapshot';
  /** The blob digest, image name or snapshot id. */
  subject: string;
  message: string;
  repaired: boolean;
}

export interface VerifyReport {
  blobs: number;
  bytes: number;
  images: number;
  snapshots: number;
  /** Partial downloads and uncommitted extractions (not errors; gc removes them). */
  leftovers: number;
  problems: Problem[];
}

export interface VerifyOptions {
  repair?: boolean;
  /** Blobs hashed at once. @default 2 */
  jobs?: number;
  onProgress?: (done: number, total: number) => void;
}

const HEX: Record<string, RegExp> = { sha256: /^[0-9a-f]{64}$/, sha512: /^[0-9a-f]{128}$/ };

async function hashFile(p: string, alg: string): Promise<{ hex: string; size: number }> {
  const h = createHash(alg);
  let size = 0;
  for await (const c of createReadStream(p, { highWaterMark: 4 << 20 })) {
    h.update(c as Buffer);
    size += (c as Buffer).length;
  }
  return { hex: h.digest('hex'), size };
}

export function verifyRoot(root: string, store: LayoutStore, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const lock = opts.repair ? asSweeper : asWriter;
  return lock(store, async () => {
    const report: VerifyReport = { blobs: 0, bytes: 0, images: 0, snapshots: 0, leftovers: 0, problems: [] };
    const problem = (p: Omit<Problem, 'repaired'>) => {
      const entry = { ...p, repaired: false };
      report.problems.push(entry);
      return entry;
    };

    // Blobs: each file's content must hash to its name.
    const blobsDir = path.join(store.layoutDir, 'blobs');
    const files: { alg: string; hex: string; p: string }[] = [];
    for (const alg of await readdir(blobsDir).catch(() => [] as string[])) {
      for (const hex of await readdir(path.join(blobsDir, alg)).catch(() => [] as string[])) files.push({ alg, hex, p: path.join(blobsDir, alg, hex) });
    }
    const bad = new Set<string>();
    const limit = pLimit(Math.max(1, opts.jobs ?? 2));
    let done = 0;
    await Promise.all(
      files.map((f) =>
        limit(async () => {
          const subject = `${f.alg}:${f.hex}`;
          let message: string | undefined;
          if (!HEX[f.alg]?.test(f.hex)) message = `${f.p} is not named <algorithm>/<hex digest> of a known algorithm`;
          else {
            const { hex, size } = await hashFile(f.p, f.alg);
            report.bytes += size;
            if (hex !== f.hex) message = `content hashes to ${f.alg}:${hex}`;
          }
          report.blobs++;
          opts.onProgress?.(++done, files.length);
          if (!message) return;
          bad.add(subject);
          const pr = problem({ kind: 'blob', subject, message });
          if (opts.repair) {
            await unlink(f.p);
            pr.repaired = true;
          }
        }),
      ),
    );

    // Images: every name must reach present, intact manifests, configs and layers.
    const missing = async (d: Descriptor, seen: Set<string>): Promise<string | undefined> => {
      if (seen.has(d.digest)) return undefined;
      seen.add(d.digest);
      if (bad.has(d.digest)) return `blob ${d.digest} is corrupt`;
      const size = await stat(store.blobPath(d.digest)).then((s) => s.size).catch(() => undefined);
      if (size === undefined) return `blob ${d.digest} is missing`;
      if (size !== d.size) return `blob ${d.digest} has ${size} bytes, its descriptor says ${d.size}`;
      if (!isIndex(d.mediaType) && !isManifest(d.mediaType)) return undefined;
      let doc;
      try {
        doc = parseManifestOrIndex(await store.readBytes(d, MAX_MANIFEST_BYTES), d.mediaType, `manifest ${d.digest}`);
      } catch (e) {
        return (e as Error).message;
      }
      if (doc.kind === 'index') {
        // Only the platforms that were pulled are held; at least one must be complete.
        let any = false;
        for (const m of doc.index.manifests) {
          if (!(await store.has(m.digest))) continue;
          const why = await missing(m, seen);
          if (why) return why;
          any = true;
        }
        return any ? undefined : `index ${d.digest} has none of its manifests in the store`;
      }
      for (const b of [doc.manifest.config, ...doc.manifest.layers]) {
        const why = await missing(b, seen);
        if (why) return why;
      }
      return undefined;
    };
    for (const entry of (await readIndex(store)).manifests) {
      const name = entry.annotations?.[REF_NAME] ?? entry.digest;
      report.images++;
      const why = await missing(entry, new Set());
      if (!why) continue;
      const pr = problem({ kind: 'image', subject: name, message: why });
      if (opts.repair && entry.annotations?.[REF_NAME]) {
        await removeRef(store, name);
        pr.repaired = true;
      }
    }

    // Snapshots: committed, and holding the chain ID their name comes from.
    const snaps = new Snapshotter(root);
    for (const name of await readdir(snaps.dir).catch(() => [] as string[])) {
      const p = path.join(snaps.dir, name);
      if (name.startsWith('new-')) {
        report.leftovers++;
        continue;
      }
      report.snapshots++;
      const committed = await stat(path.join(p, 'committed')).then(() => true, () => false);
      const chainId = (await readFile(path.join(p, 'chainid'), 'utf8').catch(() => '')).trim();
      let message: string | undefined;
      if (!committed) message = 'has no commit marker (a half-extracted layer)';
      else if (!/^sha256:[0-9a-f]{64}$/.test(chainId) || snaps.idFor(chainId as Digest) !== name) message = `its chain ID file says "${chainId.slice(0, 80)}", which does not match its name`;
      if (!message) continue;
      const pr = problem({ kind: 'snapshot', subject: name, message });
      if (opts.repair) {
        const doomed = path.join(snaps.dir, `new-bad-${randomBytes(6).toString('hex')}`);
        await rename(p, doomed);
        await rm(doomed, { recursive: true, force: true });
        pr.repaired = true;
      }
    }
    report.leftovers += (await readdir(store.ingestDir).catch(() => [] as string[])).length;
    return report;
  });
}
