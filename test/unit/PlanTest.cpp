//===- PlanTest.cpp - Plan loading, verification and execution ------------===//
//
// Builds small plans with the FlatBuffers builders, breaks them on purpose,
// and checks that every broken plan is rejected with a message (never a
// crash) while the intact one runs and computes the right numbers.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Plan.h"
#include "runtime/backends/cpu/CpuBackend.h"
#include "runtime/comm/Communicator.h"
#include "runtime/core/Error.h"
#include "runtime/core/Executor.h"
#include "runtime/core/PlanVersion.h"
#include "test/unit/Reference.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <regex>
#include <set>

using namespace fresco;
namespace fp = fresco::plan;

namespace {

/// The f32 values of `t`, for the references.
ref::Vec floats(const HostTensor &t) {
  return ref::Vec(t.as<float>(), t.as<float>() + t.numel());
}

struct ValueSpec {
  fp::ValueKind kind = fp::ValueKind::Arena;
  fp::DType dtype = fp::DType::F32;
  std::vector<int64_t> shape;
  uint64_t offset = 0;
  int weight = -1;
};

struct InstrSpec {
  fp::OpCode op;
  std::vector<int32_t> operands, results;
  bool attention = false;       // attach AttentionAttrs
  int activation = -1;          // >= 0: attach LinearAttrs with this activation
  std::vector<int32_t> members; // non-empty: attach CollectiveAttrs
  int64_t splitDim = 0, concatDim = 0;
  int layerNorm = -1;        // >= 0: attach LayerNormAttrs, modulated when 1
  std::vector<int32_t> ring; // with `attention`: AttentionAttrs.ring_members
  int32_t peer = 0;          // Send/Recv/Broadcast
  bool async = false;        // CollectiveAttrs.async_start
  std::vector<int64_t> keyValid; // with `attention`: AttentionAttrs.key_valid
  int64_t axis = -1, start = 0;  // axis >= 0: attach AxisAttrs
};

/// y = silu(a + b) over [2, 3] f32: values 0 = a, 1 = b, 2 = sum, 3 = y.
struct PlanSpec {
  uint32_t version = kPlanVersion;
  int numRanks = 1;
  uint64_t arena = 4 * 24;
  std::vector<ValueSpec> values = {
      {fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 0},
      {fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 24},
      {fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 48},
      {fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 72}};
  std::vector<InstrSpec> instrs = {{fp::OpCode::Add, {0, 1}, {2}},
                                   {fp::OpCode::Silu, {2}, {3}}};
  std::vector<int32_t> inputs = {0, 1}, outputs = {3};
  std::vector<std::string> inputNames = {"a", "b"}, outputNames = {"y"};
  int functionCopies = 1;
  // One weight slice: full shape and slice.
  bool withWeight = false;
  std::vector<int64_t> weightShape = {4}, sliceOffsets = {0}, sliceSizes = {4};

  std::vector<uint8_t> build() const {
    flatbuffers::FlatBufferBuilder b;
    std::vector<flatbuffers::Offset<fp::Value>> vals;
    for (const ValueSpec &v : values)
      vals.push_back(fp::CreateValue(
          b, v.kind, v.dtype, b.CreateVector(v.shape), v.offset, v.weight));
    std::vector<flatbuffers::Offset<fp::Instr>> ins;
    for (const InstrSpec &i : instrs) {
      auto attrs = flatbuffers::Offset<void>();
      fp::OpAttrs type = fp::OpAttrs::NONE;
      if (i.attention) {
        attrs = fp::CreateAttentionAttrs(
                    b, 1, 1.0f, i.ring.empty() ? 0 : b.CreateVector(i.ring),
                    i.keyValid.empty() ? 0 : b.CreateVector(i.keyValid))
                    .Union();
        type = fp::OpAttrs::AttentionAttrs;
      } else if (i.axis >= 0) {
        attrs = fp::CreateAxisAttrs(b, i.axis, i.start).Union();
        type = fp::OpAttrs::AxisAttrs;
      } else if (i.activation >= 0) {
        attrs = fp::CreateLinearAttrs(b, fp::Activation(i.activation)).Union();
        type = fp::OpAttrs::LinearAttrs;
      } else if (i.layerNorm >= 0) {
        attrs = fp::CreateLayerNormAttrs(b, 1e-6f, i.layerNorm == 1).Union();
        type = fp::OpAttrs::LayerNormAttrs;
      } else if (!i.members.empty()) {
        attrs = fp::CreateCollectiveAttrs(b, b.CreateVector(i.members), 0,
                                          i.splitDim, i.concatDim, i.peer, 0,
                                          i.async)
                    .Union();
        type = fp::OpAttrs::CollectiveAttrs;
      }
      ins.push_back(fp::CreateInstr(b, i.op, b.CreateVector(i.operands),
                                    b.CreateVector(i.results), type, attrs));
    }
    auto valsV = b.CreateVector(vals);
    auto insV = b.CreateVector(ins);
    std::vector<flatbuffers::Offset<fp::Function>> fns;
    for (int c = 0; c < functionCopies; ++c)
      fns.push_back(fp::CreateFunction(
          b, b.CreateString("f"), valsV, insV, b.CreateVector(inputs),
          b.CreateVectorOfStrings(inputNames), b.CreateVector(outputs),
          b.CreateVectorOfStrings(outputNames), arena, arena));
    std::vector<flatbuffers::Offset<fp::WeightSlice>> ws;
    if (withWeight)
      ws.push_back(fp::CreateWeightSlice(
          b, b.CreateString("model"), b.CreateString("w"), fp::DType::F32,
          b.CreateVector(weightShape), b.CreateVector(sliceOffsets),
          b.CreateVector(sliceSizes)));
    auto rank = fp::CreateRankProgram(b, 0, b.CreateVector(fns),
                                      b.CreateVector(ws), arena);
    std::vector<flatbuffers::Offset<fp::RankProgram>> ranks = {rank};
    fp::FinishPlanBuffer(b, fp::CreatePlan(b, version, b.CreateString("test"),
                                           numRanks, b.CreateVector(ranks)));
    return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
  }
};

std::string loadError(const std::vector<uint8_t> &bytes) {
  try {
    LoadedPlan p = LoadedPlan::fromBytes(bytes, "test.fplan");
    // Binding checks only what depends on the run (verified at load).
    WeightStore weights(p.rank(0), "/nonexistent");
    auto backend = createCpuBackend();
    Executor exec(p, 0, *backend, weights);
  } catch (const Error &e) {
    return e.what();
  }
  return "";
}

TEST(Plan, ValidPlanRuns) {
  LoadedPlan p = LoadedPlan::fromBytes(PlanSpec().build(), "ok.fplan");
  WeightStore weights(p.rank(0), "/nonexistent");
  auto backend = createCpuBackend();
  Executor exec(p, 0, *backend, weights);
  HostTensor a{DType::F32, {2, 3}, {}}, b{DType::F32, {2, 3}, {}};
  a.data.resize(24);
  b.data.resize(24);
  for (int i = 0; i < 6; ++i) {
    a.as<float>()[i] = float(i) - 2.5f;
    b.as<float>()[i] = 0.25f * float(i);
  }
  std::vector<HostTensor> out = exec.run("f", {a, b});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].shape, (std::vector<int64_t>{2, 3}));
  for (int i = 0; i < 6; ++i) {
    double s = double(a.as<float>()[i]) + b.as<float>()[i];
    EXPECT_NEAR(out[0].as<float>()[i], ref::refUnary(UnaryKind::Silu, s), 1e-6);
  }
  // A wrong input shape is an error, not a read past the buffer.
  HostTensor small{DType::F32, {3}, std::vector<uint8_t>(12)};
  EXPECT_THROW(exec.run("f", {small, b}), Error);
  EXPECT_THROW(exec.run("f", {a}), Error);
  EXPECT_THROW(exec.run("g", {a, b}), Error);
}

