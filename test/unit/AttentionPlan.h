//===- AttentionPlan.h - Attention plans for tests --------------*- C++ -*-===//
//
// Plans holding a single Attention instruction (q, k, v -> o, all f32 in the
// arena), optionally with AttentionAttrs.key_valid and ring members, for the
// tests of what the binder does around the backend's kernels. Also the
// host-side compaction of padded keys the tests compare against.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_TEST_UNIT_ATTENTIONPLAN_H
#define FRESCO_TEST_UNIT_ATTENTIONPLAN_H

#include "runtime/core/Executor.h"
#include "runtime/core/Plan.h"
#include "runtime/core/PlanVersion.h"
#include "runtime/core/Weights.h"

#include <cstring>
#include <string>
#include <vector>

namespace fresco::test {

struct AttentionShape {
  int64_t B, Tq, Tk, H, Dh;
  int64_t width() const { return H * Dh; }
};

/// A plan of `ranks` identical rank programs running
/// o = attention(q, k, v) with `keyValid` (empty: absent) and ring
/// `members` (empty: none). Values start at 256-byte boundaries (as the
/// compiler's arena does), so a GPU backend's aligned paths are taken.
inline std::vector<uint8_t>
attentionPlan(const AttentionShape &s, float scale,
              const std::vector<int64_t> &keyValid,
              const std::vector<int32_t> &members = {}, int ranks = 1) {
  namespace fp = fresco::plan;
  flatbuffers::FlatBufferBuilder b;
  auto bytesOf = [](int64_t n) { return (uint64_t(n) * 4 + 255) / 256 * 256; };
  const std::vector<int64_t> qs = {s.B, s.Tq, s.width()},
                             ks = {s.B, s.Tk, s.width()};
  const uint64_t qb = bytesOf(s.B * s.Tq * s.width()),
                 kb = bytesOf(s.B * s.Tk * s.width());
  const uint64_t arena = 2 * qb + 2 * kb;
  std::vector<flatbuffers::Offset<fp::RankProgram>> programs;
  for (int r = 0; r < ranks; ++r) {
    std::vector<flatbuffers::Offset<fp::Value>> vals = {
        fp::CreateValue(b, fp::ValueKind::Arena, fp::DType::F32,
                        b.CreateVector(qs), 0),
        fp::CreateValue(b, fp::ValueKind::Arena, fp::DType::F32,
                        b.CreateVector(ks), qb),
        fp::CreateValue(b, fp::ValueKind::Arena, fp::DType::F32,
                        b.CreateVector(ks), qb + kb),
        fp::CreateValue(b, fp::ValueKind::Arena, fp::DType::F32,
                        b.CreateVector(qs), qb + 2 * kb)};
    auto attrs = fp::CreateAttentionAttrs(
        b, s.H, scale, members.empty() ? 0 : b.CreateVector(members),
        keyValid.empty() ? 0 : b.CreateVector(keyValid));
    std::vector<flatbuffers::Offset<fp::Instr>> ins = {fp::CreateInstr(
        b, fp::OpCode::Attention, b.CreateVector(std::vector<int32_t>{0, 1, 2}),
        b.CreateVector(std::vector<int32_t>{3}), fp::OpAttrs::AttentionAttrs,
        attrs.Union())};
    std::vector<flatbuffers::Offset<fp::Function>> fns = {fp::CreateFunction(
        b, b.CreateString("f"), b.CreateVector(vals), b.CreateVector(ins),
        b.CreateVector(std::vector<int32_t>{0, 1, 2}),
        b.CreateVectorOfStrings({"q", "k", "v"}),
        b.CreateVector(std::vector<int32_t>{3}), b.CreateVectorOfStrings({"o"}),
        arena, arena)};
    programs.push_back(
        fp::CreateRankProgram(b, r, b.CreateVector(fns), 0, arena));
  }
  fp::FinishPlanBuffer(b, fp::CreatePlan(b, kPlanVersion, b.CreateString("t"),
                                         ranks, b.CreateVector(programs)));
  return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
}

/// An f32 host tensor holding `v`.
inline HostTensor hostTensor(const std::vector<int64_t> &shape,
                             const std::vector<float> &v) {
  HostTensor t{DType::F32, shape, std::vector<uint8_t>(v.size() * 4)};
  std::memcpy(t.data.data(), v.data(), t.data.size());
  return t;
}

/// The real rows of k (or v) [B, Tk, W] under `valid` (S equal segments,
/// segment s real in its first valid[s] rows), per batch: [B, Tk', W].
inline std::vector<float> realRows(const std::vector<float> &x, int64_t B,
                                   int64_t Tk, int64_t W,
                                   const std::vector<int64_t> &valid) {
  const int64_t L = Tk / int64_t(valid.size());
  std::vector<float> out;
  for (int64_t b = 0; b < B; ++b)
    for (size_t s = 0; s < valid.size(); ++s)
      for (int64_t t = 0; t < valid[s]; ++t) {
        const float *row = &x[size_t((b * Tk + int64_t(s) * L + t) * W)];
        out.insert(out.end(), row, row + W);
      }
  return out;
}

/// o = attention(q, k, v) through the executor: `plan` on `backend`, rank
/// `rank` (its ring communicator from `groups`).
inline std::vector<float>
runAttentionPlan(const std::vector<uint8_t> &plan, Backend &backend,
                 const AttentionShape &s, const std::vector<float> &q,
                 const std::vector<float> &k, const std::vector<float> &v,
                 int rank = 0, GroupResolver groups = nullptr) {
  LoadedPlan p = LoadedPlan::fromBytes(plan, "attention.fplan");
  WeightStore weights(p.rank(rank), "/nonexistent");
  Executor exec(p, rank, backend, weights, std::move(groups));
  std::vector<HostTensor> out =
      exec.run("f", {hostTensor({s.B, s.Tq, s.width()}, q),
                     hostTensor({s.B, s.Tk, s.width()}, k),
                     hostTensor({s.B, s.Tk, s.width()}, v)});
  const float *o = out.at(0).as<float>();
  return std::vector<float>(o, o + out[0].numel());
}

} // namespace fresco::test

#endif // FRESCO_TEST_UNIT_ATTENTIONPLAN_H
