/** `convnet bench <model>`: training throughput (images/s) on a random batch, as one JSON line. */
import { getBackend } from '../backend/index.js';
import { webgpuKernels } from '../backend/webgpu/index.js';
import { benchTraining, benchTrainingAsync } from '../models/bench.js';
import { choiceFlag, intFlag } from './args.js';
import { batchSizeOption, type Command } from './command.js';
import { lookupModel } from './zoo.js';
import { PRECISIONS } from '../train/precision.js';


/** The `bench` command. */
export const benchCommand: Command = {
  name: 'bench',
  summary: 'training images/s of a model on a random batch (one JSON line)',
  description: `Times what the trainer does per batch (forward, cross-entropy, backward, SGD step) on one random batch at the model's input size, after untimed warm-up steps, and prints one JSON line: {"model", "backend", "precision", "batch_size", "input", "steps", "seconds", "images_per_s", "peak_rss_bytes", "memory": {"peak_live", "peak_cached", "peak_reserved", "peak_workspace", "scratchpad", "estimate"}} (bytes; memory over the whole run, estimate: the training-memory estimate of convnet summary). On webgpu also "adapter": the GPU, or a software rasterizer such as SwiftShader. A batch whose estimate exceeds the memory available stops before anything is allocated, with one line giving the largest batch that fits.`,
  arguments: [{ name: '<model>', help: 'a zoo model (see convnet models)' }],
  options: [
    batchSizeOption('128'),
    { name: 'steps', value: 'N', help: 'timed steps (default 10)' },
    { name: 'warmup', value: 'N', help: 'untimed steps first (default 1)' },
    { name: 'precision', choices: PRECISIONS, help: "fp32 (default) or bf16-mixed (PyTorch's CPU autocast to bfloat16; fp32 with a notice where the CPU cannot run bf16 natively)" },
  ],
  async run(args) {
    const name = args.positionals[0]!;
    lookupModel(name);
    const precision = choiceFlag(args, 'precision', PRECISIONS) ?? 'fp32';
    const opts = {
      model: name,
      precision,
      batchSize: intFlag(args, 'batch-size', 1) ?? 128,
      steps: intFlag(args, 'steps', 1) ?? 10,
      warmup: intFlag(args, 'warmup', 0) ?? 1,
    };
    // A GPU runs asynchronously: its steps are timed until the device has finished them.
    const gpu = getBackend().name === 'webgpu';
    const r = gpu ? await benchTrainingAsync(opts) : benchTraining(opts);
    if (r.notice !== null) console.error(`convnet: ${r.notice}`);
    console.log(
      JSON.stringify({
        model: r.model,
        backend: getBackend().name,
        precision: r.precision,
        batch_size: r.inputShape[0],
        input: r.inputShape,
        steps: r.steps,
        seconds: r.seconds,
        images_per_s: r.imagesPerSec,
        ...(gpu ? { adapter: webgpuKernels()?.info.adapter } : {}),
        peak_rss_bytes: r.peakRss,
        memory: {
          peak_live: r.memory.peakLive,
          peak_cached: r.memory.peakCached,
          peak_reserved: r.memory.peakReserved,
          peak_workspace: r.memory.peakWorkspace,
          scratchpad: r.memory.scratchpad,
          estimate: r.estimate?.total ?? null,
        },
      }),
    );
    return 0;
  },
};
