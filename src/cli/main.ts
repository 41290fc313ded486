#!/usr/bin/env node
/**
 * The `convnet` command-line tool: `convnet <command> [options]`. Dispatches to one file per
 * command; errors the user can fix (unknown model, bad flag value, missing data, ...) are printed
 * as one line on stderr with a non-zero exit code, with the stack trace only under `--verbose`.
 */
// The package entry: besides the backend switch it installs the Tensor methods (backward, ops).
import { getBackend, nativeAvailable, useBackend } from '../index.js';
import { CliError, UsageError, parseFlags, stringFlag } from './args.js';
import { GLOBAL_HELP, type Command } from './command.js';
import { modelsCommand } from './models.js';
import { summaryCommand } from './summary.js';
import { trainCommand } from './train.js';
import { evalCommand } from './eval.js';
import { predictCommand } from './predict.js';
import { benchCommand } from './bench.js';
import { exportCommand } from './export.js';

/** Commands that run on the webgpu backend today (the others read tensors synchronously). */
const WEBGPU_COMMANDS = ['models', 'summary', 'bench'];

/** Every command, in `--help` order. */
export const commands: readonly Command[] = [
  modelsCommand,
  summaryCommand,
  trainCommand,
  evalCommand,
  predictCommand,
  benchCommand,
  exportCommand,
];

function mainHelp(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return `Usage: convnet <command> [options]

Commands:
${commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Run 'convnet <command> --help' for a command's options.
${GLOBAL_HELP}`;
}

/**
 * Selects the backend of `--backend` or `--device` (gpu = webgpu, cpu = native when the addon
 * loaded, else reference); without either, CONVNET_BACKEND or the library's default. Creating the
 * webgpu backend is asynchronous; without an adapter the error is one line saying why.
 */
async function selectBackend(value: string | undefined, device: string | undefined): Promise<void> {
  if (value !== undefined && device !== undefined) throw new UsageError('give --backend or --device, not both');
  if (device !== undefined && device !== 'gpu' && device !== 'cpu') throw new UsageError(`--device must be gpu or cpu, got '${device}'`);
  const name = device === 'gpu' ? 'webgpu' : device === 'cpu' ? (nativeAvailable() ? 'native' : 'reference') : value;
  if (name !== undefined && name !== 'native' && name !== 'reference' && name !== 'webgpu') {
    throw new UsageError(`--backend must be native, reference or webgpu, got '${name}'`);
  }
  if (name === 'native' && !nativeAvailable()) {
    throw new CliError('--backend native: the native addon is not built (run npm run build:native, or use --backend reference)');
  }
  try {
    // Without a flag: CONVNET_BACKEND (webgpu included) or the default.
    if (name !== undefined || process.env.CONVNET_BACKEND !== undefined) await useBackend(name);
  } catch (e) {
    throw new CliError(`${device !== undefined ? `--device ${device}` : name !== undefined ? `--backend ${name}` : 'CONVNET_BACKEND'}: ${(e as Error).message}`);
  }
}

/**
 * Runs the tool on `argv` (without `node` and the script); resolves to the exit code.
 * @example await main(['summary', 'lenet', '--json'])
 */
export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(mainHelp());
    return name === undefined ? 2 : 0;
  }
  const command = commands.find((c) => c.name === name);
  if (command === undefined) {
    throw new UsageError(`unknown command '${name}'; commands: ${commands.map((c) => c.name).join(', ')} (see convnet --help)`);
  }
  const args = parseFlags(rest, command.flags, command.name);
  if (args.flags.help === true) {
    console.log(command.help);
    return 0;
  }
  await selectBackend(stringFlag(args, 'backend'), stringFlag(args, 'device'));
  if (getBackend().name === 'webgpu' && !WEBGPU_COMMANDS.includes(command.name)) {
    throw new CliError(
      `convnet ${command.name} on webgpu: the trainer, checkpoints and figures read tensors synchronously, which a GPU cannot do; ` +
        `this comes with the engine's asynchronous read-back (until then: convnet ${WEBGPU_COMMANDS.join('/')} --backend webgpu)`,
    );
  }
  return command.run(args);
}

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
