/**
 * The shape of a `convnet` sub-command: its name, arguments, options and what it runs. The option
 * specs here are the single source of both parsing and `--help` (src/cli/program.ts builds the
 * commander program from them): adding a flag is one entry in a command's `options` list (or a
 * shared constant below when several commands take it), plus reading it with the typed readers of
 * args.ts in `run`.
 */
import type { ParsedArgs } from './args.js';

/**
 * One `--flag` of a command.
 * @example { name: 'epochs', value: 'N', help: 'total epochs (default 10)' } // --epochs N
 * @example { name: 'json', help: 'print JSON' }                              // a switch
 * @example { name: 'precision', choices: ['fp32', 'bf16-mixed'], help: '...' } // --precision fp32|bf16-mixed
 */
export interface OptionSpec {
  /** Long name without the dashes (`batch-size` is `--batch-size`, read as `args.flags['batch-size']`). */
  name: string;
  /** Placeholder of the value in the help (`N`, `DIR`). Absent (and no `choices`): a switch. */
  value?: string;
  /** The allowed values: shown as the placeholder (unless `value` is given) and checked when parsing. */
  choices?: readonly string[];
  /** One sentence for `--help` (wrapped to the terminal); say the default here. */
  help: string;
}

/** A positional argument: `<name>` (required), `[name]` (optional), `<name...>` (one or more). */
export interface ArgumentSpec {
  /** As written in the usage line, e.g. `<model>`, `<image...>`. */
  name: string;
  /** One sentence for `--help`. */
  help: string;
}

/** A sub-command of the `convnet` tool (`models`, `train`, ...). */
export interface Command {
  /** The word after `convnet`. */
  name: string;
  /** One line for `convnet --help`. */
  summary: string;
  /** What the command does, for its `--help` (line breaks are kept, long lines wrapped). */
  description: string;
  /** Positional arguments, in order (their count is checked before `run`). */
  arguments: readonly ArgumentSpec[];
  /** Flags the command accepts besides `GLOBAL_OPTIONS`, in `--help` order. */
  options: readonly OptionSpec[];
  /** Runs the command on its parsed arguments; resolves to the exit code. */
  run(args: ParsedArgs): Promise<number>;
}

/** `--backend`: every command takes it (main.ts selects the backend before `run`). */
export const BACKEND_OPTION: OptionSpec = {
  name: 'backend',
  choices: ['native', 'reference', 'webgpu'],
  help: 'kernels to run on (default: native when the addon is available; webgpu: a GPU through WebGPU)',
};

/** `--device`: the alias users guess for the backend (gpu = webgpu; cpu = native, else reference). */
export const DEVICE_OPTION: OptionSpec = {
  name: 'device',
  choices: ['cpu', 'gpu'],
  help: 'cpu: the native backend (reference without the addon); gpu: webgpu',
};

/** `--verbose`: stack traces of errors instead of one line. */
export const VERBOSE_OPTION: OptionSpec = { name: 'verbose', help: 'print stack traces of errors' };

/** Flags every command accepts (listed under "Global options"; `-h, --help` is added to them). */
export const GLOBAL_OPTIONS: readonly OptionSpec[] = [BACKEND_OPTION, DEVICE_OPTION, VERBOSE_OPTION];

/** `--batch-size N`, shared by the commands that batch images; `dflt` describes the default. */
export function batchSizeOption(dflt: string): OptionSpec {
  return { name: 'batch-size', value: 'N', help: `images per batch (default: ${dflt})` };
}

/** `--json`: machine-readable output; `what` describes it. */
export function jsonOption(what: string): OptionSpec {
  return { name: 'json', help: what };
}
