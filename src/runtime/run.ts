// tsoci run / exec / logs / stop / kill: the whole pipeline behind one command, with docker's exit codes
// (125 tsoci, 126 not executable, 127 not found, else the container's own).

import { type ChildProcess, spawn } from 'node:child_process';
import { createReadStream, openSync, closeSync, existsSync, statSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TsociError } from '../errors.js';
import { createBundle } from '../bundle/bundle.js';
import { type Overrides, withUserEnv } from '../bundle/convert.js';
import type { Spec } from '../bundle/spec.js';
import { resolveUser } from '../bundle/user.js';
import { asWriter } from '../layout/gc.js';
import type { StoredImage } from '../layout/image.js';
import type { LayoutStore } from '../layout/store.js';
import { type ContainerRecord, Containers } from './containers.js';
import { exitCodeOf } from './runc.js';

export const EXIT_NOT_EXECUTABLE = 126;
export const EXIT_NOT_FOUND = 127;

export interface RunOptions {
  name?: string;
  overrides: Overrides;
  rm?: boolean;
  detach?: boolean;
  interactive?: boolean;
  runtime?: string;
}

const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const;

/** Waits for `child`, forwarding our signals to it; its exit code, or 128 + the signal number. */
function waitForwarding(child: ChildProcess): Promise<number> {
  const handlers = FORWARDED.map((sig) => {
    const h = () => child.kill(sig);
    process.on(sig, h);
    return [sig, h] as const;
  });
  return new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      for (const [sig, h] of handlers) process.off(sig, h);
      resolve(exitCodeOf(code, signal));
    });
  });
}

/** Passes runc's stderr through unchanged and learns from it why a process could not start. */
function watchStderr(child: ChildProcess): () => number | undefined {
  let text = '';
  child.stderr?.on('data', (c: Buffer) => {
    process.stderr.write(c);
    if (text.length < 65536) text += c.toString();
  });
  return () => {
    // runc's logrus lines quote the path with escaped quotes: exec: \"name\": ...
    if (/exec: \\?"[^"\\]*\\?": (executable file not found in \$PATH|(stat [^:]*: )?no such file or directory)/.test(text)) return EXIT_NOT_FOUND;
    if (/exec: \\?"[^"\\]*\\?": permission denied/.test(text)) return EXIT_NOT_EXECUTABLE;
    return undefined;
  };
}

function stdioFor(o: { interactive?: boolean; tty?: boolean }): ['inherit' | 'ignore', 'inherit', 'inherit' | 'pipe'] {
  return [o.interactive || o.tty ? 'inherit' : 'ignore', 'inherit', o.tty ? 'inherit' : 'pipe'];
}

/** The detached-container supervisor's module (a process of its own that waits for the container). */
function shimPath(): { args: string[] } {
  const self = import.meta.url;
  if (self.endsWith('.ts')) return { args: ['--import', 'tsx', fileURLToPath(new URL('./shim.ts', self))] };
  return { args: [fileURLToPath(new URL('./shim.js', self))] };
}

export interface RunResult {
  id: string;
  name: string;
  /** The container's exit code (foreground runs). */
  exitCode?: number;
}

/** Creates a container from `img` and runs it: in the foreground (returns its exit code) or detached. */
export async function runContainer(root: string, store: LayoutStore, img: StoredImage, opts: RunOptions): Promise<RunResult> {
  if (opts.detach && opts.overrides.tty) {
    // runc hands a detached container's terminal over a console socket (SCM_RIGHTS), which Node cannot receive.
    throw new TsociError('INVALID_ARGUMENT', '-t with -d is not supported: a detached container gets no terminal', {
      hint: 'drop -t, or run in the foreground; tsoci exec -it gives a terminal in a running container',
    });
  }
  const containers = new Containers(root);
  const runtime = opts.runtime ?? 'runc';
  const runc = containers.runc(runtime);
  const rec = await containers.create({
    ...(opts.name !== undefined ? { name: opts.name } : {}),
    image: img.ref,
    imageDigest: img.manifestDesc.digest,
    command: [],
    rm: !!opts.rm,
    detached: !!opts.detach,
    runtime,
    ...(img.config.config?.StopSignal ? { stopSignal: img.config.config.StopSignal } : {}),
  });
  let spec: Spec;
  try {
    // As a store writer: a concurrent gc keeps the snapshots until the bundle's record names them.
    const b = await asWriter(store, () =>
      createBundle(root, store, img, containers.bundleDir(rec.id), { overrides: { hostname: rec.id.slice(0, 12), ...opts.overrides }, onWarn: (m) => process.stderr.write(`tsoci: warning: ${m}\n`) }),
    );
    spec = b.spec;
    rec.command = spec.process.args;
    await containers.write(rec);
  } catch (e) {
    await containers.remove(rec, true).catch(() => {});
    throw e;
  }
  if (opts.detach) {
    const log = openSync(containers.logFile(rec.id), 'a');
    const { args } = shimPath();
    const shim = spawn(process.execPath, [...args, root, rec.id], { detached: true, stdio: ['ignore', log, log] });
    shim.unref();
    closeSync(log);
    // Report back once runc started it, or say why it did not.
    for (let i = 0; i < 200; i++) {
      const st = await runc.state(rec.id);
      if (st && st.status !== 'creating') {
        if (st.status === 'running' || st.status === 'stopped') break;
      }
      const r = await containers.read(rec.id);
      if (!r || r.exitCode !== undefined) {
        const code = r?.exitCode;
        if (code !== undefined && code !== 0) throw new TsociError('INVALID_ARGUMENT', `container ${rec.name} failed to start (exit ${code}); see tsoci logs ${rec.name}`);
        break;
      }
      await new Promise((res) => setTimeout(res, 25));
    }
    return { id: rec.id, name: rec.name };
  }
  let child: ChildProcess;
  const tty = !!opts.overrides.tty;
  try {
    child = runc.spawnRun(rec.id, containers.bundleDir(rec.id), stdioFor({ interactive: !!opts.interactive, tty }));
  } catch (e) {
    await containers.remove(rec, true).catch(() => {});
    throw runc.missing(e) ?? e;
  }
  const why = watchStderr(child);
  let code: number;
  try {
    code = await waitForwarding(child);
  } catch (e) {
    await containers.remove(rec, true).catch(() => {});
    throw runc.missing(e) ?? e;
  }
  code = (code !== 0 ? why() : undefined) ?? code;
  if (opts.rm) await containers.remove(rec, true);
  else await containers.write({ ...rec, exitCode: code, finished: new Date().toISOString() });
  return { id: rec.id, name: rec.name, exitCode: code };
}

