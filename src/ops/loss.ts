/**
 * Losses: cross entropy on logits with int32 class targets (with PyTorch's label smoothing), and
 * mean squared error. Both compute in float32 under autocast (PyTorch's CPU float32 list).
 */
import type { Storage } from '../backend/kernels.js';
import { Tensor } from '../tensor/tensor.js';
import { fmt, sameShape } from '../tensor/shape.js';
import { isFloat } from '../tensor/dtype.js';
import { autocastState } from '../autograd/autocast.js';
import { defineOp } from './op.js';
import { attr, OnnxType } from './onnx-api.js';
import { mean, sum } from './reduce.js';
import { square, sub, mul, cast } from './elementwise.js';
import { broadcastTo, reshape } from './shape.js';

/** How per-element losses are combined (PyTorch's `reduction`). */
export type Reduction = 'mean' | 'sum' | 'none';

/** Options of the losses. */
export interface LossOptions {
  /** 'mean' (default), 'sum' or 'none' (per-element losses). */
  reduction?: Reduction;
}

/** Options of `crossEntropy`. */
export interface CrossEntropyOptions extends LossOptions {
  /**
   * Label smoothing ε in [0, 1] (default 0), as PyTorch: the target distribution is
   * (1 - ε)·onehot + ε / C, so loss_i = (1 - ε)·(-log p[i, t_i]) + ε/C · Σ_c (-log p[i, c]).
   */
  labelSmoothing?: number;
}

function reductionOf(op: string, opts: LossOptions): Reduction {
  const r = opts.reduction ?? 'mean';
  if (r !== 'mean' && r !== 'sum' && r !== 'none') {
    throw new Error(`${op}: reduction must be 'mean', 'sum' or 'none', got '${String(r)}'`);
  }
  return r;
}

interface CEParams {
  shape: [number, number];
  reduction: Reduction;
  eps: number;
}

const crossEntropyOp = defineOp({
  name: 'crossEntropy',
  kernel: 'softmax',
  autocast: 'float32',
  setup: (logits: Tensor, target: Tensor, opts: CrossEntropyOptions) => {
    if (!(logits instanceof Tensor)) throw new Error(`crossEntropy: logits must be a Tensor, got ${logits === null ? 'null' : typeof logits}`);
    if (!(target instanceof Tensor)) throw new Error(`crossEntropy: target must be a Tensor, got ${target === null ? 'null' : typeof target}`);
    const reduction = reductionOf('crossEntropy', opts);
    if (logits.ndim !== 2) throw new Error(`crossEntropy: expected logits [N, C], got ${fmt(logits.shape)}`);
    if (target.dtype !== 'int32') throw new Error(`crossEntropy: target must be int32 class indices, got ${target.dtype} of shape ${fmt(target.shape)}`);
    const [N, C] = [logits.shape[0]!, logits.shape[1]!];
    if (target.ndim !== 1 || target.shape[0] !== N) {
      throw new Error(`crossEntropy: target must have shape [${N}] for logits ${fmt(logits.shape)}, got ${fmt(target.shape)}`);
    }
    const eps = opts.labelSmoothing ?? 0;
    if (!(eps >= 0 && eps <= 1)) throw new Error(`crossEntropy: labelSmoothing must be a number in [0, 1], got ${eps}`);
    const params: CEParams = { shape: [N, C], reduction, eps };
    return { inputs: [logits, target], params, shape: reduction === 'none' ? [N] : [], fixed: [1] };
  },
  forward: (k, [x, t], p, c) => {
    const [N, C] = p.shape;
    const ls = k.softmax(x as Storage, p.shape, 1, true);
    let picked: Storage;
    try {
      picked = c.tmp(k.gatherRows(ls, p.shape, t as Storage));
    } catch (e) {
      k.dispose(ls);
      throw new Error(`crossEntropy: ${(e as Error).message} (logits ${fmt(p.shape)}: targets must lie in [0, ${C}))`, { cause: e });
    }
    // loss_i = -((1 - eps) * picked_i + eps/C * rowSum_i)
    let perRow = picked;
    if (p.eps > 0) {
      const rows = c.tmp(k.reshape(c.tmp(k.reduce('sum', ls, p.shape, [1])), [N, 1], [N]));
      const scaled = c.tmp(k.scalar('mul', picked, [N], 1 - p.eps, false));
      perRow = c.tmp(k.axpy(scaled, rows, [N], p.eps / C));
    }
    let y: Storage;
    if (p.reduction === 'none') y = k.scalar('mul', perRow, [N], -1, false);
    else {
      const total = c.tmp(k.reshape(c.tmp(k.reduce('sum', perRow, [N], [0])), [1], []));
      y = k.scalar('mul', total, [], p.reduction === 'mean' ? -1 / N : -1, false);
    }
    return { y, saved: [ls] };
  },
  backward: (gy, c) => {
    const [N, C] = c.params.shape;
    const { reduction, eps } = c.params;
    const gk = gy.kernels;
    const ls = c.saved[0]!;
    const target = c.inputs[1] as Tensor;
    // d loss_i / d logSoftmax[i, c] = -w_i ((1 - eps) [c == t_i] + eps / C), w_i = gy_i (or gy / N).
    const w = reduction === 'none' ? gy : broadcastTo(reshape(gy, [1]), [N]);
    const scale = reduction === 'mean' ? -1 / N : -1;
    const gi = mul(w, scale * (1 - eps));
    let dls = c.wrap(gk.scatterRows(gi.storage, c.params.shape, target.storage), c.params.shape);
    if (eps > 0) dls = dls.add(broadcastTo(reshape(mul(w, (scale * eps) / C), [N, 1]), [N, C]));
    return [c.wrap(gk.softmaxBackward(dls.storage, ls, c.params.shape, 1, true), c.params.shape), null];
  },
  saves: () => ({ inputs: [1] }), // the target; the log-probabilities are in `saved`
  onnx: (g, p): [string, number] => {
    const [x, t] = g.inputs as [Tensor, Tensor];
    const logp = g.inner('LogSoftmax', [g.name(x)], { axis: attr.int(1) });
    const t64 = g.inner('Cast', [g.name(t)], { to: attr.int(OnnxType.INT64) });
    let rows = g.inner('NegativeLogLikelihoodLoss', [logp, t64], { reduction: attr.string('none') });
    if (p.eps > 0) {
      const smooth = g.inner('Neg', [g.inner('ReduceMean', [logp], { axes: attr.ints([1]), keepdims: attr.int(0) })]);
      rows = g.inner('Add', [g.inner('Mul', [rows, g.floats([], [1 - p.eps])]), g.inner('Mul', [smooth, g.floats([], [p.eps])])]);
    }
    if (p.reduction === 'none') return [g.node('Identity', [rows]), g.batchAxis(x)];
    return [g.node(p.reduction === 'mean' ? 'ReduceMean' : 'ReduceSum', p.reduction === 'mean' ? [rows] : [rows, g.int64s([0])], p.reduction === 'mean' ? { axes: attr.ints([0]), keepdims: attr.int(0) } : { keepdims: attr.int(0) }), -1];
  },
});

