// Image config -> config.json per the image-spec conversion rules, validated against the runtime-spec schema
// (Debian's golang-github-opencontainers-specs-dev ships it).

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import AjvModule from 'ajv-draft-04';
import { readFileSync, readdirSync } from 'node:fs';
import { toRuntimeSpec } from '../../src/bundle/convert.js';
import type { ImageConfig } from '../../src/oci/types.js';

const SCHEMA_DIR = '/usr/share/gocode/src/github.com/opencontainers/runtime-spec/schema';
const rootfs = mkdtempSync(path.join(os.tmpdir(), 'tsoci-convert-'));
mkdirSync(path.join(rootfs, 'etc'));
writeFileSync(path.join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534::/nonexistent:/bin/false\n');
writeFileSync(path.join(rootfs, 'etc/group'), 'root:x:0:\napp:x:1000:\nstaff:x:50:app,other\naudio:x:29:app\nnogroup:x:65534:\n');
after(() => rmSync(rootfs, { recursive: true, force: true }));

function cfg(config: ImageConfig['config'], extra: Partial<ImageConfig> = {}): ImageConfig {
  return { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config, ...extra };
}

const Ajv = (AjvModule as unknown as { default: typeof AjvModule }).default ?? AjvModule;
const ajv = new (Ajv as unknown as new (o: object) => { addSchema(s: unknown, k: string): void; validate(k: string, d: unknown): boolean; errors: unknown })({ allErrors: true, strict: false });
for (const f of readdirSync(SCHEMA_DIR).filter((f) => f.endsWith('.json'))) {
  ajv.addSchema(JSON.parse(readFileSync(path.join(SCHEMA_DIR, f), 'utf8')), f);
}
function assertValid(spec: unknown): void {
  const ok = ajv.validate('config-schema.json', spec);
  assert.ok(ok, JSON.stringify(ajv.errors, null, 2));
}

describe('process.args', () => {
  it('is Entrypoint + Cmd; a command replaces Cmd; --entrypoint replaces Entrypoint and clears Cmd', () => {
    const c = cfg({ Entrypoint: ['/bin/tool', '--flag'], Cmd: ['default'] });
    assert.deepEqual(toRuntimeSpec(c, rootfs).spec.process.args, ['/bin/tool', '--flag', 'default']);
    assert.deepEqual(toRuntimeSpec(c, rootfs, { cmd: ['x', 'y'] }).spec.process.args, ['/bin/tool', '--flag', 'x', 'y']);
    assert.deepEqual(toRuntimeSpec(c, rootfs, { entrypoint: ['/bin/sh'] }).spec.process.args, ['/bin/sh']);
    assert.deepEqual(toRuntimeSpec(c, rootfs, { entrypoint: ['/bin/sh'], cmd: ['-c', 'true'] }).spec.process.args, ['/bin/sh', '-c', 'true']);
  });
  it('refuses an image with nothing to run', () => {
    assert.throws(() => toRuntimeSpec(cfg({}), rootfs), /no Entrypoint or Cmd/);
  });
});

describe('process.env', () => {
  it('keeps the image Env, adds PATH only when absent, lets -e win, adds HOME from passwd', () => {
    const e = toRuntimeSpec(cfg({ Cmd: ['x'], Env: ['A=1', 'B=two words=yes'] }), rootfs, { env: ['A=override', 'C=3'] }).spec.process.env;
    assert.deepEqual(e, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'A=override', 'B=two words=yes', 'C=3', 'HOME=/root']);
    const p = toRuntimeSpec(cfg({ Cmd: ['x'], Env: ['PATH=/custom'] }), rootfs).spec.process.env;
    assert.deepEqual(p, ['PATH=/custom', 'HOME=/root']);
  });
  it('-e NAME takes the value from the caller environment', () => {
    const e = toRuntimeSpec(cfg({ Cmd: ['x'] }), rootfs, { env: ['FROM_HOST', 'UNSET_ONE'] }, { FROM_HOST: 'yes' }).spec.process.env;
    assert.ok(e.includes('FROM_HOST=yes'));
    assert.ok(!e.some((x) => x.startsWith('UNSET_ONE')));
  });
  it('refuses entries without = or a name', () => {
    assert.throws(() => toRuntimeSpec(cfg({ Cmd: ['x'], Env: ['NOEQUALS'] }), rootfs), /invalid environment entry/);
    assert.throws(() => toRuntimeSpec(cfg({ Cmd: ['x'], Env: ['=v'] }), rootfs), /invalid environment entry/);
  });
  it('adds TERM=xterm and terminal only with a tty', () => {
    const t = toRuntimeSpec(cfg({ Cmd: ['x'] }), rootfs, { tty: true }).spec.process;
    assert.equal(t.terminal, true);
    assert.ok(t.env.includes('TERM=xterm'));
    const n = toRuntimeSpec(cfg({ Cmd: ['x'] }), rootfs).spec.process;
    assert.equal(n.terminal, false);
    assert.ok(!n.env.some((x) => x.startsWith('TERM=')));
  });
});

