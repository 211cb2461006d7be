// Image references: parsing and docker's normalization (`alpine` -> `docker.io/library/alpine:latest`).

import { TsociError } from '../errors.js';
import { type Digest, isDigest } from '../oci/digest.js';

export const DOCKER_HUB = 'docker.io';
/** The host that serves docker.io's registry API. */
export const DOCKER_HUB_API = 'registry-1.docker.io';
/** The key docker stores Docker Hub credentials under in config.json. */
export const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const PORT = /^[0-9]+$/;

export class Reference {
  constructor(
    /** Registry host as users write it, e.g. `docker.io`, `localhost:5000`. */
    readonly registry: string,
    /** Repository path, e.g. `library/alpine`. */
    readonly repository: string,
    /** The tag, absent when the reference names a digest. */
    readonly tag: string | undefined,
    readonly digest: Digest | undefined,
  ) {}

  /** Full normalized form: `docker.io/library/alpine:latest` or `host/repo@sha256:...`. */
  toString(): string {
    const base = `${this.registry}/${this.repository}`;
    if (this.digest) return `${base}@${this.digest}`;
    return `${base}:${this.tag ?? 'latest'}`;
  }

  /** The name without tag or digest: `docker.io/library/alpine`. */
  get name(): string {
    return `${this.registry}/${this.repository}`;
  }

  /** The short form docker prints: `alpine:latest`, `user/app:1`, `localhost:5000/x:y`. */
  familiar(): string {
    let repo = this.name;
    if (this.registry === DOCKER_HUB) repo = this.repository.startsWith('library/') && this.repository.split('/').length === 2 ? this.repository.slice(8) : this.repository;
    return this.digest ? `${repo}@${this.digest}` : `${repo}:${this.tag ?? 'latest'}`;
  }

  /** The tag or digest to ask the registry for. */
  get target(): string {
    return this.digest ?? this.tag ?? 'latest';
  }

  /** The host whose API serves this registry (docker.io is served by registry-1.docker.io). */
  get apiHost(): string {
    return this.registry === DOCKER_HUB ? DOCKER_HUB_API : this.registry;
  }

  withTarget(target: { tag?: string; digest?: Digest }): Reference {
    return new Reference(this.registry, this.repository, target.digest ? undefined : target.tag, target.digest);
  }
}

function bad(ref: string, why: string): TsociError {
  return new TsociError('INVALID_REFERENCE', `invalid reference "${ref}": ${why}`);
}

function validDomain(d: string): boolean {
  let host = d;
  let port: string | undefined;
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    if (end < 0) return false;
    port = host.slice(end + 1);
    host = host.slice(1, end);
    if (!/^[0-9a-fA-F:.]+$/.test(host)) return false;
    if (port && !(port.startsWith(':') && PORT.test(port.slice(1)))) return false;
    return true;
  }
  const i = host.lastIndexOf(':');
  if (i >= 0) {
    port = host.slice(i + 1);
    host = host.slice(0, i);
    if (!PORT.test(port)) return false;
  }
  return host.split('.').every((c) => DOMAIN_COMPONENT.test(c));
}

/** Parses and normalizes like docker. With both a tag and a digest, the digest decides and the tag is dropped. */
export function parseReference(input: string): Reference {
  const s = input.trim();
  if (!s) throw bad(input, 'empty');
  if (s.length > 512) throw bad(s.slice(0, 40) + '...', 'too long');
  let rest = s;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!isDigest(d)) throw bad(s, `malformed digest "${d}" (expected sha256:<64 lowercase hex digits>)`);
    digest = d;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(s, `invalid tag "${tag}" (letters, digits, _ . - only, at most 128, not starting with . or -)`);
  }
  if (!rest) throw bad(s, 'no repository name');
  let registry: string;
  let repository: string;
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())) {
    registry = first;
    repository = rest.slice(slash + 1);
    if (!validDomain(registry)) throw bad(s, `invalid registry host "${registry}"`);
  } else {
    registry = DOCKER_HUB;
    repository = rest;
  }
  if (registry === 'index.docker.io') registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  if (repository !== repository.toLowerCase()) throw bad(s, 'repository names must be lowercase');
  for (const c of repository.split('/')) {
    if (!COMPONENT.test(c)) throw bad(s, `invalid repository path component "${c}"`);
  }
  if (/^[a-f0-9]{64}$/.test(rest)) throw bad(s, 'a bare 64-hex-digit name is an image ID, not a reference');
  if (`${registry}/${repository}`.length > 255) throw bad(s, 'name longer than 255 characters');
  if (!digest && !tag) tag = 'latest';
  return new Reference(registry, repository, digest ? undefined : tag, digest);
}
