/**
 * Layout of the shared control block between the DataLoader (main thread) and its workers.
 * Batch b goes to slot b % S. A worker may fill slot s for batch b once TURN[s] === b; it then
 * sets COUNT[s] and READY[s] = b. The main thread waits for READY[s] === b, copies the slot, and
 * hands it on by setting TURN[s] = b + S. Errors: a worker writes its message to the error
 * buffer, sets ERROR = 1 and READY[*] = READY_ERROR (so that a waiting main thread wakes).
 */

/** Index of the stop flag (main -> workers). */
export const STOP = 0;
/** Index of the error flag (workers -> main). */
export const ERROR = 1;
/** Index of the count of workers that started. */
export const ALIVE = 2;
/** Index of the byte length of the error message. */
export const ERRLEN = 3;
/** Index of the count of workers that exited. */
export const EXITED = 4;
/** First per-slot index. */
export const SLOTS = 5;
/** READY value after an error. */
export const READY_ERROR = -2;
/** Bytes of the error message buffer. */
export const ERR_BYTES = 16384;

/** Index of TURN[s]. */
export function turnIndex(s: number): number {
  return SLOTS + 3 * s;
}
/** Index of READY[s]. */
export function readyIndex(s: number): number {
  return SLOTS + 3 * s + 1;
}
/** Index of COUNT[s]. */
export function countIndex(s: number): number {
  return SLOTS + 3 * s + 2;
}
/** Length of the control block for `slots` slots. */
export function ctrlLength(slots: number): number {
  return SLOTS + 3 * slots;
}

/** What each worker receives (structured-cloned; the SharedArrayBuffers are shared). */
export interface WorkerInit {
  spec: import('./pipeline.js').DatasetSpec;
  ctrl: SharedArrayBuffer;
  err: SharedArrayBuffer;
  xs: SharedArrayBuffer;
  ys: SharedArrayBuffer;
  /** Dataset positions in epoch order. */
  order: Int32Array;
  numBatches: number;
  batchSize: number;
  slots: number;
  workers: number;
  worker: number;
  epochSeed: number;
  sampleSize: number;
}

type WaitAsyncResult = { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };

/**
 * `Atomics.waitAsync` (Node >= 16; typed here because the ES2022 lib does not declare it).
 * Note: a pending waitAsync does not keep Node's event loop alive; callers hold a timer.
 */
export function waitAsync(a: Int32Array, index: number, value: number, timeoutMs: number): WaitAsyncResult {
  return (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number, t: number): WaitAsyncResult }).waitAsync(
    a,
    index,
    value,
    timeoutMs,
  );
}
