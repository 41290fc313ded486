/**
 * The lecture "Convolutional Neural Networks 1" (shared/seed/000_c7e4076854b6810a.txt), runnable:
 * every code cell in order, printing what the notebook prints (layer summaries, the DenseBlock /
 * transition shapes, gamma/beta after training) and training where the notebook trains.
 *
 *   node dist/examples/lecture.js --quick              # whole lecture on data subsets, a few minutes
 *   node dist/examples/lecture.js                      # the real thing: 10 epochs per model (hours)
 *   node dist/examples/lecture.js --no-train           # as the notebook ships (fit lines commented out)
 *   node dist/examples/lecture.js --sections batch-norm --epochs 2 --limit 100
 *
 * Flags: --quick (1 epoch; 3 training / 2 validation batches for the 224/96-pixel models, full
 * epochs for the 28x28 LeNets), --limit N (training batches per epoch), --val-limit N, --epochs N,
 * --no-train, --sections a,b (alexnet, vgg, nin, batch-norm, densenet), --backend native|reference,
 * --seed N, --workers N.
 */
import * as cn from '../src/index.js';
import * as d2l from './lecture/d2l.js';
import * as alexnet from './lecture/alexnet.js';
import * as vgg from './lecture/vgg.js';
import * as nin from './lecture/nin.js';
import * as batchNorm from './lecture/batch-norm.js';
import * as densenet from './lecture/densenet.js';

const SECTIONS: Record<string, () => Promise<void>> = {
  alexnet: alexnet.run,
  vgg: vgg.run,
  nin: nin.run,
  'batch-norm': batchNorm.run,
  densenet: densenet.run,
};

function usage(msg: string): never {
  console.error(`lecture: ${msg}\nusage: node dist/examples/lecture.js [--quick] [--limit N] [--val-limit N] [--epochs N] [--no-train] [--sections ${Object.keys(SECTIONS).join(',')}] [--backend native|reference] [--seed N] [--workers N]`);
  process.exit(2);
}

function parse(argv: string[]): { sections: string[]; backend?: cn.BackendName; seed: number } {
  let sections = Object.keys(SECTIONS);
  let backend: cn.BackendName | undefined;
  let seed = 0;
  const num = (flag: string, v: string | undefined, min = 1): number => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < min) usage(`${flag} needs an integer >= ${min}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    switch (a) {
      case '--quick': d2l.settings.quick = true; break;
      case '--no-train': d2l.settings.train = false; break;
      case '--limit': d2l.settings.limit = num(a, argv[++i]); break;
      case '--val-limit': d2l.settings.valLimit = num(a, argv[++i]); break;
      case '--epochs': d2l.settings.epochs = num(a, argv[++i]); break;
      case '--workers': d2l.settings.numWorkers = num(a, argv[++i], 0); break;
      case '--seed': seed = num(a, argv[++i], 0); break;
      case '--backend': {
        const b = argv[++i];
        if (b !== 'native' && b !== 'reference') usage('--backend must be native or reference');
        backend = b;
        break;
      }
      case '--sections': {
        sections = (argv[++i] ?? '').split(',').filter((s) => s !== '');
        const bad = sections.filter((s) => !(s in SECTIONS));
        if (sections.length === 0 || bad.length > 0) usage(`unknown section(s) ${bad.join(', ')}; valid: ${Object.keys(SECTIONS).join(', ')}`);
        break;
      }
      case '--help': case '-h': usage('help');
      default: usage(`unknown argument '${a}'`);
    }
  }
  return { sections, backend, seed };
}

const { sections, backend, seed } = parse(process.argv.slice(2));
if (backend !== undefined) cn.setBackend(backend);
cn.manualSeed(seed);
const mode = !d2l.settings.train ? 'no training' : d2l.settings.quick ? 'quick (data subsets)' : 'full training';
console.log(`# Convolutional Neural Networks 1 — backend ${cn.getBackend().name}, ${mode}`);
const t0 = performance.now();
for (const s of sections) await SECTIONS[s]!();
console.log(`\nlecture done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
