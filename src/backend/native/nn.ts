/**
 * Native (oneDNN) kernels for convolution, pooling, batch normalization and bilinear resize.
 *
 * Addon functions (native/src/conv.cc, pool.cc, bnorm.cc, resize.cc); `h` is a tensor handle,
 * dims are logical (NCHW / OIHW), pairs are [height, width], dilation is PyTorch's (1 = none):
 * - `conv2d(x, xDims, w, wDims, b|null, stride, padding, dilation, groups, yDims) -> h`
 * - `conv2dBackwardData(dy, dyDims, w, wDims, xDims, stride, padding, dilation, groups) -> h`
 * - `conv2dBackwardWeights(dy, dyDims, x, xDims, wDims, hasBias, stride, padding, dilation, groups)
 *   -> [dw, db|null]`
 * - `maxPool2d(x, xDims, kernel, stride, padding, out) -> [y, workspace]`
 * - `maxPool2dBackward(dy, x, y, workspace|null, xDims, kernel, stride, padding, out) -> dx`
 * - `avgPool2d(x, xDims, kernel, stride, padding, countIncludePad, out) -> y`
 * - `avgPool2dBackward(dy, xDims, kernel, stride, padding, countIncludePad, out) -> dx`
 * - `adaptiveAvgPool2d(x, xDims, out) -> y`, `adaptiveAvgPool2dBackward(dy, xDims, out) -> dx`
 * - `batchNormTrain(x, xDims, gamma, beta, eps) -> [y, mean, var]`
 * - `batchNormInference(x, xDims, gamma, beta, mean, var, eps) -> y`
 * - `batchNormBackward(dy, x, xDims, gamma, mean, var, eps) -> [dx, dgamma, dbeta]`
 * - `resizeBilinear(x, xDims, out) -> y`, `resizeBilinearBackward(dy, xDims, out) -> dx`
 * - `convImpl(xDims, wDims, yDims, stride, padding, dilation, groups)` -> implementation names of the
 *   direct and (where it exists) Winograd primitives (diagnostics only).
 *
 * Convolutions choose oneDNN's direct or Winograd algorithm per geometry and direction (timed once,
 * cached; or forced): see ./conv-algo.ts. Creating these kernels applies `CONVNET_CONV_ALGO`.
 *
 * Layouts: conv outputs (y, dx) and dw (groups == 1) keep oneDNN's blocked layouts; pooling, BN and
 * resize outputs follow their input's layout. `toHost` and every kernel read them logically.
 */
import type { Kernels, Pool2dParams, Shape } from '../kernels.js';
import { hd, ns, type NativeAddon } from './addon.js';
import { applyConvAlgoEnv } from './conv-algo.js';

type NnKernels = Pick<
  Kernels,
  | 'conv2d'
  | 'conv2dBackwardData'
  | 'conv2dBackwardWeights'
  | 'maxPool2d'
  | 'maxPool2dBackward'
  | 'avgPool2d'
  | 'avgPool2dBackward'
  | 'adaptiveAvgPool2d'
  | 'adaptiveAvgPool2dBackward'
  | 'batchNormTrain'
  | 'batchNormInference'
  | 'batchNormBackward'
  | 'resizeBilinear'
  | 'resizeBilinearBackward'
>;

function pool(p: Pool2dParams): [number[], number[], number[]] {
  return [[...p.kernel], [...p.stride], [...p.padding]];
}

function dims(s: Shape): number[] {
  return [...s];
}

/** The conv/pool/BN/resize kernels of the native backend. */
export function nnKernels(a: NativeAddon): NnKernels {
  applyConvAlgoEnv(a);
  return {
    conv2d(x, xShape, w, wShape, b, p, yShape) {
      return ns(
        a.conv2d(
          hd(x),
          dims(xShape),
          hd(w),
          dims(wShape),
          b === null ? null : hd(b),
          [...p.stride],
          [...p.padding],
          [...p.dilation],
          p.groups,
          dims(yShape),
        ),
      );
    },

    conv2dBackwardData(dy, dyShape, w, wShape, xShape, p) {
      return ns(
        a.conv2dBackwardData(
          hd(dy),
          dims(dyShape),
          hd(w),
          dims(wShape),
          dims(xShape),
          [...p.stride],
          [...p.padding],
          [...p.dilation],
          p.groups,
        ),
      );
    },

    conv2dBackwardWeights(dy, dyShape, x, xShape, wShape, hasBias, p) {
      const [dw, db] = a.conv2dBackwardWeights(
        hd(dy),
        dims(dyShape),
        hd(x),
        dims(xShape),
        dims(wShape),
        hasBias,
        [...p.stride],
        [...p.padding],
        [...p.dilation],
        p.groups,
      ) as [unknown, unknown];
      return { dw: ns(dw), db: db === null ? null : ns(db) };
    },

    maxPool2d(x, shape, p) {
      const [y, ws] = a.maxPool2d(hd(x), dims(shape), ...pool(p), [...p.out]) as [unknown, unknown];
      return { y: ns(y), workspace: ws === null ? null : ns(ws) };
    },

    maxPool2dBackward(dy, x, y, workspace, shape, p) {
      return ns(
        a.maxPool2dBackward(
          hd(dy),
          hd(x),
          hd(y),
          workspace === null ? null : hd(workspace),
          dims(shape),
          ...pool(p),
          [...p.out],
        ),
      );
    },

    avgPool2d(x, shape, p) {
      return ns(a.avgPool2d(hd(x), dims(shape), ...pool(p), p.countIncludePad, [...p.out]));
    },

    avgPool2dBackward(dy, shape, p) {
      return ns(a.avgPool2dBackward(hd(dy), dims(shape), ...pool(p), p.countIncludePad, [...p.out]));
    },

    adaptiveAvgPool2d(x, shape, out) {
      return ns(a.adaptiveAvgPool2d(hd(x), dims(shape), [...out]));
    },

    adaptiveAvgPool2dBackward(dy, shape, out) {
      return ns(a.adaptiveAvgPool2dBackward(hd(dy), dims(shape), [...out]));
    },

    batchNormTrain(x, shape, gamma, beta, eps) {
      const [y, mean, variance] = a.batchNormTrain(hd(x), dims(shape), hd(gamma), hd(beta), eps) as [
        unknown,
        unknown,
        unknown,
      ];
      return { y: ns(y), mean: ns(mean), var: ns(variance) };
    },

    batchNormInference(x, shape, gamma, beta, mean, variance, eps) {
      return ns(a.batchNormInference(hd(x), dims(shape), hd(gamma), hd(beta), hd(mean), hd(variance), eps));
    },

    batchNormBackward(dy, x, shape, gamma, mean, variance, eps) {
      const [dx, dgamma, dbeta] = a.batchNormBackward(
        hd(dy),
        hd(x),
        dims(shape),
        hd(gamma),
        hd(mean),
        hd(variance),
        eps,
      ) as [unknown, unknown, unknown];
      return { dx: ns(dx), dgamma: ns(dgamma), dbeta: ns(dbeta) };
    },

    resizeBilinear(x, shape, out) {
      return ns(a.resizeBilinear(hd(x), dims(shape), [...out]));
    },

    resizeBilinearBackward(dy, shape, out) {
      return ns(a.resizeBilinearBackward(hd(dy), dims(shape), [...out]));
    },
  };
}