/// y = act(x w^T) for x [2, 3], w [3, 3]: values 0 = x, 1 = w, 2 = y.
PlanSpec linearSpec(fp::Activation act) {
  PlanSpec s;
  s.values = {{fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 0},
              {fp::ValueKind::Arena, fp::DType::F32, {3, 3}, 24},
              {fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 64}};
  s.instrs = {{fp::OpCode::Linear, {0, 1}, {2}, false, int(act)}};
  s.inputs = {0, 1};
  s.inputNames = {"x", "w"};
  s.outputs = {2};
  return s;
}

/// y = layer_norm(x) for x [2, 3, 5] (B, T, D), with weight and bias [5]
/// when `affine`, then modulated by shift and scale [2, 5] when `modulated`:
/// values 0 = x, then weight, bias, shift, scale as present, then y.
PlanSpec layerNormSpec(bool affine, bool modulated) {
  PlanSpec s;
  s.values = {{fp::ValueKind::Arena, fp::DType::F32, {2, 3, 5}, 0}};
  s.inputNames = {"x"};
  uint64_t offset = 128;
  auto add = [&](std::vector<int64_t> shape, const char *name) {
    s.values.push_back({fp::ValueKind::Arena, fp::DType::F32, shape, offset});
    s.inputNames.push_back(name);
    offset += 64;
  };
  if (affine) {
    add({5}, "weight");
    add({5}, "bias");
  }
  if (modulated) {
    add({2, 5}, "shift");
    add({2, 5}, "scale");
  }
  int32_t y = int32_t(s.values.size());
  s.values.push_back({fp::ValueKind::Arena, fp::DType::F32, {2, 3, 5}, offset});
  s.arena = offset + 128;
  s.inputs.clear();
  for (int32_t i = 0; i < y; ++i)
    s.inputs.push_back(i);
  s.outputs = {y};
  s.instrs = {{fp::OpCode::LayerNorm, s.inputs, {y}}};
  s.instrs[0].layerNorm = modulated ? 1 : 0;
  return s;
}

TEST(Plan, ModulatedLayerNormRuns) {
  for (bool affine : {false, true})
    for (bool modulated : {false, true}) {
      SCOPED_TRACE(::testing::Message()
                   << "affine=" << affine << " modulated=" << modulated);
      LoadedPlan p = LoadedPlan::fromBytes(
          layerNormSpec(affine, modulated).build(), "ln.fplan");
      WeightStore weights(p.rank(0), "/nonexistent");
      auto backend = createCpuBackend();
      Executor exec(p, 0, *backend, weights);
      auto tensor = [](std::vector<int64_t> shape, float a, float b) {
        HostTensor t{DType::F32, shape, {}};
        t.data.resize(4 * size_t(numElements(shape)));
        for (int64_t i = 0; i < numElements(shape); ++i)
          t.as<float>()[i] = a * float(i % 7) + b * float(i % 3) - 0.5f;
        return t;
      };
      HostTensor x = tensor({2, 3, 5}, 0.75f, -0.5f);
      HostTensor g = tensor({5}, 0.2f, 0.1f), bt = tensor({5}, -0.3f, 0.4f);
      HostTensor sh = tensor({2, 5}, 0.1f, 0.3f),
                 sc = tensor({2, 5}, -0.2f, 0.2f);
      std::vector<HostTensor> ins = {x};
      if (affine)
        ins.insert(ins.end(), {g, bt});
      if (modulated)
        ins.insert(ins.end(), {sh, sc});
      std::vector<HostTensor> out = exec.run("f", ins);
      ASSERT_EQ(out.size(), 1u);
      const float *gp = affine ? g.as<float>() : nullptr;
      const float *bp = affine ? bt.as<float>() : nullptr;
      ref::RefVec want =
          modulated ? ref::refLayerNormModulate(floats(x), gp, bp, floats(sh),
                                                floats(sc), 2, 3, 5, 1e-6f)
                    : ref::refLayerNorm(floats(x), gp, bp, 6, 5, 1e-6f);
      for (int r = 0; r < 6; ++r)
        for (int d = 0; d < 5; ++d)
          EXPECT_NEAR(out[0].as<float>()[r * 5 + d], want[r * 5 + d], 1e-5)
              << "at row " << r << ", " << d;
    }
}

