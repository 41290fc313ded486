/**
 * Worker thread of the DataLoader: prepares its share of an epoch's batches (batch b belongs to
 * worker b % workers) into the shared ring of slots, a few batches ahead of the main thread.
 * It never posts messages (a synchronous training loop would not receive them); everything goes
 * through shared memory and Atomics (see ring.ts).
 */
import { workerData } from 'node:worker_threads';
import { BatchPreparer, batchSeed } from './pipeline.js';
import { ALIVE, ERR_BYTES, ERRLEN, ERROR, EXITED, READY_ERROR, STOP, countIndex, readyIndex, turnIndex, waitAsync, type WorkerInit } from './ring.js';

const d = workerData as WorkerInit;
const ctrl = new Int32Array(d.ctrl);

function fail(e: unknown): void {
  if (Atomics.compareExchange(ctrl, ERROR, 0, 1) === 0) {
    const msg = e instanceof Error ? e.message : String(e);
    const bytes = new TextEncoder().encode(msg).subarray(0, ERR_BYTES);
    new Uint8Array(d.err).set(bytes);
    Atomics.store(ctrl, ERRLEN, bytes.length);
  }
  for (let s = 0; s < d.slots; s++) {
    Atomics.store(ctrl, readyIndex(s), READY_ERROR);
    Atomics.notify(ctrl, readyIndex(s));
  }
}

async function run(): Promise<void> {
  const prep = new BatchPreparer(d.spec);
  Atomics.add(ctrl, ALIVE, 1);
  Atomics.notify(ctrl, ALIVE);
  const B = d.batchSize;
  const n = d.order.length;
  for (let b = d.worker; b < d.numBatches; b += d.workers) {
    const s = b % d.slots;
    for (;;) {
      if (Atomics.load(ctrl, STOP) !== 0 || Atomics.load(ctrl, ERROR) !== 0) return;
      const t = Atomics.load(ctrl, turnIndex(s));
      if (t === b) break;
      const r = waitAsync(ctrl, turnIndex(s), t, 1000);
      if (r.async) await r.value;
    }
    const start = b * B;
    const count = Math.min(start + B, n) - start;
    const x = new Float32Array(d.xs, s * B * d.sampleSize * 4, count * d.sampleSize);
    const y = new Int32Array(d.ys, s * B * 4, count);
    await prep.prepare(d.order.subarray(start, start + count), batchSeed(d.epochSeed, b), x, y);
    Atomics.store(ctrl, countIndex(s), count);
    Atomics.store(ctrl, readyIndex(s), b);
    Atomics.notify(ctrl, readyIndex(s));
  }
}

process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);
process.on('exit', () => {
  Atomics.add(ctrl, EXITED, 1);
  for (let s = 0; s < d.slots; s++) Atomics.notify(ctrl, readyIndex(s));
});
// A pending Atomics.waitAsync does not keep the event loop alive: hold a timer while running.
const keepAlive = setInterval(() => undefined, 1 << 30);
run()
  .catch(fail)
  .finally(() => clearInterval(keepAlive));
