//===- Executor.cpp - Binding a rank's functions over a static arena ------===//
//
// Construction: the arena, the weights in backend memory, and every
// function bound to steps (runtime/core/ops/ per instruction; collectives
// that may overlap later steps split into start and wait). Running them:
// ExecutorRun.cpp.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Executor.h"
#include "runtime/comm/Communicator.h"
#include "runtime/core/Error.h"

#include <algorithm>
#include <cstdlib>
#include <memory>

namespace fresco {

Executor::Executor(const LoadedPlan &plan, int rank, Backend &backend,
                   const WeightStore &weights, GroupResolver groups)
    : plan_(plan), scratch_(std::make_shared<ScratchArena>(backend)),
      rank_(rank), groups_(std::move(groups)), backend_(backend),
      weights_(weights), arena_(nullptr, Release{&backend}),
      weightMemory_(nullptr, Release{&backend}) {
  const plan::RankProgram &rp = plan.rank(rank);
  check(weights.size() == (rp.weights() ? rp.weights()->size() : 0),
        "weight store does not match the plan's weight table");
  ArenaLayout layout = layOutArena(plan, rank, backend.floatStorage());
  arenaBytes_ = layout.bytes;
  arena_.reset(backend.allocate(arenaBytes_ ? arenaBytes_ : 1));
  uploadWeights();
  for (const plan::Function *f : *rp.functions())
    bind(*f, layout.functions.at(f->name()->str()),
         functions_[f->name()->str()]);
}

Executor::~Executor() = default;

void Executor::uploadWeights() {
  weightPtrs_.resize(weights_.size());
  const DType storage = backend_.floatStorage();
  if (backend_.usesHostMemory()) {
    check(storage == DType::F32, "the ", backend_.name(),
          " backend uses host weights in place, so it must store f32, not ",
          dtypeName(storage));
    // f32 in place; the store widens a bf16/f16 checkpoint's slices here.
    for (size_t i = 0; i < weights_.size(); ++i)
      weightPtrs_[i] = weights_.data(int(i));
    return;
  }
  // One allocation, each weight at a 256-byte boundary (what cuBLASLt's
  // fastest kernels assume), copied once in the float storage: straight
  // from the store when the checkpoint has that dtype, else converted one
  // tensor at a time into a reused buffer (never the whole model).
  const size_t es = dtypeSize(storage);
  auto padded = [](size_t bytes) { return (bytes + 255) / 256 * 256; };
  size_t total = 0;
  for (size_t i = 0; i < weights_.size(); ++i)
    total += padded(weights_.count(int(i)) * es);
  if (total == 0)
    return;
  weightMemory_.reset(backend_.allocate(total));
  auto *base = static_cast<uint8_t *>(weightMemory_.get());
  size_t offset = 0;
  std::vector<uint8_t> converted;
  for (size_t i = 0; i < weights_.size(); ++i) {
    const size_t bytes = weights_.count(int(i)) * es;
    const void *host = weights_.bytes(int(i));
    if (weights_.dtype(int(i)) != storage) {
      converted.resize(bytes);
      weights_.copyAs(int(i), storage, converted.data());
      host = converted.data();
    }
    // copyToDevice is done with `host` when it returns.
    backend_.copyToDevice(base + offset, host, bytes);
    weightPtrs_[i] = reinterpret_cast<const float *>(base + offset);
    offset += padded(bytes);
  }
  backend_.synchronize();
}

/// For each instruction, the index of the first instruction that must wait
/// for it if it runs asynchronously (the first that reads its result, or
/// the function's end), or 0 when it runs in place: only all_to_all and
/// all_gather whose result is not read at once, and only when no other
/// communication happens before the wait except more of those on the same
/// group (a communicator's calls stay in one order on one stream; other
/// groups' NCCL kernels must not run concurrently). FRESCO_ASYNC_COLLECTIVES=0
/// keeps every collective in place, to measure what the overlap buys.
///
/// The result is found by its memory (`refs`), not only by its value id: a
/// reshape is no instruction but a second value at the same offset (a view
/// read under another id), and a result nothing reads may share its memory
/// with a value defined later, which must not be written before the wait.
static std::vector<uint32_t> asyncWindows(const plan::Function &f,
                                          const std::vector<Ref> &refs) {
  const uint32_t n = f.instrs()->size();
  std::vector<uint32_t> until(n, 0);
  const char *env = std::getenv("FRESCO_ASYNC_COLLECTIVES");
  if (env && std::string(env) == "0")
    return until;
  auto members = [](const plan::Instr &in) {
    const plan::CollectiveAttrs *a = in.attrs_as_CollectiveAttrs();
    return a && a->members()
               ? std::vector<int>(a->members()->begin(), a->members()->end())
               : std::vector<int>();
  };
  auto communicates = [](const plan::Instr &in) {
    if (in.attrs_as_CollectiveAttrs())
      return true;
    const plan::AttentionAttrs *a = in.attrs_as_AttentionAttrs();
    return a && a->ring_members() && a->ring_members()->size() > 1;
  };
  for (uint32_t i = 0; i < n; ++i) {
    const plan::Instr &in = *f.instrs()->Get(i);
    if ((in.op() != plan::OpCode::AllToAll &&
         in.op() != plan::OpCode::AllGather) ||
        in.results()->size() != 1)
      continue;
    const int32_t r = in.results()->Get(0);
    const auto *rBegin = static_cast<const uint8_t *>(refs[r].ptr);
    const uint8_t *rEnd = rBegin + size_t(refs[r].numel()) * refs[r].es;
    auto touches = [&](const flatbuffers::Vector<int32_t> *ids) {
      for (int32_t id : *ids) {
        if (id == r)
          return true;
        const auto *b = static_cast<const uint8_t *>(refs[id].ptr);
        const uint8_t *e = b + size_t(refs[id].numel()) * refs[id].es;
        if (b < rEnd && rBegin < e)
          return true;
      }
      return false;
    };
    uint32_t j = i + 1;
    bool ok = true;
    for (; j < n; ++j) {
      const plan::Instr &next = *f.instrs()->Get(j);
      if (touches(next.operands()) || touches(next.results()))
        break;
      if (communicates(next) && ((next.op() != plan::OpCode::AllToAll &&
                                  next.op() != plan::OpCode::AllGather) ||
                                 members(next) != members(in))) {
        ok = false;
        break;
      }
    }
    if (ok && j > i + 1)
      until[i] = j;
  }
  return until;
}

void Executor::bind(const plan::Function &f,
                    const ArenaLayout::Function &layout, Bound &out) {
  std::string ctx = plan_.name() + ", rank " + std::to_string(rank_) +
                    ", function '" + f.name()->str() + "'";
  const DType storage = backend_.floatStorage();
  const std::vector<bool> &pinned = layout.pinned;
  std::vector<Ref> refs;
  refs.reserve(f.values()->size());
  for (flatbuffers::uoffset_t i = 0; i < f.values()->size(); ++i) {
    const plan::Value *v = f.values()->Get(i);
    void *ptr = v->kind() == plan::ValueKind::Arena
                    ? static_cast<void *>(static_cast<uint8_t *>(arena_.get()) +
                                          layout.offset[i])
                    : const_cast<float *>(weightPtrs_.at(v->weight()));
    DType t = DType(v->dtype());
    size_t es =
        t == DType::F32 && !pinned[i] ? dtypeSize(storage) : dtypeSize(t);
    refs.push_back({ptr, t, Shape(v->shape()->begin(), v->shape()->end()), es});
  }
  const std::vector<uint32_t> asyncUntil = asyncWindows(f, refs);
  // Interval colouring of the asynchronous windows [start, wait): each gets
  // a scratch region no other window open at the same time uses.
  std::vector<uint32_t> regionFreeAt;
  auto asyncRegion = [&](uint32_t start, uint32_t wait) {
    size_t k = 0;
    while (k < regionFreeAt.size() && regionFreeAt[k] > start)
      ++k;
    if (k == regionFreeAt.size())
      regionFreeAt.push_back(0);
    regionFreeAt[k] = wait;
    while (asyncRegions_.size() <= k)
      asyncRegions_.push_back(std::make_shared<ScratchArena>(backend_));
    return asyncRegions_[k];
  };
  std::map<uint32_t, std::vector<std::pair<std::string, std::function<void()>>>>
      finishes;
  for (flatbuffers::uoffset_t i = 0; i < f.instrs()->size(); ++i) {
    const plan::Instr *in = f.instrs()->Get(i);
    std::vector<Ref> ops, res;
    for (int32_t id : *in->operands())
      ops.push_back(refs[id]);
    for (int32_t id : *in->results())
      res.push_back(refs[id]);
    OpBind binder{*in,
                  std::move(ops),
                  std::move(res),
                  backend_,
                  "invalid plan " + ctx + ", instruction " + std::to_string(i),
                  groups_,
                  rank_,
                  scratch_,
                  nullptr,
                  nullptr};
    // The collectives started earlier that this instruction needs.
    for (auto &[name, wait] : finishes[i]) {
      out.steps.push_back(std::move(wait));
      out.stepOps.push_back(name + " (wait)");
    }
    finishes.erase(i);
    const uint32_t waitAt = asyncUntil[i];
    if (waitAt > i + 1)
      binder.asyncRegion = asyncRegion(i, waitAt);
    out.steps.push_back(bindInstr(binder));
    if (binder.finish)
      finishes[waitAt].push_back({std::string(plan::EnumNameOpCode(in->op())),
                                  std::move(binder.finish)});
    const plan::AttentionAttrs *ring = in->attrs_as_AttentionAttrs();
    if (ring && !(ring->ring_members() && ring->ring_members()->size() > 1))
      ring = nullptr;
    out.stepOps.push_back(ring ? "RingAttention"
                               : std::string(plan::EnumNameOpCode(in->op())));
    // A collective can be recorded with the kernels only where it is queued
    // in order with them on the backend's own memory (NCCL): staged through
    // the host or blocking (Gloo), it must run every time.
    if (Communicator *c = binder.comm) {
      if (!c->usesDeviceMemory() || backend_.usesHostMemory())
        out.recordable = false;
      else if (std::find(out.comms.begin(), out.comms.end(), c) ==
               out.comms.end())
        out.comms.push_back(c);
    }
  }
  // Collectives whose results only the function's outputs use: waited for
  // at its end.
  for (auto &[at, waits] : finishes)
    for (auto &[name, wait] : waits) {
      out.steps.push_back(std::move(wait));
      out.stepOps.push_back(name + " (wait)");
    }
  // What the backend holds for each input and output: the f32 ones are
  // converted on the host, on their way in and out, to and from the
  // storage type.
  auto stored = [&](const Ref &r) {
    return r.dtype == DType::F32 && r.es != 4 ? storage : r.dtype;
  };
  for (flatbuffers::uoffset_t i = 0; i < f.inputs()->size(); ++i) {
    const Ref &r = refs[f.inputs()->Get(i)];
    out.inputs.push_back({f.input_names()->Get(i)->str(), r.dtype, r.shape});
    out.inputPtrs.push_back(r.ptr);
    out.inputStored.push_back(stored(r));
  }
  for (flatbuffers::uoffset_t i = 0; i < f.outputs()->size(); ++i) {
    const Ref &r = refs[f.outputs()->Get(i)];
    out.outputs.push_back({f.output_names()->Get(i)->str(), r.dtype, r.shape});
    out.outputPtrs.push_back(r.ptr);
    out.outputStored.push_back(stored(r));
  }
}

} // namespace fresco
