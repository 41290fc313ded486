/**
 * The `convnet` program: commander (https://github.com/tj/commander.js) built from the commands'
 * option and argument specs (command.ts), so parsing, `--help`, `--version` and "did you mean"
 * suggestions come from one description. Commander's errors are turned into the tool's one-line
 * `UsageError`s (exit code 2); the command itself runs after parsing, outside commander.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command as Commander, CommanderError, Option } from 'commander';
import { nativeAvailable, useBackend } from '../index.js';
import { addonError } from '../backend/native/addon.js';
import { nativeFix } from '../backend/native/status.js';
import { CliError, UsageError, stringFlag, type ParsedArgs } from './args.js';
import { GLOBAL_OPTIONS, type Command, type OptionSpec } from './command.js';
import { modelsCommand } from './models.js';
import { summaryCommand } from './summary.js';
import { trainCommand } from './train.js';
import { evalCommand } from './eval.js';
import { predictCommand } from './predict.js';
import { benchCommand } from './bench.js';
import { exportCommand } from './export.js';

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

/** The package's version (package.json two or three folders up: src/cli or dist/src/cli). */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    dir = dirname(dir);
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'convnet' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not here: look one folder up
    }
  }
  return 'unknown';
}

/** `--name <placeholder>` or `--name` for a switch. */
function flagsOf(spec: OptionSpec): string {
  const placeholder = spec.value ?? spec.choices?.join('|');
  return placeholder === undefined ? `--${spec.name}` : `--${spec.name} <${placeholder}>`;
}

/** True when the spec takes a value. */
const takesValue = (spec: OptionSpec): boolean => spec.value !== undefined || spec.choices !== undefined;

/** The specs a command accepts: its own and the global ones. */
function allOptions(command: Command): OptionSpec[] {
  return [...command.options, ...GLOBAL_OPTIONS];
}

/**
 * Commander's error as the tool's one-line usage error, in the wording the tool has always used,
 * with commander's suggestion ("did you mean --epochs?") kept.
 */
function usageError(err: CommanderError, command: Command | null, parsed: Commander): UsageError {
  const suggestion = /\(Did you mean (.+?)\?\)/.exec(err.message)?.[1];
  const hint = suggestion === undefined ? '' : ` (did you mean ${suggestion}?)`;
  const quoted = /'([^']*)'/.exec(err.message)?.[1] ?? '';
  const where = command === null ? 'convnet' : `convnet ${command.name}`;
  switch (err.code) {
    case 'commander.unknownCommand':
      return new UsageError(`unknown command '${quoted}'${hint}; commands: ${commands.map((c) => c.name).join(', ')} (see convnet --help)`);
    case 'commander.unknownOption': {
      // `--json=1`: commander sees an unknown option; it is a switch given a value.
      const eq = quoted.indexOf('=');
      const name = quoted.slice(2, eq);
      if (command !== null && eq > 2 && allOptions(command).some((o) => o.name === name && !takesValue(o))) {
        return new UsageError(`--${name} takes no value`);
      }
      return new UsageError(`unknown option '${quoted}' for '${where}'${hint} (see ${where} --help)`);
    }
    case 'commander.optionMissingArgument':
      return new UsageError(`${/'(--[^ ']+)/.exec(err.message)?.[1] ?? 'the option'} needs a value`);
    case 'commander.missingArgument':
      return new UsageError(`${command?.name ?? 'convnet'}: missing <${quoted}> (see ${where} --help)`);
    case 'commander.excessArguments':
      return new UsageError(`${command?.name ?? 'convnet'}: unexpected argument '${parsed.args[parsed.registeredArguments.length] ?? ''}' (see ${where} --help)`);
    default:
      return new UsageError(err.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim());
  }
}

/** Commander's exits that are not errors: help or version printed. */
const DONE_CODES = new Set(['commander.helpDisplayed', 'commander.help', 'commander.version']);

/** Settings shared by the program and every sub-command: errors are thrown, never printed by commander. */
function quiet(c: Commander, command: Command | null): Commander {
  return c
    .configureOutput({ outputError: () => undefined })
    .exitOverride((err) => {
      throw DONE_CODES.has(err.code) ? err : usageError(err, command, c);
    })
    .showSuggestionAfterError(true);
}

/** A parsed command line: the command to run and its arguments. */
export interface Invocation {
  /** The command named on the command line. */
  command: Command;
  /** Its flags and positionals. */
  args: ParsedArgs;
}

/**
 * The commander program of `commands`. Parsing a command line with it calls `onParsed` with the
 * command and its arguments (the caller runs it afterwards).
 */
