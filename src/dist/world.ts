/**
 * `World`: the processes training together (MPI_COMM_WORLD) and the collectives data-parallel
 * training needs — allreduce (in place; synchronous, or started now and waited for later),
 * broadcast, barrier — plus the two start-up agreements (`startTogether`, `checkSame`) and
 * `abort`. A world of one process needs no MPI: its collectives are no-ops, so the same training
 * code runs single-process.
 *
 * Every collective must be called by every rank in the same order. They run on the MPI addon's
 * communication thread in submission order; a rank whose peer died is stopped by the launcher,
 * and a collective that makes no progress for `timeoutSeconds` (CONVNET_DIST_TIMEOUT, default
 * 1800 s) throws instead of hanging.
 */
import { detectLaunch, type Launcher } from './env.js';
import { mpiAddon, mpiUnavailableReason, type MpiAddon, type ReducibleArray } from './mpi.js';

/** Options of `allreduce` / `allreduceAsync`. */
export interface ReduceOptions {
  /** The reduction (default 'sum'). */
  op?: 'sum' | 'max' | 'min';
  /** Divide the sum by the world size (float arrays only; default false). */
  average?: boolean;
}

/** A collective that was started and not yet waited for. */
export interface Work {
  /** Blocks until the collective finished; returns the seconds it spent in MPI. */
  wait(): number;
}

/**
 * Thrown on EVERY rank when some rank could not start (`startTogether`) or the ranks were started
 * differently (`checkSame`). Exactly one rank has a `report` (the lowest failing one): printing only
 * that line keeps the output to one line however many ranks failed.
 */
export class WorldStartError extends Error {
  /** The line this rank should print, or null when another rank reports. */
  readonly report: string | null;
  /** Exit code (the reporting rank's, on every rank). */
  readonly exitCode: number;

  constructor(report: string | null, exitCode: number) {
    super(report ?? 'another rank could not start');
    this.name = 'WorldStartError';
    this.report = report;
    this.exitCode = exitCode;
  }
}

/** One line of an error: its message with line breaks folded. */
function oneLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.replace(/\s*\n\s*/g, ' ').trim();
}

function exitCodeOf(e: unknown): number {
  const c = (e as { exitCode?: unknown } | null)?.exitCode;
  return typeof c === 'number' && Number.isInteger(c) && c > 0 ? c : 1;
}

const DEFAULT_TIMEOUT_S = 1800;

function timeoutFromEnv(env: Readonly<Record<string, string | undefined>>): number {
  const v = env.CONVNET_DIST_TIMEOUT;
  if (v === undefined || v.trim() === '') return DEFAULT_TIMEOUT_S;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`CONVNET_DIST_TIMEOUT must be a number of seconds >= 0 (0: no limit), got '${v}'`);
  return n;
}

/** The processes training together. Create it with `initWorld()`. */
export class World {
  /** This process's rank, 0..size-1 (rank 0 writes the run folder). */
  readonly rank: number;
  /** Number of processes. */
  readonly size: number;
  /** Rank among the processes on this machine. */
  readonly localRank: number;
  /** Processes on this machine. */
  readonly localSize: number;
  /** This machine's name ('' in a world of one). */
  readonly host: string;
  /** Who started the processes (null: a plain start). */
  readonly launcher: Launcher;
  /** The MPI library ('' in a world of one). */
  readonly library: string;
  /** Seconds a collective may wait for its peers before it throws (0: forever). */
  readonly timeoutSeconds: number;
  readonly #mpi: MpiAddon | null;

  /** @internal Use `initWorld()`. */
  constructor(
    info: { rank: number; size: number; localRank: number; localSize: number; host: string; launcher: Launcher; library: string },
    mpi: MpiAddon | null,
    timeoutSeconds: number,
  ) {
    this.rank = info.rank;
    this.size = info.size;
    this.localRank = info.localRank;
    this.localSize = info.localSize;
    this.host = info.host;
    this.launcher = info.launcher;
    this.library = info.library;
    this.#mpi = mpi;
    this.timeoutSeconds = timeoutSeconds;
  }

  /** True for a world of several processes (MPI is running). */
  get isDistributed(): boolean {
    return this.#mpi !== null;
  }

