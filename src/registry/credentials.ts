// Registry credentials in docker's config.json ($DOCKER_CONFIG/config.json or ~/.docker/config.json):
// `auths`, `credsStore` and per-host `credHelpers` (docker-credential-<name> get/store/erase), as docker reads
// and writes them. Secrets never leave this module except as request headers built by auth.ts.

import { spawn } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TsociError, errnoCode } from '../errors.js';
import { writeFileAtomic } from '../layout/atomic.js';
import { DOCKER_HUB, DOCKER_HUB_AUTH_KEY } from './reference.js';

export interface Credentials {
  username?: string;
  password?: string;
  /** An OAuth2 refresh token (docker's `identitytoken`; a helper's Secret when Username is `<token>`). */
  identityToken?: string;
  /** A bearer token sent as is (docker's `registrytoken`). */
  registryToken?: string;
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  registrytoken?: string;
}

interface DockerConfig {
  auths?: Record<string, AuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [k: string]: unknown;
}

export function dockerConfigPath(): string {
  const dir = process.env.DOCKER_CONFIG || path.join(os.homedir(), '.docker');
  return path.join(dir, 'config.json');
}

async function readDockerConfig(): Promise<DockerConfig> {
  if (process.env.DOCKER_AUTH_CONFIG) {
    try {
      return JSON.parse(process.env.DOCKER_AUTH_CONFIG) as DockerConfig;
    } catch {
      throw new TsociError('CREDENTIALS', 'DOCKER_AUTH_CONFIG is not valid JSON');
    }
  }
  try {
    return JSON.parse(await readFile(dockerConfigPath(), 'utf8')) as DockerConfig;
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return {};
    throw new TsociError('CREDENTIALS', `${dockerConfigPath()} is not valid JSON`, { hint: 'fix or remove the file' });
  }
}

/** The config.json key docker uses for a registry (Docker Hub has its historic URL). */
export function authKey(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_AUTH_KEY : registry;
}

function candidateKeys(registry: string): string[] {
  const keys = registry === DOCKER_HUB ? [DOCKER_HUB_AUTH_KEY, 'index.docker.io', 'docker.io', 'registry-1.docker.io'] : [registry];
  return keys.flatMap((k) => (k.includes('://') ? [k] : [k, `https://${k}`, `http://${k}`, `https://${k}/v1/`, `https://${k}/v2/`]));
}

function fromEntry(e: AuthEntry): Credentials | undefined {
  if (e.identitytoken) return { identityToken: e.identitytoken };
  if (e.registrytoken) return { registryToken: e.registrytoken };
  if (e.auth) {
    const s = Buffer.from(e.auth, 'base64').toString('utf8');
    const i = s.indexOf(':');
    if (i > 0) return { username: s.slice(0, i), password: s.slice(i + 1) };
  }
  if (e.username && e.password) return { username: e.username, password: e.password };
  return undefined;
}

function helperFor(cfg: DockerConfig, registry: string): string | undefined {
  for (const k of candidateKeys(registry)) if (cfg.credHelpers?.[k]) return cfg.credHelpers[k];
  return cfg.credsStore || undefined;
}

function runHelper(name: string, verb: 'get' | 'store' | 'erase', input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const bin = `docker-credential-${name}`;
    const child = spawn(bin, [verb], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.resume();
    child.on('error', (e) =>
      reject(new TsociError('CREDENTIALS', `credential helper ${bin} could not be run (${errnoCode(e) ?? 'error'})`, { hint: `install ${bin} or remove it from ${dockerConfigPath()}` })),
    );
    child.on('close', (code) => {
      // A helper's output may hold the secret: never quote it in an error.
      if (code === 0) resolve(out);
      else if (verb === 'get' && /credentials not found/i.test(out)) resolve('');
      else reject(new TsociError('CREDENTIALS', `credential helper ${bin} ${verb} failed with exit code ${code}`));
    });
    child.stdin.end(input);
  });
}

/** Credentials for `registry` (as written in references, e.g. `docker.io`, `localhost:5000`), or undefined. */
export async function getCredentials(registry: string): Promise<Credentials | undefined> {
  const cfg = await readDockerConfig();
  const helper = helperFor(cfg, registry);
  if (helper) {
    const out = await runHelper(helper, 'get', authKey(registry));
    if (out.trim()) {
      const r = JSON.parse(out) as { Username?: string; Secret?: string };
      if (r.Username === '<token>') return { identityToken: r.Secret ?? '' };
      if (r.Secret) return { username: r.Username ?? '', password: r.Secret };
    }
  }
  for (const k of candidateKeys(registry)) {
    const e = cfg.auths?.[k];
    if (e) {
      const c = fromEntry(e);
      if (c) return c;
    }
  }
  return undefined;
}

/** Stores credentials the way docker login does: through the configured helper, else base64 in `auths`. */
export async function storeCredentials(registry: string, creds: { username: string; password: string }): Promise<string> {
  if (process.env.DOCKER_AUTH_CONFIG) throw new TsociError('CREDENTIALS', 'DOCKER_AUTH_CONFIG is set; it cannot be written to', { hint: 'unset it to log in' });
  const cfg = await readDockerConfig();
  const helper = helperFor(cfg, registry);
  const key = authKey(registry);
  if (helper) {
    await runHelper(helper, 'store', JSON.stringify({ ServerURL: key, Username: creds.username, Secret: creds.password }));
    cfg.auths = { ...(cfg.auths ?? {}), [key]: {} };
  } else {
    cfg.auths = { ...(cfg.auths ?? {}), [key]: { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') } };
  }
  await writeConfig(cfg);
  return dockerConfigPath();
}

/** Removes stored credentials; returns false when there were none. */
export async function eraseCredentials(registry: string): Promise<boolean> {
  if (process.env.DOCKER_AUTH_CONFIG) throw new TsociError('CREDENTIALS', 'DOCKER_AUTH_CONFIG is set; it cannot be written to', { hint: 'unset it to log out' });
  const cfg = await readDockerConfig();
  const helper = helperFor(cfg, registry);
  let found = false;
  if (helper) {
    found = (await runHelper(helper, 'get', authKey(registry))).trim() !== '';
    if (found) await runHelper(helper, 'erase', authKey(registry));
  }
  for (const k of candidateKeys(registry)) {
    if (cfg.auths?.[k]) {
      delete cfg.auths[k];
      found = true;
    }
  }
  if (found) await writeConfig(cfg);
  return found;
}

async function writeConfig(cfg: DockerConfig): Promise<void> {
  const file = dockerConfigPath();
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFileAtomic(file, JSON.stringify(cfg, null, '\t') + '\n', 0o600);
}
