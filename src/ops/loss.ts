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

/** Options of `crossEntropy`. */
export interface CrossEntropyOptions extends LossOptions {
  /**
   * Label smoothing ε in [0, 1] (default 0), PyTorch's `label_smoothing`: the target becomes
   * (1 − ε)·one-hot + ε/C, i.e. loss_i = (1 − ε)·(−log p[i, y_i]) + ε·mean_c(−log p[i, c]).
   */
  labelSmoothing?: number;
}

/**
 * Cross entropy of logits [N, C] against int32 class indices [N]: -logSoftmax(logits)[i, target[i]],
 * averaged over the batch by default (as `F.cross_entropy`), optionally with label smoothing.
 * @example const loss = crossEntropy(net.forward(x), y); loss.backward();
 * @example crossEntropy(logits, y, { labelSmoothing: 0.1 })
 */
export function crossEntropy(logits: Tensor, target: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const k = sameBackend('crossEntropy', logits, target);
  checkFloat('crossEntropy', logits, 'logits');
  const reduction = reductionOf('crossEntropy', opts);
  const eps = opts.labelSmoothing ?? 0;
  if (typeof eps !== 'number' || !(eps >= 0 && eps <= 1)) {
    throw new Error(`crossEntropy: labelSmoothing must be a number in [0, 1], got ${String(opts.labelSmoothing)}`);
  }
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
  if (eps > 0) {
    // Per row: -(1 - eps) * ls[i, y_i] - (eps / C) * sum_c ls[i, c].
    const rowSum = reshapeOwned(k, k.reduce('sum', ls, shape, [1]), [N, 1], [N], 'float32');
    const nll = k.scalar('mul', picked, [N], -(1 - eps), false);
    const perRow = k.axpy(nll, rowSum, [N], -eps / C);
    k.dispose(nll);
    k.dispose(rowSum);
    if (reduction === 'none') out = wrap(k, perRow, [N]);
    else {
      out = reduceLoss(k, perRow, [N], reduction, 1);
      k.dispose(perRow);
    }
  } else if (reduction === 'none') {
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
      let dls = gk.scatterRows((eps > 0 ? mul(gi, 1 - eps) : gi).storage, shape, target.storage);
      if (eps > 0) {
        // Label smoothing adds -w_i * eps / C to every class of row i.
        const spread = reshape(mul(gi, eps / C), [N, 1]);
        const withSmooth = gk.binary('add', dls, shape, spread.storage, [N, 1], shape);
        gk.dispose(dls);
        dls = withSmooth;
      }
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