  /** `rank 1 of 4 on node07`, for messages. */
  describe(): string {
    return `rank ${this.rank} of ${this.size}${this.host ? ` on ${this.host}` : ''}`;
  }

  #wait(id: number, what: string): number {
    try {
      return this.#mpi!.wait(id, this.timeoutSeconds);
    } catch (e) {
      const msg = oneLine(e);
      if (msg.startsWith('timeout:')) {
        throw new Error(`${what} made no progress for ${this.timeoutSeconds} s: a peer is stuck or gone (CONVNET_DIST_TIMEOUT sets the limit)`);
      }
      throw new Error(`${what} failed: ${msg}`);
    }
  }

  /**
   * Starts reducing `data` in place over all ranks and returns at once; `wait()` on the result
   * before reading or writing `data`. In a world of one it is done already.
   * @example const w = world.allreduceAsync(grads, { average: true }); ...; w.wait();
   */
  allreduceAsync(data: ReducibleArray, opts: ReduceOptions = {}): Work {
    const op = opts.op ?? 'sum';
    if (opts.average && data instanceof Int32Array) throw new Error('allreduce: an Int32Array cannot be averaged');
    if (this.#mpi === null) return { wait: () => 0 };
    const id = this.#mpi.submitAllreduce(data, op, opts.average ? 1 / this.size : 1);
    let done = false;
    return {
      wait: () => {
        if (done) return 0;
        done = true;
        return this.#wait(id, `allreduce of ${data.length} values`);
      },
    };
  }

  /**
   * Reduces `data` in place over all ranks (sum by default) and returns it.
   * @example world.allreduce(Float64Array.of(lossSum, count)) // the world's sums
   */
  allreduce<T extends ReducibleArray>(data: T, opts: ReduceOptions = {}): T {
    this.allreduceAsync(data, opts).wait();
    return data;
  }

  /** Elementwise sums of `values` over all ranks (in float64). */
  sum(values: readonly number[]): number[] {
    return Array.from(this.allreduce(Float64Array.from(values)));
  }

  /** Overwrites `data` on every rank with `root`'s (any typed array, same length everywhere); returns it. */
  broadcast<T extends ArrayBufferView>(data: T, root = 0): T {
    this.#checkRoot(root);
    if (this.#mpi === null) return data;
    this.#wait(this.#mpi.submitBroadcast(data, root), `broadcast of ${data.byteLength} bytes from rank ${root}`);
    return data;
  }

  /** `root`'s bytes on every rank (other ranks pass anything, e.g. null: the length travels first). */
  broadcastBytes(data: Uint8Array | null, root = 0): Uint8Array {
    this.#checkRoot(root);
    if (this.#mpi === null) return data ?? new Uint8Array(0);
    const len = Float64Array.of(this.rank === root ? (data ?? new Uint8Array(0)).length : 0);
    this.broadcast(len, root);
    const buf = this.rank === root ? (data ?? new Uint8Array(0)) : new Uint8Array(len[0]!);
    return this.broadcast(buf, root);
  }

  /** `root`'s JSON value on every rank. */
  broadcastJson<T>(value: T, root = 0): T {
    const bytes = this.rank === root ? new TextEncoder().encode(JSON.stringify(value)) : null;
    return JSON.parse(new TextDecoder().decode(this.broadcastBytes(bytes, root))) as T;
  }

  /** Blocks until every rank called it. */
  barrier(): void {
    if (this.#mpi === null) return;
    this.#wait(this.#mpi.submitBarrier(), 'barrier');
  }

  #checkRoot(root: number): void {
    if (!Number.isInteger(root) || root < 0 || root >= this.size) throw new Error(`root ${root} is not a rank of a world of ${this.size}`);
  }

  /**
   * Every rank calls this after its set-up with the error it met (or null). When any rank failed,
   * every rank throws a `WorldStartError` whose `report` is set on the lowest failing rank only:
   * `rank 1 of 2 on node07: <its error>`. In a world of one, the error itself is thrown.
   */
  startTogether(error: unknown): void {
    if (this.#mpi === null) {
      if (error !== null && error !== undefined) throw error;
      return;
    }
    // Each rank's exit code (0: started), so that every rank exits with the reporting rank's code.
    const codes = new Int32Array(this.size);
    codes[this.rank] = error === null || error === undefined ? 0 : exitCodeOf(error);
    this.allreduce(codes);
    const first = codes.findIndex((c) => c !== 0);
    if (first < 0) return;
    throw new WorldStartError(first === this.rank ? `${this.describe()}: ${oneLine(error)}` : null, codes[first]!);
  }

  /**
   * Refuses a world whose ranks were started differently: every rank passes the same description
   * of its run (model, flags, data, parameter shapes...); a rank whose entries differ from rank 0's
   * makes every rank throw a `WorldStartError` (exit code 2) naming the first differences, e.g.
   * `rank 1 of 2: started differently from rank 0: lr 0.2 vs 0.1; every rank must run the same
   * model, flags and data`. Call it before any training step.
   */
  checkSame(entries: Readonly<Record<string, unknown>>): void {
    if (this.#mpi === null) return;
    const root = this.broadcastJson(entries);
    const keys = [...new Set([...Object.keys(root), ...Object.keys(entries)])];
    const show = (v: unknown): string => (v === undefined ? '(none)' : JSON.stringify(v));
    const diffs = keys
      .filter((k) => JSON.stringify(root[k]) !== JSON.stringify(entries[k]))
      .map((k) => `${k} ${show(entries[k])} vs ${show(root[k])}`);
    let error: (Error & { exitCode?: number }) | null = null;
    if (diffs.length > 0) {
      const more = diffs.length > 3 ? ` (and ${diffs.length - 3} more)` : '';
      error = new Error(`started differently from rank 0: ${diffs.slice(0, 3).join(', ')}${more}; every rank must run the same model, flags and data`);
      error.exitCode = 2;
    }
    this.startTogether(error);
  }

  /**
   * Prints `convnet: rank r of n on host: <cause>` on stderr as one line and ends the whole world
   * (MPI_Abort: the launcher stops every rank within seconds). In a world of one it prints and
   * exits the process.
   */
  abort(cause: unknown, code = 1): never {
    process.stderr.write(`convnet: ${this.describe()}: ${oneLine(cause)}\n`);
    if (this.#mpi === null) process.exit(code);
    return this.#mpi.abort(code);
  }

  /** Waits for every rank, then shuts MPI down (call it once, at the end of a run). */
  finalize(): void {
    if (this.#mpi === null || this.#mpi.state() !== 'initialized') return;
    this.barrier();
    this.#mpi.finalize();
  }
}

/** Options of `initWorld`. */
export interface InitWorldOptions {
  /** Where to read the launcher's variables (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Seconds a collective may wait for its peers (default CONVNET_DIST_TIMEOUT, else 1800; 0: forever). */
  timeoutSeconds?: number;
}

let current: World | null = null;

/**
 * The world this process belongs to: from the launcher's environment (mpirun, srun), MPI started
 * when there is more than one process; a world of one otherwise. Returns the same world on later
 * calls. Throws a one-line error when the process was launched as one of several but MPI is
 * missing, or when MPI's world differs from the launcher's (e.g. srun without `--mpi=pmix`).
 * @example const world = initWorld(); if (world.rank === 0) console.log(`training on ${world.size} processes`);
 */
export function initWorld(opts: InitWorldOptions = {}): World {
  if (current !== null) return current;
  const env = opts.env ?? process.env;
  const launch = detectLaunch(env);
  const timeout = opts.timeoutSeconds ?? timeoutFromEnv(env);
  if (launch.size === 1) {
    current = new World({ ...launch, host: '', library: '' }, null, timeout);
    return current;
  }
  const why = mpiUnavailableReason();
  if (why !== '') throw new Error(`started as rank ${launch.rank} of ${launch.size} by ${launch.launcher}, but ${why}`);
  const mpi = mpiAddon();
  const info = mpi.init();
  if (info.size !== launch.size || info.rank !== launch.rank) {
    const hint = launch.launcher === 'srun' ? ' (run srun with --mpi=pmix, so that Open MPI joins the tasks into one world)' : '';
    throw new Error(`${launch.launcher} started rank ${launch.rank} of ${launch.size}, but MPI sees rank ${info.rank} of ${info.size}${hint}`);
  }
  current = new World({ ...info, launcher: launch.launcher }, mpi, timeout);
  return current;
}
