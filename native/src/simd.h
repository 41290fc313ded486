// Function multiversioning for the addon's hand-written loops.
//
// The addon is compiled for baseline x86-64 (SSE2) so that it loads on any x86-64 CPU; oneDNN picks
// its own CPU features at run time. The hot loops (elementwise maps, activation backwards, axpy,
// fill, reductions, the fused optimizer updates) are instead compiled three times with
// `target_clones`: for x86-64-v4 (AVX-512), x86-64-v3 (AVX2 + FMA) and the baseline; the dynamic
// loader picks the best clone once (an ifunc), so a call costs one indirect jump.
//
// How to use it: put the loop itself in a CN_SIMD function that takes raw pointers and a range, and
// call that function from inside the parallel region (parallelFor's lambda). The OpenMP region's
// body is outlined into a function compiled for the baseline, so a loop written directly in the
// lambda would not get the wider vectors; a call into a cloned function does. Lambdas passed to a
// CN_SIMD template are inlined into each clone and vectorised with its instruction set.
//
// Rounding: the x86-64-v3/v4 clones may contract a * b + c into one fused multiply-add (GCC's
// default -ffp-contract=fast), so their results can differ from the baseline clone's in the last
// bit (see kernels.ts: "native may round an fma once").
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(CN_NO_CLONES)
#define CN_SIMD __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CN_SIMD
#endif
