/** AlexNet as in the lecture (d2l's streamlined single-GPU version), for 224x224 inputs. */
import { Sequential, LazyConv2d, ReLU, MaxPool2d, Flatten, LazyLinear, Dropout } from '../nn/index.js';
import { Classifier } from '../train/classifier.js';
import { inChannelsOf, initWeights, type ModelOptions } from './common.js';

/**
 * The lecture's `AlexNet(d2l.Classifier)`: five convolutions (11x11/4, 5x5, three 3x3), three
 * max-pools, two 4096-unit dense layers with dropout, and the classifier layer. Initialized as the
 * lecture's model is in PyTorch: its `self.net.apply(init_cnn)` meets still-lazy layers and does
 * nothing, so the weights keep PyTorch's default init; `{ init: 'xavier' }` applies Xavier instead.
 * @example new AlexNet().layerSummary([1, 1, 224, 224]);
 * @example const model = new AlexNet({ lr: 0.01 });
 * @example const xavier = new AlexNet({ lr: 0.01, init: 'xavier' });
 */
export class AlexNet extends Classifier {
  /** Input channels this instance is meant for. */
  readonly inChannels: number;
  /** The layers. */
  net: Sequential;

  constructor(opts: ModelOptions = {}) {
    super(opts);
    this.inChannels = inChannelsOf(opts, 'AlexNet');
    this.net = new Sequential(
      new LazyConv2d(96, { kernelSize: 11, stride: 4, padding: 1 }),
      new ReLU(), new MaxPool2d({ kernelSize: 3, stride: 2 }),
      new LazyConv2d(256, { kernelSize: 5, padding: 2 }), new ReLU(),
      new MaxPool2d({ kernelSize: 3, stride: 2 }),
      new LazyConv2d(384, { kernelSize: 3, padding: 1 }), new ReLU(),
      new LazyConv2d(384, { kernelSize: 3, padding: 1 }), new ReLU(),
      new LazyConv2d(256, { kernelSize: 3, padding: 1 }), new ReLU(),
      new MaxPool2d({ kernelSize: 3, stride: 2 }), new Flatten(),
      new LazyLinear(4096), new ReLU(), new Dropout(0.5),
      new LazyLinear(4096), new ReLU(), new Dropout(0.5),
      new LazyLinear(this.numClasses),
    );
    initWeights(this.net, opts, 'AlexNet');
  }
}
