/**
 * Short content hashes for comparing what the ranks hold (their data, their weights) without
 * sending it: FNV-1a (32 bits) over each part (over 32-bit words when the part is 4-byte aligned,
 * which is four times faster on weights), as 8 hex digits.
 */

/** A part to hash: bytes of a typed array, a string (UTF-8) or a number. */
export type FingerprintPart = ArrayBufferView | string | number;

/**
 * The hash of the parts, in order (8 hex digits). Equal inputs give equal hashes on every
 * machine (typed arrays are hashed as their bytes, little-endian on every platform we run on).
 * @example fingerprint(labels, 'fashion-mnist', 28) // 'a41f03c2'
 */
export function fingerprint(...parts: FingerprintPart[]): string {
  let h = 0x811c9dc5;
  const mix = (bytes: Uint8Array): void => {
    for (let i = 0; i < bytes.length; i++) {
      h ^= bytes[i]!;
      h = Math.imul(h, 0x01000193);
    }
  };
  for (const p of parts) {
    if (typeof p === 'string') mix(new TextEncoder().encode(p));
    else if (typeof p === 'number') mix(new Uint8Array(Float64Array.of(p).buffer));
    else if (p.byteOffset % 4 === 0 && p.byteLength % 4 === 0) {
      const words = new Uint32Array(p.buffer, p.byteOffset, p.byteLength / 4);
      for (let i = 0; i < words.length; i++) {
        h ^= words[i]!;
        h = Math.imul(h, 0x01000193);
      }
    } else mix(new Uint8Array(p.buffer, p.byteOffset, p.byteLength));
    // A separator, so that ('ab', 'c') and ('a', 'bc') differ.
    mix(Uint8Array.of(0xff));
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}
