// npm run bench: tsoci against its peers, side by side in one run, alternating, and the ratios.
//   BENCH=pull          sections to run (comma separated) [default: all]
//   RUNS=5 BIG_RUNS=3   runs per image

import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { BIN } from '../test/helpers/cli.js';
import { pushImage, startRegistry } from '../test/helpers/registry.js';
import { benchImages } from './images.js';
import { type Row, median, report, timed, tmpfs } from './lib.js';

const sections = (process.env.BENCH ?? 'pull').split(',');
const RUNS = Number(process.env.RUNS ?? 5);
const BIG_RUNS = Number(process.env.BIG_RUNS ?? 3);
const work = '/tmp/tsoci-bench';
const cleanup = tmpfs(work);
const rows: Row[] = [];

const reg = await startRegistry();
try {
  process.stderr.write('building and pushing tiny, medium (~100 MB) and big (~500 MB) images...\n');
  const images = await benchImages();
  for (const [name, img] of Object.entries(images)) {
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
        row.ours.push(await timed(process.execPath, [BIN, 'pull', '-q', `${reg.host}/bench/${name}:latest`, '--root', path.join(d, 'tsoci')]));
        row.peer.push(await timed('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${reg.host}/bench/${name}:latest`, `oci:${path.join(d, 'skopeo')}:latest`]));
        rmSync(d, { recursive: true, force: true });
      }
      rows.push(row);
      process.stderr.write(`  ${row.what}: tsoci ${median(row.ours.map((s) => s.ms)).toFixed(0)} ms, skopeo ${median(row.peer.map((s) => s.ms)).toFixed(0)} ms\n`);
    }
  }
} finally {
  await reg.stop();
  cleanup();
}
process.stdout.write(`\n${report(rows)}\n`);
