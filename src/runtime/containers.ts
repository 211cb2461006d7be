// Containers: records under ROOT/containers/<id> (record.json, the bundle, the log), created, run, signalled,
// listed and removed, with runc's state as the truth about what runs. Records survive a crash of tsoci and
// are reconciled with `runc state` whenever they are read. Records are small: read and written synchronously
// (an asynchronous fs call costs a thread-pool round trip, and `tsoci run` is mostly such calls).

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { TsociError, isTsociError } from '../errors.js';
import { writeFileAtomic } from '../layout/atomic.js';
import { destroyBundle } from '../bundle/bundle.js';
import { Runc } from './runc.js';

export interface ContainerRecord {
  id: string;
  name: string;
  image: string;
  /** The manifest the container was made from (rmi refuses to remove the last name of an image in use). */
  imageDigest?: string;
  command: string[];
  created: string;
  /** Remove everything when the container exits. */
  rm: boolean;
  detached: boolean;
  runtime: string;
  stopSignal?: string;
  exitCode?: number;
  finished?: string;
}

export type ContainerStatus = 'created' | 'running' | 'paused' | 'exited';

export interface ContainerInfo extends ContainerRecord {
  status: ContainerStatus;
  pid?: number;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

function readOrEmpty(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function readdirOrEmpty(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

export class Containers {
  readonly dir: string;

  constructor(readonly root: string) {
    this.dir = path.join(root, 'containers');
  }

  runc(runtime = 'runc'): Runc {
    return new Runc(runtime, path.join(this.root, 'runc'));
  }

  containerDir(id: string): string {
    return path.join(this.dir, id);
  }

  bundleDir(id: string): string {
    return path.join(this.dir, id, 'bundle');
  }

  logFile(id: string): string {
    return path.join(this.dir, id, 'container.log');
  }

  async read(id: string): Promise<ContainerRecord | undefined> {
    try {
      return JSON.parse(readFileSync(path.join(this.containerDir(id), 'record.json'), 'utf8')) as ContainerRecord;
    } catch {
      return undefined;
    }
  }

  async write(rec: ContainerRecord): Promise<void> {
    await writeFileAtomic(path.join(this.containerDir(rec.id), 'record.json'), JSON.stringify(rec, null, 2) + '\n');
  }

  /** Records of every container, oldest first. */
  async records(): Promise<ContainerRecord[]> {
    const out: ContainerRecord[] = [];
    for (const id of readdirOrEmpty(this.dir)) {
      if (id.startsWith('.')) continue;
      const r = await this.read(id);
      if (r) out.push(r);
    }
    return out.sort((a, b) => a.created.localeCompare(b.created));
  }

  /** The record with its status from runc. */
  async info(rec: ContainerRecord): Promise<ContainerInfo> {
    // A runtime that is gone (or never existed) knows no container: treat it as not running.
    const st = await this.runc(rec.runtime).state(rec.id).catch(() => undefined);
    const status: ContainerStatus = !st || st.status === 'stopped' ? (st || rec.exitCode !== undefined || rec.finished ? 'exited' : 'created') : st.status === 'creating' ? 'created' : st.status;
    return { ...rec, status, ...(st && st.status !== 'stopped' ? { pid: st.pid } : {}) };
  }

  private nameFile(name: string): string {
    return path.join(this.dir, '.names', name);
  }

  /**
   * A new record with a unique name (and a fresh 64-hex id). The name is claimed by creating .names/<name>
   * exclusively (O_EXCL): no lock, no scan; a claim whose container is gone (a crash) is taken over.
   */
  async create(fields: Omit<ContainerRecord, 'id' | 'name' | 'created'> & { name?: string }): Promise<ContainerRecord> {
    if (fields.name !== undefined && !NAME.test(fields.name)) {
      throw new TsociError('INVALID_ARGUMENT', `invalid container name "${fields.name}": use letters, digits, _ . -`);
    }
    const id = randomBytes(32).toString('hex');
    const name = fields.name ?? `tsoci-${id.slice(0, 12)}`;
    mkdirSync(path.join(this.dir, '.names'), { recursive: true });
    for (let attempt = 0; ; attempt++) {
      try {
        writeFileSync(this.nameFile(name), id, { flag: 'wx' });
        break;
      } catch (e) {
        if ((e as { code?: string }).code !== 'EEXIST' || attempt > 0) throw new TsociError('INVALID_ARGUMENT', `the container name "${name}" is already in use`, { hint: `remove it first (tsoci rm ${name}) or choose another --name` });
        const holder = readOrEmpty(this.nameFile(name)).trim();
        if (holder && (await this.read(holder))) throw new TsociError('INVALID_ARGUMENT', `the container name "${name}" is already in use`, { hint: `remove it first (tsoci rm ${name}) or choose another --name` });
        rmSync(this.nameFile(name), { force: true });
      }
    }
    const rec: ContainerRecord = { ...fields, id, name, created: new Date().toISOString() };
    mkdirSync(this.containerDir(id), { recursive: true, mode: 0o700 });
    await this.write(rec);
    return rec;
  }

  /** The container named `ref`: its name, its full id, or a unique prefix of the id. */
  async find(ref: string): Promise<ContainerRecord> {
    const all = await this.records();
    const hit = all.find((r) => r.name === ref || r.id === ref) ?? (() => {
      const p = ref.length >= 3 ? all.filter((r) => r.id.startsWith(ref)) : [];
      if (p.length > 1) throw new TsociError('INVALID_ARGUMENT', `container id prefix "${ref}" is ambiguous`);
      return p[0];
    })();
    if (!hit) throw new TsociError('REF_NOT_FOUND', `no such container: ${ref}`, { hint: 'see tsoci ps -a' });
    return hit;
  }

  /** Removes the container: its runc state, its mounts and upper dir, its record. Running needs `force`. */
  async remove(rec: ContainerRecord, force = false): Promise<void> {
    const runc = this.runc(rec.runtime);
    // No runc state directory: runc knows nothing of it (a foreground run removes its state on exit), and two
    // runc processes are spared.
    if (existsSync(path.join(runc.stateRoot, rec.id))) {
      const info = await this.info(rec);
      if (info.status === 'running' || info.status === 'paused') {
        if (!force) throw new TsociError('INVALID_ARGUMENT', `container ${rec.name} is running`, { hint: `stop it first (tsoci stop ${rec.name}) or use rm -f` });
        await runc.kill(rec.id, 'KILL', true).catch(() => {});
      }
      await runc.delete(rec.id, true).catch(() => {});
    }
    if (existsSync(this.bundleDir(rec.id))) {
      // A bundle that was never completed is not a bundle; anything else (a mount that will not go) must stop us
      // before the directory is removed.
      await destroyBundle(this.root, this.bundleDir(rec.id)).catch((e: unknown) => {
        if (!isTsociError(e, 'INVALID_ARGUMENT')) throw e;
      });
    }
    rmSync(this.containerDir(rec.id), { recursive: true, force: true });
    if (readOrEmpty(this.nameFile(rec.name)).trim() === rec.id) rmSync(this.nameFile(rec.name), { force: true });
  }
}
