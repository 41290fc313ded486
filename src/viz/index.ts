/**
 * Figures: training curves, first-layer filters and confusion matrices, as SVG and PNG.
 */
// The tensors this module hands out have their methods whoever imported what first (see ops/method.ts).
import '../ops/index.js';
export { curvesSvg, CURVE_SERIES, type CurvesOptions, type CurveSeries } from './curves.js';
export { svgToPng } from './png.js';
export { saveFiltersPng, type FiltersPngOptions } from './filters.js';
export { confusionMatrix, confusionMatrixText, confusionSvg, saveConfusionPng } from './confusion.js';
