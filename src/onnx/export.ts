/** `exportOnnx` / `saveOnnx`: a model's eval-mode forward as an ONNX (opset 17) ModelProto. */
import { writeBytesAtomic } from '../io/atomic.js';
import { Module } from '../nn/module.js';
import { encodeModel } from './protobuf.js';
import { traceModel } from './trace.js';
import { lowerTrace } from './lower.js';

/** Options of `exportOnnx` / `saveOnnx`. */
export interface ExportOnnxOptions {
  /** Shape of the traced input, e.g. `[1, 1, 224, 224]`. */
  inputShape: number[];
  /** Make the first dim symbolic (`'batch'`) so any batch size runs (default true). */
  dynamicBatch?: boolean;
  /** Name of the graph input (default `'input'`). */
  inputName?: string;
  /** Name of the graph output (default `'logits'`). */
  outputName?: string;
  /** `producer_name` of the model (default `'convnet'`). */
  producerName?: string;
}

/** The ONNX IR version of every exported model. */
export const ONNX_IR_VERSION = 8;
/** The default-domain (`ai.onnx`) opset of every exported model. */
export const ONNX_OPSET = 17;

function checkName(what: string, v: unknown, fallback: string): string {
  if (v === undefined) return fallback;
  if (typeof v !== 'string' || v === '') throw new Error(`exportOnnx: ${what} must be a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * Exports `model` as a serialized ONNX ModelProto (IR 8, opset 17). The model is traced by one
 * forward on zeros of `inputShape` in eval mode under `noGrad` (BatchNorm uses its running
 * statistics, Dropout disappears); the training flags are restored afterwards. Parameters and
 * buffers become initializers under their state-dict names. Lazy layers are materialized by the
 * trace. Custom modules are fine as long as their `forward` uses traced ops (conv2d, pools,
 * batchNorm, linear, matmul, activations, elementwise arithmetic, reshape/flatten, permute, cat,
 * mean/sum); anything else is an error naming the module, e.g.
 * `exportOnnx: net.3 (MyLayer) has no ONNX mapping (...)`.
 * @example const bytes = exportOnnx(createModel('lenet'), { inputShape: [1, 1, 28, 28] });
 */
export function exportOnnx(model: Module, opts: ExportOnnxOptions): Uint8Array {
  if (!(model instanceof Module)) throw new Error('exportOnnx: model must be an nn.Module');
  if (typeof opts !== 'object' || opts === null) throw new Error('exportOnnx: options { inputShape } are required');
  const shape = opts.inputShape;
  if (!Array.isArray(shape) || shape.length === 0 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new Error(`exportOnnx: inputShape must be a non-empty array of positive integers, got ${JSON.stringify(shape)}`);
  }
  const dynamicBatch = opts.dynamicBatch ?? true;
  if (typeof dynamicBatch !== 'boolean') throw new Error(`exportOnnx: dynamicBatch must be a boolean, got ${JSON.stringify(opts.dynamicBatch)}`);
  const inputName = checkName('inputName', opts.inputName, 'input');
  const outputName = checkName('outputName', opts.outputName, 'logits');
  const producerName = checkName('producerName', opts.producerName, 'convnet');
  if (inputName === outputName) throw new Error(`exportOnnx: inputName and outputName are both '${inputName}'`);

  const trace = traceModel(model, shape);
  const graph = lowerTrace(model, trace, { inputName, outputName, dynamicBatch });
  return encodeModel({
    irVersion: ONNX_IR_VERSION,
    opsetVersion: ONNX_OPSET,
    producerName,
    docString: `${model.constructor.name} exported from convnet (eval mode)`,
    graphName: model.constructor.name,
    ...graph,
  });
}

/**
 * `exportOnnx` written to `path` atomically: the bytes go to a temporary file in the same directory,
 * are flushed to disk, and the file is renamed over `path` (readers never see a partial model).
 * @example saveOnnx(model, 'lenet.onnx', { inputShape: [1, 1, 28, 28] });
 */
export function saveOnnx(model: Module, path: string, opts: ExportOnnxOptions): void {
  if (typeof path !== 'string' || path === '') throw new Error(`saveOnnx: path must be a non-empty string, got ${JSON.stringify(path)}`);
  const bytes = exportOnnx(model, opts);
  try {
    writeBytesAtomic(path, bytes);
  } catch (e) {
    throw new Error(`saveOnnx: ${(e as Error).message}`, { cause: e });
  }
}
