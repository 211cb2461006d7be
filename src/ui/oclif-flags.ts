// oclif flags built from the plain flag definitions of flag-spec.ts (the container flags of bundle and run).

import { Flags, type Interfaces } from '@oclif/core';
import type { FlagSpecs } from './flag-spec.js';

/** The oclif flag type each spec becomes. */
export type OclifFlags<S extends FlagSpecs> = {
  [K in keyof S]: S[K]['type'] extends 'boolean'
    ? Interfaces.BooleanFlag<boolean>
    : S[K]['multiple'] extends true
      ? Interfaces.OptionFlag<string[] | undefined>
      : S[K]['type'] extends 'integer'
        ? Interfaces.OptionFlag<number | undefined>
        : Interfaces.OptionFlag<string | undefined>;
};

/** oclif flags for `specs` (the same definitions the lean parser of the fast path reads). */
export function oclifFlags<S extends FlagSpecs>(specs: S): OclifFlags<S> {
  const out: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(specs)) {
    const common = {
      description: s.description,
      ...(s.char ? { char: s.char as 'a' } : {}),
      ...(s.env ? { env: s.env } : {}),
      ...(s.helpGroup ? { helpGroup: s.helpGroup } : {}),
    };
    if (s.type === 'boolean') out[name] = Flags.boolean(common);
    else if (s.type === 'integer') out[name] = Flags.integer({ ...common, ...(s.min !== undefined ? { min: s.min } : {}), ...(s.default !== undefined ? { default: s.default as number } : {}) });
    else
      out[name] = Flags.string({
        ...common,
        ...(s.multiple ? { multiple: true, multipleNonGreedy: true } : {}),
        ...(s.options ? { options: s.options } : {}),
        ...(s.default !== undefined ? { default: s.default as string } : {}),
      } as never);
  }
  return out as OclifFlags<S>;
}


