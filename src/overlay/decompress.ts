// Layer decompression by media type: gzip through zlib, zstd through fzstd (Node 20 has no zstd), none as is.

import { Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { Compression } from '../oci/media-types.js';

/** A Transform that decompresses `c`; fzstd is loaded only for zstd layers. */
export async function decompressor(c: Compression): Promise<Transform> {
  if (c === 'gzip') return createGunzip({ chunkSize: 1 << 20 });
  if (c === 'none') return new Transform({ transform: (chunk, _e, cb) => cb(null, chunk) });
  const { Decompress } = await import('fzstd');
  let out: Transform;
  const z = new Decompress((chunk) => out.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)));
  out = new Transform({
    transform(chunk: Buffer, _e, cb) {
      try {
        z.push(chunk);
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },
    flush(cb) {
      try {
        z.push(new Uint8Array(0), true);
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },
  });
  return out;
}
