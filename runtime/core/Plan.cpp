//===- Plan.cpp - Loading and verifying a plan ----------------------------===//
#include "runtime/core/Plan.h"
#include "runtime/core/CheckedMath.h"
#include "runtime/core/DType.h"
#include "runtime/core/Error.h"
#include "runtime/core/PlainName.h"
#include "runtime/core/PlanVersion.h"
#include "runtime/core/ops/OpRegistry.h"
#include "runtime/pipeline/PipelineSpec.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

namespace fresco {
namespace {

// Caps that keep every size computation far from overflow.
constexpr int64_t kMaxDim = int64_t(1) << 40;
constexpr uint64_t kMaxBytes = uint64_t(kMaxPlanBytes);

bool validDType(plan::DType t) {
  return t >= plan::DType::MIN && t <= plan::DType::MAX;
}

/// numel of a shape with every dim in [0, kMaxDim]; fails on overflow.
uint64_t checkedNumel(const flatbuffers::Vector<int64_t> *shape,
                      const std::string &where) {
  check(shape != nullptr, where, ": missing shape");
  for (int64_t d : *shape)
    check(d >= 0 && d <= kMaxDim, where, ": dimension ", d, " out of range");
  std::optional<int64_t> n = checkedProduct(shape->begin(), shape->end());
  check(n && uint64_t(*n) <= kMaxBytes, where, ": shape ",
        shapeToString({shape->begin(), shape->end()}),
        " has too many elements (more than 2^46)");
  return uint64_t(*n);
}

std::string at(const std::string &name, const std::string &path) {
  return "invalid plan " + name + ": " + path;
}

void verifyWeights(const plan::RankProgram &rp, DType storage,
                   const std::string &ctx) {
  if (!rp.weights())
    return;
  for (flatbuffers::uoffset_t i = 0; i < rp.weights()->size(); ++i) {
    const plan::WeightSlice *w = rp.weights()->Get(i);
    std::string where = ctx + ", weight " + std::to_string(i);
    check(w->name() && w->component(), where, ": missing name or component");
    where += " '" + w->name()->str() + "'";
    // The component is a folder under the weights folder the user gives.
    check(isPlainName(w->component()->str()), where, ": component '",
          w->component()->str(),
          "' is not a plain folder name (letters, digits, '_', '-', '.')");
    check(DType(w->dtype()) == storage, where, ": stored as ",
          dtypeName(DType(w->dtype())), " in a plan whose floats are ",
          dtypeName(storage));
    checkedNumel(w->full_shape(), where);
    checkedNumel(w->sizes(), where);
    size_t rank = w->full_shape()->size();
    check(w->offsets() && w->offsets()->size() == rank &&
              w->sizes()->size() == rank,
          where, ": slice offsets/sizes do not match the tensor rank");
    // A slice may reach past the tensor (a zero-padded weight: what lies
    // outside reads as zeros), but never before it.
    for (size_t d = 0; d < rank; ++d) {
      int64_t off = w->offsets()->Get(d);
      check(off >= 0 && off <= kMaxDim, where, ": slice offset ", off,
            " in dimension ", d, " out of range");
    }
  }
}

void verifyFunction(const plan::Function &f, const plan::RankProgram &rp,
                    DType storage, const std::string &ctx,
                    const OpRegistry &ops) {
  uint32_t numWeights = rp.weights() ? rp.weights()->size() : 0;
  check(f.values() && f.instrs(), ctx, ": missing values or instructions");
  check(f.arena_bytes() <= rp.arena_bytes(), ctx, ": arena of ",
        f.arena_bytes(), " bytes exceeds the rank's arena of ",
        rp.arena_bytes());
  uint32_t numValues = f.values()->size();
  std::vector<bool> isArena(numValues);
  for (uint32_t i = 0; i < numValues; ++i) {
    const plan::Value *v = f.values()->Get(i);
    std::string where = ctx + ", value " + std::to_string(i);
    check(validDType(v->dtype()), where, ": unknown dtype");
    uint64_t n = checkedNumel(v->shape(), where);
    uint64_t bytes = n * dtypeSize(DType(v->dtype()));
    if (v->kind() == plan::ValueKind::Arena) {
      check(v->offset() <= f.arena_bytes() &&
                bytes <= f.arena_bytes() - v->offset(),
            where, ": bytes [", v->offset(), ", ", v->offset() + bytes,
            ") exceed the arena of ", f.arena_bytes());
      // Kernels load whole elements (halved for 2-byte float storage, a
      // float's offset stays a multiple of 2).
      check(v->offset() % dtypeSize(DType(v->dtype())) == 0, where, ": offset ",
            v->offset(), " is not a multiple of its ",
            dtypeName(DType(v->dtype())), " element size");
      isArena[i] = true;
    } else if (v->kind() == plan::ValueKind::Weight) {
      check(v->weight() >= 0 && uint32_t(v->weight()) < numWeights, where,
            ": weight index ", v->weight(), " out of range");
      const plan::WeightSlice *w = rp.weights()->Get(v->weight());
      check(uint64_t(numElements({w->sizes()->begin(), w->sizes()->end()})) ==
                    n &&
                v->dtype() == w->dtype(),
            where, ": does not match the size or dtype of weight '",
            w->name()->str(), "'");
    } else {
      fail(where, ": unknown value kind");
    }
  }
  auto checkIndices = [&](const flatbuffers::Vector<int32_t> *ids,
                          const std::string &where, bool mustBeArena) {
    check(ids != nullptr, where, ": missing value list");
    for (int32_t id : *ids) {
      check(id >= 0 && uint32_t(id) < numValues, where, ": value index ", id,
            " out of range (", numValues, " values)");
      check(!mustBeArena || isArena[id], where, ": value ", id,
            " must live in the arena");
    }
  };
  for (uint32_t i = 0; i < f.instrs()->size(); ++i) {
    const plan::Instr *in = f.instrs()->Get(i);
    std::string where = ctx + ", instruction " + std::to_string(i);
    check(ops.find(in->op()) != nullptr, where, ": unknown op code ",
          int(in->op()));
    checkIndices(in->operands(), where, false);
    checkIndices(in->results(), where, true);
    // Its row of Ops.def, then its op's shape rule (runtime/core/ops/).
    ops.verify(*in, f, rp, storage, where);
  }
  verifyAsyncCollectives(f, ctx);
  checkIndices(f.inputs(), ctx + ", inputs", true);
  checkIndices(f.outputs(), ctx + ", outputs", true);
  check(f.input_names() && f.input_names()->size() == f.inputs()->size() &&
            f.output_names() && f.output_names()->size() == f.outputs()->size(),
        ctx, ": input/output names do not match the inputs/outputs");
}

/// FlatBuffers' verifier checks that a vector's length prefix is 4-byte
/// aligned, never that its elements are aligned for their type (upstream
/// issue 8397): in a damaged file an int64 vector can start at 4 mod 8 and
/// every read of it is a misaligned load. The builder aligns them, so only a
/// corrupt or forged file fails here. Offsets are from the buffer's start,
/// which std::vector's allocation aligns to 16.
class VectorAlignment {
public:
  VectorAlignment(const uint8_t *base, const std::string &name)
      : base_(base), name_(name) {}