export function buildProgram(onParsed: (inv: Invocation) => void): Commander {
  const program = quiet(new Commander('convnet'), null)
    .usage('<command> [options]')
    .description('Deep learning in TypeScript: the modern CNNs of d2l.ai, trained on Fashion-MNIST or your images.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'this help')
    .helpCommand('help [command]', "a command's help")
    .enablePositionalOptions()
    // The command list shows names only; each command's --help shows its arguments and options.
    .configureHelp({ subcommandTerm: (c) => c.name() })
    .addHelpText('after', "\nRun 'convnet <command> --help' for a command's options.");
  for (const command of commands) {
    const sub = quiet(new Commander(command.name), command).summary(command.summary).description(command.description);
    for (const a of command.arguments) sub.argument(a.name, a.help);
    const options = new Map<string, Option>();
    sub.optionsGroup('Options:');
    for (const spec of command.options) options.set(spec.name, new Option(flagsOf(spec), spec.help));
    for (const o of options.values()) sub.addOption(o);
    sub.optionsGroup('Global options:');
    for (const spec of GLOBAL_OPTIONS) {
      const o = new Option(flagsOf(spec), spec.help);
      options.set(spec.name, o);
      sub.addOption(o);
    }
    sub.helpOption('-h, --help', 'this help');
    sub.action(() => {
      const flags: Record<string, string | true> = {};
      for (const [name, o] of options) {
        const v = sub.getOptionValue(o.attributeName()) as string | boolean | undefined;
        if (v !== undefined) flags[name] = v === true ? true : String(v);
      }
      onParsed({ command, args: { flags, positionals: [...sub.args] } });
    });
    program.addCommand(sub);
  }
  return program;
}

/**
 * Checks what commander leaves to us: `--out --resume` takes the next flag as `--out`'s value in
 * commander; here, as always, it means `--out` has no value. And values outside a flag's `choices`.
 */
function checkValues(argv: readonly string[], inv: Invocation): void {
  const specs = allOptions(inv.command);
  for (let i = 0; i < argv.length - 1; i++) {
    const arg = argv[i]!;
    if (arg === '--') break;
    const spec = specs.find((s) => `--${s.name}` === arg);
    if (spec === undefined || !takesValue(spec)) continue;
    const next = argv[i + 1]!;
    if (next.startsWith('--') && next.length > 2) throw new UsageError(`--${spec.name} needs a value`);
    i++;
  }
  for (const spec of specs) {
    const v = inv.args.flags[spec.name];
    if (spec.choices !== undefined && typeof v === 'string' && !spec.choices.includes(v)) {
      throw new UsageError(`--${spec.name} must be ${spec.choices.join(' or ')}, got '${v}'`);
    }
  }
}

/**
 * Parses `argv` (without `node` and the script). Returns the invocation, or the exit code when
 * commander printed the help or the version. Throws a `UsageError` for a bad command line.
 * @example parse(['train', 'lenet', '--epochs', '2']) // { command: trainCommand, args: { flags: { epochs: '2' }, positionals: ['lenet'] } }
 */
export function parse(argv: readonly string[]): Invocation | number {
  // `convnet help <command>` is `convnet <command> --help` (so a mistyped name gets a suggestion).
  if (argv[0] === 'help' && argv.length > 1) {
    argv = commands.some((c) => c.name === argv[1]) ? [argv[1]!, '--help'] : [argv[1]!];
  }
  let inv: Invocation | null = null;
  const program = buildProgram((i) => (inv = i));
  try {
    program.parse([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError && DONE_CODES.has(e.code)) return e.exitCode;
    throw e;
  }
  if (inv === null) throw new UsageError('missing command (see convnet --help)');
  checkValues(argv, inv);
  return inv;
}


/**
 * Selects the backend of `--backend` or `--device` (gpu = webgpu; cpu = native when the addon
 * loaded, else reference); without either, CONVNET_BACKEND or the library's default. Creating the
 * webgpu backend is asynchronous; without an adapter the error is one line saying why. Resolves to
 * true when the command will run on webgpu (without creating a CPU backend just to ask).
 */
async function selectBackend(value: string | undefined, device: string | undefined): Promise<boolean> {
  if (value !== undefined && device !== undefined) throw new UsageError('give --backend or --device, not both');
  const name = device === 'gpu' ? 'webgpu' : device === 'cpu' ? (nativeAvailable() ? 'native' : 'reference') : value;
  if (name === undefined && process.env.CONVNET_BACKEND !== 'webgpu') return false; // the library's default: native when available, CONVNET_BACKEND honoured
  if (name === 'native' && !nativeAvailable()) {
    throw new CliError(`--backend native: ${addonError}; fix: ${nativeFix(addonError)} (or use --backend reference)`);
  }
  try {
    return (await useBackend(name as 'native' | 'reference' | 'webgpu' | undefined)).name === 'webgpu';
  } catch (e) {
    const flag = device !== undefined ? `--device ${device}` : name !== undefined ? `--backend ${name}` : 'CONVNET_BACKEND=webgpu';
    throw new CliError(`${flag}: ${(e as Error).message}`);
  }
}


/**
 * Runs the tool on `argv` (without `node` and the script); resolves to the exit code. Without a
 * command it prints the help and exits with 2.
 * @example await main(['summary', 'lenet', '--json'])
 */
export async function main(argv: readonly string[]): Promise<number> {
  if (argv.length === 0) {
    buildProgram(() => undefined).outputHelp();
    return 2;
  }
  const inv = parse(argv);
  if (typeof inv === 'number') return inv;
  const onWebgpu = await selectBackend(stringFlag(inv.args, 'backend'), stringFlag(inv.args, 'device'));
  // Data-parallel training exchanges gradients through host memory, which a GPU backend reads back
  // only asynchronously.
  const parallel = ['nproc', 'sync-bn'].find((f) => inv.args.flags[f] !== undefined && inv.args.flags[f] !== '1');
  if (onWebgpu && inv.command.name === 'train' && parallel !== undefined) {
    throw new CliError(`convnet train --${parallel} runs on the CPU backends (native, reference), not on webgpu`);
  }
  return inv.command.run(inv.args);
}