/// An AllToAll over members {0, 1} of x [2, 4, 6] -> y [2, 8, 3]: the
/// sequence-to-heads exchange of Ulysses (split 2, concat 1).
PlanSpec allToAllSpec() {
  PlanSpec s;
  s.arena = 2 * 4 * 48;
  s.values = {{fp::ValueKind::Arena, fp::DType::F32, {2, 4, 6}, 0},
              {fp::ValueKind::Arena, fp::DType::F32, {2, 8, 3}, 4 * 48}};
  s.instrs = {{fp::OpCode::AllToAll, {0}, {1}, false, -1, {0, 1}, 2, 1}};
  s.inputs = {0};
  s.inputNames = {"x"};
  s.outputs = {1};
  return s;
}

/// A 2-member stand-in whose peer sends back exactly what it receives, so
/// recv block i = send block i: the result shows how the executor packed
/// and unpacked the blocks.
class MirrorComm : public Communicator {
public:
  int rank() const override { return 0; }
  int size() const override { return 2; }
  int globalRank(int i) const override { return i; }
  std::unique_ptr<Communicator> subgroup(const std::vector<int> &,
                                         const std::string &) override {
    return nullptr;
  }
  void allReduceSum(float *, size_t) override {}
  void allGather(const void *, void *, size_t) override {}
  void reduceScatterSum(const float *, float *, size_t) override {}
  void allToAll(const void *send, void *recv, size_t bytes) override {
    std::memcpy(recv, send, 2 * bytes);
  }
  void send(const void *, size_t, int, int) override {}
  void recv(void *, size_t, int, int) override {}
  // From oneself, or from the peer that echoes what it was sent: recv is
  // send. Anything else has no answer in a fake of two.
  void sendRecv(const void *send, int to, void *recv, int from, size_t bytes,
                int) override {
    if (to != from)
      fail("MirrorComm: sendRecv to member ", to, " and from member ", from,
           " is not supported by this fake (only to == from)");
    if (bytes)
      std::memcpy(recv, send, bytes);
  }
  void broadcast(void *, size_t, int) override {}
  void barrier() override {}
  bool usesDeviceMemory() const override { return device; }
  bool device = false; // as NCCL: exchanges the backend's own memory
};

TEST(Plan, AllToAllPacksBlocks) {
  LoadedPlan p = LoadedPlan::fromBytes(allToAllSpec().build(), "a2a.fplan");
  WeightStore weights(p.rank(0), "/nonexistent");
  // Host memory; device memory staged through the host; device memory
  // exchanged directly (the three paths of the executor).
  for (const char *name : {"cpu", "cpu-staged", "cpu-staged-direct"}) {
    SCOPED_TRACE(name);
    MirrorComm comm;
    comm.device = std::string(name) == "cpu-staged-direct";
    auto backend = std::string(name) == "cpu" ? createCpuBackend()
                                              : createStagedCpuBackend();
    Executor exec(
        p, 0, *backend, weights,
        [&](const std::vector<int> &) -> Communicator & { return comm; });
    HostTensor x{DType::F32, {2, 4, 6}, std::vector<uint8_t>(4 * 48)};
    for (int i = 0; i < 48; ++i)
      x.as<float>()[i] = float(i);
    std::vector<HostTensor> out = exec.run("f", {x});
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].shape, (std::vector<int64_t>{2, 8, 3}));
    // Block j is x[:, :, 3j:3j+3]; received block j lands at y[:, 4j:4j+4].
    for (int b = 0; b < 2; ++b)
      for (int j = 0; j < 2; ++j)
        for (int t = 0; t < 4; ++t)
          for (int d = 0; d < 3; ++d)
            EXPECT_EQ(out[0].as<float>()[(b * 8 + j * 4 + t) * 3 + d],
                      x.as<float>()[(b * 4 + t) * 6 + j * 3 + d]);
  }
}

/// MirrorComm whose all_gather gives every member this rank's block, and
/// whose asynchronous collectives run only when waited for: the latest
/// they may read their buffers (as NCCL may, on its own stream).
class DeferredMirror : public MirrorComm {
public:
  void allGather(const void *send, void *recv, size_t bytes) override {
    std::memcpy(recv, send, bytes);
    std::memcpy(static_cast<char *>(recv) + bytes, send, bytes);
  }
  std::function<void()> startAllGather(const void *send, void *recv,
                                       size_t bytes) override {
    ++started;
    return [=] { allGather(send, recv, bytes); };
  }
  std::function<void()> startAllToAll(const void *send, void *recv,
                                      size_t bytes) override {
    ++started;
    return [=] { allToAll(send, recv, bytes); };
  }
  int started = 0;
};

/// An all_gather started asynchronously (its attrs say so).
InstrSpec asyncGather(int32_t x, int32_t g) {
  InstrSpec in{fp::OpCode::AllGather, {x}, {g}, false, -1, {0, 1}};
  in.async = true;
  return in;
}

/// Runs `s` (input a [2, 3]: -2.5, -1.5, ...) on cpu-staged with a
/// DeferredMirror: its all_gather must have started asynchronously, and
/// output 0 must be silu(silu(a)) gathered twice ([4, 3] or [12]).
std::vector<HostTensor> runDeferredGather(const PlanSpec &s) {
  LoadedPlan p = LoadedPlan::fromBytes(s.build(), "async.fplan");
  WeightStore weights(p.rank(0), "/nonexistent");
  DeferredMirror comm;
  comm.device = true;
  auto backend = createStagedCpuBackend();
  Executor exec(
      p, 0, *backend, weights,
      [&](const std::vector<int> &) -> Communicator & { return comm; });
  HostTensor a{DType::F32, {2, 3}, std::vector<uint8_t>(24)};
  for (int i = 0; i < 6; ++i)
    a.as<float>()[i] = float(i) - 2.5f;
  std::vector<HostTensor> out = exec.run("f", {a});
  EXPECT_EQ(comm.started, 1) << "the all_gather did not run asynchronously";
  auto silu = [](double v) { return v / (1.0 + std::exp(-v)); };
  for (int i = 0; i < 12; ++i)
    EXPECT_NEAR(out[0].as<float>()[i], silu(silu(a.as<float>()[i % 6])), 1e-6)
        << "at " << i;
  return out;
}

