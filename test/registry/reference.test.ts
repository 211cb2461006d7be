import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseReference } from '../../src/registry/reference.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('references are normalized like docker', () => {
  const cases: [string, string, string][] = [
    ['alpine', 'docker.io/library/alpine:latest', 'registry-1.docker.io'],
    ['alpine:3.19', 'docker.io/library/alpine:3.19', 'registry-1.docker.io'],
    ['user/app', 'docker.io/user/app:latest', 'registry-1.docker.io'],
    ['index.docker.io/library/busybox:1', 'docker.io/library/busybox:1', 'registry-1.docker.io'],
    ['docker.io/library/alpine', 'docker.io/library/alpine:latest', 'registry-1.docker.io'],
    ['host:5000/a/b:tag', 'host:5000/a/b:tag', 'host:5000'],
    ['localhost/x', 'localhost/x:latest', 'localhost'],
    ['localhost:5000/x', 'localhost:5000/x:latest', 'localhost:5000'],
    ['ghcr.io/org/tool:v1.2.3', 'ghcr.io/org/tool:v1.2.3', 'ghcr.io'],
    [`name@${D}`, `docker.io/library/name@${D}`, 'registry-1.docker.io'],
    [`name:tag@${D}`, `docker.io/library/name@${D}`, 'registry-1.docker.io'],
    ['[::1]:5000/x:y', '[::1]:5000/x:y', '[::1]:5000'],
    ['a.b/c__d/e-f.g:h_i', 'a.b/c__d/e-f.g:h_i', 'a.b'],
  ];
  for (const [input, normalized, api] of cases) {
    it(`${input} -> ${normalized}`, () => {
      const r = parseReference(input);
      assert.equal(r.toString(), normalized);
      assert.equal(r.apiHost, api);
    });
  }

  it('the digest decides when a tag is given too', () => {
    const r = parseReference(`alpine:3.19@${D}`);
    assert.equal(r.digest, D);
    assert.equal(r.tag, undefined);
    assert.equal(r.target, D);
  });

  it('gives the familiar short form docker prints', () => {
    assert.equal(parseReference('alpine').familiar(), 'alpine:latest');
    assert.equal(parseReference('user/app:1').familiar(), 'user/app:1');
    assert.equal(parseReference('localhost:5000/x').familiar(), 'localhost:5000/x:latest');
  });
});

describe('invalid references get a message that says why', () => {
  const cases: [string, RegExp][] = [
    ['Alpine', /lowercase/],
    ['docker.io/Library/alpine', /lowercase/],
    ['alpine:-bad', /invalid tag/],
    [`alpine:${'t'.repeat(129)}`, /invalid tag/],
    ['alpine@sha256:abc', /malformed digest/],
    [`alpine@sha256:${'A'.repeat(64)}`, /malformed digest/],
    ['', /empty/],
    ['a//b', /invalid repository path component/],
    ['host:port/x', /invalid reference/],
    ['a..b', /invalid repository path component/],
    ['x/', /invalid repository path component/],
    ['a'.repeat(64), /image ID/],
  ];
  for (const [input, re] of cases) {
    it(JSON.stringify(input.length > 40 ? input.slice(0, 40) + '...' : input), () => {
      assert.throws(() => parseReference(input), (e: Error & { code?: string }) => e.code === 'INVALID_REFERENCE' && re.test(e.message));
    });
  }
});

describe('reference properties', () => {
  const component = fc.stringMatching(/^[a-z0-9]+(?:[._-][a-z0-9]+)?$/).filter((s) => s.length <= 30);
  const tag = fc.stringMatching(/^[\w][\w.-]{0,20}$/);

  it('normalizing is idempotent and keeps repository and tag', () => {
    fc.assert(
      fc.property(fc.array(component, { minLength: 1, maxLength: 3 }), tag, (parts, t) => {
        const r = parseReference(`${parts.join('/')}:${t}`);
        const again = parseReference(r.toString());
        assert.equal(again.toString(), r.toString());
        assert.equal(r.tag, t);
        assert.ok(r.repository.endsWith(parts.slice(parts[0]!.includes('.') && parts.length > 1 ? 1 : 0).join('/')) || r.repository.startsWith('library/'));
      }),
    );
  });

  it('never accepts a string with uppercase in the repository, whatever else it holds', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 60 }), (s) => {
        try {
          const r = parseReference(s);
          assert.equal(r.repository, r.repository.toLowerCase());
          assert.ok(r.toString().length <= 255 + 80);
        } catch (e) {
          assert.equal((e as { code?: string }).code, 'INVALID_REFERENCE');
        }
      }),
      { numRuns: 2000 },
    );
  });
});
