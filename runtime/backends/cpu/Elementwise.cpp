//===- Elementwise.cpp - Activations and broadcasting binary ops ----------===//
//
// binary() first canonicalises the strided problem: size-1 dims are dropped
// and neighbouring dims that are contiguous for out, a and b alike are merged.
// Most broadcasts then collapse to one or two dims, and the innermost loop is
// specialised for the unit/zero stride patterns so it vectorises.
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/cpu/CpuKernels.h"
#include "runtime/backends/cpu/FastMath.h"
#include "runtime/backends/cpu/Parallel.h"

#include <algorithm>
#include <cmath>

namespace fresco {
namespace cpu {
namespace {

//===----------------------------------------------------------------------===//
// Unary
//===----------------------------------------------------------------------===//

// 0.5 x (1 + tanh(z)) == x * sigmoid(2z) == x / (1 + exp(-2z)): one
// vectorisable exp and no cancellation in 1 + tanh(z) for negative z.
struct GeluTanh {
  static float apply(float x) {
    constexpr float kAlpha = 0.7978845608028654f; // sqrt(2/pi)
    const float z = kAlpha * (x + 0.044715f * x * x * x);
    return x / (1.0f + fastExp(-2.0f * z));
  }
};
struct GeluErf {
  static float apply(float x) {
    constexpr float kInvSqrt2 = 0.7071067811865476f;
    return 0.5f * x * (1.0f + std::erf(x * kInvSqrt2));
  }
};
// fastExp stays finite for large -x, so the quotient tends to -0, not NaN.
struct Silu {
  static float apply(float x) { return x / (1.0f + fastExp(-x)); }
};

// CLIP's quick_gelu, x * sigmoid(1.702 x), as Silu's quotient.
struct QuickGelu {
  static float apply(float x) { return x / (1.0f + fastExp(-1.702f * x)); }
};

template <typename F> void unaryRange(const float *x, float *y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i)
    y[i] = F::apply(x[i]);
}

/// Splits [0, n) into one contiguous range per thread. Plain OpenMP
/// `parallel for simd` left GCC running a scalar copy of the loop.
template <typename F> void unaryLoop(const float *x, float *y, int64_t n) {
  if (!worthParallel(n))
    return unaryRange<F>(x, y, n);
#pragma omp parallel
  {
    const int64_t nth = omp_get_num_threads();
    const int64_t chunk = (n + nth - 1) / nth;
    const int64_t begin = std::min(n, omp_get_thread_num() * chunk);
    const int64_t end = std::min(n, begin + chunk);
    unaryRange<F>(x + begin, y + begin, end - begin);
  }
}

//===----------------------------------------------------------------------===//
// Binary
//===----------------------------------------------------------------------===//

struct AddOp {
  static float apply(float a, float b) { return a + b; }
};
struct SubOp {
  static float apply(float a, float b) { return a - b; }
};
struct MulOp {
  static float apply(float a, float b) { return a * b; }
};
struct DivOp {
  static float apply(float a, float b) { return a / b; }
};

/// A broadcast problem with size-1 dims removed and mergeable dims merged.
struct Canonical {
  int rank = 0;
  int64_t shape[kMaxRank];
  int64_t aStride[kMaxRank];
  int64_t bStride[kMaxRank];
};

Canonical canonicalise(int rank, const int64_t *shape, const int64_t *aStrides,
                       const int64_t *bStrides) {
  Canonical c;
  for (int d = 0; d < rank; ++d) {
    if (shape[d] == 1)
      continue;
    if (c.rank > 0) {
      // An outer dim folds into the inner one when stepping it equals
      // stepping the inner dim past its end, for both inputs.
      int l = c.rank - 1;
      if (c.aStride[l] == aStrides[d] * shape[d] &&
          c.bStride[l] == bStrides[d] * shape[d]) {
        c.shape[l] *= shape[d];
        c.aStride[l] = aStrides[d];
        c.bStride[l] = bStrides[d];
        continue;
      }
    }
    c.shape[c.rank] = shape[d];
    c.aStride[c.rank] = aStrides[d];
    c.bStride[c.rank] = bStrides[d];
    ++c.rank;
  }
  if (c.rank == 0) { // a single element
    c.rank = 1;
    c.shape[0] = 1;
    c.aStride[0] = c.bStride[0] = 0;
  }
  return c;
}

/// out[i] = Op(a[i * as], b[i * bs]), plus c[i] when c is non-null (the
/// fused multiply-add; c[i] is read before out[i] is written, so out may
/// alias c).
template <typename Op>
void innerLoop(const float *a, int64_t as, const float *b, int64_t bs,
               const float *c, float *out, int64_t n) {
  if (c) {
    for (int64_t i = 0; i < n; ++i)
      out[i] = Op::apply(a[i * as], b[i * bs]) + c[i];
  } else if (as == 1 && bs == 1) {
    for (int64_t i = 0; i < n; ++i)
      out[i] = Op::apply(a[i], b[i]);
  } else if (as == 1 && bs == 0) {
    const float bv = *b;
    for (int64_t i = 0; i < n; ++i)
      out[i] = Op::apply(a[i], bv);
  } else if (as == 0 && bs == 1) {
    const float av = *a;
    for (int64_t i = 0; i < n; ++i)
      out[i] = Op::apply(av, b[i]);
  } else {
    for (int64_t i = 0; i < n; ++i)
      out[i] = Op::apply(a[i * as], b[i * bs]);
  }
}

/// Computes output elements [begin, end) of the canonical problem: the start
/// is decomposed once, then an odometer walks the outer dims.
template <typename Op>
void binaryRange(const Canonical &c, const float *a, const float *b,
                 const float *add, float *out, int64_t begin, int64_t end) {
  const int last = c.rank - 1;
  int64_t idx[kMaxRank];
  int64_t aOff = 0, bOff = 0;
  int64_t rem = begin;
  for (int d = last; d >= 0; --d) {
    idx[d] = rem % c.shape[d];
    rem /= c.shape[d];
    aOff += idx[d] * c.aStride[d];
    bOff += idx[d] * c.bStride[d];
  }
  const int64_t inner = c.shape[last];
  for (int64_t pos = begin; pos < end;) {
    const int64_t len = std::min(inner - idx[last], end - pos);
    innerLoop<Op>(a + aOff, c.aStride[last], b + bOff, c.bStride[last],
                  add ? add + pos : nullptr, out + pos, len);
    pos += len;
    idx[last] += len;
    aOff += len * c.aStride[last];
    bOff += len * c.bStride[last];
    if (idx[last] < inner)
      break; // only the final, partial row ends mid-row
    aOff -= inner * c.aStride[last];
    bOff -= inner * c.bStride[last];
    idx[last] = 0;
    for (int d = last - 1; d >= 0; --d) {
      aOff += c.aStride[d];
      bOff += c.bStride[d];
      if (++idx[d] < c.shape[d])
        break;
      aOff -= c.shape[d] * c.aStride[d];
      bOff -= c.shape[d] * c.bStride[d];
      idx[d] = 0;
    }
  }
}

template <typename Op>
void binaryOp(const Canonical &c, const float *a, const float *b,
              const float *add, float *out, int64_t total) {
  if (!worthParallel(total)) {
    binaryRange<Op>(c, a, b, add, out, 0, total);
    return;
  }
#pragma omp parallel
  {
    const int64_t nth = omp_get_num_threads();
    const int64_t chunk = (total + nth - 1) / nth;
    const int64_t begin = std::min(total, omp_get_thread_num() * chunk);
    const int64_t end = std::min(total, begin + chunk);
    binaryRange<Op>(c, a, b, add, out, begin, end);
  }
}

} // namespace

void unary(UnaryKind kind, const float *x, float *y, int64_t n) {
  switch (kind) {
  case UnaryKind::GeluTanh:
    return unaryLoop<GeluTanh>(x, y, n);
  case UnaryKind::GeluErf:
    return unaryLoop<GeluErf>(x, y, n);
  case UnaryKind::Silu:
    return unaryLoop<Silu>(x, y, n);
  case UnaryKind::QuickGelu:
    return unaryLoop<QuickGelu>(x, y, n);
  }
  fail("unary: unknown kind ", int(kind));
}

namespace {
/// binary(), plus the addend c (null: none) for mulAdd.
void binaryWith(BinaryKind kind, const float *a, const float *b, const float *c,
                float *out, int rank, const int64_t *outShape,
                const int64_t *aStrides, const int64_t *bStrides) {
  check(rank >= 0 && rank <= kMaxRank, "binary: rank ", rank, " outside [0, ",
        kMaxRank, "]");
  int64_t total = 1;
  for (int d = 0; d < rank; ++d)
    total *= outShape[d];
  if (total == 0)
    return;
  const Canonical can = canonicalise(rank, outShape, aStrides, bStrides);
  switch (kind) {
  case BinaryKind::Add:
    return binaryOp<AddOp>(can, a, b, c, out, total);
  case BinaryKind::Sub:
    return binaryOp<SubOp>(can, a, b, c, out, total);
  case BinaryKind::Mul:
    return binaryOp<MulOp>(can, a, b, c, out, total);
  case BinaryKind::Div:
    return binaryOp<DivOp>(can, a, b, c, out, total);
  }
  fail("binary: unknown kind ", int(kind));
}
} // namespace

void binary(BinaryKind kind, const float *a, const float *b, float *out,
            int rank, const int64_t *outShape, const int64_t *aStrides,
            const int64_t *bStrides) {
  binaryWith(kind, a, b, nullptr, out, rank, outShape, aStrides, bStrides);
}

void mulAdd(const float *a, const float *b, const float *c, float *out,
            int rank, const int64_t *outShape, const int64_t *aStrides,
            const int64_t *bStrides) {
  binaryWith(BinaryKind::Mul, a, b, c, out, rank, outShape, aStrides, bStrides);
}

} // namespace cpu
} // namespace fresco
