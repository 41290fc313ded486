/**
 * Confusion matrices: counting (true class, predicted class) pairs, printing the table with row
 * and column totals, and drawing it as a heat map.
 */
import { escapeXml, px } from './svg.js';
import { svgToPng } from './png.js';

/**
 * Counts how often each true class (row) was predicted as each class (column).
 * @example confusionMatrix([0, 1, 1], [0, 0, 1], 2) // [[1, 1], [0, 1]]
 */
export function confusionMatrix(preds: ArrayLike<number>, labels: ArrayLike<number>, numClasses: number): number[][] {
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new Error(`confusionMatrix: numClasses must be a positive integer, got ${numClasses}`);
  if (preds.length !== labels.length) throw new Error(`confusionMatrix: ${preds.length} predictions but ${labels.length} labels`);
  const m = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < preds.length; i++) {
    const p = preds[i]!;
    const y = labels[i]!;
    if (!Number.isInteger(p) || p < 0 || p >= numClasses) throw new Error(`confusionMatrix: prediction ${i} is ${p}, not a class in 0..${numClasses - 1}`);
    if (!Number.isInteger(y) || y < 0 || y >= numClasses) throw new Error(`confusionMatrix: label ${i} is ${y}, not a class in 0..${numClasses - 1}`);
    m[y]![p]!++;
  }
  return m;
}

function checkMatrix(matrix: number[][], classNames: string[], fn: string): void {
  const n = matrix.length;
  if (n === 0) throw new Error(`${fn}: empty matrix`);
  for (const [i, row] of matrix.entries()) {
    if (row.length !== n) throw new Error(`${fn}: matrix is not square (row ${i} has ${row.length} entries, expected ${n})`);
  }
  if (classNames.length !== n) throw new Error(`${fn}: ${classNames.length} class names for a ${n}x${n} matrix`);
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

/**
 * The matrix as an aligned text table (rows: true class, columns: predicted class) with a `total`
 * column (examples per true class), a `total` row (predictions per class) and the accuracy
 * (diagonal / all) on the last line.
 * @example console.log(confusionMatrixText(m, ['cat', 'dog']));
 */
export function confusionMatrixText(matrix: number[][], classNames: string[]): string {
  checkMatrix(matrix, classNames, 'confusionMatrixText');
  const n = matrix.length;
  const rowTotals = matrix.map(sum);
  const colTotals = matrix[0]!.map((_, j) => sum(matrix.map((r) => r[j]!)));
  const total = sum(rowTotals);
  const corner = 'true \\ predicted';
  const firstW = Math.max(corner.length, 'total'.length, ...classNames.map((s) => s.length));
  const header = [...classNames, 'total'];
  const colW = header.map((h, j) => Math.max(h.length, String(j < n ? colTotals[j] : total).length));
  const line = (first: string, cells: (string | number)[]): string =>
    [first.padEnd(firstW), ...cells.map((c, j) => String(c).padStart(colW[j]!))].join('  ').trimEnd();
  const lines = [line(corner, header)];
  matrix.forEach((row, i) => lines.push(line(classNames[i]!, [...row, rowTotals[i]!])));
  lines.push(line('total', [...colTotals, total]));
  const correct = sum(matrix.map((r, i) => r[i]!));
  lines.push(total > 0 ? `accuracy: ${(correct / total).toFixed(4)} (${correct}/${total})` : 'accuracy: n/a (no examples)');
  return lines.join('\n');
}

const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';
// Blues colour map end points (white-ish → dark blue), as in scikit-learn's confusion plots.
const LIGHT = [247, 251, 255] as const;
const DARK = [8, 48, 107] as const;

/** The heat-map colour of a fraction f ∈ [0, 1]. */
function blue(f: number): string {
  const c = LIGHT.map((l, i) => Math.round(l + (DARK[i]! - l) * f));
  return `rgb(${c.join(',')})`;
}

/**
 * The confusion matrix as an SVG heat map: cell colour = fraction of the true class (row) predicted
 * as the column class, so per-class errors show whatever the class sizes; each cell shows its
 * count; class names label rows (true) and columns (predicted).
 * @example confusionSvg(m, ['cat', 'dog'])
 */
export function confusionSvg(matrix: number[][], classNames: string[]): string {
  checkMatrix(matrix, classNames, 'confusionSvg');
  const n = matrix.length;
  const cell = Math.max(14, Math.min(52, Math.floor(640 / n)));
  const countFont = Math.min(14, Math.floor(cell * 0.32));
  // Text width estimate for DejaVu Sans at 12 px (average advance ≈ 0.62 em).
  const labelW = Math.ceil(Math.max(...classNames.map((s) => s.length)) * 12 * 0.62);
  const left = 28 + labelW + 10;
  const top = 44;
  const grid = n * cell;
  const bottom = 12 + Math.ceil(labelW * 0.71) + 36;
  const width = Math.max(left + grid + 24, 380);
  const height = top + grid + bottom;
  const rowTotals = matrix.map(sum);
  const total = sum(rowTotals);
  const correct = sum(matrix.map((r, i) => r[i]!));
  const acc = total > 0 ? ` — accuracy ${((100 * correct) / total).toFixed(2)}%` : '';
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${px(width / 2)}" y="24" text-anchor="middle" font-family="${FONT}" font-size="15" font-weight="bold" fill="#222222">Confusion matrix${escapeXml(acc)}</text>`,
  ];
  matrix.forEach((row, i) => {
    row.forEach((count, j) => {
      const f = rowTotals[i]! > 0 ? count / rowTotals[i]! : 0;
      const x = left + j * cell;
      const y = top + i * cell;
      out.push(`<rect class="cell" data-row="${i}" data-col="${j}" x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${blue(f)}" stroke="#ffffff" stroke-width="1"/>`);
      // Counts would be unreadable in tiny cells; the colour still shows the pattern.
      if (cell >= 20) {
        out.push(`<text x="${px(x + cell / 2)}" y="${px(y + cell / 2 + countFont * 0.35)}" text-anchor="middle" font-family="${FONT}" font-size="${countFont}" fill="${f > 0.5 ? '#ffffff' : '#222222'}">${count}</text>`);
      }
    });
  });
  out.push(`<g font-family="${FONT}" font-size="12" fill="#333333">`);
  classNames.forEach((name, i) => {
    out.push(`<text x="${left - 6}" y="${px(top + i * cell + cell / 2 + 4)}" text-anchor="end">${escapeXml(name)}</text>`);
    const cx = left + i * cell + cell / 2;
    const ly = top + grid + 12;
    out.push(`<text x="${px(cx + 4)}" y="${px(ly)}" text-anchor="end" transform="rotate(-45 ${px(cx + 4)} ${px(ly)})">${escapeXml(name)}</text>`);
  });
  out.push('</g>');
  const midY = top + grid / 2;
  out.push(
    `<text x="14" y="${px(midY)}" text-anchor="middle" transform="rotate(-90 14 ${px(midY)})" font-family="${FONT}" font-size="13" fill="#333333">true class</text>`,
    `<text x="${px(left + grid / 2)}" y="${height - 10}" text-anchor="middle" font-family="${FONT}" font-size="13" fill="#333333">predicted class</text>`,
    '</svg>',
  );
  return out.join('\n');
}

/**
 * Writes the confusion-matrix heat map (see `confusionSvg`) as a PNG, atomically.
 * @example await saveConfusionPng(m, ds.classNames, 'runs/lenet/confusion.png');
 */
export async function saveConfusionPng(matrix: number[][], classNames: string[], path: string): Promise<void> {
  await svgToPng(confusionSvg(matrix, classNames), path);
}
