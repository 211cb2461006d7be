// Benchmark plumbing: timed runs of whole commands (wall time and peak RSS from GNU time), medians, ratios.

import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

export interface Sample {
  ms: number;
  rssMB: number;
}

/** Runs `cmd` under /usr/bin/time (with `env` added to ours, or instead of it with `onlyEnv`); throws when it fails. */
export function timed(cmd: string, args: string[], env: Record<string, string> = {}, onlyEnv = false): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn('/usr/bin/time', ['-f', 'TSOCI_BENCH_RSS %M', cmd, ...args], { env: onlyEnv ? env : { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const m = /TSOCI_BENCH_RSS (\d+)/.exec(err);
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} failed (${code}): ${err.slice(-2000)}`));
      else resolve({ ms, rssMB: m ? Number(m[1]) / 1024 : NaN });
    });
  });
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

export interface Row {
  what: string;
  ours: Sample[];
  peer: Sample[];
  peerName: string;
}

export function report(rows: Row[]): string {
  const lines = ['| benchmark | tsoci median ms | peer | peer median ms | ratio tsoci/peer | tsoci peak RSS MB | peer peak RSS MB |', '|---|---|---|---|---|---|---|'];
  for (const r of rows) {
    const a = median(r.ours.map((s) => s.ms));
    const b = median(r.peer.map((s) => s.ms));
    lines.push(`| ${r.what} | ${a.toFixed(0)} | ${r.peerName} | ${b.toFixed(0)} | ${(a / b).toFixed(2)} | ${Math.max(...r.ours.map((s) => s.rssMB)).toFixed(0)} | ${Math.max(...r.peer.map((s) => s.rssMB)).toFixed(0)} |`);
  }
  return lines.join('\n');
}

/** A tmpfs at `dir` (root only), so that disk noise stays out of the figures. */
export function tmpfs(dir: string, size = '8g'): () => void {
  mkdirSync(dir, { recursive: true });
  const mounted = readFileSync('/proc/self/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === dir);
  if (!mounted) execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  return () => {
    try {
      execFileSync('umount', [dir]);
    } catch {
      /* already gone */
    }
    rmSync(dir, { recursive: true, force: true });
  };
}
