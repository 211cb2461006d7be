// Cross-process file locks (kernel flock) under ROOT/locks, released when the holder exits or dies.
// Node has no flock(2). One small perl helper per process (perl-base is Essential on Debian) holds every lock
// this process takes; it exits when our end of its stdin closes, at release or because this process died, and
// the kernel drops its locks with it. Waiting is non-blocking polling inside the helper, so one waiting lock
// never holds up the release of another.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

// Builtins only: `use Fcntl`, `IO::Select` and `strict`/`warnings` cost ~11 ms of start-up, which every command
// taking a lock paid. The constants are Linux's: LOCK_SH 1, LOCK_EX 2, LOCK_NB 4, LOCK_UN 8; O_RDWR 2, O_CREAT 0100.
const HELPER = String.raw`
$| = 1;
my (%held, @wait); my $buf = '';
sub take { my ($w) = @_; if (flock($w->{f}, $w->{mode} | 4)) { $held{$w->{id}} = $w->{f}; print "K $w->{id}\n"; return 1 } return 0 }
while (1) {
  my $rin = ''; vec($rin, fileno(STDIN), 1) = 1;
  my $n = select(my $rout = $rin, undef, undef, @wait ? 0.005 : undef);
  if ($n > 0) {
    my $r = sysread(STDIN, $buf, 65536, length $buf); exit 0 unless $r;
    while ($buf =~ s/^(.*)\n//) {
      my ($op, $id, $mode, $path) = split / /, $1, 4;
      if ($op eq 'L') {
        my $f; unless (sysopen($f, $path, 2 | 0100, 0644)) { print "E $id $!\n"; next }
        my $w = { id => $id, f => $f, mode => ($mode eq 's' ? 1 : 2) };
        push @wait, $w unless take($w);
      } elsif ($op eq 'U') {
        if (my $f = delete $held{$id}) { flock($f, 8); close $f }
        @wait = grep { $_->{id} ne $id } @wait; print "U $id\n";
      }
    }
  }
  @wait = grep { !take($_) } @wait;
}`;

export interface Lock {
  /** Releases the lock. */
  release(): Promise<void>;
}

interface Pending {
  resolve: () => void;
  reject: (e: Error) => void;
}

let helper: { child: ChildProcess; pending: Map<string, Pending>; next: number } | undefined;

function getHelper(): NonNullable<typeof helper> {
  if (helper && helper.child.exitCode === null && !helper.child.killed) return helper;
  const child = spawn('perl', ['-e', HELPER], { stdio: ['pipe', 'pipe', 'inherit'] });
  const h = { child, pending: new Map<string, Pending>(), next: 0 };
  let buf = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (s: string) => {
    buf += s;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const [kind, id, ...rest] = line.split(' ');
      const p = h.pending.get(`${kind === 'U' ? 'U' : 'L'}${id}`);
      if (!p) continue;
      h.pending.delete(`${kind === 'U' ? 'U' : 'L'}${id}`);
      if (kind === 'E') p.reject(new Error(`cannot lock: ${rest.join(' ')}`));
      else p.resolve();
    }
    idle(h);
  });
  child.on('exit', () => {
    for (const p of h.pending.values()) p.reject(new Error('lock helper exited'));
    h.pending.clear();
    if (helper === h) helper = undefined;
  });
  child.on('error', (e) => {
    for (const p of h.pending.values()) p.reject(new Error(`cannot run the lock helper (perl): ${e.message}`));
    h.pending.clear();
  });
  helper = h;
  idle(h);
  return h;
}

/** The helper keeps the event loop alive only while an answer is awaited. */
function idle(h: NonNullable<typeof helper>): void {
  const io = [h.child, h.child.stdout, h.child.stdin] as unknown as { ref?: () => void; unref?: () => void }[];
  for (const x of io) (h.pending.size ? x.ref : x.unref)?.call(x);
}

function ask(op: 'L' | 'U', id: string, line: string): Promise<void> {
  const h = getHelper();
  return new Promise((resolve, reject) => {
    h.pending.set(`${op}${id}`, { resolve, reject });
    idle(h);
    h.child.stdin!.write(line);
  });
}

/**
 * Starts the lock helper now, so that perl's start-up (~15 ms) overlaps whatever the process does before its
 * first lock instead of delaying it. Idle, it keeps nothing alive.
 */
export function prewarmLocks(): void {
  getHelper();
}

/** Takes an exclusive (or shared) lock on `file`, waiting for other holders. */
export async function acquireLock(file: string, opts: { shared?: boolean } = {}): Promise<Lock> {
  if (/[\n\r]/.test(file)) throw new Error(`lock path has a line break: ${JSON.stringify(file)}`);
  await mkdir(path.dirname(file), { recursive: true });
  const id = String(getHelper().next++);
  await ask('L', id, `L ${id} ${opts.shared ? 's' : 'x'} ${file}\n`);
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      await ask('U', id, `U ${id} - -\n`);
    },
  };
}

/** Runs `fn` while holding the lock on `file`. */
export async function withLock<T>(file: string, fn: () => Promise<T>, opts: { shared?: boolean } = {}): Promise<T> {
  const lock = await acquireLock(file, opts);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
