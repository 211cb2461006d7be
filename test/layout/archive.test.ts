// load, save and convert against real peers: skopeo and umoci read what tsoci writes, tsoci reads what skopeo
// writes, round trips keep diff IDs and config, and bad archives are one clear line with nothing stored.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import tar from 'tar-stream';
import { BIN, type CliResult, sh, tsoci, tsociWithRss } from '../helpers/cli.js';
import { type BuiltImage, buildImage, busyboxEntries, tarLayer } from '../helpers/images.js';
import { type Registry, pushImage, startRegistry } from '../helpers/registry.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'tsoci-archive-'));
let reg: Registry;
let img: BuiltImage;
let dockerImg: BuiltImage;
let ref: string;
let dockerRef: string;
let seed: string;
let n = 0;

const newRoot = () => path.join(tmp, `root-${n++}`);
const file = (name: string) => path.join(tmp, `${n++}-${name}`);
const cli = (root: string, args: string[], input?: string) => tsoci(args, { env: { TSOCI_ROOT: root }, ...(input !== undefined ? { input } : {}) });
const skopeo = (...args: string[]) => execFileSync('skopeo', ['--insecure-policy', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

async function ok(root: string, args: string[]): Promise<string> {
  const r = await cli(root, args);
  assert.equal(r.code, 0, `tsoci ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function storeIndex(root: string): { manifests: { digest: string; annotations?: Record<string, string> }[] } {
  return JSON.parse(readFileSync(path.join(root, 'image', 'index.json'), 'utf8'));
}

/** The members of a tar file, name to bytes. */
async function members(f: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const ex = tar.extract();
  ex.on('entry', (h, s, next) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: unknown) => void chunks.push(c as Buffer));
    s.on('end', () => {
      out.set(h.name, Buffer.concat(chunks));
      next();
    });
  });
  await pipeline(createReadStream(f), ex);
  return out;
}

/** A tar of `entries`, in order (duplicates allowed). */
async function tarOf(entries: { name: string; data: Buffer | string }[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => void chunks.push(c as Buffer));
  const done = new Promise<void>((r) => pack.on('end', () => r()));
  for (const e of entries) pack.entry({ name: e.name }, typeof e.data === 'string' ? Buffer.from(e.data) : e.data);
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** A legacy docker-archive of the test image, built by hand (so that tests can break it). */
async function dockerArchive(overrides: { manifest?: unknown; extra?: { name: string; data: Buffer | string }[]; layerData?: (i: number, t: Buffer) => Buffer } = {}): Promise<Buffer> {
  const config = Buffer.from(JSON.stringify(img.config));
  const configName = `${createHash('sha256').update(config).digest('hex')}.json`;
  const layers = img.layerTars.map((t, i) => ({ name: `${img.diffIds[i]!.slice(7)}/layer.tar`, data: overrides.layerData ? overrides.layerData(i, t) : t }));
  const manifest = overrides.manifest ?? [{ Config: configName, RepoTags: ['localhost/hand:1'], Layers: layers.map((l) => l.name) }];
  return tarOf([{ name: configName, data: config }, ...layers, { name: 'manifest.json', data: JSON.stringify(manifest) }, ...(overrides.extra ?? [])]);
}

function oneError(r: CliResult, code: string): string {
  assert.equal(r.code, 125, r.stderr);
  const errors = r.stderr.trim().split('\n').filter((l) => l.startsWith('tsoci:'));
  assert.equal(errors.length, 1, r.stderr);
  assert.match(errors[0]!, new RegExp(`\\[${code}\\]$`));
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  return errors[0]!;
}

function nothingStored(root: string): void {
  if (!existsSync(path.join(root, 'image'))) return;
  assert.deepEqual(storeIndex(root).manifests, []);
  assert.deepEqual(readdirSync(path.join(root, 'image', 'blobs', 'sha256')), []);
  assert.deepEqual(readdirSync(path.join(root, 'ingest')), [], 'no staging left behind');
}

before(async () => {
  reg = await startRegistry();
  img = await buildImage({ layers: [busyboxEntries(), [{ name: 'etc/motd', content: 'archived\n' }], [{ name: 'data/x.bin', content: randomBytes(300_000) }]], config: { Cmd: ['cat', '/etc/motd'] } });
  dockerImg = await buildImage({ layers: [[{ name: 'd.txt', content: 'docker types' }]], docker: true });
  await pushImage(reg, 'arch/app', 'v1', img);
  await pushImage(reg, 'arch/docker', 'v1', dockerImg);
  ref = `${reg.host}/arch/app:v1`;
  dockerRef = `${reg.host}/arch/docker:v1`;
  seed = newRoot();
  await ok(seed, ['pull', ref]);
  await ok(seed, ['pull', dockerRef]);
});

after(async () => {
  await reg.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('tsoci save', () => {
  it('docker-archive: manifest.json, repositories, uncompressed layers named by diff ID; docker-load shape that skopeo reads', async () => {
    const out = file('app.tar');
    await ok(seed, ['save', ref, '-o', out]);
    const m = await members(out);
    const manifest = JSON.parse(m.get('manifest.json')!.toString());
    assert.deepEqual(manifest, [{ Config: `${img.blobs[0]!.digest.slice(7)}.json`, RepoTags: [`${reg.host}/arch/app:v1`], Layers: img.diffIds.map((d) => `${d.slice(7)}/layer.tar`) }]);
    for (const d of img.diffIds) assert.equal(`sha256:${createHash('sha256').update(m.get(`${d.slice(7)}/layer.tar`)!).digest('hex')}`, d);
    assert.deepEqual(JSON.parse(m.get('repositories')!.toString()), { [`${reg.host}/arch/app`]: { v1: img.diffIds.at(-1)!.slice(7) } });
    const inspected = JSON.parse(skopeo('inspect', `docker-archive:${out}`));
    assert.deepEqual(inspected.Layers, img.diffIds);
    skopeo('copy', '-q', `docker-archive:${out}`, `oci:${file('layout')}:x`);
  });

  it('oci-archive and oci-dir: skopeo inspects and copies them, umoci reads the directory; --compress zstd recompresses', async () => {
    const archive = file('app.oci.tar');
    await ok(seed, ['save', '--format', 'oci-archive', ref, '-o', archive]);
    assert.deepEqual(JSON.parse(skopeo('inspect', `oci-archive:${archive}`)).Layers, img.blobs.slice(1).map((b) => b.digest));
    skopeo('copy', '-q', `oci-archive:${archive}`, `oci:${file('copy')}:x`);

    const dir = file('dir');
    await ok(seed, ['save', '--format', 'oci-dir', '--compress', 'zstd', ref, '-o', dir]);
    const raw = JSON.parse(skopeo('inspect', '--raw', `oci:${dir}:${ref}`));
    assert.deepEqual(raw.layers.map((l: { mediaType: string }) => l.mediaType), Array(3).fill('application/vnd.oci.image.layer.v1.tar+zstd'));
    assert.match(execFileSync('umoci', ['stat', '--image', `${dir}:${ref}`], { encoding: 'utf8' }), /sha256:/);
    // A second image goes into the same directory; the first stays named.
    await ok(seed, ['save', '--format', 'oci-dir', dockerRef, '-o', dir]);
    const names = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8')).manifests.map((e: { annotations: Record<string, string> }) => e.annotations['org.opencontainers.image.ref.name']);
    assert.deepEqual(names.sort(), [`${reg.host}/arch/app:v1`, `${reg.host}/arch/docker:v1`].sort());
    // And tsoci loads the zstd layout and runs from it.
    const r = newRoot();
    await ok(r, ['load', dir]);
    assert.equal(await ok(r, ['run', '--rm', ref]), 'archived\n');
  });

  it('turns Docker media types into OCI ones (manifest re-digested, config bytes kept)', async () => {
    const archive = file('docker.oci.tar');
    await ok(seed, ['save', '--format', 'oci-archive', dockerRef, '-o', archive]);
    const raw = JSON.parse(skopeo('inspect', '--raw', `oci-archive:${archive}`));
    assert.equal(raw.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(raw.config.mediaType, 'application/vnd.oci.image.config.v1+json');
    assert.equal(raw.config.digest, dockerImg.blobs[0]!.digest);
    assert.equal(raw.layers[0].mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
    const r = newRoot();
    await ok(r, ['load', '-i', archive]);
    assert.notEqual(storeIndex(r).manifests[0]!.digest, dockerImg.top.digest);
  });
});

describe('tsoci load', () => {
  it('reads what skopeo writes (docker-archive and oci-archive) and verifies it', async () => {
    const da = file('sk.docker.tar');
    const oa = file('sk.oci.tar');
    skopeo('copy', '-q', `oci:${seed}/image:${ref}`, `docker-archive:${da}:localhost/sk:da`);
    skopeo('copy', '-q', `oci:${seed}/image:${ref}`, `oci-archive:${oa}:sk-oa`);
    const r = newRoot();
    assert.match(await ok(r, ['load', '-i', da]), /^Loaded image: localhost\/sk:da$/m);
    assert.match(await ok(r, ['load', '-i', oa]), /^Loaded image: localhost\/\d+-sk:sk-oa$/m);
    for (const e of storeIndex(r).manifests) assert.ok(e.annotations?.['org.opencontainers.image.ref.name']);
    assert.match(await ok(r, ['verify']), /2 images, 0 snapshots: no problems/);
    const cfg = JSON.parse(await ok(r, ['inspect', 'localhost/sk:da'])).config;
    assert.deepEqual(cfg.rootfs.diff_ids, img.diffIds);
  });

  it('docker-archive -> oci -> docker-archive keeps the diff IDs and the config', async () => {
    const first = file('first.tar');
    await ok(seed, ['save', ref, '-o', first]);
    const layout = file('layout');
    await ok(newRoot(), ['convert', `docker-archive:${first}`, `oci:${layout}:app`]);
    const back = file('back.tar');
    await ok(newRoot(), ['convert', `oci:${layout}:app`, `docker-archive:${back}:localhost/back:1`]);
    const a = await members(first);
    const b = await members(back);
    const ma = JSON.parse(a.get('manifest.json')!.toString())[0];
    const mb = JSON.parse(b.get('manifest.json')!.toString())[0];
    assert.equal(mb.Config, ma.Config);
    assert.ok(a.get(ma.Config)!.equals(b.get(mb.Config)!), 'the config bytes are the same');
    assert.deepEqual(mb.Layers, ma.Layers);
    for (const l of ma.Layers) assert.ok(a.get(l)!.equals(b.get(l)!));
    assert.deepEqual(mb.RepoTags, ['localhost/back:1']);
  });

  it("reads docker 25's layout: an OCI layout inside, manifest.json naming blobs/sha256/ paths", async () => {
    const config = Buffer.from(JSON.stringify(img.config));
    const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    const blobs = [{ name: `blobs/sha256/${hex(config)}`, data: config }, ...img.layerTars.map((t) => ({ name: `blobs/sha256/${hex(t)}`, data: t }))];
    const oci = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${hex(config)}`, size: config.length }, layers: img.layerTars.map((t) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${hex(t)}`, size: t.length })) };
    const manifestBytes = Buffer.from(JSON.stringify(oci));
    const f = file('docker25.tar');
    writeFileSync(
      f,
      await tarOf([
        { name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
        ...blobs,
        { name: `blobs/sha256/${hex(manifestBytes)}`, data: manifestBytes },
        { name: 'index.json', data: JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: oci.mediaType, digest: `sha256:${hex(manifestBytes)}`, size: manifestBytes.length, annotations: { 'io.containerd.image.name': 'docker.io/library/d25:1', 'org.opencontainers.image.ref.name': '1' } }] }) },
        { name: 'manifest.json', data: JSON.stringify([{ Config: `blobs/sha256/${hex(config)}`, RepoTags: ['d25:1'], Layers: blobs.slice(1).map((b) => b.name) }]) },
      ]),
    );
    const r = newRoot();
    assert.match(await ok(r, ['load', '-i', f]), /^Loaded image: docker\.io\/library\/d25:1$/m);
    assert.deepEqual(JSON.parse(await ok(r, ['inspect', 'd25:1'])).config.rootfs.diff_ids, img.diffIds);
    assert.match(await ok(r, ['verify']), /no problems/);
  });

  it('reads stdin and gzip-compressed archives; --tag names the image', async () => {
    const gz = file('app.tar.gz');
    writeFileSync(gz, gzipSync(await dockerArchive()));
    const r = newRoot();
    const res = await sh(`cat ${gz} | ${BIN} load --tag localhost/piped:7`, { TSOCI_ROOT: r });
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /^Loaded image: localhost\/piped:7$/m);
    assert.deepEqual(readdirSync(path.join(r, 'ingest')), [], 'the staging is gone');
    assert.match(await ok(r, ['verify']), /no problems/);
  });

  it('loads a large archive with bounded memory and no copy of it', async () => {
    const big = file('big.tar');
    const layer = await tarLayer([{ name: 'big.bin', content: randomBytes(160 * 1024 * 1024) }]);
    const diff = `sha256:${createHash('sha256').update(layer).digest('hex')}`;
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diff] }, config: {} }));
    const configName = `${createHash('sha256').update(config).digest('hex')}.json`;
    const pack = tar.pack();
    const written = pipeline(pack, createWriteStream(big));
    pack.entry({ name: configName }, config);
    pack.entry({ name: `${diff.slice(7)}/layer.tar` }, layer);
    pack.entry({ name: 'manifest.json' }, JSON.stringify([{ Config: configName, RepoTags: ['localhost/big:1'], Layers: [`${diff.slice(7)}/layer.tar`] }]));
    pack.finalize();
    await written;
    const r = newRoot();
    const res = await tsociWithRss(['load', '-i', big, '--root', r]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /Loaded image: localhost\/big:1/);
    const rss = res.rssMb;
    assert.ok(rss < 200, `peak RSS ${rss} MB`);
    assert.equal(statSync(path.join(r, 'image', 'blobs', 'sha256', diff.slice(7))).size, layer.length);
    assert.deepEqual(readdirSync(path.join(r, 'ingest')), []);
  });
});

describe('tsoci convert', () => {
  it('registry straight to an oci-archive, without a store', async () => {
    const r = newRoot();
    const out = file('direct.oci.tar');
    await ok(r, ['convert', `docker://${ref}`, `oci-archive:${out}:app`]);
    assert.ok(!existsSync(r), 'no store was made');
    assert.deepEqual(JSON.parse(skopeo('inspect', `oci-archive:${out}:app`)).Layers, img.blobs.slice(1).map((b) => b.digest));
    assert.deepEqual(readdirSync(path.dirname(out)).filter((f) => f.startsWith('.tsoci')), [], 'work files removed');
  });

  it('names bad transports in one line', async () => {
    oneError(await cli(newRoot(), ['convert', 'nope:x', 'oci:y']), 'INVALID_ARGUMENT');
    assert.match(oneError(await cli(newRoot(), ['convert', `oci:${file('a')}`, `docker://${ref}`]), 'INVALID_ARGUMENT'), /docker:\/\/ is a source only/);
  });
});

