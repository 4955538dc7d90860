//===- InstrWork.cpp - What one plan instruction computes and moves -------===//
#include "planner/InstrWork.h"

#include "runtime/core/Executor.h"

#include <cmath>

namespace fresco::planner {
namespace {

std::vector<int64_t> shapeOf(const plan::Value &v) {
  return {v.shape()->begin(), v.shape()->end()};
}

double elements(const plan::Value &v) {
  double n = 1;
  for (int64_t d : *v.shape())
    n *= double(d);
  return n;
}

std::string dims(const plan::Value &v) {
  std::string s;
  for (flatbuffers::uoffset_t i = 0; i < v.shape()->size(); ++i)
    s += (i ? "x" : "") + std::to_string(v.shape()->Get(i));
  return s.empty() ? "scalar" : s;
}

/// The share of a Slice's or Concat's result that already sits where its
/// operands are (fresco-assign-buffers placed them so, by plan offsets):
/// the runtime skips those copies. 1 for a window of the input.
double inPlaceShare(const plan::Function &f, const plan::Instr &in) {
  const plan::AxisAttrs *a = in.attrs_as_AxisAttrs();
  if (!a || in.results()->size() != 1)
    return 0;
  const plan::Value &y = *f.values()->Get(in.results()->Get(0));
  const int64_t es = int64_t(dtypeSize(DType(y.dtype())));
  auto arena = [](const plan::Value &v) {
    return v.kind() == plan::ValueKind::Arena;
  };
  // Offsets compared exactly, as the runtime compares pointers.
  auto at = [](const plan::Value &v, int64_t bytes) {
    return v.kind() == plan::ValueKind::Arena ? int64_t(v.offset()) + bytes
                                              : int64_t(-1);
  };
  int64_t outer, inner;
  if (in.op() == plan::OpCode::Slice) {
    const plan::Value &x = *f.values()->Get(in.operands()->Get(0));
    rowsAround(*x.shape(), a->axis(), outer, inner);
    return outer == 1 && arena(y) && at(y, 0) == at(x, a->start() * inner * es)
               ? 1
               : 0;
  }
  rowsAround(*y.shape(), a->axis(), outer, inner);
  int64_t start = 0;
  double placed = 0;
  for (int32_t id : *in.operands()) {
    const plan::Value &x = *f.values()->Get(id);
    if (outer == 1 && arena(x) && at(x, 0) == at(y, start * inner * es))
      placed += elements(x);
    start += x.shape()->Get(flatbuffers::uoffset_t(a->axis()));
  }
  return elements(y) > 0 ? placed / elements(y) : 0;
}

} // namespace

bool flopBound(const std::string &op) {
  return op == "Linear" || op == "LinearFp8" || op == "Conv2d" ||
         op == "Attention" || op == "RingAttention";
}

InstrWork instrWork(const plan::Function &f, const plan::Instr &in,
                    DType storage) {
  InstrWork w;
  w.op = plan::EnumNameOpCode(in.op());
  auto value = [&](int32_t id) -> const plan::Value & {
    return *f.values()->Get(id);
  };
  auto bytesOf = [&](const plan::Value &v) {
    DType t = DType(v.dtype());
    if (t == DType::F32 && storage != DType::F32)
      t = storage;
    return elements(v) * double(dtypeSize(t));
  };
  std::string ins, outs;
  for (int32_t id : *in.operands()) {
    ins += (ins.empty() ? "" : ",") + dims(value(id));
    // Weights are read once per call, activations too: both count.
    w.bytes += bytesOf(value(id));
  }
  for (int32_t id : *in.results()) {
    outs += (outs.empty() ? "" : ",") + dims(value(id));
    w.bytes += bytesOf(value(id));
  }
  w.shape = ins + "->" + outs;
  const plan::Value *res =
      in.results()->size() ? &value(in.results()->Get(0)) : nullptr;
  switch (in.op()) {
  case plan::OpCode::Linear: {
    // [..., K] x [N, K]: 2 M N K.
    const plan::Value &x = value(in.operands()->Get(0));
    double k = double(x.shape()->Get(x.shape()->size() - 1));
    w.flops = 2 * elements(*res) * k;
    int64_t fm, fk, fn;
    if (fp8LinearDims(f, in, fm, fk, fn)) {
      // The quantizer reads the input and writes its e4m3 copy with a
      // scale per row; the GEMM reads both copies' bytes and the scales.
      const double m = double(fm), kk = double(fk), n = double(fn);
      w.op = "LinearFp8";
      w.rate = "fp8";
      w.kernels = 2;
      w.bytes =
          bytesOf(x) + 2 * (m * kk + 4 * m) + n * kk + 4 * n + bytesOf(*res);
      // The bias, and a gate and residual (applied by a kernel of its own
      // after the FP8 GEMM, which reads the result once more).
      for (uint32_t i = 2; i < in.operands()->size(); ++i)
        w.bytes += bytesOf(value(in.operands()->Get(i)));
      if (const plan::LinearAttrs *a = in.attrs_as_LinearAttrs();
          a && (a->residual() || a->gate())) {
        w.kernels = 3;
        w.bytes += 2 * bytesOf(*res);
      }
    }
    break;
  }
  case plan::OpCode::Conv2d: {
    const plan::Value &wt = value(in.operands()->Get(1));
    auto s = shapeOf(wt); // [O, C, KH, KW]
    w.flops = 2 * elements(*res) * double(s[1] * s[2] * s[3]);
    break;
  }
  case plan::OpCode::Attention: {
    const plan::AttentionAttrs *a = in.attrs_as_AttentionAttrs();
    auto q = shapeOf(value(in.operands()->Get(0)));
    auto k = shapeOf(value(in.operands()->Get(1)));
    double ring = a && a->ring_members() && a->ring_members()->size() > 1
                      ? double(a->ring_members()->size())
                      : 1;
    // Q K^T and P V: 4 B Tq Tk (H Dh), over every block of a ring.
    w.flops =
        4.0 * double(q[0]) * double(q[1]) * double(k[1]) * ring * double(q[2]);
    if (a)
      w.shape += ":h" + std::to_string(a->num_heads());
    if (ring > 1) {
      w.op = "RingAttention";
      w.collective = true;
      w.shape += ":ring" + std::to_string(int(ring));
    }
    break;
  }
  case plan::OpCode::AllReduce:
  case plan::OpCode::ReduceScatter:
  case plan::OpCode::AllGather:
  case plan::OpCode::AllToAll:
  case plan::OpCode::Send:
  case plan::OpCode::Recv:
  case plan::OpCode::Broadcast:
  case plan::OpCode::Halo:
    w.collective = true;
    w.compute = false;
    break;
  case plan::OpCode::StaleGather:
    // The exchange is timed by the links; the copies here: the state into
    // the result, this rank's block into it and into the staging.
    w.collective = true;
    w.bytes *= 2;
    break;
  case plan::OpCode::Wait:
    w.compute = false;
    break;
  case plan::OpCode::Slice:
  case plan::OpCode::Concat: {
    // Only what is not in place yet is copied; nothing: no time of its own.
    const double share = inPlaceShare(f, in);
    w.compute = share < 1;
    w.bytes *= 1 - share;
    w.flops = elements(*res) * (1 - share);
    // A calibration entry of a partial copy is its own.
    if (share > 0 && share < 1)
      w.shape +=
          ":copies" + std::to_string(int(std::lround(100 * (1 - share)))) + "%";
    break;
  }
  case plan::OpCode::LayerNorm:
  case plan::OpCode::GroupNorm:
  case plan::OpCode::RmsNorm:
    w.flops = 8 * elements(*res);
    break;
  case plan::OpCode::Rope:
    // A fused q/k norm (a third operand) adds an RmsNorm's work.
    w.flops = (in.operands()->size() == 3 ? 9 : 1) * elements(*res);
    break;
  default:
    w.flops = res ? elements(*res) : 0;
    break;
  }
  return w;
}

} // namespace fresco::planner
