/** Argument checks shared by ops and layers: integers and [height, width] pairs, with errors naming the caller. */

/** An integer >= `min`, or throws `${where}: ${what} must be an integer >= min, got v`. */
export function checkInt(where: string, what: string, v: number, min: number): number {
  if (!Number.isInteger(v) || v < min) throw new Error(`${where}: ${what} must be an integer >= ${min}, got ${v}`);
  return v;
}

/**
 * A number or a [height, width] pair (PyTorch's `_pair`) -> a checked pair of integers >= `min`.
 * @example pair('conv2d', 'stride', 2, 1) // [2, 2]
 */
export function pair(where: string, what: string, v: number | readonly number[], min: number): [number, number] {
  let p: [number, number];
  if (typeof v === 'number') p = [v, v];
  else if (Array.isArray(v) && v.length === 2) p = [v[0]!, v[1]!];
  else throw new Error(`${where}: ${what} must be an integer >= ${min} or a [height, width] pair of them, got ${JSON.stringify(v)}`);
  if (!p.every((d) => Number.isInteger(d) && d >= min)) {
    throw new Error(`${where}: ${what} must be an integer >= ${min} or a [height, width] pair of them, got ${JSON.stringify(v)}`);
  }
  return p;
}
