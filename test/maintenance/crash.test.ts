// kill -9 at many points of a pull and of a bundle. After each: `tsoci verify` is clean, whatever was left is
// either a verified blob, a prefix of the right bytes waiting to be resumed, or a leftover nobody uses; and the
// next pull resumes (Range from the bytes held) and the next bundle completes, in the same directory.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN, tsoci } from '../helpers/cli.js';
import { mountsUnder, unmountUnder } from '../helpers/mounts.js';
import { type BuiltImage, type Entry, buildImage, busyboxEntries, randomFileEntry } from '../helpers/images.js';
import { type FaultProxy, startProxy } from '../helpers/proxy.js';
import { type Registry, pushImage, startRegistry } from '../helpers/registry.js';

const KILL_POINTS = 24;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'tsoci-crash-'));
let reg: Registry;
let proxy: FaultProxy;
let pullImg: BuiltImage;
let manyFiles: BuiltImage;
let n = 0;

const cli = (root: string, args: string[]) => tsoci(args, { env: { TSOCI_ROOT: root } });
/** Starts `tsoci ARGS`, kills it with SIGKILL after `ms`, resolves once it is gone (true if it ended by itself). */
async function killAfter(root: string, args: string[], ms: number): Promise<boolean> {
  const child = spawn(BIN, [...args], { env: { ...process.env, TSOCI_ROOT: root }, stdio: 'ignore' });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const finished = await Promise.race([exited.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), ms))]);
  if (!finished) child.kill('SIGKILL');
  await exited;
  return finished;
}

async function verifyClean(root: string, when: string): Promise<void> {
  const v = await cli(root, ['verify']);
  assert.equal(v.code, 0, `verify after a kill ${when}: ${v.stdout}${v.stderr}`);
  assert.match(v.stdout, /no problems/);
}

function manyFileLayer(prefix: string, count: number): Entry[] {
  const out: Entry[] = [{ name: `${prefix}/`, type: 'directory' }];
  for (let i = 0; i < count; i++) out.push({ name: `${prefix}/d${i % 30}/f${i}.txt`, content: `${prefix} file ${i}\n`.repeat(1 + (i % 7)) });
  return out;
}

before(async () => {
  // Many small files: on this machine's disk each creation costs ~1 ms, on tmpfs ~10 us (and a bundle on a
  // store in tmpfs is what CI machines with a tmpfs /var/lib see as well).
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2g', 'tsoci-crash', tmp]);
  reg = await startRegistry();
  pullImg = await buildImage({ layers: [[randomFileEntry('a.bin', 2_000_000)], [randomFileEntry('b.bin', 1_500_000)], [randomFileEntry('c.bin', 1_000_000)]] });
  await pushImage(reg, 'crash/pull', 'v1', pullImg);
  manyFiles = await buildImage({ layers: [busyboxEntries(), manyFileLayer('one', 2500), manyFileLayer('two', 2500), manyFileLayer('three', 2500)] });
  await pushImage(reg, 'crash/bundle', 'v1', manyFiles);
  proxy = await startProxy(reg.url);
});

after(async () => {
  await proxy.close();
  await reg.stop();
  unmountUnder(`${tmp}/`);
  execFileSync('umount', ['-l', tmp]);
  rmSync(tmp, { recursive: true, force: true });
});

