/** The shape of a `convnet` sub-command: its name, help text, flags and what it runs. */
import type { FlagSpec, ParsedArgs } from './args.js';

/** A sub-command of the `convnet` tool (`models`, `train`, ...). */
export interface Command {
  /** The word after `convnet`. */
  name: string;
  /** One line for `convnet --help`. */
  summary: string;
  /** The full `--help` text (usage line, arguments, flags). */
  help: string;
  /** Flags the command accepts (besides the global `--backend`, `--device`, `--verbose`, `--help`). */
  flags: FlagSpec;
  /** Runs the command; resolves to the exit code. */
  run(args: ParsedArgs): Promise<number>;
}

/** The flags every command takes, for the help texts. */
export const GLOBAL_HELP = `Global options:
  --backend native|reference|webgpu   kernels to run on (default: native when the addon is built)
  --device cpu|gpu             cpu: native (or reference); gpu: webgpu (WebGPU through Dawn)
  --verbose                    print stack traces of errors
  -h, --help                   this help`;
