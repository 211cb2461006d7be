// ChainIDs: the identity of a layer stack, base first (image-spec config.md).

import { type Digest, sha256 } from './digest.js';

/** ChainID of every prefix of `diffIds`, base first: ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " + DiffID(Ln)). */
export function chainIds(diffIds: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const d of diffIds) out.push(out.length === 0 ? d : sha256(`${out[out.length - 1]} ${d}`));
  return out;
}
