/**
 * Small helpers for writing SVG (and HTML) by hand: escaping text and printing coordinates
 * compactly.
 */

/**
 * Escapes `&`, `<`, `>`, `"` and `'` so that `s` can go into element text or a quoted attribute.
 * @example escapeXml('a < b') // 'a &lt; b'
 */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/**
 * A coordinate rounded to 0.01 px (finer is invisible and only bloats the file), without trailing
 * zeros.
 * @example px(12.3456) // '12.35'
 */
export function px(v: number): string {
  const r = Math.round(v * 100) / 100;
  return String(Object.is(r, -0) ? 0 : r);
}
