/** `Optimizer`: the base class of `SGD` and `Adam` (parameter groups, state, checkpoints). */
import { Tensor } from '../tensor/tensor.js';
import { copyTo } from '../tensor/transfer.js';
import { fmt, sameShape } from '../tensor/shape.js';

/** A parameter group: its tensors plus hyperparameters overriding the optimizer's defaults. */
export type ParamGroupInput<H> = { params: Iterable<Tensor> } & Partial<H>;

/** What optimizers accept as `params`: tensors (one group) or a list of groups. */
export type ParamsInput<H> = Iterable<Tensor> | readonly ParamGroupInput<H>[];

/** A parameter group after construction: its tensors and its full hyperparameters. */
export type ParamGroup<H> = H & { params: Tensor[] };

/** Per-parameter optimizer state (PyTorch's names: `momentum_buffer`, `exp_avg`, `exp_avg_sq`, `step`). */
export type ParamState = Record<string, Tensor | number>;

/**
 * A checkpoint of an optimizer: per-parameter state keyed by the parameter's index over all
 * groups, and each group's hyperparameters with the indices of its parameters (PyTorch's layout).
 */
export interface OptimizerStateDict {
  state: Record<number, ParamState>;
  paramGroups: (Record<string, unknown> & { params: number[] })[];
}

function isGroupList<H>(p: ParamsInput<H>): p is readonly ParamGroupInput<H>[] {
  return Array.isArray(p) && p.length > 0 && !(p[0] instanceof Tensor) && typeof p[0] === 'object' && 'params' in (p[0] as object);
}

/** Parameters grouped by backend (a fused update runs on one backend's storages). */
export function byBackend(ps: readonly Tensor[]): Map<Tensor['kernels'], Tensor[]> {
  const m = new Map<Tensor['kernels'], Tensor[]>();
  for (const p of ps) {
    const list = m.get(p.kernels) ?? [];
    list.push(p);
    m.set(p.kernels, list);
  }
  return m;
}

/** Copies `t` onto `like`'s backend (new tensor, kept out of `tidy` scopes). */
function copyLike(t: Tensor, like: Tensor): Tensor {
  return copyTo(t, like.kernels, like.dtype, like.shape).keep();
}

/**
 * Base class of optimizers, as `torch.optim.Optimizer`: parameter groups with their own
 * hyperparameters, per-parameter state, `zeroGrad`, `step`, `stateDict` / `loadStateDict`.
 * Subclasses implement `updateGroup`.
 */
export abstract class Optimizer<H extends { lr: number }> {
  /** The parameter groups (each with its own `lr` and other hyperparameters). */
  readonly paramGroups: ParamGroup<H>[];
  /** Per-parameter state (momentum buffers, Adam moments), created on the first step. */
  readonly state = new Map<Tensor, ParamState>();
  /** The hyperparameters a group gets unless it overrides them. */
  readonly defaults: H;

  constructor(name: string, params: ParamsInput<H>, defaults: H) {
    this.defaults = defaults;
    const groups: ParamGroupInput<H>[] = isGroupList(params) ? [...params] : [{ params: params as Iterable<Tensor> } as ParamGroupInput<H>];
    const seen = new Set<Tensor>();
    this.paramGroups = groups.map((g, gi) => {
      const ps = [...g.params];
      ps.forEach((p, i) => {
        if (!(p instanceof Tensor)) throw new Error(`${name}: group ${gi} item ${i} is not a tensor`);
        if (!p.requiresGrad) throw new Error(`${name}: parameter ${i} of group ${gi} (${p.toString()}) does not require grad`);
        if (!p.isLeaf) throw new Error(`${name}: parameter ${i} of group ${gi} is not a leaf tensor`);
        if (seen.has(p)) throw new Error(`${name}: a parameter appears more than once`);
        seen.add(p);
      });
      return { ...defaults, ...g, params: ps } as ParamGroup<H>;
    });
    if (seen.size === 0) throw new Error(`${name}: got an empty parameter list`);
  }

