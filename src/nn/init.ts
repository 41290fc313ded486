/**
 * Parameter initialization, as `torch.nn.init`: every function fills its tensor in place (through
 * `Tensor.assign`) and returns it. Called on a lazy layer's still-uninitialized parameter, the fill is
 * remembered and runs right after the layer materializes (after its default init) — PyTorch raises
 * there instead. `initCnn` follows d2l's `init_cnn` exactly and skips still-lazy layers (see there);
 * `xavierInitCnn` is the variant that also reaches them.
 */
import { Tensor } from '../tensor/tensor.js';
import { hostArrayOf, isFloat } from '../tensor/dtype.js';
import { fmt } from '../tensor/shape.js';
import { defaultGenerator, type Generator } from '../tensor/random.js';
import { Parameter } from './parameter.js';
import { releaseHostArray } from '../backend/index.js';

/** Nonlinearities known to `calculateGain`. */
export type Nonlinearity =
  | 'linear'
  | 'conv1d'
  | 'conv2d'
  | 'conv3d'
  | 'sigmoid'
  | 'tanh'
  | 'relu'
  | 'leaky_relu'
  | 'leakyRelu'
  | 'selu';

/** Which fan Kaiming init preserves: `'fanIn'` (forward pass, default) or `'fanOut'` (backward). */
export type FanMode = 'fanIn' | 'fanOut' | 'fan_in' | 'fan_out';

/** Options of `kaimingUniform` / `kaimingNormal`. */
export interface KaimingOptions {
  /** Negative slope of the leaky ReLU after this layer (default 0). */
  a?: number;
  /** Default `'fanIn'`. */
  mode?: FanMode;
  /** Default `'leaky_relu'` (PyTorch's default). */
  nonlinearity?: Nonlinearity;
  /** Random source (default: the global generator). */
  generator?: Generator;
}

/** Options of the random fills. */
export interface FillOptions {
  /** Random source (default: the global generator seeded by `manualSeed`). */
  generator?: Generator;
}

/**
 * The recommended gain for a nonlinearity (PyTorch's `calculate_gain`).
 * @example calculateGain('relu') // Math.SQRT2
 */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear':
    case 'conv1d':
    case 'conv2d':
    case 'conv3d':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leaky_relu':
    case 'leakyRelu': {
      const slope = param ?? 0.01;
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case 'selu':
      return 3 / 4;
    default:
      throw new Error(`calculateGain: unsupported nonlinearity '${String(nonlinearity)}'`);
  }
}

/**
 * `[fanIn, fanOut]` of a weight: `[O, I, ...k]` gives `[I * prod(k), O * prod(k)]` (PyTorch's rule);
 * needs at least 2 dims.
 * @example calculateFanInAndFanOut(cn.zeros([96, 1, 11, 11])) // [121, 11616]
 */
export function calculateFanInAndFanOut(t: Tensor): [number, number] {
  const shape = t.shape;
  if (shape.length < 2) {
    throw new Error(`init: fan in and fan out cannot be computed for a tensor with fewer than 2 dimensions (shape ${fmt(shape)})`);
  }
  let receptive = 1;
  for (let i = 2; i < shape.length; i++) receptive *= shape[i]!;
  return [shape[1]! * receptive, shape[0]! * receptive];
}

/** Runs `fill` on `t` now, or when `t` (a lazy parameter) materializes. */
function deferOr<T extends Tensor>(t: T, fill: (t: Tensor) => void): T {
  if (t instanceof Parameter) t.whenMaterialized(fill);
  else fill(t);
  return t;
}

/** Overwrites `t` with the values `fill` writes into a host buffer of its size. */
function fillWith(t: Tensor, fill: (buf: Float32Array) => void): void {
  if (!isFloat(t.dtype)) throw new Error(`init: expected a floating-point tensor, got ${t.dtype}`);
  // Shapes only: there is nothing to fill.
  if (t.kernels.name === 'meta') return;
  const staged = t instanceof Parameter ? t.stagingBuffer : null;
  if (staged !== null) {
    // A layer being built: fill its host buffer, uploaded once when the layer flushes it.
    fill(staged);
    return;
  }
  const data = new Float32Array(t.size);
  fill(data);
  const k = t.kernels;
  const host = hostArrayOf(t.dtype, data);
  t.assign(new Tensor(k.fromHost(host, t.shape, t.dtype), t.shape, t.dtype, k));
  // Freed now rather than at V8's next collection (see releaseHostArray).
  releaseHostArray(k, host);
  if (host !== data) releaseHostArray(k, data);
}

