// The tensors this module hands out have their methods whoever imported what first (see ops/method.ts).
import '../ops/index.js';
/** Reading and writing tensors to files: safetensors (PyTorch / Hugging Face interchange). */
export { saveSafetensors, saveSafetensorsAsync, loadSafetensors, SAFETENSORS_MAX_HEADER, type SafetensorsContents } from './safetensors.js';
export { writeFileAtomic, writeBytesAtomic } from './atomic.js';
