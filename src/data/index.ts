/**
 * Data: Fashion-MNIST and image folders as DataModules, the DataLoader (worker threads, seeded
 * shuffles), transforms and augmentations (torchvision's, applied in the loader's workers; their
 * deterministic operations in `functional`), bilinear resize, and the IDX / image readers.
 */
// The tensors this module hands out have their methods whoever imported what first (see ops/method.ts).
import '../ops/index.js';
export { readIdx, parseIdx, IDX_MAX_BYTES, IDX_MAX_DIMS, type IdxArray, type IdxType, type ReadIdxOptions } from './idx.js';
export {
  loadFashionMnistSplit,
  readIdxImageSet,
  fashionMnistRoot,
  FASHION_MNIST_LABELS,
  FASHION_MNIST_ENV,
  DEFAULT_FASHION_MNIST_ROOT,
  type FashionMnistSplit,
  type IdxImageSet,
} from './fashion-mnist-files.js';
export { resizeBilinear, bilinearTaps, type ResizeOptions, type ResampleTaps } from './resize.js';
export {
  normalize,
  randomCrop,
  horizontalFlip,
  verticalFlip,
  randomResizedCrop,
  randomRotation,
  randomAffine,
  colorJitter,
  randomErasing,
  gaussianBlur,
  compose,
  applyTransform,
  transformShape,
  isRandomTransform,
  randomResizedCropParams,
  randomErasingParams,
  randomAffineParams,
  type Transform,
  type NormalizeTransform,
  type RandomCropTransform,
  type FlipTransform,
  type RandomResizedCropTransform,
  type RandomRotationTransform,
  type RandomAffineTransform,
  type ColorJitterTransform,
  type RandomErasingTransform,
  type GaussianBlurTransform,
  type ComposeTransform,
  type RandomResizedCropOptions,
  type GeometricOptions,
  type RandomAffineOptions,
  type ColorJitterOptions,
  type RandomErasingOptions,
  type Plane,
} from './transforms.js';
export * as functional from './functional.js';
export { probeImage, decodeImage, type ImageInfo, type DecodeOptions } from './decode.js';
export {
  BatchPreparer,
  type DatasetSpec,
  type ArraySource,
  type FileSource,
  type PipelineSpec,
  type PixelArray,
} from './pipeline.js';
export { Dataset, resizeTarget, type ResizeSpec, type PipelineOptions, type ArrayDatasetInit } from './dataset.js';
export { DataLoader, EpochIterator, type Batch, type DataLoaderOptions, type Sampler } from './loader.js';
export { textLabels, type DataModule } from './module.js';
export { FashionMNIST, FashionMNISTData, type FashionMNISTOptions, type FashionMNISTFactory } from './fashion-mnist.js';
export { ImageFolder, ImageFolderData, IMAGE_EXTENSIONS, type ImageFolderOptions } from './image-folder.js';