/** U(-bound, bound) as `(2 * g.random() - 1) * bound` per element (random() is exact in float32). */
function symmetricUniform(g: Generator, buf: Float32Array, bound: number): void {
  g.fillUniform(buf);
  for (let i = 0; i < buf.length; i++) buf[i] = (2 * buf[i]! - 1) * bound;
}

function write(t: Tensor, gen: (i: number) => number): void {
  fillWith(t, (buf) => {
    for (let i = 0; i < buf.length; i++) buf[i] = gen(i);
  });
}

/**
 * Fills with U(a, b).
 * @example nn.init.uniform(w, -0.1, 0.1)
 */
export function uniform<T extends Tensor>(t: T, a = 0, b = 1, opts: FillOptions = {}): T {
  return deferOr(t, (x) => {
    const g = opts.generator ?? defaultGenerator;
    fillWith(x, (buf) => g.fillUniform(buf, a, b));
  });
}

/** Fills with N(mean, std²). */
export function normal<T extends Tensor>(t: T, mean = 0, std = 1, opts: FillOptions = {}): T {
  return deferOr(t, (x) => {
    const g = opts.generator ?? defaultGenerator;
    write(x, () => mean + std * g.normal());
  });
}

/** Fills with the constant `v`. */
export function constant<T extends Tensor>(t: T, v: number): T {
  return deferOr(t, (x) => write(x, () => v));
}

/** Fills with 0. */
export function zeros<T extends Tensor>(t: T): T {
  return constant(t, 0);
}

/** Fills with 1. */
export function ones<T extends Tensor>(t: T): T {
  return constant(t, 1);
}

/**
 * Glorot/Xavier uniform: U(-b, b) with b = gain * sqrt(6 / (fanIn + fanOut)).
 * @example nn.init.xavierUniform(linear.weight)
 */
export function xavierUniform<T extends Tensor>(t: T, gain = 1, opts: FillOptions = {}): T {
  return deferOr(t, (x) => {
    const [fanIn, fanOut] = calculateFanInAndFanOut(x);
    const bound = gain * Math.sqrt(6 / (fanIn + fanOut));
    const g = opts.generator ?? defaultGenerator;
    fillWith(x, (buf) => symmetricUniform(g, buf, bound));
  });
}

/** Glorot/Xavier normal: N(0, std²) with std = gain * sqrt(2 / (fanIn + fanOut)). */
export function xavierNormal<T extends Tensor>(t: T, gain = 1, opts: FillOptions = {}): T {
  return deferOr(t, (x) => {
    const [fanIn, fanOut] = calculateFanInAndFanOut(x);
    const std = gain * Math.sqrt(2 / (fanIn + fanOut));
    const g = opts.generator ?? defaultGenerator;
    write(x, () => std * g.normal());
  });
}

function kaimingStd(x: Tensor, opts: KaimingOptions): number {
  const [fanIn, fanOut] = calculateFanInAndFanOut(x);
  const mode = opts.mode ?? 'fanIn';
  const fan = mode === 'fanIn' || mode === 'fan_in' ? fanIn : fanOut;
  if (fan === 0) throw new Error(`init: cannot use Kaiming init on a tensor with zero fan (shape ${fmt(x.shape)})`);
  const gain = calculateGain(opts.nonlinearity ?? 'leaky_relu', opts.a ?? 0);
  return gain / Math.sqrt(fan);
}

/**
 * He/Kaiming uniform: U(-b, b) with b = gain * sqrt(3 / fan). PyTorch's default for Conv2d/Linear
 * weights is `kaimingUniform(w, { a: Math.sqrt(5) })`, i.e. b = 1 / sqrt(fanIn).
 */
export function kaimingUniform<T extends Tensor>(t: T, opts: KaimingOptions = {}): T {
  return deferOr(t, (x) => {
    const bound = Math.sqrt(3) * kaimingStd(x, opts);
    const g = opts.generator ?? defaultGenerator;
    fillWith(x, (buf) => symmetricUniform(g, buf, bound));
  });
}

/** He/Kaiming normal: N(0, std²) with std = gain / sqrt(fan). */
export function kaimingNormal<T extends Tensor>(t: T, opts: KaimingOptions = {}): T {
  return deferOr(t, (x) => {
    const std = kaimingStd(x, opts);
    const g = opts.generator ?? defaultGenerator;
    write(x, () => std * g.normal());
  });
}
