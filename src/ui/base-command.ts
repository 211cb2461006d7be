// The flags every command shares (--root, --debug) and the error handling that makes failures one line.

import { Command, Errors, Flags, type Interfaces } from '@oclif/core';
import type { Settings } from '../settings.js';
import { errorLine, toUserError } from './errors.js';
import { globalSpecs } from './flag-spec.js';

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>;

export abstract class BaseCommand extends Command {
  static override baseFlags = {
    root: Flags.string({ description: globalSpecs.root.description, env: 'TSOCI_ROOT', helpGroup: 'GLOBAL' }),
    debug: Flags.boolean({ description: globalSpecs.debug.description, helpGroup: 'GLOBAL' }),
  };

  protected debug_ = Boolean(process.env.DEBUG);

  protected async loadSettings(flags: { root?: string | undefined; debug?: boolean; 'insecure-registry'?: string[]; timeout?: number }): Promise<Settings> {
    if (flags.debug) this.debug_ = true;
    const { loadSettings } = await import('../settings.js');
    return loadSettings({ root: flags.root, insecureRegistry: flags['insecure-registry'], timeout: flags.timeout });
  }

  protected override async catch(err: Error & { exitCode?: number }): Promise<unknown> {
    if (err instanceof Errors.ExitError) throw err;
    if (process.argv.includes('--debug')) this.debug_ = true;
    const u = toUserError(err);
    if (this.jsonEnabled()) {
      this.logJson({ error: { code: u.code, message: u.message, ...(u.hint ? { hint: u.hint } : {}) } });
    } else {
      process.stderr.write(errorLine(u) + '\n');
      if (this.debug_) process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    }
    return this.exit(u.exitCode);
  }
}



/**
 * docker's rule for commands that end in a command line: flags stop after the `positionals`-th positional
 * argument, so `run IMAGE sh -c x` keeps `-c` for the container. Inserts `--` there when the user did not.
 */
export function stopFlagsAfter(argv: string[], flags: Record<string, { type: string; char?: string }>, positionals: number): string[] {
  const takesValue = new Set<string>();
  for (const [name, f] of Object.entries(flags)) {
    if (f.type === 'option') {
      takesValue.add(`--${name}`);
      if (f.char) takesValue.add(`-${f.char}`);
    }
  }
  let seen = 0;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return argv;
    if (a.startsWith('-') && a !== '-') {
      if (!a.includes('=') && takesValue.has(a)) i++;
      continue;
    }
    if (++seen === positionals) return [...argv.slice(0, i + 1), '--', ...argv.slice(i + 1)];
  }
  return argv;
}