describe('process.cwd', () => {
  it('comes from WorkingDir, cleaned and absolute; / by default', () => {
    assert.equal(toRuntimeSpec(cfg({ Cmd: ['x'], WorkingDir: 'srv//app/./x/..' }), rootfs).spec.process.cwd, '/srv/app');
    assert.equal(toRuntimeSpec(cfg({ Cmd: ['x'] }), rootfs).spec.process.cwd, '/');
    assert.equal(toRuntimeSpec(cfg({ Cmd: ['x'], WorkingDir: '/a' }), rootfs, { workdir: '/b' }).spec.process.cwd, '/b');
  });
  it('is never under /proc (CVE-2024-21626)', () => {
    assert.throws(() => toRuntimeSpec(cfg({ Cmd: ['x'], WorkingDir: '/proc/self/fd/7' }), rootfs), /under \/proc/);
  });
});

describe('process.user', () => {
  const u = (user: string) => toRuntimeSpec(cfg({ Cmd: ['x'], User: user }), rootfs).spec.process;
  it('name: uid, gid and supplementary groups from the rootfs, HOME from passwd', () => {
    const p = u('app');
    assert.deepEqual(p.user, { uid: 1000, gid: 1000, additionalGids: [50, 29] });
    assert.ok(p.env.includes('HOME=/home/app'));
  });
  it('uid alone: verbatim, with its passwd gid', () => assert.deepEqual(u('1000').user, { uid: 1000, gid: 1000, additionalGids: [50, 29] }));
  it('a uid missing from passwd gets gid 0 and HOME=/', () => {
    const p = u('4242');
    assert.deepEqual(p.user, { uid: 4242, gid: 0 });
    assert.ok(p.env.includes('HOME=/'));
  });
  it('name:group, uid:gid, uid:group, name:gid; no supplementary groups when a group is given', () => {
    assert.deepEqual(u('app:staff').user, { uid: 1000, gid: 50 });
    assert.deepEqual(u('7:8').user, { uid: 7, gid: 8 });
    assert.deepEqual(u('1000:audio').user, { uid: 1000, gid: 29 });
    assert.deepEqual(u('nobody:0').user, { uid: 65534, gid: 0 });
  });
  it('unknown names are errors; ids above 2^31-1 are refused, never looked up as names (CVE-2026-46680)', () => {
    assert.throws(() => u('ghost'), /unable to find user ghost/);
    assert.throws(() => u('app:ghosts'), /unable to find group ghosts/);
    assert.throws(() => u('4294967296'), /out of range/);
    assert.throws(() => u('0:2147483648'), /out of range/);
  });
  it('reads /etc/passwd through links that stay inside the rootfs', () => {
    const r2 = mkdtempSync(path.join(os.tmpdir(), 'tsoci-convert-link-'));
    try {
      mkdirSync(path.join(r2, 'etc'));
      mkdirSync(path.join(r2, 'store'));
      writeFileSync(path.join(r2, 'store/passwd'), 'svc:x:77:77::/srv:/bin/sh\n');
      symlinkSync('/store/passwd', path.join(r2, 'etc/passwd'));
      assert.deepEqual(toRuntimeSpec(cfg({ Cmd: ['x'], User: 'svc' }), r2).spec.process.user, { uid: 77, gid: 77 });
      rmSync(path.join(r2, 'etc/passwd'));
      symlinkSync('/dev/zero', path.join(r2, 'etc/passwd'));
      assert.throws(() => toRuntimeSpec(cfg({ Cmd: ['x'], User: 'svc' }), r2), /unable to find user|not a regular file/);
    } finally {
      rmSync(r2, { recursive: true, force: true });
    }
  });
});

