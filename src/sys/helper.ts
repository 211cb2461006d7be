// The system calls Node lacks that tsoci needs in the main thread, served by one small perl process per tsoci
// process (perl-base is Essential on Debian): flock(2), which must be held by a process that lives as long as the
// lock, and mount(2)/umount2(2), which would otherwise cost a mount(8)/umount(8) process each (~5 ms: libmount
// reads locale files, /proc/self/mountinfo and utab first). The helper exits when our end of its stdin closes, at
// the end or because this process died, and the kernel drops its locks with it.
//
// Protocol, a line each: `L <req> s|x <path>` (lock; the lock is known by <req> from then on), `U <req> <lock>`
// (unlock), `M <req> <cwd> <type> <source> <target> <data>` (mount; fields hex-encoded, cwd may be `-`),
// `N <req> <flags> <target>` (umount2; target hex-encoded). Answers: `K <req>` or `E <req> <message>`. Waiting for a
// lock is non-blocking polling inside the helper, so one waiting lock never holds up the release of another.

import { type ChildProcess, spawn } from 'node:child_process';

// Builtins only: `use Fcntl`, `IO::Select` and `strict`/`warnings` cost ~11 ms of start-up. The constants are
// Linux's: LOCK_SH 1, LOCK_EX 2, LOCK_NB 4, LOCK_UN 8; O_RDWR 2, O_CREAT 0100. The mount and umount2 system call
// numbers come from argv (they differ by architecture).
const HELPER = String.raw`
$| = 1;
my ($SYS_mount, $SYS_umount2) = @ARGV;
my (%held, @wait); my $buf = '';
sub hex2s { my $h = shift; return $h eq '-' ? '' : pack('H*', $h) }
sub take { my ($w) = @_; if (flock($w->{f}, $w->{mode} | 4)) { $held{$w->{id}} = $w->{f}; print "K $w->{id}\n"; return 1 } return 0 }
while (1) {
  my $rin = ''; vec($rin, fileno(STDIN), 1) = 1;
  my $n = select(my $rout = $rin, undef, undef, @wait ? 0.005 : undef);
  if ($n > 0) {
    my $r = sysread(STDIN, $buf, 65536, length $buf); exit 0 unless $r;
    while ($buf =~ s/^(.*)\n//) {
      my ($op, $id, @a) = split / /, $1;
      if ($op eq 'L') {
        my $f; unless (sysopen($f, hex2s($a[1]), 2 | 0100, 0644)) { print "E $id $!\n"; next }
        my $w = { id => $id, f => $f, mode => ($a[0] eq 's' ? 1 : 2) };
        push @wait, $w unless take($w);
      } elsif ($op eq 'U') {
        if (my $f = delete $held{$a[0]}) { flock($f, 8); close $f }
        @wait = grep { $_->{id} ne $a[0] } @wait; print "K $id\n";
      } elsif ($op eq 'M') {
        my ($cwd, $type, $source, $target, $data) = map { hex2s($_) } @a;
        if ($cwd ne '' && !chdir($cwd)) { print "E $id $!\n"; next }
        my $rc = syscall($SYS_mount + 0, $source, $target, $type, 0, $data);
        my $err = "$!"; chdir('/');
        print($rc == 0 ? "K $id\n" : "E $id $err\n");
      } elsif ($op eq 'N') {
        my $target = hex2s($a[1]);
        print(syscall($SYS_umount2 + 0, $target, $a[0] + 0) == 0 ? "K $id\n" : "E $id $!\n");
      } else {
        print "E $id unknown request\n";
      }
    }
  }
  @wait = grep { !take($_) } @wait;
}`;

/** mount(2) and umount2(2) numbers by Node's architecture name; elsewhere mount(8) and umount(8) do it. */
const SYSCALLS: Partial<Record<NodeJS.Architecture, [number, number]>> = {
  x64: [165, 166],
  arm64: [40, 39],
  riscv64: [40, 39],
  loong64: [40, 39],
  arm: [21, 52],
  ia32: [21, 52],
  ppc64: [21, 52],
  s390x: [21, 52],
};

/** True when the helper can mount and unmount on this architecture. */
export const helperMounts = SYSCALLS[process.arch] !== undefined;

interface Pending {
  resolve: () => void;
  reject: (e: Error) => void;
}

interface Helper {
  child: ChildProcess;
  pending: Map<string, Pending>;
  next: number;
}

let helper: Helper | undefined;

function getHelper(): Helper {
  if (helper && helper.child.exitCode === null && !helper.child.killed) return helper;
  const [mountNr, umountNr] = SYSCALLS[process.arch] ?? [-1, -1];
  const child = spawn('perl', ['-e', HELPER, String(mountNr), String(umountNr)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const h: Helper = { child, pending: new Map(), next: 0 };
  let buf = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buf += chunk.toString('latin1');
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const [kind, id, ...rest] = buf.slice(0, i).split(' ');
      buf = buf.slice(i + 1);
      const p = h.pending.get(id!);
      if (!p) continue;
      h.pending.delete(id!);
      if (kind === 'E') p.reject(new Error(rest.join(' ')));
      else p.resolve();
    }
    idle(h);
  });
  child.on('exit', () => {
    for (const p of h.pending.values()) p.reject(new Error('the perl helper exited'));
    h.pending.clear();
    if (helper === h) helper = undefined;
  });
  child.on('error', (e) => {
    for (const p of h.pending.values()) p.reject(new Error(`cannot run the perl helper: ${e.message}`));
    h.pending.clear();
  });
  helper = h;
  idle(h);
  return h;
}

/** The helper keeps the event loop alive only while an answer is awaited. */
function idle(h: Helper): void {
  const io = [h.child, h.child.stdout, h.child.stdin] as unknown as { ref?: () => void; unref?: () => void }[];
  for (const x of io) (h.pending.size ? x.ref : x.unref)?.call(x);
}

/** A field of a request: hex, so that paths and options may hold any byte. */
export function field(s: string | undefined): string {
  return s ? Buffer.from(s).toString('hex') : '-';
}

/**
 * Sends `OP <req> <args>` and resolves with the request's id once the helper answers K; rejects with its message
 * on E. `args` must not hold a space or line break (hex-encode with `field`).
 */
export function request(op: 'L' | 'U' | 'M' | 'N', args: string[]): { id: string; done: Promise<void> } {
  const h = getHelper();
  const id = String(h.next++);
  const done = new Promise<void>((resolve, reject) => {
    h.pending.set(id, { resolve, reject });
    idle(h);
    h.child.stdin!.write(`${op} ${id} ${args.join(' ')}\n`);
  });
  return { id, done };
}

/**
 * Starts the helper now, so that perl's start-up (~6 ms) overlaps whatever the process does before it first
 * needs it. Idle, it keeps nothing alive.
 */
export function prewarmHelper(): void {
  getHelper();
}
