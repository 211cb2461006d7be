// Digests (`algorithm:encoded`) and the streaming check of size and digest that guards every way in.

import { createHash, type Hash } from 'node:crypto';
import { TsociError } from '../errors.js';

/** A validated digest string such as `sha256:<64 lowercase hex>`. */
export type Digest = string & { readonly __digest: unique symbol };

const ENCODED: Record<string, RegExp> = {
  sha256: /^[a-f0-9]{64}$/,
  sha512: /^[a-f0-9]{128}$/,
};
const GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export function isDigest(s: string): s is Digest {
  if (!GRAMMAR.test(s)) return false;
  const [alg, enc] = splitDigest(s as Digest);
  const re = ENCODED[alg];
  return re ? re.test(enc) : false;
}

/** Validates `s` as a digest of an algorithm tsoci can verify (sha256, sha512). */
export function parseDigest(s: string, what = 'digest'): Digest {
  if (!isDigest(s)) {
    throw new TsociError('INVALID_ARGUMENT', `invalid ${what} "${s}": expected sha256:<64 lowercase hex digits>`);
  }
  return s;
}

export function splitDigest(d: Digest): [algorithm: string, encoded: string] {
  const i = d.indexOf(':');
  return [d.slice(0, i), d.slice(i + 1)];
}

export function digestHex(d: Digest): string {
  return splitDigest(d)[1];
}

export function sha256(data: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}` as Digest;
}

export function hasherFor(d: Digest): Hash {
  return createHash(splitDigest(d)[0]);
}

/**
 * Counts and hashes bytes as they pass; `check()` throws SIZE_MISMATCH or DIGEST_MISMATCH.
 * `update` throws as soon as more bytes than expected arrive, so a lying server cannot fill the disk.
 */
export class Verifier {
  readonly hash: Hash;
  bytes = 0;

  constructor(readonly expected: Digest, readonly size: number, readonly what: string) {
    this.hash = hasherFor(expected);
  }

  update(chunk: Uint8Array): void {
    this.bytes += chunk.length;
    if (this.bytes > this.size) {
      throw new TsociError('SIZE_MISMATCH', `${this.what} is longer than its descriptor says (${this.size} bytes)`);
    }
    this.hash.update(chunk);
  }

  /** The digest of what passed; throws when size or digest differ from the expected ones. */
  check(): Digest {
    if (this.bytes !== this.size) {
      throw new TsociError('SIZE_MISMATCH', `${this.what} has ${this.bytes} bytes, its descriptor says ${this.size}`);
    }
    const got = `${splitDigest(this.expected)[0]}:${this.hash.digest('hex')}` as Digest;
    if (got !== this.expected) {
      throw new TsociError('DIGEST_MISMATCH', `${this.what} has digest ${got}, expected ${this.expected}`, {
        hint: 'the registry or file served corrupt content; nothing was stored',
      });
    }
    return got;
  }
}