describe('annotations, volumes, mounts', () => {
  const full = cfg(
    { Cmd: ['x'], ExposedPorts: { '8080/tcp': {}, '53/udp': {} }, StopSignal: 'SIGTERM', Labels: { a: 'b', 'org.opencontainers.image.author': 'label wins', bundle: 'x', 'org.criu.config': 'y' }, Volumes: { '/data': {}, 'var/cache/../cache/app': {} } },
    { author: 'someone', created: '2024-01-01T00:00:00Z' },
  );
  it('maps the annotation fields, lets Labels win, drops the keys runc treats as unsafe with warnings', () => {
    const { spec, warnings } = toRuntimeSpec(full, rootfs);
    assert.equal(spec.annotations!['org.opencontainers.image.exposedPorts'], '8080/tcp,53/udp');
    assert.equal(spec.annotations!['org.opencontainers.image.stopSignal'], 'SIGTERM');
    assert.equal(spec.annotations!['org.opencontainers.image.author'], 'label wins');
    assert.equal(spec.annotations!['org.opencontainers.image.os'], 'linux');
    assert.equal(spec.annotations!['org.opencontainers.image.architecture'], 'amd64');
    assert.equal(spec.annotations!['org.opencontainers.image.created'], '2024-01-01T00:00:00Z');
    assert.equal(spec.annotations!.a, 'b');
    assert.equal(spec.annotations!.bundle, undefined);
    assert.equal(spec.annotations!['org.criu.config'], undefined);
    assert.equal(warnings.length, 2);
  });
  it('mounts Volumes as tmpfs at clean absolute paths', () => {
    const dst = toRuntimeSpec(full, rootfs).spec.mounts.filter((m) => m.type === 'tmpfs' && !m.destination.startsWith('/dev')).map((m) => m.destination);
    assert.deepEqual(dst, ['/data', '/var/cache/app']);
  });
  it('refuses a volume path climbing above /', () => {
    assert.throws(() => toRuntimeSpec(cfg({ Cmd: ['x'], Volumes: { '../../etc': {} } }), rootfs), /climbs above/);
  });
  it('has the runc defaults: namespaces, /proc, /dev, /sys, cgroup, masked paths, capabilities, rlimits', () => {
    const s = toRuntimeSpec(full, rootfs).spec;
    assert.deepEqual(s.linux.namespaces.map((n) => n.type), ['pid', 'network', 'ipc', 'uts', 'mount']);
    for (const d of ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/sys/fs/cgroup']) assert.ok(s.mounts.some((m) => m.destination === d), d);
    assert.ok(s.linux.maskedPaths!.includes('/proc/kcore'));
    assert.deepEqual(s.process.capabilities!.bounding, ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE']);
    assert.equal(s.process.rlimits![0]!.type, 'RLIMIT_NOFILE');
    assert.equal(s.hostname, 'tsoci');
    assertValid(s);
  });
  it('--rootless follows runc spec --rootless', () => {
    const s = toRuntimeSpec(full, rootfs, { rootless: true }).spec;
    assert.ok(s.linux.namespaces.some((n) => n.type === 'user'));
    assert.ok(!s.linux.namespaces.some((n) => n.type === 'network'));
    assert.equal(s.linux.uidMappings!.length, 1);
    assert.equal(s.mounts.find((m) => m.destination === '/sys')!.type, 'none');
    assert.ok(!s.mounts.find((m) => m.destination === '/dev/pts')!.options!.some((o) => o.startsWith('gid=')));
    assertValid(s);
  });
  it('every variant validates against the runtime-spec schema', () => {
    assertValid(toRuntimeSpec(cfg({ Cmd: ['x'], User: 'app' }), rootfs, { tty: true, readOnly: true, volumes: ['/tmp:/mnt:ro'], tmpfs: ['/run:size=1m'], hostname: 'h', network: 'host' }).spec);
  });
});