describe('bad archives: one clear line, nothing stored', () => {
  const cases: [string, () => Promise<Buffer>, string, RegExp][] = [
    ['a truncated archive', async () => (await dockerArchive()).subarray(0, 600_000), 'ARCHIVE_INVALID', /truncated/],
    ['a layer whose content is not its diff ID', async () => dockerArchive({ layerData: (i, t) => (i === 2 ? Buffer.concat([t.subarray(0, 2000), Buffer.from('X'), t.subarray(2001)]) : t) }), 'DIGEST_MISMATCH', /has digest sha256:/],
    ['a manifest naming ../x', async () => dockerArchive({ manifest: [{ Config: '../x.json', RepoTags: [], Layers: [] }] }), 'ARCHIVE_INVALID', /a path outside the archive: \.\.\/x\.json/],
    ['a manifest naming an absolute path', async () => dockerArchive({ manifest: [{ Config: '/etc/passwd', RepoTags: [], Layers: [] }] }), 'ARCHIVE_INVALID', /a path outside the archive: \/etc\/passwd/],
    ['a missing layer', async () => dockerArchive({ manifest: [{ Config: `${createHash('sha256').update(JSON.stringify(img.config)).digest('hex')}.json`, RepoTags: [], Layers: ['nothere/layer.tar'] }] }), 'ARCHIVE_INVALID', /names nothere\/layer\.tar, which the archive does not hold/],
    ['a file that is not a tar', async () => randomBytes(70_000), 'ARCHIVE_INVALID', /not a tar archive/],
    ['duplicate entries', async () => dockerArchive({ extra: [{ name: 'manifest.json', data: '[]' }] }), 'ARCHIVE_INVALID', /holds manifest\.json twice/],
  ];
  for (const [name, make, code, msg] of cases) {
    it(name, async () => {
      const f = file('bad.tar');
      writeFileSync(f, await make());
      const r = newRoot();
      assert.match(oneError(await cli(r, ['load', '-i', f]), code), msg);
      nothingStored(r);
    });
  }

  it('a truncated stream on stdin', async () => {
    const r = newRoot();
    const t = (await dockerArchive()).subarray(0, 700_000);
    const f = file('trunc.tar');
    writeFileSync(f, t);
    truncateSync(f, 700_000);
    const res = await sh(`cat ${f} | ${BIN} load`, { TSOCI_ROOT: r });
    assert.match(oneError(res, 'ARCHIVE_INVALID'), /truncated/);
    nothingStored(r);
  });
});
