//===- ArenaLayout.cpp - Where a rank's values live under a storage -------===//
//
// Under f32 storage, the plan's own offsets. Under bf16/f16, the f32 values
// that must stay f32 (the timesteps) are found by a dataflow over the plan
// and given slots after the halved float layout.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Error.h"
#include "runtime/schema/OpTable.h"
#include "runtime/core/Executor.h"

#include <algorithm>
#include <climits>

namespace fresco {

namespace {

/// Data movement: the instructions that copy elements without computing
/// (Moves in Ops.def).
bool movesData(plan::OpCode op) {
  const OpInfo *info = findOpInfo(op);
  return info && info->dtypes == DTypeRule::Moves;
}

/// Under bf16/f16 storage, the f32 values that stay f32 in memory: the
/// timestep embedding's f32 timesteps and whatever only moves them there
/// (CFG's slice of the function input). Such a value may not feed any
/// other computation.
std::vector<bool> pinnedToF32(const plan::Function &f, const std::string &ctx,
                              DType storage) {
  const size_t n = f.values()->size();
  std::vector<bool> pin(n, false);
  auto isF32 = [&](int32_t id) {
    return DType(f.values()->Get(id)->dtype()) == DType::F32;
  };
  for (const plan::Instr *in : *f.instrs())
    if (in->op() == plan::OpCode::TimestepEmbedding &&
        in->operands()->size() == 1 && isF32(in->operands()->Get(0)))
      pin[in->operands()->Get(0)] = true;
  // A reshape is no instruction but a second value at its operand's offset
  // (a view): it shares the pin of the value written there last before the
  // view is first read.
  const uint32_t m = f.instrs()->size();
  std::vector<int64_t> defAt(n, INT64_MIN), firstUse(n, int64_t(m));
  for (int32_t id : *f.inputs())
    defAt[id] = -1;
  for (uint32_t i = 0; i < m; ++i) {
    const plan::Instr *in = f.instrs()->Get(i);
    for (int32_t id : *in->results())
      defAt[id] = i;
    for (int32_t id : *in->operands())
      firstUse[id] = std::min(firstUse[id], int64_t(i));
  }
  std::vector<std::pair<int32_t, int32_t>> views; // (view, viewed)
  for (size_t v = 0; v < n; ++v) {
    const plan::Value *val = f.values()->Get(flatbuffers::uoffset_t(v));
    if (defAt[v] != INT64_MIN || val->kind() != plan::ValueKind::Arena)
      continue;
    int64_t best = INT64_MIN;
    int32_t root = -1;
    for (size_t r = 0; r < n; ++r) {
      const plan::Value *rv = f.values()->Get(flatbuffers::uoffset_t(r));
      if (defAt[r] == INT64_MIN || rv->kind() != plan::ValueKind::Arena ||
          rv->offset() != val->offset() || defAt[r] >= int64_t(firstUse[v]) ||
          defAt[r] <= best)
        continue;
      best = defAt[r];
      root = int32_t(r);
    }
    if (root >= 0)
      views.push_back({int32_t(v), root});
  }
  // Through data movement and views, both ways, until nothing changes.
  for (bool changed = true; changed;) {
    changed = false;
    for (auto [v, r] : views)
      if (pin[v] != pin[r] && isF32(v) && isF32(r))
        pin[v] = pin[r] = changed = true;
    for (const plan::Instr *in : *f.instrs()) {
      if (!movesData(in->op()))
        continue;
      bool any = false;
      for (int32_t id : *in->operands())
        any |= pin[id];
      for (int32_t id : *in->results())
        any |= pin[id];
      if (!any)
        continue;
      for (auto *ids : {in->operands(), in->results()})
        for (int32_t id : *ids)
          if (isF32(id) && !pin[id])
            pin[id] = changed = true;
    }
  }
  for (flatbuffers::uoffset_t i = 0; i < f.instrs()->size(); ++i) {
    const plan::Instr *in = f.instrs()->Get(i);
    // Another rank decides its own pins: a message of f32 timesteps there
    // might be one of 2-byte values here.
    const bool crossesRanks =
        movesData(in->op()) &&
        in->attrs_type() == plan::OpAttrs::CollectiveAttrs;
    if (crossesRanks)
      for (auto *ids : {in->operands(), in->results()})
        for (int32_t id : *ids)
          check(!pin[id], "invalid plan ", ctx, ", instruction ", i, " (",
                plan::EnumNameOpCode(in->op()), "): with ", dtypeName(storage),
                " storage the timesteps stay f32, but value ", id,
                " (timesteps) would go to another rank, which is not "
                "supported: run with --dtype f32, or embed the timesteps on "
                "the rank that receives them");
    if (movesData(in->op()))
      continue;
    for (auto *ids : {in->operands(), in->results()})
      for (int32_t id : *ids)
        check(!pin[id] || (in->op() == plan::OpCode::TimestepEmbedding &&
                           ids == in->operands()),
              "invalid plan ", ctx, ", instruction ", i, " (",
              plan::EnumNameOpCode(in->op()), "): with ", dtypeName(storage),
              " storage the timesteps stay f32, but value ", id,
              " is both timesteps and an operand or result of this "
              "instruction");
  }
  for (flatbuffers::uoffset_t i = 0; i < n; ++i)
    check(!pin[i] || f.values()->Get(i)->kind() == plan::ValueKind::Arena,
          "invalid plan ", ctx, ": value ", i,
          " is a weight used as timesteps");
  return pin;
}

} // namespace

ArenaLayout layOutArena(const LoadedPlan &plan, int rank, DType storage) {
  const plan::RankProgram &rp = plan.rank(rank);
  ArenaLayout out;
  std::map<std::string, ArenaLayout::Function> &layouts = out.functions;
  out.bytes = rp.arena_bytes();
  // A plan compiled for bf16/f16 (fresco-compile --dtype) is laid out for
  // it already, and says which values stay f32: nothing to decide here.
  const DType compiled = DType(plan.plan().float_storage());
  if (compiled != DType::F32) {
    check(storage == compiled, "plan ", plan.name(), " was compiled for ",
          dtypeName(compiled), " storage (fresco-compile --dtype ",
          dtypeName(compiled), "): run it with --dtype ", dtypeName(compiled),
          ", not ", dtypeName(storage));
    for (const plan::Function *f : *rp.functions()) {
      ArenaLayout::Function &l = layouts[f->name()->str()];
      for (const plan::Value *v : *f->values()) {
        l.offset.push_back(v->offset());
        l.pinned.push_back(DType(v->dtype()) == DType::F32);
      }
    }
    return out;
  }
  for (const plan::Function *f : *rp.functions()) {
    ArenaLayout::Function &l = layouts[f->name()->str()];
    const size_t n = f->values()->size();
    l.pinned.assign(n, false);
    l.offset.resize(n);
    for (size_t i = 0; i < n; ++i)
      l.offset[i] = f->values()->Get(flatbuffers::uoffset_t(i))->offset();
    if (storage != DType::F32)
      l.pinned = pinnedToF32(*f,
                             plan.name() + ", rank " + std::to_string(rank) +
                                 ", function '" + f->name()->str() + "'",
                             storage);
  }
  if (dtypeSize(storage) != 2)
    return out;
  // 2-byte floats: the plan's layout (for f32) with every offset halved
  // holds the float values in half the bytes, as no two overlap in it. The
  // values that keep their size (ids, the f32 timesteps) go after it, one
  // slot per function and plan offset (a view shares its root's offset).
  const uint64_t floats = (rp.arena_bytes() / 2 + 63) / 64 * 64;
  std::map<std::pair<std::string, uint64_t>, uint64_t> slotBytes;
  auto keepsSize = [&](const plan::Value &v, const ArenaLayout::Function &l,
                       size_t i) {
    return v.kind() == plan::ValueKind::Arena &&
           (DType(v.dtype()) != DType::F32 || l.pinned[i]);
  };
  for (const plan::Function *f : *rp.functions()) {
    const ArenaLayout::Function &l = layouts.at(f->name()->str());
    for (size_t i = 0; i < l.offset.size(); ++i) {
      const plan::Value &v = *f->values()->Get(flatbuffers::uoffset_t(i));
      if (!keepsSize(v, l, i))
        continue;
      uint64_t &b = slotBytes[{f->name()->str(), v.offset()}];
      b = std::max(b, valueBytes(v));
    }
  }
  std::map<std::pair<std::string, uint64_t>, uint64_t> slotAt;
  uint64_t end = floats;
  for (const auto &[key, bytes] : slotBytes) {
    slotAt[key] = end;
    end += (std::max<uint64_t>(bytes, 1) + 63) / 64 * 64;
  }
  for (const plan::Function *f : *rp.functions()) {
    ArenaLayout::Function &l = layouts.at(f->name()->str());
    for (size_t i = 0; i < l.offset.size(); ++i) {
      const plan::Value &v = *f->values()->Get(flatbuffers::uoffset_t(i));
      l.offset[i] = keepsSize(v, l, i)
                        ? slotAt.at({f->name()->str(), v.offset()})
                        : v.offset() / 2;
    }
  }
  out.bytes = end;
  return out;
}

} // namespace fresco
