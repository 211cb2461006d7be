// runc, driven through its command line: run, exec, state, kill, delete. State lives in ROOT/runc (runc --root),
// so tsoci's containers stay apart from others on the host.

import { type ChildProcess, type StdioOptions, execFile, spawn } from 'node:child_process';
import { constants } from 'node:os';
import { promisify } from 'node:util';
import { TsociError } from '../errors.js';

const run = promisify(execFile);

/** A finished process's exit code as a shell reports it: its own code, or 128 + the number of the killing signal. */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
}

export interface RuncState {
  id: string;
  pid: number;
  status: 'creating' | 'created' | 'running' | 'paused' | 'stopped';
  bundle: string;
}

export class Runc {
  constructor(readonly bin: string, readonly stateRoot: string) {}

  private args(a: string[]): string[] {
    return ['--root', this.stateRoot, ...a];
  }

  /** A clear error when the runtime binary is missing. */
  missing(e: unknown): TsociError | undefined {
    if ((e as { code?: string }).code === 'ENOENT') {
      return new TsociError('INVALID_ARGUMENT', `OCI runtime ${this.bin} not found`, { hint: this.bin === 'runc' ? 'install it: apt-get install runc (or pass --runtime PATH)' : 'check --runtime' });
    }
    return undefined;
  }

  /** Starts `runc run` for the bundle; the caller owns the child (its exit code is the container's). */
  spawnRun(id: string, bundle: string, stdio: StdioOptions, opts: { detach?: boolean } = {}): ChildProcess {
    return spawn(this.bin, this.args(['run', ...(opts.detach ? ['--detach'] : []), '--bundle', bundle, id]), { stdio });
  }

  spawnExec(id: string, processJson: string, stdio: StdioOptions, opts: { tty?: boolean } = {}): ChildProcess {
    return spawn(this.bin, this.args(['exec', ...(opts.tty ? ['--tty'] : []), '--process', processJson, id]), { stdio });
  }

  /** The container's state, or undefined when runc does not know it. */
  async state(id: string): Promise<RuncState | undefined> {
    try {
      const { stdout } = await run(this.bin, this.args(['state', id]));
      return JSON.parse(stdout) as RuncState;
    } catch (e) {
      const m = this.missing(e);
      if (m) throw m;
      return undefined;
    }
  }

  async kill(id: string, signal: string, all = false): Promise<void> {
    try {
      await run(this.bin, this.args(['kill', ...(all ? ['--all'] : []), id, signal]));
    } catch (e) {
      throw this.missing(e) ?? new TsociError('INVALID_ARGUMENT', `cannot signal container ${id}: ${String((e as { stderr?: string }).stderr ?? '').trim().split('\n').pop()}`);
    }
  }

  async delete(id: string, force = false): Promise<void> {
    try {
      await run(this.bin, this.args(['delete', ...(force ? ['--force'] : []), id]));
    } catch (e) {
      const m = this.missing(e);
      if (m) throw m;
      /* already gone */
    }
  }
}
