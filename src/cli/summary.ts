/** `convnet summary <model>`: d2l's layer summary (output shapes, parameters, FLOPs per layer). */
import { defaultInputShape } from '../models/index.js';
import { formatFlops } from '../train/classifier.js';
import { boolFlag, expectPositionals, parseIntList, stringFlag } from './args.js';
import { GLOBAL_HELP, type Command } from './command.js';
import { formatCount, formatTable, lookupModel, modelStats } from './zoo.js';

/** The `summary` command. */
export const summaryCommand: Command = {
  name: 'summary',
  summary: "a model's layers: output shapes, parameters, FLOPs",
  flags: { input: 'string', json: 'boolean' },
  help: `Usage: convnet summary <model> [--input N,C,H,W] [--json]

Feeds a random input through the model's top-level layers and prints each layer's type, output
shape, parameters and forward FLOPs (d2l's layer_summary).

Options:
  --input N,C,H,W   input shape (default: the model's, batch 1, e.g. 1,1,224,224 for alexnet)
  --json            print {"model", "input", "layers": [{name, type, outputShape, params, flops}], "params", "flops"}
${GLOBAL_HELP}`,
  async run(args) {
    expectPositionals(args, 'summary', 1, 1, '<model>');
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
