// Hostile layers, one per attack, each applied in overlay and in flat form: the entry is confined inside the
// root or refused with UNSAFE_LAYER_ENTRY, and a host canary stays untouched. Named for the attack or advisory.

import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { applyLayer } from '../../src/overlay/extract.js';
import { resolveInRoot } from '../../src/overlay/resolve.js';
import { type Canary, plantCanary } from '../helpers/canary.js';
import { type Entry, tarLayer } from '../helpers/images.js';

const canary: Canary = plantCanary();
const C = canary.dir; // absolute host path, e.g. /tmp/tsoci-canary-XXXX
const CR = C.slice(1); // the same path relative to a root
const roots: string[] = [];
after(() => {
  canary.remove();
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

async function apply(entries: Entry[], format: 'overlay' | 'flat'): Promise<{ root: string; error?: Error & { code?: string } }> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'tsoci-hostile-'));
  roots.push(root);
  try {
    await applyLayer(root, Readable.from([await tarLayer(entries)]), { format });
    return { root };
  } catch (e) {
    return { root, error: e as Error & { code?: string } };
  }
}

type Case = { name: string; entries: Entry[]; expect: 'refused' | ((root: string) => void) };

const cases: Case[] = [
  { name: 'dot-dot in a file name (zip-slip)', entries: [{ name: `../../../../../..${C}/victim`, content: 'PWNED' }], expect: 'refused' },
  { name: 'dot-dot hidden mid-path', entries: [{ name: `a/b/../../../x`, content: 'PWNED' }], expect: 'refused' },
  {
    name: 'absolute file name is confined to the root',
    entries: [{ name: `${C}/victim`, content: 'PWNED' }],
    expect: (root) => assert.equal(readFileSync(path.join(root, CR, 'victim'), 'utf8'), 'PWNED'),
  },
  {
    name: 'absolute symlink to / walked by a later entry (CVE-2021-29136-like)',
    entries: [{ name: 'evil', type: 'symlink', linkname: '/' }, { name: `evil/${CR}/victim`, content: 'PWNED' }],
    expect: (root) => assert.equal(readFileSync(path.join(root, CR, 'victim'), 'utf8'), 'PWNED'),
  },
  {
    name: 'relative symlink climbing out, walked by a later entry',
    entries: [{ name: 'a/evil', type: 'symlink', linkname: '../../../../../../../..' }, { name: `a/evil/${CR}/victim`, content: 'PWNED' }],
    expect: (root) => assert.ok(existsSync(path.join(root, CR, 'victim'))),
  },
  {
    name: 'symlink to the canary directory itself, then a file through it',
    entries: [{ name: 'link', type: 'symlink', linkname: C }, { name: 'link/victim', content: 'PWNED' }],
    expect: (root) => assert.equal(readFileSync(path.join(root, CR, 'victim'), 'utf8'), 'PWNED'),
  },
  {
    name: 'directory replaced by a symlink poisons no cache (node-tar CVE-2021-32803)',
    entries: [{ name: 'd/', type: 'directory' }, { name: 'd/ok', content: 'fine' }, { name: 'd', type: 'symlink', linkname: C }, { name: 'd/victim', content: 'PWNED' }],
    expect: (root) => assert.equal(readFileSync(path.join(root, CR, 'victim'), 'utf8'), 'PWNED'),
  },
  {
    name: 'a file entry replaces a symlink instead of writing through it',
    entries: [{ name: 'f', type: 'symlink', linkname: `${C}/victim` }, { name: 'f', content: 'PWNED' }],
    expect: (root) => assert.ok(lstatSync(path.join(root, 'f')).isFile()),
  },
  {
    name: 'a directory entry through a symlink chmods nothing on the host (CVE-2021-32760-like)',
    entries: [{ name: 'evil', type: 'symlink', linkname: '/' }, { name: `evil/${CR}/`, type: 'directory', mode: 0o777 }],
    expect: (root) => assert.equal(lstatSync(path.join(root, CR)).mode & 0o777, 0o777),
  },
  { name: 'hardlink with dot-dot pointing out', entries: [{ name: 'hl', type: 'link', linkname: `../../../../..${C}/secret` }], expect: 'refused' },
  { name: 'hardlink to an absolute host path is looked up inside the root', entries: [{ name: 'hl', type: 'link', linkname: `${C}/secret` }], expect: 'refused' },
  {
    name: 'hardlink through a symlink to / stays inside the root',
    entries: [{ name: 's', type: 'symlink', linkname: '/' }, { name: 'hl', type: 'link', linkname: `s/${CR}/secret` }],
    expect: 'refused',
  },
  { name: 'symlink as the root entry (umoci CVE-2021-29136)', entries: [{ name: '.', type: 'symlink', linkname: '/' }], expect: 'refused' },
  { name: 'symlink loop walked by an entry', entries: [{ name: 'a', type: 'symlink', linkname: 'b' }, { name: 'b', type: 'symlink', linkname: 'a' }, { name: 'a/x', content: 'x' }], expect: 'refused' },
  { name: 'bare .wh. whiteout', entries: [{ name: 'dir/.wh.', content: '' }], expect: 'refused' },
  { name: 'whiteout naming ..', entries: [{ name: 'dir/.wh...', content: '' }], expect: 'refused' },
  {
    name: 'whiteout through a symlink deletes nothing on the host',
    entries: [{ name: 'evil', type: 'symlink', linkname: '/' }, { name: `evil/${CR}/.wh.victim`, content: '' }],
    expect: () => undefined,
  },
  {
    name: 'a fifo replaced by a file is not written through (no hang)',
    entries: [{ name: 'p', type: 'fifo' }, { name: 'p', content: 'data' }],
    expect: (root) => assert.equal(readFileSync(path.join(root, 'p'), 'utf8'), 'data'),
  },
  {
    name: 'a block device replaced by a file is not written through',
    entries: [{ name: 'disk', type: 'block-device', devmajor: 7, devminor: 250 }, { name: 'disk', content: 'data' }],
    expect: (root) => assert.ok(lstatSync(path.join(root, 'disk')).isFile()),
  },
  { name: 'parent that is a regular file', entries: [{ name: 'f', content: 'x' }, { name: 'f/child', content: 'y' }], expect: 'refused' },
];

