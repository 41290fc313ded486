/**
 * Loads the optional MPI addon (native/mpi/build/Release/convnet_mpi.node), only when a world of
 * more than one process asks for it: a build without MPI trains single-process and says so.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What `init()` of the addon reports. */
export interface MpiInfo {
  rank: number;
  size: number;
  localRank: number;
  localSize: number;
  /** MPI_Get_processor_name. */
  host: string;
  /** Thread support MPI granted: 'multiple' or 'serialized'. */
  threadLevel: string;
  /** First line of MPI_Get_library_version, e.g. `Open MPI v4.1.4`. */
  library: string;
}

/** The typed arrays collectives reduce (sum/max/min). */
export type ReducibleArray = Float32Array | Float64Array | Int32Array;

/** The addon's functions (see native/mpi/src/mpi.cc). Operation ids are collected with `wait`. */
export interface MpiAddon {
  init(): MpiInfo;
  submitAllreduce(data: ReducibleArray, op: 'sum' | 'max' | 'min', scale: number): number;
  submitBroadcast(data: ArrayBufferView, root: number): number;
  submitBarrier(): number;
  /** Blocks until operation `id` finished; returns its seconds inside MPI. Throws on MPI errors and timeouts. */
  wait(id: number, timeoutSeconds: number): number;
  done(id: number): boolean;
  finalize(): void;
  abort(code: number): never;
  state(): 'uninitialized' | 'initialized' | 'finalized';
}

function findAddon(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'native', 'mpi', 'build', 'Release', 'convnet_mpi.node');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  return null;
}

let cached: MpiAddon | null = null;
let cachedError = '';

/** Why the MPI addon cannot be used ('' when it can), loading it on the first call. */
export function mpiUnavailableReason(): string {
  if (cached !== null || cachedError !== '') return cachedError;
  const path = findAddon();
  if (path === null) {
    cachedError = 'this build of convnet has no MPI support (install Debian\'s libopenmpi-dev and openmpi-bin, then run npm run build:native)';
    return cachedError;
  }
  try {
    cached = createRequire(import.meta.url)(path) as MpiAddon;
  } catch (e) {
    cachedError = `the MPI addon failed to load: ${(e as Error).message}`;
  }
  return cachedError;
}

/** True when the MPI addon is built and loads. */
export function mpiAvailable(): boolean {
  return mpiUnavailableReason() === '';
}

/** The MPI addon; throws a one-line error saying why when it is unavailable. */
export function mpiAddon(): MpiAddon {
  const why = mpiUnavailableReason();
  if (why !== '') throw new Error(why);
  return cached!;
}
