/**
 * Which convolution algorithm the native backend runs per layer: oneDNN's direct algorithm or its
 * f32 Winograd F(4x4,3x3), chosen per geometry and direction (forward, backward-data,
 * backward-weights) by timing both once on the real inputs and caching the winner (as cuDNN's
 * benchmark mode), or forced. See native/src/conv.cc for where Winograd exists (3x3, stride 1,
 * no dilation, groups 1, padding <= 1, AVX-512 CPUs) and how the choice is timed.
 *
 * The mode starts as `CONVNET_CONV_ALGO` (auto | direct | winograd; default auto), applied when
 * the native backend is created.
 *
 * Addon functions: `setConvAlgo(mode) -> previous`, `getConvAlgo()`, `convAlgos()`,
 * `resetConvAlgos()`.
 */
import { addon, addonError, type NativeAddon } from './addon.js';

/** How convolutions pick their algorithm: by timing (`auto`), or forced. */
export type ConvAlgoMode = 'auto' | 'direct' | 'winograd';

/** An algorithm a convolution can run. */
export type ConvAlgorithm = 'direct' | 'winograd';

/** One cached choice: the algorithm one direction of one convolution geometry runs, and why. */
export interface ConvAlgoChoice {
  direction: 'forward' | 'backwardData' | 'backwardWeights';
  /** Input [N, C, H, W], weight [O, C/groups, KH, KW] and output [N, O, OH, OW] shapes. */
  x: number[];
  w: number[];
  y: number[];
  stride: number[];
  /** Left/top padding (right/bottom follow from the shapes). */
  padding: number[];
  /** PyTorch's dilation (1 = none). */
  dilation: number[];
  groups: number;
  /**
   * The precision: 'float32', or 'bfloat16' (bf16 data, float32 accumulation), a choice of its own:
   * always the direct algorithm (Winograd is float32-only), oneDNN's bf16 primitive where it has a
   * fast one for this CPU, else float32 on converted data (`impl` says which).
   */
  dtype: 'float32' | 'bfloat16';
  bias: boolean;
  /** The mode the choice was made in (choices are cached per mode). */
  mode: ConvAlgoMode;
  algorithm: ConvAlgorithm;
  /** True when the choice was made by timing both algorithms. */
  measured: boolean;
  /** Best time of one complete call per algorithm (ms, reorders included), null when not timed. */
  ms: { direct: number | null; winograd: number | null };
  /** 'measured', 'forced direct', 'forced winograd', or why Winograd was not a candidate. */
  reason: string;
  /**
   * oneDNN's implementation name of the chosen primitive (e.g. 'jit_wino_4x3:avx512_core'); for a
   * bf16 choice computed in float32: 'float32 <impl> on widened bf16 data (<why>)'.
   */
  impl: string;
}

/** The state of the choice cache. */
export interface ConvAlgoState {
  mode: ConvAlgoMode;
  /** Choices made by timing since the last reset. */
  measurements: number;
  /** Every cached choice, oldest first. */
  choices: ConvAlgoChoice[];
}

function need(what: string): NativeAddon {
  if (addon === null) throw new Error(`${what}: the native backend is unavailable: ${addonError}`);
  return addon;
}

const MODES: readonly ConvAlgoMode[] = ['auto', 'direct', 'winograd'];

/**
 * Sets how native convolutions choose their algorithm from now on and returns the previous mode.
 * `winograd` forces Winograd where oneDNN has it and direct elsewhere.
 * @example setConvAlgo('direct'); // e.g. to compare numerics or speed
 */
export function setConvAlgo(mode: ConvAlgoMode): ConvAlgoMode {
  if (!MODES.includes(mode)) {
    throw new Error(`setConvAlgo: the convolution algorithm must be 'auto', 'direct' or 'winograd', got '${String(mode)}'`);
  }
  return need('setConvAlgo').setConvAlgo(mode) as ConvAlgoMode;
}

/** The current mode of the native convolutions. */
export function getConvAlgo(): ConvAlgoMode {
  return need('getConvAlgo').getConvAlgo() as ConvAlgoMode;
}

/** The cached algorithm choices (which algorithm each convolution geometry and direction runs). */
export function convAlgos(): ConvAlgoState {
  return need('convAlgos').convAlgos() as ConvAlgoState;
}

/** Forgets every cached choice (the next call of each geometry chooses again, timing in 'auto' mode). */
export function resetConvAlgos(): void {
  need('resetConvAlgos').resetConvAlgos();
}

/**
 * Applies `CONVNET_CONV_ALGO` to the addon (called when the native backend is created); throws a
 * one-line error for a value other than auto, direct or winograd.
 */
export function applyConvAlgoEnv(a: NativeAddon, env: string | undefined = process.env.CONVNET_CONV_ALGO): void {
  if (env === undefined || env === '') return;
  if (!MODES.includes(env as ConvAlgoMode)) {
    throw new Error(`CONVNET_CONV_ALGO must be 'auto', 'direct' or 'winograd', got '${env}'`);
  }
  a.setConvAlgo(env);
}
