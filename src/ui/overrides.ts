// Container flags (as docker names them) turned into bundle Overrides; no oclif here, the fast path uses it.

import type { Overrides } from '../bundle/convert.js';

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
