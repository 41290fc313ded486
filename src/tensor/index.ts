/** The tensor layer: the Tensor class, creation, random numbers and memory scopes. */
export { Tensor, type GradNode } from './tensor.js';
export * from './creation.js';
export { Generator, defaultGenerator, manualSeed } from './random.js';
export { tidy, keep, dispose, release, scopeDepth } from './scope.js';
export { numel, fmt, broadcastShapes, normAxis, sameShape } from './shape.js';
