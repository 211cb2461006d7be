// Pulling from a real registry into the store: what lands, how it is named, and what tools read it.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadSettings, pull } from '../../src/index.js';
import { tsoci } from '../helpers/cli.js';
import { type BuiltImage, buildImage, busyboxEntries } from '../helpers/images.js';
import { type Registry, pushImage, startRegistry } from '../helpers/registry.js';

let reg: Registry;
let img: BuiltImage;
const roots: string[] = [];

function newRoot(): string {
  const r = mkdtempSync(path.join(os.tmpdir(), 'tsoci-root-'));
  roots.push(r);
  return r;
}

function layoutIndex(root: string): { manifests: { digest: string; mediaType: string; annotations?: Record<string, string> }[] } {
  return JSON.parse(readFileSync(path.join(root, 'image', 'index.json'), 'utf8'));
}

before(async () => {
  reg = await startRegistry();
  img = await buildImage({
    layers: [busyboxEntries(), [{ name: 'etc/motd', content: 'hello from layer 2\n' }], [{ name: 'data/file.txt', content: 'x'.repeat(100_000) }]],
    config: { Cmd: ['/bin/sh', '-c', 'echo hi'] },
  });
  await pushImage(reg, 'demo/app', 'v1', img);
  const docker = await buildImage({ layers: [[{ name: 'a.txt', content: 'docker schema2' }]], docker: true });
  await pushImage(reg, 'demo/docker', 'latest', docker);
});

after(async () => {
  await reg.stop();
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

describe('pull', () => {
  it('stores every blob verified and names the image by its full reference', async () => {
    const root = newRoot();
    const settings = await loadSettings({ root });
    const res = await pull(`${reg.host}/demo/app:v1`, settings);
    assert.equal(res.ref, `${reg.host}/demo/app:v1`);
    assert.equal(res.digest, img.top.digest);
    const blobs = readdirSync(path.join(root, 'image', 'blobs', 'sha256'));
    for (const b of [img.top, ...img.blobs]) {
      assert.ok(blobs.includes(b.digest.slice(7)), `${b.digest} stored`);
      const bytes = readFileSync(path.join(root, 'image', 'blobs', 'sha256', b.digest.slice(7)));
      assert.equal(`sha256:${createHash('sha256').update(bytes).digest('hex')}`, b.digest);
    }
    const idx = layoutIndex(root);
    assert.equal(idx.manifests.length, 1);
    assert.equal(idx.manifests[0]!.annotations!['org.opencontainers.image.ref.name'], `${reg.host}/demo/app:v1`);
    assert.deepEqual(readdirSync(path.join(root, 'ingest')), []);
  });

  it('prints "<ref> <digest>" last and plain progress lines when not on a terminal', async () => {
    const root = newRoot();
    const r = await tsoci(['pull', `${reg.host}/demo/app:v1`, '--root', root]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim().split('\n').pop(), `${reg.host}/demo/app:v1 ${img.top.digest}`);
    assert.match(r.stderr, /pull complete \(layer/);
  });

  it('pulls a Docker schema2 image', async () => {
    const root = newRoot();
    const r = await tsoci(['pull', '-q', `${reg.host}/demo/docker`, '--root', root]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^${reg.host}/demo/docker:latest sha256:[0-9a-f]{64}\\n$`));
    assert.equal(r.stderr, '');
  });

  it('writes layouts that skopeo, umoci and oci-image-tool read', async () => {
    const root = newRoot();
    const settings = await loadSettings({ root });
    await pull(`${reg.host}/demo/app:v1`, settings);
    await pull(`${reg.host}/demo/docker`, settings);
    const ref = `${reg.host}/demo/app:v1`;
    const out = JSON.parse(execFileSync('skopeo', ['inspect', `oci:${root}/image:${ref}`]).toString());
    assert.equal(out.Digest, img.top.digest);
    assert.equal(out.Layers.length, 3);
    const ls = execFileSync('umoci', ['ls', '--layout', `${root}/image`]).toString();
    assert.ok(ls.includes(ref), ls);
    execFileSync('oci-image-tool', ['validate', '--type', 'image', '--ref', `name=${ref}`, `${root}/image`], { stdio: 'pipe' });
    // The Docker schema2 image is kept byte for byte (its digest is the registry's); oci-image-tool checks OCI
    // media types only, so it is validated per ref.
  });
});
