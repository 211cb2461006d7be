// Registry authentication as docker does it: WWW-Authenticate challenges, Bearer tokens per scope (anonymous or
// with credentials, OAuth2 refresh for identity tokens) cached until they expire, and Basic.

import { TsociError } from '../errors.js';
import type { Credentials } from './credentials.js';

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses a WWW-Authenticate value: `Bearer realm="...",service="...",scope="a:b:pull,push"` (quoted commas kept). */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  const values = Array.isArray(header) ? header : header ? [header] : [];
  const out: Challenge[] = [];
  for (const value of values) {
    let s = value.trim();
    while (s) {
      const m = /^([A-Za-z][\w-]*)\s*/.exec(s);
      if (!m) break;
      const ch: Challenge = { scheme: m[1]!.toLowerCase(), params: {} };
      s = s.slice(m[0].length);
      // key=value or key="quoted" pairs, comma separated; a bare token starts the next challenge.
      for (;;) {
        const kv = /^([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?\s*/.exec(s);
        if (!kv) break;
        ch.params[kv[1]!.toLowerCase()] = kv[2] !== undefined ? kv[2].replace(/\\(.)/g, '$1') : kv[3]!;
        s = s.slice(kv[0].length);
      }
      out.push(ch);
      s = s.replace(/^[\s,]+/, '');
    }
  }
  return out;
}

export function basicHeader(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username ?? ''}:${c.password ?? ''}`).toString('base64')}`;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** What the token endpoint answered (distribution auth/token.md). */
interface TokenResponse {
  token?: string;
  access_token?: string;
  expires_in?: number;
  issued_at?: string;
}

export type TokenFetcher = (url: URL, init: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string }) => Promise<{ status: number; json: unknown }>;

/**
 * Holds a registry's challenge and credentials and gives the Authorization header for a scope.
 * Tokens are cached per scope until 30 s before they expire, and dropped by `invalidate` after a 401.
 */
export class Authenticator {
  private tokens = new Map<string, CachedToken>();

  constructor(
    readonly registry: string,
    private challenge: Challenge | undefined,
    private readonly creds: Credentials | undefined,
    private readonly fetchToken: TokenFetcher,
  ) {}

  get scheme(): string | undefined {
    return this.challenge?.scheme;
  }

  setChallenge(c: Challenge): void {
    this.challenge = c;
  }

  /** The Authorization header value for `scope` (e.g. `repository:library/alpine:pull`), or undefined. */
  async header(scope: string | undefined): Promise<string | undefined> {
    const ch = this.challenge;
    if (this.creds?.registryToken) return `Bearer ${this.creds.registryToken}`;
    if (!ch) return undefined;
    if (ch.scheme === 'basic') {
      if (!this.creds?.username) {
        throw new TsociError('UNAUTHORIZED', `${this.registry} requires a user name and password`, { hint: `run: tsoci login ${this.registry}` });
      }
      return basicHeader(this.creds);
    }
    if (ch.scheme !== 'bearer') throw new TsociError('UNAUTHORIZED', `${this.registry} asks for unsupported authentication "${ch.scheme}"`);
    const key = scope ?? '';
    const hit = this.tokens.get(key);
    if (hit && hit.expiresAt > Date.now()) return `Bearer ${hit.token}`;
    const t = await this.requestToken(ch, scope);
    this.tokens.set(key, t);
    return `Bearer ${t.token}`;
  }

  /** Forgets the token for `scope` (after the registry refused it). */
  invalidate(scope: string | undefined): void {
    this.tokens.delete(scope ?? '');
  }

  private async requestToken(ch: Challenge, scope: string | undefined): Promise<CachedToken> {
    const realm = ch.params.realm;
    if (!realm) throw new TsociError('UNAUTHORIZED', `${this.registry} sent a Bearer challenge without a realm`);
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new TsociError('UNAUTHORIZED', `${this.registry} sent an invalid token realm`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TsociError('UNAUTHORIZED', `${this.registry} sent a token realm that is not http(s)`);
    const service = ch.params.service;
    const scopes = [...new Set([scope, ch.params.scope].filter((s): s is string => !!s))];
    const c = this.creds;
    let res: { status: number; json: unknown };
    if (c?.identityToken) {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: c.identityToken, client_id: 'tsoci' });
      if (service) form.set('service', service);
      if (scopes.length) form.set('scope', scopes.join(' '));
      res = await this.fetchToken(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() });
    } else {
      if (service) url.searchParams.set('service', service);
      for (const s of scopes) url.searchParams.append('scope', s);
      if (c?.username) url.searchParams.set('account', c.username);
      res = await this.fetchToken(url, { method: 'GET', headers: c?.username ? { authorization: basicHeader(c) } : {} });
    }
    if (res.status === 401 || res.status === 403) {
      throw new TsociError('UNAUTHORIZED', c ? `${this.registry} rejected the stored credentials` : `${this.registry} requires authentication`, {
        hint: `run: tsoci login ${this.registry}`,
      });
    }
    if (res.status >= 500 || res.status === 429) throw new TsociError('REGISTRY_ERROR', `the token service of ${this.registry} answered HTTP ${res.status}`, { retryable: true });
    if (res.status !== 200) throw new TsociError('UNAUTHORIZED', `the token service of ${this.registry} answered HTTP ${res.status}`);
    const body = res.json as TokenResponse;
    const token = body?.token ?? body?.access_token;
    if (typeof token !== 'string' || !token) throw new TsociError('UNAUTHORIZED', `the token service of ${this.registry} returned no token`);
    const ttl = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60;
    const issued = body.issued_at ? Date.parse(body.issued_at) : NaN;
    const start = Number.isFinite(issued) && issued < Date.now() + 60_000 ? issued : Date.now();
    return { token, expiresAt: start + Math.max(ttl - 30, ttl / 2) * 1000 };
  }
}
