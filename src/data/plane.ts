/** A planar float image, as the transforms see it: [C, H, W] row-major values. */
export interface Plane {
  /** [C, H, W] row-major values. */
  data: Float32Array;
  /** Channels. */
  c: number;
  /** Height. */
  h: number;
  /** Width. */
  w: number;
}
