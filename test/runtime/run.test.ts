// tsoci run and friends with real runc on a busybox-static image: output, exit codes, env, user, workdir,
// read-only bind mounts, hostname, network none, detached containers, and nothing leaked afterwards.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN, tsoci } from '../helpers/cli.js';
import { buildImage, busyboxEntries } from '../helpers/images.js';
import { type Registry, pushImage, startRegistry } from '../helpers/registry.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'tsoci-run-'));
const root = path.join(tmp, 'root');
let reg: Registry;
let img: string;

const mountsUnder = (dir: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4]?.startsWith(dir)).length;
const runcState = () => (existsSync(path.join(root, 'runc')) ? readdirSync(path.join(root, 'runc')) : []);
const containerDirs = () => (existsSync(path.join(root, 'containers')) ? readdirSync(path.join(root, 'containers')).filter((d) => !d.startsWith('.')) : []);
const t = (args: string[], input?: string) => tsoci(args, { env: { TSOCI_ROOT: root }, ...(input !== undefined ? { input } : {}) });

before(async () => {
  reg = await startRegistry();
  await pushImage(
    reg,
    'run/busybox',
    'v1',
    await buildImage({
      layers: [busyboxEntries(), [{ name: 'data/', type: 'directory' }, { name: 'etc/motd', content: 'motd from the image\n' }]],
      config: { Cmd: ['cat', '/etc/motd'], Env: ['PATH=/bin', 'FROM_IMAGE=yes'], WorkingDir: '/data', StopSignal: 'SIGUSR1' },
    }),
  );
  img = `${reg.host}/run/busybox:v1`;
  const pull = await t(['pull', '-q', img]);
  assert.equal(pull.code, 0, pull.stderr);
});

after(async () => {
  // Whatever a failed test left behind: containers, then their mounts (deepest first).
  spawnSync('sh', ['-c', `for c in $(runc --root ${root}/runc list -q 2>/dev/null); do runc --root ${root}/runc delete -f $c; done`]);
  const left = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m.startsWith(tmp)).sort().reverse();
  for (const m of left) spawnSync('umount', ['-l', m]);
  await reg.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('tsoci run', () => {
  it("prints the container's output and exits 0", async () => {
    const r = await t(['run', '--rm', img]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'motd from the image\n');
  });

  it("passes the container's exit code through (3), 127 for a missing command, 126 for one that cannot run", async () => {
    assert.equal((await t(['run', '--rm', img, 'sh', '-c', 'exit 3'])).code, 3);
    const nf = await t(['run', '--rm', img, 'no-such-command']);
    assert.equal(nf.code, 127);
    assert.match(nf.stderr, /executable file not found/);
    assert.equal((await t(['run', '--rm', img, '/etc/motd'])).code, 126);
  });

  it('is 125 when tsoci itself fails, and names a missing runtime', async () => {
    const r = await t(['run', '--rm', '--runtime', '/nonexistent/runc', img]);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /OCI runtime \/nonexistent\/runc not found/);
    const p = await t(['run', '--rm', '--pull', 'never', `${reg.host}/run/absent:v1`]);
    assert.equal(p.code, 125);
    assert.match(p.stderr, /REF_NOT_FOUND/);
  });

  it('applies env (-e, --env-file), user, workdir, hostname', async () => {
    const envFile = path.join(tmp, 'env.list');
    writeFileSync(envFile, '# comment\nFROM_FILE=file value\n');
    const r = await t(['run', '--rm', '-e', 'A=1', '--env-file', envFile, '-u', 'app', '-w', '/tmp', '--hostname', 'boxy', img, 'sh', '-c', 'echo "$A|$FROM_FILE|$FROM_IMAGE|$(id -u):$(id -g)|$(pwd)|$(hostname)"']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '1|file value|yes|1000:1000|/tmp|boxy\n');
  });

  it('mounts a read-only bind volume', async () => {
    const vol = path.join(tmp, 'vol');
    mkdirSync(vol, { recursive: true });
    writeFileSync(path.join(vol, 'in'), 'from host\n');
    const r = await t(['run', '--rm', '-v', `${vol}:/mnt:ro`, img, 'sh', '-c', 'cat /mnt/in; echo x > /mnt/out || echo refused']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^from host\n.*refused\n$/s);
    assert.ok(!existsSync(path.join(vol, 'out')));
  });

  it('--network none gives an own namespace with only loopback, up', async () => {
    const r = await t(['run', '--rm', '--network', 'none', img, 'ip', '-o', 'link']);
    assert.equal(r.code, 0, r.stderr);
    const links = r.stdout.trim().split('\n');
    assert.equal(links.length, 1, r.stdout);
    assert.match(links[0]!, /lo: <LOOPBACK,UP/);
  });

  it('--read-only makes the rootfs read-only', async () => {
    const r = await t(['run', '--rm', '--read-only', img, 'sh', '-c', 'touch /x 2>/dev/null && echo wrote || echo read-only']);
    assert.equal(r.stdout, 'read-only\n');
  });

  it('passes stdin with -i', async () => {
    const r = await t(['run', '--rm', '-i', img, 'sh', '-c', 'read line; echo "got $line"'], 'hello\n');
    assert.equal(r.stdout, 'got hello\n');
  });

  it('--rm leaves no mount, no runc state and no container directory, also after a failure', async () => {
    await t(['run', '--rm', img, 'sh', '-c', 'exit 9']);
    await t(['run', '--rm', img, 'no-such-command']);
    assert.equal(mountsUnder(root), 0);
    assert.deepEqual(runcState(), []);
    assert.deepEqual(containerDirs(), []);
  });
});

