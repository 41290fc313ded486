/**
 * Browser stand-in for `node:fs`, mapped by the bundle only for modules that read /proc files in a
 * try/catch (backend/index.ts: the CPU's bf16 instructions; train/memory.ts: the memory available;
 * models/bench.ts: the peak resident memory): a page has no file
 * system, so every read fails and the caller takes its fallback.
 */

/** Always throws (no file system in a browser). */
export function readFileSync(path: string, _encoding?: string): never {
  throw new Error(`${path}: no file system in a browser`);
}
