/** ONNX export: `exportOnnx` (bytes of a ModelProto) and `saveOnnx` (atomic file write). */
export { exportOnnx, saveOnnx, ONNX_IR_VERSION, ONNX_OPSET, type ExportOnnxOptions } from './export.js';
