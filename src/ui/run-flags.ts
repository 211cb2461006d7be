// The container flags shared by bundle and run, named as docker names them, and their translation to Overrides.

import { Flags } from '@oclif/core';
import type { Overrides } from '../bundle/convert.js';

export const containerFlags = {
  entrypoint: Flags.string({ description: 'replace the image Entrypoint (a single executable; clears the image Cmd)' }),
  env: Flags.string({ char: 'e', description: 'set NAME=VALUE (or pass NAME from this environment)', multiple: true, multipleNonGreedy: true }),
  'env-file': Flags.string({ description: 'read NAME=VALUE lines from a file', multiple: true, multipleNonGreedy: true }),
  workdir: Flags.string({ char: 'w', description: 'working directory inside the container' }),
  user: Flags.string({ char: 'u', description: 'user[:group], names or ids, resolved in the image' }),
  hostname: Flags.string({ description: 'container host name' }),
  volume: Flags.string({ char: 'v', description: 'bind mount SRC:DST[:ro]', multiple: true, multipleNonGreedy: true }),
  tmpfs: Flags.string({ description: 'tmpfs mount DST[:options]', multiple: true, multipleNonGreedy: true }),
  tty: Flags.boolean({ char: 't', description: 'allocate a terminal' }),
  'read-only': Flags.boolean({ description: 'mount the rootfs read-only' }),
  platform: Flags.string({ description: 'os/arch[/variant] of a multi-platform image [default: this host]' }),
};

export interface ContainerFlagValues {
  entrypoint?: string | undefined;
  env?: string[] | undefined;
  'env-file'?: string[] | undefined;
  workdir?: string | undefined;
  user?: string | undefined;
  hostname?: string | undefined;
  volume?: string[] | undefined;
  tmpfs?: string[] | undefined;
  tty?: boolean | undefined;
  'read-only'?: boolean | undefined;
}

/** Overrides from the flags and the trailing command. */
export async function overridesFrom(flags: ContainerFlagValues, cmd: string[], extra: Partial<Overrides> = {}): Promise<Overrides> {
  const env: string[] = [];
  for (const f of flags['env-file'] ?? []) {
    const { readFile } = await import('node:fs/promises');
    for (const line of (await readFile(f, 'utf8')).split('\n')) {
      const l = line.trim();
      if (l && !l.startsWith('#')) env.push(l);
    }
  }
  env.push(...(flags.env ?? []));
  return {
    ...(flags.entrypoint !== undefined ? { entrypoint: flags.entrypoint ? [flags.entrypoint] : [] } : {}),
    ...(cmd.length ? { cmd } : {}),
    ...(env.length ? { env } : {}),
    ...(flags.workdir ? { workdir: flags.workdir } : {}),
    ...(flags.user ? { user: flags.user } : {}),
    ...(flags.hostname ? { hostname: flags.hostname } : {}),
    ...(flags.volume ? { volumes: flags.volume } : {}),
    ...(flags.tmpfs ? { tmpfs: flags.tmpfs } : {}),
    tty: !!flags.tty,
    readOnly: !!flags['read-only'],
    ...extra,
  };
}
