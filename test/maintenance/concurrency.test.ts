// Several tsoci processes on one root at once, through a recording proxy in front of the real registry:
// overlapping pulls store each blob once and keep every name; pulls and bundles racing gc lose nothing;
// locks go with a process that dies.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN, tsoci } from '../helpers/cli.js';
import { unmountUnder } from '../helpers/mounts.js';
import { type BuiltImage, buildImage, busyboxEntries, randomFileEntry } from '../helpers/images.js';
import { type FaultProxy, startProxy } from '../helpers/proxy.js';
import { type Registry, pushImage, startRegistry } from '../helpers/registry.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'tsoci-conc-'));
let reg: Registry;
let proxy: FaultProxy;
const images: BuiltImage[] = [];
const refs: string[] = [];
let n = 0;

const newRoot = () => path.join(tmp, `root-${n++}`);
const cli = (root: string, args: string[]) => tsoci(args, { env: { TSOCI_ROOT: root } });

function indexRefs(root: string): string[] {
  const idx = JSON.parse(readFileSync(path.join(root, 'image', 'index.json'), 'utf8')) as { manifests: { annotations: Record<string, string> }[] };
  return idx.manifests.map((m) => m.annotations['org.opencontainers.image.ref.name']!).sort();
}

/** `tsoci gc` over and over until `until` settles; resolves with how many ran. */
async function gcLoop(root: string, until: Promise<unknown>): Promise<number> {
  let done = false;
  void until.finally(() => (done = true));
  let runs = 0;
  while (!done) {
    const r = await cli(root, ['gc']);
    assert.equal(r.code, 0, r.stderr);
    runs++;
  }
  return runs;
}

before(async () => {
  reg = await startRegistry();
  // Four images: all share the base, pairs share a middle layer, each has its own top.
  const mids = [[randomFileEntry('mid0.bin', 1_500_000)], [randomFileEntry('mid1.bin', 1_500_000)]];
  for (let i = 0; i < 4; i++) {
    const img = await buildImage({ layers: [busyboxEntries(), mids[i % 2]!, [randomFileEntry(`top${i}.bin`, 700_000), { name: 'which', content: `image ${i}\n` }]] });
    images.push(img);
    await pushImage(reg, `conc/img${i}`, 'v1', img);
  }
  proxy = await startProxy(reg.url);
  for (let i = 0; i < 4; i++) refs.push(`${proxy.host}/conc/img${i}:v1`);
});

after(async () => {
  await proxy.close();
  await reg.stop();
  unmountUnder(tmp); // whatever a failed test left mounted
  rmSync(tmp, { recursive: true, force: true });
});

describe('concurrent processes on one root', () => {
  it('four overlapping pulls at once: all succeed, every blob is downloaded and stored once, every name kept', async () => {
    const root = newRoot();
    proxy.requests.length = 0;
    const results = await Promise.all(refs.map((r) => cli(root, ['pull', r])));
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(indexRefs(root), [...refs].sort());
    const unique = new Set(images.flatMap((i) => i.blobs.map((b) => b.digest)));
    assert.equal(unique.size, 4 + 1 + 2 + 4, 'configs, base, mids, tops');
    for (const d of unique) {
      const gets = proxy.requests.filter((q) => q.method === 'GET' && q.url.endsWith(`/blobs/${d}`));
      assert.equal(gets.length, 1, `${d} fetched ${gets.length} times`);
    }
    const stored = readdirSync(path.join(root, 'image', 'blobs', 'sha256'));
    assert.equal(stored.length, unique.size + 4, 'the blobs and the four manifests');
    assert.match((await cli(root, ['verify'])).stdout, /no problems/);
  });

  it('pulls racing a gc loop lose no blob a finished pull needs', async () => {
    const root = newRoot();
    await cli(root, ['pull', refs[0]!]); // a store for gc to walk from the start
    await cli(root, ['rmi', refs[0]!]);
    const pulls = Promise.all(refs.map((r) => cli(root, ['pull', r])));
    const gcs = await gcLoop(root, pulls);
    for (const r of await pulls) assert.equal(r.code, 0, r.stderr);
    assert.ok(gcs >= 1);
    const gc = await cli(root, ['gc', '--json']);
    assert.equal(JSON.parse(gc.stdout).blobs.removed, 0, 'nothing of the pulled images was unreachable');
    assert.deepEqual(indexRefs(root), [...refs].sort());
    const v = await cli(root, ['verify']);
    assert.equal(v.code, 0, v.stdout);
    assert.match(v.stdout, /Checked 15 blobs .*, 4 images/);
  });

  it('bundles racing a gc loop keep their snapshots, and two bundles share the snapshots they extract', async () => {
    const root = newRoot();
    for (const r of refs) assert.equal((await cli(root, ['pull', r])).code, 0);
    // gc runs all along: extractions in progress (new-*) and fresh snapshots must survive it.
    const dirs = refs.map((_, i) => path.join(tmp, `bundle-${n}-${i}`));
    const bundles = Promise.all(refs.map((r, i) => cli(root, ['bundle', r, dirs[i]!])));
    await gcLoop(root, bundles);
    for (const r of await bundles) assert.equal(r.code, 0, r.stderr);
    // With the names gone, only the mounted bundles keep the snapshots alive.
    for (const r of refs) assert.equal((await cli(root, ['rmi', r])).code, 0);
    const gc = JSON.parse((await cli(root, ['gc', '--json'])).stdout);
    assert.equal(gc.snapshots.removed, 0, 'every snapshot is under a mounted bundle');
    assert.equal(readdirSync(path.join(root, 'snapshots')).length, 1 + 2 + 4);
    for (let i = 0; i < 4; i++) {
      assert.equal(readFileSync(path.join(dirs[i]!, 'rootfs', 'which'), 'utf8'), `image ${i}\n`);
      assert.ok(existsSync(path.join(dirs[i]!, 'rootfs', 'bin', 'busybox')));
    }
    for (const d of dirs) assert.equal((await cli(root, ['unbundle', d])).code, 0);
    assert.equal(JSON.parse((await cli(root, ['gc', '--json'])).stdout).snapshots.removed, 7);
    assert.match((await cli(root, ['verify'])).stdout, /Checked 0 blobs .* 0 snapshots: no problems/);
  });

  it('the locks of a process killed with SIGKILL are free at once: gc and the next pull go ahead', async () => {
    const root = newRoot();
    proxy.fault = (req) => (req.url.includes('/blobs/') ? { kind: 'stall' } : undefined);
    let child: ChildProcess | undefined;
    try {
      child = spawn(BIN, ['pull', refs[1]!], { env: { ...process.env, TSOCI_ROOT: root }, stdio: 'ignore' });
      // Holding the gc lock shared and the blobs' ingest locks, stalled.
      for (let i = 0; i < 200 && !proxy.requests.some((q) => q.url.includes('/blobs/')); i++) await new Promise((r) => setTimeout(r, 25));
      child.kill('SIGKILL');
      await new Promise((r) => child!.once('exit', r));
    } finally {
      proxy.fault = () => undefined;
    }
    const t0 = Date.now();
    assert.equal((await cli(root, ['gc'])).code, 0);
    assert.equal((await cli(root, ['pull', refs[1]!])).code, 0);
    assert.ok(Date.now() - t0 < 10_000, 'nothing waited for a dead process');
    assert.match((await cli(root, ['verify'])).stdout, /no problems/);
  });
});
