// Progress of a copy: listr2 tasks per blob with bytes and speed on a terminal; one plain line per finished
// blob otherwise (stderr, so stdout stays for results).

import type { CopyEvent } from '../layout/copy.js';
import type { Descriptor } from '../oci/types.js';
import { humanSize, shortDigest } from './format.js';

export interface CopyProgress {
  onEvent: (e: CopyEvent) => void;
  /** Runs `work` under the display; resolves with its result once the display is done. */
  run<T>(work: Promise<T>): Promise<T>;
}

/** Plain lines, or nothing with `quiet`. */
export function plainProgress(quiet: boolean, write: (s: string) => void = (s) => process.stderr.write(s), done = 'pull complete'): CopyProgress {
  return {
    onEvent(e) {
      if (quiet) return;
      if (e.type === 'resolved') write(`${e.manifest.digest}: resolved, ${e.blobs.length} blobs, ${humanSize(e.blobs.reduce((n, b) => n + b.desc.size, 0))}\n`);
      if (e.type === 'blob-done') write(`${shortDigest(e.desc.digest)}: ${e.result === 'exists' ? 'already exists' : done} (${e.kind}, ${humanSize(e.desc.size)})\n`);
    },
    run: (work) => work,
  };
}

/** listr2 progress for a terminal: a task per blob, its title showing bytes and speed. */
export async function terminalProgress(title: string): Promise<CopyProgress> {
  const { Listr } = await import('listr2');
  let resolveBlobs!: (b: { desc: Descriptor; kind: string }[]) => void;
  const blobsKnown = new Promise<{ desc: Descriptor; kind: string }[]>((r) => (resolveBlobs = r));
  const waiters = new Map<string, { done: () => void; update: (bytes: number) => void; finished: Promise<void> }>();
  const pending = new Map<string, { bytes?: number; done?: boolean }>();
  const waiter = (d: string) => {
    let w = waiters.get(d);
    if (!w) {
      let done!: () => void;
      const finished = new Promise<void>((r) => (done = r));
      w = { done, finished, update: () => {} };
      waiters.set(d, w);
    }
    return w;
  };
  return {
    onEvent(e) {
      if (e.type === 'resolved') resolveBlobs(e.blobs);
      else if (e.type === 'blob-progress') {
        waiter(e.desc.digest).update(e.bytes);
        pending.set(e.desc.digest, { bytes: e.bytes });
      } else if (e.type === 'blob-done') waiter(e.desc.digest).done();
    },
    async run(work) {
      let failed: unknown;
      const guarded = work.catch((e: unknown) => {
        failed = e;
        resolveBlobs([]);
        for (const w of waiters.values()) w.done();
      });
      const list = new Listr(
        [
          {
            title,
            task: async (_ctx, task) => {
              const blobs = await blobsKnown;
              return task.newListr(
                blobs.map((b) => ({
                  title: `${shortDigest(b.desc.digest)} ${b.kind} ${humanSize(b.desc.size)}`,
                  task: async (_c: unknown, t: { title: string }) => {
                    const w = waiter(b.desc.digest);
                    const start = Date.now();
                    w.update = (bytes) => {
                      const secs = (Date.now() - start) / 1000;
                      t.title = `${shortDigest(b.desc.digest)} ${b.kind} ${humanSize(bytes)}/${humanSize(b.desc.size)}${secs > 0.2 ? ` ${humanSize(bytes / secs)}/s` : ''}`;
                    };
                    const p = pending.get(b.desc.digest);
                    if (p?.bytes) w.update(p.bytes);
                    await w.finished;
                    if (failed) throw failed;
                    t.title = `${shortDigest(b.desc.digest)} ${b.kind} ${humanSize(b.desc.size)} done`;
                  },
                })),
                { concurrent: true, exitOnError: true },
              );
            },
          },
        ],
        { rendererOptions: { collapseSubtasks: false }, exitOnError: true },
      );
      await list.run().catch(() => {});
      await guarded;
      if (failed) throw failed;
      return work;
    },
  };
}