describe('kill -9', () => {
  it(`at ${KILL_POINTS} points of a pull: verify stays clean, partials are prefixes, the next pull resumes them`, async (t) => {
    const ref = `${proxy.host}/crash/pull:v1`;
    const blobs = new Map(pullImg.blobs.map((b) => [b.digest.slice(7), b]));
    const tally = { beforeBlobs: 0, resumed: 0, finished: 0, rangeRequests: 0 };
    for (let i = 0; i < KILL_POINTS; i++) {
      const root = path.join(tmp, `pull-${n++}`);
      // Paced blobs: the whole transfer takes about a second, so the kill points spread over it.
      proxy.fault = (req) => (req.url.includes('/blobs/') ? { kind: 'slow', bytesPerSecond: 2_000_000 } : undefined);
      const finished = await killAfter(root, ['pull', ref], 550 + i * 30);
      proxy.fault = () => undefined;
      if (finished) tally.finished++;
      await verifyClean(root, `at ${550 + i * 30} ms of a pull`);

      const partials = new Map<string, number>();
      for (const f of readdirSync(path.join(root, 'ingest')).filter((f) => f.startsWith('sha256-'))) {
        const held = readFileSync(path.join(root, 'ingest', f));
        const blob = blobs.get(f.slice(7));
        assert.ok(blob, `an ingest file for an unknown blob: ${f}`);
        assert.ok(held.length <= blob.size, `${f} holds ${held.length} of ${blob.size} bytes`);
        assert.ok(held.equals(blob.data.subarray(0, held.length)), `${f} is not a prefix of its blob`);
        partials.set(blob.digest, held.length);
      }
      if ([...partials.values()].some((h) => h > 0)) tally.resumed++;
      else if (!existsSync(path.join(root, 'image', 'index.json')) || !readFileSync(path.join(root, 'image', 'index.json'), 'utf8').includes('crash/pull')) tally.beforeBlobs++;

      proxy.requests.length = 0;
      const again = await cli(root, ['pull', ref]);
      assert.equal(again.code, 0, again.stderr);
      for (const [digest, held] of partials) {
        const size = blobs.get(digest.slice(7))!.size;
        const gets = proxy.requests.filter((q) => q.method === 'GET' && q.url.endsWith(`/blobs/${digest}`));
        // Killed after the last byte but before the rename: nothing to fetch. Killed before the first: from 0.
        const expected = held === size ? [] : held === 0 ? [undefined] : [`bytes=${held}-`];
        assert.deepEqual(gets.map((q) => q.headers.range), expected, `${digest} resumed from ${held} of ${size}`);
        if (gets.length) assert.equal(gets[0]!.sent, size - held, 'only the missing bytes were sent');
        if (held > 0 && held < size) tally.rangeRequests++;
      }
      for (const b of pullImg.blobs) assert.ok(readFileSync(path.join(root, 'image', 'blobs', 'sha256', b.digest.slice(7))).equals(b.data));
      assert.deepEqual(readdirSync(path.join(root, 'ingest')), []);
      rmSync(root, { recursive: true, force: true });
    }
    t.diagnostic(`pull kill points ${KILL_POINTS}: ${JSON.stringify(tally)}`);
    assert.ok(tally.resumed >= KILL_POINTS / 3, `most kills landed mid-transfer (${tally.resumed})`);
  });

  it(`at ${KILL_POINTS} points of a bundle: verify stays clean, nothing half-made is used, the next bundle in the same directory completes`, async (t) => {
    const ref = `${reg.host}/crash/bundle:v1`;
    const seed = path.join(tmp, 'seed');
    assert.equal((await cli(seed, ['pull', ref])).code, 0);
    const tally = { beforeExtraction: 0, duringExtraction: 0, halfMadeBundle: 0, complete: 0 };
    for (let i = 0; i < KILL_POINTS; i++) {
      const root = path.join(tmp, `bundle-root-${n++}`);
      const dir = path.join(tmp, `bundle-${n++}`);
      cpSync(path.join(seed, 'image'), path.join(root, 'image'), { recursive: true });
      await killAfter(root, ['bundle', ref, dir], 120 + i * 40);
      await verifyClean(root, `at ${120 + i * 40} ms of a bundle`);

      const snaps = existsSync(path.join(root, 'snapshots')) ? readdirSync(path.join(root, 'snapshots')) : [];
      const complete = existsSync(path.join(dir, 'config.json'));
      const committed = snaps.filter((s) => !s.startsWith('new-')).length;
      if (complete) tally.complete++;
      else if (committed === 4) tally.halfMadeBundle++; // extracted, killed while mounting or writing config.json
      else if (snaps.length) tally.duringExtraction++;
      else tally.beforeExtraction++;
      // A snapshot under its real id is committed: it is renamed there only after its marker is written.
      for (const s of snaps.filter((s) => !s.startsWith('new-'))) assert.ok(existsSync(path.join(root, 'snapshots', s, 'committed')));

      if (complete) assert.equal((await cli(root, ['unbundle', dir])).code, 0);
      const again = await cli(root, ['bundle', ref, dir]);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(readFileSync(path.join(dir, 'rootfs', 'three', 'd7', 'f2497.txt'), 'utf8'), 'three file 2497\n'.repeat(1 + (2497 % 7)));
      assert.equal(readdirSync(path.join(dir, 'rootfs', 'one')).length, 30);
      assert.equal(readdirSync(path.join(root, 'snapshots')).filter((s) => !s.startsWith('new-')).length, 4);
      assert.equal((await cli(root, ['unbundle', dir])).code, 0);
      assert.deepEqual(mountsUnder(dir), []);
      assert.ok(!existsSync(dir));
      const gc = await cli(root, ['gc', '--json']);
      assert.equal(JSON.parse(gc.stdout).snapshots.removed, 0, 'the image still names its snapshots');
      assert.equal(readdirSync(path.join(root, 'bundles')).length, 0);
      rmSync(root, { recursive: true, force: true });
    }
    t.diagnostic(`bundle kill points ${KILL_POINTS}: ${JSON.stringify(tally)}`);
    assert.ok(tally.duringExtraction + tally.halfMadeBundle >= KILL_POINTS / 3, `most kills landed mid-bundle (${JSON.stringify(tally)})`);
    assert.deepEqual(mountsUnder(`${tmp}/`), []);
    assert.ok(statSync(seed).isDirectory());
  });
});