  template <typename T>
  void check(const flatbuffers::Vector<T> *v, const char *field) const {
    static_assert(sizeof(T) == 8, "only 8-byte elements need more than 4");
    if (!v || v->size() == 0)
      return;
    size_t offset = size_t(v->Data() - base_);
    fresco::check(offset % alignof(T) == 0, "invalid plan ", name_,
                  ": the elements of a ", field, " vector start at byte ",
                  offset, ", not a multiple of ", alignof(T),
                  " (a corrupt plan)");
  }

  void checkPlan(const plan::Plan &p) const {
    check(p.grid_shape(), "Plan.grid_shape");
    if (const plan::Pipeline *pl = p.pipeline()) {
      if (pl->conditioning())
        check(pl->conditioning()->time_ids(), "Conditioning.time_ids");
      if (const plan::Latents *l = pl->latents()) {
        check(l->latents_mean(), "Latents.latents_mean");
        check(l->latents_std(), "Latents.latents_std");
      }
      if (pl->components())
        for (const plan::Component *c : *pl->components())
          checkStructs(c->windows(), "Component.windows");
    }
    if (!p.ranks())
      return;
    for (const plan::RankProgram *rp : *p.ranks()) {
      if (rp->weights())
        for (const plan::WeightSlice *w : *rp->weights()) {
          check(w->full_shape(), "WeightSlice.full_shape");
          check(w->offsets(), "WeightSlice.offsets");
          check(w->sizes(), "WeightSlice.sizes");
        }
      if (rp->functions())
        for (const plan::Function *f : *rp->functions())
          checkFunction(*f);
    }
  }

private:
  /// A vector of structs holding 8-byte fields (TextWindow).
  template <typename S>
  void checkStructs(const flatbuffers::Vector<const S *> *v,
                    const char *field) const {
    if (!v || v->size() == 0)
      return;
    size_t offset =
        size_t(reinterpret_cast<const uint8_t *>(v->Data()) - base_);
    fresco::check(offset % alignof(S) == 0, "invalid plan ", name_,
                  ": the elements of a ", field, " vector start at byte ",
                  offset, ", not a multiple of ", alignof(S),
                  " (a corrupt plan)");
  }

