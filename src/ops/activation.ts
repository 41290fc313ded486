/** Activations: relu, sigmoid, tanh, hardswish, silu, softmax and logSoftmax. */
import type { Shape, Storage } from '../backend/kernels.js';
import { Tensor } from '../tensor/tensor.js';
import { fmt, normAxis } from '../tensor/shape.js';
import { defineOp } from './op.js';
import { attr } from './onnx-api.js';
import { add, div, ge, gt, le, mul } from './elementwise.js';
import { installMethods } from './method.js';

/** Declares an activation whose backward is a fused kernel on the saved output y. */
function defineActivation(
  name: 'relu' | 'sigmoid' | 'tanh',
  onnxOp: string,
  grad: (k: Tensor['kernels'], dy: Storage, y: Storage, shape: Shape) => Storage,
): (x: Tensor) => Tensor {
  return defineOp({
    name,
    kernel: 'unary',
    ints: name === 'relu' ? 'error' : 'float',
    setup: (x: Tensor) => ({ inputs: [x], params: { shape: x?.shape }, shape: x?.shape }),
    forward: (k, [x], p) => k.unary(name, x as Storage, p.shape),
    backward: (gy, c) => [c.wrap(grad(gy.kernels, gy.storage, c.out.storage, c.params.shape), c.params.shape)],
    saves: () => ({ inputs: [], output: true }),
    onnx: (g) => g.node(onnxOp, [g.name(g.inputs[0]!)]),
  });
}

/** max(x, 0). The backward uses the saved output (the `reluBackward` kernel). */
export const relu = defineActivation('relu', 'Relu', (k, dy, y, shape) => k.reluBackward(dy, y, shape));

/** 1 / (1 + e^-x); gradient y (1 - y), one fused kernel (`sigmoidBackward`) on the saved output. */
export const sigmoid = defineActivation('sigmoid', 'Sigmoid', (k, dy, y, shape) => k.sigmoidBackward(dy, y, shape));

/** Hyperbolic tangent; gradient 1 - y^2 (`tanhBackward` on the saved output). */
export const tanh = defineActivation('tanh', 'Tanh', (k, dy, y, shape) => k.tanhBackward(dy, y, shape));

/**
 * Hardswish, as `torch.nn.functional.hardswish`: x * relu6(x + 3) / 6 (one kernel). Its gradient is
 * PyTorch's: 0 for x < -3, x / 3 + 1/2 for -3 <= x <= 3, and 1 above.
 * @example hardswish(x)
 */
export const hardswish = defineOp({
  name: 'hardswish',
  kernel: 'unary',
  ints: 'float',
  setup: (x: Tensor) => ({ inputs: [x], params: { shape: x?.shape }, shape: x?.shape }),
  forward: (k, [x], p) => k.unary('hardswish', x as Storage, p.shape),
  backward: (gy, c) => {
    const x = c.inputs[0] as Tensor;
    const slope = add(mul(mul(ge(x, -3), le(x, 3)), add(div(x, 3), 0.5)), gt(x, 3));
    return [mul(gy, slope)];
  },
  saves: () => ({ inputs: [0] }),
  onnx: (g) => g.node('HardSwish', [g.name(g.inputs[0]!)]),
});

/**
 * SiLU (swish): x * sigmoid(x), as `torch.nn.functional.silu`. Made of two ops, so it needs no
 * kernel, gradient, ONNX lowering or FLOP rule of its own.
 * @example silu(x)
 */
export function silu(x: Tensor): Tensor {
  return mul(x, sigmoid(x));
}

function defineSoftmax(name: 'softmax' | 'logSoftmax', log: boolean): (x: Tensor, dim?: number) => Tensor {
  return defineOp({
    name,
    kernel: 'softmax',
    autocast: 'float32',
    setup: (x: Tensor, dim = -1) => {
      if (x instanceof Tensor && x.ndim === 0) throw new Error(`${name}: expected a tensor with at least one dim, got shape ${fmt(x.shape)}`);
      const axis = x instanceof Tensor ? normAxis(dim, x.ndim, name) : 0;
      return { inputs: [x], params: { axis, shape: x?.shape }, shape: x?.shape };
    },
    forward: (k, [x], p) => k.softmax(x as Storage, p.shape, p.axis, log),
    backward: (gy, c) => [c.wrap(gy.kernels.softmaxBackward(gy.storage, c.out.storage, c.params.shape, c.params.axis, log), c.params.shape)],
    saves: () => ({ inputs: [], output: true }),
    onnx: (g, p) => g.node(log ? 'LogSoftmax' : 'Softmax', [g.name(g.inputs[0]!)], { axis: attr.int(p.axis) }),
  });
}

/** exp(x) / sum(exp(x)) along `dim` (default the last). @example softmax(logits, 1) */
export const softmax = defineSoftmax('softmax', false);

/** log(softmax(x)) along `dim` (default the last), computed stably. */
export const logSoftmax = defineSoftmax('logSoftmax', true);

declare module '../tensor/tensor.js' {
  interface Tensor {
    relu(): Tensor;
    sigmoid(): Tensor;
    tanh(): Tensor;
    silu(): Tensor;
    hardswish(): Tensor;
    softmax(dim?: number): Tensor;
    logSoftmax(dim?: number): Tensor;
  }
}

installMethods({
  relu() {
    return relu(this);
  },
  sigmoid() {
    return sigmoid(this);
  },
  tanh() {
    return tanh(this);
  },
  silu() {
    return silu(this);
  },
  hardswish() {
    return hardswish(this);
  },
  softmax(dim?: number) {
    return softmax(this, dim);
  },
  logSoftmax(dim?: number) {
    return logSoftmax(this, dim);
  },
});
