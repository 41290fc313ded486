/**
 * The world as the launcher describes it in the environment, read before MPI starts: Open MPI's
 * `mpirun` (`OMPI_COMM_WORLD_*`), Slurm's `srun` (`SLURM_*`), MPICH-style launchers (`PMI_*`).
 * It decides whether this process is one rank of several (and so must start MPI) and how many
 * threads it may use; once MPI runs, MPI's own answer is the truth (see `initWorld`).
 */
import { availableParallelism, cpus } from 'node:os';

/** Who started this process. */
export type Launcher = 'mpirun' | 'srun' | 'pmi' | null;

/** This process's place in the world, according to the launcher. */
export interface LaunchInfo {
  /** The launcher that set the variables, or null for a plain start (a world of one). */
  launcher: Launcher;
  /** Processes in the world. */
  size: number;
  /** This process's rank, 0..size-1. */
  rank: number;
  /** Rank among the processes on this machine. */
  localRank: number;
  /** Processes on this machine. */
  localSize: number;
}

type Env = Readonly<Record<string, string | undefined>>;

function int(env: Env, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v.trim() === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`the launcher set ${name}=${JSON.stringify(v)}, which is not a non-negative integer`);
  return n;
}

/**
 * Slurm's tasks-per-node list, e.g. `2(x3),1` -> [2, 2, 2, 1].
 * @example slurmTasksPerNode('2(x3),1') // [2, 2, 2, 1]
 */
export function slurmTasksPerNode(v: string): number[] {
  const out: number[] = [];
  for (const part of v.split(',')) {
    const m = /^(\d+)(?:\(x(\d+)\))?$/.exec(part.trim());
    if (m === null) throw new Error(`cannot read SLURM_STEP_TASKS_PER_NODE=${JSON.stringify(v)}`);
    for (let i = 0; i < Number(m[2] ?? 1); i++) out.push(Number(m[1]));
  }
  return out;
}

/**
 * Reads the launcher's variables. A plain start (no launcher, or a world of one) gives
 * `{ launcher: null, size: 1, rank: 0, localRank: 0, localSize: 1 }`.
 * @example detectLaunch({ OMPI_COMM_WORLD_SIZE: '2', OMPI_COMM_WORLD_RANK: '1' }).rank // 1
 */
export function detectLaunch(env: Env = process.env): LaunchInfo {
  let info: LaunchInfo | null = null;
  const ompiSize = int(env, 'OMPI_COMM_WORLD_SIZE');
  if (ompiSize !== undefined) {
    const rank = int(env, 'OMPI_COMM_WORLD_RANK') ?? 0;
    info = {
      launcher: 'mpirun',
      size: ompiSize,
      rank,
      localRank: int(env, 'OMPI_COMM_WORLD_LOCAL_RANK') ?? rank,
      localSize: int(env, 'OMPI_COMM_WORLD_LOCAL_SIZE') ?? ompiSize,
    };
  } else if (int(env, 'SLURM_STEP_NUM_TASKS') !== undefined && int(env, 'SLURM_PROCID') !== undefined) {
    // srun sets the SLURM_STEP_* variables; the batch script itself (not a step) has only SLURM_NTASKS.
    const size = int(env, 'SLURM_STEP_NUM_TASKS')!;
    const rank = int(env, 'SLURM_PROCID')!;
    const perNode = env.SLURM_STEP_TASKS_PER_NODE ? slurmTasksPerNode(env.SLURM_STEP_TASKS_PER_NODE) : [size];
    const node = int(env, 'SLURM_NODEID') ?? 0;
    info = { launcher: 'srun', size, rank, localRank: int(env, 'SLURM_LOCALID') ?? 0, localSize: perNode[node] ?? perNode[0] ?? 1 };
  } else if (int(env, 'PMI_SIZE') !== undefined) {
    const size = int(env, 'PMI_SIZE')!;
    const rank = int(env, 'PMI_RANK') ?? 0;
    info = {
      launcher: 'pmi',
      size,
      rank,
      localRank: int(env, 'MPI_LOCALRANKID') ?? rank,
      localSize: int(env, 'MPI_LOCALNRANKS') ?? size,
    };
  }
  if (info === null || info.size <= 1) return { launcher: info?.launcher ?? null, size: 1, rank: 0, localRank: 0, localSize: 1 };
  if (info.rank >= info.size) throw new Error(`the launcher gave rank ${info.rank} in a world of ${info.size}`);
  info.localSize = Math.max(1, info.localSize);
  return info;
}

/**
 * Threads per process when `localSize` processes share this machine: the machine's cores divided
 * among the local processes, so that they do not oversubscribe it, and no more than the cores this
 * process may run on (mpirun binds each rank to a core, or to a socket, by default).
 * @example defaultThreads(2, 8, 8) // 4
 */
export function defaultThreads(localSize: number, cores = cpus().length, allowed = availableParallelism()): number {
  return Math.max(1, Math.min(allowed, Math.floor(cores / Math.max(1, localSize))));
}
