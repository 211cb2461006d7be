// Worker thread of the extraction pool (apply-in-worker.ts): applies layers' uncompressed tar streams to
// directories (extract.ts), several at once, and hashes each for its diff ID (every byte, the padding after the
// end-of-archive marker too). Messages name their job:
//   in:  {op:'start', job, target, format}, {op:'data', job, buf} (transferred), {op:'end', job},
//        {op:'abort', job}, {op:'lower', job, id, path}
//   out: {op:'ack', job, bytes} once a chunk is consumed (the parent's backpressure), {op:'lower', job, id, rel},
//        {op:'warn', job, msg}, and last {op:'done', job, entries, digest} or {op:'error', job, code, message, hint}.
// A job that fails or is aborted stops there; the others go on.

import { createHash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { type LayerFormat, applyLayer } from './extract.js';

type In =
  | { op: 'start'; job: number; target: string; format: LayerFormat }
  | { op: 'data'; job: number; buf: ArrayBuffer }
  | { op: 'end'; job: number }
  | { op: 'abort'; job: number }
  | { op: 'lower'; job: number; id: number; path?: string };

const ABORTED = 'the extraction was stopped';

class Job {
  readonly chunks: Buffer[] = [];
  readonly hash = createHash('sha256');
  readonly lookups = new Map<number, (p: string | undefined) => void>();
  ended = false;
  aborted = false;
  private nextLookup = 0;
  private wake: (() => void) | undefined;

  constructor(readonly id: number) {}

  poke(): void {
    this.wake?.();
  }

  abort(): void {
    this.aborted = true;
    // A lookup the parent will not answer any more must not hold the job up.
    for (const resolve of this.lookups.values()) resolve(undefined);
    this.lookups.clear();
    this.poke();
  }

  async *tarStream(): AsyncGenerator<Buffer> {
    for (;;) {
      if (this.aborted) throw new Error(ABORTED);
      const c = this.chunks.shift();
      if (c) {
        this.hash.update(c);
        yield c;
        parentPort!.postMessage({ op: 'ack', job: this.id, bytes: c.length });
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
  }

  lowerLookup(rel: string): Promise<string | undefined> {
    if (this.aborted) return Promise.resolve(undefined);
    const id = this.nextLookup++;
    return new Promise((resolve) => {
      this.lookups.set(id, resolve);
      parentPort!.postMessage({ op: 'lower', job: this.id, id, rel });
    });
  }
}

const jobs = new Map<number, Job>();
let trained = false;

async function run(job: Job, target: string, format: LayerFormat): Promise<void> {
  try {
    const src = Object.assign(job.tarStream(), { destroy: () => undefined });
    const res = await applyLayer(target, src, { format, lowerLookup: (rel) => job.lowerLookup(rel), onWarn: (msg) => parentPort!.postMessage({ op: 'warn', job: job.id, msg }) });
    // Drain what follows the end-of-archive marker, so the parent's stream completes.
    for await (const _ of src) void _;
    parentPort!.postMessage({ op: 'done', job: job.id, entries: res.entries, digest: `sha256:${job.hash.digest('hex')}` });
    // Loaded from the bundle (bin/load-cached.cjs): once, the code cache learns what a whole extraction compiled.
    if (!trained) {
      trained = true;
      (globalThis as { __tsociTrainCaches?: (kind: string) => void }).__tsociTrainCaches?.('extract');
    }
  } catch (e) {
    const err = e as { code?: string; message?: string; hint?: string };
    parentPort!.postMessage({ op: 'error', job: job.id, code: err.code, message: job.aborted ? ABORTED : err.message, hint: err.hint });
  } finally {
    jobs.delete(job.id);
  }
}

parentPort!.on('message', (m: In) => {
  if (m.op === 'start') {
    const job = new Job(m.job);
    jobs.set(m.job, job);
    void run(job, m.target, m.format);
    return;
  }
  const job = jobs.get(m.job);
  if (!job) return; // finished already (failed): what still arrives for it goes nowhere
  if (m.op === 'data') job.chunks.push(Buffer.from(m.buf));
  else if (m.op === 'end') job.ended = true;
  else if (m.op === 'abort') return job.abort();
  else if (m.op === 'lower') {
    job.lookups.get(m.id)?.(m.path);
    job.lookups.delete(m.id);
    return;
  }
  job.poke();
});