// x = silu(a); g = all_gather(x) started; y = a + a in x's old bytes (x's
// life ends at the gather); wait; out = silu(g). The gather runs until its
// Wait, so it must not read x from memory y overwrote meanwhile.
TEST(Plan, AsyncAllGatherDoesNotReadReusedMemory) {
  PlanSpec s;
  s.arena = 144;
  s.values = {{fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 0},   // a
              {fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 24},  // x
              {fp::ValueKind::Arena, fp::DType::F32, {4, 3}, 48},  // g
              {fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 24},  // y
              {fp::ValueKind::Arena, fp::DType::F32, {4, 3}, 96}}; // out
  s.instrs = {{fp::OpCode::Silu, {0}, {1}},
              asyncGather(1, 2),
              {fp::OpCode::Add, {0, 0}, {3}},
              {fp::OpCode::Wait, {2}, {}},
              {fp::OpCode::Silu, {2}, {4}}};
  s.inputs = {0};
  s.inputNames = {"a"};
  s.outputs = {4, 3};
  s.outputNames = {"out", "y"};
  std::vector<HostTensor> out = runDeferredGather(s);
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(out[1].as<float>()[i], 2 * (float(i) - 2.5f));
}

// The gather's result read through a reshape (another value at the same
// offset, no instruction) after its Wait.
TEST(Plan, AsyncAllGatherWaitsBeforeAViewIsRead) {
  PlanSpec s;
  s.arena = 144;
  s.values = {{fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 0},   // a
              {fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 24},  // x
              {fp::ValueKind::Arena, fp::DType::F32, {4, 3}, 48},  // g
              {fp::ValueKind::Arena, fp::DType::F32, {12}, 48},    // view of g
              {fp::ValueKind::Arena, fp::DType::F32, {12}, 96},    // out
              {fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 24}}; // y
  s.instrs = {{fp::OpCode::Silu, {0}, {1}},
              asyncGather(1, 2),
              {fp::OpCode::Add, {0, 0}, {5}},
              {fp::OpCode::Wait, {2}, {}},
              {fp::OpCode::Silu, {3}, {4}}};
  s.inputs = {0};
  s.inputNames = {"a"};
  s.outputs = {4};
  s.outputNames = {"out"};
  runDeferredGather(s);
}

// K = 0: an empty sum, so every row of the result is the bias (the binder
// once took the rows as numel / K and left the result unwritten).
/// o = attention(q [1, 2, 4], k and v [1, 6, 4]) with `keyValid`.
PlanSpec keyValidSpec(std::vector<int64_t> keyValid,
                      std::vector<int32_t> ring = {}) {
  PlanSpec s;
  s.arena = 4 * (8 + 24 + 24 + 8);
  s.values = {{fp::ValueKind::Arena, fp::DType::F32, {1, 2, 4}, 0},
              {fp::ValueKind::Arena, fp::DType::F32, {1, 6, 4}, 32},
              {fp::ValueKind::Arena, fp::DType::F32, {1, 6, 4}, 128},
              {fp::ValueKind::Arena, fp::DType::F32, {1, 2, 4}, 224}};
  s.instrs = {{fp::OpCode::Attention, {0, 1, 2}, {3}, true}};
  s.instrs[0].keyValid = std::move(keyValid);
  s.instrs[0].ring = std::move(ring);
  s.inputs = {0, 1, 2};
  s.inputNames = {"q", "k", "v"};
  s.outputs = {3};
  return s;
}

/// y [2, 7] = Pad(x [2, 3]) along axis 1 from `start`.
PlanSpec padSpec(int64_t start) {
  PlanSpec s;
  s.arena = 4 * (6 + 14);
  s.values = {{fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 0},
              {fp::ValueKind::Arena, fp::DType::F32, {2, 7}, 24}};
  s.instrs = {{fp::OpCode::Pad, {0}, {1}}};
  s.instrs[0].axis = 1;
  s.instrs[0].start = start;
  s.inputs = {0};
  s.inputNames = {"x"};
  s.outputs = {1};
  return s;
}

TEST(Plan, KeyValidLayoutsLoad) {
  for (const PlanSpec &s :
       {keyValidSpec({6}), keyValidSpec({2, 0}), keyValidSpec({1, 0, 2}),
        keyValidSpec({0, 0, 3, 1}, {0, 1})})
    EXPECT_NO_THROW(LoadedPlan::fromBytes(s.build(), "kv.fplan"));
}

// Pad over memory another value left non-zero: the padding must be written.
// On the host backend and on cpu-staged with 2-byte float storage (zero is
// the all-zero bit pattern there too), and for i64 values.
TEST(Plan, PadPlacesTheInputAmongZeros) {
  for (fp::DType dtype : {fp::DType::F32, fp::DType::I64}) {
    for (int storage = 0; storage < 3; ++storage) {
      SCOPED_TRACE(std::string(fp::EnumNameDType(dtype)) + " storage " +
                   std::to_string(storage));
      // junk [2, 7] = Copy(j) fills y's bytes first (same offset).
      const size_t es = dtype == fp::DType::I64 ? 8 : 4;
      PlanSpec s;
      s.arena = es * (6 + 14 + 14);
      s.values = {{fp::ValueKind::Arena, dtype, {2, 3}, 0},
                  {fp::ValueKind::Arena, dtype, {2, 7}, es * 6},
                  {fp::ValueKind::Arena, dtype, {2, 7}, es * 20},
                  {fp::ValueKind::Arena, dtype, {2, 7}, es * 6}};
      s.instrs = {{fp::OpCode::Copy, {2}, {3}}, {fp::OpCode::Pad, {0}, {1}}};
      s.instrs[1].axis = 1;
      s.instrs[1].start = 3;
      s.inputs = {0, 2};
      s.inputNames = {"x", "j"};
      s.outputs = {1};
      LoadedPlan p = LoadedPlan::fromBytes(s.build(), "pad.fplan");
      WeightStore weights(p.rank(0), "/nonexistent");
      auto backend = storage == 0 ? createCpuBackend()
                     : storage == 1
                         ? createStagedCpuBackend(GemmPrecision::BF16)
                         : createStagedCpuBackend(GemmPrecision::F16);
      Executor exec(p, 0, *backend, weights);
      const DType dt = DType(dtype);
      HostTensor x{dt, {2, 3}, std::vector<uint8_t>(6 * es)},
          j{dt, {2, 7}, std::vector<uint8_t>(14 * es)};
      for (int i = 0; i < 6; ++i)
        dtype == fp::DType::I64 ? void(x.as<int64_t>()[i] = i + 1)
                                : void(x.as<float>()[i] = float(i + 1));
      for (int i = 0; i < 14; ++i)
        dtype == fp::DType::I64 ? void(j.as<int64_t>()[i] = -7)
                                : void(j.as<float>()[i] = -7.0f);
      std::vector<HostTensor> out = exec.run("f", {x, j});
      ASSERT_EQ(out.size(), 1u);
      ASSERT_EQ(out[0].shape, (std::vector<int64_t>{2, 7}));
      for (int r = 0; r < 2; ++r)
        for (int c = 0; c < 7; ++c) {
          const double want = c >= 3 && c < 6 ? r * 3 + (c - 3) + 1 : 0;
          const double got = dtype == fp::DType::I64
                                 ? double(out[0].as<int64_t>()[r * 7 + c])
                                 : double(out[0].as<float>()[r * 7 + c]);
          EXPECT_EQ(got, want) << "y[" << r << ", " << c << "]";
        }
    }
  }
}

