// Worker thread: extracts one layer blob into a directory, checking the uncompressed stream against the diff ID.
// workerData: { blob, compression, diffId, target, format }. Asks the parent {op:'lower', id, rel} for lower
// layer lookups and gets {id, path}; ends with {op:'done', entries} or {op:'error', code, message}.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform } from 'node:stream';
import { parentPort, workerData } from 'node:worker_threads';
import type { Compression } from '../oci/media-types.js';
import { decompressor } from './decompress.js';
import { type LayerFormat, applyLayer } from './extract.js';

const data = workerData as { blob: string; compression: Compression; diffId: string; target: string; format: LayerFormat };
const waiting = new Map<number, (p: string | undefined) => void>();
let next = 0;
parentPort!.on('message', (m: { id: number; path?: string }) => {
  waiting.get(m.id)?.(m.path);
  waiting.delete(m.id);
});

function lowerLookup(rel: string): Promise<string | undefined> {
  const id = next++;
  return new Promise((resolve) => {
    waiting.set(id, resolve);
    parentPort!.postMessage({ op: 'lower', id, rel });
  });
}

try {
  const hash = createHash('sha256');
  let bytes = 0;
  const tee = new Transform({
    transform(chunk: Buffer, _e, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      cb(null, chunk);
    },
  });
  const src = createReadStream(data.blob, { highWaterMark: 1 << 20 });
  const dec = decompressor(data.compression);
  src.on('error', (e) => tee.destroy(e));
  dec.on('error', (e) => tee.destroy(e));
  src.pipe(dec).pipe(tee);
  const res = await applyLayer(data.target, tee, { format: data.format, lowerLookup, onWarn: (msg) => parentPort!.postMessage({ op: 'warn', msg }) });
  const got = `sha256:${hash.digest('hex')}`;
  if (got !== data.diffId) {
    parentPort!.postMessage({ op: 'error', code: 'DIGEST_MISMATCH', message: `layer ${data.diffId}: its uncompressed content has digest ${got} (${bytes} bytes)` });
  } else {
    parentPort!.postMessage({ op: 'done', entries: res.entries });
  }
} catch (e) {
  const err = e as { code?: string; message?: string; hint?: string };
  parentPort!.postMessage({ op: 'error', code: err.code === 'Z_DATA_ERROR' ? 'LAYER_INVALID' : err.code, message: err.message, hint: err.hint });
}
// Nothing more to hear from the parent: let the thread end.
parentPort!.close();
