// What `tsoci run` does with its parsed flags, shared by the oclif command and the fast path (src/fast.ts).

import type { Settings } from '../settings.js';
import type { ParsedFlags } from './flag-spec.js';
import { overridesFrom } from './overrides.js';

/** Runs the container; resolves with the exit code to leave with (after printing the ID of a detached one). */
export async function runAction(settings: Settings, flags: ParsedFlags, positionals: string[]): Promise<number> {
  const { run, parsePlatform } = await import('../index.js');
  const [ref, ...cmd] = positionals;
  const f = flags as Record<string, never>;
  const res = await run(ref!, settings, {
    pull: (flags.pull as 'missing' | 'always' | 'never') ?? 'missing',
    ...(flags.platform ? { platform: parsePlatform(flags.platform as string) } : {}),
    ...(flags.name ? { name: flags.name as string } : {}),
    rm: !!flags.rm,
    detach: !!flags.detach,
    interactive: !!flags.interactive,
    runtime: (flags.runtime as string) ?? 'runc',
    overrides: await overridesFrom(f, cmd, { network: (flags.network as 'none' | 'host') ?? 'none' }),
  });
  if (flags.detach) {
    process.stdout.write(`${res.id}\n`);
    return 0;
  }
  return res.exitCode ?? 0;
}
