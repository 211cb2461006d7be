// The seam between "where an image comes from" and "what is done with it".

import type { Readable } from 'node:stream';
import type { Descriptor } from '../oci/types.js';

/** Bytes as a source yields them: a stream, or chunks already in memory. */
export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array> | Readable;

/** Where an image comes from: a registry, a docker-archive, an oci-archive, another layout. */
export interface ImageSource {
  /** A name for messages, e.g. the normalized reference. */
  readonly name: string;
  /** The descriptor the source's name resolves to: an index or a manifest (digest computed from its bytes). */
  resolve(opts?: { signal?: AbortSignal }): Promise<Descriptor>;
  /** The blob's bytes from `offset` to the end. Not verified here: the store verifies on ingest. */
  open(desc: Descriptor, opts?: { offset?: number; signal?: AbortSignal }): Promise<ByteSource>;
  /** Releases sockets and file handles. */
  close(): Promise<void>;
}
