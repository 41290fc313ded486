/**
 * Atomic file replacement: a file is written under a temporary name next to its destination,
 * flushed to disk and renamed over the destination, so readers (and a restarted process after a
 * crash) see either the old file or the complete new one, never a half-written file.
 */
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Writes `path` atomically: `write(fd)` fills `path.tmp-<pid>`, which is fsync-ed, closed and
 * renamed over `path`. When any step throws, the temporary file is removed, whatever was at `path`
 * is left untouched, and the error is rethrown.
 * @example writeFileAtomic('out.bin', (fd) => writeSync(fd, bytes));
 */
export function writeFileAtomic(path: string, write: (fd: number) => void): void {
  // The pid keeps two processes writing the same destination from sharing a temporary file.
  const tmp = `${path}.tmp-${process.pid}`;
  let fd: number | null = openSync(tmp, 'w');
  try {
    write(fd);
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== null) {
      try {
        closeSync(fd);
      } catch {
        // The write error is the one worth reporting.
      }
    }
    try {
      unlinkSync(tmp);
    } catch {
      // Already gone; nothing to clean up.
    }
    throw e;
  }
  // Persist the rename itself. Some file systems refuse fsync on a directory; that only weakens
  // durability across a power loss (the file is complete either way), so it is not an error.
  try {
    const dfd = openSync(dirname(path), 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // See above.
  }
}

/**
 * Writes `data` (bytes, or a string as UTF-8) to `path` atomically (see `writeFileAtomic`); errors
 * name the file.
 * @example writeBytesAtomic('runs/x/metrics.jsonl', lines.join('\n'));
 */
export function writeBytesAtomic(path: string, data: Uint8Array | string): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  try {
    writeFileAtomic(path, (fd) => {
      for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
    });
  } catch (e) {
    throw new Error(`could not write ${path}: ${(e as Error).message}`, { cause: e });
  }
}
