/**
 * The meta backend (PyTorch's `device='meta'`): tensors with a shape and a dtype but no data.
 * Every kernel returns a data-less storage of the right dtype, so running a model on it gives the
 * output shapes, parameter counts and FLOPs of each layer without computing anything:
 * `convnet models` and `convnet summary` build and trace even VGG-19 (140M parameters) in
 * milliseconds. Reading a meta tensor back is an error.
 */
import type { DType, KernelDTypes, Kernels, Storage } from '../kernels.js';

/** A storage without data. */
export class MetaStorage implements Storage {
  readonly backend = 'meta';
  constructor(readonly dtype: DType) {}
}

const ALL: readonly DType[] = ['float32', 'float64', 'bfloat16', 'int32'];

function m(s: Storage | null): MetaStorage {
  return new MetaStorage(s?.dtype ?? 'float32');
}

function noData(): never {
  throw new Error("the 'meta' backend holds shapes only: its tensors have no data to read (use a real backend)");
}

/** The meta kernels: each returns data-less storages (dtype of the main operand unless stated). */
export const metaKernels: Kernels = {
  name: 'meta',
  dtypes: new Proxy({} as KernelDTypes, { get: () => ALL }),
  fromHost: (_d, _s, dtype) => new MetaStorage(dtype),
  toHost: noData,
  read: async () => noData(),
  full: (_s, dtype) => new MetaStorage(dtype),
  dispose: () => undefined,
  memoryInUse: () => 0,
  unary: (_op, x) => m(x),
  binary: (_op, a) => m(a),
  scalar: (_op, x) => m(x),
  clamp: (x) => m(x),
  reluBackward: (dy) => m(dy),
  sigmoidBackward: (dy) => m(dy),
  tanhBackward: (dy) => m(dy),
  cast: (_x, _s, to) => new MetaStorage(to),
  axpy: (a) => m(a),
  reduce: (_op, x) => m(x),
  argmax: () => new MetaStorage('int32'),
  reshape: (x) => m(x),
  permute: (x) => m(x),
  slice: (x) => m(x),
  pad: (dy) => m(dy),
  cat: (xs) => m(xs[0] ?? null),
  indexSelect: (x) => m(x),
  indexAdd: (dy) => m(dy),
  gatherRows: (x) => m(x),
  scatterRows: (dy) => m(dy),
  matmul: (a) => m(a),
  linear: (x) => m(x),
  linearBackward: (dy, x, _xs, w, _ws, hasBias, needDx) => ({ dx: needDx ? m(x) : null, dw: m(w), db: hasBias ? m(w) : null }),
  conv2d: (x) => m(x),
  conv2dBackwardData: (dy) => m(dy),
  conv2dBackwardWeights: (dy, _d, x, _xs, _ws, hasBias) => ({ dw: m(x), db: hasBias ? m(dy) : null }),
  maxPool2d: (x) => ({ y: m(x), workspace: null }),
  maxPool2dBackward: (dy) => m(dy),
  avgPool2d: (x) => m(x),
  avgPool2dBackward: (dy) => m(dy),
  adaptiveAvgPool2d: (x) => m(x),
  adaptiveAvgPool2dBackward: (dy) => m(dy),
  batchNormTrain: (x, _s, gamma) => ({ y: m(x), mean: m(gamma), var: m(gamma) }),
  batchNormInference: (x) => m(x),
  batchNormBackward: (dy, _x, _s, gamma) => ({ dx: m(dy), dgamma: m(gamma), dbeta: m(gamma) }),
  softmax: (x) => m(x),
  softmaxBackward: (dy) => m(dy),
  resizeBilinear: (x) => m(x),
  resizeBilinearBackward: (dy) => m(dy),
  sgdStep: (_p, _g, bufs, _s, h) => (h.momentum === 0 ? [] : bufs.map((b) => b ?? new MetaStorage('float32'))),
  adamStep: () => undefined,
};