describe('detached containers', () => {
  it('run -d, ps, exec, logs, stop with the image stop signal, rm; nothing left behind', async () => {
    const d = await t(['run', '-d', '--name', 'svc', img, 'sh', '-c', 'echo started; trap "echo got USR1; exit 0" USR1; while true; do sleep 0.1; done']);
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /^[0-9a-f]{64}\n$/);
    const ps = await t(['ps']);
    assert.match(ps.stdout, /svc\s+.*\s+Up$/m);
    const dup = await t(['run', '-d', '--name', 'svc', img]);
    assert.equal(dup.code, 125);
    assert.match(dup.stderr, /already in use/);
    const ex = await t(['exec', '-e', 'X=exec', 'svc', 'sh', '-c', 'echo "$X $FROM_IMAGE"; exit 5']);
    assert.equal(ex.code, 5);
    assert.equal(ex.stdout, 'exec yes\n');
    assert.equal((await t(['exec', '-u', 'nobody', '-w', '/tmp', 'svc', 'sh', '-c', 'echo $(id -u) $(pwd)'])).stdout, '65534 /tmp\n');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await t(['logs', 'svc'])).stdout, 'started\n');
    const rmRunning = await t(['rm', 'svc']);
    assert.equal(rmRunning.code, 125);
    assert.match(rmRunning.stderr, /is running/);
    const stop = await t(['stop', '-t', '5', 'svc']);
    assert.equal(stop.code, 0, stop.stderr);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await t(['logs', 'svc'])).stdout, 'started\ngot USR1\n');
    const psa = JSON.parse((await t(['ps', '-a', '--json'])).stdout);
    assert.equal(psa[0].status, 'exited');
    assert.equal(psa[0].exitCode, 0);
    assert.equal((await t(['exec', 'svc', 'true'])).code, 125);
    assert.equal((await t(['rm', 'svc'])).code, 0);
    assert.deepEqual(JSON.parse((await t(['ps', '-a', '--json'])).stdout), []);
    assert.equal(mountsUnder(root), 0);
    assert.deepEqual(runcState(), []);
  });

  it('kill sends a signal; rm -f removes a running container', async () => {
    assert.equal((await t(['run', '-d', '--name', 'k', img, 'sleep', '60'])).code, 0);
    assert.equal((await t(['kill', '-s', 'SIGKILL', 'k'])).code, 0);
    for (let i = 0; i < 50 && JSON.parse((await t(['ps', '--json'])).stdout).length; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(JSON.parse((await t(['ps', '--json'])).stdout), []);
    assert.equal((await t(['rm', 'k'])).code, 0);
    assert.equal((await t(['run', '-d', '--name', 'f', img, 'sleep', '60'])).code, 0);
    assert.equal((await t(['rm', '-f', 'f'])).code, 0);
    assert.equal(mountsUnder(root), 0);
    assert.deepEqual(runcState(), []);
    assert.deepEqual(containerDirs(), []);
  });

  it('refuses -d with -t in one line (no console socket)', async () => {
    const r = await t(['run', '-d', '-t', img]);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /^tsoci: -t with -d is not supported/);
    assert.deepEqual(containerDirs(), []);
  });

  it('unknown containers are one clear line', async () => {
    for (const args of [['exec', 'nope', 'true'], ['logs', 'nope'], ['stop', 'nope'], ['kill', 'nope'], ['rm', 'nope']]) {
      const r = await t(args);
      assert.equal(r.code, 125, args.join(' '));
      assert.match(r.stderr, /^tsoci: no such container: nope .*\n$/);
    }
  });
});

