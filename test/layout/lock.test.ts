// Locks exclude other processes, wait for them, and vanish with a process that dies.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { acquireLock, withLock } from '../../src/layout/lock.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'tsoci-lock-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A separate process that takes the lock, says so, and holds it until killed or `ms` passed. */
function holder(file: string, ms: number, shared = false): Promise<{ kill: () => void; done: Promise<void> }> {
  const src = `import { acquireLock } from ${JSON.stringify(path.resolve('src/layout/lock.ts'))};
const l = await acquireLock(${JSON.stringify(file)}, { shared: ${shared} }); console.log('held');
setTimeout(async () => { await l.release(); }, ${ms});`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', src], { stdio: ['ignore', 'pipe', 'inherit'] });
  const done = new Promise<void>((r) => child.on('exit', () => r()));
  return new Promise((resolve) => child.stdout.once('data', () => resolve({ kill: () => child.kill('SIGKILL'), done })));
}

describe('file locks', () => {
  it('an exclusive lock waits for another process to release it', async () => {
    const f = path.join(dir, 'a.lock');
    const h = await holder(f, 600);
    const t0 = Date.now();
    await withLock(f, async () => {});
    assert.ok(Date.now() - t0 >= 400, `waited ${Date.now() - t0} ms`);
    await h.done;
  });

  it('a lock held by a process killed with SIGKILL is free at once', async () => {
    const f = path.join(dir, 'b.lock');
    const h = await holder(f, 60_000);
    h.kill();
    await h.done;
    const t0 = Date.now();
    await withLock(f, async () => {});
    assert.ok(Date.now() - t0 < 1000);
  });

  it('shared locks coexist and keep an exclusive one out', async () => {
    const f = path.join(dir, 'c.lock');
    const h = await holder(f, 500, true);
    const t0 = Date.now();
    await withLock(f, async () => {}, { shared: true });
    assert.ok(Date.now() - t0 < 300, 'shared with shared');
    await withLock(f, async () => {});
    assert.ok(Date.now() - t0 >= 300, 'exclusive waited');
    await h.done;
  });

  it('a waiting lock does not hold up the release of another one in the same process', async () => {
    const a = path.join(dir, 'd1.lock');
    const b = path.join(dir, 'd2.lock');
    const h = await holder(b, 800);
    const la = await acquireLock(a);
    const waitingB = acquireLock(b);
    const t0 = Date.now();
    await la.release();
    assert.ok(Date.now() - t0 < 300, 'release answered while another lock waits');
    const lb = await waitingB;
    await lb.release();
    await h.done;
  });
});
