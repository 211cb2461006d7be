// Network faults and registries that lie, between tsoci and the real registry (our fault proxy on 127.0.0.1):
// transient faults are retried and resumed, lies are refused with one line, memory stays bounded, and nothing
// unverified reaches the store. Also a store on a full disk.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';
import { type CliResult, tsoci, tsociWithRss } from '../helpers/cli.js';
import { type Blob, type BuiltImage, buildImage } from '../helpers/images.js';
import { useFaultRig } from '../helpers/fault-rig.js';
import { type FaultProxy, startProxy } from '../helpers/proxy.js';
import { startRegistry } from '../helpers/registry.js';

const rig = useFaultRig('tsoci-hostile-', 'hostile/app', (r) => ({ proxy, img, big } = r));
const tmp = rig.tmp;
let proxy: FaultProxy;
let img: BuiltImage;
let big: Blob;
let n = 0;

const root = () => path.join(tmp, `root-${n++}`);
const isBig = (url: string) => url.endsWith(`/blobs/${big.digest}`);
const ref = () => `${proxy.host}/hostile/app:v1`;

/** Exit 125 and one error line with `code`, last on stderr (after plain progress lines), no stack. */
function oneLine(r: CliResult, code: string): string {
  assert.equal(r.code, 125, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.filter((l) => l.startsWith('tsoci:')).length, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  assert.match(lines.at(-1)!, new RegExp(`^tsoci: .*\\[${code}\\]$`));
  return lines.at(-1)!;
}

/** Nothing reached the store: no name, no blob, no partial. */
function nothingStored(r: string): void {
  const blobs = path.join(r, 'image', 'blobs', 'sha256');
  assert.deepEqual(readdirSync(blobs).filter((f) => f !== img.blobs[0]!.digest.slice(7) && f !== img.blobs[2]?.digest.slice(7)), [], 'no manifest and no big layer');
  for (const f of readdirSync(blobs)) assert.equal(createHash('sha256').update(readFileSync(path.join(blobs, f))).digest('hex'), f, 'only verified blobs');
  assert.deepEqual(readdirSync(path.join(r, 'ingest')).filter((f) => f.includes(big.digest.slice(7))), []);
  assert.equal(JSON.parse(readFileSync(path.join(r, 'image', 'index.json'), 'utf8')).manifests.length, 0);
}

function blobsHeld(r: string): string[] {
  return readdirSync(path.join(r, 'image', 'blobs', 'sha256'));
}


describe('network faults', () => {
  const transient: [string, (bytes: number) => import('../helpers/proxy.js').Fault, number][] = [
    ['a body truncated (connection closed) mid-blob', (b) => ({ kind: 'truncate-after', bytes: b }), 1_000_000],
    ['a connection reset mid-blob', (b) => ({ kind: 'reset-after', bytes: b }), 2_000_000],
    ['a 500 answer', () => ({ kind: 'status', status: 500 }), 0],
  ];
  for (const [name, fault, at] of transient) {
    it(`${name}: retried, resumed, verified`, async () => {
      const r = root();
      let faults = 0;
      proxy.fault = (req) => (isBig(req.url) && faults++ === 0 ? fault(at) : undefined);
      proxy.requests.length = 0;
      const res = await tsoci(['pull', ref(), '--root', r]);
      assert.equal(res.code, 0, res.stderr);
      assert.equal(faults, 2, 'one faulty answer, then one good one');
      const gets = proxy.requests.filter((q) => isBig(q.url));
      if (at) {
        // Resumed from what reached the disk: at most what the proxy sent before the fault.
        const from = Number(/^bytes=(\d+)-$/.exec(String(gets[1]!.headers.range))?.[1]);
        assert.ok(from > 0 && from <= at, `the second request resumed (${gets[1]!.headers.range})`);
      }
      assert.ok(readFileSync(path.join(r, 'image', 'blobs', 'sha256', big.digest.slice(7))).equals(big.data));
      assert.deepEqual(readdirSync(path.join(r, 'ingest')), []);
    });
  }

  for (const [name, value] of [['larger', 4 * 1024 * 1024], ['smaller', 1_500_000]] as const) {
    it(`a Content-Length ${name} than the descriptor's size: refused at once as a lie, nothing stored`, async () => {
      proxy.fault = (req) => (isBig(req.url) ? { kind: 'content-length', value } : undefined);
      const r = root();
      assert.match(oneLine(await tsoci(['pull', ref(), '--root', r]), 'SIZE_MISMATCH'), new RegExp(`the registry announced ${value} bytes, the descriptor says ${big.size}`));
      nothingStored(r);
    });
  }

  it('a connection that stalls mid-blob fails after --timeout and is resumed', async () => {
    const r = root();
    let faults = 0;
    proxy.fault = (req) => (isBig(req.url) && faults++ === 0 ? { kind: 'stall-after', bytes: 1_500_000 } : undefined);
    proxy.requests.length = 0;
    const t0 = Date.now();
    const res = await tsoci(['pull', ref(), '--root', r, '--timeout', '1']);
    assert.equal(res.code, 0, res.stderr);
    assert.ok(Date.now() - t0 < 15_000);
    assert.match(String(proxy.requests.filter((q) => isBig(q.url))[1]?.headers.range), /^bytes=\d+-$/);
    assert.ok(readFileSync(path.join(r, 'image', 'blobs', 'sha256', big.digest.slice(7))).equals(big.data));
  });

  it('a blob that keeps stalling fails with one line naming the timeout, and keeps what arrived for a resume', async () => {
    const r = root();
    proxy.fault = (req) => (isBig(req.url) ? { kind: 'stall' } : undefined);
    const t0 = Date.now();
    const res = await tsoci(['pull', ref(), '--root', r, '--timeout', '1']);
    assert.match(oneLine(res, 'TIMEOUT'), /did not answer within 1 s \(check the network or raise --timeout\)/);
    assert.ok(Date.now() - t0 < 30_000, `${Date.now() - t0} ms`);
    nothingStored(r);
  });
});

describe('hostile registries', () => {
  it('an index with 10,000 entries: one line naming a few platforms, bounded memory, nothing stored', async () => {
    const manifests = Array.from({ length: 10_000 }, (_, i) => ({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: `sha256:${createHash('sha256').update(String(i)).digest('hex')}`,
      size: 1000,
      platform: { os: 'linux', architecture: `arch${i}` },
    }));
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
    proxy.fault = (req) =>
      req.url.includes('/manifests/v1') ? { kind: 'replace-body', body, headers: { 'content-type': 'application/vnd.oci.image.index.v1+json', 'docker-content-digest': '' } } : undefined;
    const r = root();
    const res = await tsociWithRss(['pull', ref(), '--root', r]);
    const line = oneLine(res, 'PLATFORM_NOT_FOUND');
    assert.match(line, /it offers linux\/arch0, .* and 9992 more; choose one with --platform/);
    assert.ok(line.length < 400);
    assert.ok(res.rssMb < 200, `${res.rssMb} MB`);
    assert.deepEqual(blobsHeld(r), []);

    // The same index with the real manifest last still pulls.
    manifests.push({ mediaType: img.top.mediaType, digest: img.top.digest, size: img.top.size, platform: { os: 'linux', architecture: 'amd64' } });
    const withReal = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
    proxy.fault = (req) =>
      req.url.includes('/manifests/v1') ? { kind: 'replace-body', body: withReal, headers: { 'content-type': 'application/vnd.oci.image.index.v1+json', 'docker-content-digest': '' } } : undefined;
    const ok = await tsociWithRss(['pull', ref(), '--root', r, '--platform', 'linux/amd64']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(ok.rssMb < 200, `${ok.rssMb} MB`);
  });

  it('a manifest over 4 MiB is refused without reading it all', async () => {
    proxy.fault = (req) => (req.url.includes('/manifests/') ? { kind: 'replace-body', body: Buffer.alloc(64 * 1024 * 1024, 32) } : undefined);
    const r = root();
    const res = await tsociWithRss(['pull', ref(), '--root', r]);
    oneLine(res, 'MANIFEST_TOO_LARGE');
    assert.ok(res.rssMb < 200, `${res.rssMb} MB`);
    assert.deepEqual(blobsHeld(r), []);
  });

  it('a manifest whose digest does not match its name', async () => {
    const other = await buildImage({ layers: [[{ name: 'x', content: 'x' }]] });
    proxy.fault = (req) => (req.url.includes(`/manifests/${img.top.digest}`) ? { kind: 'replace-body', body: other.top.data, headers: { 'docker-content-digest': '' } } : undefined);
    const r = root();
    oneLine(await tsoci(['pull', `${proxy.host}/hostile/app@${img.top.digest}`, '--root', r]), 'DIGEST_MISMATCH');
    assert.deepEqual(blobsHeld(r), []);
  });

  it('a blob longer than its descriptor: refused before its body is read, nothing kept', async () => {
    const longer = Buffer.concat([big.data, Buffer.alloc(100_000, 7)]);
    proxy.fault = (req) => (isBig(req.url) ? { kind: 'replace-body', body: longer } : undefined);
    const r = root();
    const line = oneLine(await tsoci(['pull', ref(), '--root', r]), 'SIZE_MISMATCH');
    assert.match(line, new RegExp(`the registry announced ${longer.length} bytes, the descriptor says ${big.size}`));
    nothingStored(r);
  });

  it('JSON that is not JSON', async () => {
    proxy.fault = (req) =>
      req.url.includes('/manifests/') ? { kind: 'replace-body', body: Buffer.from('{"schemaVersion": 2, "layers": [ <html>'), headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': '' } } : undefined;
    const r = root();
    assert.match(oneLine(await tsoci(['pull', ref(), '--root', r]), 'MANIFEST_INVALID'), /not valid JSON|invalid JSON/i);
    assert.deepEqual(blobsHeld(r), []);
  });

  it('a token endpoint on another host that answers slowly: one line naming it, after --timeout', async () => {
    const tokenReg = await startRegistry({ auth: 'token' });
    // A "token service" that accepts connections and never answers.
    const sockets = new Set<net.Socket>();
    const slow = http.createServer(() => {});
    slow.on('connection', (s) => sockets.add(s));
    await new Promise<void>((res) => slow.listen(0, '127.0.0.1', () => res()));
    const slowHost = `127.0.0.1:${(slow.address() as net.AddressInfo).port}`;
    const front = await startProxy(tokenReg.url);
    front.fault = (req) =>
      req.url === '/v2/' ? { kind: 'headers', headers: { 'www-authenticate': `Bearer realm="http://${slowHost}/token",service="tsoci-test-registry"` } } : undefined;
    try {
      const t0 = Date.now();
      const r = root();
      const res = await tsoci(['pull', `${front.host}/hostile/app:v1`, '--root', r, '--timeout', '1']);
      const line = oneLine(res, 'TIMEOUT');
      assert.match(line, new RegExp(`${slowHost} \\(to which ${front.host} sent us\\) did not answer within 1 s`));
      assert.ok(Date.now() - t0 < 30_000, `${Date.now() - t0} ms`);
      assert.deepEqual(blobsHeld(r), []);
    } finally {
      await front.close();
      for (const s of sockets) s.destroy();
      await new Promise((res) => slow.close(res));
      await tokenReg.stop();
    }
  });
});

describe('a full disk', () => {
  it('is one clear line; no partial blob under blobs/; verify is clean afterwards', async () => {
    const r = path.join(tmp, 'small-fs');
    mkdirSync(r);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tsoci-full', r]);
    try {
      const res = await tsoci(['pull', ref(), '--root', r]);
      const line = oneLine(res, 'DISK_FULL');
      // Which transfer meets the full disk first depends on timing: any of the image's blobs may be named.
      const digests = img.blobs.map((b) => b.digest).join('|');
      assert.match(line, new RegExp(`no space left on the device of ${r} while storing (layer|config) (${digests}) .*\\(free some space`));
      nothingStored(r);
      const v = await tsoci(['verify', '--root', r]);
      assert.equal(v.code, 0, v.stdout + v.stderr);
      assert.match(v.stdout, /no problems/);
    } finally {
      execFileSync('umount', ['-l', r]);
    }
  });
});
