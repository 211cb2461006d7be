// The extraction pool: more layers than workers extract at once in the same workers, and a layer that fails
// (wrong diff ID, a stream that breaks, a lower lookup that fails) stops alone: the others complete whole, and
// the workers take new layers afterwards.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { Digest } from '../../src/oci/digest.js';
import { applyBlob } from '../../src/overlay/apply-in-worker.js';
import { tarLayer } from '../helpers/images.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'tsoci-pool-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;

interface Layer {
  gz: Buffer;
  diffId: Digest;
  files: Map<string, Buffer>;
}

/** `files` random files in d/ (with d/ itself unless `impliedDir`: then extraction asks the layers below for it). */
async function layer(files: number, size: number, impliedDir = false): Promise<Layer> {
  const contents = new Map<string, Buffer>();
  for (let i = 0; i < files; i++) contents.set(`d/f${i}.bin`, randomBytes(size));
  const tar = await tarLayer([...(impliedDir ? [] : [{ name: 'd/', type: 'directory' as const }]), ...[...contents].map(([name, content]) => ({ name, content }))]);
  return { gz: gzipSync(tar), diffId: `sha256:${createHash('sha256').update(tar).digest('hex')}` as Digest, files: contents };
}

function target(): string {
  const d = path.join(tmp, `t${n++}`);
  mkdirSync(d);
  return d;
}

/** The layer's bytes as a stream, in small slices with pauses, so that extractions overlap. */
function trickle(buf: Buffer, opts: { failAt?: number } = {}): Readable {
  const out = new PassThrough();
  void (async () => {
    for (let off = 0; off < buf.length; off += 64 << 10) {
      if (opts.failAt !== undefined && off >= opts.failAt) {
        out.destroy(new Error('connection reset by the test'));
        return;
      }
      out.write(buf.subarray(off, off + (64 << 10)));
      await new Promise((r) => setTimeout(r, 2));
    }
    out.end();
  })();
  return out;
}

function assertWhole(dir: string, l: Layer): void {
  for (const [name, content] of l.files) assert.deepEqual(readFileSync(path.join(dir, name)), content, name);
}

describe('extraction pool', () => {
  it('extracts 6 layers at once (more than workers) while 3 of them fail, each alone', async () => {
    const good = await Promise.all([layer(20, 50_000), layer(3, 800_000), layer(40, 10_000)]);
    const bad = await Promise.all([layer(10, 100_000), layer(10, 100_000), layer(10, 100_000, true)]);
    const dirs = [...good, ...bad].map(() => target());
    const results = await Promise.allSettled([
      ...good.map((l, i) => applyBlob({ blob: trickle(l.gz), compression: 'gzip', diffId: l.diffId, target: dirs[i]!, format: 'overlay' })),
      // The content is not what its diff ID says.
      applyBlob({ blob: trickle(bad[0]!.gz), compression: 'gzip', diffId: good[0]!.diffId, target: dirs[3]!, format: 'overlay' }),
      // The bytes stop half-way.
      applyBlob({ blob: trickle(bad[1]!.gz, { failAt: bad[1]!.gz.length >> 1 }), compression: 'gzip', diffId: bad[1]!.diffId, target: dirs[4]!, format: 'overlay' }),
      // A lookup in the layers below fails (a lower layer's extraction failed).
      applyBlob({
        blob: trickle(bad[2]!.gz),
        compression: 'gzip',
        diffId: bad[2]!.diffId,
        target: dirs[5]!,
        format: 'overlay',
        lowerLookup: () => Promise.reject(new Error('the lower layer failed')),
      }),
    ]);
    for (let i = 0; i < 3; i++) {
      assert.equal(results[i]!.status, 'fulfilled', String((results[i] as PromiseRejectedResult).reason));
      assert.equal((results[i] as PromiseFulfilledResult<number>).value, good[i]!.files.size + 1);
      assertWhole(dirs[i]!, good[i]!);
    }
    assert.match(String((results[3] as PromiseRejectedResult).reason), /DIGEST_MISMATCH|uncompressed content has digest/);
    assert.match(String((results[4] as PromiseRejectedResult).reason), /connection reset by the test/);
    assert.match(String((results[5] as PromiseRejectedResult).reason), /the lower layer failed/);
    // The failed layers' workers answered before the calls returned: nothing writes into their directories now.
    const before = bad.map((_, i) => listing(dirs[3 + i]!));
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(bad.map((_, i) => listing(dirs[3 + i]!)), before);

    // The pool goes on: a new layer after the failures extracts whole.
    const next = await layer(5, 20_000);
    const d = target();
    assert.equal(await applyBlob({ blob: Readable.from([next.gz]), compression: 'gzip', diffId: next.diffId, target: d, format: 'overlay' }), 6);
    assertWhole(d, next);
  });

  it('data that is not gzip fails as invalid layer data', async () => {
    const l = await layer(1, 1000);
    await assert.rejects(applyBlob({ blob: Readable.from([randomBytes(5000)]), compression: 'gzip', diffId: l.diffId, target: target(), format: 'overlay' }), /not valid gzip data/);
  });
});

function listing(dir: string): string {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      out.push(`${p}:${e.isDirectory() ? 'd' : statSync(p).size}`);
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort().join('\n');
}
