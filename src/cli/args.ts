/**
 * Command-line flag parsing for the `convnet` commands: `--flag value`, `--flag=value`, boolean
 * switches, `--` to end options, positionals. Values are validated by the typed readers below so
 * that a bad value fails with one line naming the flag and what it expects.
 */

/** An error caused by the user's input (bad flag, unknown model, missing file): printed as one line. */
export class CliError extends Error {
  /** Process exit code (2 for usage errors, 1 otherwise). */
  readonly exitCode: number;

  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** A usage error: unknown flag, bad or missing value, wrong number of arguments (exit code 2). */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, 2);
    this.name = 'UsageError';
  }
}

/** How a flag is written: a switch (`--json`) or a flag taking one value (`--epochs 3`). */
export type FlagKind = 'boolean' | 'string';

/** Flags a command accepts, by name without the dashes. */
export type FlagSpec = Readonly<Record<string, FlagKind>>;

/** Flags every command accepts. */
export const GLOBAL_FLAGS: FlagSpec = { backend: 'string', device: 'string', verbose: 'boolean', help: 'boolean' };

/** The result of `parseFlags`: flag values by name (switches are `true`), and the positionals. */
export interface ParsedArgs {
  /** Values of the flags given (a flag given twice keeps the last value). */
  flags: Record<string, string | true>;
  /** Arguments that are not flags, in order. */
  positionals: string[];
}

/**
 * Splits `argv` into flags (checked against `spec` plus the global flags) and positionals.
 * @example parseFlags(['lenet', '--epochs', '2'], { epochs: 'string' }, 'train')
 *   // { flags: { epochs: '2' }, positionals: ['lenet'] }
 */
export function parseFlags(argv: readonly string[], spec: FlagSpec, command: string): ParsedArgs {
  const all: FlagSpec = { ...GLOBAL_FLAGS, ...spec };
  const flags: Record<string, string | true> = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-h') {
      flags.help = true;
      continue;
    }
    if (!arg.startsWith('--') || arg === '--') {
      if (arg.startsWith('-') && arg.length > 1 && !/^-\d/.test(arg)) {
        throw new UsageError(`unknown option '${arg}' for 'convnet ${command}' (see convnet ${command} --help)`);
      }
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const kind = Object.prototype.hasOwnProperty.call(all, name) ? all[name] : undefined;
    if (kind === undefined) throw new UsageError(`unknown option '--${name}' for 'convnet ${command}' (see convnet ${command} --help)`);
    if (kind === 'boolean') {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      flags[name] = true;
      continue;
    }
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      // A following flag is not a value ('--out --resume'); negative numbers are, to be rejected later.
      if (value === undefined || (value.startsWith('--') && value.length > 2)) throw new UsageError(`--${name} needs a value`);
      i++;
    }
    flags[name] = value;
  }
  return { flags, positionals };
}

/** The string value of `--name`, or undefined when not given. */
export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags[name];
  if (v === true) throw new UsageError(`--${name} needs a value`);
  return v;
}

/** True when the switch `--name` was given. */
export function boolFlag(args: ParsedArgs, name: string): boolean {
  return args.flags[name] === true;
}

/** Parses an integer >= `min` given for `what` (a flag name like `--epochs`). */
export function parseInteger(what: string, value: string, min: number): number {
  const n = /^[+-]?\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`${what} must be an integer >= ${min}, got '${value}'`);
  }
  return n;
}

/** The integer value of `--name` (>= `min`), or undefined when not given. */
export function intFlag(args: ParsedArgs, name: string, min: number): number | undefined {
  const v = stringFlag(args, name);
  return v === undefined ? undefined : parseInteger(`--${name}`, v, min);
}

/** The value of `--name` as a finite number > 0, or undefined when not given. */
export function positiveFlag(args: ParsedArgs, name: string): number | undefined {
  const v = stringFlag(args, name);
  if (v === undefined) return undefined;
  const n = v.trim() === '' ? NaN : Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} must be a positive number, got '${v}'`);
  return n;
}

/** Parses a comma-separated list of positive integers of one of the allowed lengths. */
export function parseIntList(what: string, value: string, lengths: readonly number[], form: string): number[] {
  const parts = value.split(',').map((s) => s.trim());
  const nums = parts.map((p) => (/^\d+$/.test(p) ? Number(p) : NaN));
  if (!lengths.includes(parts.length) || nums.some((n) => !Number.isSafeInteger(n) || n < 1)) {
    throw new UsageError(`${what} must be ${form} (positive integers), got '${value}'`);
  }
  return nums;
}

/** The value of `--name` checked against a fixed set of choices. */
export function choiceFlag<T extends string>(args: ParsedArgs, name: string, choices: readonly T[]): T | undefined {
  const v = stringFlag(args, name);
  if (v === undefined) return undefined;
  if (!(choices as readonly string[]).includes(v)) {
    throw new UsageError(`--${name} must be ${choices.join(' or ')}, got '${v}'`);
  }
  return v as T;
}

/** Checks the number of positionals (`names` describes them for the message). */
export function expectPositionals(args: ParsedArgs, command: string, min: number, max: number, names: string): void {
  const n = args.positionals.length;
  if (n < min) throw new UsageError(`${command}: missing ${names} (see convnet ${command} --help)`);
  if (n > max) {
    throw new UsageError(`${command}: unexpected argument '${args.positionals[max]}' (see convnet ${command} --help)`);
  }
}
