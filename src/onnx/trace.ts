/**
 * Tracing a model for export: one eval-mode forward under `noGrad` with the op tracer installed and
 * forward hooks on every module, so that each op call is known together with the module (path)
 * that made it.
 */
import { Tensor } from '../tensor/tensor.js';
import { zeros } from '../tensor/creation.js';
import { tidy } from '../tensor/scope.js';
import { noGrad } from '../autograd/grad-mode.js';
import { withOpTracer, type TracedOp } from '../ops/trace.js';
import type { Module } from '../nn/module.js';

/** A traced op call with the module that made it. */
export interface TracedCall extends TracedOp {
  /** Dotted path of the innermost module running when the op was called (`''`: the model). */
  path: string;
  /** That module. */
  module: Module;
  /** Shape of the output, copied at trace time. */
  shape: readonly number[];
}

/** A module call of the traced forward (recorded when it returns, so inner modules come first). */
export interface ModuleCall {
  path: string;
  module: Module;
  inputs: readonly Tensor[];
  output: Tensor;
}

/** Everything the exporter needs from one forward. */
export interface Trace {
  /** The tensor fed to the model. */
  input: Tensor;
  /** What the model returned. */
  output: Tensor;
  /** Op calls in execution order. */
  calls: TracedCall[];
  /** Module calls in completion order. */
  moduleCalls: ModuleCall[];
}

/**
 * Runs `model` once on zeros of `inputShape` in eval mode under `noGrad` (the scratch BatchNorm
 * then uses its moving statistics) and records the op calls; restores the training flags. Lazy
 * layers are materialized first by an untraced forward. The intermediate tensors are freed; the
 * trace keeps only their identities and shapes.
 */
export function traceModel(model: Module, inputShape: readonly number[]): Trace {
  const named = model.namedModules();
  // Restored per module: a submodule may have been put in eval mode on purpose.
  const flags = named.map(([, m]) => m.training);
  model.eval();
  try {
    if (model.hasUninitializedParameters()) tidy(() => noGrad(() => void model.call(zeros(inputShape))));
    const calls: TracedCall[] = [];
    const moduleCalls: ModuleCall[] = [];
    const stack: [string, Module][] = [['', model]];
    const removers: (() => void)[] = [];
    for (const [path, m] of named) {
      removers.push(
        m.registerForwardPreHook(() => void stack.push([path, m])),
        m.registerForwardHook((_m, inputs, output) => {
          stack.pop();
          moduleCalls.push({ path, module: m, inputs: [...inputs], output });
        }),
      );
    }
    let input: Tensor | null = null;
    let output: Tensor | null = null;
    try {
      tidy(() =>
        noGrad(() => {
          const x = zeros(inputShape);
          input = x;
          const y = withOpTracer(
            (c) => {
              const [path, module] = stack[stack.length - 1]!;
              calls.push({ ...c, path, module, shape: [...c.output.shape] });
            },
            () => model.call(x),
          );
          if (!(y instanceof Tensor)) throw new Error(`exportOnnx: ${model.constructor.name}.forward returned ${typeof y}, not a Tensor`);
          output = y;
        }),
      );
    } finally {
      for (const r of removers) r();
    }
    return { input: input!, output: output!, calls, moduleCalls };
  } finally {
    named.forEach(([, m], i) => (m.training = flags[i]!));
  }
}
