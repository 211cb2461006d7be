// Turns any failure into what the user sees: one line naming what went wrong and what to do, and an exit code
// (125, docker's code for the tool itself; 126/127 come from src/runtime/run.ts). Stacks only with --debug.

import { isTsociError } from '../errors.js';

export const EXIT_TSOCI = 125;

export interface UserError {
  code: string;
  message: string;
  hint?: string;
  exitCode: number;
}

export function toUserError(err: unknown): UserError {
  if (isTsociError(err)) {
    return { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}), exitCode: EXIT_TSOCI };
  }
  const e = err as { message?: string; code?: string; oclif?: { exit?: number } } | undefined;
  if (e?.oclif) {
    // Flag and argument errors from the parser: their first line is the message.
    const first = String(e.message ?? 'invalid usage').split('\n')[0]!.trim();
    return { code: 'INVALID_ARGUMENT', message: first, hint: 'see --help', exitCode: EXIT_TSOCI };
  }
  if (e?.code === 'ENOSPC') return { code: 'DISK_FULL', message: 'no space left on device', hint: 'free some space or choose another --root', exitCode: EXIT_TSOCI };
  if (e?.code === 'EACCES' || e?.code === 'EPERM') {
    return { code: 'PERMISSION_DENIED', message: String(e.message ?? 'permission denied'), hint: 'run as root, or choose a --root you can write', exitCode: EXIT_TSOCI };
  }
  return { code: 'INTERNAL', message: `[internal] ${String(e?.message ?? err)}`, hint: 'run again with --debug and report the output', exitCode: EXIT_TSOCI };
}

/** The one line printed on stderr (without the stack). */
export function errorLine(u: UserError): string {
  return `tsoci: ${u.message}${u.hint ? ` (${u.hint})` : ''} [${u.code}]`;
}
