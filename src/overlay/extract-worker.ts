// Worker thread: applies one layer's uncompressed tar stream to a directory (extract.ts) and hashes it for the
// diff ID (every byte, the padding after the end-of-archive marker too). The parent reads and decompresses the
// blob, and sends the tar bytes here as {op:'data', buf} (transferred), then
// {op:'end'}; every chunk is acknowledged {op:'ack', bytes} once consumed, which is the parent's backpressure.
// Lower-layer lookups go up as {op:'lower', id, rel} and come back as {op:'lower', id, path}.
// workerData: { target, format }. Ends with {op:'done', entries, digest} or {op:'error', code, message, hint}.

import { createHash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { type LayerFormat, applyLayer } from './extract.js';

const data = workerData as { target: string; format: LayerFormat };
const lookups = new Map<number, (p: string | undefined) => void>();
let nextLookup = 0;
const chunks: Buffer[] = [];
const hash = createHash('sha256');
let ended = false;
let wake: (() => void) | undefined;

parentPort!.on('message', (m: { op: 'data'; buf: ArrayBuffer } | { op: 'end' } | { op: 'lower'; id: number; path?: string }) => {
  if (m.op === 'data') chunks.push(Buffer.from(m.buf));
  else if (m.op === 'end') ended = true;
  else if (m.op === 'lower') {
    lookups.get(m.id)?.(m.path);
    lookups.delete(m.id);
    return;
  }
  wake?.();
});

async function* tarStream(): AsyncGenerator<Buffer> {
  for (;;) {
    const c = chunks.shift();
    if (c) {
      hash.update(c);
      yield c;
      parentPort!.postMessage({ op: 'ack', bytes: c.length });
      continue;
    }
    if (ended) return;
    await new Promise<void>((r) => (wake = r));
    wake = undefined;
  }
}

function lowerLookup(rel: string): Promise<string | undefined> {
  const id = nextLookup++;
  return new Promise((resolve) => {
    lookups.set(id, resolve);
    parentPort!.postMessage({ op: 'lower', id, rel });
  });
}

try {
  const src = Object.assign(tarStream(), { destroy: () => undefined });
  const res = await applyLayer(data.target, src, { format: data.format, lowerLookup, onWarn: (msg) => parentPort!.postMessage({ op: 'warn', msg }) });
  // Drain what follows the end-of-archive marker, so the parent's stream completes.
  for await (const _ of src) void _;
  parentPort!.postMessage({ op: 'done', entries: res.entries, digest: `sha256:${hash.digest('hex')}` });
} catch (e) {
  const err = e as { code?: string; message?: string; hint?: string };
  parentPort!.postMessage({ op: 'error', code: err.code, message: err.message, hint: err.hint });
}
parentPort!.close();
