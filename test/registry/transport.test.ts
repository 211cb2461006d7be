// The wire: resume with Range, retries, corruption, redirects, proxies, mirrors, TLS and unreachable hosts,
// with the real registry behind a recording, fault-injecting proxy of ours on 127.0.0.1.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadSettings, pull } from '../../src/index.js';
import { tsoci } from '../helpers/cli.js';
import { type Blob, type BuiltImage } from '../helpers/images.js';
import { useFaultRig } from '../helpers/fault-rig.js';
import { type FaultProxy, startProxy } from '../helpers/proxy.js';
import { type Registry, freePort, pushImage, startRegistry } from '../helpers/registry.js';

const rig = useFaultRig('tsoci-transport-', 'net/app', (r) => ({ reg, proxy, img, big } = r));
const tmp = rig.tmp;
let reg: Registry;
let proxy: FaultProxy;
let img: BuiltImage;
let big: Blob;
let n = 0;

const root = () => path.join(tmp, `root-${n++}`);
const blobPath = (r: string, d: string) => path.join(r, 'image', 'blobs', 'sha256', d.slice(7));
const isBigBlob = (url: string) => url.includes(`/blobs/${big.digest}`);


describe('blob transfer', () => {
  it('resumes an interrupted download with a Range request and verifies the whole blob', async () => {
    const r = root();
    proxy.fault = (req) => (isBigBlob(req.url) && !req.headers.range ? { kind: 'reset-after', bytes: 1_000_000 } : undefined);
    proxy.requests.length = 0;
    await pull(`${proxy.host}/net/app:v1`, await loadSettings({ root: r }));
    const ranges = proxy.requests.filter((q) => isBigBlob(q.url)).map((q) => q.headers.range ?? 'none');
    assert.equal(ranges[0], 'none');
    assert.ok(ranges.slice(1).some((x) => /^bytes=[1-9]\d*-$/.test(x)), `resumed with a Range: ${ranges.join(' ')}`);
    assert.deepEqual(readFileSync(blobPath(r, big.digest)), big.data);
  });

  it('resumes a partial download left by an earlier, interrupted process', async () => {
    const r = root();
    mkdirSync(path.join(r, 'ingest'), { recursive: true });
    writeFileSync(path.join(r, 'ingest', `sha256-${big.digest.slice(7)}`), big.data.subarray(0, 2_000_000));
    proxy.requests.length = 0;
    await pull(`${proxy.host}/net/app:v1`, await loadSettings({ root: r }));
    const q = proxy.requests.filter((x) => isBigBlob(x.url));
    assert.equal(q.length, 1);
    assert.equal(q[0]!.headers.range, 'bytes=2000000-');
    assert.deepEqual(readFileSync(blobPath(r, big.digest)), big.data);
  });

  it('starts over when the kept partial bytes were corrupt', async () => {
    const r = root();
    mkdirSync(path.join(r, 'ingest'), { recursive: true });
    const bad = Buffer.from(big.data.subarray(0, 1_000_000));
    bad[10] = bad[10]! ^ 0xff;
    writeFileSync(path.join(r, 'ingest', `sha256-${big.digest.slice(7)}`), bad);
    await pull(`${proxy.host}/net/app:v1`, await loadSettings({ root: r }));
    assert.deepEqual(readFileSync(blobPath(r, big.digest)), big.data);
  });

  it('retries 503 and 429 (honouring Retry-After) and succeeds', async () => {
    const r = root();
    let faults = 0;
    proxy.fault = (req) => {
      if (!isBigBlob(req.url) || faults >= 2) return undefined;
      faults++;
      return faults === 1 ? { kind: 'status', status: 503 } : { kind: 'status', status: 429, headers: { 'retry-after': '1' } };
    };
    const t0 = Date.now();
    await pull(`${proxy.host}/net/app:v1`, await loadSettings({ root: r }));
    assert.equal(faults, 2);
    assert.ok(Date.now() - t0 >= 1000, 'waited for Retry-After');
    assert.deepEqual(readFileSync(blobPath(r, big.digest)), big.data);
  });

  it('detects corrupted bytes and stores nothing', async () => {
    const r = root();
    // The other layer stalls, so it is still in flight when the corruption is found: the failure must wait for it
    // to be stopped and leave no empty partial behind.
    const small = img.blobs[2]!.digest;
    proxy.fault = (req) => (isBigBlob(req.url) ? { kind: 'corrupt-at', byte: 123_456 } : req.url.includes(`/blobs/${small}`) ? { kind: 'stall' } : undefined);
    const res = await tsoci(['pull', `${proxy.host}/net/app:v1`, '--root', r]);
    assert.equal(res.code, 125);
    const errors = res.stderr.trim().split('\n').filter((l) => l.startsWith('tsoci:'));
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /DIGEST_MISMATCH/);
    assert.doesNotMatch(res.stderr, /\n\s+at /);
    assert.ok(!readdirSync(path.join(r, 'image', 'blobs', 'sha256')).includes(big.digest.slice(7)));
    assert.deepEqual(readdirSync(path.join(r, 'ingest')), []);
    assert.equal(JSON.parse(readFileSync(path.join(r, 'image', 'index.json'), 'utf8')).manifests.length, 0);
  });

  it('does not fetch blobs the store already has', async () => {
    const r = root();
    const settings = await loadSettings({ root: r });
    await pull(`${proxy.host}/net/app:v1`, settings);
    proxy.requests.length = 0;
    await pull(`${proxy.host}/net/app:v1`, settings);
    assert.equal(proxy.requests.filter((q) => q.url.includes('/blobs/')).length, 0);
    assert.equal(JSON.parse(readFileSync(path.join(r, 'image', 'index.json'), 'utf8')).manifests.length, 1, 'the entry is replaced, not duplicated');
  });
});

