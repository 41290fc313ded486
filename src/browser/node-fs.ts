/**
 * Browser stand-in for `node:fs`, mapped by the bundle only for src/backend/index.ts (which reads
 * /proc/cpuinfo to tell whether the CPU has bf16 instructions, in a try/catch): a page has no file
 * system, so every read fails and the caller takes its fallback.
 */

/** Always throws (no file system in a browser). */
export function readFileSync(path: string, _encoding?: string): never {
  throw new Error(`${path}: no file system in a browser`);
}
