// A real CNCF distribution registry (Debian's docker-registry) on a free 127.0.0.1 port, with optional htpasswd
// or token auth (the token issuer runs here and signs JWTs the registry verifies), and a push client.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createSign, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import type { BuiltImage, Blob } from './images.js';

export const REGISTRY_BIN = process.env.TSOCI_TEST_REGISTRY_BIN ?? '/usr/bin/docker-registry';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface TokenIssuer {
  url: string;
  /** Requests the issuer has answered, for assertions (Authorization presence, scopes). */
  requests: { scope: string[]; authorized: boolean; user: string | undefined; method: string }[];
  /** A token granting `actions` on `repo`, signed like the issuer's. */
  mint(repo: string, actions: string[]): string;
  close(): Promise<void>;
}

export interface Registry {
  host: string;
  url: string;
  dir: string;
  user?: string;
  password?: string;
  issuer?: TokenIssuer;
  /** Authorization header for pushes to `repo`, when the registry needs one. */
  pushAuth(repo: string): string | undefined;
  stop(): Promise<void>;
}

export interface RegistryOptions {
  auth?: 'htpasswd' | 'token';
  user?: string;
  password?: string;
  /** TLS certificate and key files; the registry then serves HTTPS. */
  tls?: { cert: string; key: string };
  /** Seconds a token lives. @default 300 */
  tokenTtl?: number;
}

function b64url(b: Buffer | string): string {
  return Buffer.from(b).toString('base64url');
}

async function startIssuer(dir: string, service: string, user: string, password: string, ttl: number): Promise<{ issuer: TokenIssuer; certFile: string }> {
  const key = path.join(dir, 'token.key');
  const certFile = path.join(dir, 'token.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', certFile, '-days', '2', '-subj', '/CN=tsoci-test-issuer'], { stdio: 'ignore' });
  const der = execFileSync('openssl', ['x509', '-in', certFile, '-outform', 'DER']);
  const keyPem = readFileSync(key, 'utf8');
  const sign = (sub: string, access: { type: string; name: string; actions: string[] }[]) => {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'RS256', x5c: [der.toString('base64')] };
    const claims = { iss: 'tsoci-test-issuer', sub, aud: service, exp: now + ttl, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = createSign('RSA-SHA256').update(input).sign(keyPem);
    return `${input}.${b64url(sig)}`;
  };
  const requests: TokenIssuer['requests'] = [];
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const auth = req.headers.authorization;
    let who: string | undefined;
    let ok = false;
    if (auth?.startsWith('Basic ')) {
      const [u1, p1] = Buffer.from(auth.slice(6), 'base64').toString().split(':');
      who = u1;
      ok = u1 === user && p1 === password;
      if (!ok) {
        requests.push({ scope: u.searchParams.getAll('scope'), authorized: false, user: who, method: req.method ?? '' });
        res.writeHead(401).end('{"details":"bad credentials"}');
        return;
      }
    }
    const scopes = u.searchParams.getAll('scope');
    requests.push({ scope: scopes, authorized: ok, user: who, method: req.method ?? '' });
    // Authenticated users may pull and push; anonymous users get nothing (a private registry).
    const access = ok
      ? scopes.map((s) => {
          const [type, ...rest] = s.split(':');
          const actions = rest.pop()!.split(',');
          return { type: type!, name: rest.join(':'), actions };
        })
      : [];
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: sign(who ?? '', access), expires_in: ttl, issued_at: new Date().toISOString() }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/token`;
  return {
    certFile,
    issuer: {
      url,
      requests,
      mint: (repo, actions) => sign('pusher', [{ type: 'repository', name: repo, actions }]),
      close: () => new Promise((r) => server.close(() => r())),
    },
  };
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<Registry> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tsoci-registry-'));
  const port = await freePort();
  const user = opts.user ?? 'tsoci';
  const password = opts.password ?? 'secret-pass-123';
  let authYaml = '';
  let issuer: TokenIssuer | undefined;
  if (opts.auth === 'htpasswd') {
    const htpasswd = execFileSync('htpasswd', ['-Bbn', user, password]).toString();
    writeFileSync(path.join(dir, 'htpasswd'), htpasswd);
    authYaml = `auth:\n  htpasswd:\n    realm: tsoci-test\n    path: ${path.join(dir, 'htpasswd')}\n`;
  } else if (opts.auth === 'token') {
    const started = await startIssuer(dir, 'tsoci-test-registry', user, password, opts.tokenTtl ?? 300);
    issuer = started.issuer;
    authYaml = `auth:\n  token:\n    realm: ${issuer.url}\n    service: tsoci-test-registry\n    issuer: tsoci-test-issuer\n    rootcertbundle: ${started.certFile}\n`;
  }
  const tlsYaml = opts.tls ? `  tls:\n    certificate: ${opts.tls.cert}\n    key: ${opts.tls.key}\n` : '';
  const config = `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${path.join(dir, 'data')}
  delete:
    enabled: true
${authYaml}http:
  addr: 127.0.0.1:${port}
${tlsYaml}`;
  writeFileSync(path.join(dir, 'config.yml'), config);
  const child: ChildProcess = spawn(REGISTRY_BIN, ['serve', path.join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (c: Buffer) => (log += c.toString()));
  const scheme = opts.tls ? 'https' : 'http';
  const url = `${scheme}://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (up) break;
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`registry did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const reg: Registry = {
    host: `127.0.0.1:${port}`,
    url,
    dir,
    ...(opts.auth ? { user, password } : {}),
    ...(issuer ? { issuer } : {}),
    pushAuth(repo) {
      if (opts.auth === 'htpasswd') return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
      if (issuer) return `Bearer ${issuer.mint(repo, ['pull', 'push'])}`;
      return undefined;
    },
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
      await issuer?.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return reg;
}

/** Pushes a blob with a monolithic upload (POST then PUT ?digest=). */
export async function pushBlob(reg: Registry, repo: string, blob: Blob): Promise<void> {
  const auth = reg.pushAuth(repo);
  const headers: Record<string, string> = auth ? { authorization: auth } : {};
  const post = await request(`${reg.url}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers });
  await post.body.dump();
  if (post.statusCode !== 202) throw new Error(`upload start: HTTP ${post.statusCode}`);
  const loc = new URL(String(post.headers.location), reg.url);
  loc.searchParams.set('digest', blob.digest);
  const put = await request(loc, { method: 'PUT', headers: { ...headers, 'content-type': 'application/octet-stream' }, body: blob.data });
  await put.body.dump();
  if (put.statusCode !== 201) throw new Error(`upload ${blob.digest}: HTTP ${put.statusCode}`);
}

export async function pushManifest(reg: Registry, repo: string, tag: string, mediaType: string, bytes: Buffer): Promise<void> {
  const auth = reg.pushAuth(repo);
  const res = await request(`${reg.url}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    headers: { 'content-type': mediaType, ...(auth ? { authorization: auth } : {}) },
    body: bytes,
  });
  const text = await res.body.text();
  if (res.statusCode !== 201) throw new Error(`manifest ${repo}:${tag}: HTTP ${res.statusCode} ${text}`);
}

/** Pushes every blob of `img` and its manifest (and index, if any) as `repo:tag`. */
export async function pushImage(reg: Registry, repo: string, tag: string, img: BuiltImage): Promise<void> {
  for (const b of img.blobs) await pushBlob(reg, repo, b);
  for (const m of img.manifests) await pushManifest(reg, repo, m.digest, m.mediaType, m.data);
  await pushManifest(reg, repo, tag, img.top.mediaType, img.top.data);
}