describe('redirects', () => {
  it('follows a blob redirect to another host without sending it the Authorization header', async () => {
    const authReg = await startRegistry({ auth: 'htpasswd' });
    const authProxy = await startProxy(authReg.url);
    const other = await startProxy(authReg.url); // another host:port serving the same content
    try {
      await pushImage(authReg, 'net/app', 'v1', img);
      authProxy.fault = (req) => (isBigBlob(req.url) ? { kind: 'redirect', location: `${other.url}${req.url}` } : undefined);
      // The other host serves blobs without auth, as a storage backend would.
      other.fault = () => undefined;
      const creds = Buffer.from(`${authReg.user}:${authReg.password}`).toString('base64');
      const docker = path.join(tmp, 'redirect-docker');
      mkdirSync(docker, { recursive: true });
      writeFileSync(path.join(docker, 'config.json'), JSON.stringify({ auths: { [authProxy.host]: { auth: creds } } }));
      const r = await tsoci(['pull', `${authProxy.host}/net/app:v1`, '--root', root()], { env: { DOCKER_CONFIG: docker } });
      // The storage host (here: the registry again) refuses the unauthenticated request: proof nothing was forwarded.
      assert.equal(other.requests.length >= 1, true);
      assert.ok(other.requests.every((q) => q.headers.authorization === undefined), 'no Authorization to the other host');
      assert.ok(authProxy.requests.some((q) => q.headers.authorization?.startsWith('Basic ')), 'Authorization to the registry itself');
      assert.equal(r.code, 125);
      assert.match(r.stderr, /UNAUTHORIZED/);
    } finally {
      await other.close();
      await authProxy.close();
      await authReg.stop();
    }
  });

  it('follows a redirect to another host that serves the blob', async () => {
    const other = await startProxy(reg.url);
    try {
      proxy.fault = (req) => (isBigBlob(req.url) ? { kind: 'redirect', location: `${other.url}${req.url}` } : undefined);
      const r = root();
      await pull(`${proxy.host}/net/app:v1`, await loadSettings({ root: r }));
      assert.equal(other.requests.length, 1);
      assert.deepEqual(readFileSync(blobPath(r, big.digest)), big.data);
    } finally {
      await other.close();
    }
  });
});

