/**
 * Data-parallel training over several processes and machines on MPI, as PyTorch's DDP: the world
 * (`initWorld`, from mpirun's or srun's environment), `DistributedSampler`, the bucketed gradient
 * reducer behind `DistributedDataParallel` (a plug-in of the `Trainer`), `SyncBatchNorm`, and the
 * `--nproc` launcher. The MPI addon is optional: without it a world of one still works.
 */
export { detectLaunch, defaultThreads, slurmTasksPerNode, type LaunchInfo, type Launcher } from './env.js';
export { mpiAvailable, mpiUnavailableReason, type MpiInfo, type ReducibleArray } from './mpi.js';
export { World, WorldStartError, initWorld, type InitWorldOptions, type ReduceOptions, type Work } from './world.js';
export { DistributedSampler, type DistributedSamplerOptions } from './sampler.js';
export { GradientReducer, type GradientReducerOptions, type ReducerStats } from './reducer.js';
export { DistributedDataParallel, broadcastState, type DistributedDataParallelOptions } from './ddp.js';
export { SyncBatchNorm, syncBatchNorm, convertSyncBatchNorm, type SyncBatchNormOptions } from './sync-batch-norm.js';
export { mpirunCommand, runMpirun, filterMpirunStderr, translateNotice, type MpirunOptions } from './launch.js';
export { fingerprint, type FingerprintPart } from './fingerprint.js';