/**
 * Cross entropy of logits [N, C] against int32 class indices [N]: -logSoftmax(logits)[i, target[i]]
 * (with label smoothing when asked), averaged over the batch by default (as `F.cross_entropy`).
 * @example const loss = crossEntropy(net.forward(x), y); loss.backward();
 * @example crossEntropy(logits, y, { labelSmoothing: 0.1 })
 */
export function crossEntropy(logits: Tensor, target: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  return crossEntropyOp(logits, target, opts);
}

/** `x` in float32 inside an autocast region when it is lower precision (PyTorch's float32 list). */
function float32ForAutocast(x: Tensor): Tensor {
  return autocastState.dtype !== null && x.dtype === autocastState.dtype ? cast(x, 'float32') : x;
}

/**
 * Mean squared error between `input` and `target` of the same shape: mean((input - target)^2)
 * (sum, or per element, by `reduction`). Made of sub, square and a reduction.
 * @example mseLoss(pred, y)
 */
export function mseLoss(input: Tensor, target: Tensor, opts: LossOptions = {}): Tensor {
  for (const [t, what] of [
    [input, 'input'],
    [target, 'target'],
  ] as const) {
    if (!(t instanceof Tensor)) throw new Error(`mseLoss: ${what} must be a Tensor, got ${t === null ? 'null' : typeof t}`);
    if (!isFloat(t.dtype)) throw new Error(`mseLoss: ${what} must be a floating-point tensor, got ${t.dtype} of shape ${fmt(t.shape)}`);
  }
  const reduction = reductionOf('mseLoss', opts);
  if (!sameShape(input.shape, target.shape)) {
    throw new Error(`mseLoss: input ${fmt(input.shape)} and target ${fmt(target.shape)} must have the same shape`);
  }
  const sq = square(sub(float32ForAutocast(input), float32ForAutocast(target)));
  if (reduction === 'none') return sq;
  return reduction === 'mean' ? mean(sq) : sum(sq);
}