TEST(Plan, LinearWithoutInputFeaturesGivesTheBias) {
  PlanSpec s;
  s.arena = 128;
  s.values = {{fp::ValueKind::Arena, fp::DType::F32, {2, 0}, 0},  // x
              {fp::ValueKind::Arena, fp::DType::F32, {3, 0}, 0},  // w
              {fp::ValueKind::Arena, fp::DType::F32, {3}, 0},     // b
              {fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 64}}; // y
  s.instrs = {{fp::OpCode::Linear, {0, 1, 2}, {3}}};
  s.inputs = {0, 1, 2};
  s.inputNames = {"x", "w", "b"};
  s.outputs = {3};
  LoadedPlan p = LoadedPlan::fromBytes(s.build(), "k0.fplan");
  WeightStore weights(p.rank(0), "/nonexistent");
  auto backend = createCpuBackend();
  Executor exec(p, 0, *backend, weights);
  HostTensor x{DType::F32, {2, 0}, {}}, w{DType::F32, {3, 0}, {}};
  HostTensor b{DType::F32, {3}, std::vector<uint8_t>(12)};
  for (int i = 0; i < 3; ++i)
    b.as<float>()[i] = 1.5f + float(i);
  std::vector<HostTensor> out = exec.run("f", {x, w, b});
  ASSERT_EQ(out.size(), 1u);
  for (int m = 0; m < 2; ++m)
    for (int n = 0; n < 3; ++n)
      EXPECT_EQ(out[0].as<float>()[m * 3 + n], 1.5f + float(n))
          << "at " << m << ", " << n;
}

TEST(Plan, LinearActivationRuns) {
  const fp::Activation acts[] = {fp::Activation::None, fp::Activation::GeluTanh,
                                 fp::Activation::GeluErf, fp::Activation::Silu};
  for (fp::Activation act : acts) {
    SCOPED_TRACE(fp::EnumNameActivation(act));
    LoadedPlan p = LoadedPlan::fromBytes(linearSpec(act).build(), "l.fplan");
    WeightStore weights(p.rank(0), "/nonexistent");
    auto backend = createCpuBackend();
    Executor exec(p, 0, *backend, weights);
    HostTensor x{DType::F32, {2, 3}, std::vector<uint8_t>(24)};
    HostTensor w{DType::F32, {3, 3}, std::vector<uint8_t>(36)};
    for (int i = 0; i < 6; ++i)
      x.as<float>()[i] = 0.5f * float(i) - 1.5f;
    for (int i = 0; i < 9; ++i)
      w.as<float>()[i] = 0.25f * float(i % 4) - 0.3f;
    std::vector<HostTensor> out = exec.run("f", {x, w});
    ASSERT_EQ(out.size(), 1u);
    ref::RefVec pre = ref::refLinear(floats(x), floats(w), nullptr, 2, 3, 3);
    for (int m = 0; m < 2; ++m)
      for (int n = 0; n < 3; ++n) {
        double want = pre[m * 3 + n];
        if (act == fp::Activation::GeluTanh)
          want = ref::refUnary(UnaryKind::GeluTanh, want);
        else if (act == fp::Activation::GeluErf)
          want = ref::refUnary(UnaryKind::GeluErf, want);
        else if (act == fp::Activation::Silu)
          want = ref::refUnary(UnaryKind::Silu, want);
        EXPECT_NEAR(out[0].as<float>()[m * 3 + n], want, 1e-5)
            << "at " << m << ", " << n;
      }
  }
}

TEST(Plan, RejectsForeignAndTinyFiles) {
  EXPECT_NE(loadError({}).find("too short"), std::string::npos);
  std::vector<uint8_t> junk(64, 0x41);
  EXPECT_NE(loadError(junk).find("not a Fresco plan"), std::string::npos);
}

TEST(Plan, EveryTruncationIsRejected) {
  std::vector<uint8_t> bytes = PlanSpec().build();
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + n);
    EXPECT_NE(loadError(cut), "") << "truncated to " << n << " bytes";
  }
}

TEST(Plan, RandomCorruptionNeverCrashes) {
  std::vector<uint8_t> good = PlanSpec().build();
  std::mt19937 rng(1);
  int rejected = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::vector<uint8_t> bytes = good;
    int flips = 1 + rng() % 4;
    for (int f = 0; f < flips; ++f)
      bytes[rng() % bytes.size()] ^= uint8_t(1 + rng() % 255);
    // Either rejected with a message or still a valid plan that binds.
    if (!loadError(bytes).empty())
      ++rejected;
  }
  EXPECT_GT(rejected, 0);
}

