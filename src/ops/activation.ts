/** Activations: relu, sigmoid, tanh, softmax and logSoftmax. */
import { Tensor } from '../tensor/tensor.js';
import { fmt, normAxis } from '../tensor/shape.js';
import { checkFloat, record, sameBackend, wrap } from './util.js';
import { mul, sub, unaryOp } from './elementwise.js';
import { traceOp, tracing } from './trace.js';

/** max(x, 0). The backward uses the saved output (the `reluBackward` kernel). */
export function relu(x: Tensor): Tensor {
  const k = sameBackend('relu', x);
  const out = wrap(k, k.unary('relu', x.storage, x.shape), x.shape);
  if (tracing.tracer !== null) traceOp('relu', [x], out);
  return record('relu', [x], out, (gy) => [wrap(gy.kernels, gy.kernels.reluBackward(gy.storage, out.storage, x.shape), x.shape)]);
}

/** 1 / (1 + e^-x); gradient y (1 - y), one fused kernel (`sigmoidBackward`) on the saved output. */
export function sigmoid(x: Tensor): Tensor {
  return unaryOp('sigmoid', 'sigmoid', x, (gy, _x, y) => wrap(gy.kernels, gy.kernels.sigmoidBackward(gy.storage, y.storage, y.shape), y.shape));
}

/** Hyperbolic tangent; gradient 1 - y^2. */
export function tanh(x: Tensor): Tensor {
  return unaryOp('tanh', 'tanh', x, (gy, _x, y) => wrap(gy.kernels, gy.kernels.tanhBackward(gy.storage, y.storage, y.shape), y.shape));
}

function softmaxOp(name: string, x: Tensor, dim: number, log: boolean): Tensor {
  const k = sameBackend(name, x);
  checkFloat(name, x);
  if (x.ndim === 0) throw new Error(`${name}: expected a tensor with at least one dim, got shape ${fmt(x.shape)}`);
  const axis = normAxis(dim, x.ndim, name);
  const out = wrap(k, k.softmax(x.storage, x.shape, axis, log), x.shape);
  if (tracing.tracer !== null) traceOp(name, [x], out, { axis });
  return record(name, [x], out, (gy) => [
    wrap(gy.kernels, gy.kernels.softmaxBackward(gy.storage, out.storage, x.shape, axis, log), x.shape),
  ]);
}

/** exp(x) / sum(exp(x)) along `dim` (default the last). @example softmax(logits, 1) */
export function softmax(x: Tensor, dim = -1): Tensor {
  return softmaxOp('softmax', x, dim, false);
}

/** log(softmax(x)) along `dim` (default the last), computed stably. */
export function logSoftmax(x: Tensor, dim = -1): Tensor {
  return softmaxOp('logSoftmax', x, dim, true);
}