export interface ExecOptions {
  cmd: string[];
  env?: string[];
  user?: string;
  workdir?: string;
  tty?: boolean;
  interactive?: boolean;
}

/** Runs a process in a running container; resolves with its exit code. */
export async function execInContainer(root: string, ref: string, o: ExecOptions): Promise<number> {
  const containers = new Containers(root);
  const rec = await containers.find(ref);
  const info = await containers.info(rec);
  if (info.status !== 'running') throw new TsociError('INVALID_ARGUMENT', `container ${rec.name} is not running`, { hint: `start a new one with tsoci run` });
  const bundle = containers.bundleDir(rec.id);
  const spec = JSON.parse(await readFile(path.join(bundle, 'config.json'), 'utf8')) as Spec;
  const proc = { ...spec.process, args: o.cmd, terminal: !!o.tty };
  if (o.env?.length) proc.env = withUserEnv(proc.env, o.env);
  if (o.workdir) proc.cwd = o.workdir;
  if (o.user) {
    const u = resolveUser(path.join(bundle, 'rootfs'), o.user);
    proc.user = { uid: u.uid, gid: u.gid, ...(u.additionalGids.length ? { additionalGids: u.additionalGids } : {}) };
  }
  const file = path.join(containers.containerDir(rec.id), `exec-${process.pid}-${Date.now()}.json`);
  await writeFile(file, JSON.stringify(proc));
  try {
    const child = containers.runc(rec.runtime).spawnExec(rec.id, file, stdioFor({ interactive: !!o.interactive, tty: !!o.tty }), { tty: !!o.tty });
    const why = watchStderr(child);
    const code = await waitForwarding(child);
    return (code !== 0 ? why() : undefined) ?? code;
  } finally {
    await rm(file, { force: true });
  }
}

/** Writes the container's log to `out`; with `follow`, keeps going until the container stops. */
export async function containerLogs(root: string, ref: string, out: NodeJS.WritableStream, follow = false): Promise<void> {
  const containers = new Containers(root);
  const rec = await containers.find(ref);
  const file = containers.logFile(rec.id);
  if (!existsSync(file)) return;
  let pos = 0;
  const copy = async () => {
    const size = statSync(file).size;
    if (size <= pos) return;
    await new Promise<void>((resolve, reject) => {
      const s = createReadStream(file, { start: pos, end: size - 1 });
      s.on('data', (c) => out.write(c));
      s.on('end', () => resolve());
      s.on('error', reject);
    });
    pos = size;
  };
  await copy();
  while (follow && (await containers.info(rec)).status === 'running') {
    await new Promise((r) => setTimeout(r, 200));
    await copy();
  }
  await copy();
}

/** Sends the image's stop signal (or SIGTERM), then SIGKILL after `timeout` seconds. */
export async function stopContainer(root: string, ref: string, timeout = 10): Promise<ContainerRecord> {
  const containers = new Containers(root);
  const rec = await containers.find(ref);
  const runc = containers.runc(rec.runtime);
  if ((await containers.info(rec)).status !== 'running') return rec;
  await runc.kill(rec.id, (rec.stopSignal ?? 'SIGTERM').replace(/^SIG/, ''));
  const deadline = Date.now() + timeout * 1000;
  while (Date.now() < deadline) {
    if ((await containers.info(rec)).status !== 'running') return rec;
    await new Promise((r) => setTimeout(r, 100));
  }
  await runc.kill(rec.id, 'KILL', true).catch(() => {});
  for (let i = 0; i < 50 && (await containers.info(rec)).status === 'running'; i++) await new Promise((r) => setTimeout(r, 100));
  return rec;
}

export async function killContainer(root: string, ref: string, signal = 'KILL'): Promise<ContainerRecord> {
  const containers = new Containers(root);
  const rec = await containers.find(ref);
  if ((await containers.info(rec)).status !== 'running') throw new TsociError('INVALID_ARGUMENT', `container ${rec.name} is not running`);
  await containers.runc(rec.runtime).kill(rec.id, signal.replace(/^SIG/, ''));
  return rec;
}
