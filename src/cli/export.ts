/** `convnet export <run-dir|checkpoint> --onnx FILE`: the trained model as an ONNX file. */
import { resolve } from 'node:path';
import { saveOnnx } from '../onnx/index.js';
import { CliError, UsageError, expectPositionals, intFlag, stringFlag } from './args.js';
import { GLOBAL_HELP, type Command } from './command.js';
import { loadRun } from './run-dir.js';

/** The `export` command. */
export const exportCommand: Command = {
  name: 'export',
  summary: 'export a trained model to ONNX',
  flags: { onnx: 'string', 'batch-size': 'string' },
  help: `Usage: convnet export <run-dir|checkpoint> --onnx FILE [--batch-size N]

Writes the model trained by 'convnet train' (in eval mode: batch norm uses its running statistics,
dropout is off) as an ONNX graph taking float32 images [N, C, H, W] of the run's size and
returning the logits [N, classes].

Options:
  --onnx FILE      the .onnx file to write
  --batch-size N   the batch dimension of the exported input (default 1)
${GLOBAL_HELP}`,
  async run(args) {
    expectPositionals(args, 'export', 1, 1, '<run-dir|checkpoint>');
    const file = stringFlag(args, 'onnx');
    if (file === undefined || file === '') throw new UsageError('export: --onnx FILE is required (see convnet export --help)');
    const batch = intFlag(args, 'batch-size', 1) ?? 1;
    const { model, config, state } = loadRun(args.positionals[0]!);
    const inputShape = [batch, config.channels, config.resize[0], config.resize[1]];
    const path = resolve(file);
    try {
      saveOnnx(model, path, { inputShape });
    } catch (e) {
      throw new CliError(`cannot export ${state.model} to ONNX: ${(e as Error).message}`);
    }
    console.log(`${state.model} (epoch ${state.epoch}), input [${inputShape.join(', ')}] -> ${path}`);
    return 0;
  },
};
