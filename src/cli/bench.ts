/** `convnet bench <model>`: training throughput (images/s) on a random batch, as one JSON line. */
import { getBackend } from '../backend/index.js';
import { benchTraining } from '../models/bench.js';
import { choiceFlag, intFlag } from './args.js';
import { batchSizeOption, type Command } from './command.js';
import { lookupModel } from './zoo.js';

/** Values of `--precision`. */
const PRECISIONS = ['fp32'] as const;

/** The `bench` command. */
export const benchCommand: Command = {
  name: 'bench',
  summary: 'training images/s of a model on a random batch (one JSON line)',
  description: `Times what the trainer does per batch (forward, cross-entropy, backward, SGD step) on one random batch at the model's input size, after untimed warm-up steps, and prints one JSON line: {"model", "backend", "precision", "batch_size", "input", "steps", "seconds", "images_per_s", "peak_rss_bytes", "memory": {"peak_live", "peak_cached", "peak_reserved", "peak_workspace", "scratchpad", "estimate"}} (bytes; memory over the whole run, estimate: the training-memory estimate of convnet summary). A batch whose estimate exceeds the memory available stops before anything is allocated, with one line giving the largest batch that fits.`,
  arguments: [{ name: '<model>', help: 'a zoo model (see convnet models)' }],
  options: [
    batchSizeOption('128'),
    { name: 'steps', value: 'N', help: 'timed steps (default 10)' },
    { name: 'warmup', value: 'N', help: 'untimed steps first (default 1)' },
    { name: 'precision', choices: PRECISIONS, help: 'arithmetic precision; fp32 (the only one the backends implement)' },
  ],
  async run(args) {
    const name = args.positionals[0]!;
    lookupModel(name);
    const precision = choiceFlag(args, 'precision', PRECISIONS) ?? 'fp32';
    const r = benchTraining({
      model: name,
      batchSize: intFlag(args, 'batch-size', 1) ?? 128,
      steps: intFlag(args, 'steps', 1) ?? 10,
      warmup: intFlag(args, 'warmup', 0) ?? 1,
    });
    console.log(
      JSON.stringify({
        model: r.model,
        backend: getBackend().name,
        precision,
        batch_size: r.inputShape[0],
        input: r.inputShape,
        steps: r.steps,
        seconds: r.seconds,
        images_per_s: r.imagesPerSec,
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
