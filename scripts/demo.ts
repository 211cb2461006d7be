// The offline demo: a local registry on 127.0.0.1, a demo image built from busybox-static and pushed to it,
// then tsoci pulls it, lists it, bundles it (runc runs the bundle), runs it with tsoci run, saves it to a
// docker-archive and loads that offline into a second store, and checks both stores.

import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildImage, busyboxEntries } from '../test/helpers/images.js';
import { pushImage, startRegistry } from '../test/helpers/registry.js';

const bin = path.resolve(import.meta.dirname, '../bin/tsoci');
const root = process.env.TSOCI_ROOT || mkdtempSync(path.join(os.tmpdir(), 'tsoci-demo-'));

function step(args: string[]): void {
  process.stdout.write(`\n$ tsoci ${args.join(' ')}\n`);
  const r = spawnSync(bin, args, { stdio: 'inherit', env: { ...process.env, TSOCI_ROOT: root } });
  if (r.status !== 0) {
    process.stderr.write(`demo step failed with exit code ${r.status}\n`);
    process.exit(r.status ?? 1);
  }
}

const reg = await startRegistry();
try {
  const image = await buildImage({
    layers: [busyboxEntries(), [{ name: 'etc/motd', content: 'Hello from a tsoci demo container!\n' }]],
    config: { Entrypoint: ['/bin/sh', '-c'], Cmd: ['cat /etc/motd; echo "running as $(id -u):$(id -g) in $(pwd) on $(hostname)"'], WorkingDir: '/tmp' },
  });
  await pushImage(reg, 'demo/busybox', 'latest', image);
  const ref = `${reg.host}/demo/busybox:latest`;
  process.stdout.write(`registry on ${reg.url}; pushed ${ref}; store in ${root}\n`);
  const bundleDir = path.join(root, 'demo-bundle');
  step(['pull', ref]);
  step(['images']);
  step(['bundle', ref, bundleDir]);
  process.stdout.write(`\n$ runc run --bundle ${bundleDir} tsoci-demo\n`);
  const r = spawnSync('runc', ['run', '--bundle', bundleDir, `tsoci-demo-${process.pid}`], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) process.exitCode = r.status ?? 1;
  step(['unbundle', bundleDir]);
  step(['run', '--rm', ref]);
  step(['run', '--rm', '-u', 'nobody', '-w', '/', '--hostname', 'demo', ref, 'echo "I am $(id -un) in $(pwd) on $(hostname)"']);
  const archive = path.join(root, 'demo.tar');
  step(['save', ref, '-o', archive]);
  step(['load', '-i', archive, '--root', path.join(root, 'offline'), '--tag', 'localhost/demo:offline']);
  step(['run', '--rm', '--root', path.join(root, 'offline'), '--pull', 'never', 'localhost/demo:offline']);
  step(['verify']);
  step(['system', 'df']);
} finally {
  await reg.stop();
}
