//===- PatchCache.cpp - PipeFusion's cached keys and values ---------------===//
//
// PipeFusion: a rank runs its tokens' M patches one after the other, and a
// self-attention's queries of patch m read every patch's keys (values):
// the ones this run already wrote (patches <= m) and, for the patches
// after, those of the previous run (a denoising step earlier). The cache is
// the whole tensor, [outer, parts * inner] with block p at columns
// [p inner, +inner), kept by the executor for its lifetime, shared by the
// functions that name its id (the warm-up function writes it whole,
// parts = 1). Reading it before every block was written once is an error:
// the patched function must not run before the warm-up function.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/CheckedMath.h"
#include "runtime/core/ops/CommPaths.h"

namespace fresco {

void verifyPatchCache(const OpCheck &c) {
  auto *a = c.attrs<plan::PatchCacheAttrs>();
  const ValueInfo &x = c.ops[0];
  c.need(c.res[0].dtype == x.dtype, "result is ", dtypeName(c.res[0].dtype),
         " but its operand ", dtypeName(x.dtype));
  c.need(a->cache() >= 0, "cache id ", a->cache(), " is negative");
  c.need(a->parts() >= 1 && a->parts() <= 4096, "parts ", a->parts(),
         " out of range 1..4096");
  c.need(a->index() >= 0 && a->index() < a->parts(), "block ", a->index(),
         " of ", a->parts(), " parts");
  const int64_t dim = a->dim();
  c.need(dim >= 0 && dim < int64_t(x.shape.size()), "cache dimension ", dim,
         " out of range for an operand of rank ", x.shape.size());
  const std::optional<int64_t> n = checkedMul(x.shape[size_t(dim)], a->parts());
  c.need(n.has_value(), "dimension ", dim, " of ", x.shape[size_t(dim)],
         " times ", a->parts(), " parts does not fit in 64 bits");
  Shape want = x.shape;
  want[size_t(dim)] = *n;
  c.shape(c.res[0], want, "result");
}

Step bindPatchCache(OpBind &bind) {
  auto *a = bind.attrs<plan::PatchCacheAttrs>();
  check(bind.caches != nullptr, bind.where,
        " (PatchCache): bound without the executor's caches");
  const Ref &x = bind.ops[0], &y = bind.res[0];
  const int64_t dim = a->dim(), parts = a->parts(), index = a->index();
  const int64_t id = a->cache();
  const size_t es = x.es;
  const size_t bytes = size_t(x.numel()) * es;
  const size_t whole = bytes * size_t(parts);
  const BlockLayout layout = blockLayout(x.shape, dim);
  const int64_t outer = layout.outer, inner = layout.inner;
  Backend *b = &bind.be;
  std::shared_ptr<PatchCacheState> &slot = (*bind.caches)[id];
  if (!slot) {
    slot = std::make_shared<PatchCacheState>();
    slot->data.reset(static_cast<uint8_t *>(b->allocate(whole)),
                     [b](uint8_t *p) { b->release(p); });
    slot->bytes = whole;
    b->fillZero(slot->data.get(), whole);
    bind.persistentBytes = whole;
  }
  check(slot->bytes == whole, bind.where, " (PatchCache): cache ", id, " is ",
        slot->bytes, " bytes in another instruction, ", whole, " here");
  std::shared_ptr<PatchCacheState> state = slot;
  const auto *src = static_cast<const uint8_t *>(x.ptr);
  auto *dst = static_cast<uint8_t *>(y.ptr);
  // A run-order error, not a bad plan: the instruction without the
  // loader's "invalid plan" prefix.
  std::string where = bind.where;
  if (where.rfind("invalid plan ", 0) == 0)
    where = "plan " + where.substr(13);
  return [=] {
    uint8_t *cache = state->data.get();
    if (parts == 1) {
      b->copyStrided(src, int64_t(whole), cache, int64_t(whole), 1,
                     int64_t(whole), 1);
      state->filled = true;
    } else {
      check(state->filled, where, " (PatchCache): cache ", id,
            " is read before it was written whole: the pipeline's warm-up "
            "function (its first fresh steps) must run before the patched "
            "denoiser");
      placeBlock(*b, src, cache, index, parts, outer, inner, es);
    }
    b->copyStrided(cache, int64_t(whole), dst, int64_t(whole), 1,
                   int64_t(whole), 1);
  };
}

} // namespace fresco
