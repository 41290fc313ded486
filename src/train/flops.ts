/**
 * Forward FLOPs of a single (leaf) layer call, given its input and output tensors. A multiply-add
 * counts as 2 FLOPs. Convolutions and linear layers dominate; batch norm (a scale and a shift per
 * element after folding the statistics) and pooling (one op per window element) are counted too;
 * activations, dropout, flatten and concatenation are free.
 */
import type { Module } from '../nn/module.js';
import type { Tensor } from '../tensor/tensor.js';

function kernelArea(m: Module): number {
  const k = (m as unknown as { kernelSize?: number | readonly number[] }).kernelSize;
  if (typeof k === 'number') return k * k;
  if (Array.isArray(k)) return k.reduce((a: number, b: number) => a * b, 1);
  return 1;
}

/**
 * FLOPs of one call of the leaf module `m` that mapped `inputs` to `out` (0 for layers that are not
 * conv / linear / batch norm / pooling).
 * @example layerFlops(conv, [x], y) // 2 * numel(y) * (C / groups) * KH * KW
 */
export function layerFlops(m: Module, inputs: readonly Tensor[], out: Tensor): number {
  const type = m.constructor.name.replace(/^Lazy/, '');
  const outSize = out.size;
  switch (type) {
    case 'Conv2d':
    case 'Linear': {
      const w = (m as unknown as { weight?: Tensor }).weight;
      if (w === undefined || w.ndim === 0) return 0;
      // Each output element is a dot product of length fanIn = weight.size / outFeatures.
      return 2 * outSize * (w.size / w.shape[0]!);
    }
    case 'BatchNorm1d':
    case 'BatchNorm2d':
    case 'BatchNorm':
      return 2 * outSize;
    case 'MaxPool2d':
    case 'AvgPool2d':
      return outSize * kernelArea(m);
    case 'AdaptiveAvgPool2d':
      return inputs[0]?.size ?? 0;
    default:
      return 0;
  }
}
