/** Autograd: grad mode, recording, backward and gradient checking. */
export { isGradEnabled, noGrad, enableGrad } from './grad-mode.js';
export { record, needsGrad, type BackwardFn } from './record.js';
export { backward, type BackwardOptions } from './backward.js';
export { gradcheck, assertGradcheck, type GradcheckOptions, type GradcheckResult } from './gradcheck.js';
export { registerPostAccumulateGradHook, type PostAccumulateGradHook } from './hooks.js';
export { autocast, isAutocastEnabled, type AutocastOptions } from './autocast.js';
