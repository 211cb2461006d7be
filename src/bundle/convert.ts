// Image config -> runtime config.json, per the image-spec's conversion rules (conversion.md), on top of runc's
// Linux defaults. Knows no tar and no registry: it reads only /etc/passwd and /etc/group of the rootfs.

import path from 'node:path';
import { TsociError } from '../errors.js';
import type { ImageConfig } from '../oci/types.js';
import { cleanComponents, escapesRoot } from '../overlay/resolve.js';
import { makeRootless, runcDefaults } from './defaults.js';
import type { Mount, Spec } from './spec.js';
import { resolveUser } from './user.js';

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Run-time overrides, as docker/podman flags name them. */
export interface Overrides {
  /** Replaces Entrypoint (and clears the image's Cmd unless `cmd` is given), like `--entrypoint`. */
  entrypoint?: string[];
  /** Replaces Cmd (the trailing command). */
  cmd?: string[];
  /** `-e NAME=VALUE` (wins over the image), or `-e NAME` to take NAME from `hostEnv`. */
  env?: string[];
  workdir?: string;
  user?: string;
  hostname?: string;
  /** `-v SRC:DST[:ro]` bind mounts. */
  volumes?: string[];
  /** `--tmpfs DST[:options]`. */
  tmpfs?: string[];
  tty?: boolean;
  readOnly?: boolean;
  rootless?: boolean;
  /** `none` (own network namespace, loopback only) or `host`. @default none */
  network?: 'none' | 'host';
}

export interface ConvertResult {
  spec: Spec;
  warnings: string[];
}

/** Annotation keys runc treats as unsafe (features.go PotentiallyUnsafeConfigAnnotations). */
function unsafeAnnotation(k: string): boolean {
  return k === 'bundle' || k.startsWith('org.systemd.property.') || k === 'org.criu.config';
}

/** An absolute, clean container path; `what` names it in errors. */
export function containerPath(p: string, what: string): string {
  if (!p) throw new TsociError('INVALID_ARGUMENT', `${what} is empty`);
  if (p.includes('\0')) throw new TsociError('INVALID_ARGUMENT', `${what} contains a NUL byte`);
  if (escapesRoot(p.startsWith('/') ? p : `/${p}`)) throw new TsociError('INVALID_ARGUMENT', `${what} "${p}" climbs above / with ..`);
  return `/${cleanComponents(p).join('/')}`;
}

function envName(e: string): string {
  const i = e.indexOf('=');
  return i < 0 ? e : e.slice(0, i);
}

function checkEnv(e: string, from: string): void {
  const name = envName(e);
  if (!e.includes('=') || !name) throw new TsociError('INVALID_ARGUMENT', `invalid environment entry ${JSON.stringify(e)} in ${from}: expected NAME=VALUE`);
  if (e.includes('\0')) throw new TsociError('INVALID_ARGUMENT', `environment entry ${name} in ${from} contains a NUL byte`);
}

/**
 * `env` with the user's `-e` entries applied: NAME=VALUE replaces NAME in place or is appended; a bare NAME takes
 * its value from `hostEnv` (and is skipped when unset there), as docker does.
 */
export function withUserEnv(env: string[], user: string[], hostEnv: NodeJS.ProcessEnv = process.env): string[] {
  const entries = user
    .map((e) => {
      if (e.includes('=')) return e;
      const v = hostEnv[e];
      return v === undefined ? undefined : `${e}=${v}`;
    })
    .filter((e): e is string => e !== undefined);
  entries.forEach((e) => checkEnv(e, '-e'));
  return mergeEnv(env, entries);
}

/** Merges entries: a later entry replaces an earlier one of the same name, in place. */
function mergeEnv(base: string[], extra: string[]): string[] {
  const out = [...base];
  for (const e of extra) {
    const i = out.findIndex((x) => envName(x) === envName(e));
    if (i >= 0) out[i] = e;
    else out.push(e);
  }
  return out;
}

export function parseVolume(v: string): Mount {
  const parts = v.split(':');
  if (parts.length < 2 || parts.length > 3 || !parts[0] || !parts[1]) throw new TsociError('INVALID_ARGUMENT', `invalid volume "${v}": expected SRC:DST[:ro|rw]`);
  const mode = parts[2] ?? 'rw';
  if (mode !== 'ro' && mode !== 'rw') throw new TsociError('INVALID_ARGUMENT', `invalid volume mode "${mode}" in "${v}": expected ro or rw`);
  if (!path.isAbsolute(parts[0])) throw new TsociError('INVALID_ARGUMENT', `volume source "${parts[0]}" must be an absolute host path`);
  return { destination: containerPath(parts[1], 'volume destination'), type: 'bind', source: path.resolve(parts[0]), options: ['rbind', mode === 'ro' ? 'ro' : 'rw'] };
}

