/**
 * `convnet summary <model>`: d2l's layer summary (output shapes, parameters, FLOPs per layer) and
 * the memory training it needs (per layer: what it keeps for backward, its gradients and optimizer
 * state; in total: the peak with the allocator, workspaces, scratchpad and the process itself),
 * estimated from shapes on the meta backend.
 */
import { defaultInputShape } from '../models/index.js';
import { estimateModelMemory } from '../models/memory.js';
import { formatFlops } from '../train/classifier.js';
import { formatBytes, type TrainingMemoryEstimate } from '../train/memory.js';
import { getBackend } from '../backend/index.js';
import { CliError, boolFlag, intFlag, parseIntList, stringFlag } from './args.js';
import { batchSizeOption, jsonOption, type Command } from './command.js';
import { formatCount, formatTable, lookupModel, modelStats } from './zoo.js';

/** The lecture's batch size, the default of the training-memory estimate. */
const DEFAULT_TRAIN_BATCH = 128;

/** The estimate as the JSON output spells it (bytes). */
function memoryJson(e: TrainingMemoryEstimate): Record<string, unknown> {
  return {
    batchSize: e.inputShape[0],
    backend: e.backend,
    layers: e.layers,
    params: e.params,
    grads: e.grads,
    optimizer: e.optimizer,
    activations: e.activations,
    workspace: e.workspace,
    scratchpad: e.scratchpad,
    peakLive: e.peakLive,
    peakReserved: e.peakReserved,
    runtime: e.runtime,
    total: e.total,
  };
}

function printMemory(e: TrainingMemoryEstimate): void {
  const b = (n: number): string => (n === 0 ? '-' : formatBytes(n));
  console.log('');
  console.log(`training memory at batch ${e.inputShape[0]} (${e.backend} backend, float32, the model's optimizer), estimated from shapes:`);
  console.log(
    formatTable(
      ['name', 'type', 'saved for backward', 'params', 'gradients', 'optimizer'],
      e.layers.map((l) => [l.name, l.type, b(l.activations), b(l.params), b(l.grads), b(l.optimizer)]),
      [2, 3, 4, 5],
    ),
  );
  const rest = e.peakReserved - e.peakLive;
  console.log(
    `saved for backward ${formatBytes(e.activations)} (max-pool workspaces ${formatBytes(e.workspace)}), parameters ${formatBytes(e.params)}, ` +
      `gradients ${formatBytes(e.grads)}, optimizer state ${formatBytes(e.optimizer)}`,
  );
  console.log(
    `peak of live tensors ${formatBytes(e.peakLive)} + allocator cache ${formatBytes(rest)} + scratchpad ${formatBytes(e.scratchpad)} + ` +
      `process ${formatBytes(e.runtime)} = ${formatBytes(e.total)} peak resident memory`,
  );
}

/** The `summary` command. */
export const summaryCommand: Command = {
  name: 'summary',
  summary: "a model's layers: output shapes, parameters, FLOPs, training memory",
  description: `Feeds a random input through the model's top-level layers and prints each layer's type, output shape, parameters and forward FLOPs (d2l's layer_summary), then the memory a training step needs at --batch-size on the backend: per layer what it keeps for backward, its gradients and optimizer state, and the peak resident memory of the process (tensors, the allocator's cache, oneDNN's scratchpad, the process itself). Both are computed from shapes on the meta backend: nothing runs.`,
  arguments: [{ name: '<model>', help: 'a zoo model (see convnet models)' }],
  options: [
    { name: 'input', value: 'N,C,H,W', help: "input shape of the layer summary (default: the model's, batch 1, e.g. 1,1,224,224 for alexnet)" },
    batchSizeOption(`${DEFAULT_TRAIN_BATCH}, for the training-memory estimate`),
    jsonOption('print {"model", "input", "layers": [{name, type, outputShape, params, flops}], "params", "flops", "memory": {batchSize, layers, ..., total}}'),
  ],
  async run(args) {
    const name = args.positionals[0]!;
    lookupModel(name);
    const inputFlag = stringFlag(args, 'input');
    const input = inputFlag === undefined ? defaultInputShape(name) : parseIntList('--input', inputFlag, [4], 'N,C,H,W');
    const batchSize = intFlag(args, 'batch-size', 1) ?? DEFAULT_TRAIN_BATCH;
    const s = modelStats(name, input);
    let memory: TrainingMemoryEstimate;
    try {
      memory = estimateModelMemory(name, { batchSize, imageShape: input.slice(1), backend: getBackend().name === 'native' ? 'native' : 'reference' });
    } catch (e) {
      throw new CliError(`${name}: no training-memory estimate for input [${batchSize}, ${input.slice(1).join(', ')}]: ${(e as Error).message}`);
    }
    if (boolFlag(args, 'json')) {
      console.log(JSON.stringify({ model: name, input, layers: s.layers, params: s.params, flops: s.flops, memory: memoryJson(memory) }));
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
    printMemory(memory);
    return 0;
  },
};
