/** Losses: cross entropy on logits with int32 class targets, and mean squared error. */
import type { Storage } from '../backend/kernels.js';
import { Tensor } from '../tensor/tensor.js';
import { fmt, sameShape } from '../tensor/shape.js';
import { checkFloat, record, reshapeOwned, sameBackend, wrap } from './util.js';
import { mul } from './elementwise.js';
import { broadcastTo, reshape } from './shape.js';

/** How per-element losses are combined (PyTorch's `reduction`). */
export type Reduction = 'mean' | 'sum' | 'none';

/** Options of the losses. */
export interface LossOptions {
  /** 'mean' (default), 'sum' or 'none' (per-element losses). */
  reduction?: Reduction;
}

function reductionOf(op: string, opts: LossOptions): Reduction {
  const r = opts.reduction ?? 'mean';
  if (r !== 'mean' && r !== 'sum' && r !== 'none') {
    throw new Error(`${op}: reduction must be 'mean', 'sum' or 'none', got '${String(r)}'`);
  }
  return r;
}

/** Reduces a [n] storage (owned by the call) to a 0-d tensor by sum/mean, scaled by `sign`. */
function reduceLoss(k: Tensor['kernels'], s: Storage, shape: readonly number[], reduction: 'mean' | 'sum', sign: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const axes = shape.map((_, i) => i);
  const total = axes.length === 0 ? k.scalar('mul', s, shape, 1, false) : k.reduce('sum', s, shape, axes);
  const kd = shape.map(() => 1);
  const scaled = k.scalar('mul', total, kd, reduction === 'mean' ? sign / n : sign, false);
  k.dispose(total);
  return wrap(k, reshapeOwned(k, scaled, kd, [], 'float32'), []);
}

/**
 * Cross entropy of logits [N, C] against int32 class indices [N]: -logSoftmax(logits)[i, target[i]],
 * averaged over the batch by default (as `F.cross_entropy`).
 * @example const loss = crossEntropy(net.forward(x), y); loss.backward();
 */
export function crossEntropy(logits: Tensor, target: Tensor, opts: LossOptions = {}): Tensor {
  const k = sameBackend('crossEntropy', logits, target);
  checkFloat('crossEntropy', logits, 'logits');
  const reduction = reductionOf('crossEntropy', opts);
  if (logits.ndim !== 2) throw new Error(`crossEntropy: expected logits [N, C], got ${fmt(logits.shape)}`);
  if (target.dtype !== 'int32') {
    throw new Error(`crossEntropy: target must be int32 class indices, got ${target.dtype} of shape ${fmt(target.shape)}`);
  }
  const [N, C] = [logits.shape[0]!, logits.shape[1]!];
  if (target.ndim !== 1 || target.shape[0] !== N) {
    throw new Error(`crossEntropy: target must have shape [${N}] for logits ${fmt(logits.shape)}, got ${fmt(target.shape)}`);
  }
  const shape = [N, C];
  const ls = k.softmax(logits.storage, shape, 1, true);
  let picked: Storage;
  try {
    picked = k.gatherRows(ls, shape, target.storage);
  } catch (e) {
    k.dispose(ls);
    throw new Error(`crossEntropy: ${(e as Error).message} (logits ${fmt(logits.shape)}: targets must lie in [0, ${C}))`, {
      cause: e,
    });
  }
  let out: Tensor;
  if (reduction === 'none') {
    out = wrap(k, k.unary('neg', picked, [N]), [N]);
  } else {
    out = reduceLoss(k, picked, [N], reduction, -1);
  }
  k.dispose(picked);
  const saved = wrap(k, ls, shape);
  return record(
    'crossEntropy',
    [logits, null],
    out,
    (gy) => {
      const gk = gy.kernels;
      // d loss_i / d logSoftmax[i, target[i]] = -w_i (w_i = 1, or 1/N for the mean).
      const scale = reduction === 'mean' ? -1 / N : -1;
      const gi = reduction === 'none' ? mul(gy, scale) : mul(broadcastTo(reshape(gy, [1]), [N]), scale);
      const dls = gk.scatterRows(gi.storage, shape, target.storage);
      try {
        return [wrap(gk, gk.softmaxBackward(dls, saved.storage, shape, 1, true), shape), null];
      } finally {
        gk.dispose(dls);
      }
    },
    [saved],
  );
}

/**
 * Mean squared error between `input` and `target` of the same shape.
 * @example mseLoss(pred, y) // mean((pred - y)^2)
 */
export function mseLoss(input: Tensor, target: Tensor, opts: LossOptions = {}): Tensor {
  const k = sameBackend('mseLoss', input, target);
  checkFloat('mseLoss', input, 'input');
  checkFloat('mseLoss', target, 'target');
  const reduction = reductionOf('mseLoss', opts);
  if (!sameShape(input.shape, target.shape)) {
    throw new Error(`mseLoss: input ${fmt(input.shape)} and target ${fmt(target.shape)} must have the same shape`);
  }
  const shape = input.shape;
  const diff = wrap(k, k.binary('sub', input.storage, shape, target.storage, shape, shape), shape);
  const sq = k.unary('square', diff.storage, shape);
  let out: Tensor;
  if (reduction === 'none') out = wrap(k, sq, shape);
  else {
    out = reduceLoss(k, sq, shape, reduction, 1);
    k.dispose(sq);
  }
  const n = input.size;
  return record(
    'mseLoss',
    [input, target],
    out,
    (gy, needs) => {
      // d/d input = 2 (input - target) * gy (/ n for the mean); d/d target is its negation.
      const scale = reduction === 'mean' ? 2 / n : 2;
      const g = reduction === 'none' ? mul(mul(diff, gy), scale) : mul(diff, mul(gy, scale));
      return [needs[0] ? g : null, needs[1] ? mul(g, -1) : null];
    },
    [diff],
  );
}
