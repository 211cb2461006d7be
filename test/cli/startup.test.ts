// The fast path's start-up: bin/run.cjs loads dist/cli-bundle/fast.cjs with the V8 code cache the build made,
// without oclif; caches are trained once per kind of work, and a cache V8 rejects is replaced and changes nothing
// else.

import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Script } from 'node:vm';
import { spawnSync } from 'node:child_process';
import { BIN } from '../helpers/cli.js';
import { buildImage, busyboxEntries } from '../helpers/images.js';
import { unmountUnder } from '../helpers/mounts.js';
import { pushImage, startRegistry } from '../helpers/registry.js';

const top = path.resolve(path.dirname(BIN), '..');
// A copy of the installed files (bin, dist/cli-bundle, package.json; no node_modules: the fast path needs none).
const copy = mkdtempSync(path.join(os.tmpdir(), 'tsoci-startup-'));
after(() => {
  unmountUnder(copy);
  rmSync(copy, { recursive: true, force: true });
});
cpSync(path.join(top, 'bin'), path.join(copy, 'bin'), { recursive: true });
cpSync(path.join(top, 'dist', 'cli-bundle'), path.join(copy, 'dist', 'cli-bundle'), { recursive: true });
cpSync(path.join(top, 'package.json'), path.join(copy, 'package.json'));
const bundleDir = path.join(copy, 'dist', 'cli-bundle');
const cacheFile = () => {
  const id = /^\/\/ tsoci-build ([0-9a-f]+)\n/.exec(readFileSync(path.join(bundleDir, 'fast.cjs'), 'utf8'))?.[1];
  assert.ok(id, 'fast.cjs starts with its build ID');
  return path.join(bundleDir, `fast-${id}.v8cache`);
};

/** The copy's CLI, with a preload that reports at exit whether any module of @oclif/core was loaded. */
function runCopy(args: string[]): { code: number; stderr: string } {
  const probe = path.join(copy, 'probe.cjs');
  writeFileSync(probe, `process.on('exit', () => process.stderr.write('OCLIF_LOADED=' + Object.keys(require.cache).some((k) => k.includes('@oclif')) + '\\n'));`);
  const r = spawnSync(process.execPath, ['--require', probe, path.join(copy, 'bin', 'run.cjs'), ...args], { encoding: 'utf8', env: { ...process.env, DEBUG: '' } });
  return { code: r.status ?? -1, stderr: r.stderr };
}

