// index.json of the store: one descriptor per reference, named by org.opencontainers.image.ref.name.
// Every update is a read-modify-write under the store's `index` lock, written atomically.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { TsociError } from '../errors.js';
import { MediaType } from '../oci/media-types.js';
import type { Descriptor, Index } from '../oci/types.js';
import { writeFileAtomic } from './atomic.js';
import { withLock } from './lock.js';
import type { LayoutStore } from './store.js';

export const REF_NAME = 'org.opencontainers.image.ref.name';

export interface RefEntry {
  ref: string;
  desc: Descriptor;
}

function indexFile(store: LayoutStore): string {
  return path.join(store.layoutDir, 'index.json');
}

export async function readIndex(store: LayoutStore): Promise<Index> {
  try {
    const doc = JSON.parse(readFileSync(indexFile(store), 'utf8')) as Index;
    if (!Array.isArray(doc.manifests)) throw new Error('manifests is not an array');
    return doc;
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
    throw new TsociError('INTERNAL', `${indexFile(store)} is not a valid image index: ${(e as Error).message}`, {
      hint: 'run tsoci verify --repair',
    });
  }
}

/** Every named entry of index.json, in file order. */
export async function listRefs(store: LayoutStore): Promise<RefEntry[]> {
  const idx = await readIndex(store);
  return idx.manifests.filter((d) => d.annotations?.[REF_NAME]).map((d) => ({ ref: d.annotations![REF_NAME]!, desc: d }));
}

/** The descriptor `ref` (a full normalized reference) points to, or undefined. */
export async function findRef(store: LayoutStore, ref: string): Promise<Descriptor | undefined> {
  return (await listRefs(store)).find((e) => e.ref === ref)?.desc;
}

/** Applies `change` to index.json's manifests under the index lock and writes the result atomically. */
export async function updateIndex(store: LayoutStore, change: (manifests: Descriptor[]) => Descriptor[]): Promise<void> {
  await withLock(store.lockFile('index'), async () => {
    const idx = await readIndex(store);
    idx.manifests = change(idx.manifests);
    idx.schemaVersion = 2;
    idx.mediaType ??= MediaType.OciIndex;
    await writeFileAtomic(indexFile(store), JSON.stringify(idx, null, 2) + '\n');
  });
}

/** Points `ref` at `desc`, replacing any entry of the same name (never duplicating it). */
export async function setRef(store: LayoutStore, ref: string, desc: Descriptor): Promise<void> {
  const entry: Descriptor = {
    mediaType: desc.mediaType,
    digest: desc.digest,
    size: desc.size,
    ...(desc.platform ? { platform: desc.platform } : {}),
    annotations: { ...(desc.annotations ?? {}), [REF_NAME]: ref },
  };
  await updateIndex(store, (ms) => [...ms.filter((d) => d.annotations?.[REF_NAME] !== ref), entry]);
}

/** Removes `ref`; returns whether it existed. */
export async function removeRef(store: LayoutStore, ref: string): Promise<boolean> {
  let found = false;
  await updateIndex(store, (ms) =>
    ms.filter((d) => {
      const hit = d.annotations?.[REF_NAME] === ref;
      found ||= hit;
      return !hit;
    }),
  );
  return found;
}
