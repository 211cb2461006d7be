// npm run bench: tsoci against its peers, side by side in one run, alternating, and the ratios.
//   BENCH=pull          sections to run (comma separated: pull,bundle,run,archive,cold) [default: all]
//   RUNS=5 BIG_RUNS=3   runs per image

import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { BIN } from '../test/helpers/cli.js';
import { pushImage, startRegistry } from '../test/helpers/registry.js';
import { benchImages } from './images.js';
import { type Row, median, report, timed, tmpfs } from './lib.js';

const sections = (process.env.BENCH ?? 'pull,bundle,run,archive,cold').split(',');
const PEERS = process.env.PEERS_DIR ?? path.resolve(import.meta.dirname, '../../shared/peers');
const ANCHORS = process.env.ANCHORS_DIR ?? '/tmp/anchors';
const RUNS = Number(process.env.RUNS ?? 5);
const BIG_RUNS = Number(process.env.BIG_RUNS ?? 3);
const work = '/tmp/tsoci-bench';
const cleanup = tmpfs(work);
const rows: Row[] = [];
const libRows: string[] = [];

const reg = await startRegistry();
try {
  // Only what the chosen sections use is built: the 500 MB image takes a while and holds memory.
  const names = sections.includes('pull') ? (['tiny', 'medium', 'big'] as const) : (['tiny'] as const);
  process.stderr.write(`building and pushing ${names.join(', ')}...\n`);
  const images = await benchImages(names);
  for (const [name, img] of Object.entries(images)) {
    if (!img) continue;
    await pushImage(reg, `bench/${name}`, 'latest', img);
    const bytes = img.blobs.reduce((n, b) => n + b.size, 0);
    const raw = img.layerTars.reduce((n, t) => n + t.length, 0);
    process.stderr.write(`  ${name}: ${(bytes / 1e6).toFixed(1)} MB compressed, ${(raw / 1e6).toFixed(1)} MB raw, ${img.layerTars.length} layers\n`);
  }

  if (sections.includes('pull')) {
    for (const name of ['tiny', 'medium', 'big'] as const) {
      const row: Row = { what: `pull ${name} (registry -> OCI layout, cold)`, ours: [], peer: [], peerName: 'skopeo copy' };
      const n = name === 'big' ? BIG_RUNS : RUNS;
      for (let i = 0; i < n; i++) {
        const d = mkdtempSync(path.join(work, 'run-'));
        row.ours.push(await timed(BIN, ['pull', '-q', '--root', path.join(d, 'tsoci'), `${reg.host}/bench/${name}:latest`]));
        row.peer.push(await timed('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${reg.host}/bench/${name}:latest`, `oci:${path.join(d, 'skopeo')}:latest`]));
        rmSync(d, { recursive: true, force: true });
      }
      rows.push(row);
      process.stderr.write(`  ${row.what}: tsoci ${median(row.ours.map((s) => s.ms)).toFixed(0)} ms, skopeo ${median(row.peer.map((s) => s.ms)).toFixed(0)} ms\n`);
    }
  }
  if (sections.includes('bundle')) await benchBundle(rows);
  if (sections.includes('run')) await benchRun(rows, `${reg.host}/bench/tiny:latest`);
  if (sections.includes('archive')) await benchArchive(rows);
  if (sections.includes('cold')) await benchCold(rows);
} finally {
  await reg.stop();
  cleanup();
}
process.stdout.write(`\n${report(rows)}\n`);
if (libRows.length) process.stdout.write(`\n| derived | median |\n|---|---|\n${libRows.join('\n')}\n`);

/**
 * First bundle (extraction included) and second bundle of the peers' debian (~200 MB) and big (~500 MB) images
 * against umoci unpack of the same layout, on tmpfs. The images come from ../shared/peers/setup.sh (run when
 * missing: it debootstraps Debian and serves the images on 127.0.0.1:5000).
 */
/** The peers' debian and big images (../shared/peers/setup.sh, run when missing), served on 127.0.0.1:5000. */
function ensurePeerImages(): void {
  // setup.sh reads the Debian mirror from the apt sources, but stops (set -e) when a classic sources.list is
  // missing: hand it the first deb822 URI ourselves.
  const mirror = process.env.MIRROR ?? apt822Mirror();
  const env = { ...process.env, ANCHORS_DIR: ANCHORS, ...(mirror ? { MIRROR: mirror } : {}) };
  if (!existsSync(path.join(ANCHORS, 'oci/debian/index.json')) || !existsSync(path.join(ANCHORS, 'oci/big/index.json'))) {
    process.stderr.write(`building the peers' images with ${PEERS}/setup.sh (takes minutes once)...\n`);
    execFileSync('bash', [path.join(PEERS, 'setup.sh')], { stdio: ['ignore', 'inherit', 'inherit'], env });
  } else {
    execFileSync('bash', [path.join(PEERS, 'setup.sh')], { stdio: ['ignore', 'ignore', 'ignore'], env: { ...env, SKIP_INSTALL: '1' } });
  }
}

async function benchBundle(out: Row[]): Promise<void> {
  ensurePeerImages();
  for (const name of ['debian', 'big'] as const) {
    const n = name === 'big' ? BIG_RUNS : RUNS;
    const root = path.join(work, `bundle-root-${name}`);
    const ref = `127.0.0.1:5000/${name}:latest`;
    execFileSync(BIN, ['pull', '-q', '--root', root, ref], { stdio: 'ignore' });
    const layout = path.join(work, `oci-${name}`);
    cpSync(path.join(ANCHORS, 'oci', name), layout, { recursive: true });
    const first: Row = { what: `bundle ${name}, first (extraction included)`, ours: [], peer: [], peerName: 'umoci unpack' };
    const second: Row = { what: `bundle ${name}, second (snapshots present)`, ours: [], peer: [], peerName: 'umoci unpack' };
    for (let i = 0; i < n; i++) {
      rmSync(path.join(root, 'snapshots'), { recursive: true, force: true });
      const dir = path.join(work, `b-${name}-${i}`);
      first.ours.push(await timed(BIN, ['bundle', '--root', root, ref, dir]));
      execFileSync(BIN, ['unbundle', '--root', root, dir]);
      second.ours.push(await timed(BIN, ['bundle', '--root', root, ref, dir]));
      execFileSync(BIN, ['unbundle', '--root', root, dir]);
      const udir = path.join(work, `u-${name}-${i}`);
      const peer = await timed('umoci', ['unpack', '--image', `${layout}:latest`, udir]);
      first.peer.push(peer);
      second.peer.push(peer);
      rmSync(udir, { recursive: true, force: true });
    }
    // The same second bundle as a library call, without the CLI's start-up (node + oclif).
    const lib = (await import(new URL('../dist/index.js', import.meta.url).href)) as typeof import('../src/index.js');
    const settings = await lib.loadSettings({ root });
    const inproc: number[] = [];
    for (let i = 0; i < n; i++) {
      const dir = path.join(work, `l-${name}-${i}`);
      const t0 = performance.now();
      await lib.bundle(ref, dir, settings);
      inproc.push(performance.now() - t0);
      await lib.unbundle(dir, settings);
    }
    libRows.push(`| bundle ${name}, second, library call | ${median(inproc).toFixed(1)} ms |`);
    out.push(first, second);
    process.stderr.write(`  ${first.what}: tsoci ${median(first.ours.map((s) => s.ms)).toFixed(0)} ms, umoci ${median(first.peer.map((s) => s.ms)).toFixed(0)} ms; second ${median(second.ours.map((s) => s.ms)).toFixed(0)} ms\n`);
    rmSync(root, { recursive: true, force: true });
    rmSync(layout, { recursive: true, force: true });
  }
}

function apt822Mirror(): string | undefined {
  try {
    for (const f of readdirSync('/etc/apt/sources.list.d').filter((x) => x.endsWith('.sources'))) {
      for (const m of readFileSync(path.join('/etc/apt/sources.list.d', f), 'utf8').matchAll(/^URIs:\s*(\S+)/gm)) if (!m[1]!.includes('security')) return m[1];
    }
  } catch {
    /* no deb822 sources */
  }
  return undefined;
}

/**
 * Start-up overhead: `tsoci run --rm IMAGE true` (image pulled and extracted) against `runc run` of an equivalent
 * prepared bundle, and `tsoci --version` against `node -e 0`.
 */
async function benchRun(out: Row[], ref: string): Promise<void> {
  const root = path.join(work, 'run-root');
  execFileSync(BIN, ['pull', '-q', '--root', root, ref], { stdio: 'ignore' });
  const bundleDir = path.join(work, 'run-bundle');
  execFileSync(BIN, ['bundle', '--root', root, ref, bundleDir, 'true'], { stdio: 'ignore' });
  execFileSync(BIN, ['run', '--rm', '--root', root, ref, 'true'], { stdio: 'ignore' });
  const row: Row = { what: 'run --rm tiny true (extracted)', ours: [], peer: [], peerName: 'runc run (bundle ready)' };
  const ver: Row = { what: 'tsoci --version', ours: [], peer: [], peerName: 'node -e 0' };
  // For the record: what node alone costs here, and what run costs started as `node bin/run.cjs` (which pays for
  // Node's start-up parse of the CA store when NODE_EXTRA_CA_CERTS is set; bin/tsoci does not).
  const extraCa = process.env.NODE_EXTRA_CA_CERTS !== undefined;
  const { NODE_EXTRA_CA_CERTS: _, ...plainEnv } = process.env;
  const nodePlain: number[] = [];
  const direct: number[] = [];
  const n = Math.max(RUNS, 10);
  for (let i = 0; i < n; i++) {
    row.ours.push(await timed(BIN, ['run', '--rm', '--root', root, ref, 'true']));
    row.peer.push(await timed('runc', ['run', '--bundle', bundleDir, `bench-${process.pid}-${i}`]));
    ver.ours.push(await timed(BIN, ['--version']));
    ver.peer.push(await timed(process.execPath, ['-e', '0']));
    if (extraCa) {
      nodePlain.push((await timed(process.execPath, ['-e', '0'], plainEnv as Record<string, string>, true)).ms);
      direct.push((await timed(process.execPath, [path.join(path.dirname(BIN), 'run.cjs'), 'run', '--rm', '--root', root, ref, 'true'])).ms);
    }
  }
  execFileSync(BIN, ['unbundle', '--root', root, bundleDir], { stdio: 'ignore' });
  out.push(row, ver);
  const runc = median(row.peer.map((s) => s.ms));
  const o = median(row.ours.map((s) => s.ms)) - runc;
  libRows.push(`| run --rm overhead over runc run | ${o.toFixed(0)} ms |`);
  if (extraCa) {
    libRows.push(`| node -e 0 without NODE_EXTRA_CA_CERTS (set here) | ${median(nodePlain).toFixed(0)} ms |`);
    libRows.push(`| run --rm overhead over runc run, started as node bin/run.cjs | ${(median(direct) - runc).toFixed(0)} ms |`);
  }
}

/**
 * Offline archives: a docker-archive of the peers' big image (made by skopeo) loaded into a store, against
 * `skopeo copy docker-archive:... oci:...`; and saved back as a docker-archive, against `skopeo copy oci:...
 * docker-archive:...`. Alternating, fresh destinations each run, on tmpfs.
 */
async function benchArchive(out: Row[]): Promise<void> {
  ensurePeerImages();
  const archive = path.join(work, 'big-docker.tar');
  execFileSync('skopeo', ['--insecure-policy', 'copy', '-q', `oci:${path.join(ANCHORS, 'oci', 'big')}:latest`, `docker-archive:${archive}:bench/big:latest`]);
  const size = Number(execFileSync('stat', ['-c', '%s', archive], { encoding: 'utf8' }).trim());
  process.stderr.write(`  docker-archive of the big image: ${(size / 1e6).toFixed(0)} MB\n`);
  const load: Row = { what: `load a ${(size / 1e6).toFixed(0)} MB docker-archive into a layout`, ours: [], peer: [], peerName: 'skopeo copy docker-archive: oci:' };
  const save: Row = { what: `save it back as a docker-archive`, ours: [], peer: [], peerName: 'skopeo copy oci: docker-archive:' };
  for (let i = 0; i < BIG_RUNS; i++) {
    const root = path.join(work, `archive-root-${i}`);
    const layout = path.join(work, `archive-oci-${i}`);
    load.ours.push(await timed(BIN, ['load', '-q', '-i', archive, '--root', root]));
    load.peer.push(await timed('skopeo', ['--insecure-policy', 'copy', '-q', `docker-archive:${archive}`, `oci:${layout}:latest`]));
    const ours = path.join(work, `saved-${i}.tar`);
    const theirs = path.join(work, `skopeo-saved-${i}.tar`);
    save.ours.push(await timed(BIN, ['save', 'bench/big:latest', '-o', ours, '--root', root]));
    save.peer.push(await timed('skopeo', ['--insecure-policy', 'copy', '-q', `oci:${layout}:latest`, `docker-archive:${theirs}:bench/big:latest`]));
    for (const p of [root, layout, ours, theirs]) rmSync(p, { recursive: true, force: true });
  }
  rmSync(archive, { force: true });
  out.push(load, save);
  process.stderr.write(`  ${load.what}: tsoci ${median(load.ours.map((s) => s.ms)).toFixed(0)} ms, skopeo ${median(load.peer.map((s) => s.ms)).toFixed(0)} ms; save ${median(save.ours.map((s) => s.ms)).toFixed(0)} vs ${median(save.peer.map((s) => s.ms)).toFixed(0)} ms\n`);
}

/**
 * Registry to runnable bundle on a cold store: `tsoci bundle REF DIR` (layers extracted while they download)
 * against `skopeo copy docker://REF oci:... && umoci unpack ...`, and against downloading the same blobs alone
 * with curl (4 at a time, as tsoci does), for the peers' debian (~200 MB) and big (~500 MB) images.
 */
async function benchCold(out: Row[]): Promise<void> {
  ensurePeerImages();
  for (const name of ['debian', 'big'] as const) {
    const n = name === 'big' ? BIG_RUNS : RUNS;
    const ref = `127.0.0.1:5000/${name}:latest`;
    const manifest = JSON.parse(execFileSync('curl', ['-sf', '-H', 'Accept: application/vnd.oci.image.manifest.v1+json', `http://127.0.0.1:5000/v2/${name}/manifests/latest`], { encoding: 'utf8' })) as { config: { digest: string }; layers: { digest: string }[] };
    const urls = [manifest.config, ...manifest.layers].flatMap((d) => ['-o', '/dev/null', `http://127.0.0.1:5000/v2/${name}/blobs/${d.digest}`]);
    const peers: Row = { what: `cold bundle ${name} (registry -> runnable bundle)`, ours: [], peer: [], peerName: 'skopeo copy + umoci unpack' };
    const curl: Row = { what: `cold bundle ${name} against the download alone`, ours: [], peer: [], peerName: 'curl of the blobs' };
    for (let i = 0; i < n; i++) {
      const root = path.join(work, `cold-root-${name}-${i}`);
      const dir = path.join(work, `cold-b-${name}-${i}`);
      const ours = await timed(BIN, ['bundle', '--root', root, ref, dir]);
      peers.ours.push(ours);
      curl.ours.push(ours);
      execFileSync(BIN, ['unbundle', '--root', root, dir]);
      rmSync(root, { recursive: true, force: true });
      const layout = path.join(work, `cold-oci-${name}-${i}`);
      const udir = path.join(work, `cold-u-${name}-${i}`);
      peers.peer.push(await timed('sh', ['-c', `skopeo copy -q --src-tls-verify=false docker://${ref} oci:${layout}:latest && umoci unpack --image ${layout}:latest ${udir}`]));
      rmSync(layout, { recursive: true, force: true });
      rmSync(udir, { recursive: true, force: true });
      curl.peer.push(await timed('curl', ['-sf', '--parallel', '--parallel-max', '4', ...urls]));
    }
    out.push(peers, curl);
    process.stderr.write(`  ${peers.what}: tsoci ${median(peers.ours.map((s) => s.ms)).toFixed(0)} ms, skopeo+umoci ${median(peers.peer.map((s) => s.ms)).toFixed(0)} ms, curl ${median(curl.peer.map((s) => s.ms)).toFixed(0)} ms\n`);
  }
}
