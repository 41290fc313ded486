/**
 * The errors of the `convnet` tool and typed readers of its parsed flags: a bad value fails with one
 * line naming the flag and what it expects. (Parsing itself, from the option specs, is program.ts.)
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

/**
 * A command's parsed command line (src/cli/program.ts): flag values by long name without dashes
 * (switches are `true`; a flag not given is absent), and the positional arguments.
 */
export interface ParsedArgs {
  /** Values of the flags given (a flag given twice keeps the last value). */
  flags: Record<string, string | true>;
  /** Arguments that are not flags, in order. */
  positionals: string[];
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