  void checkFunction(const plan::Function &f) const {
    if (f.values())
      for (const plan::Value *v : *f.values())
        check(v->shape(), "Value.shape");
    if (f.instrs())
      for (const plan::Instr *in : *f.instrs()) {
        if (const plan::AttentionAttrs *a = in->attrs_as_AttentionAttrs())
          check(a->key_valid(), "AttentionAttrs.key_valid");
        if (const plan::TransposeAttrs *t = in->attrs_as_TransposeAttrs())
          check(t->permutation(), "TransposeAttrs.permutation");
        if (const plan::RopeTableAttrs *r = in->attrs_as_RopeTableAttrs())
          check(r->axes_dim(), "RopeTableAttrs.axes_dim");
      }
  }

  const uint8_t *base_;
  const std::string &name_;
};

} // namespace

const std::vector<std::string> &eightByteVectorFields() {
  static const std::vector<std::string> fields = {"Plan.grid_shape",
                                                  "WeightSlice.full_shape",
                                                  "WeightSlice.offsets",
                                                  "WeightSlice.sizes",
                                                  "Value.shape",
                                                  "AttentionAttrs.key_valid",
                                                  "TransposeAttrs.permutation",
                                                  "RopeTableAttrs.axes_dim",
                                                  "Conditioning.time_ids",
                                                  "Component.windows",
                                                  "Latents.latents_mean",
                                                  "Latents.latents_std"};
  return fields;
}

uint64_t valueBytes(const plan::Value &v) {
  return uint64_t(numElements({v.shape()->begin(), v.shape()->end()})) *
         dtypeSize(DType(v.dtype()));
}

void verifyPlan(const plan::Plan &p, const std::string &name) {
  verifyPlan(p, name, OpRegistry::global());
}

void verifyPlan(const plan::Plan &p, const std::string &name,
                const OpRegistry &ops) {
  check(p.version() == kPlanVersion, "plan ", name, " has format version ",
        p.version(), " but this runtime reads version ", kPlanVersion,
        ": recompile it with a matching fresco-compile");
  check(p.ranks() && p.num_ranks() >= 1 &&
            p.ranks()->size() == uint32_t(p.num_ranks()),
        at(name, "rank count does not match the rank programs"));
  const DType storage = DType(p.float_storage());
  check(
      storage == DType::F32 || storage == DType::BF16 || storage == DType::F16,
      at(name, "float storage must be f32, bf16 or f16, got "),
      validDType(p.float_storage()) ? dtypeName(storage) : "an unknown dtype");
  for (uint32_t r = 0; r < p.ranks()->size(); ++r) {
    const plan::RankProgram *rp = p.ranks()->Get(r);
    std::string ctx = at(name, "rank " + std::to_string(r));
    check(rp->rank() == int32_t(r), ctx, ": rank field is ", rp->rank());
    check(rp->arena_bytes() <= kMaxBytes, ctx, ": arena too large");
    verifyWeights(*rp, storage, ctx);
    check(rp->functions() != nullptr, ctx, ": no functions");
    std::set<std::string> names;
    for (const plan::Function *f : *rp->functions()) {
      check(f->name() != nullptr, ctx, ": a function has no name");
      std::string fctx = ctx + ", function '" + f->name()->str() + "'";
      check(names.insert(f->name()->str()).second, fctx, ": defined twice");
      verifyFunction(*f, *rp, storage, fctx, ops);
    }
  }
  // The Pipeline table's own checks: runtime/pipeline/PipelineSpec.cpp
  // (fresh_steps >= 0 among them).
  if (!p.pipeline())
    return;
  verifyPipeline(p, name);
  // A StaleGather has no previous step to read before a fresh one; nor has
  // PipeFusion's patched denoiser before its warm-up function ran.
  const std::string stale = findOp(p, plan::OpCode::StaleGather);
  const bool warmup = p.pipeline()->warmup_function() != nullptr;
  const int fresh = p.pipeline()->fresh_steps();
  check(stale.empty() || fresh >= 1,
        at(name, "pipeline: fresh_steps is 0, but " + stale +
                     " holds a StaleGather (patch=P), which reads the "
                     "previous step's blocks: the first step must run fresh "
                     "(fresh_steps >= 1)"));
  check(!warmup || fresh >= 1,
        at(name, "pipeline: fresh_steps is 0, but a warm-up function "
                 "(pipefusion) must run the first step, which fills the "
                 "patch caches (fresh_steps >= 1)"));
  // Without one, a count of fresh steps would promise stale ones.
  check(!stale.empty() || warmup || fresh == 0,
        at(name, "pipeline: fresh_steps is " + std::to_string(fresh) +
                     " but no function holds a StaleGather (patch=P) and "
                     "there is no warm-up function (pipefusion): it must be "
                     "0"));
  const std::string cache = findOp(p, plan::OpCode::PatchCache);
  check(cache.empty() || warmup,
        at(name, "pipeline: " + cache +
                     " holds a PatchCache (pipefusion) but the pipeline has "
                     "no warm-up function to fill it"));
}

std::string findOp(const plan::Plan &p, plan::OpCode op) {
  if (!p.ranks())
    return {};
  for (const plan::RankProgram *rp : *p.ranks())
    if (rp->functions())
      for (const plan::Function *f : *rp->functions())
        if (f->instrs())
          for (const plan::Instr *in : *f->instrs())
            if (in->op() == op)
              return "function '" + (f->name() ? f->name()->str() : "") +
                     "' on rank " + std::to_string(rp->rank());
  return {};
}

LoadedPlan LoadedPlan::fromBytes(std::vector<uint8_t> bytes,
                                 const std::string &name) {
  return fromBytes(std::move(bytes), name, OpRegistry::global());
}

LoadedPlan LoadedPlan::fromBytes(std::vector<uint8_t> bytes,
                                 const std::string &name,
                                 const OpRegistry &ops) {
  check(bytes.size() >= 8, name, " is not a Fresco plan (", bytes.size(),
        " bytes is too short)");
  check(plan::PlanBufferHasIdentifier(bytes.data()), name,
        " is not a Fresco plan (file identifier is not 'FPLN')");
  flatbuffers::Verifier verifier(bytes.data(), bytes.size());
  check(plan::VerifyPlanBuffer(verifier), name,
        " is a corrupt or truncated Fresco plan (FlatBuffers verification "
        "failed)");
  VectorAlignment(bytes.data(), name).checkPlan(*plan::GetPlan(bytes.data()));
  LoadedPlan lp;
  lp.bytes_ = std::move(bytes);
  lp.name_ = name;
  verifyPlan(lp.plan(), name, ops);
  return lp;
}

std::string checkPlanBytes(const std::vector<uint8_t> &bytes,
                           const std::string &name) noexcept {
  try {
    LoadedPlan::fromBytes(bytes, name);
    return {};
  } catch (const std::exception &e) {
    return e.what();
  }
}

LoadedPlan LoadedPlan::fromFile(const std::string &path) {
  std::error_code ec;
  check(!std::filesystem::is_directory(path, ec), "plan ", path,
        " is a directory, not a plan file (.fplan)");
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  check(in.good(), "cannot open plan ", path);
  std::streamoff size = in.tellg();
  check(size >= 0 && uint64_t(size) < (uint64_t(1) << 31), "plan ", path,
        " is too large for a FlatBuffer (", size, " bytes)");
  std::vector<uint8_t> bytes(size);
  in.seekg(0);
  in.read(reinterpret_cast<char *>(bytes.data()), size);
  check(in.good() || in.eof(), "cannot read plan ", path);
  return fromBytes(std::move(bytes), path);
}

const plan::RankProgram &LoadedPlan::rank(int r) const {
  const plan::Plan &p = plan();
  check(r >= 0 && r < p.num_ranks(), "rank ", r, " is outside the plan's ",
        p.num_ranks(), " ranks");
  return *p.ranks()->Get(r);
}

const plan::Function &LoadedPlan::function(int r,
                                           const std::string &name) const {
  const plan::RankProgram &rp = rank(r);
  std::string known;
  for (const plan::Function *f : *rp.functions()) {
    if (f->name()->str() == name)
      return *f;
    known += (known.empty() ? "" : ", ") + f->name()->str();
  }
  fail("plan ", name_, " has no function '", name, "' (it has: ", known, ")");
}

} // namespace fresco
