import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalizePlatform, parsePlatform, selectManifest } from '../../src/oci/platform.js';
import type { Descriptor } from '../../src/oci/types.js';

const d = (n: number, platform?: Descriptor['platform'], annotations?: Record<string, string>): Descriptor =>
  ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${String(n).repeat(64).slice(0, 64)}`, size: n, ...(platform ? { platform } : {}), ...(annotations ? { annotations } : {}) }) as Descriptor;

describe('platforms', () => {
  it('arm64 means arm64/v8, aarch64 is arm64, x86_64 is amd64, arm is arm/v7', () => {
    assert.deepEqual(parsePlatform('linux/arm64/v8'), { os: 'linux', architecture: 'arm64' });
    assert.deepEqual(parsePlatform('linux/aarch64'), { os: 'linux', architecture: 'arm64' });
    assert.deepEqual(parsePlatform('linux/x86_64'), { os: 'linux', architecture: 'amd64' });
    assert.deepEqual(parsePlatform('linux/arm'), { os: 'linux', architecture: 'arm', variant: 'v7' });
    assert.deepEqual(normalizePlatform({ os: 'linux', architecture: 'arm64', variant: '8' }), { os: 'linux', architecture: 'arm64' });
  });

  it('rejects malformed platforms', () => {
    assert.throws(() => parsePlatform('linux//amd64'), /invalid platform/);
    assert.throws(() => parsePlatform('a/b/c/d'), /invalid platform/);
  });

  const index = [
    d(1, { os: 'linux', architecture: 'amd64' }),
    d(2, { os: 'linux', architecture: 'arm64', variant: 'v8' }),
    d(3, { os: 'linux', architecture: 'arm', variant: 'v6' }),
    d(4, { os: 'unknown', architecture: 'unknown' }, { 'vnd.docker.reference.type': 'attestation-manifest' }),
    d(5, { os: 'linux', architecture: 'amd64' }),
  ];

  it('picks the first exact match', () => {
    assert.equal(selectManifest(index, parsePlatform('linux/amd64'), 'x').size, 1);
    assert.equal(selectManifest(index, parsePlatform('linux/arm64'), 'x').size, 2);
  });

  it('falls back to an older variant of the same architecture', () => {
    assert.equal(selectManifest(index, parsePlatform('linux/arm/v7'), 'x').size, 3);
  });

  it('skips attestation entries and names what the index offers when nothing matches', () => {
    assert.throws(
      () => selectManifest(index, parsePlatform('linux/s390x'), 'img'),
      (e: Error & { code?: string; hint?: string }) => e.code === 'PLATFORM_NOT_FOUND' && /linux\/amd64, linux\/arm64, linux\/arm\/v6/.test(e.hint ?? '') && !/unknown/.test(e.hint ?? ''),
    );
  });
});
