/** `convnet export <run-dir|checkpoint> --onnx FILE`: the trained model as an ONNX file. */
import { resolve } from 'node:path';
import { saveOnnx } from '../onnx/index.js';
import { getBackend, nativeAvailable, withBackend, type BackendName } from '../backend/index.js';
import { CliError, UsageError, intFlag, stringFlag } from './args.js';
import { type Command } from './command.js';
import { loadRun } from './run-dir.js';

/** The `export` command. */
export const exportCommand: Command = {
  name: 'export',
  summary: 'export a trained model to ONNX',
  description: `Writes the model trained by 'convnet train' (in eval mode: batch norm uses its running statistics, dropout is off) as an ONNX graph taking float32 images [N, C, H, W] of the run's size and returning the logits [N, classes].`,
  arguments: [{ name: '<run-dir|checkpoint>', help: "a run folder of 'convnet train', or its checkpoint.safetensors" }],
  options: [
    { name: 'onnx', value: 'FILE', help: 'the .onnx file to write (required)' },
    { name: 'batch-size', value: 'N', help: 'the batch dimension of the exported input (default 1)' },
  ],
  async run(args) {
    const file = stringFlag(args, 'onnx');
    if (file === undefined || file === '') throw new UsageError('export: --onnx FILE is required (see convnet export --help)');
    const batch = intFlag(args, 'batch-size', 1) ?? 1;
    // Exporting is host-side work: on a GPU backend it runs on the CPU (native, else reference).
    const cpu: BackendName | null = getBackend().toHost === undefined ? (nativeAvailable() ? 'native' : 'reference') : null;
    const run = <T>(fn: () => T): T => (cpu === null ? fn() : withBackend(cpu, fn));
    const { model, config, state } = run(() => loadRun(args.positionals[0]!));
    const inputShape = [batch, config.channels, config.resize[0], config.resize[1]];
    const path = resolve(file);
    try {
      run(() => saveOnnx(model, path, { inputShape }));
    } catch (e) {
      throw new CliError(`cannot export ${state.model} to ONNX: ${(e as Error).message}`);
    }
    console.log(`${state.model} (epoch ${state.epoch}), input [${inputShape.join(', ')}] -> ${path}`);
    return 0;
  },
};
