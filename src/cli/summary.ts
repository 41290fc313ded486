/** `convnet summary <model>`: d2l's layer summary (output shapes, parameters, FLOPs per layer). */
import { defaultInputShape } from '../models/index.js';
import { formatFlops } from '../train/classifier.js';
import { boolFlag, parseIntList, stringFlag } from './args.js';
import { jsonOption, type Command } from './command.js';
import { formatCount, formatTable, lookupModel, modelStats } from './zoo.js';

/** The `summary` command. */
export const summaryCommand: Command = {
  name: 'summary',
  summary: "a model's layers: output shapes, parameters, FLOPs",
  description: `Feeds a random input through the model's top-level layers and prints each layer's type, output shape, parameters and forward FLOPs (d2l's layer_summary).`,
  arguments: [{ name: '<model>', help: 'a zoo model (see convnet models)' }],
  options: [
    { name: 'input', value: 'N,C,H,W', help: "input shape (default: the model's, batch 1, e.g. 1,1,224,224 for alexnet)" },
    jsonOption('print {"model", "input", "layers": [{name, type, outputShape, params, flops}], "params", "flops"}'),
  ],
  async run(args) {
    const name = args.positionals[0]!;
    lookupModel(name);
    const inputFlag = stringFlag(args, 'input');
    const input = inputFlag === undefined ? defaultInputShape(name) : parseIntList('--input', inputFlag, [4], 'N,C,H,W');
    const s = modelStats(name, input);
    if (boolFlag(args, 'json')) {
      console.log(JSON.stringify({ model: name, input, layers: s.layers, params: s.params, flops: s.flops }));
      return 0;
    }
    console.log(`${name}, input [${input.join(', ')}]`);
    console.log(
      formatTable(
        ['name', 'type', 'output shape', 'params', 'forward'],
        s.layers.map((r) => [r.name, r.type, `[${r.outputShape.join(', ')}]`, formatCount(r.params), formatFlops(r.flops)]),
        [3, 4],
      ),
    );
    console.log(`Total params: ${formatCount(s.params)}\tforward FLOPs: ${formatFlops(s.flops)}`);
    return 0;
  },
};
