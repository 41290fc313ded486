/**
 * Kernel conformance of the webgpu backend: every case of the table (helpers/kernel-cases.ts) run
 * on webgpu (through SwiftShader on machines without a GPU) and on the reference backend, compared
 * to float32 tolerances; every kernel of the contract must be exercised. Fails instead of skipping
 * when CONVNET_REQUIRE_WEBGPU=1 (CI).
 *
 * The GEMM-based kernels (matmul, linear, convolutions) have two implementations (gemm.ts): the
 * workgroup-memory tiled kernel GPUs use and the barrier-free one software adapters use. The
 * adapter picks one; the linear-algebra and convolution families run a second time with the other.
 */
import type { Kernels } from '../src/backend/kernels.js';
import type { WebgpuKernels } from '../src/backend/webgpu/index.js';
import type { GemmVariant } from '../src/backend/webgpu/gemm.js';
import { defineSuite } from './helpers/conformance.js';
import { KERNEL_CASES } from './helpers/kernel-cases.js';
import { backendByName } from '../src/backend/index.js';
import { webgpuOrReason, webgpuRequired } from './helpers/webgpu.js';

const reference = backendByName('reference');

defineSuite('webgpu vs reference', webgpuOrReason, reference, KERNEL_CASES, webgpuRequired);

/** `k` with every call made under the other GEMM implementation than the adapter's default. */
function otherGemm(k: WebgpuKernels): { kernels: Kernels; variant: GemmVariant } {
  const rt = k.runtime;
  const variant: GemmVariant = rt.gemmVariant === 'tiled' ? 'direct' : 'tiled';
  const kernels = new Proxy(k, {
    get(target, prop, recv) {
      const v: unknown = Reflect.get(target, prop, recv);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        const prev = rt.gemmVariant;
        rt.gemmVariant = variant;
        try {
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        } finally {
          rt.gemmVariant = prev;
        }
      };
    },
  });
  return { kernels, variant };
}

// The two implementations share the operand loaders, so the second run covers the GEMM core: every
// matmul/linear case and the convolutions that reach its edges (partial tiles, groups, split-K).
const convSubset = /stride 2 pad 1|groups 2|AlexNet|long weight-gradient/;
const gemmCases = KERNEL_CASES.filter((c) => c.family === 'linear algebra' || (c.family === 'convolution' && convSubset.test(c.name)));
defineSuite(
  'webgpu (other GEMM kernel) vs reference',
  async () => {
    const k = await webgpuOrReason();
    return typeof k === 'string' ? k : otherGemm(k).kernels;
  },
  reference,
  gemmCases,
  webgpuRequired,
  { coverage: false },
);