// The FlatBuffers verifier does not check vector element alignment: a
// damaged plan could place an int64 vector at 4 mod 8 (issue 15). Move the
// first value's shape vector there and point its field at the copy.
TEST(Plan, MisalignedInt64VectorIsRejected) {
  std::vector<uint8_t> bytes = PlanSpec().build();
  const fp::Value *v = fp::GetPlan(bytes.data())
                           ->ranks()
                           ->Get(0)
                           ->functions()
                           ->Get(0)
                           ->values()
                           ->Get(0);
  const auto *table = reinterpret_cast<const flatbuffers::Table *>(v);
  size_t field =
      size_t(table->GetAddressOf(fp::Value::VT_SHAPE) - bytes.data());
  size_t vec =
      size_t(reinterpret_cast<const uint8_t *>(v->shape()) - bytes.data());
  size_t vecBytes = 4 + 8 * v->shape()->size();
  std::vector<uint8_t> copy(bytes.begin() + vec,
                            bytes.begin() + vec + vecBytes);
  for (size_t pad : {0, 4}) {
    std::vector<uint8_t> b = bytes;
    // The length prefix at `at` (4-aligned), its elements at `at + 4`.
    while (b.size() % 8 != pad)
      b.push_back(0);
    size_t at = b.size();
    b.insert(b.end(), copy.begin(), copy.end());
    uint32_t rel = uint32_t(at - field);
    std::memcpy(b.data() + field, &rel, 4);
    std::string err = loadError(b);
    if ((at + 4) % 8 == 0)
      EXPECT_EQ(err, "") << "the aligned copy should load";
    else
      EXPECT_NE(err.find("Value.shape vector start at byte"), std::string::npos)
          << err;
  }
}

// eightByteVectorFields() names every [long]/[ulong]/[double] field of
// plan.fbs: a new one must be added to the alignment check.
TEST(Plan, AlignmentCheckCoversTheSchema) {
  std::ifstream in(std::string(FRESCO_SOURCE_DIR) + "/runtime/schema/plan.fbs");
  ASSERT_TRUE(in.good());
  std::string text((std::istreambuf_iterator<char>(in)), {});
  text = std::regex_replace(text, std::regex("//[^\\n]*"), "");
  std::set<std::string> inSchema;
  std::regex table(R"(table\s+(\w+)\s*\{([^}]*)\})");
  std::regex field(
      R"((\w+)\s*:\s*\[\s*(long|ulong|int64|uint64|double|float64)\s*\])");
  for (std::sregex_iterator t(text.begin(), text.end(), table), e; t != e;
       ++t) {
    std::string body = (*t)[2];
    for (std::sregex_iterator f(body.begin(), body.end(), field); f != e; ++f)
      inSchema.insert((*t)[1].str() + "." + (*f)[1].str());
  }
  std::set<std::string> checked(eightByteVectorFields().begin(),
                                eightByteVectorFields().end());
  EXPECT_EQ(inSchema, checked);
}

struct Case {
  const char *name;
  void (*mutate)(PlanSpec &);
  const char *message;
};

class PlanSemantics : public ::testing::TestWithParam<Case> {};

TEST_P(PlanSemantics, Rejected) {
  PlanSpec spec;
  GetParam().mutate(spec);
  std::string err = loadError(spec.build());
  EXPECT_NE(err.find(GetParam().message), std::string::npos)
      << "got: '" << err << "'";
}

