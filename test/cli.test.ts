/**
 * The `convnet` command-line tool, run as a child process (`node dist/src/cli/main.js ...`) the way
 * a user runs it. Outputs are checked against independent computations in this process: the
 * summary against `layerSummary`, the saved weights and checkpoint against `loadCheckpoint` /
 * `loadSafetensors`, predictions against a softmax of the reloaded model's logits, the ONNX file
 * against onnxruntime, resumed training against the uninterrupted run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import * as ort from 'onnxruntime-node';
import * as cn from '../src/index.js';
import { createModel, modelNames } from '../src/models/index.js';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import { loadSafetensors } from '../src/io/safetensors.js';
import { FASHION_MNIST_LABELS, loadFashionMnistSplit } from '../src/data/fashion-mnist-files.js';
import { commands, parse } from '../src/cli/program.js';
import { GLOBAL_OPTIONS } from '../src/cli/command.js';
import { UsageError } from '../src/cli/args.js';
import { CLI_MAIN, convnet, ok } from './helpers/cli.js';

const MAIN = CLI_MAIN;
const work = mkdtempSync(join(tmpdir(), 'convnet-cli-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

const isPng = (path: string): boolean => readFileSync(path).subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));

// The zoo listing builds every model (VGG-19 included), the slowest command: start it now so it
// overlaps with the tests below, and check it at the end.
const modelsRun = convnet(['models', '--json'], { timeoutMs: 240_000 });

// A small but real run: bnlenet at 28x28, 4 batches of 64 per epoch, 500 validation images.
const TRAIN = ['--data', 'fashion-mnist', '--limit-train', '256', '--limit-val', '500', '--batch-size', '64', '--seed', '3', '--backend', 'native'];
const runA = join(work, 'a');
const runB = join(work, 'b');
// The two training runs are independent: start both now (2 epochs in A, the first epoch of B).
const trainA = convnet(['train', 'bnlenet', ...TRAIN, '--epochs', '2', '--out', runA]);
const trainB1 = convnet(['train', 'bnlenet', ...TRAIN, '--epochs', '1', '--out', runB]);

test('--help lists the commands; each command has --help listing every option of its spec', async () => {
  const r = ok(await convnet(['--help']), '--help');
  for (const c of ['models', 'summary', 'train', 'eval', 'predict', 'bench', 'export']) assert.match(r.stdout, new RegExp(`^  ${c} `, 'm'));
  assert.match(r.stdout, /--version/);
  // No command: the help, and exit code 2 (nothing was done).
  const none = await convnet([]);
  assert.equal(none.status, 2);
  assert.match(none.stdout, /^Usage: convnet <command>/);
  const t = ok(await convnet(['train', '--help']), 'train --help');
  for (const f of ['--epochs', '--lr', '--batch-size', '--resize', '--limit-train', '--resume', '--dashboard', '--port', '--backend']) {
    assert.ok(t.stdout.includes(f), `train --help mentions ${f}`);
  }
  // Help and parsing come from the same specs: every option of every command is in its help,
  // with its value placeholder (or its choices), and its help sentence.
  const helps = await Promise.all(commands.map((c) => convnet([c.name, '--help'])));
  commands.forEach((c, i) => {
    const h = ok(helps[i]!, `${c.name} --help`).stdout.replace(/\s+/g, ' ');
    assert.ok(h.startsWith(`Usage: convnet ${c.name} `), h);
    for (const o of [...c.options, ...GLOBAL_OPTIONS]) {
      const placeholder = o.value ?? o.choices?.join('|');
      const term = placeholder === undefined ? `--${o.name} ` : `--${o.name} <${placeholder}>`;
      assert.ok(h.includes(term), `${c.name} --help lists ${term}`);
      assert.ok(h.includes(o.help.replace(/\s+/g, ' ')), `${c.name} --help explains --${o.name}`);
    }
    for (const a of c.arguments) assert.ok(h.includes(a.help), `${c.name} --help explains ${a.name}`);
  });
  // `convnet help train` is `convnet train --help`.
  assert.equal(ok(await convnet(['help', 'train']), 'help train').stdout, t.stdout);
});

test('--version prints the version of package.json', async () => {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  for (const flag of ['--version', '-V']) {
    const r = ok(await convnet([flag]), flag);
    assert.equal(r.stdout, `${version}\n`);
  }
});

test('the parser: flags from the specs, --flag=value, switches, -- and positionals', () => {
  const inv = parse(['train', 'lenet', '--epochs=3', '--lr', '0.5', '--resume', '--out', 'r', '--backend', 'reference']);
  assert.ok(typeof inv !== 'number');
  assert.equal(inv.command.name, 'train');
  assert.deepEqual(inv.args, { flags: { epochs: '3', lr: '0.5', resume: true, out: 'r', backend: 'reference' }, positionals: ['lenet'] });
  // Negative numbers are values (rejected later by the typed readers, with the flag's name).
  const neg = parse(['train', 'lenet', '--epochs', '-1']);
  assert.ok(typeof neg !== 'number');
  assert.equal(neg.args.flags.epochs, '-1');
  const pred = parse(['predict', 'run', 'a.png', '--', '--b.png']);
  assert.ok(typeof pred !== 'number');
  assert.deepEqual(pred.args.positionals, ['run', 'a.png', '--b.png']);
  const bad: [string[], RegExp][] = [
    [['train', 'lenet', '--out', '--resume'], /^--out needs a value$/],
    [['train', 'lenet', '--out'], /^--out needs a value$/],
    [['models', '--json=yes'], /^--json takes no value$/],
    [['train'], /^train: missing <model>/],
    [['summary', 'lenet', 'vgg11'], /^summary: unexpected argument 'vgg11'/],
    [['bench', 'lenet', '--backend', 'gpu'], /^--backend must be native or reference or webgpu, got 'gpu'$/],
  ];
  for (const [argv, message] of bad) {
    assert.throws(() => parse(argv), (e: unknown) => e instanceof UsageError && e.exitCode === 2 && message.test(e.message), argv.join(' '));
  }
});

test('typos: "did you mean" for a command and for an option, one line, exit code 2', async () => {
  const cases: [string[], RegExp][] = [
    [['trian', 'lenet'], /^convnet: unknown command 'trian' \(did you mean train\?\); commands: models, summary, train/],
    [['train', 'lenet', '--epoch', '2'], /^convnet: unknown option '--epoch' for 'convnet train' \(did you mean --epochs\?\)/],
    [['summary', 'lenet', '--jsno'], /^convnet: unknown option '--jsno' for 'convnet summary' \(did you mean --json\?\)/],
    [['bench', 'lenet', '--bakend', 'reference'], /\(did you mean --backend\?\)/],
    [['help', 'sumary'], /^convnet: unknown command 'sumary' \(did you mean summary\?\)/],
  ];
  const runs = await Promise.all(cases.map(([argv]) => convnet(argv)));
  cases.forEach(([argv, message], i) => {
    const r = runs[i]!;
    assert.equal(r.status, 2, argv.join(' '));
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, message);
  });
});

test('summary --json matches Classifier.layerSummary and the model parameter count', async () => {
  const r = ok(await convnet(['summary', 'bnlenet', '--json']), 'summary');
  const s = JSON.parse(r.stdout) as { model: string; input: number[]; layers: unknown[]; params: number };
  assert.equal(s.model, 'bnlenet');
  assert.deepEqual(s.input, [1, 1, 28, 28]);
  const model = createModel('bnlenet');
  const rows = model.layerSummary([1, 1, 28, 28], { print: false });
  assert.deepEqual(s.layers, JSON.parse(JSON.stringify(rows)));
  assert.equal(s.params, model.numParameters());
  assert.equal(s.params, 44878); // d2l's BNLeNet on 28x28 inputs

  const r2 = ok(await convnet(['summary', 'lenet', '--input', '2,1,32,32', '--json']), 'summary --input');
  const s2 = JSON.parse(r2.stdout) as { layers: { outputShape: number[] }[] };
  assert.deepEqual(s2.layers[0]!.outputShape, [2, 6, 32, 32]);
});

test('train writes metrics.jsonl, curves, filters, weights and a checkpoint', async () => {
  const r = ok(await trainA, 'train');
  assert.match(r.stdout, /epoch +2 \| train loss/);
  const lines = readFileSync(join(runA, 'metrics.jsonl'), 'utf8').trim().split('\n');
  assert.equal(lines.length, 2);
  lines.forEach((line, i) => {
    const m = JSON.parse(line) as Record<string, number>;
    assert.deepEqual(Object.keys(m), ['epoch', 'train_loss', 'val_loss', 'val_acc', 'images_per_s', 'seconds', 'lr', 'world_size']);
    assert.equal(m.lr, 0.1, "the lecture's lr, no schedule");
    assert.equal(m.epoch, i + 1);
    assert.equal(m.world_size, 1); // one process (several: test/dist-mpi.test.ts)
    for (const k of ['train_loss', 'val_loss', 'images_per_s', 'seconds']) assert.ok(Number.isFinite(m[k]) && m[k]! > 0, `${k} = ${m[k]}`);
    assert.ok(m.val_acc! >= 0 && m.val_acc! <= 1);
  });
  assert.match(readFileSync(join(runA, 'curves.svg'), 'utf8'), /<svg[\s>]/);
  for (const f of ['curves.png', 'filters.png']) assert.ok(isPng(join(runA, f)), `${f} is a PNG`);
  // filters.png: 6 first-layer 5x5 kernels; the figure is an image of a few hundred pixels at most.
  const meta = await sharp(join(runA, 'filters.png')).metadata();
  assert.ok(meta.width! > 5 && meta.height! > 5);

  const { weights, state } = loadCheckpoint(join(runA, 'checkpoint.safetensors'));
  assert.equal(state.model, 'bnlenet');
  assert.equal(state.epoch, 2);
  assert.equal(state.records.length, 2);
  const saved = loadSafetensors(join(runA, 'model.safetensors')).tensors;
  assert.deepEqual(Object.keys(saved).sort(), Object.keys(weights).sort());
  for (const [k, t] of Object.entries(saved)) assert.deepEqual(Array.from(t.toArray()), Array.from(weights[k]!.toArray()), k);
  const model = createModel('bnlenet');
  model.materialize([1, 1, 28, 28]);
  model.loadStateDict(saved); // strict: every key of the model, with its shape
});

test('--resume continues a 1-epoch run at epoch 2, as the uninterrupted run', async () => {
  ok(await trainB1, 'train 1 epoch');
  const r = ok(await convnet(['train', 'bnlenet', '--epochs', '2', '--out', runB, '--resume', '--backend', 'native']), 'resume');
  assert.match(r.stdout, /resuming .* after epoch 1/);
  assert.doesNotMatch(r.stdout, /epoch +1 \|/);
  const lines = readFileSync(join(runB, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
  assert.deepEqual(lines.map((m) => m.epoch), [1, 2]);
  const full = readFileSync(join(runA, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
  // Same weights, optimizer, generators and data order: the same losses as the run that never stopped.
  for (const k of ['train_loss', 'val_loss', 'val_acc']) {
    for (const e of [0, 1]) assert.ok(Math.abs(lines[e]![k]! - full[e]![k]!) <= 1e-5, `epoch ${e + 1} ${k}: ${lines[e]![k]} vs ${full[e]![k]}`);
  }
  assert.equal(loadCheckpoint(join(runB, 'checkpoint.safetensors')).state.epoch, 2);
});

test('a NaN/Inf loss stops training with one line and keeps the last good checkpoint', async () => {
  const before = readFileSync(join(runB, 'checkpoint.safetensors'));
  const r = await convnet(['train', 'bnlenet', '--epochs', '3', '--lr', '1e38', '--out', runB, '--resume']);
  assert.notEqual(r.status, 0);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /loss became (NaN|-?Infinity) at epoch 3.*checkpoint of epoch 2/);
  assert.ok(readFileSync(join(runB, 'checkpoint.safetensors')).equals(before), 'checkpoint unchanged');
  assert.equal(readFileSync(join(runB, 'metrics.jsonl'), 'utf8').trim().split('\n').length, 2);
});

test('eval prints the accuracy and a 10x10 confusion matrix over the validation images', async () => {
  const r = ok(await convnet(['eval', runA, '--limit', '500']), 'eval');
  assert.match(r.stdout, /500 validation images/);
  const acc = Number(/accuracy (\d\.\d+)/.exec(r.stdout)?.[1]);
  assert.ok(acc >= 0 && acc <= 1);
  const rows = FASHION_MNIST_LABELS.map((name) => {
    const line = r.stdout.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}  `));
    assert.ok(line !== undefined, `row ${name}`);
    return line.slice(name.length).trim().split(/\s+/).map(Number);
  });
  assert.equal(rows.length, 10);
  for (const row of rows) assert.equal(row.length, 11); // 10 predicted classes + the row total
  const matrix = rows.map((row) => row.slice(0, 10));
  const total = matrix.flat().reduce((a, b) => a + b, 0);
  assert.equal(total, 500);
  const correct = matrix.reduce((s, row, i) => s + row[i]!, 0);
  assert.ok(Math.abs(correct / total - acc) < 1e-4, `diagonal ${correct}/${total} vs accuracy ${acc}`);
  assert.ok(isPng(join(runA, 'confusion.png')));

  // The run validated on the same 500 images after its last epoch: eval must agree with it.
  const last = JSON.parse(readFileSync(join(runA, 'metrics.jsonl'), 'utf8').trim().split('\n').at(-1)!) as Record<string, number>;
  assert.ok(Math.abs(acc - last.val_acc!) < 1e-4, `eval accuracy ${acc} vs the run's ${last.val_acc}`);
  assert.ok(Math.abs(Number(/loss (\d+\.\d+)/.exec(r.stdout)?.[1]) - last.val_loss!) < 1e-3);

  const j = JSON.parse(ok(await convnet(['eval', runA, '--limit', '200', '--json']), 'eval --json').stdout) as { images: number; confusion: number[][] };
  assert.equal(j.images, 200);
  assert.equal(j.confusion.flat().reduce((a, b) => a + b, 0), 200);
});

test('predict prints the top-k classes of a PNG with the probabilities of the reloaded model', async () => {
  const test0 = loadFashionMnistSplit('test');
  const pixels = test0.images.subarray(0, 784);
  const png = join(work, 'item0.png');
  await sharp(Buffer.from(pixels), { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(png);

  const r = ok(await convnet(['predict', runA, png, '--top-k', '3', '--json']), 'predict');
  const out = JSON.parse(r.stdout) as { image: string; top: { index: number; class: string; probability: number }[] };
  assert.equal(out.top.length, 3);
  const sum = out.top.reduce((s, t) => s + t.probability, 0);
  assert.ok(sum <= 1 + 1e-9 && sum > 0);
  for (let i = 1; i < 3; i++) assert.ok(out.top[i - 1]!.probability >= out.top[i]!.probability);

  // Reference: the checkpoint's model on the image's pixels / 255, softmax in float64.
  const { weights } = loadCheckpoint(join(runA, 'checkpoint.safetensors'));
  const model = createModel('bnlenet');
  model.materialize([1, 1, 28, 28]);
  model.loadStateDict(weights);
  model.eval();
  const x = cn.tensor(Float32Array.from(pixels, (v) => v / 255), { shape: [1, 1, 28, 28] });
  const logits = Array.from(cn.noGrad(() => model.call(x)).toArray());
  const m = Math.max(...logits);
  const z = logits.reduce((s, v) => s + Math.exp(v - m), 0);
  const probs = logits.map((v) => Math.exp(v - m) / z);
  const order = probs.map((p, i) => [p, i] as const).sort((a, b) => b[0] - a[0]);
  out.top.forEach((t, k) => {
    assert.equal(t.index, order[k]![1]);
    assert.equal(t.class, FASHION_MNIST_LABELS[t.index]);
    assert.ok(Math.abs(t.probability - order[k]![0]) < 1e-5, `${t.class}: ${t.probability} vs ${order[k]![0]}`);
  });

  const text = ok(await convnet(['predict', runA, png, png, '--top-k', '2']), 'predict text');
  assert.equal(text.stdout.trim().split('\n').length, 6); // per image: its path and 2 classes
});

test('--data DIR trains on an image folder and eval/predict use its class names', async () => {
  // Two classes of Fashion-MNIST test images as 32x32 PNGs (resized to the model's 28x28 on load).
  const split = loadFashionMnistSplit('test');
  const root = join(work, 'folder');
  const classes: [string, number][] = [['bags', 8], ['trousers', 1]];
  let first = '';
  for (const [name, label] of classes) {
    mkdirSync(join(root, name), { recursive: true });
    let n = 0;
    for (let i = 0; i < split.n && n < 10; i++) {
      if (split.labels[i] !== label) continue;
      const file = join(root, name, `${i}.png`);
      await sharp(Buffer.from(split.images.subarray(i * 784, (i + 1) * 784)), { raw: { width: 28, height: 28, channels: 1 } })
        .resize(32, 32)
        .png()
        .toFile(file);
      first ||= file;
      n++;
    }
  }
  const out = join(work, 'folder-run');
  ok(await convnet(['train', 'lenet', '--data', root, '--epochs', '1', '--batch-size', '4', '--seed', '0', '--out', out]), 'train on a folder');
  const { state } = loadCheckpoint(join(out, 'checkpoint.safetensors'));
  assert.deepEqual((state.extra.run as { classNames: string[] }).classNames, ['bags', 'trousers']);
  const j = JSON.parse(ok(await convnet(['eval', out, '--json']), 'eval folder').stdout) as { images: number; confusion: number[][] };
  assert.equal(j.images, 4); // 20% of each class of 10
  assert.equal(j.confusion.length, 2);
  assert.equal(j.confusion.flat().reduce((a, b) => a + b, 0), 4);
  const p = JSON.parse(ok(await convnet(['predict', out, first, '--json']), 'predict folder').stdout) as { top: { class: string }[] };
  assert.deepEqual(p.top.map((t) => t.class).sort(), ['bags', 'trousers']);
});

test('bench prints one JSON line with images_per_s > 0, on either backend', async () => {
  const [native, reference] = await Promise.all([
    convnet(['bench', 'lenet', '--batch-size', '16', '--steps', '2']),
    convnet(['bench', 'lenet', '--batch-size', '4', '--steps', '1', '--backend', 'reference']),
  ]);
  const ref = JSON.parse(ok(reference, 'bench --backend reference').stdout) as Record<string, unknown>;
  assert.equal(ref.backend, 'reference');
  assert.ok((ref.images_per_s as number) > 0);
  const r = ok(native, 'bench');
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1);
  const b = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(b.model, 'lenet');
  assert.equal(b.batch_size, 16);
  assert.deepEqual(b.input, [16, 1, 28, 28]);
  assert.ok((b.images_per_s as number) > 0);
});

test('export --onnx writes a model whose onnxruntime logits match the checkpoint model', async () => {
  const file = join(work, 'bnlenet.onnx');
  ok(await convnet(['export', runA, '--onnx', file]), 'export');
  assert.ok(statSync(file).size > 1000);
  const { weights } = loadCheckpoint(join(runA, 'checkpoint.safetensors'));
  const model = createModel('bnlenet');
  model.materialize([1, 1, 28, 28]);
  model.loadStateDict(weights);
  model.eval();
  const g = new cn.Generator(5);
  const data = Float32Array.from({ length: 784 }, () => g.random());
  const expected = Array.from(cn.noGrad(() => model.call(cn.tensor(data, { shape: [1, 1, 28, 28] }))).toArray());
  const session = await ort.InferenceSession.create(file);
  const feeds = { [session.inputNames[0]!]: new ort.Tensor('float32', data, [1, 1, 28, 28]) };
  const got = Array.from((await session.run(feeds))[session.outputNames[0]!]!.data as Float32Array);
  assert.equal(got.length, 10);
  got.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) < 1e-4, `logit ${i}: ${v} vs ${expected[i]}`));
});

test('errors: one line on stderr, non-zero exit, no stack trace', async () => {
  const cases: [string, string[], RegExp][] = [
    ['unknown model', ['train', 'resnet9000'], /unknown model 'resnet9000'/],
    ['--epochs -1', ['train', 'lenet', '--epochs', '-1'], /--epochs must be an integer >= 1, got '-1'/],
    ['--batch-size abc', ['train', 'lenet', '--batch-size', 'abc'], /--batch-size must be an integer >= 1, got 'abc'/],
    ['missing data dir', ['train', 'lenet', '--data', join(work, 'no-such-dir')], /no such folder/],
    ['checkpoint of another model', ['train', 'lenet', '--out', runA, '--resume'], /checkpoint of model 'bnlenet', not 'lenet'/],
    ['unknown flag', ['summary', 'lenet', '--frobnicate'], /unknown option '--frobnicate'/],
    ['missing run folder', ['eval', join(work, 'nothing-here')], /no such run folder or checkpoint/],
    ['unsupported precision', ['bench', 'lenet', '--precision', 'fp16'], /--precision must be fp32/],
  ];
  const runs = await Promise.all(cases.map(([, args]) => convnet(args)));
  cases.forEach(([what, , message], i) => {
    const r = runs[i]!;
    assert.notEqual(r.status, 0, `${what}: exit code`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `${what}: one line, got ${JSON.stringify(r.stderr)}`);
    assert.match(lines[0]!, /^convnet: /, what);
    assert.match(lines[0]!, message, what);
    assert.doesNotMatch(r.stderr, /\n\s+at /, `${what}: no stack trace`);
  });
  // --verbose shows where an error came from.
  const v = await convnet(['train', 'lenet', '--epochs', '-1', '--verbose']);
  assert.notEqual(v.status, 0);
  assert.match(v.stderr, /\n\s+at /);
});

test('models lists every zoo model with its input size, parameters and FLOPs', async () => {
  const r = ok(await modelsRun, 'models');
  const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { name: string; input: number[]; params: number; flops: number });
  assert.deepEqual(rows.map((m) => m.name), [...modelNames]);
  const lenet = rows.find((m) => m.name === 'lenet')!;
  assert.deepEqual(lenet.input, [1, 1, 28, 28]);
  assert.equal(lenet.params, 61706);
  const alex = rows.find((m) => m.name === 'alexnet')!;
  assert.equal(alex.params, 46764746); // d2l's AlexNet on 1x224x224
  for (const m of rows) assert.ok(m.params > 0 && m.flops > 0, m.name);
});

test('the bin entry of package.json is the compiled CLI', () => {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  assert.equal(join(root, pkg.bin.convnet!), MAIN);
  assert.ok(existsSync(MAIN));
  assert.ok(readFileSync(join(root, 'src', 'cli', 'main.ts'), 'utf8').startsWith('#!/usr/bin/env node\n'));
});
