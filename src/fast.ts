// The fast path of `tsoci run`: parsed with the lean parser from the same flag definitions, without loading
// oclif (about 110 ms of start-up). Anything it does not handle (help, unknown or malformed flags) goes back to
// the full CLI, which gives the usual messages.

import { globalSpecs, parseLean, runSpecs } from './ui/flag-spec.js';

/** Runs `argv` when it can; the exit code, or undefined to hand over to oclif. */
export async function main(argv: string[]): Promise<number | undefined> {
  if (argv[0] !== 'run') return undefined;
  const parsed = parseLean(argv.slice(1), { ...globalSpecs, ...runSpecs });
  if (!parsed || parsed.positionals.length === 0) return undefined;
  const { flags, positionals } = parsed;
  try {
    const { loadSettings } = await import('./settings.js');
    const { runAction } = await import('./ui/run-action.js');
    const settings = await loadSettings({
      root: flags.root as string | undefined,
      insecureRegistry: flags['insecure-registry'] as string[] | undefined,
      timeout: flags.timeout as number | undefined,
    });
    return await runAction(settings, flags, positionals);
  } catch (e) {
    const { errorLine, toUserError } = await import('./ui/errors.js');
    const u = toUserError(e);
    process.stderr.write(errorLine(u) + '\n');
    if (flags.debug || process.env.DEBUG) process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    return u.exitCode;
  }
}
