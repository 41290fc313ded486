/** Running the built CLI (`dist/src/cli/main.js`) in a child process, for the CLI tests. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The CLI's entry point, beside the compiled tests. */
export const CLI_MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'main.js');

/** What one run printed, its exit status and how long it took. */
export interface CliRun {
  status: number | null;
  /** The signal that ended it (null when it exited). */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Options of `convnet`. */
export interface CliOptions {
  /** Kill the run after this long (default 120 s). */
  timeoutMs?: number;
  /** The child's environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** Polled every 10 ms; the process is SIGKILLed once it returns true. */
  killWhen?: () => boolean;
}

/**
 * Runs `convnet ...args` asynchronously (independent runs can overlap) and collects its output.
 * @example const r = ok(await convnet(['models']), 'models');
 */
export function convnet(args: string[], opts: CliOptions = {}): Promise<CliRun> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_MAIN, ...args], { timeout: opts.timeoutMs ?? 120_000, stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    let poll: NodeJS.Timeout | null = null;
    if (opts.killWhen) {
      poll = setInterval(() => {
        if (opts.killWhen!()) {
          child.kill('SIGKILL');
          clearInterval(poll!);
        }
      }, 10);
    }
    child.on('error', reject);
    child.on('close', (status, signal) => {
      if (poll !== null) clearInterval(poll);
      resolve({ status, signal, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

/** Asserts that the run exited with 0 (the message names `what` and shows stderr); returns it. */
export function ok(r: CliRun, what: string): CliRun {
  assert.equal(r.status, 0, `${what} failed (${r.status}): ${r.stderr}`);
  return r;
}