  /** Learning rate of the first group; setting it sets every group's (e.g. for a schedule). */
  get lr(): number {
    return this.paramGroups[0]!.lr;
  }
  set lr(v: number) {
    if (!(typeof v === 'number' && v >= 0)) throw new Error(`optimizer: invalid learning rate ${String(v)}`);
    for (const g of this.paramGroups) g.lr = v;
  }

  /** Sets every parameter's `grad` to null, disposing it (PyTorch's `zero_grad(set_to_none=True)`). */
  zeroGrad(): void {
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        if (p.grad !== null) {
          p.grad.dispose();
          p.grad = null;
        }
      }
    }
  }

  /** Frees the optimizer's state tensors (momentum buffers, moments); the next step starts afresh. */
  dispose(): void {
    for (const s of this.state.values()) for (const v of Object.values(s)) if (v instanceof Tensor) v.dispose();
    this.state.clear();
  }

  /** One update of every parameter that has a gradient. */
  abstract step(): void;

  /** The state entry of `p` (created empty). */
  protected stateOf(p: Tensor): ParamState {
    let s = this.state.get(p);
    if (s === undefined) {
      s = {};
      this.state.set(p, s);
    }
    return s;
  }

  /** Replaces a tensor entry of `p`'s state, keeping the new tensor and disposing the old one. */
  protected setState(s: ParamState, key: string, t: Tensor): void {
    const old = s[key];
    t.keep();
    s[key] = t;
    if (old instanceof Tensor && old !== t) old.dispose();
  }

  /**
   * A checkpoint: per-parameter state (the live tensors, not copies) keyed by parameter index, and
   * the groups' hyperparameters.
   * @example const ck = { model: net.stateDict(), optim: opt.stateDict() };
   */
  stateDict(): OptimizerStateDict {
    const state: Record<number, ParamState> = {};
    const paramGroups: OptimizerStateDict['paramGroups'] = [];
    let index = 0;
    for (const g of this.paramGroups) {
      const { params, ...hyper } = g;
      const ids: number[] = [];
      for (const p of params) {
        const s = this.state.get(p);
        if (s !== undefined) state[index] = { ...s };
        ids.push(index++);
      }
      paramGroups.push({ ...(hyper as Record<string, unknown>), params: ids });
    }
    return { state, paramGroups };
  }

  /**
   * Restores a checkpoint from `stateDict()` (tensors are copied onto the parameters' backend, so the
   * checkpoint can be disposed afterwards). Group and parameter counts and state shapes must match.
   */
  loadStateDict(sd: OptimizerStateDict): void {
    const name = this.constructor.name;
    if (sd.paramGroups.length !== this.paramGroups.length) {
      throw new Error(`${name}.loadStateDict: the checkpoint has ${sd.paramGroups.length} parameter groups, the optimizer ${this.paramGroups.length}`);
    }
    const byIndex: Tensor[] = [];
    sd.paramGroups.forEach((g, gi) => {
      const mine = this.paramGroups[gi]!;
      if (g.params.length !== mine.params.length) {
        throw new Error(`${name}.loadStateDict: group ${gi} has ${g.params.length} parameters in the checkpoint, ${mine.params.length} here`);
      }
      g.params.forEach((id, i) => (byIndex[id] = mine.params[i]!));
    });
    // Validate everything before changing anything.
    for (const [id, s] of Object.entries(sd.state)) {
      const p = byIndex[Number(id)];
      if (p === undefined) throw new Error(`${name}.loadStateDict: state for unknown parameter index ${id}`);
      for (const [k, v] of Object.entries(s)) {
        if (v instanceof Tensor && !sameShape(v.shape, p.shape)) {
          throw new Error(`${name}.loadStateDict: state '${k}' of parameter ${id} has shape ${fmt(v.shape)}, the parameter ${fmt(p.shape)}`);
        }
      }
    }
    this.dispose();
    for (const [id, s] of Object.entries(sd.state)) {
      const p = byIndex[Number(id)]!;
      const copy: ParamState = {};
      for (const [k, v] of Object.entries(s)) copy[k] = v instanceof Tensor ? copyLike(v, p) : v;
      this.state.set(p, copy);
    }
    sd.paramGroups.forEach((g, gi) => {
      const { params: _ids, ...hyper } = g;
      Object.assign(this.paramGroups[gi]!, hyper);
    });
  }
}
