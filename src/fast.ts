// The fast path of `tsoci pull`, `run` and `bundle`: parsed with the lean parser from the same flag definitions,
// without loading oclif (about 110 ms of start-up). Anything it does not handle (help, --json, unknown or
// malformed flags) goes back to the full CLI, which gives the usual messages.

import { bundleSpecs, globalSpecs, parseLean, pullSpecs, runSpecs } from './ui/flag-spec.js';

const COMMANDS = {
  pull: { specs: pullSpecs, positionals: 1 },
  run: { specs: runSpecs, positionals: 1 },
  bundle: { specs: bundleSpecs, positionals: 2 },
} as const;

/** Runs `argv` when it can; the exit code, or undefined to hand over to oclif. */
export async function main(argv: string[]): Promise<number | undefined> {
  const cmd = COMMANDS[argv[0] as keyof typeof COMMANDS];
  if (!cmd) return undefined;
  const parsed = parseLean(argv.slice(1), { ...globalSpecs, ...cmd.specs });
  if (!parsed || parsed.positionals.length < cmd.positionals) return undefined;
  const { flags, positionals } = parsed;
  try {
    // All three take store locks (and run and bundle mount): start the perl helper while the rest loads.
    (await import('./sys/helper.js')).prewarmHelper();
    const { loadSettings } = await import('./settings.js');
    const { bundleAction, pullAction, runAction } = await import('./ui/run-action.js');
    const settings = await loadSettings({
      root: flags.root as string | undefined,
      insecureRegistry: flags['insecure-registry'] as string[] | undefined,
      timeout: flags.timeout as number | undefined,
    });
    if (argv[0] === 'pull') {
      if (positionals.length !== 1) return undefined;
      await pullAction(settings, flags, positionals[0]!);
      return 0;
    }
    if (argv[0] === 'bundle') {
      await bundleAction(settings, flags, positionals);
      return 0;
    }
    return await runAction(settings, flags, positionals);
  } catch (e) {
    const { errorLine, toUserError } = await import('./ui/errors.js');
    const u = toUserError(e);
    process.stderr.write(errorLine(u) + '\n');
    if (flags.debug || process.env.DEBUG) process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    return u.exitCode;
  }
}
