/** `convnet models`: the zoo, with each model's default input, parameter count and forward FLOPs. */
import { defaultInputShape, modelNames, models } from '../models/index.js';
import { formatFlops } from '../train/classifier.js';
import { boolFlag } from './args.js';
import { jsonOption, type Command } from './command.js';
import { formatCount, formatTable, modelStats } from './zoo.js';

/** The `models` command. */
export const modelsCommand: Command = {
  name: 'models',
  summary: 'list the model zoo (default input size, parameters, forward FLOPs)',
  description: `Lists every model of the zoo with its default input [N, C, H, W] (batch 1), its number of parameters and the FLOPs of one forward pass at that size (a multiply-add counts 2).`,
  arguments: [],
  options: [jsonOption('one JSON object per model instead of the table')],
  async run(args) {
    const rows = modelNames.map((name) => {
      const input = defaultInputShape(name);
      const s = modelStats(name, input);
      return { name, input, params: s.params, flops: s.flops, lr: models[name]!.lr, description: models[name]!.description };
    });
    if (boolFlag(args, 'json')) {
      for (const r of rows) console.log(JSON.stringify(r));
      return 0;
    }
    console.log(
      formatTable(
        ['model', 'input', 'params', 'forward', 'lr', 'description'],
        rows.map((r) => [r.name, r.input.slice(1).join('x'), formatCount(r.params), formatFlops(r.flops), String(r.lr), r.description]),
        [2, 3, 4],
      ),
    );
    return 0;
  },
};
