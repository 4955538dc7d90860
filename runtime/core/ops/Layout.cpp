//===- Layout.cpp - Transpose, slice, pad, concat, copy: rules, binders ---===//
#include "runtime/core/ops/OpBind.h"

namespace fresco {

void verifyTranspose(const OpCheck &c) {
  const ValueInfo &x = c.ops[0];
  auto *a = c.attrs<plan::TransposeAttrs>();
  c.need(a->permutation() != nullptr, "missing permutation");
  const int rank = int(x.shape.size());
  c.need(rank <= kMaxRank && a->permutation()->size() == x.shape.size(),
         "permutation does not match the input rank");
  std::vector<bool> seen(rank, false);
  Shape ys;
  for (int64_t p : *a->permutation()) {
    c.need(p >= 0 && p < rank && !seen[p], "invalid permutation");
    seen[p] = true;
    ys.push_back(x.shape[p]);
  }
  c.shape(c.res[0], ys, "result");
}

Step bindTranspose(OpBind &b) {
  auto *a = b.attrs<plan::TransposeAttrs>();
  const Shape perm(a->permutation()->begin(), a->permutation()->end());
  const Shape xs = b.ops[0].shape;
  const int rank = int(xs.size());
  const size_t es = b.ops[0].es;
  const void *px = b.ops[0].ptr;
  void *py = b.res[0].ptr;
  Backend *be = &b.be;
  return [=] { be->transpose(px, py, rank, xs.data(), perm.data(), es); };
}

void verifySlice(const OpCheck &c) {
  const ValueInfo &x = c.ops[0], &y = c.res[0];
  auto *a = c.attrs<plan::AxisAttrs>();
  const int64_t axis = a->axis(), start = a->start();
  c.need(axis >= 0 && axis < int64_t(x.shape.size()), "axis out of range");
  c.need(y.shape.size() == x.shape.size(), "result does not match the input");
  Shape ys = x.shape;
  ys[axis] = y.shape[axis];
  c.shape(y, ys, "result");
  c.need(start >= 0 && start <= x.shape[axis] &&
             y.shape[axis] <= x.shape[axis] - start,
         "slice outside the input");
}

Step bindSlice(OpBind &b) {
  const Ref &x = b.ops[0], &y = b.res[0];
  auto *a = b.attrs<plan::AxisAttrs>();
  const int64_t axis = a->axis(), start = a->start(), size = y.shape[axis];
  int64_t outer, inner;
  rowsAround(x.shape, axis, outer, inner);
  const size_t es = x.es;
  const uint8_t *src = static_cast<const uint8_t *>(x.ptr) + start * inner * es;
  void *dst = y.ptr;
  const int64_t srcRow = x.shape[axis] * inner, rowElems = size * inner;
  // fresco-assign-buffers made the result a window of the input.
  if (outer == 1 && src == dst) {
    b.bytesInPlace = uint64_t(rowElems) * es;
    b.allInPlace = true;
    return [] {};
  }
  Backend *be = &b.be;
  return
      [=] { be->copyStrided(src, srcRow, dst, rowElems, outer, rowElems, es); };
}

/// Slice's inverse: x lands at [start, start + x's extent) along `axis` of
/// a result at least as long there, every other element zero (all-zero
/// bytes are zero in every dtype).
void verifyPad(const OpCheck &c) {
  const ValueInfo &x = c.ops[0], &y = c.res[0];
  auto *a = c.attrs<plan::AxisAttrs>();
  const int64_t axis = a->axis(), start = a->start();
  c.need(axis >= 0 && axis < int64_t(x.shape.size()), "axis ", axis,
         " out of range for an input of rank ", x.shape.size());
  c.need(y.shape.size() == x.shape.size(), "result of rank ", y.shape.size(),
         " does not match the input's rank ", x.shape.size());
  Shape ys = x.shape;
  ys[axis] = y.shape[axis];
  c.shape(y, ys, "result");
  c.need(start >= 0 && start <= y.shape[axis] &&
             x.shape[axis] <= y.shape[axis] - start,
         "input of extent ", x.shape[axis], " at start ", start,
         " does not fit the result's extent ", y.shape[axis], " on axis ",
         axis);
}

Step bindPad(OpBind &b) {
  const Ref &x = b.ops[0], &y = b.res[0];
  auto *a = b.attrs<plan::AxisAttrs>();
  const int64_t axis = a->axis(), start = a->start(), size = x.shape[axis];
  int64_t outer, inner;
  rowsAround(y.shape, axis, outer, inner);
  const size_t es = y.es, bytes = size_t(y.numel()) * es;
  const void *src = x.ptr;
  uint8_t *dst = static_cast<uint8_t *>(y.ptr) + start * inner * es;
  void *whole = y.ptr;
  const int64_t dstRow = y.shape[axis] * inner, rowElems = size * inner;
  Backend *be = &b.be;
  return [=] {
    // The whole result, then x over it: one fill beats one per gap.
    be->fillZero(whole, bytes);
    be->copyStrided(src, rowElems, dst, dstRow, outer, rowElems, es);
  };
}

void verifyConcat(const OpCheck &c) {
  const ValueInfo &y = c.res[0];
  const int64_t axis = c.attrs<plan::AxisAttrs>()->axis();
  c.need(axis >= 0 && axis < int64_t(y.shape.size()), "axis out of range");
  int64_t total = 0;
  for (const ValueInfo &x : c.ops) {
    c.need(x.shape.size() == y.shape.size(),
           "inputs must match the result's rank");
    Shape want = y.shape;
    want[axis] = x.shape[axis];
    c.shape(x, want, "input");
    total += x.shape[axis];
  }
  c.need(total == y.shape[axis], "inputs do not add up to the result");
}

Step bindConcat(OpBind &b) {
  const Ref &y = b.res[0];
  const int64_t axis = b.attrs<plan::AxisAttrs>()->axis();
  int64_t outer, inner, total = 0;
  rowsAround(y.shape, axis, outer, inner);
  const size_t es = y.es;
  struct Part {
    const void *src;
    int64_t rowElems, dstOffset;
  };
  std::vector<Part> parts;
  uint8_t *dst = static_cast<uint8_t *>(y.ptr);
  for (const Ref &x : b.ops) {
    // An operand fresco-assign-buffers placed where it belongs in the
    // result needs no copy.
    if (outer != 1 || x.ptr != dst + total * inner * es)
      parts.push_back({x.ptr, x.shape[axis] * inner, total * inner});
    else
      b.bytesInPlace += uint64_t(x.numel()) * es;
    total += x.shape[axis];
  }
  if (parts.empty()) {
    b.allInPlace = true;
    return [] {};
  }
  const int64_t dstRow = y.shape[axis] * inner;
  Backend *be = &b.be;
  return [=] {
    for (const Part &p : parts)
      be->copyStrided(p.src, p.rowElems, dst + p.dstOffset * es, dstRow, outer,
                      p.rowElems, es);
  };
}

void verifyCopy(const OpCheck &c) {
  c.need(c.ops[0].numel() == c.res[0].numel(), "copy between different sizes");
}

Step bindCopy(OpBind &b) {
  const void *src = b.ops[0].ptr;
  void *dst = b.res[0].ptr;
  // One row of the strided copy: a plain copy in the backend's memory.
  const int64_t n = b.ops[0].numel();
  const size_t es = b.ops[0].es;
  Backend *be = &b.be;
  return [=] { be->copyStrided(src, n, dst, n, 1, n, es); };
}

} // namespace fresco