describe('start-up of the fast path', () => {
  const args = ['pull', '--root', path.join(copy, 'root'), 'Not/A Valid:Reference'];

  it('answers pull without loading oclif, from the code cache the build made', () => {
    const before = statSync(cacheFile());
    const res = runCopy(args);
    assert.equal(res.code, 125, res.stderr);
    assert.match(res.stderr, /invalid reference/i);
    assert.match(res.stderr, /OCLIF_LOADED=false/);
    // V8 accepted the cache: it was not written again.
    const afterRun = statSync(cacheFile());
    assert.equal(afterRun.mtimeMs, before.mtimeMs);
    assert.equal(afterRun.size, before.size);
  });

  it('a cold bundle trains the caches it used once; the next one uses them as they are', async () => {
    const reg = await startRegistry();
    try {
      await pushImage(reg, 'startup/app', 'v1', await buildImage({ layers: [busyboxEntries(), [{ name: 'etc/motd', content: 'cached\n' }]] }));
      const caches = () => Object.fromEntries(readdirSync(bundleDir).filter((f) => f.endsWith('.v8cache')).map((f) => [f.replace(/-[0-9a-f]+\.v8cache$/, ''), statSync(path.join(bundleDir, f))]));
      const trained = (name: string) => {
        const f = readdirSync(bundleDir).find((x) => x.startsWith(`${name}-`) && x.endsWith('.v8cache.trained'));
        return f ? readFileSync(path.join(bundleDir, f), 'utf8').split('\n').filter(Boolean) : [];
      };
      const bundle = (n: number) => {
        const res = runCopy(['bundle', '--root', path.join(copy, `root-cold-${n}`), `${reg.host}/startup/app:v1`, path.join(copy, `bundle-${n}`)]);
        assert.equal(res.code, 0, res.stderr);
        assert.equal(readFileSync(path.join(copy, `bundle-${n}`, 'rootfs', 'etc', 'motd'), 'utf8'), 'cached\n');
      };
      // As a fresh build leaves them (earlier tests ran the CLI this copy was made from): no cache, none trained.
      for (const f of readdirSync(bundleDir)) if (f.includes('.v8cache')) rmSync(path.join(bundleDir, f));
      bundle(1);
      const first = caches();
      // The files a cold bundle runs (the fast path, the registry client, the extraction worker) have caches that
      // learnt from it, each once; what it did not load (listr2: no terminal here) has none.
      assert.deepEqual(Object.keys(first).sort(), ['extract-worker', 'fast', 'vendor-undici']);
      assert.deepEqual(trained('fast'), ['bundle']);
      assert.deepEqual(trained('vendor-undici'), ['bundle']);
      assert.deepEqual(trained('extract-worker'), ['extract']);
      // Trained: much more than the code that runs as the file loads (what a cache made from the file alone holds).
      for (const name of ['fast', 'vendor-undici', 'extract-worker']) {
        const alone = new Script(Module.wrap(readFileSync(path.join(bundleDir, `${name}.cjs`), 'utf8'))).createCachedData().length;
        assert.ok(first[name]!.size > alone * 1.5, `${name}: ${first[name]!.size} bytes trained, ${alone} alone`);
      }
      bundle(2);
      // Had V8 rejected one (made under other flags than the CLI runs with, say), it would have been written again.
      const second = caches();
      for (const name of Object.keys(first)) assert.equal(second[name]!.mtimeMs, first[name]!.mtimeMs, `${name} not written again`);
    } finally {
      unmountUnder(copy); // (unbundle is an oclif command: the copy has no node_modules)
      await reg.stop();
    }
  });

  it('a cache V8 rejects is replaced, and the command does the same', () => {
    const good = readFileSync(cacheFile());
    writeFileSync(cacheFile(), Buffer.alloc(good.length, 7));
    const first = runCopy(args);
    assert.equal(first.code, 125, first.stderr);
    const replaced = readFileSync(cacheFile());
    assert.notDeepEqual(replaced, Buffer.alloc(good.length, 7), 'the rejected cache was replaced');
    const second = runCopy(args);
    assert.equal(second.stderr, first.stderr);
    assert.deepEqual(readFileSync(cacheFile()), replaced, 'the replacement is accepted (not written again)');
    // No temp files are left beside it.
    assert.deepEqual(readdirSync(bundleDir).filter((f) => f.endsWith('.tmp')), []);
  });

  it('bin/tsoci works through a symlink (how npm installs it) and keeps the exit code', () => {
    const link = path.join(copy, 'tsoci-link');
    symlinkSync(path.join(copy, 'bin', 'tsoci'), link);
    const v = spawnSync(link, ['--version'], { encoding: 'utf8' });
    assert.equal(v.status, 0, v.stderr);
    assert.match(v.stdout, /^tsoci\/\d+\.\d+\.\d+ linux-/);
    const bad = spawnSync(link, args, { encoding: 'utf8', env: { ...process.env, NODE_EXTRA_CA_CERTS: '/nonexistent' } });
    assert.equal(bad.status, 125);
    // Node did not try to load the file at start-up (it would warn): the variable was handed over.
    assert.doesNotMatch(bad.stderr, /Ignoring extra certs/);
  });

  it('a missing cache is made on first use', () => {
    rmSync(cacheFile());
    const r = runCopy(args);
    assert.equal(r.code, 125, r.stderr);
    assert.ok(statSync(cacheFile()).size > 10_000);
  });
});