const Case kCases[] = {
    {"key_valid_segments",
     [](PlanSpec &s) {
       s = keyValidSpec({1, 1, 1, 1});
     },
     "(Attention): key_valid's 4 segments do not divide the 6 keys"},
    {"key_valid_entry",
     [](PlanSpec &s) {
       s = keyValidSpec({3, 4});
     },
     "(Attention): key_valid[1] = 4 outside [0, 3] (the segment length)"},
    {"key_valid_negative", [](PlanSpec &s) { s = keyValidSpec({-1}); },
     "key_valid[0] = -1 outside [0, 6]"},
    {"key_valid_empty_softmax",
     [](PlanSpec &s) {
       s = keyValidSpec({0, 0});
     },
     "(Attention): key_valid leaves no real key: the softmax would be empty"},
    {"key_valid_ring_rows",
     [](PlanSpec &s) {
       s = keyValidSpec({6, 6, 6}, {0, 1});
     },
     "key_valid has 3 entries, not a multiple of the 2 ring members"},
    {"key_valid_ring_all_padding",
     [](PlanSpec &s) {
       s = keyValidSpec({0, 0, 0, 0}, {0, 1});
     },
     "key_valid leaves no real key in the whole ring"},
    {"pad_past_the_result", [](PlanSpec &s) { s = padSpec(5); },
     "(Pad): input of extent 3 at start 5 does not fit the result's extent 7 "
     "on axis 1"},
    {"pad_negative_start", [](PlanSpec &s) { s = padSpec(-1); },
     "(Pad): input of extent 3 at start -1"},
    {"pad_axis",
     [](PlanSpec &s) {
       s = padSpec(0);
       s.instrs[0].axis = 2;
     },
     "(Pad): axis 2 out of range for an input of rank 2"},
    {"pad_other_dims",
     [](PlanSpec &s) {
       s = padSpec(0);
       s.values[1].shape = {1, 14};
     },
     "(Pad): result has shape [1, 14], expected [2, 14]"},
    {"pad_rank",
     [](PlanSpec &s) {
       s = padSpec(0);
       s.values[1].shape = {14};
     },
     "(Pad): result of rank 1 does not match the input's rank 2"},
    {"version", [](PlanSpec &s) { s.version = 99; },
     "has format version 99 but this runtime reads version"},
    {"rank_count", [](PlanSpec &s) { s.numRanks = 2; },
     "rank count does not match"},
    {"offset_past_arena", [](PlanSpec &s) { s.values[3].offset = 80; },
     "value 3: bytes [80, 104) exceed the arena of 96"},
    {"huge_offset", [](PlanSpec &s) { s.values[3].offset = ~uint64_t(0) - 4; },
     "exceed the arena"},
    {"misaligned_offset", [](PlanSpec &s) { s.values[3].offset = 2; },
     "value 3: offset 2 is not a multiple of its f32 element size"},
    {"negative_dim",
     [](PlanSpec &s) {
       s.values[1].shape = {-2, 3};
     },
     "dimension -2 out of range"},
    {"overflowing_shape",
     [](PlanSpec &s) {
       s.values[1].shape = {int64_t(1) << 40, int64_t(1) << 40};
     },
     "too many elements"},
    {"operand_index",
     [](PlanSpec &s) {
       s.instrs[0].operands = {0, 7};
     },
     "value index 7 out of range (4 values)"},
    {"negative_index", [](PlanSpec &s) { s.instrs[1].results = {-1}; },
     "value index -1 out of range"},
    {"result_is_weight",
     [](PlanSpec &s) {
       s.withWeight = true;
       s.values.push_back({fp::ValueKind::Weight, fp::DType::F32, {4}, 0, 0});
       s.instrs[1].results = {4};
     },
     "must live in the arena"},
    {"weight_index",
     [](PlanSpec &s) {
       s.values.push_back({fp::ValueKind::Weight, fp::DType::F32, {4}, 0, 3});
     },
     "weight index 3 out of range"},
    {"slice_negative_offset",
     [](PlanSpec &s) {
       s.withWeight = true;
       s.sliceOffsets = {-1};
       s.sliceSizes = {4};
     },
     "slice offset -1 in dimension 0 out of range"},
    {"slice_negative_size",
     [](PlanSpec &s) {
       s.withWeight = true;
       s.sliceSizes = {-2};
     },
     "dimension -2 out of range"},
    {"slice_offset_absurd",
     [](PlanSpec &s) {
       s.withWeight = true;
       s.sliceOffsets = {int64_t(1) << 50};
     },
     "out of range"},
    {"slice_rank",
     [](PlanSpec &s) {
       s.withWeight = true;
       s.sliceOffsets = {0, 0};
     },
     "slice offsets/sizes do not match the tensor rank"},
    {"output_index", [](PlanSpec &s) { s.outputs = {9}; },
     "value index 9 out of range"},
    {"names", [](PlanSpec &s) { s.inputNames = {"a"}; },
     "input/output names do not match"},
    {"duplicate_function", [](PlanSpec &s) { s.functionCopies = 2; },
     "function 'f': defined twice"},
    {"bad_dtype",
     [](PlanSpec &s) { s.values[0].dtype = static_cast<fp::DType>(42); },
     "unknown dtype"},
    {"bad_opcode",
     [](PlanSpec &s) { s.instrs[0].op = static_cast<fp::OpCode>(999); },
     "unknown op code 999"},
    {"binary_shapes",
     [](PlanSpec &s) {
       s.values[1].shape = {3, 2};
     },
     "rhs [3, 2] does not broadcast to [2, 3]"},
    {"unary_shape", [](PlanSpec &s) { s.values[3].shape = {6}; },
     "result has shape [6], expected [2, 3]"},
    {"operand_count",
     [](PlanSpec &s) {
       s.instrs[1].operands = {2, 2};
     },
     "instruction 1 (Silu): takes 1 operands, got 2"},
    {"missing_attrs",
     [](PlanSpec &s) {
       s.instrs = {{fp::OpCode::Attention, {0, 0, 0}, {3}}};
       s.values[0].shape = s.values[3].shape = {1, 2, 3};
     },
     "(Attention): attributes must be AttentionAttrs, got none"},
    {"result_dtype", [](PlanSpec &s) { s.values[3].dtype = fp::DType::F16; },
     "results must be f32, got f16"},
    {"operand_dtype", [](PlanSpec &s) { s.values[1].dtype = fp::DType::I32; },
     "operands must be f32, got i32"},
    {"linear_mismatch",
     [](PlanSpec &s) { s.instrs[0].op = fp::OpCode::Linear; },
     "result has shape [2, 3], expected [2, 2]"},
    {"linear_wrong_attrs",
     [](PlanSpec &s) {
       s = linearSpec(fp::Activation::None);
       s.instrs[0].activation = -1;
       s.instrs[0].attention = true;
     },
     "instruction 0 (Linear): attributes must be LinearAttrs or none, got "
     "AttentionAttrs"},
    {"linear_bad_activation",
     [](PlanSpec &s) { s = linearSpec(fp::Activation(9)); },
     "instruction 0 (Linear): unknown activation 9"},
    // The modulated flag decides what 3 operands are; counts it cannot
    // read are rejected at load, before any binder guesses.
    {"layer_norm_modulated_one_operand",
     [](PlanSpec &s) {
       s = layerNormSpec(false, false);
       s.instrs[0].layerNorm = 1;
     },
     "instruction 0 (LayerNorm): a modulated LayerNorm takes x, [weight, "
     "bias,] shift, "
     "scale (3 or 5 operands), got 1"},
    {"layer_norm_five_unmodulated",
     [](PlanSpec &s) {
       s = layerNormSpec(true, true);
       s.instrs[0].layerNorm = 0;
     },
     "instruction 0 (LayerNorm): a LayerNorm takes x [, weight, bias] (1 or 3 "
     "operands), "
     "got 5"},
    {"layer_norm_wrong_attrs",
     [](PlanSpec &s) {
       s = layerNormSpec(false, false);
       s.instrs[0].layerNorm = -1;
       s.instrs[0].attention = true;
     },
     "instruction 0 (LayerNorm): attributes must be LayerNormAttrs, got "
     "AttentionAttrs"},
    {"layer_norm_no_attrs",
     [](PlanSpec &s) {
       s = layerNormSpec(false, false);
       s.instrs[0].layerNorm = -1;
     },
     "instruction 0 (LayerNorm): attributes must be LayerNormAttrs, got none"},
    // Affine weight and bias [5] read as shift and scale [2, 5]: the binder
    // checks their shapes against the flag's reading.
    {"layer_norm_affine_read_as_modulation",
     [](PlanSpec &s) {
       s = layerNormSpec(true, false);
       s.instrs[0].layerNorm = 1;
     },
     "(LayerNorm): shift has shape [5], expected [2, 5]"},
    {"layer_norm_modulated_rank",
     [](PlanSpec &s) {
       s = layerNormSpec(false, true);
       s.values[0].shape = {6, 5};
       s.values.back().shape = {6, 5};
     },
     "(LayerNorm): a modulated input must be [B, T, D], got [6, 5]"},
    {"all_to_all_dims",
     [](PlanSpec &s) {
       s = allToAllSpec();
       s.instrs[0].splitDim = 3;
     },
     "(AllToAll): dimensions split 3, concat 1 outside the operand's rank 3"},
    {"all_to_all_divisible",
     [](PlanSpec &s) {
       s = allToAllSpec();
       s.instrs[0].splitDim = 0;
       s.instrs[0].members = {0, 1, 2};
     },
     "(AllToAll): split dimension 0 of size 2 is not divisible by the 3 "
     "members"},
    {"all_to_all_result",
     [](PlanSpec &s) {
       s = allToAllSpec();
       s.values[1].shape = {2, 4, 6};
     },
     "(AllToAll): result [2, 4, 6] does not match its operand split along 2 "
     "and concatenated along 1"},
    {"all_to_all_member",
     [](PlanSpec &s) {
       s = allToAllSpec();
       s.instrs[0].members = {1, 2};
     },
     "this rank (0) is not a member of its AllToAll group"},
    {"ring_sorted",
     [](PlanSpec &s) {
       s.instrs[0] = {fp::OpCode::Attention, {0, 1, 1}, {2}, true};
       s.instrs[0].ring = {2, 0};
     },
     "attention ring members must be sorted, distinct world ranks"},
    {"ring_member",
     [](PlanSpec &s) {
       s.instrs[0] = {fp::OpCode::Attention, {0, 1, 1}, {2}, true};
       s.instrs[0].ring = {1, 2};
     },
     "this rank (0) is not a member of its attention ring"},
    {"send_peer",
     [](PlanSpec &s) {
       s.instrs[0] = {fp::OpCode::Send, {0}, {}, false, -1, {0, 1}};
       s.instrs[0].peer = 2;
     },
     "(Send): peer 2 is not one of the 2 members"},
    {"recv_group",
     [](PlanSpec &s) {
       s.instrs[0] = {fp::OpCode::Recv, {}, {2}, false, -1, {1, 2}};
     },
     "this rank (0) is not a member of its Recv group"},
    {"recv_self",
     [](PlanSpec &s) {
       s.instrs[0] = {fp::OpCode::Recv, {}, {2}, false, -1, {0, 1}};
     },
     "Recv peer 0 is this rank itself"},
    {"send_counts",
     [](PlanSpec &s) {
       s.instrs[0] = {fp::OpCode::Send, {0}, {2}, false, -1, {0, 1}};
       s.instrs[0].peer = 1;
     },
     "(Send): takes 0 results, got 1"},
    {"broadcast_root_operand",
     [](PlanSpec &s) {
       // The root (peer 0 = this rank) gives its operand: none here.
       s.instrs[0] = {fp::OpCode::Broadcast, {}, {2}, false, -1, {0, 1}};
     },
     "(Broadcast): takes 1 operand(s) here (the root has its value, the "
     "others none), got 0"},
    {"all_to_all_sorted",
     [](PlanSpec &s) {
       s = allToAllSpec();
       s.instrs[0].members = {1, 0};
     },
     "AllToAll group members must be sorted, distinct world ranks"},
    // Asynchronous collectives: the window the compiler placed is checked.
    {"wait_without_start",
     [](PlanSpec &s) {
       s.instrs.push_back({fp::OpCode::Wait, {3}, {}});
     },
     "instruction 2 (Wait): waits for value 3, which no earlier asynchronous "
     "AllToAll or AllGather still in flight produces"},
    {"start_without_wait",
     [](PlanSpec &s) {
       s = allToAllSpec();
       s.instrs[0].async = true;
     },
     "instruction 0 (AllToAll): started asynchronously but never waited for"},
    {"read_before_wait",
     [](PlanSpec &s) {
       s = allToAllSpec();
       s.instrs[0].async = true;
       s.values.push_back({fp::ValueKind::Arena, fp::DType::F32, {2, 8, 3}, 0});
       s.instrs.push_back({fp::OpCode::Silu, {1}, {2}});
       s.instrs.push_back({fp::OpCode::Wait, {1}, {}});
     },
     "instruction 1 (Silu): touches value 1, the result of the asynchronous "
     "AllToAll at instruction 0, before its Wait"},
    {"overlapping_write_before_wait",
     [](PlanSpec &s) {
       s = allToAllSpec();
       s.instrs[0].async = true;
       // A result written over the exchange's result bytes meanwhile.
       s.values.push_back(
           {fp::ValueKind::Arena, fp::DType::F32, {2, 4, 6}, 4 * 48});
       s.instrs.push_back({fp::OpCode::Silu, {0}, {2}});
       s.instrs.push_back({fp::OpCode::Wait, {1}, {}});
     },
     "instruction 1 (Silu): touches value 2"},
    {"communication_before_wait",
     [](PlanSpec &s) {
       s = allToAllSpec();
       s.instrs[0].async = true;
       s.instrs.push_back(
           {fp::OpCode::AllReduce, {0}, {0}, false, -1, {0, 1}});
       s.instrs.push_back({fp::OpCode::Wait, {1}, {}});
     },
     "instruction 1 (AllReduce): communicates while the asynchronous AllToAll "
     "at instruction 0 is in flight"},
    {"async_all_reduce",
     [](PlanSpec &s) {
       s.instrs = {{fp::OpCode::AllReduce, {0}, {2}, false, -1, {0, 1}}};
       s.instrs[0].async = true;
       s.outputs = {2};
     },
     "only an AllToAll or AllGather starts asynchronously"},
    {"all_to_all_attrs",
     [](PlanSpec &s) {
       s = allToAllSpec();
       s.instrs[0].members.clear();
       s.instrs[0].attention = true;
     },
     "(AllToAll): attributes must be CollectiveAttrs, got AttentionAttrs"},
};

INSTANTIATE_TEST_SUITE_P(All, PlanSemantics, ::testing::ValuesIn(kCases),
                         [](const auto &info) {
                           return std::string(info.param.name);
                         });

} // namespace
