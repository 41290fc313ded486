/**
 * What the CPU offers the native backend, as oneDNN sees it, and how its bfloat16 kernels compute.
 *
 * bf16 mixed precision only pays where oneDNN runs bf16 natively: AVX-512 BF16 (oneDNN's
 * `avx512_core_bf16`) or AMX. Elsewhere every native bf16 kernel still works and gives the same
 * numbers (each computes in float32 and rounds its result once), but convolutions and matmuls run
 * as float32 on converted copies, so bf16 is slower than float32 there: a trainer asked for
 * bf16-mixed should fall back to float32 with a notice when `bf16Native` is false.
 *
 * Addon functions: `cpuInfo() -> { isa, bf16Native, bf16Mode }`, `setBf16Mode(mode) -> previous`.
 */
import { addon, addonError } from './addon.js';

/** How native bf16 kernels that have a oneDNN primitive compute. */
export type Bf16Mode = 'auto' | 'f32';

/** The native backend's view of the CPU. */
export interface NativeCpuInfo {
  /**
   * oneDNN's effective instruction set: 'avx2', 'avx512_core', 'avx512_core_bf16',
   * 'avx512_core_amx', ... (its `dnnl::get_effective_cpu_isa()`).
   */
  isa: string;
  /** True when oneDNN runs bf16 natively here (AVX-512 BF16 or AMX): bf16 training is worth it. */
  bf16Native: boolean;
  /**
   * `'auto'`: bf16 convolution, matmul, pooling and batch norm run oneDNN's bf16 primitives where
   * oneDNN has a non-reference implementation for this CPU, float32 on converted copies elsewhere;
   * `'f32'`: always the latter (for comparisons and tests).
   */
  bf16Mode: Bf16Mode;
}

/**
 * The native backend's CPU capabilities, or null when the addon is not available.
 * @example
 * const cpu = nativeCpuInfo();
 * if (precision === 'bf16-mixed' && !cpu?.bf16Native) console.warn(`bf16 is not native on ${cpu?.isa ?? 'this backend'}: training in fp32`);
 */
export function nativeCpuInfo(): NativeCpuInfo | null {
  if (addon === null) return null;
  const r = addon.cpuInfo() as NativeCpuInfo;
  return { isa: r.isa, bf16Native: r.bf16Native, bf16Mode: r.bf16Mode };
}

const MODES: readonly Bf16Mode[] = ['auto', 'f32'];

/**
 * Sets how native bf16 kernels with a oneDNN primitive compute from now on and returns the previous
 * mode (see `NativeCpuInfo.bf16Mode`). The numbers agree either way to within bf16 rounding.
 * @example const prev = setBf16Mode('f32'); try { ... } finally { setBf16Mode(prev); }
 */
export function setBf16Mode(mode: Bf16Mode): Bf16Mode {
  if (!MODES.includes(mode)) throw new Error(`setBf16Mode: the mode must be 'auto' or 'f32', got '${String(mode)}'`);
  if (addon === null) throw new Error(`setBf16Mode: the native backend is unavailable: ${addonError}`);
  return addon.setBf16Mode(mode) as Bf16Mode;
}
