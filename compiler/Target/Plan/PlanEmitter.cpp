//===- PlanEmitter.cpp - MLIR -> FlatBuffers plan -------------------------===//
#include "compiler/Target/Plan/PlanEmitter.h"
#include "compiler/Target/Plan/PipelineEmitter.h"
#include "dialects/Fresco/IR/FloatStorage.h"
#include "dialects/Fresco/IR/FrescoOps.h"
#include "runtime/core/PlanVersion.h"
#include "runtime/schema/OpTable.h"
#include "runtime/schema/plan_generated.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Shard/IR/ShardOps.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/ADT/TypeSwitch.h"

#include <map>
#include <optional>
#include <tuple>

using namespace mlir;
using namespace mlir::fresco;
namespace fp = ::fresco::plan;

namespace {

/// The plan dtype of a module's float storage ("f32", "bf16", "f16").
fp::DType storageDType(StringRef storage) {
  return storage == "bf16"  ? fp::DType::BF16
         : storage == "f16" ? fp::DType::F16
                            : fp::DType::F32;
}

std::optional<fp::DType> toPlanDType(Type t) {
  if (t.isF32())
    return fp::DType::F32;
  if (t.isInteger(64))
    return fp::DType::I64;
  if (t.isInteger(32))
    return fp::DType::I32;
  return std::nullopt;
}

/// Weight table shared by all functions of one rank.
struct WeightTable {
  struct Entry {
    std::string component, name;
    SmallVector<int64_t> fullShape, offsets, sizes;
  };
  std::vector<Entry> entries;
  std::map<std::tuple<std::string, std::string, SmallVector<int64_t>>, int>
      index;

  int get(StringRef component, StringRef name, ArrayRef<int64_t> fullShape,
          ArrayRef<int64_t> offsets, ArrayRef<int64_t> sizes) {
    auto key = std::make_tuple(component.str(), name.str(),
                               SmallVector<int64_t>(offsets));
    auto it = index.find(key);
    if (it != index.end())
      return it->second;
    int i = entries.size();
    entries.push_back(
        {component.str(), name.str(), SmallVector<int64_t>(fullShape),
         SmallVector<int64_t>(offsets), SmallVector<int64_t>(sizes)});
    index[key] = i;
    return i;
  }
};

/// Where the function being emitted runs: its world rank, and its
/// coordinates on the grid when the function is partitioned over it.
class FunctionEmitter {
public:
  FunctionEmitter(flatbuffers::FlatBufferBuilder &fbb, WeightTable &weights,
                  func::FuncOp fn, GemmMode gemm)
      : fbb(fbb), weights(weights), fn(fn), gemm(gemm) {}

  FailureOr<flatbuffers::Offset<fp::Function>> emit();

private:
  struct ValueRec {
    fp::ValueKind kind;
    fp::DType dtype;
    SmallVector<int64_t> shape;
    uint64_t offset = 0;
    int weight = -1;
  };

  FailureOr<int> addArena(Value v, Operation *where, uint64_t offset);
  LogicalResult emitOp(Operation &op);
  int lookup(Value v) const { return ids.lookup(v); }
  void addInstr(fp::OpCode code, Operation &op,
                fp::OpAttrs attrsType = fp::OpAttrs::NONE,
                flatbuffers::Offset<void> attrs = 0);
  /// Appends an instruction after checking it against its row of Ops.def
  /// (what the runtime's loader checks first); a mismatch is an emitter
  /// bug, reported on `op` and remembered in `encodingFailed`.
  void pushInstr(fp::OpCode code, Operation &op,
                 const std::vector<int32_t> &operands,
                 const std::vector<int32_t> &results, fp::OpAttrs attrsType,
                 flatbuffers::Offset<void> attrs);

