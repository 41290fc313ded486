/** `convnet bench <model>`: training throughput (images/s) on a random batch, as one JSON line. */
import { getBackend } from '../backend/index.js';
import { benchTraining } from '../models/bench.js';
import { choiceFlag, expectPositionals, intFlag } from './args.js';
import { GLOBAL_HELP, type Command } from './command.js';
import { lookupModel } from './zoo.js';

/** The `bench` command. */
export const benchCommand: Command = {
  name: 'bench',
  summary: 'training images/s of a model on a random batch (one JSON line)',
  flags: { 'batch-size': 'string', steps: 'string', warmup: 'string', precision: 'string' },
  help: `Usage: convnet bench <model> [--batch-size N] [--steps N] [--warmup N] [--precision fp32]

Times what the trainer does per batch (forward, cross-entropy, backward, SGD step) on one random
batch at the model's input size, after untimed warm-up steps, and prints one JSON line:
{"model", "backend", "precision", "batch_size", "input", "steps", "seconds", "images_per_s"}.

Options:
  --batch-size N   images per step (default 128)
  --steps N        timed steps (default 10)
  --warmup N       untimed steps first (default 1)
  --precision P    arithmetic precision; fp32 (the only one the backends implement)
${GLOBAL_HELP}`,
  async run(args) {
    expectPositionals(args, 'bench', 1, 1, '<model>');
    const name = args.positionals[0]!;
    lookupModel(name);
    const precision = choiceFlag(args, 'precision', ['fp32'] as const) ?? 'fp32';
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
      }),
    );
    return 0;
  },
};
