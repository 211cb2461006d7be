// Where tsoci keeps its store and what the user configured: --root / TSOCI_ROOT, the config file
// (ROOT/config.json, else ~/.config/tsoci/config.json) and TSOCI_INSECURE_REGISTRIES.

import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TsociError, errnoCode } from './errors.js';

export interface Settings {
  root: string;
  /** Hosts reached over plain HTTP (or unverified HTTPS) besides loopback. */
  insecureRegistries: string[];
  /** Mirrors of docker.io, tried in order before it. */
  registryMirrors: string[];
  /** Per-registry certificates. @default /etc/docker/certs.d */
  certsDir: string | undefined;
  /** Stall timeout of registry connections in ms. @default 30000 */
  timeoutMs: number | undefined;
  /** The config file that was read, if any. */
  configFile: string | undefined;
}

interface ConfigFile {
  insecureRegistries?: string[];
  registryMirrors?: string[];
  certsDirectory?: string;
  timeout?: number;
}

export function defaultRoot(): string {
  if (process.env.TSOCI_ROOT) return path.resolve(process.env.TSOCI_ROOT);
  if (process.getuid?.() === 0) return '/var/lib/tsoci';
  return path.join(process.env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share'), 'tsoci');
}

function userConfigFile(): string {
  return path.join(process.env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config'), 'tsoci', 'config.json');
}

async function readConfig(file: string): Promise<ConfigFile | undefined> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const c = JSON.parse(text) as ConfigFile;
    for (const k of ['insecureRegistries', 'registryMirrors'] as const) {
      if (c[k] !== undefined && !(Array.isArray(c[k]) && c[k]!.every((x) => typeof x === 'string'))) throw new Error(`${k} must be a list of strings`);
    }
    return c;
  } catch (e) {
    throw new TsociError('INVALID_ARGUMENT', `config file ${file} is invalid: ${(e as Error).message}`, { hint: 'fix the JSON or remove the file' });
  }
}

export async function loadSettings(flags: { root?: string | undefined; insecureRegistry?: string[] | undefined; timeout?: number | undefined } = {}): Promise<Settings> {
  const root = flags.root ? path.resolve(flags.root) : defaultRoot();
  let configFile: string | undefined;
  let cfg: ConfigFile = {};
  for (const f of [path.join(root, 'config.json'), userConfigFile()]) {
    const c = await readConfig(f);
    if (c) {
      cfg = c;
      configFile = f;
      break;
    }
  }
  const fromEnv = (process.env.TSOCI_INSECURE_REGISTRIES ?? '').split(/[,\s]+/).filter(Boolean);
  return {
    root,
    insecureRegistries: [...new Set([...(cfg.insecureRegistries ?? []), ...fromEnv, ...(flags.insecureRegistry ?? [])])],
    registryMirrors: cfg.registryMirrors ?? [],
    certsDir: cfg.certsDirectory,
    timeoutMs: flags.timeout !== undefined ? flags.timeout * 1000 : cfg.timeout !== undefined ? cfg.timeout * 1000 : undefined,
    configFile,
  };
}
