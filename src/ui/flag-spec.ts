// Flags as plain data: the one definition that both oclif (help, manifest, parsing) and the lean parser of the
// fast path (tsoci run without loading oclif) are built from.

export interface FlagSpec {
  type: 'boolean' | 'string' | 'integer';
  char?: string;
  multiple?: boolean;
  default?: string | boolean | number;
  options?: string[];
  min?: number;
  env?: string;
  description: string;
  helpGroup?: string;
}

export type FlagSpecs = Record<string, FlagSpec>;

export const globalSpecs = {
  root: { type: 'string', env: 'TSOCI_ROOT', helpGroup: 'GLOBAL', description: 'store directory [default: /var/lib/tsoci as root, else $XDG_DATA_HOME/tsoci]' },
  debug: { type: 'boolean', helpGroup: 'GLOBAL', description: 'print stack traces of errors' },
} satisfies FlagSpecs;

export const registrySpecs = {
  'insecure-registry': { type: 'string', multiple: true, description: 'registry host[:port] to reach over plain HTTP (repeatable; also TSOCI_INSECURE_REGISTRIES)' },
  timeout: { type: 'integer', min: 1, description: 'seconds a registry connection may stall before it fails [default: 30]' },
} satisfies FlagSpecs;

export const containerSpecs = {
  entrypoint: { type: 'string', description: 'replace the image Entrypoint (a single executable; clears the image Cmd)' },
  env: { type: 'string', char: 'e', multiple: true, description: 'set NAME=VALUE (or pass NAME from this environment)' },
  'env-file': { type: 'string', multiple: true, description: 'read NAME=VALUE lines from a file' },
  workdir: { type: 'string', char: 'w', description: 'working directory inside the container' },
  user: { type: 'string', char: 'u', description: 'user[:group], names or ids, resolved in the image' },
  hostname: { type: 'string', description: 'container host name' },
  volume: { type: 'string', char: 'v', multiple: true, description: 'bind mount SRC:DST[:ro]' },
  tmpfs: { type: 'string', multiple: true, description: 'tmpfs mount DST[:options]' },
  tty: { type: 'boolean', char: 't', description: 'allocate a terminal' },
  'read-only': { type: 'boolean', description: 'mount the rootfs read-only' },
  platform: { type: 'string', description: 'os/arch[/variant] of a multi-platform image [default: this host]' },
} satisfies FlagSpecs;

export const runSpecs = {
  ...registrySpecs,
  ...containerSpecs,
  name: { type: 'string', description: 'container name (unique)' },
  rm: { type: 'boolean', description: 'remove the container (state, mounts, upper dir) when it exits' },
  detach: { type: 'boolean', char: 'd', description: 'run in the background and print the container ID' },
  interactive: { type: 'boolean', char: 'i', description: 'keep stdin open' },
  network: { type: 'string', options: ['none', 'host'], default: 'none', description: 'none: own network namespace with loopback; host: the host network' },
  pull: { type: 'string', options: ['missing', 'always', 'never'], default: 'missing', description: 'pull the image: missing, always or never' },
  runtime: { type: 'string', default: 'runc', description: 'OCI runtime binary' },
} satisfies FlagSpecs;

export const pullSpecs = {
  ...registrySpecs,
  platform: { type: 'string', description: 'os/arch[/variant] to pick from a multi-platform image [default: this host]' },
  concurrency: { type: 'integer', default: 4, min: 1, description: 'blobs downloaded at once' },
  quiet: { type: 'boolean', char: 'q', description: 'print only the final "<ref> <digest>" line' },
  unpack: { type: 'boolean', description: 'also extract each layer into its snapshot while it downloads (bundle and run do so on a cold store)' },
} satisfies FlagSpecs;

export const bundleSpecs = {
  ...registrySpecs,
  ...containerSpecs,
  copy: { type: 'boolean', description: 'flattened copy of the layers instead of an overlay mount' },
  rootless: { type: 'boolean', description: 'config for rootless runc (like runc spec --rootless)' },
} satisfies FlagSpecs;

export type ParsedFlags = Record<string, string | boolean | number | string[] | undefined>;

/**
 * Parses `argv` against `specs` the way docker does for run: flags until the first positional, everything after
 * it is positional. Returns undefined for anything it does not handle (help, unknown flags, bad values), so that
 * the caller falls back to the full parser and its messages.
 */
export function parseLean(argv: string[], specs: FlagSpecs): { flags: ParsedFlags; positionals: string[] } | undefined {
  const byChar = new Map<string, string>();
  for (const [name, s] of Object.entries(specs)) if (s.char) byChar.set(s.char, name);
  const flags: ParsedFlags = {};
  const set = (name: string, raw: string | true): boolean => {
    const s = specs[name];
    if (!s) return false;
    if (s.type === 'boolean') {
      if (raw !== true) return false;
      flags[name] = true;
      return true;
    }
    if (raw === true) return false;
    let v: string | number = raw;
    if (s.type === 'integer') {
      if (!/^-?\d+$/.test(raw)) return false;
      v = Number(raw);
      if (s.min !== undefined && v < s.min) return false;
    }
    if (s.options && !s.options.includes(String(v))) return false;
    if (s.multiple) flags[name] = [...((flags[name] as string[] | undefined) ?? []), String(v)];
    else flags[name] = v;
    return true;
  };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (a === '--help' || a === '-h') return undefined;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      const s = specs[name];
      if (!s) return undefined;
      if (s.type === 'boolean') {
        if (eq > 0 || !set(name, true)) return undefined;
      } else {
        const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
        if (v === undefined || !set(name, v)) return undefined;
      }
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      // -it, -e X, -eX
      for (let j = 1; j < a.length; j++) {
        const name = byChar.get(a[j]!);
        if (!name) return undefined;
        if (specs[name]!.type === 'boolean') {
          if (!set(name, true)) return undefined;
          continue;
        }
        const v = j + 1 < a.length ? a.slice(j + 1) : argv[++i];
        if (v === undefined || !set(name, v)) return undefined;
        break;
      }
      continue;
    }
    break;
  }
  for (const [name, s] of Object.entries(specs)) {
    if (flags[name] === undefined && s.env && process.env[s.env]) flags[name] = process.env[s.env];
    if (flags[name] === undefined && s.default !== undefined) flags[name] = s.default;
  }
  return { flags, positionals: argv.slice(i) };
}
