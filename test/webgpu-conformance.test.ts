/**
 * Kernel conformance of the webgpu backend: every case of the table (helpers/kernel-cases.ts) run
 * on webgpu (through SwiftShader on machines without a GPU) and on the reference backend, compared
 * to float32 tolerances; every kernel of the contract must be exercised. Fails instead of skipping
 * when CONVNET_REQUIRE_WEBGPU=1 (CI).
 */
import { defineSuite } from './helpers/conformance.js';
import { KERNEL_CASES } from './helpers/kernel-cases.js';
import { referenceV2 } from './helpers/reference-v2.js';
import { webgpuOrReason, webgpuRequired } from './helpers/webgpu.js';

defineSuite('webgpu vs reference', webgpuOrReason, referenceV2, KERNEL_CASES, webgpuRequired);
