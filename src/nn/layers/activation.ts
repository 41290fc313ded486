/** Parameter-free elementwise layers: `ReLU`, `Sigmoid`, `Tanh`, and `Identity`. */
import type { Tensor } from '../../tensor/tensor.js';
import { relu, sigmoid, tanh } from '../../ops/index.js';
import { Module } from '../module.js';

/** max(x, 0), as `nn.ReLU`. @example new nn.ReLU().call(x) */
export class ReLU extends Module {
  override forward(x: Tensor): Tensor {
    return relu(x);
  }
}

/** 1 / (1 + e^-x), as `nn.Sigmoid`. */
export class Sigmoid extends Module {
  override forward(x: Tensor): Tensor {
    return sigmoid(x);
  }
}

/** tanh(x), as `nn.Tanh`. */
export class Tanh extends Module {
  override forward(x: Tensor): Tensor {
    return tanh(x);
  }
}

/** Returns its input unchanged (a placeholder layer, as `nn.Identity`). */
export class Identity extends Module {
  override forward(x: Tensor): Tensor {
    return x;
  }
}
