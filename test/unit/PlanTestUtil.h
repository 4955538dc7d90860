//===- PlanTestUtil.h - the plan tests' plan builder ------------*- C++ -*-===//
//
// Shared by the PlanTest*.cpp files: PlanSpec, which builds small plans with
// the FlatBuffers builders (y = silu(a + b) by default), the variants the
// tests start from, and loadError(), which loads and binds a plan and
// returns its error ("" when it binds).
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_TEST_UNIT_PLANTESTUTIL_H
#define FRESCO_TEST_UNIT_PLANTESTUTIL_H

#include "runtime/backends/cpu/CpuBackend.h"
#include "runtime/comm/Communicator.h"
#include "runtime/core/Error.h"
#include "runtime/core/Executor.h"
#include "runtime/core/Plan.h"
#include "runtime/core/PlanVersion.h"
#include "test/unit/Reference.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include <string>
#include <vector>

namespace fresco::plantest {

namespace fp = fresco::plan;

/// The f32 values of `t`, for the references.
inline ref::Vec floats(const HostTensor &t) {
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
  bool causal = false;           // with `attention`: AttentionAttrs.causal
  int64_t eosToken = -1;         // >= 0: attach EosPoolAttrs
  int64_t buckets = 0, maxDistance = 0; // > 0: RelativePositionBiasAttrs
  // Non-empty: PosEmbed2dAttrs (dim 8, base size 4) for the grid
  // {grid_h, grid_w}, then optionally {row_start, col_start, rows, cols}.
  std::vector<int64_t> posGrid;
  bool fp8 = false;         // with `activation`: LinearAttrs.fp8
  bool gate = false;        // with `activation`: LinearAttrs.gate
  int64_t ropeHeads = 0;    // > 0: attach RopeAttrs with this head count
  float ropeEpsilon = 0.0f; // with `ropeHeads`: RopeAttrs.epsilon
  // With `members`: CollectiveAttrs.dim, the Halo's rows and a Send/Recv tag.
  int64_t dim = 0, haloLo = 0, haloHi = 0;
  int32_t tag = 0;
  // > 0: attach GroupNormAttrs (epsilon 1e-6) with this many groups and
  // `statsMembers` (none when empty).
  int64_t groupNorm = 0;
  std::vector<int32_t> statsMembers;
  // GroupNormAttrs.valid_rows with `groupNorm`, CollectiveAttrs.valid_rows
  // with `members` (a Halo's).
  int64_t validRows = 0;
  // Non-empty: PatchCacheAttrs {cache, index, parts, dim}.
  std::vector<int64_t> patchCache;
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
  std::string weightComponent = "model"; // its folder under the weights
  std::vector<int64_t> weightShape = {4}, sliceOffsets = {0}, sliceSizes = {4};
  fp::DType weightDType = fp::DType::F32;
  fp::DType floatStorage = fp::DType::F32; // Plan.float_storage
  // A rank program for each of the numRanks ranks (all alike), instead of
  // rank 0's alone.
  bool programPerRank = false;

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
        attrs =
            fp::CreateAttentionAttrs(
                b, 1, 1.0f, i.ring.empty() ? 0 : b.CreateVector(i.ring),
                i.keyValid.empty() ? 0 : b.CreateVector(i.keyValid), i.causal)
                .Union();
        type = fp::OpAttrs::AttentionAttrs;
      } else if (i.eosToken >= 0) {
        attrs = fp::CreateEosPoolAttrs(b, i.eosToken, false).Union();
        type = fp::OpAttrs::EosPoolAttrs;
      } else if (i.buckets > 0) {
        attrs = fp::CreateRelativePositionBiasAttrs(b, i.buckets, i.maxDistance,
                                                    true)
                    .Union();
        type = fp::OpAttrs::RelativePositionBiasAttrs;
      } else if (!i.posGrid.empty()) {
        std::vector<int64_t> g = i.posGrid;
        g.resize(6, 0); // no window: the fields' defaults (a version-10 plan)
        attrs = fp::CreatePosEmbed2dAttrs(b, g[0], g[1], 8, 4.0, 1.0, g[2],
                                          g[3], g[4], g[5])
                    .Union();
        type = fp::OpAttrs::PosEmbed2dAttrs;
      } else if (i.axis >= 0) {
        attrs = fp::CreateAxisAttrs(b, i.axis, i.start).Union();
        type = fp::OpAttrs::AxisAttrs;
      } else if (i.activation >= 0) {
        attrs = fp::CreateLinearAttrs(b, fp::Activation(i.activation), i.fp8,
                                      /*residual=*/false, i.gate)
                    .Union();
        type = fp::OpAttrs::LinearAttrs;
      } else if (i.ropeHeads > 0) {
        attrs = fp::CreateRopeAttrs(b, i.ropeHeads, i.ropeEpsilon).Union();
        type = fp::OpAttrs::RopeAttrs;
      } else if (i.layerNorm >= 0) {
        attrs = fp::CreateLayerNormAttrs(b, 1e-6f, i.layerNorm == 1).Union();
        type = fp::OpAttrs::LayerNormAttrs;
      } else if (i.groupNorm > 0) {
        attrs = fp::CreateGroupNormAttrs(
                    b, i.groupNorm, 1e-6f,
                    i.statsMembers.empty() ? 0 : b.CreateVector(i.statsMembers),
                    i.validRows)
                    .Union();
        type = fp::OpAttrs::GroupNormAttrs;
      } else if (!i.patchCache.empty()) {
        std::vector<int64_t> c = i.patchCache;
        c.resize(4, 0);
        attrs = fp::CreatePatchCacheAttrs(b, c[0], c[1], c[2], c[3]).Union();
        type = fp::OpAttrs::PatchCacheAttrs;
      } else if (!i.members.empty()) {
        attrs =
            fp::CreateCollectiveAttrs(b, b.CreateVector(i.members), i.dim,
                                      i.splitDim, i.concatDim, i.peer, i.tag,
                                      i.async, i.haloLo, i.haloHi, i.validRows)
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
          b, b.CreateString(weightComponent), b.CreateString("w"), weightDType,
          b.CreateVector(weightShape), b.CreateVector(sliceOffsets),
          b.CreateVector(sliceSizes)));
    auto fnsV = b.CreateVector(fns);
    auto wsV = b.CreateVector(ws);
    std::vector<flatbuffers::Offset<fp::RankProgram>> ranks;
    for (int r = 0; r < (programPerRank ? numRanks : 1); ++r)
      ranks.push_back(fp::CreateRankProgram(b, r, fnsV, wsV, arena));
    fp::FinishPlanBuffer(b, fp::CreatePlan(b, version, b.CreateString("test"),
                                           numRanks, b.CreateVector(ranks), 0,
                                           0, 0, floatStorage));
    return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
  }
};

