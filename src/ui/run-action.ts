// What `tsoci pull`, `run` and `bundle` do with their parsed flags, shared by the oclif commands and the fast path
// (src/fast.ts).

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

/** Writes the bundle; resolves with what `--json` prints (the line is printed here otherwise). */
export async function bundleAction(settings: Settings, flags: ParsedFlags, positionals: string[], json = false): Promise<{ dir: string; rootfs: string; mode: string }> {
  const { bundle, parsePlatform } = await import('../index.js');
  const [ref, dir, ...cmd] = positionals;
  const b = await bundle(ref!, dir!, settings, {
    copy: !!flags.copy,
    onWarn: (m) => process.stderr.write(`tsoci: warning: ${m}\n`),
    ...(flags.platform ? { platform: parsePlatform(flags.platform as string) } : {}),
    overrides: await overridesFrom(flags as Record<string, never>, cmd, { rootless: !!flags.rootless }),
  });
  if (!json) process.stdout.write(`${b.dir} (${b.mode})\n`);
  return { dir: b.dir, rootfs: b.rootfs, mode: b.mode };
}

/** Pulls with progress (listr2 on a terminal, plain lines otherwise, nothing with --quiet or --json). */
export async function pullAction(settings: Settings, flags: ParsedFlags, ref: string, json = false): Promise<{ ref: string; digest: string; manifest: string }> {
  const { pull, parsePlatform } = await import('../index.js');
  const { plainProgress, terminalProgress } = await import('./progress.js');
  const quiet = !!flags.quiet || json;
  const progress = !quiet && process.stderr.isTTY ? await terminalProgress(`pull ${ref}`) : plainProgress(quiet);
  const result = await progress.run(
    pull(ref, settings, {
      jobs: (flags.concurrency as number | undefined) ?? 4,
      unpack: !!flags.unpack,
      onWarn: (m) => process.stderr.write(`tsoci: warning: ${m}\n`),
      onEvent: progress.onEvent,
      ...(flags.platform ? { platform: parsePlatform(flags.platform as string) } : {}),
    }),
  );
  if (!json) process.stdout.write(`${result.ref} ${result.digest}\n`);
  return { ref: result.ref, digest: result.digest, manifest: result.image.manifestDesc.digest };
}
