/**
 * How the native backend lays tensors out in memory, as a `MetaLayout` for the meta backend to count
 * with (the training-memory estimate): the channel block of oneDNN's blocked layouts on this CPU,
 * which convolutions run on plain layouts, their scratchpads, the max-pool workspace and the caching
 * allocator. Everything is read from oneDNN's primitive descriptors (created and cached, never run).
 *
 * Addon function: `convImpl(xDims, wDims, yDims, stride, padding, dilation, groups)` -> `{ src, dst,
 * scratchpad, ... }` with `src`/`dst` the layouts of the direct forward primitive (native/src/buf.cc
 * `mdKey`: the inner blocks follow the `B`, nothing for a plain layout) and `scratchpad` the bytes
 * the largest of its three directions asks for.
 */
import type { Conv2dParams, Shape } from '../kernels.js';
import type { MetaLayout } from '../meta/index.js';
import type { NativeAddon } from './addon.js';

/** Inner block sizes of a layout key (`mdKey`): [] for a plain layout. */
function innerBlocks(key: string): number[] {
  const b = key.slice(key.lastIndexOf('B') + 1);
  return b
    .split(',')
    .filter((s) => s.length > 0)
    .map((s) => Number(s.split('/')[0]));
}

interface ConvInfo {
  plain: boolean;
  scratchpad: number;
}

/**
 * The meta layout that counts like the native backend on this machine.
 * @example withKernels(metaKernelsFor(nativeMetaLayout(addon)), () => step())
 */
export function nativeMetaLayout(a: NativeAddon): MetaLayout & { convScratchpad(x: Shape, w: Shape, y: Shape, p: Conv2dParams): number } {
  const cache = new Map<string, ConvInfo>();
  const info = (x: Shape, w: Shape, y: Shape, p: Conv2dParams): ConvInfo => {
    // Keyed without the batch size: the layouts and scratchpads (im2col and reduction buffers per
    // thread) do not depend on it, and a descriptor per batch size would be created and cached
    // for every probe of the largest batch that fits.
    const key = JSON.stringify([x.slice(1), w, y.slice(1), p.stride, p.padding, p.dilation, p.groups]);
    let r = cache.get(key);
    if (r === undefined) {
      const o = a.convImpl([...x], [...w], [...y], [...p.stride], [...p.padding], [...p.dilation], p.groups) as { dst: string; scratchpad?: number };
      r = { plain: innerBlocks(o.dst).length === 0, scratchpad: o.scratchpad ?? 0 };
      cache.set(key, r);
    }
    return r;
  };
  // The block a plain-channel-rich convolution's output gets (nChw8c on AVX2, nChw16c on AVX-512).
  const probe = a.convImpl([1, 64, 8, 8], [64, 64, 3, 3], [1, 64, 8, 8], [1, 1], [1, 1], [1, 1], 1) as { dst: string };
  const blocks = innerBlocks(probe.dst);
  return {
    channelBlock: blocks.length > 0 ? blocks[0]! : 1,
    // oneDNN's max-pool workspace: one u8 index per output element (s32 for windows of 256+).
    maxPoolWorkspaceBytes: 1,
    convPlain: (x, w, y, p) => info(x, w, y, p).plain,
    convScratchpad: (x, w, y, p) => info(x, w, y, p).scratchpad,
    nativeAllocator: true,
  };
}