inline std::string loadError(const std::vector<uint8_t> &bytes) {
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

/// y = act(x w^T) for x [2, 3], w [3, 3]: values 0 = x, 1 = w, 2 = y.
inline PlanSpec linearSpec(fp::Activation act) {
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

/// bf16 storage: y [64, 32] = linear(x [64, 16], w [32, 16]) with w a plan
/// weight (component "model", name "w"), an FP8 GEMM when `fp8`; with
/// `shared`, also z = linear(x, w) in bf16, so that another instruction
/// reads w too. Values: 0 = x, 1 = w, 2 = y (, 3 = z).
inline PlanSpec bf16LinearSpec(bool fp8, bool shared = false) {
  PlanSpec s;
  s.floatStorage = fp::DType::BF16;
  s.values = {{fp::ValueKind::Arena, fp::DType::BF16, {64, 16}, 0},
              {fp::ValueKind::Weight, fp::DType::BF16, {32, 16}, 0, 0},
              {fp::ValueKind::Arena, fp::DType::BF16, {64, 32}, 2048}};
  InstrSpec lin{fp::OpCode::Linear, {0, 1}, {2}};
  lin.activation = int(fp::Activation::None);
  lin.fp8 = fp8;
  s.instrs = {lin};
  s.inputs = {0};
  s.inputNames = {"x"};
  s.outputs = {2};
  s.outputNames = {"y"};
  s.arena = 2048 + 4096;
  if (shared) {
    s.values.push_back({fp::ValueKind::Arena, fp::DType::BF16, {64, 32}, 6144});
    InstrSpec plain{fp::OpCode::Linear, {0, 1}, {3}};
    plain.activation = int(fp::Activation::None);
    s.instrs.push_back(plain);
    s.outputs = {2, 3};
    s.outputNames = {"y", "z"};
    s.arena = 6144 + 4096;
  }
  s.withWeight = true;
  s.weightDType = fp::DType::BF16;
  s.weightShape = s.sliceSizes = {32, 16};
  s.sliceOffsets = {0, 0};
  return s;
}

/// y = layer_norm(x) for x [2, 3, 5] (B, T, D), with weight and bias [5]
/// when `affine`, then modulated by shift and scale [2, 5] when `modulated`:
/// values 0 = x, then weight, bias, shift, scale as present, then y.
inline PlanSpec layerNormSpec(bool affine, bool modulated) {
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

/// Rope of x [1, 3, 8] (2 heads of 4) by a table [3, 2, 2], with a fused
/// RMS norm weight [normWidth] when normWidth > 0, epsilon `eps`.
inline PlanSpec ropeSpec(int64_t normWidth, float eps) {
  PlanSpec s;
  s.values = {{fp::ValueKind::Arena, fp::DType::F32, {1, 3, 8}, 0},
              {fp::ValueKind::Arena, fp::DType::F32, {3, 2, 2}, 128}};
  s.inputNames = {"x", "table"};
  if (normWidth > 0) {
    s.values.push_back(
        {fp::ValueKind::Arena, fp::DType::F32, {normWidth}, 192});
    s.inputNames.push_back("norm_weight");
  }
  const int32_t y = int32_t(s.values.size());
  s.values.push_back({fp::ValueKind::Arena, fp::DType::F32, {1, 3, 8}, 256});
  s.arena = 384;
  s.inputs.clear();
  for (int32_t i = 0; i < y; ++i)
    s.inputs.push_back(i);
  s.outputs = {y};
  s.instrs = {{fp::OpCode::Rope, s.inputs, {y}}};
  s.instrs[0].ropeHeads = 2;
  s.instrs[0].ropeEpsilon = eps;
  return s;
}

/// An AllToAll over members {0, 1} of x [2, 4, 6] -> y [2, 8, 3]: the
/// sequence-to-heads exchange of Ulysses (split 2, concat 1).
inline PlanSpec allToAllSpec() {
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

/// o = attention(q [1, 2, 4], k and v [1, 6, 4]) with `keyValid`.
inline PlanSpec keyValidSpec(std::vector<int64_t> keyValid,
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

/// keyValidSpec's attention (q [1, 2, 4], k and v [1, 6, 4], one head)
/// with a score bias of `biasShape` as its 4th operand (none when empty).
inline PlanSpec maskedSpec(std::vector<int64_t> biasShape, bool causal) {
  PlanSpec s = keyValidSpec({});
  s.instrs[0].causal = causal;
  if (!biasShape.empty()) {
    s.values.push_back({fp::ValueKind::Arena, fp::DType::F32, biasShape, 256});
    s.arena = 256 + 4 * 64;
    s.instrs[0].operands.push_back(4);
    s.inputs.push_back(4);
    s.inputNames.push_back("bias");
  }
  return s;
}

/// y [2, 4] = EosPool(x [2, 3, 4], ids of `idsShape` and `idsType`).
inline PlanSpec eosPoolSpec(std::vector<int64_t> idsShape,
                            fp::DType idsType = fp::DType::I64) {
  PlanSpec s;
  s.arena = 4 * 24 + 8 * 8 + 4 * 8;
  s.values = {{fp::ValueKind::Arena, fp::DType::F32, {2, 3, 4}, 0},
              {fp::ValueKind::Arena, idsType, idsShape, 96},
              {fp::ValueKind::Arena, fp::DType::F32, {2, 4}, 160}};
  s.instrs = {{fp::OpCode::EosPool, {0, 1}, {2}}};
  s.instrs[0].eosToken = 7;
  s.inputs = {0, 1};
  s.inputNames = {"x", "ids"};
  s.outputs = {2};
  return s;
}

/// y [2, 5, 5] = RelativePositionBias(table of `tableShape`).
inline PlanSpec relativeBiasSpec(std::vector<int64_t> tableShape,
                                 int64_t buckets, int64_t maxDistance) {
  PlanSpec s;
  s.arena = 4 * 64 + 4 * 50;
  s.values = {{fp::ValueKind::Arena, fp::DType::F32, tableShape, 0},
              {fp::ValueKind::Arena, fp::DType::F32, {2, 5, 5}, 256}};
  s.instrs = {{fp::OpCode::RelativePositionBias, {0}, {1}}};
  s.instrs[0].buckets = buckets;
  s.instrs[0].maxDistance = maxDistance;
  s.inputs = {0};
  s.inputNames = {"table"};
  s.outputs = {1};
  return s;
}

/// y [1, tokens, 8] = PosEmbed2d with `posGrid` (InstrSpec::posGrid); no
/// inputs.
inline PlanSpec posEmbedSpec(std::vector<int64_t> posGrid, int64_t tokens) {
  PlanSpec s;
  s.arena = uint64_t(4 * tokens * 8);
  s.values = {{fp::ValueKind::Arena, fp::DType::F32, {1, tokens, 8}, 0}};
  s.instrs = {{fp::OpCode::PosEmbed2d, {}, {0}}};
  s.instrs[0].posGrid = std::move(posGrid);
  s.inputs = {};
  s.inputNames = {};
  s.outputs = {0};
  return s;
}

/// c [1, 4, 4] = Concat(a [1, 2, 4] at 0, b [1, 2, 4] at `bAt`) along
/// axis 1, at `cAt`; s [1, 2, 4] = Slice(c) of its last 2 rows, at `sAt`.
/// Outputs c and s. In place where b sits 32 bytes into c and s over b.
inline PlanSpec inPlaceSpec(uint64_t bAt, uint64_t cAt, uint64_t sAt) {
  PlanSpec s;
  s.arena = 4 * 64;
  s.values = {{fp::ValueKind::Arena, fp::DType::F32, {1, 2, 4}, 0},
              {fp::ValueKind::Arena, fp::DType::F32, {1, 2, 4}, bAt},
              {fp::ValueKind::Arena, fp::DType::F32, {1, 4, 4}, cAt},
              {fp::ValueKind::Arena, fp::DType::F32, {1, 2, 4}, sAt}};
  s.instrs = {{fp::OpCode::Concat, {0, 1}, {2}}, {fp::OpCode::Slice, {2}, {3}}};
  s.instrs[0].axis = 1;
  s.instrs[1].axis = 1;
  s.instrs[1].start = 2;
  s.inputs = {0, 1};
  s.inputNames = {"a", "b"};
  s.outputs = {2, 3};
  s.outputNames = {"c", "s"};
  return s;
}

/// y [2, 7] = Pad(x [2, 3]) along axis 1 from `start`.
inline PlanSpec padSpec(int64_t start) {
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

/// y = Halo(x) for x [1, 2, 5, 3] along dimension 2 over members {0, 1},
/// the rank program of rank 0, or with `bothRanks` of ranks 0 and 1.
inline PlanSpec haloSpec(int64_t lo, int64_t hi, bool bothRanks = false) {
  PlanSpec s;
  s.numRanks = bothRanks ? 2 : 1;
  s.programPerRank = bothRanks;
  s.arena = 4 * 72; // room for a wrong, larger result
  s.values = {{fp::ValueKind::Arena, fp::DType::F32, {1, 2, 5, 3}, 0},
              {fp::ValueKind::Arena, fp::DType::F32, {1, 2, 5, 3}, 4 * 30}};
  s.instrs = {{fp::OpCode::Halo, {0}, {1}, false, -1, {0, 1}}};
  s.instrs[0].dim = 2;
  s.instrs[0].haloLo = lo;
  s.instrs[0].haloHi = hi;
  s.inputs = {0};
  s.inputNames = {"x"};
  s.outputs = {1};
  return s;
}

/// y [4, 3] = StaleGather(x [2, 3]) along dimension 0 over members {0, 1},
/// the rank program of rank 0.
inline PlanSpec staleGatherSpec() {
  PlanSpec s;
  s.arena = 4 * 36; // room for a wrong, larger result
  s.values = {{fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 0},
              {fp::ValueKind::Arena, fp::DType::F32, {4, 3}, 4 * 6}};
  s.instrs = {{fp::OpCode::StaleGather, {0}, {1}, false, -1, {0, 1}}};
  s.inputs = {0};
  s.inputNames = {"x"};
  s.outputs = {1};
  return s;
}

/// y [2, 3, 4] = ReduceScatter(x [2, 6, 4]) along dimension 1 over members
/// {0, 1}, the rank program of rank 0.
inline PlanSpec reduceScatterSpec() {
  PlanSpec s;
  s.arena = 4 * 96; // room for a wrong, larger result
  s.values = {{fp::ValueKind::Arena, fp::DType::F32, {2, 6, 4}, 0},
              {fp::ValueKind::Arena, fp::DType::F32, {2, 3, 4}, 4 * 48}};
  s.instrs = {{fp::OpCode::ReduceScatter, {0}, {1}, false, -1, {0, 1}}};
  s.instrs[0].dim = 1;
  s.inputs = {0};
  s.inputNames = {"x"};
  s.outputs = {1};
  return s;
}

/// PipeFusion's cache: w [4, 3] (value 0) written whole into cache 0 (y1,
/// value 1), then b [2, 3] (value 2) written as its block 1 of 2 along
/// dimension 0 (y2, value 3). `patchedOnly`: the second instruction alone
/// (values 2 and 3 as 0 and 1).
inline PlanSpec patchCacheSpec(bool patchedOnly = false) {
  PlanSpec s;
  if (patchedOnly) {
    s.arena = 4 * 18;
    s.values = {{fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 0},
                {fp::ValueKind::Arena, fp::DType::F32, {4, 3}, 4 * 6}};
    s.instrs = {{fp::OpCode::PatchCache, {0}, {1}}};
    s.instrs[0].patchCache = {0, 1, 2, 0};
    s.inputs = {0};
    s.inputNames = {"b"};
    s.outputs = {1};
    return s;
  }
  s.values = {{fp::ValueKind::Arena, fp::DType::F32, {4, 3}, 0},
              {fp::ValueKind::Arena, fp::DType::F32, {4, 3}, 4 * 12},
              {fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 4 * 24},
              {fp::ValueKind::Arena, fp::DType::F32, {4, 3}, 4 * 30}};
  s.arena = 4 * 42;
  s.instrs = {{fp::OpCode::PatchCache, {0}, {1}},
              {fp::OpCode::PatchCache, {2}, {3}}};
  s.instrs[0].patchCache = {0, 0, 1, 0};
  s.instrs[1].patchCache = {0, 1, 2, 0};
  s.inputs = {0, 2};
  s.inputNames = {"w", "b"};
  s.outputs = {1, 3};
  s.outputNames = {"y1", "y2"};
  return s;
}

/// y = GroupNorm(x [1, 4, 2, 3], 2 groups) with `stats` (none when empty),
/// the rank program of rank 0, or with `bothRanks` of ranks 0 and 1.
inline PlanSpec groupNormSpec(std::vector<int32_t> stats,
                              bool bothRanks = false) {
  PlanSpec s;
  s.numRanks = bothRanks ? 2 : 1;
  s.programPerRank = bothRanks;
  s.arena = 2 * 4 * 24;
  s.values = {{fp::ValueKind::Arena, fp::DType::F32, {1, 4, 2, 3}, 0},
              {fp::ValueKind::Arena, fp::DType::F32, {1, 4, 2, 3}, 4 * 24}};
  s.instrs = {{fp::OpCode::GroupNorm, {0}, {1}}};
  s.instrs[0].groupNorm = 2;
  s.instrs[0].statsMembers = std::move(stats);
  s.inputs = {0};
  s.inputNames = {"x"};
  s.outputs = {1};
  return s;
}

} // namespace fresco::plantest

#endif // FRESCO_TEST_UNIT_PLANTESTUTIL_H
