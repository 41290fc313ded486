/**
 * `convnet eval <run-dir|checkpoint>`: the trained model's loss and accuracy on the validation
 * images, and its confusion matrix (printed, and drawn to a PNG).
 */
import { join, resolve } from 'node:path';
import { noGrad } from '../autograd/grad-mode.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { confusionMatrix, confusionMatrixText, saveConfusionPng } from '../viz/confusion.js';
import { CliError, boolFlag, intFlag, stringFlag } from './args.js';
import { batchSizeOption, jsonOption, type Command } from './command.js';
import { loadValidation, resolveDataArg } from './data.js';
import { RUN_FILES, loadRun } from './run-dir.js';

/** The `eval` command. */
export const evalCommand: Command = {
  name: 'eval',
  summary: 'loss, accuracy and confusion matrix of a trained model',
  description: `Evaluates a model trained by 'convnet train' on the validation images: mean cross-entropy loss, accuracy, and the confusion matrix (rows: true class, columns: predicted class), printed as text and drawn to a PNG.`,
  arguments: [{ name: '<run-dir|checkpoint>', help: "a run folder of 'convnet train', or its checkpoint.safetensors" }],
  options: [
    { name: 'data', value: 'fashion-mnist|DIR', help: "data to evaluate on (default: the run's; a folder must have the run's class sub-folders)" },
    batchSizeOption("the run's"),
    { name: 'limit', value: 'N', help: 'evaluate the first N validation images only' },
    { name: 'out', value: 'FILE', help: `the confusion matrix PNG (default: <run-dir>/${RUN_FILES.confusion})` },
    jsonOption('print {"loss", "accuracy", "images", "classNames", "confusion"} instead'),
  ],
  async run(args) {
    const dataArg = stringFlag(args, 'data');
    const batchSize = intFlag(args, 'batch-size', 1);
    const limit = intFlag(args, 'limit', 1);
    const out = stringFlag(args, 'out');
    const data = dataArg === undefined ? undefined : resolveDataArg(dataArg);
    const run = loadRun(args.positionals[0]!);
    const { model, config } = run;
    const ds = await loadValidation({
      ...config,
      data: data ?? config.data,
      batchSize: batchSize ?? config.batchSize,
      limitVal: limit ?? null,
    });
    if (ds.classNames.join('\n') !== config.classNames.join('\n')) {
      throw new CliError(`--data ${dataArg}: classes [${ds.classNames.join(', ')}] differ from the model's [${config.classNames.join(', ')}]`);
    }
    if (ds.val.sampleShape[0] !== config.channels) {
      throw new CliError(`--data ${dataArg}: images have ${ds.val.sampleShape[0]} channel(s), the model was trained on ${config.channels}`);
    }
    const preds: number[] = [];
    const labels: number[] = [];
    let lossSum = 0;
    for await (const batch of ds.loader) {
      try {
        const [lossT, p] = tidy(() =>
          noGrad((): [Tensor, Tensor] => {
            const logits = model.call(batch.x);
            return [model.loss(logits, batch.y), logits.argmax(1)];
          }),
        );
        // Read back asynchronously (every backend, GPUs included).
        lossSum += (await lossT.itemAsync()) * batch.x.shape[0]!;
        preds.push(...Array.from(await p.data()));
        lossT.dispose();
        p.dispose();
        labels.push(...Array.from(await batch.y.data()));
      } finally {
        batch.x.dispose();
        batch.y.dispose();
      }
    }
    if (labels.length === 0) throw new CliError(`${config.data}: no validation images to evaluate`);
    const matrix = confusionMatrix(preds, labels, config.classNames.length);
    const correct = matrix.reduce((s, row, i) => s + row[i]!, 0);
    const loss = lossSum / labels.length;
    const accuracy = correct / labels.length;
    const png = resolve(out ?? join(run.dir, RUN_FILES.confusion));
    await saveConfusionPng(matrix, config.classNames, png);
    if (boolFlag(args, 'json')) {
      console.log(JSON.stringify({ model: run.state.model, epoch: run.state.epoch, images: labels.length, loss, accuracy, classNames: config.classNames, confusion: matrix, png }));
      return 0;
    }
    console.log(`${run.state.model} after ${run.state.epoch} epoch(s), ${labels.length} validation images from ${data ?? config.data}`);
    console.log(`loss ${loss.toFixed(4)} | accuracy ${accuracy.toFixed(4)}`);
    console.log('');
    console.log(confusionMatrixText(matrix, config.classNames));
    console.log(`confusion matrix image: ${png}`);
    return 0;
  },
};
