// The store commands as a user types them: images, inspect, tag, rmi, --json, --help; multi-platform pulls.

import assert from 'node:assert/strict';
import { readFileSync, readdirSync, rmSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tsoci } from '../helpers/cli.js';
import { type BuiltImage, buildImage, buildIndex } from '../helpers/images.js';
import { type Registry, pushImage, startRegistry } from '../helpers/registry.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'tsoci-cmd-'));
let reg: Registry;
let amd: BuiltImage;
let arm: BuiltImage;
let index: BuiltImage;
let k = 0;
const root = () => path.join(tmp, `r${k++}`);

before(async () => {
  reg = await startRegistry();
  amd = await buildImage({ layers: [[{ name: 'arch', content: 'amd64' }]], platform: { os: 'linux', architecture: 'amd64' }, created: '2024-03-01T00:00:00Z' });
  arm = await buildImage({ layers: [[{ name: 'arch', content: 'arm64' }]], platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
  index = buildIndex([{ image: amd, platform: { os: 'linux', architecture: 'amd64' } }, { image: arm, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } }], { attestation: true });
  await pushImage(reg, 'multi/app', 'v1', index);
  const noMt = await buildImage({ layers: [[{ name: 'x', content: 'no media type field' }]], omitMediaType: true });
  await pushImage(reg, 'plain/app', 'v1', noMt);
});

after(async () => {
  await reg.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('multi-platform images', () => {
  it('picks the host platform from an index and stores the index and the chosen manifest', async () => {
    const r = root();
    const res = await tsoci(['pull', `${reg.host}/multi/app:v1`, '--root', r, '--json']);
    assert.equal(res.code, 0, res.stderr);
    const out = JSON.parse(res.stdout);
    assert.equal(out.digest, index.top.digest);
    assert.equal(out.manifest, process.arch === 'arm64' ? arm.top.digest : amd.top.digest);
    const blobs = readdirSync(path.join(r, 'image', 'blobs', 'sha256'));
    assert.ok(blobs.includes(index.top.digest.slice(7)));
    const idx = JSON.parse(readFileSync(path.join(r, 'image', 'index.json'), 'utf8'));
    assert.equal(idx.manifests[0].digest, index.top.digest);
    assert.equal(idx.manifests[0].mediaType, 'application/vnd.oci.image.index.v1+json');
  });

  it('--platform linux/arm64 picks the arm64/v8 entry', async () => {
    const r = root();
    const res = await tsoci(['pull', `${reg.host}/multi/app:v1`, '--root', r, '--platform', 'linux/arm64', '--json']);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(JSON.parse(res.stdout).manifest, arm.top.digest);
    const insp = await tsoci(['inspect', `${reg.host}/multi/app:v1`, '--root', r, '--platform', 'linux/arm64']);
    assert.equal(JSON.parse(insp.stdout).config.architecture, 'arm64');
  });

  it('names the platforms on offer when none matches', async () => {
    const res = await tsoci(['pull', `${reg.host}/multi/app:v1`, '--root', root(), '--platform', 'linux/s390x']);
    assert.equal(res.code, 125);
    assert.match(res.stderr, /no image for platform linux\/s390x \(it offers linux\/amd64, linux\/arm64; choose one with --platform\) \[PLATFORM_NOT_FOUND\]/);
  });

  it('pulls by digest and by name:tag@digest', async () => {
    const r = root();
    const byDigest = await tsoci(['pull', '-q', `${reg.host}/multi/app@${amd.top.digest}`, '--root', r]);
    assert.equal(byDigest.code, 0, byDigest.stderr);
    assert.equal(byDigest.stdout, `${reg.host}/multi/app@${amd.top.digest} ${amd.top.digest}\n`);
    const both = await tsoci(['pull', '-q', `${reg.host}/multi/app:v1@${amd.top.digest}`, '--root', r]);
    assert.equal(both.stdout, `${reg.host}/multi/app@${amd.top.digest} ${amd.top.digest}\n`);
  });

  it('uses Content-Type when the manifest has no mediaType field', async () => {
    const res = await tsoci(['pull', '-q', `${reg.host}/plain/app:v1`, '--root', root()]);
    assert.equal(res.code, 0, res.stderr);
  });
});

describe('images, inspect, tag, rmi', () => {
  it('lists images as a table and as JSON', async () => {
    const r = root();
    await tsoci(['pull', '-q', `${reg.host}/multi/app:v1`, '--root', r, '--platform', 'linux/amd64']);
    const t = await tsoci(['images', '--root', r]);
    assert.equal(t.code, 0, t.stderr);
    const [head, row] = t.stdout.trim().split('\n');
    assert.match(head!, /^REPOSITORY\s+TAG\s+DIGEST\s+SIZE\s+CREATED$/);
    assert.match(row!, new RegExp(`^${reg.host}/multi/app\\s+v1\\s+${index.top.digest.slice(7, 19)}\\s+\\d+(\\.\\d+)?k?B\\s+\\d+ (months|years?) ago$`));
    const j = JSON.parse((await tsoci(['images', '--root', r, '--json'])).stdout);
    assert.equal(j.length, 1);
    assert.equal(j[0].ref, `${reg.host}/multi/app:v1`);
    assert.equal(j[0].created, '2024-03-01T00:00:00Z');
  });

  it('inspect prints manifest and config as JSON', async () => {
    const r = root();
    await tsoci(['pull', '-q', `${reg.host}/multi/app:v1`, '--root', r, '--platform', 'linux/amd64']);
    const out = JSON.parse((await tsoci(['inspect', `${reg.host}/multi/app:v1`, '--root', r, '--platform', 'linux/amd64'])).stdout);
    assert.equal(out.digest, index.top.digest);
    assert.equal(out.descriptor.digest, amd.top.digest);
    assert.deepEqual(out.config.rootfs.diff_ids, amd.diffIds);
  });

  it('tag adds a name; rmi removes names and deletes blobs no image uses', async () => {
    const r = root();
    await tsoci(['pull', '-q', `${reg.host}/multi/app:v1`, '--root', r, '--platform', 'linux/amd64']);
    assert.equal((await tsoci(['tag', `${reg.host}/multi/app:v1`, 'example.com/copy:2', '--root', r])).code, 0);
    let refs = JSON.parse((await tsoci(['images', '--root', r, '--json'])).stdout).map((i: { ref: string }) => i.ref);
    assert.deepEqual(refs, [`${reg.host}/multi/app:v1`, 'example.com/copy:2']);
    const blobs = () => readdirSync(path.join(r, 'image', 'blobs', 'sha256')).length;
    const before = blobs();
    const rm1 = await tsoci(['rmi', `${reg.host}/multi/app:v1`, '--root', r]);
    assert.equal(rm1.code, 0, rm1.stderr);
    assert.match(rm1.stdout, /^Untagged: /);
    assert.equal(blobs(), before, 'still used by the other name');
    const rm2 = await tsoci(['rmi', 'example.com/copy:2', '--root', r]);
    assert.match(rm2.stdout, /Deleted \d+ blobs/);
    assert.equal(blobs(), 0);
    refs = JSON.parse((await tsoci(['images', '--root', r, '--json'])).stdout);
    assert.deepEqual(refs, []);
  });

  it('rmi and inspect of an unknown image say so in one line', async () => {
    const r = root();
    for (const args of [['rmi', 'nothing:here'], ['inspect', 'nothing:here'], ['tag', 'nothing', 'x']]) {
      const res = await tsoci([...args, '--root', r]);
      assert.equal(res.code, 125);
      assert.match(res.stderr, /^tsoci: image docker\.io\/library\/nothing:(here|latest) is not in the store .*\[REF_NOT_FOUND\]\n$/);
    }
  });

  it('an invalid reference is a user error with exit code 125', async () => {
    const res = await tsoci(['pull', 'Upper/Case', '--root', root()]);
    assert.equal(res.code, 125);
    assert.match(res.stderr, /^tsoci: invalid reference "Upper\/Case": repository names must be lowercase \[INVALID_REFERENCE\]\n$/);
  });

  it('errors are JSON with --json', async () => {
    const res = await tsoci(['pull', 'Upper/Case', '--root', root(), '--json']);
    assert.equal(res.code, 125);
    assert.equal(JSON.parse(res.stdout).error.code, 'INVALID_REFERENCE');
  });

  it('--help shows examples', async () => {
    for (const cmd of ['pull', 'images', 'inspect', 'tag', 'rmi', 'login', 'logout']) {
      const res = await tsoci([cmd, '--help']);
      assert.equal(res.code, 0);
      assert.match(res.stdout, /EXAMPLES\n\s+\S.*tsoci /, cmd);
    }
  });

  it('an unknown flag is one line with exit code 125', async () => {
    const res = await tsoci(['pull', '--bogus', 'x']);
    assert.equal(res.code, 125);
    assert.match(res.stderr, /^tsoci: Nonexistent flag: --bogus/);
  });
});
