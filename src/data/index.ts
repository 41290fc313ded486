/** Data: file formats and datasets. */
export { readIdx, parseIdx, IDX_MAX_BYTES, type IdxArray, type ReadIdxOptions } from './idx.js';
export {
  loadFashionMnistSplit,
  fashionMnistRoot,
  FASHION_MNIST_LABELS,
  DEFAULT_FASHION_MNIST_ROOT,
  type FashionMnistSplit,
} from './fashion-mnist-files.js';
