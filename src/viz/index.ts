/**
 * Figures: training curves (d2l's ProgressBoard, with the training loss within epochs), first-layer
 * filters and confusion matrices, as SVG and PNG, and the live training dashboard (a page on
 * 127.0.0.1 fed from the trainer's events).
 * @example
 * import { viz } from 'convnet';
 * await viz.svgToPng(viz.curvesSvg(records, { maxEpochs: 10 }), 'curves.png');
 */
// The tensors this module hands out have their methods whoever imported what first (see ops/method.ts).
import '../ops/index.js';
export { curvesSvg, CURVE_SERIES, type CurvesOptions, type CurveSeries } from './curves.js';
export { Dashboard, type DashboardOptions, type DashboardProgress } from './dashboard.js';
export { dashboardPage } from './dashboard-page.js';
export { svgToPng } from './png.js';
export { saveFiltersPng, type FiltersPngOptions } from './filters.js';
export { confusionMatrix, confusionMatrixText, confusionSvg, saveConfusionPng } from './confusion.js';
