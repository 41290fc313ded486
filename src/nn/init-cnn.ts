/** d2l's `init_cnn` (and its lazy-aware variant), beside the layers they recognize (init.ts knows no layers). */
import type { Module } from './module.js';
import { Conv2d } from './layers/conv.js';
import { Linear } from './layers/linear.js';
import { xavierUniform } from './init.js';

/**
 * d2l's `init_cnn`: Xavier-uniform on the weights of the *materialized* `Conv2d` and `Linear`
 * layers. As in PyTorch, a still-lazy layer is left alone: d2l tests `type(module) == nn.Conv2d`,
 * which a `LazyConv2d` only passes once its first forward turned it into a `Conv2d`. So
 * `net.apply(initCnn)` in a constructor of lazy layers does nothing (the lecture's AlexNet and
 * DenseNet train from PyTorch's default init), while `applyInit([batch], initCnn)` — a forward
 * first — applies Xavier (the lecture's VGG, NiN and LeNets). Use `xavierInitCnn` to reach lazy
 * layers too.
 * @example model.applyInit([batch.x], nn.initCnn);
 */
export function initCnn(m: Module): void {
  if ((m instanceof Conv2d || m instanceof Linear) && m.weight.isMaterialized) xavierUniform(m.weight);
}

/**
 * `initCnn` for lazy layers as well: Xavier-uniform on the weight of every `Conv2d` and `Linear`;
 * on a still-lazy layer it runs right after the layer materializes (after its default init). What
 * the zoo's `init: 'xavier'` option applies in the constructors.
 * @example net.apply(nn.xavierInitCnn); // before the first forward
 */
export function xavierInitCnn(m: Module): void {
  if (m instanceof Conv2d || m instanceof Linear) xavierUniform(m.weight);
}