  flatbuffers::FlatBufferBuilder &fbb;
  WeightTable &weights;
  func::FuncOp fn;
  GemmMode gemm;
  std::vector<ValueRec> values;
  llvm::DenseMap<Value, int> ids;
  std::vector<flatbuffers::Offset<fp::Instr>> instrs;
  bool encodingFailed = false;
  // Under bf16/f16 storage: the float values that stay f32 (timesteps).
  llvm::DenseSet<Value> keptF32;
  fp::DType floatDType = fp::DType::F32;
};

FailureOr<int> FunctionEmitter::addArena(Value v, Operation *where,
                                         uint64_t offset) {
  auto t = cast<RankedTensorType>(v.getType());
  auto dt = toPlanDType(t.getElementType());
  if (!dt)
    return where->emitError("element type ")
           << t.getElementType()
           << " is not supported by the plan yet (f32, i64, i32)";
  // Floats are stored in the module's storage, but for those kept f32.
  if (*dt == fp::DType::F32 && !keptF32.contains(v))
    dt = floatDType;
  int id = values.size();
  values.push_back({fp::ValueKind::Arena, *dt,
                    SmallVector<int64_t>(t.getShape()), offset, -1});
  ids[v] = id;
  return id;
}

void FunctionEmitter::addInstr(fp::OpCode code, Operation &op,
                               fp::OpAttrs attrsType,
                               flatbuffers::Offset<void> attrs) {
  std::vector<int32_t> operands, results;
  for (Value v : op.getOperands())
    operands.push_back(lookup(v));
  for (Value v : op.getResults())
    results.push_back(lookup(v));
  pushInstr(code, op, operands, results, attrsType, attrs);
}

void FunctionEmitter::pushInstr(fp::OpCode code, Operation &op,
                                const std::vector<int32_t> &operands,
                                const std::vector<int32_t> &results,
                                fp::OpAttrs attrsType,
                                flatbuffers::Offset<void> attrs) {
  const ::fresco::OpInfo &row = *::fresco::findOpInfo(code);
  auto within = [](size_t n, uint32_t lo, uint32_t hi) {
    return n >= lo && n <= hi;
  };
  bool attrsOk =
      attrsType == row.attrs || (attrsType == fp::OpAttrs::NONE &&
                                 row.attrsUse != ::fresco::AttrsUse::Required);
  if (!within(operands.size(), row.minOperands, row.maxOperands) ||
      !within(results.size(), row.minResults, row.maxResults) || !attrsOk) {
    op.emitError("internal error: the plan instruction ")
        << row.name << " with " << operands.size() << " operands, "
        << results.size() << " results and attributes "
        << fp::EnumNameOpAttrs(attrsType)
        << " does not match its row in runtime/schema/Ops.def";
    encodingFailed = true;
  }
  instrs.push_back(fp::CreateInstr(fbb, code, fbb.CreateVector(operands),
                                   fbb.CreateVector(results), attrsType,
                                   attrs));
}

LogicalResult FunctionEmitter::emitOp(Operation &op) {
  // Everything rank-dependent was resolved per rank before emission.
  if (op.hasAttr(FrescoDialect::kStageAttrName) ||
      isa<StageTransferOp, StageBroadcastOp, shard::AllSliceOp>(op) ||
      op.hasAttr(FrescoDialect::kShardingAttrName))
    return op.emitError("is not specialised for one rank: run "
                        "fresco-specialize-ranks before emitting a plan");
  if (auto param = dyn_cast<ParamOp>(op)) {
    StringRef component = fn.getSymName();
    if (auto c =
            fn->getAttrOfType<StringAttr>(FrescoDialect::kComponentAttrName))
      component = c.getValue();
    if (std::optional<StringRef> own = param.getComponent())
      component = *own;
    if (!param.getType().getElementType().isF32())
      return param.emitError("parameters must be declared f32 (the runtime "
                             "converts f16/bf16 checkpoints at load)");
    // The slice [offsets, offsets + shape) of the checkpoint tensor, zero
    // past its end (checkpoint_shape: fresco-pad-uneven).
    ArrayRef<int64_t> local = param.getType().getShape();
    SmallVector<int64_t> full(local), offsets(local.size(), 0);
    if (std::optional<ArrayRef<int64_t>> ckpt = param.getCheckpointShape())
      full.assign(ckpt->begin(), ckpt->end());
    if (std::optional<ArrayRef<int64_t>> off = param.getOffsets())
      offsets.assign(off->begin(), off->end());
    if (full.size() != local.size() || offsets.size() != local.size())
      return param.emitError("checkpoint_shape and offsets need one entry "
                             "per dimension");
    int w = weights.get(component, param.getName(), full, offsets, local);
    ids[param.getResult()] = values.size();
    values.push_back(
        {fp::ValueKind::Weight, floatDType, SmallVector<int64_t>(local), 0, w});
    return success();
  }
  if (auto reshape = dyn_cast<ReshapeOp>(op)) {
    // A view: same storage, new shape, no instruction.
    ValueRec rec = values[lookup(reshape.getInput())];
    rec.shape.assign(reshape.getType().getShape().begin(),
                     reshape.getType().getShape().end());
    ids[reshape.getResult()] = values.size();
    values.push_back(rec);
    return success();
  }

  if (auto wait = dyn_cast<WaitOp>(op)) {
    // The collective's result, complete: the same plan value, read after
    // the Wait instruction.
    int id = lookup(wait.getInput());
    pushInstr(fp::OpCode::Wait, op, {id}, {}, fp::OpAttrs::NONE, 0);
    ids[wait.getResult()] = id;
    return success();
  }

  if (auto send = dyn_cast<SendOp>(op)) {
    // No result: a pipeline stage's value, passed on.
    auto a = fp::CreateCollectiveAttrs(
        fbb,
        fbb.CreateVector(send.getMembers().data(), send.getMembers().size()), 0,
        0, 0, int32_t(send.getPeer()), send.getTag());
    pushInstr(fp::OpCode::Send, op, {lookup(send.getInput())}, {},
              fp::OpAttrs::CollectiveAttrs, a.Union());
    return success();
  }

  auto offsetAttr =
      op.getAttrOfType<IntegerAttr>(FrescoDialect::kOffsetAttrName);
  if (op.getNumResults() != 1 || !offsetAttr)
    return op.emitError("has no arena offset: run fresco-assign-buffers "
                        "before emitting a plan");
  if (failed(addArena(op.getResult(0), &op, offsetAttr.getInt())))
    return failure();

  using fp::OpCode;
  // A group of world ranks, written per rank by fresco-specialize-ranks.
  auto members = [&](StringRef name) -> FailureOr<std::vector<int32_t>> {
    auto a = op.getAttrOfType<DenseI32ArrayAttr>(name);
    if (!a)
      return op.emitError("has no ")
             << name << ": run fresco-specialize-ranks before emitting a plan";
    return std::vector<int32_t>(a.asArrayRef().begin(), a.asArrayRef().end());
  };
  auto pointToPoint = [&](OpCode code, ArrayRef<int32_t> group, int64_t peer,
                          std::vector<int32_t> operands,
                          std::vector<int32_t> results, int32_t tag) {
    auto a = fp::CreateCollectiveAttrs(
        fbb, fbb.CreateVector(group.data(), group.size()), 0, 0, 0,
        int32_t(peer), tag);
    pushInstr(code, op, operands, results, fp::OpAttrs::CollectiveAttrs,
              a.Union());
    return success();
  };
  auto collective = [&](OpCode code, int64_t dim, int64_t splitDim = 0,
                        int64_t concatDim = 0) -> LogicalResult {
    FailureOr<std::vector<int32_t>> group =
        members(FrescoDialect::kMembersAttrName);
    if (failed(group))
      return failure();
    // Started here, completed by its Wait (fresco-place-waits).
    const bool async = op.hasAttr(FrescoDialect::kAsyncAttrName);
    auto a = fp::CreateCollectiveAttrs(fbb, fbb.CreateVector(*group), dim,
                                       splitDim, concatDim, 0, 0, async);
    addInstr(code, op, fp::OpAttrs::CollectiveAttrs, a.Union());
    return success();
  };
  return llvm::TypeSwitch<Operation *, LogicalResult>(&op)
      .Case([&](shard::AllReduceOp r) -> LogicalResult {
        if (r.getReduction() != shard::ReductionKind::Sum)
          return r.emitError("only sum all_reduce is supported");
        return collective(OpCode::AllReduce, 0);
      })
      .Case([&](shard::AllGatherOp g) {
        return collective(OpCode::AllGather, g.getGatherAxis().getSExtValue());
      })
      .Case([&](shard::ReduceScatterOp r) -> LogicalResult {
        if (r.getReduction() != shard::ReductionKind::Sum)
          return r.emitError("only sum reduce_scatter is supported");
        return collective(OpCode::ReduceScatter,
                          r.getScatterAxis().getSExtValue());
      })
      .Case([&](shard::AllToAllOp t) {
        return collective(OpCode::AllToAll, 0, t.getSplitAxis().getSExtValue(),
                          t.getConcatAxis().getSExtValue());
      })
      .Case([&](shard::UpdateHaloOp h) -> LogicalResult {
        // One split dimension (fresco-specialize-ranks checked it), its
        // halo sizes the only pair.
        int64_t dim = -1;
        for (auto [d, axes] : llvm::enumerate(h.getSplitAxes().getAxes()))
          if (!axes.empty())
            dim = int64_t(d);
        ArrayRef<int64_t> sizes = h.getStaticHaloSizes();
        if (dim < 0 || sizes.size() != 2 || !h.getHaloSizes().empty())
          return h.emitError("a halo exchange needs one split dimension and "
                             "its two static halo sizes");
        FailureOr<std::vector<int32_t>> group =
            members(FrescoDialect::kMembersAttrName);
        if (failed(group))
          return failure();
        int64_t valid = 0; // padded rows to zero (fresco-pad-uneven)
        if (auto v = h->getAttrOfType<IntegerAttr>(
                FrescoDialect::kValidRowsAttrName)) {
          if (dim != 2)
            return h.emitError("valid_rows on a halo exchange along "
                               "dimension ")
                   << dim << "; padded rows are dimension 2";
          valid = v.getInt();
        }
        auto a =
            fp::CreateCollectiveAttrs(fbb, fbb.CreateVector(*group), dim, 0, 0,
                                      0, 0, false, sizes[0], sizes[1], valid);
        addInstr(OpCode::Halo, op, fp::OpAttrs::CollectiveAttrs, a.Union());
        return success();
      })
      .Case([&](StaleGatherOp g) -> LogicalResult {
        FailureOr<std::vector<int32_t>> group =
            members(FrescoDialect::kMembersAttrName);
        if (failed(group))
          return failure();
        int64_t dim = g.getDim();
        if (g.getResult().getType().getDimSize(dim) !=
            g.getInput().getType().getDimSize(dim) * int64_t(group->size()))
          return g.emitError("a stale gather over ")
                 << group->size() << " ranks must multiply dimension " << dim
                 << " by as many";
        return collective(OpCode::StaleGather, dim);
      })
      .Case([&](PatchCacheOp c) -> LogicalResult {
        auto a = fp::CreatePatchCacheAttrs(fbb, c.getCache(), c.getIndex(),
                                           c.getParts(), c.getDim());
        addInstr(OpCode::PatchCache, op, fp::OpAttrs::PatchCacheAttrs,
                 a.Union());
        return success();
      })
      .Case([&](RecvOp r) {
        return pointToPoint(OpCode::Recv, r.getMembers(), r.getPeer(), {},
                            {lookup(r.getResult())}, r.getTag());
      })
      .Case([&](BroadcastOp bc) {
        std::vector<int32_t> operands;
        if (bc.getInput())
          operands.push_back(lookup(bc.getInput()));
        return pointToPoint(OpCode::Broadcast, bc.getMembers(), bc.getRoot(),
                            std::move(operands), {lookup(bc.getResult())}, 0);
      })
      .Case([&](LinearOp l) -> LogicalResult {
        std::optional<StringRef> act = l.getActivation();
        const bool fp8 = gemm == GemmMode::Fp8 && takesFp8(l);
        const bool residual = l.getResidual() != nullptr;
        const bool gate = l.getGate() != nullptr;
        if (!act && !fp8 && !residual && !gate) {
          addInstr(OpCode::Linear, op);
          return success();
        }
        auto kind = llvm::StringSwitch<std::optional<fp::Activation>>(
                        act ? *act : "none")
                        .Case("none", fp::Activation::None)
                        .Case("gelu_tanh", fp::Activation::GeluTanh)
                        .Case("gelu", fp::Activation::GeluErf)
                        .Case("silu", fp::Activation::Silu)
                        .Default(std::nullopt);
        if (!kind) // the verifier rejects it; keep the emitter total
          return l.emitError("unknown linear activation \"") << *act << "\"";
        auto a = fp::CreateLinearAttrs(fbb, *kind, fp8, residual, gate);
        addInstr(OpCode::Linear, op, fp::OpAttrs::LinearAttrs, a.Union());
        return success();
      })
      .Case([&](Conv2dOp c) -> LogicalResult {
        if (c.getValidRowsAttr())
          return c.emitError("a convolution over padded rows (valid_rows) "
                             "that no halo exchange zeroes: the runtime's "
                             "convolution cannot skip them (fresco-pad-uneven "
                             "pads rows only for a split of them)");
        auto a =
            fp::CreateConv2dAttrs(fbb, c.getStrides()[0], c.getStrides()[1],
                                  c.getPadding()[0], c.getPadding()[1]);
        addInstr(OpCode::Conv2d, op, fp::OpAttrs::Conv2dAttrs, a.Union());
        return success();
      })
      .Case([&](LayerNormOp n) {
        // Operands in op order: x, [weight, bias], [shift, scale]; the flag
        // tells the two 3-operand forms apart.
        auto a = fp::CreateLayerNormAttrs(
            fbb, float(n.getEpsilon().convertToDouble()),
            !n.getModulation().empty());
        addInstr(OpCode::LayerNorm, op, fp::OpAttrs::LayerNormAttrs, a.Union());
        return success();
      })
      .Case([&](RmsNormOp n) {
        // x [, weight].
        auto a = fp::CreateRmsNormAttrs(
            fbb, float(n.getEpsilon().convertToDouble()));
        addInstr(OpCode::RmsNorm, op, fp::OpAttrs::RmsNormAttrs, a.Union());
        return success();
      })
      .Case([&](RopeTableOp t) {
        auto a =
            fp::CreateRopeTableAttrs(fbb, t.getTheta().convertToDouble(),
                                     fbb.CreateVector(t.getAxesDim().vec()));
        addInstr(OpCode::RopeTable, op, fp::OpAttrs::RopeTableAttrs, a.Union());
        return success();
      })
      .Case([&](RopeOp r) {
        // x, table [, norm weight]; epsilon only with the weight (0 absent).
        FloatAttr eps = r.getEpsilonAttr();
        auto a = fp::CreateRopeAttrs(
            fbb, r.getNumHeads(), eps ? float(eps.getValueAsDouble()) : 0.0f);
        addInstr(OpCode::Rope, op, fp::OpAttrs::RopeAttrs, a.Union());
        return success();
      })
      .Case([&](GroupNormOp n) -> LogicalResult {
        flatbuffers::Offset<flatbuffers::Vector<int32_t>> stats;
        if (n.getStatsAxesAttr()) {
          FailureOr<std::vector<int32_t>> group =
              members(FrescoDialect::kMembersAttrName);
          if (failed(group))
            return failure();
          stats = fbb.CreateVector(*group);
        }
        auto a = fp::CreateGroupNormAttrs(
            fbb, n.getNumGroups(), float(n.getEpsilon().convertToDouble()),
            stats, int64_t(n.getValidRows().value_or(0)));
        addInstr(OpCode::GroupNorm, op, fp::OpAttrs::GroupNormAttrs, a.Union());
        return success();
      })
      .Case([&](UpsampleNearestOp u) {
        auto a = fp::CreateUpsampleAttrs(fbb, u.getScale()[0], u.getScale()[1]);
        addInstr(OpCode::UpsampleNearest, op, fp::OpAttrs::UpsampleAttrs,
                 a.Union());
        return success();
      })
      .Case([&](ModulateOp) {
        addInstr(OpCode::Modulate, op);
        return success();
      })
      .Case([&](AttentionOp at) -> LogicalResult {
        flatbuffers::Offset<flatbuffers::Vector<int32_t>> ring;
        size_t rows = 1; // of key_valid: one per ring rank
        if (at.getRingAxesAttr()) {
          FailureOr<std::vector<int32_t>> group =
              members(FrescoDialect::kRingMembersAttrName);
          if (failed(group))
            return failure();
          ring = fbb.CreateVector(*group);
          rows = group->size();
        }
        flatbuffers::Offset<flatbuffers::Vector<int64_t>> keyValid;
        if (std::optional<ArrayRef<int64_t>> valid = at.getKeyValid()) {
          if (valid->size() % rows != 0)
            return at.emitError("key_valid has ")
                   << valid->size() << " entries, not a row for each of the "
                   << rows << " ring ranks";
          keyValid = fbb.CreateVector(valid->data(), valid->size());
        }
        auto a = fp::CreateAttentionAttrs(
            fbb, at.getNumHeads(), float(at.getScale().convertToDouble()), ring,
            keyValid, at.getCausal());
        addInstr(OpCode::Attention, op, fp::OpAttrs::AttentionAttrs, a.Union());
        return success();
      })
      .Case([&](GeluOp g) {
        auto a = fp::CreateGeluAttrs(fbb, g.getApproximate() == "tanh");
        addInstr(OpCode::Gelu, op, fp::OpAttrs::GeluAttrs, a.Union());
        return success();
      })
      .Case([&](SiluOp) {
        addInstr(OpCode::Silu, op);
        return success();
      })
      .Case([&](QuickGeluOp) {
        addInstr(OpCode::QuickGelu, op);
        return success();
      })
      .Case([&](AddOp) {
        addInstr(OpCode::Add, op);
        return success();
      })
      .Case([&](SubOp) {
        addInstr(OpCode::Sub, op);
        return success();
      })
      .Case([&](MulOp) {
        addInstr(OpCode::Mul, op);
        return success();
      })
      .Case([&](DivOp) {
        addInstr(OpCode::Div, op);
        return success();
      })
      .Case([&](MulAddOp) {
        addInstr(OpCode::MulAdd, op);
        return success();
      })
      .Case([&](TimestepEmbeddingOp t) -> LogicalResult {
        if (t.getTimesteps().getType().getElementType().isInteger(32))
          return t.emitError("i32 timesteps are not supported by the plan "
                             "yet: use i64 or f32");
        auto a = fp::CreateTimestepEmbeddingAttrs(
            fbb, t.getDim(), t.getFlipSinToCos(),
            float(t.getDownscaleFreqShift().convertToDouble()),
            float(t.getScale().convertToDouble()),
            float(t.getMaxPeriod().convertToDouble()));
        addInstr(OpCode::TimestepEmbedding, op,
                 fp::OpAttrs::TimestepEmbeddingAttrs, a.Union());
        return success();
      })
      .Case([&](EmbeddingOp e) -> LogicalResult {
        if (!e.getIds().getType().getElementType().isInteger(64))
          return e.emitError("embedding ids must be i64 in a plan");
        addInstr(OpCode::Embedding, op);
        return success();
      })
      .Case([&](EosPoolOp e) {
        auto a = fp::CreateEosPoolAttrs(fbb, e.getTokenId(), e.getArgmax());
        addInstr(OpCode::EosPool, op, fp::OpAttrs::EosPoolAttrs, a.Union());
        return success();
      })
      .Case([&](RelativePositionBiasOp r) {
        auto a = fp::CreateRelativePositionBiasAttrs(
            fbb, r.getNumBuckets(), r.getMaxDistance(), r.getBidirectional());
        addInstr(OpCode::RelativePositionBias, op,
                 fp::OpAttrs::RelativePositionBiasAttrs, a.Union());
        return success();
      })
      .Case([&](PosEmbed2dOp p) {
        auto a = fp::CreatePosEmbed2dAttrs(
            fbb, p.getGridH(), p.getGridW(), p.getDim(),
            p.getBaseSize().convertToDouble(),
            p.getInterpolationScale().convertToDouble(), p.getRowStart(),
            p.getColStart(), p.getRows(), p.getCols());
        addInstr(OpCode::PosEmbed2d, op, fp::OpAttrs::PosEmbed2dAttrs,
                 a.Union());
        return success();
      })
      .Case([&](TransposeOp t) {
        std::vector<int64_t> perm(t.getPermutation().begin(),
                                  t.getPermutation().end());
        auto a = fp::CreateTransposeAttrs(fbb, fbb.CreateVector(perm));
        addInstr(OpCode::Transpose, op, fp::OpAttrs::TransposeAttrs, a.Union());
        return success();
      })
      .Case([&](SliceOp s) {
        int64_t rank = s.getInput().getType().getRank();
        // I64Attr reads back unsigned: a negative axis counts from the end.
        int64_t axis = int64_t(s.getAxis());
        axis += axis < 0 ? rank : 0;
        auto a = fp::CreateAxisAttrs(fbb, axis, s.getStart());
        addInstr(OpCode::Slice, op, fp::OpAttrs::AxisAttrs, a.Union());
        return success();
      })
      .Case([&](PadOp p) {
        int64_t rank = p.getInput().getType().getRank();
        int64_t axis = int64_t(p.getAxis());
        axis += axis < 0 ? rank : 0;
        auto a = fp::CreateAxisAttrs(fbb, axis, p.getStart());
        addInstr(OpCode::Pad, op, fp::OpAttrs::AxisAttrs, a.Union());
        return success();
      })
      .Case([&](ConcatOp c) {
        int64_t rank = c.getType().getRank();
        int64_t axis = int64_t(c.getAxis());
        axis += axis < 0 ? rank : 0;
        auto a = fp::CreateAxisAttrs(fbb, axis, 0);
        addInstr(OpCode::Concat, op, fp::OpAttrs::AxisAttrs, a.Union());
        return success();
      })
      .Default([&](Operation *o) {
        return o->emitError("op is not supported by the plan emitter");
      });
}

std::string attrName(DictionaryAttr attrs, StringRef fallback) {
  if (attrs)
    if (auto s = attrs.getAs<StringAttr>(FrescoDialect::kNameAttrName))
      return s.getValue().str();
  return fallback.str();
}

FailureOr<flatbuffers::Offset<fp::Function>> FunctionEmitter::emit() {
  if (!fn.getBody().hasOneBlock())
    return fn.emitError("component functions must have a single block");
  FailureOr<llvm::DenseSet<Value>> kept = ::mlir::fresco::keptF32(fn);
  if (failed(kept))
    return failure();
  keptF32 = std::move(*kept);
  floatDType = storageDType(floatStorage(fn));
  Block &block = fn.getBody().front();
  std::vector<int32_t> inputs, outputs;
  std::vector<std::string> inputNames, outputNames;
  for (BlockArgument arg : block.getArguments()) {
    auto off = fn.getArgAttrOfType<IntegerAttr>(arg.getArgNumber(),
                                                FrescoDialect::kOffsetAttrName);
    if (!off)
      return fn.emitError("argument ")
             << arg.getArgNumber()
             << " has no arena offset: run fresco-assign-buffers first";
    auto id = addArena(arg, fn, off.getInt());
    if (failed(id))
      return failure();
    inputs.push_back(*id);
    inputNames.push_back(attrName(fn.getArgAttrDict(arg.getArgNumber()),
                                  "arg" + std::to_string(arg.getArgNumber())));
  }
  for (Operation &op : block) {
    if (auto ret = dyn_cast<func::ReturnOp>(op)) {
      for (auto [i, v] : llvm::enumerate(ret.getOperands())) {
        if (values[lookup(v)].kind != fp::ValueKind::Arena)
          return ret.emitError("returning a parameter directly is not "
                               "supported");
        outputs.push_back(lookup(v));
        outputNames.push_back(
            attrName(fn.getResultAttrDict(i), "out" + std::to_string(i)));
      }
      continue;
    }
    if (failed(emitOp(op)) || encodingFailed)
      return failure();
  }

  std::vector<flatbuffers::Offset<fp::Value>> vals;
  for (const ValueRec &r : values) {
    std::vector<int64_t> shape(r.shape.begin(), r.shape.end());
    vals.push_back(fp::CreateValue(
        fbb, r.kind, r.dtype, fbb.CreateVector(shape), r.offset, r.weight));
  }
  auto i64Attr = [&](StringRef name) -> uint64_t {
    if (auto a = fn->getAttrOfType<IntegerAttr>(name))
      return a.getInt();
    return 0;
  };
  return fp::CreateFunction(
      fbb, fbb.CreateString(fn.getSymName().str()), fbb.CreateVector(vals),
      fbb.CreateVector(instrs), fbb.CreateVector(inputs),
      fbb.CreateVectorOfStrings(inputNames), fbb.CreateVector(outputs),
      fbb.CreateVectorOfStrings(outputNames),
      i64Attr(FrescoDialect::kArenaBytesAttrName),
      i64Attr(FrescoDialect::kIntermediateBytesAttrName),
      int32_t(i64Attr(FrescoDialect::kMicrobatchesAttrName)));
}

} // namespace