describe('manifests', () => {
  it('checks Docker-Content-Digest against the bytes', async () => {
    proxy.fault = (req) =>
      req.url.includes('/manifests/') ? { kind: 'replace-body', body: img.top.data, headers: { 'docker-content-digest': `sha256:${'0'.repeat(64)}` } } : undefined;
    const res = await tsoci(['pull', `${proxy.host}/net/app:v1`, '--root', root()]);
    assert.equal(res.code, 125);
    assert.match(res.stderr, /DIGEST_MISMATCH/);
  });

  it('refuses a manifest over 4 MiB', async () => {
    proxy.fault = (req) => (req.url.includes('/manifests/') ? { kind: 'replace-body', body: Buffer.alloc(5 * 1024 * 1024, 32) } : undefined);
    const res = await tsoci(['pull', `${proxy.host}/net/app:v1`, '--root', root()]);
    assert.equal(res.code, 125);
    assert.match(res.stderr, /MANIFEST_TOO_LARGE/);
  });

  it('checks the manifest against the digest in the reference', async () => {
    const wrong = `sha256:${'1'.repeat(64)}`;
    proxy.fault = (req) => (req.url.includes(`/manifests/${wrong}`) ? { kind: 'replace-body', body: img.top.data, headers: { 'docker-content-digest': '' } } : undefined);
    const res = await tsoci(['pull', `${proxy.host}/net/app@${wrong}`, '--root', root()]);
    assert.equal(res.code, 125);
    assert.match(res.stderr, /DIGEST_MISMATCH/);
  });

  it('refuses schema 1 with a message that says so', async () => {
    const s1 = Buffer.from(JSON.stringify({ schemaVersion: 1, name: 'net/app', tag: 'v1', fsLayers: [], history: [] }));
    proxy.fault = (req) => (req.url.includes('/manifests/') ? { kind: 'replace-body', body: s1, headers: { 'content-type': 'application/vnd.docker.distribution.manifest.v1+prettyjws', 'docker-content-digest': '' } } : undefined);
    const res = await tsoci(['pull', `${proxy.host}/net/app:v1`, '--root', root()]);
    assert.equal(res.code, 125);
    assert.match(res.stderr, /schema 1/);
  });

  it('names an unknown tag and an unknown repository', async () => {
    const tag = await tsoci(['pull', `${reg.host}/net/app:nope`, '--root', root()]);
    assert.equal(tag.code, 125);
    assert.match(tag.stderr, /not found.*MANIFEST_UNKNOWN/);
    const repo = await tsoci(['pull', `${reg.host}/net/nothing:v1`, '--root', root()]);
    assert.equal(repo.code, 125);
    assert.match(repo.stderr, /NAME_UNKNOWN|MANIFEST_UNKNOWN/);
  });
});

describe('reaching registries', () => {
  it('says a registry is unreachable in one line, without a stack', async () => {
    const port = await freePort();
    const r = await tsoci(['pull', `127.0.0.1:${port}/x:y`, '--root', root()]);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /^tsoci: cannot reach registry 127\.0\.0\.1:\d+ \(ECONNREFUSED\).*REGISTRY_UNREACHABLE\]\n$/);
  });

  it('prints the stack with --debug', async () => {
    const port = await freePort();
    const r = await tsoci(['pull', `127.0.0.1:${port}/x:y`, '--root', root(), '--debug']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /\n\s+at /);
  });

  it('fails a stalled connection after --timeout', async () => {
    proxy.fault = (req) => (req.url.includes('/manifests/') ? { kind: 'stall' } : undefined);
    const t0 = Date.now();
    const r = await tsoci(['pull', `${proxy.host}/net/app:v1`, '--root', root(), '--timeout', '1']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /did not answer within 1 s.*TIMEOUT/);
    assert.ok(Date.now() - t0 < 20_000);
  });

  it('goes through HTTP_PROXY', async () => {
    const fwd = await startProxy(reg.url);
    try {
      const r = await tsoci(['pull', `${reg.host}/net/app:v1`, '--root', root()], { env: { HTTP_PROXY: fwd.url, http_proxy: fwd.url, NO_PROXY: '', no_proxy: '' } });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(fwd.requests.some((q) => q.url.startsWith(`http://${reg.host}/v2/net/app/manifests/v1`)), JSON.stringify(fwd.requests.map((q) => q.url)));
    } finally {
      await fwd.close();
    }
  });

  it('pulls docker.io images from a configured mirror, trying the next one when a mirror is down', async () => {
    const r = root();
    mkdirSync(r, { recursive: true });
    const dead = await freePort();
    writeFileSync(path.join(r, 'config.json'), JSON.stringify({ registryMirrors: [`http://127.0.0.1:${dead}`, `http://${reg.host}`] }));
    await pushImage(reg, 'library/mirrored', 'latest', img);
    const res = await tsoci(['pull', 'mirrored', '--root', r]);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout.trim().split('\n').pop(), `docker.io/library/mirrored:latest ${img.top.digest}`);
  });
});

