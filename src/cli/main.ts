#!/usr/bin/env node
/**
 * The `convnet` command-line tool: `convnet <command> [options]` (the commands, their options and
 * the parsing are in program.ts). Errors the user can fix (unknown model, bad flag value, missing
 * data, ...) are printed as one line on stderr with a non-zero exit code, with the stack trace only
 * under `--verbose`.
 */
import { CliError } from './args.js';
import { main } from './program.js';

/** One line: the message with its line breaks folded (library errors may span lines). */
function oneLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.replace(/\s*\n\s*/g, ' ').trim();
}

function report(e: unknown, verbose: boolean): number {
  if (verbose && e instanceof Error && e.stack !== undefined) console.error(e.stack);
  else console.error(`convnet: ${oneLine(e)}`);
  return e instanceof CliError ? e.exitCode : 1;
}

// `convnet models | head` closes the pipe early: that is the reader's choice, not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

const argv = process.argv.slice(2);
const verbose = argv.includes('--verbose');
let code: number;
try {
  code = await main(argv);
} catch (e) {
  code = report(e, verbose);
}
// Exit explicitly: the native backend's thread pool or a finished worker must not keep the process up.
process.exit(code);