/**
 * The runtime spec for an image `config` whose extracted rootfs is at `rootfs`, with `o` applied.
 * `hostEnv` resolves `-e NAME` entries without a value.
 */
export function toRuntimeSpec(config: ImageConfig, rootfs: string, o: Overrides = {}, hostEnv: NodeJS.ProcessEnv = process.env): ConvertResult {
  const c = config.config ?? {};
  const warnings: string[] = [];
  const spec = runcDefaults();

  const entrypoint = o.entrypoint ?? c.Entrypoint ?? [];
  const cmd = o.cmd?.length ? o.cmd : o.entrypoint !== undefined ? [] : (c.Cmd ?? []);
  const args = [...entrypoint, ...cmd];
  if (!args.length) throw new TsociError('INVALID_ARGUMENT', 'the image has no Entrypoint or Cmd and no command was given', { hint: 'pass a command after the image name' });
  spec.process.args = args;

  const imageEnv = c.Env ?? [];
  imageEnv.forEach((e) => checkEnv(e, 'the image config'));
  let env = mergeEnv([], imageEnv);
  if (!env.some((e) => envName(e) === 'PATH')) env.unshift(DEFAULT_PATH);
  env = withUserEnv(env, o.env ?? [], hostEnv);

  const cwd = containerPath(o.workdir ?? (c.WorkingDir || '/'), 'working directory');
  if (cwd === '/proc' || cwd.startsWith('/proc/')) throw new TsociError('INVALID_ARGUMENT', `working directory ${cwd} is under /proc, which is refused (CVE-2024-21626)`);
  spec.process.cwd = cwd;

  const user = resolveUser(rootfs, o.user ?? c.User);
  spec.process.user = { uid: user.uid, gid: user.gid, ...(user.additionalGids.length ? { additionalGids: user.additionalGids } : {}) };
  if (!env.some((e) => envName(e) === 'HOME')) env.push(`HOME=${user.home}`);
  if (o.tty && !env.some((e) => envName(e) === 'TERM')) env.push('TERM=xterm');
  spec.process.env = env;
  spec.process.terminal = !!o.tty;

  spec.hostname = o.hostname ?? 'tsoci';
  spec.root = { path: 'rootfs', readonly: !!o.readOnly };

  const ann: Record<string, string> = {};
  const implicit: [string, string | undefined][] = [
    ['org.opencontainers.image.os', config.os],
    ['org.opencontainers.image.architecture', config.architecture],
    ['org.opencontainers.image.variant', config.variant],
    ['org.opencontainers.image.os.version', config['os.version']],
    ['org.opencontainers.image.os.features', config['os.features']?.join(',')],
    ['org.opencontainers.image.author', config.author],
    ['org.opencontainers.image.created', config.created],
    ['org.opencontainers.image.stopSignal', c.StopSignal],
    ['org.opencontainers.image.exposedPorts', c.ExposedPorts ? Object.keys(c.ExposedPorts).join(',') : undefined],
  ];
  for (const [k, v] of implicit) if (v) ann[k] = v;
  for (const [k, v] of Object.entries(c.Labels ?? {})) {
    if (unsafeAnnotation(k)) {
      warnings.push(`image label ${k} dropped: runc treats it as an unsafe annotation`);
      continue;
    }
    ann[k] = String(v);
  }
  spec.annotations = ann;

  const mounts: Mount[] = [];
  for (const v of Object.keys(c.Volumes ?? {})) {
    mounts.push({ destination: containerPath(v, `image volume`), type: 'tmpfs', source: 'tmpfs', options: ['rw', 'nosuid', 'nodev', 'noexec', 'relatime'] });
  }
  for (const t of o.tmpfs ?? []) {
    const [dst, opts] = t.split(/:(.*)/s);
    mounts.push({ destination: containerPath(dst!, '--tmpfs destination'), type: 'tmpfs', source: 'tmpfs', options: opts ? opts.split(',') : ['rw', 'nosuid', 'nodev', 'noexec'] });
  }
  for (const v of o.volumes ?? []) mounts.push(parseVolume(v));
  // A later mount at the same destination replaces an earlier one (user volumes over image volumes).
  for (const m of mounts) {
    spec.mounts = spec.mounts.filter((x) => x.destination !== m.destination);
    spec.mounts.push(m);
  }

  if (o.network === 'host') spec.linux.namespaces = spec.linux.namespaces.filter((n) => n.type !== 'network');
  if (o.rootless) makeRootless(spec);
  return { spec, warnings };
}
