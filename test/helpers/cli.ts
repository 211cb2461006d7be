// Runs the built CLI (bin/tsoci) as a user would, capturing output and exit code.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/tsoci');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function tsoci(args: string[], opts: { env?: Record<string, string | undefined>; input?: string; cwd?: string } = {}): Promise<CliResult> {
  return capture(BIN, [...args], opts.env ?? {}, opts);
}

/** A shell command line (pipes into tsoci, e.g. `cat x.tar | BIN load`), captured like tsoci(). */
export function sh(command: string, env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return capture('sh', ['-c', command], env);
}

/** The CLI under GNU time: its result (time's own lines removed) and its peak RSS in MB. */
export async function tsociWithRss(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult & { rssMb: number }> {
  const r = await capture('/usr/bin/time', ['-f', 'RSS_KB=%M', BIN, ...args], env);
  const m = /RSS_KB=(\d+)\n?$/.exec(r.stderr);
  const stderr = r.stderr.replace(/RSS_KB=\d+\n?$/, '').replace(/^Command exited with non-zero status \d+\n/m, '');
  return { ...r, stderr, rssMb: m ? Number(m[1]) / 1024 : NaN };
}

function capture(cmd: string, args: string[], env: Record<string, string | undefined>, opts: { input?: string; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, DEBUG: '', ...env } as NodeJS.ProcessEnv, stdio: ['pipe', 'pipe', 'pipe'], cwd: opts.cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(opts.input ?? '');
  });
}
