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
#include "runtime/core/ScratchArena.h"
#include "runtime/core/ops/OpBind.h"
#include "runtime/core/ops/OpRegistry.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>

namespace fresco {

namespace {
/// Refuses, with the numbers, memory the backend can never give.
void checkFits(const Backend &backend, const LoadedPlan &plan, int rank,
               const char *what, uint64_t bytes) {
  uint64_t capacity = backend.memoryCapacity();
  check(bytes <= capacity, "plan ", plan.name(), ", rank ", rank, ": its ",
        what, " needs ", bytes, " bytes, more than the ", capacity,
        " bytes of memory the ", backend.name(), " backend has");
}

/// The op's category in a profile (Chrome trace "cat"), from its Ops.def
/// row's Kernel family: a new row of a family is categorised with it.
const char *opFamily(plan::OpCode op) {
  const OpEntry *e = OpRegistry::global().find(op);
  const std::string family = e ? e->family : "";
  auto in = [&](std::initializer_list<const char *> names) {
    for (const char *n : names)
      if (family == n)
        return true;
    return false;
  };
  if (in({"Linear", "Conv2d"}))
    return "gemm";
  if (in({"Attention"}))
    return "attention";
  if (in({"LayerNorm", "RmsNorm", "GroupNorm", "Modulate"}))
    return "norm";
  if (in({"Unary", "Binary", "Rope"}))
    return "elementwise";
  if (in({"Transpose", "Slice", "Concat", "Copy", "Pad", "UpsampleNearest",
          "PatchCache"}))
    return "layout";
  if (in({"AllReduce", "AllGather", "AllToAll", "PointToPoint", "Wait", "Halo",
          "StaleGather", "ReduceScatter"}))
    return "collective";
  return "embedding"; // tables and lookups: timesteps, positions, tokens
}

/// "[2,16,32] [64,32] -> [2,16,64]": the operands' shapes, then the results'.
std::string shapeLabel(const std::vector<Ref> &ops,
                       const std::vector<Ref> &res) {
  auto list = [](const std::vector<Ref> &refs) {
    std::string s;
    for (const Ref &r : refs) {
      s += s.empty() ? "[" : " [";
      for (size_t d = 0; d < r.shape.size(); ++d)
        s += (d ? "," : "") + std::to_string(r.shape[d]);
      s += "]";
    }
    return s.empty() ? std::string("()") : s;
  };
  return list(ops) + " -> " + list(res);
}

} // namespace

bool fp8LinearDims(const plan::Function &f, const plan::Instr &in, int64_t &m,
                   int64_t &k, int64_t &n) {
  const plan::LinearAttrs *a =
      in.op() == plan::OpCode::Linear ? in.attrs_as_LinearAttrs() : nullptr;
  if (!a || !a->fp8())
    return false;
  const auto *x = f.values()->Get(in.operands()->Get(0))->shape();
  k = x->Get(x->size() - 1);
  m = k > 0 ? numElements({x->begin(), x->end()}) / k : 0;
  n = f.values()->Get(in.operands()->Get(1))->shape()->Get(0);
  return true;
}

std::vector<Fp8OnlyWeight> fp8OnlyWeights(const plan::RankProgram &rp) {
  const size_t n = rp.weights() ? rp.weights()->size() : 0;
  std::vector<Fp8OnlyWeight> only(n);
  std::vector<bool> otherUse(n, false);
  auto weightOf = [&](const plan::Function &f, int32_t id) {
    const plan::Value *v = f.values()->Get(id);
    return v->kind() == plan::ValueKind::Weight ? v->weight() : -1;
  };
  for (const plan::Function *f : *rp.functions()) {
    // A weight returned as an output is read after the run.
    for (int32_t id : *f->outputs())
      if (int32_t w = weightOf(*f, id); w >= 0)
        otherUse.at(size_t(w)) = true;
    for (const plan::Instr *in : *f->instrs())
      for (flatbuffers::uoffset_t k = 0; k < in->operands()->size(); ++k) {
        const int32_t w = weightOf(*f, in->operands()->Get(k));
        if (w < 0)
          continue;
        int64_t rows, kk, nn;
        Fp8OnlyWeight &o = only.at(size_t(w));
        if (k != 1 || !fp8LinearDims(*f, *in, rows, kk, nn) ||
            (o.only && (o.n != nn || o.k != kk))) {
          otherUse[size_t(w)] = true;
          continue;
        }
        o = {true, nn, kk};
      }
  }
  for (size_t i = 0; i < n; ++i)
    if (otherUse[i])
      only[i] = {};
  return only;
}

Executor::Executor(const LoadedPlan &plan, int rank, Backend &backend,
                   const WeightStore &weights, GroupResolver groups)
    : plan_(plan), scratch_(std::make_shared<ScratchArena>(backend)),
      rank_(rank), groups_(std::move(groups)), backend_(backend),
      weights_(weights), arena_(nullptr, Release{&backend}),
      weightMemory_(nullptr, Release{&backend}),
      mode_(std::make_shared<RunMode>(RunMode::Fresh)) {
  const plan::RankProgram &rp = plan.rank(rank);
  check(weights.size() == (rp.weights() ? rp.weights()->size() : 0),
        "weight store does not match the plan's weight table");
  ArenaLayout layout = layOutArena(plan, rank, backend.floatStorage());
  arenaBytes_ = layout.bytes;
  checkFits(backend, plan, rank, "arena", arenaBytes_);
  arena_.reset(backend.allocate(arenaBytes_ ? arenaBytes_ : 1));
  uploadWeights();
  reserveFp8Scratch();
  for (const plan::Function *f : *rp.functions())
    bind(*f, layout.functions.at(f->name()->str()),
         functions_[f->name()->str()]);
}

void Executor::reserveFp8Scratch() {
  // Once, for the largest input: a scratch outgrown while binding would
  // stay allocated (a recorded graph may point at it).
  int64_t maxCodes = 0, maxRows = 0, k = 0;
  for (const plan::Function *f : *plan_.rank(rank_).functions())
    for (const plan::Instr *in : *f->instrs()) {
      int64_t rows, cols, n;
      if (!fp8LinearDims(*f, *in, rows, cols, n))
        continue;
      if (rows * cols > maxCodes)
        maxCodes = rows * cols, k = cols;
      maxRows = std::max(maxRows, rows);
    }
  if (maxCodes == 0 || !backend_.implements(OptionalKernel::Fp8Linear))
    return;
  backend_.reserveFp8Activations(maxCodes / k, k);
  backend_.reserveFp8Activations(maxRows, 1);
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
  // tensor at a time into a reused buffer (never the whole model). A
  // weight only FP8 linears read goes through one reused staging buffer
  // instead and is quantized there: only its e4m3 copy stays.
  const size_t es = dtypeSize(storage);
  auto padded = [](size_t bytes) { return (bytes + 255) / 256 * 256; };
  std::vector<Fp8OnlyWeight> fp8 = fp8OnlyWeights(plan_.rank(rank_));
  if (!backend_.implements(OptionalKernel::Fp8Linear))
    fp8.assign(fp8.size(), {}); // bind says what is missing
  size_t total = 0, staging = 0;
  for (size_t i = 0; i < weights_.size(); ++i) {
    const size_t bytes = weights_.count(int(i)) * es;
    if (fp8[i].only)
      staging = std::max(staging, bytes), releasedFp8Bytes_ += bytes;
    else
      total += padded(bytes);
  }
  if (total + staging == 0)
    return;
  checkFits(backend_, plan_, rank_, "arena and weights",
            uint64_t(arenaBytes_) + total + staging);
  if (total)
    weightMemory_.reset(backend_.allocate(total));
  BackendBuffer stage(staging ? backend_.allocate(staging) : nullptr,
                      Release{&backend_});
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
    if (!fp8[i].only) {
      backend_.copyToDevice(base + offset, host, bytes);
      weightPtrs_[i] = reinterpret_cast<const float *>(base + offset);
      offset += padded(bytes);
      continue;
    }
    backend_.copyToDevice(stage.get(), host, bytes);
    try {
      fp8Weights_[int32_t(i)] = backend_.prepareFp8Weight(
          static_cast<const float *>(stage.get()), fp8[i].n, fp8[i].k);
    } catch (const Error &e) {
      fail("plan ", plan_.name(), ", rank ", rank_, ": weight '",
           plan_.rank(rank_)
               .weights()
               ->Get(flatbuffers::uoffset_t(i))
               ->name()
               ->str(),
           "' of an FP8 linear: ", e.what());
    }
    // The quantizer reads the staging buffer before the next weight's copy.
    backend_.synchronize();
  }
  backend_.synchronize();
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
    // A plan compiled for this storage stores its floats so; to the
    // kernels and the caller they are floats all the same.
    if (t == storage && storage != DType::F32)
      t = DType::F32;
    size_t es =
        t == DType::F32 && !pinned[i] ? dtypeSize(storage) : dtypeSize(t);
    refs.push_back({ptr, t, Shape(v->shape()->begin(), v->shape()->end()), es});
  }
  // Asynchronous collectives, as the compiler placed them: each is started
  // at its instruction and completed by the Wait that reads its result
  // (verified at load). FRESCO_ASYNC_COLLECTIVES=0 runs them in place, to
  // measure what the overlap buys.
  const char *env = std::getenv("FRESCO_ASYNC_COLLECTIVES");
  const bool overlap = !(env && std::string(env) == "0");
  std::map<int32_t, uint32_t> waitAt; // a started result -> its Wait
  for (uint32_t i = 0; i < f.instrs()->size(); ++i) {
    const plan::Instr *in = f.instrs()->Get(i);
    if (in->op() == plan::OpCode::Wait)
      waitAt[in->operands()->Get(0)] = i;
  }
  // Interval colouring of the windows [start, wait): each gets a scratch
  // region no other window open at the same time uses.
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
  // The finish of each collective in flight, by its result.
  std::map<int32_t, std::pair<std::string, Step>> inFlight;
  // Steps issued after the last instruction: the StaleGathers' exchanges
  // complete there.
  std::vector<std::pair<StepInfo, Step>> atEnd;
  out.name = f.name()->str();
  out.numInstrs = f.instrs()->size();
  for (flatbuffers::uoffset_t i = 0; i < f.instrs()->size(); ++i) {
    const plan::Instr *in = f.instrs()->Get(i);
    std::vector<Ref> ops, res;
    for (int32_t id : *in->operands())
      ops.push_back(refs[id]);
    for (int32_t id : *in->results())
      res.push_back(refs[id]);
    // A float's element type in memory is the storage's (2 bytes under
    // bf16/f16) but for the few pinned to f32.
    const Ref &first = !res.empty() ? res.front() : ops.front();
    StepInfo info{
        "", opFamily(in->op()), shapeLabel(ops, res),
        first.dtype == DType::F32 && first.es != 4 ? storage : first.dtype, i};
    OpBind binder{*in,
                  std::move(ops),
                  std::move(res),
                  backend_,
                  "invalid plan " + ctx + ", instruction " + std::to_string(i),
                  groups_,
                  rank_,
                  scratch_,
                  nullptr,
                  nullptr,
                  nullptr};
    binder.mode = mode_;
    binder.caches = patchCaches_;
    if (in->op() == plan::OpCode::Linear) {
      const plan::Value *w = f.values()->Get(in->operands()->Get(1));
      if (w->kind() == plan::ValueKind::Weight) {
        auto it = fp8Weights_.find(w->weight());
        if (it != fp8Weights_.end())
          binder.fp8Weight = it->second;
      }
    }
    std::string name = plan::EnumNameOpCode(in->op());
    const plan::CollectiveAttrs *coll = in->attrs_as_CollectiveAttrs();
    if (in->op() == plan::OpCode::Wait) {
      auto it = inFlight.find(in->operands()->Get(0));
      if (it != inFlight.end()) {
        name = it->second.first + " (wait)";
        binder.awaited = std::move(it->second.second);
        inFlight.erase(it);
      }
    } else if (coll && coll->async_start() && overlap) {
      binder.asyncRegion = asyncRegion(i, waitAt.at(in->results()->Get(0)));
    }
    Step step = bindInstr(binder);
    out.bytesInPlace += binder.bytesInPlace;
    if (in->op() == plan::OpCode::StaleGather)
      out.stale = true;
    staleStateBytes_ += binder.persistentBytes;
    if (binder.atEnd) {
      StepInfo end = info;
      end.op = name + " (wait)";
      atEnd.push_back({std::move(end), std::move(binder.atEnd)});
    }
    if (binder.abandon)
      out.abandons.push_back(std::move(binder.abandon));
    if (binder.allInPlace)
      name += " (in place)";
    if (binder.finish)
      inFlight[in->results()->Get(0)] = {name, std::move(binder.finish)};
    const plan::AttentionAttrs *ring = in->attrs_as_AttentionAttrs();
    if (ring && ring->ring_members() && ring->ring_members()->size() > 1)
      name = "RingAttention";
    if (step) { // a Wait for a collective run in place has nothing to do
      out.steps.push_back(std::move(step));
      info.op = name;
      out.stepInfo.push_back(std::move(info));
    }
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
  for (auto &[info, step] : atEnd) {
    out.steps.push_back(std::move(step));
    out.stepInfo.push_back(std::move(info));
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
