// An HTTP proxy of ours on 127.0.0.1 in front of the real registry: it records every request and can inject
// faults (status codes, resets, truncation, corruption, redirects) into chosen responses. It also serves as a
// forward proxy (absolute-URI requests) for HTTP_PROXY tests.

import http from 'node:http';
import type net from 'node:net';

export interface Recorded {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  /** Body bytes sent back so far. */
  sent: number;
}

/** What to do with one request; return undefined to pass it through. */
export type Fault =
  | { kind: 'status'; status: number; headers?: Record<string, string> }
  | { kind: 'reset-after'; bytes: number }
  | { kind: 'truncate-after'; bytes: number }
  | { kind: 'corrupt-at'; byte: number }
  | { kind: 'redirect'; location: string }
  | { kind: 'stall' }
  | { kind: 'slow'; bytesPerSecond: number }
  | { kind: 'stall-after'; bytes: number }
  | { kind: 'content-length'; value: number }
  | { kind: 'headers'; headers: Record<string, string> }
  | { kind: 'replace-body'; body: Buffer; headers?: Record<string, string> };

export interface FaultProxy {
  url: string;
  host: string;
  requests: Recorded[];
  /** Decides per request (in arrival order) whether to inject a fault. */
  fault: (req: Recorded, n: number) => Fault | undefined;
  close(): Promise<void>;
}

export async function startProxy(upstream: string): Promise<FaultProxy> {
  const up = new URL(upstream);
  const sockets = new Set<net.Socket>();
  const proxy: FaultProxy = {
    url: '',
    host: '',
    requests: [],
    fault: () => undefined,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
  const server = http.createServer((req, res) => {
    const rec: Recorded = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, sent: 0 };
    proxy.requests.push(rec);
    const f = proxy.fault(rec, proxy.requests.length - 1);
    if (f?.kind === 'status') {
      res.writeHead(f.status, f.headers ?? {}).end();
      return;
    }
    if (f?.kind === 'redirect') {
      res.writeHead(307, { location: f.location }).end();
      return;
    }
    if (f?.kind === 'stall') return; // never answers
    // Absolute-form URLs (forward proxy use) go where they say; others to the upstream registry.
    const target = /^https?:\/\//.test(rec.url) ? new URL(rec.url) : new URL(rec.url, up);
    const headers = { ...req.headers, host: target.host };
    const preq = http.request(target, { method: req.method, headers }, (pres) => {
      if (f?.kind === 'replace-body') {
        pres.resume();
        const h: http.OutgoingHttpHeaders = { ...pres.headers, ...(f.headers ?? {}), 'content-length': String(f.body.length) };
        for (const [k, v] of Object.entries(h)) if (v === '') delete h[k]; // '' removes a header
        res.writeHead(200, h).end(f.body);
        return;
      }
      const headers =
        f?.kind === 'content-length' ? { ...pres.headers, 'content-length': String(f.value) } : f?.kind === 'headers' ? { ...pres.headers, ...f.headers } : pres.headers;
      res.writeHead(pres.statusCode ?? 502, headers);
      let sent = 0;
      pres.on('data', (c: Buffer) => {
        let chunk = c;
        if (f?.kind === 'corrupt-at' && f.byte >= sent && f.byte < sent + c.length) {
          chunk = Buffer.from(c);
          chunk[f.byte - sent] = chunk[f.byte - sent]! ^ 0xff;
        }
        if (f?.kind === 'stall-after' && sent + chunk.length >= f.bytes) {
          // Sends up to `bytes`, then nothing more, keeping the connection open.
          res.write(chunk.subarray(0, Math.max(0, f.bytes - sent)));
          sent = f.bytes;
          pres.destroy();
          return;
        }
        if ((f?.kind === 'reset-after' || f?.kind === 'truncate-after') && sent + chunk.length >= f.bytes) {
          res.write(chunk.subarray(0, Math.max(0, f.bytes - sent)));
          sent = f.bytes;
          pres.destroy();
          if (f.kind === 'reset-after') res.socket?.resetAndDestroy();
          else res.socket?.destroy();
          return;
        }
        sent += chunk.length;
        rec.sent = sent;
        res.write(chunk);
        if (f?.kind === 'slow') {
          pres.pause();
          setTimeout(() => pres.resume(), (chunk.length / f.bytesPerSecond) * 1000);
        }
      });
      pres.on('end', () => {
        if (f?.kind === 'stall-after') return;
        res.end();
        // A body that disagrees with its Content-Length leaves the connection unusable: close it.
        if (f?.kind === 'content-length') res.socket?.destroySoon();
      });
    });
    preq.on('error', () => res.destroy());
    req.pipe(preq);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  proxy.host = `127.0.0.1:${port}`;
  proxy.url = `http://${proxy.host}`;
  return proxy;
}
