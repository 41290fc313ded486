// Helpers shared by the general kernel files (elementwise.cc, reduce.cc, layout.cc, matmul.cc,
// softmax.cc); defined in elementwise.cc unless noted. Not used by the nn kernels.
#pragma once

#include <omp.h>

#include "buf.h"

namespace cn {
namespace gen {

/**
 * Work (elements, or multiply-adds for matmul) above which a kernel goes parallel. Below it every
 * OpenMP loop runs serially (`if (n > kParallelMin)`) and oneDNN primitives run inside a
 * SerialScope: entering a parallel region costs microseconds on an idle machine and up to
 * milliseconds on a loaded one (threads spinning at barriers), far more than a few thousand
 * elements take on one core.
 */
constexpr int64_t kParallelMin = 32768;

/**
 * Runs f(begin, end) over [0, units): directly on this thread when `work` <= kParallelMin (or
 * units < 2, or already inside a parallel region), else split statically over an OpenMP team.
 * Small work must not even enter `#pragma omp parallel ... if (false)`: libgomp then still makes
 * a futex syscall per region (measured: one per call, ~1-4 us, more on a loaded machine).
 */
template <class F>
void parallelFor(int64_t units, int64_t work, F&& f) {
  if (units <= 0) return;
  if (work <= kParallelMin || units < 2 || omp_in_parallel()) {
    f(int64_t(0), units);
    return;
  }
#pragma omp parallel
  {
    const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t b = units * t / nt, e = units * (t + 1) / nt;
    if (b < e) f(b, e);
  }
}

/** parallelFor over n elements (work = n). */
template <class F>
void parallelFor(int64_t n, F&& f) {
  parallelFor(n, n, std::forward<F>(f));
}

/**
 * While alive, OpenMP regions started by this thread (including oneDNN's, which size themselves
 * by omp_get_max_threads() when a primitive is created and run) use one thread, when `serial`.
 * Decisions must depend only on what the primitive-cache key encodes (dims), so that a cached
 * primitive is always run with the thread count it was created for.
 */
class SerialScope {
 public:
  explicit SerialScope(bool serial) {
    if (serial) {
      prev_ = omp_get_max_threads();
      if (prev_ > 1) omp_set_num_threads(1);
    }
  }
  ~SerialScope() {
    if (prev_ > 1) omp_set_num_threads(prev_);
  }
  SerialScope(const SerialScope&) = delete;
  SerialScope& operator=(const SerialScope&) = delete;

 private:
  int prev_ = 0;
};

/** `d`, or [1] for a rank-0 shape (scalars are stored as [1]). */
dims normDims(const dims& d);
/** Product of `d` (1 for rank 0). */
int64_t prodOf(const dims& d);
/** `b` with logical dims `d` (same element count): itself, or a plain view/copy. */
BufPtr asDims(const BufPtr& b, const dims& d);
/** `x` converted to dtype `to` (itself when it already has it); plain result. */
BufPtr castTo(const BufPtr& x, dt to);
/** A descriptor of dims `d` blocked like `ref` (see elementwise.cc). */
memory::desc likeLayout(const memory::desc& ref, const dims& d);
/** True for a blocked layout without padding (every stored float is a logical element). */
bool isDense(const memory::desc& md);
/** Fast check that `md` is dense row-major over its dims (no descriptor construction). */
bool plainMd(const memory::desc& md);
/** `b` itself if row-major, else a row-major copy (a serial reorder when small). */
BufPtr plainOf(const BufPtr& b);
/** `b` itself if its layout is `md`, else a copy reordered into `md` (serial when small). */
BufPtr reorderInto(const BufPtr& b, const memory::desc& md);
/** Appends a compact binary encoding of `md` (dims, type, layout, offset) to a cache key. */
void keyMd(std::string& key, const memory::desc& md);
/** Appends the raw bytes of a POD value to a cache key. */
template <class T>
void keyPod(std::string& key, const T& v) {
  key.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

/** Reduction kinds of reduceAxes (reduce.cc); their codes are the indices of kReduceNames. */
enum ReduceKind { kSum = 0, kMean = 1, kMax = 2, kMin = 3 };
/** Number of ReduceKind values. */
constexpr int kReduceKinds = 4;
/** Names of the ReduceKind values in code order (exported by opNames; REDUCE_OPS in kernels.ts). */
constexpr const char* kReduceNames[kReduceKinds] = {"sum", "mean", "max", "min"};
/** Reduces f32 `x` of logical `shape` over `axes`; returns a plain f32 keepdim result (reduce.cc). */
BufPtr reduceAxes(int kind, const BufPtr& x, const dims& shape, const std::vector<int64_t>& axes);

}  // namespace gen
}  // namespace cn