describe('terminals, signals and crashes', () => {
  it('-t gives the container a terminal (through a pty of our own)', async () => {
    const r = spawnSync('script', ['-qec', `${BIN} run --rm -t ${img} sh -c 'busybox tty'`, '/dev/null'], {
      env: { ...process.env, TSOCI_ROOT: root },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /\/dev\/pts\/\d+/);
  });

  it('forwards SIGINT to the container and still cleans up after --rm', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(BIN, ['run', '--rm', img, 'sh', '-c', 'trap "echo caught INT; exit 7" INT; echo ready; while true; do sleep 0.1; done'], {
      env: { ...process.env, TSOCI_ROOT: root },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    await new Promise<void>((resolve) => child.stdout.on('data', (c: Buffer) => ((out += c.toString()), out.includes('ready') && resolve())));
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 7);
    assert.match(out, /caught INT/);
    assert.equal(mountsUnder(root), 0);
    assert.deepEqual(runcState(), []);
    assert.deepEqual(containerDirs(), []);
  });

  it('a container whose tsoci was killed -9 is still listed, and rm -f cleans it up', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(BIN, ['run', '--name', 'orphan', img, 'sh', '-c', 'echo ready; sleep 60'], {
      env: { ...process.env, TSOCI_ROOT: root },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    await new Promise<void>((resolve) => child.stdout.on('data', () => resolve()));
    child.kill('SIGKILL');
    // 'exit', not 'close': the container still holds the write end of that stdout pipe.
    await new Promise((r) => child.on('exit', r));
    let status = '';
    for (let i = 0; i < 30 && status !== 'running'; i++) {
      status = JSON.parse((await t(['ps', '-a', '--json'])).stdout).find((c: { name: string }) => c.name === 'orphan')?.status;
      if (status !== 'running') await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status, 'running', 'the record outlived tsoci and runc still runs the container');
    assert.equal((await t(['rm', '-f', 'orphan'])).code, 0);
    assert.equal(mountsUnder(root), 0);
    assert.deepEqual(runcState(), []);
  });

  it('logs -f follows until the container stops', async () => {
    assert.equal((await t(['run', '-d', '--name', 'follow', img, 'sh', '-c', 'for i in 1 2 3; do echo line $i; sleep 0.2; done'])).code, 0);
    const r = await t(['logs', '-f', 'follow']);
    assert.equal(r.stdout, 'line 1\nline 2\nline 3\n');
    assert.equal((await t(['rm', 'follow'])).code, 0);
  });
});