LogicalResult mlir::fresco::emitPlan(ModuleOp module, std::vector<uint8_t> &out,
                                     int64_t worldSize, GemmMode gemm) {
  flatbuffers::FlatBufferBuilder fbb(1 << 16);
  SmallVector<int64_t> gridShape;
  std::vector<std::string> gridAxes;
  if (auto grid = module.lookupSymbol<shard::GridOp>("grid")) {
    gridShape.assign(grid.getShape().begin(), grid.getShape().end());
    if (auto names =
            module->getAttrOfType<ArrayAttr>(FrescoDialect::kGridAxesAttrName))
      for (Attribute a : names)
        gridAxes.push_back(cast<StringAttr>(a).str());
  }
  // One nested module per rank (fresco-specialize-ranks), in rank order.
  SmallVector<ModuleOp> rankModules(worldSize);
  for (auto m : module.getOps<ModuleOp>()) {
    auto r = m->getAttrOfType<IntegerAttr>(FrescoDialect::kRankAttrName);
    if (!r)
      continue;
    if (r.getInt() < 0 || r.getInt() >= worldSize || rankModules[r.getInt()])
      return m.emitError("rank ") << r.getInt() << " is outside the "
                                  << worldSize << " ranks or specialised twice";
    rankModules[r.getInt()] = m;
  }
  for (auto [r, m] : llvm::enumerate(rankModules))
    if (!m)
      return module.emitError("has no program for rank ")
             << r << ": run fresco-specialize-ranks (ranks=" << worldSize
             << ") before emitting a plan";
  if (!module.getOps<func::FuncOp>().empty())
    return module.emitError("has functions outside the per-rank modules: run "
                            "fresco-specialize-ranks before emitting a plan");

  // The ranks each function runs on, for the Pipeline table.
  llvm::StringMap<SmallVector<int64_t>> ranksOfName;
  bool anyFunction = false;
  std::vector<flatbuffers::Offset<fp::RankProgram>> ranks;
  for (auto [r, rankModule] : llvm::enumerate(rankModules)) {
    WeightTable weights;
    std::vector<flatbuffers::Offset<fp::Function>> functions;
    uint64_t arena = 0;
    for (func::FuncOp fn : rankModule.getOps<func::FuncOp>()) {
      if (fn.isExternal() || fn.isPrivate())
        continue;
      anyFunction = true;
      ranksOfName[fn.getSymName()].push_back(int64_t(r));
      FunctionEmitter emitter(fbb, weights, fn, gemm);
      auto f = emitter.emit();
      if (failed(f))
        return failure();
      functions.push_back(*f);
      if (auto a = fn->getAttrOfType<IntegerAttr>(
              FrescoDialect::kArenaBytesAttrName))
        arena = std::max<uint64_t>(arena, a.getInt());
    }
    std::vector<flatbuffers::Offset<fp::WeightSlice>> slices;
    for (const auto &e : weights.entries) {
      std::vector<int64_t> full(e.fullShape.begin(), e.fullShape.end());
      std::vector<int64_t> offsets(e.offsets.begin(), e.offsets.end());
      std::vector<int64_t> sizes(e.sizes.begin(), e.sizes.end());
      slices.push_back(fp::CreateWeightSlice(
          fbb, fbb.CreateString(e.component), fbb.CreateString(e.name),
          storageDType(floatStorage(module)), fbb.CreateVector(full),
          fbb.CreateVector(offsets), fbb.CreateVector(sizes)));
    }
    ranks.push_back(fp::CreateRankProgram(fbb, int32_t(r),
                                          fbb.CreateVector(functions),
                                          fbb.CreateVector(slices), arena));
  }
  if (!anyFunction)
    return module.emitError("the module has no public function to compile");
  auto ranksOf = [&](StringRef name) -> std::optional<SmallVector<int64_t>> {
    auto it = ranksOfName.find(name);
    if (it == ranksOfName.end())
      return std::nullopt;
    return it->second;
  };
  auto pipeline = emitPipeline(fbb, module, ranksOf);
  if (failed(pipeline))
    return failure();
  std::vector<int64_t> shape(gridShape.begin(), gridShape.end());
  auto plan = fp::CreatePlan(
      fbb, ::fresco::kPlanVersion, fbb.CreateString("fresco-compile"),
      int32_t(worldSize), fbb.CreateVector(ranks), *pipeline,
      fbb.CreateVector(shape), fbb.CreateVectorOfStrings(gridAxes),
      storageDType(floatStorage(module)));
  fp::FinishPlanBuffer(fbb, plan);
  out.assign(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
  return success();
}