describe('TLS', () => {
  const name = `tsoci-tls-${process.pid}.test`;
  let tlsReg: Registry;
  let certs: string;
  const hostsLine = `127.0.0.1 ${name} # tsoci test\n`;

  before(async () => {
    const dir = path.join(tmp, 'tls');
    mkdirSync(dir, { recursive: true });
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', '2', '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`], { stdio: 'ignore' });
    tlsReg = await startRegistry({ tls: { cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem') } });
    // A non-loopback name for 127.0.0.1, so that HTTPS is required (loopback names get plain HTTP).
    appendFileSync('/etc/hosts', hostsLine);
    const port = tlsReg.host.split(':')[1];
    certs = path.join(dir, 'certs.d');
    mkdirSync(path.join(certs, `${name}:${port}`), { recursive: true });
    writeFileSync(path.join(certs, `${name}:${port}`, 'ca.crt'), readFileSync(path.join(dir, 'cert.pem')));
    // Push over HTTPS trusting the test certificate (the helper's client uses undici's global dispatcher).
    const { Agent, setGlobalDispatcher, getGlobalDispatcher } = await import('undici');
    const prev = getGlobalDispatcher();
    setGlobalDispatcher(new Agent({ connect: { ca: readFileSync(path.join(dir, 'cert.pem')), rejectUnauthorized: false } }));
    try {
      await pushImage(tlsReg, 'tls/app', 'v1', img);
    } finally {
      setGlobalDispatcher(prev);
    }
  });

  after(async () => {
    const hosts = readFileSync('/etc/hosts', 'utf8');
    writeFileSync('/etc/hosts', hosts.replace(hostsLine, ''));
    await tlsReg.stop();
  });

  it('fails with a TLS error that says where the CA certificate goes', async () => {
    const port = tlsReg.host.split(':')[1];
    const r = await tsoci(['pull', `${name}:${port}/tls/app:v1`, '--root', root()]);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /TLS failure.*certs\.d.*ca\.crt.*TLS_ERROR/);
  });

  it('trusts the CA file NODE_EXTRA_CA_CERTS names (Node drops it when a CA list is given: tsoci reads it)', async () => {
    const port = tlsReg.host.split(':')[1];
    const res = await tsoci(['pull', `${name}:${port}/tls/app:v1`, '--root', root()], { env: { NODE_EXTRA_CA_CERTS: path.join(tmp, 'tls', 'cert.pem') } });
    assert.equal(res.code, 0, res.stderr);
    const missing = await tsoci(['pull', `${name}:${port}/tls/app:v1`, '--root', root()], { env: { NODE_EXTRA_CA_CERTS: path.join(tmp, 'tls', 'no-such.pem') } });
    assert.equal(missing.code, 125);
    assert.match(missing.stderr, /Ignoring extra certs from `.*no-such\.pem`, load failed/);
    assert.match(missing.stderr, /TLS failure/);
  });

  it('trusts the CA in certs.d/<host>/ca.crt', async () => {
    const port = tlsReg.host.split(':')[1];
    const r = root();
    mkdirSync(r, { recursive: true });
    writeFileSync(path.join(r, 'config.json'), JSON.stringify({ certsDirectory: certs }));
    const res = await tsoci(['pull', `${name}:${port}/tls/app:v1`, '--root', r]);
    assert.equal(res.code, 0, res.stderr);
  });
});