for (const format of ['overlay', 'flat'] as const) {
  describe(`hostile layers (${format} form)`, () => {
    for (const c of cases) {
      it(c.name, async () => {
        const { root, error } = await apply(c.entries, format);
        canary.assertUntouched();
        if (c.expect === 'refused') {
          assert.ok(error, 'refused');
          assert.equal(error.code, 'UNSAFE_LAYER_ENTRY', error.message);
          assert.match(error.message, /refusing layer entry|does not exist|symbolic links/);
        } else {
          assert.equal(error, undefined, error?.message);
          c.expect(root);
        }
      });
    }
  });
}

describe('resolveInRoot properties', () => {
  it('for any path, with any links already in the root, the result stays under the root', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'tsoci-resolve-'));
    roots.push(root);
    await applyLayer(
      root,
      Readable.from([
        await tarLayer([
          { name: 'abs', type: 'symlink', linkname: '/' },
          { name: 'up', type: 'symlink', linkname: '../../..' },
          { name: 'd/', type: 'directory' },
          { name: 'd/self', type: 'symlink', linkname: '.' },
          { name: 'd/back', type: 'symlink', linkname: '../up/abs' },
        ]),
      ]),
      { format: 'flat' },
    );
    const seg = fc.constantFrom('abs', 'up', 'd', 'self', 'back', '..', '.', 'x', '', 'etc');
    fc.assert(
      fc.property(fc.array(seg, { maxLength: 12 }), fc.boolean(), fc.boolean(), (parts, lead, follow) => {
        const p = (lead ? '/' : '') + parts.join('/');
        const { host } = resolveInRoot(root, p, { followFinal: follow });
        assert.ok(host === root || host.startsWith(`${root}/`), `${p} -> ${host}`);
      }),
      { numRuns: 3000 },
    );
  });
});
