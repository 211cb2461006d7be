// HTTP for one registry endpoint (distribution-spec): scheme choice (HTTPS, plain HTTP for loopback and insecure
// registries), TLS trust (system CAs + /etc/docker/certs.d/<host>), proxies from the environment, authentication,
// manual redirects that never carry Authorization to another host, retries with backoff, and errors with codes.

import './wasm-tier.js';
import { readFileSync, readdirSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { rootCertificates } from 'node:tls';
import { type Dispatcher, EnvHttpProxyAgent, request } from 'undici';
import { TsociError, errnoCode, isRetryable, isTsociError } from '../errors.js';
import { Authenticator, type Challenge, parseChallenges } from './auth.js';
import { type Credentials, getCredentials } from './credentials.js';

export interface ClientOptions {
  /** Hosts (host[:port]) reached over plain HTTP or unverified HTTPS, besides loopback. */
  insecureRegistries?: string[];
  /** Where per-registry CA and client certificates live. @default /etc/docker/certs.d */
  certsDir?: string;
  /** How long a connection may stall (no headers, or no body bytes) before it fails. @default 30000 */
  timeoutMs?: number;
  /** Retries of a request after a transient failure. @default 3 */
  retries?: number;
  /** Looks up credentials for a registry; defaults to docker's config.json. */
  credentials?: (registry: string) => Promise<Credentials | undefined>;
  userAgent?: string;
}

export interface Endpoint {
  /** host[:port] to connect to, e.g. registry-1.docker.io or 127.0.0.1:5000. */
  host: string;
  /** The name credentials are stored under (docker.io for Docker Hub). */
  credsName: string;
}

export interface Response {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
  url: URL;
}

const SYSTEM_CA_FILES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt'];
const TLS_CODES = /^(CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|ERR_TLS_|ERR_SSL_|EPROTO$|HOSTNAME_MISMATCH)/;

export function hostIsLoopback(host: string): boolean {
  let h = host;
  if (h.startsWith('[')) h = h.slice(1, h.indexOf(']'));
  else if (h.split(':').length === 2) h = h.split(':')[0]!;
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1';
  return false;
}

function header(res: { headers: Record<string, string | string[] | undefined> }, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function retryAfterMs(v: string | undefined): number | undefined {
  if (!v) return undefined;
  const secs = Number(v);
  const ms = Number.isFinite(secs) ? secs * 1000 : Date.parse(v) - Date.now();
  return Number.isFinite(ms) ? Math.min(Math.max(ms, 0), 60_000) : undefined;
}

let systemCAs: string[] | undefined;
/**
 * Node's bundled roots, the distribution's CA bundle, and the file NODE_EXTRA_CA_CERTS names. Node itself drops
 * the last when a CA list is given (and bin/tsoci keeps Node from parsing it at start-up), so it is read here.
 */
function loadSystemCAs(): string[] {
  if (!systemCAs) {
    systemCAs = [...rootCertificates];
    for (const f of SYSTEM_CA_FILES) {
      try {
        systemCAs.push(readFileSync(f, 'utf8'));
        break;
      } catch {
        /* not on this distribution */
      }
    }
    const extra = process.env.NODE_EXTRA_CA_CERTS;
    if (extra) {
      try {
        systemCAs.push(readFileSync(extra, 'utf8'));
      } catch (e) {
        // What Node says of a file it cannot load.
        process.emitWarning(`Ignoring extra certs from \`${extra}\`, load failed: ${(e as Error).message}`);
      }
    }
  }
  return systemCAs;
}

/** TLS options for `host`: system CAs plus certs.d's *.crt, and a client certificate from *.cert/*.key. */
function tlsOptions(host: string, certsDir: string, verify: boolean): Record<string, unknown> {
  const ca = [...loadSystemCAs()];
  const opts: Record<string, unknown> = { rejectUnauthorized: verify };
  let files: string[] = [];
  const dir = path.join(certsDir, host);
  try {
    files = readdirSync(dir);
  } catch {
    /* no per-host certificates */
  }
  for (const f of files) {
    if (f.endsWith('.crt')) ca.push(readFileSync(path.join(dir, f), 'utf8'));
    if (f.endsWith('.cert')) {
      const key = path.join(dir, f.replace(/\.cert$/, '.key'));
      opts.cert = readFileSync(path.join(dir, f), 'utf8');
      opts.key = readFileSync(key, 'utf8');
    }
  }
  opts.ca = ca;
  return opts;
}

export class RegistryClient {
  private scheme: 'https' | 'http' | undefined;
  private auth: Authenticator | undefined;
  private dispatcher: Dispatcher | undefined;
  private readonly insecure: boolean;
  private readonly opts: Required<Omit<ClientOptions, 'insecureRegistries'>>;

  constructor(readonly endpoint: Endpoint, opts: ClientOptions = {}) {
    this.insecure = hostIsLoopback(endpoint.host) || (opts.insecureRegistries ?? []).some((h) => h === endpoint.host || h === endpoint.credsName);
    this.opts = {
      certsDir: opts.certsDir ?? '/etc/docker/certs.d',
      timeoutMs: opts.timeoutMs ?? 30_000,
      retries: opts.retries ?? 3,
      credentials: opts.credentials ?? getCredentials,
      userAgent: opts.userAgent ?? 'tsoci',
    };
  }

  get name(): string {
    return this.endpoint.credsName;
  }

  private getDispatcher(verify: boolean): Dispatcher {
    if (!this.dispatcher) {
      const tls = tlsOptions(this.endpoint.host, this.opts.certsDir, verify);
      this.dispatcher = new EnvHttpProxyAgent({
        connect: tls,
        requestTls: tls,
        // Plain-HTTP registries go through an HTTP proxy as absolute-URI requests (as curl does); HTTPS tunnels.
        proxyTunnel: false,
        headersTimeout: this.opts.timeoutMs,
        bodyTimeout: this.opts.timeoutMs,
        connectTimeout: Math.min(this.opts.timeoutMs, 30_000),
        keepAliveTimeout: 10_000,
        connections: 16,
      } as EnvHttpProxyAgent.Options);
    }
    return this.dispatcher;
  }

  async close(): Promise<void> {
    await this.dispatcher?.close();
    this.dispatcher = undefined;
  }

  private connectionError(e: unknown, url: URL): TsociError {
    if (isTsociError(e)) return e;
    const code = errnoCode(e) ?? '';
    const causeCode = errnoCode((e as { cause?: unknown }).cause) ?? '';
    const c = TLS_CODES.test(code) ? code : causeCode;
    if (TLS_CODES.test(c)) {
      return new TsociError('TLS_ERROR', `TLS failure talking to ${this.endpoint.host} (${c})`, {
        cause: e,
        hint: `put the registry's CA certificate in ${path.join(this.opts.certsDir, this.endpoint.host, 'ca.crt')}, or pass --insecure-registry ${this.endpoint.host} if it serves plain HTTP`,
      });
    }
    if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
      // Name the host that stalled: the registry, or the token service or blob store it sent us to.
      const who = url.host === this.endpoint.host ? this.endpoint.host : `${url.host} (to which ${this.endpoint.host} sent us)`;
      return new TsociError('TIMEOUT', `${who} did not answer within ${Math.round(this.opts.timeoutMs / 1000)} s`, {
        cause: e,
        retryable: true,
        hint: 'check the network or raise --timeout',
      });
    }
    if (isRetryable(e)) return new TsociError('REGISTRY_UNREACHABLE', `connection to ${url.host} failed (${code || 'network error'})`, { cause: e, retryable: true });
    return new TsociError('REGISTRY_UNREACHABLE', `cannot reach registry ${this.endpoint.host} (${code || (e as Error).message})`, {
      cause: e,
      hint: 'check the host name and port, and that the registry is running',
    });
  }

  /** Decides the scheme and learns the authentication challenge from GET /v2/. */
  async ping(signal?: AbortSignal): Promise<void> {
    if (this.auth) return;
    const schemes: ('https' | 'http')[] = hostIsLoopback(this.endpoint.host) ? ['http'] : this.insecure ? ['https', 'http'] : ['https'];
    let lastErr: unknown;
    for (const scheme of schemes) {
      const url = new URL(`${scheme}://${this.endpoint.host}/v2/`);
      try {
        const res = await this.withRetry(() => this.raw(url, { method: 'GET', headers: {}, signal }, !this.insecure));
        await res.body.dump();
        if (res.status !== 200 && res.status !== 401) {
          throw new TsociError('REGISTRY_ERROR', `${this.endpoint.host} answered HTTP ${res.status} to /v2/: it may not be a registry`);
        }
        this.scheme = scheme;
        const creds = await this.opts.credentials(this.endpoint.credsName);
        const chs = res.status === 401 ? parseChallenges(res.headers['www-authenticate']) : [];
        const ch: Challenge | undefined = chs.find((c) => c.scheme === 'bearer') ?? chs.find((c) => c.scheme === 'basic');
        this.auth = new Authenticator(this.endpoint.credsName, ch, creds, (u, init) => this.fetchToken(u, init));
        return;
      } catch (e) {
        lastErr = e;
        // Next scheme only when HTTPS itself failed (insecure registries speaking plain HTTP).
      }
    }
    throw this.connectionError(lastErr, new URL(`https://${this.endpoint.host}/v2/`));
  }

  private async fetchToken(url: URL, init: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string }): Promise<{ status: number; json: unknown }> {
    if (url.protocol === 'http:' && !hostIsLoopback(url.host) && url.host !== this.endpoint.host) {
      throw new TsociError('UNAUTHORIZED', `${this.endpoint.host} sent a token realm over plain HTTP on another host (${url.host}); refusing to send credentials there`);
    }
    const res = await this.withRetry(() => this.raw(url, { ...init, headers: { ...init.headers } }, true));
    const text = await readCapped(res.body, 1 << 20, 'token response');
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      if (res.status === 200) throw new TsociError('UNAUTHORIZED', `the token service of ${this.endpoint.host} returned invalid JSON`);
    }
    return { status: res.status, json };
  }

  private async raw(url: URL, init: { method: string; headers: Record<string, string>; body?: string; signal?: AbortSignal | undefined }, verify = true): Promise<Response> {
    const headers = { 'user-agent': this.opts.userAgent, ...init.headers };
    try {
      const res = await request(url, {
        dispatcher: this.getDispatcher(verify),
        method: init.method as Dispatcher.HttpMethod,
        headers,
        body: init.body,
        signal: init.signal,
      });
      return { status: res.statusCode, headers: res.headers, body: res.body, url };
    } catch (e) {
      throw this.connectionError(e, url);
    }
  }

  /** Retries `fn` on transient failures with exponential backoff, honouring Retry-After. */
  async withRetry<T>(fn: () => Promise<T>, retries = this.opts.retries): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        // A host that did not answer in time gets one more chance, not several: each costs a whole timeout.
        if (attempt >= retries || !isRetryable(e) || (isTsociError(e, 'TIMEOUT') && attempt >= 1)) throw e;
        const wait = (isTsociError(e) && e.retryAfterMs) || Math.min(250 * 2 ** attempt, 4000) * (0.9 + Math.random() * 0.2);
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  /**
   * A request to `/v2/<path>` with authentication for `scope`, following redirects (Authorization only to the
   * registry's own host). Returns any status; transient failures and 5xx/408/429 throw retryable errors.
   */
  async request(p: string, init: { method?: string; headers?: Record<string, string>; scope?: string; signal?: AbortSignal | undefined; what: string }): Promise<Response> {
    await this.ping(init.signal);
    return this.withRetry(() => this.requestOnce(p, init));
  }

  private async requestOnce(p: string, init: { method?: string; headers?: Record<string, string>; scope?: string; signal?: AbortSignal | undefined; what: string }): Promise<Response> {
    const method = init.method ?? 'GET';
    let url = new URL(`${this.scheme}://${this.endpoint.host}/v2/${p}`);
    let reauthed = false;
    for (let hop = 0; hop <= 10; hop++) {
      const sameHost = url.host === this.endpoint.host;
      const headers: Record<string, string> = { ...(init.headers ?? {}) };
      if (sameHost) {
        const a = await this.auth!.header(init.scope);
        if (a) headers.authorization = a;
      }
      const res = await this.raw(url, { method, headers, signal: init.signal }, !this.insecure || !sameHost);
      if ([301, 302, 303, 307, 308].includes(res.status)) {
        await res.body.dump();
        const loc = header(res, 'location');
        if (!loc) throw new TsociError('REGISTRY_ERROR', `${url.host} sent a redirect without a location for ${init.what}`);
        url = new URL(loc, url);
        continue;
      }
      if (res.status === 401 && sameHost && !reauthed) {
        // Token expired or scope changed: take the fresh challenge and ask again, once.
        reauthed = true;
        const chs = parseChallenges(res.headers['www-authenticate']);
        const ch = chs.find((c) => c.scheme === 'bearer') ?? chs.find((c) => c.scheme === 'basic');
        await res.body.dump();
        if (ch) this.auth!.setChallenge(ch);
        this.auth!.invalidate(init.scope);
        continue;
      }
      if (res.status >= 500 || res.status === 408 || res.status === 429) {
        const body = await readCapped(res.body, 64 << 10, 'error body').catch(() => '');
        throw new TsociError(
          res.status === 429 ? 'TOO_MANY_REQUESTS' : 'REGISTRY_ERROR',
          res.status === 429 ? `${this.endpoint.host} is rate limiting requests (HTTP 429) for ${init.what}` : `${url.host} answered HTTP ${res.status} for ${init.what}${registryErrorText(body)}`,
          { retryable: true, retryAfterMs: retryAfterMs(header(res, 'retry-after')), hint: res.status === 429 ? 'wait and retry, or log in to get a higher limit' : 'retry later' },
        );
      }
      return res;
    }
    throw new TsociError('REGISTRY_ERROR', `too many redirects for ${init.what}`);
  }

  /** Turns a non-success response into a TsociError naming what was asked for. */
  async fail(res: Response, what: string): Promise<never> {
    const body = await readCapped(res.body, 64 << 10, 'error body').catch(() => '');
    const codes = registryErrorCodes(body);
    const detail = registryErrorText(body);
    if (res.status === 401) {
      throw new TsociError('UNAUTHORIZED', `not authorized to read ${what} from ${this.endpoint.credsName}${detail}`, {
        hint: `check the name, or log in: tsoci login ${this.endpoint.credsName}`,
      });
    }
    if (res.status === 403 || codes.includes('DENIED')) {
      throw new TsociError('DENIED', `access to ${what} denied by ${this.endpoint.credsName}${detail}`, { hint: `check your permissions, or log in: tsoci login ${this.endpoint.credsName}` });
    }
    if (res.status === 404) {
      if (codes.includes('NAME_UNKNOWN')) throw new TsociError('NAME_UNKNOWN', `repository for ${what} not found on ${this.endpoint.credsName}`, { hint: 'check the repository name' });
      if (codes.includes('BLOB_UNKNOWN')) throw new TsociError('BLOB_UNKNOWN', `${what} not found on ${this.endpoint.credsName}`);
      throw new TsociError('MANIFEST_UNKNOWN', `${what} not found on ${this.endpoint.credsName}`, { hint: 'check the tag or digest (tsoci pull NAME:TAG)' });
    }
    throw new TsociError('REGISTRY_ERROR', `${this.endpoint.credsName} answered HTTP ${res.status} for ${what}${detail}`);
  }
}

function registryErrorCodes(body: string): string[] {
  try {
    const j = JSON.parse(body) as { errors?: { code?: string }[] };
    return (j.errors ?? []).map((e) => String(e.code ?? ''));
  } catch {
    return [];
  }
}

function registryErrorText(body: string): string {
  try {
    const j = JSON.parse(body) as { errors?: { code?: string; message?: string }[] };
    const e = j.errors?.[0];
    return e ? `: ${e.message ?? e.code}`.slice(0, 200) : '';
  } catch {
    return '';
  }
}

/** Reads a whole (small) body as text, refusing more than `max` bytes. */
export async function readCapped(body: AsyncIterable<Uint8Array> & { destroy?: () => void }, max: number, what: string): Promise<string> {
  return (await readCappedBytes(body, max, what)).toString('utf8');
}

export async function readCappedBytes(body: AsyncIterable<Uint8Array> & { destroy?: () => void }, max: number, what: string): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const c of body) {
    n += c.length;
    if (n > max) {
      body.destroy?.();
      throw new TsociError('MANIFEST_TOO_LARGE', `${what} is larger than ${max} bytes; refusing to read it`);
    }
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}
