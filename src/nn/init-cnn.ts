/** d2l's `init_cnn`, beside the layers it recognizes (init.ts itself knows no layers). */
import type { Module } from './module.js';
import { Conv2d } from './layers/conv.js';
import { Linear } from './layers/linear.js';
import { xavierUniform } from './init.js';

/**
 * d2l's `init_cnn`: Xavier-uniform on the weights of `Conv2d` and `Linear` layers (lazy ones
 * included: their init runs when they materialize). Use with `apply`.
 * @example net.apply(nn.initCnn);
 */
export function initCnn(m: Module): void {
  if (m instanceof Conv2d || m instanceof Linear) xavierUniform(m.weight);
}
