/**
 * `--nproc N`: runs this same command as N local processes through Open MPI's `mpirun` (a
 * one-machine try of data-parallel training), and turns mpirun's multi-line notices into one line:
 * a rank that was killed is reported as `convnet: rank 1 on host was killed by signal 9 (Killed);
 * the other ranks were stopped`; the notices that follow a rank's own error line (MPI_Abort, a
 * non-zero exit) are dropped, since that rank already printed the cause. Any other notice of
 * mpirun (no slots, a missing program, ...) is passed through unchanged.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';

/** Options of `mpirunCommand`. */
export interface MpirunOptions {
  /** Processes to start. */
  nproc: number;
  /** The program and its arguments, run as each rank (e.g. node, the CLI script, its arguments). */
  command: readonly string[];
  /** Running as root (Open MPI refuses root unless told; default: this process's uid is 0). */
  root?: boolean;
  /** The mpirun executable (default `mpirun`). */
  mpirun?: string;
}

/**
 * The mpirun argument list for `nproc` local ranks: `--oversubscribe` (more ranks than cores is
 * allowed: it is a trial run), `--bind-to none` (each rank sizes its thread pool to its share of
 * the cores itself), `--allow-run-as-root` as root.
 * @example mpirunCommand({ nproc: 2, command: ['node', 'main.js', 'train', 'lenet'] })
 */
export function mpirunCommand(opts: MpirunOptions): string[] {
  if (!Number.isInteger(opts.nproc) || opts.nproc < 1) throw new Error(`mpirun: the number of processes must be a positive integer, got ${opts.nproc}`);
  const root = opts.root ?? process.getuid?.() === 0;
  return [
    opts.mpirun ?? 'mpirun',
    '-np',
    String(opts.nproc),
    '--oversubscribe',
    '--bind-to',
    'none',
    // No cross-memory-attach copies between local ranks: they need ptrace rights containers often
    // lack, and a killed peer makes them print a stray "Read -1, expected ..." line.
    '--mca',
    'btl_vader_single_copy_mechanism',
    'none',
    ...(root ? ['--allow-run-as-root'] : []),
    ...opts.command,
  ];
}

const RULE = /^-{20,}\s*$/;

/**
 * What to show instead of one of mpirun's dashed notices: a replacement line, '' to drop it, or
 * null to keep it as it is.
 */
export function translateNotice(lines: readonly string[]): string | null {
  const text = lines.join(' ').replace(/\s+/g, ' ');
  const killed = /process rank (\d+) with PID \d+ on node (\S+) exited on signal (\d+) \(([^)]+)\)/.exec(text);
  if (killed !== null) {
    return `convnet: rank ${killed[1]} on ${killed[2]} was killed by signal ${killed[3]} (${killed[4]}); the other ranks were stopped`;
  }
  // A rank printed its error and called MPI_Abort, or exited with an error code: already reported.
  if (/MPI_ABORT was invoked on rank \d+/.test(text)) return '';
  if (/Primary job terminated normally, but \d+ process(es)? returned a non-zero exit code/.test(text)) return '';
  if (/mpirun detected that one or more processes exited with non-zero status/.test(text)) return '';
  return null;
}

/** Aggregation chatter mpirun prints after notices. */
function isChatter(line: string): boolean {
  return (
    /^\[[^\]]+\] \d+ more process(es)? ha(s|ve) sent help message/.test(line) ||
    /^\[[^\]]+\] Set MCA parameter "orte_base_help_aggregate" to 0/.test(line)
  );
}

/**
 * Copies mpirun's stderr to `out` line by line, replacing its dashed notices as
 * `translateNotice` says. Resolves when `input` ends.
 */
export function filterMpirunStderr(input: Readable, out: Writable): Promise<void> {
  return new Promise((resolve) => {
    let pending = '';
    let notice: string[] | null = null;
    const line = (l: string): void => {
      if (notice !== null) {
        if (RULE.test(l)) {
          const t = translateNotice(notice);
          if (t === null) out.write(['-'.repeat(74), ...notice, '-'.repeat(74)].map((x) => `${x}\n`).join(''));
          else if (t !== '') out.write(`${t}\n`);
          notice = null;
        } else {
          notice.push(l);
        }
        return;
      }
      if (RULE.test(l)) notice = [];
      else if (!isChatter(l)) out.write(`${l}\n`);
    };
    input.setEncoding('utf8');
    input.on('data', (chunk: string) => {
      pending += chunk;
      let i: number;
      while ((i = pending.indexOf('\n')) >= 0) {
        line(pending.slice(0, i));
        pending = pending.slice(i + 1);
      }
    });
    input.on('end', () => {
      if (pending !== '') line(pending);
      if (notice !== null) for (const l of ['-'.repeat(74), ...notice]) out.write(`${l}\n`);
      resolve();
    });
  });
}

/**
 * Runs `mpirun` with `args` (from `mpirunCommand`), its stdout passed through and its stderr
 * filtered; SIGINT/SIGTERM to this process are passed on. Resolves to the exit code
 * (128 + signal when mpirun itself was killed). A missing mpirun is a one-line error.
 */
export async function runMpirun(args: readonly string[]): Promise<number> {
  const child = spawn(args[0]!, args.slice(1), { stdio: ['inherit', 'inherit', 'pipe'] });
  const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
  const onInt = forward('SIGINT');
  const onTerm = forward('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    const filtered = filterMpirunStderr(child.stderr!, process.stderr);
    const code = await new Promise<number>((resolve, reject) => {
      child.on('error', (e: NodeJS.ErrnoException) => {
        reject(e.code === 'ENOENT' ? new Error(`${args[0]} not found: --nproc needs Open MPI (apt-get install openmpi-bin)`) : e);
      });
      child.on('close', (c, sig) => resolve(c ?? 128 + (sig === null ? 0 : signalNumber(sig))));
    });
    await filtered;
    return code;
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}

function signalNumber(sig: NodeJS.Signals): number {
  return constants.signals[sig] ?? 1;
}
