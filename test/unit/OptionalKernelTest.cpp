//===- OptionalKernelTest.cpp - Plans needing kernels a backend lacks -----===//
//
// A backend without one of the optional kernels (Backend::implements: the
// text encoders' masked attention, relative position bias, EOS pooling,
// FP8 GEMMs, a group norm split across ranks)
// refuses a plan that uses it when the executor binds the plan, naming the
// instruction and the backend, instead of failing or computing something
// else when it runs. The backend here is the CPU backend with those kernels
// hidden.
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/cpu/CpuBackend.h"
#include "runtime/core/Error.h"
#include "runtime/core/Executor.h"
#include "runtime/core/Plan.h"
#include "runtime/core/PlanVersion.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>

using namespace fresco;
namespace fp = fresco::plan;

namespace {

/// The CPU backend without the optional kernels (a stand-in for a backend
/// that has not written them yet).
class LackingBackend : public Backend {
public:
  std::string name() const override { return "lacking"; }
  bool usesHostMemory() const override { return in_->usesHostMemory(); }
  void *allocate(size_t bytes) override { return in_->allocate(bytes); }
  void release(void *p) override { in_->release(p); }
  void copyToDevice(void *dst, const void *host, size_t bytes) override {
    in_->copyToDevice(dst, host, bytes);
  }
  void copyToHost(void *host, const void *src, size_t bytes) override {
    in_->copyToHost(host, src, bytes);
  }
  void synchronize() override { in_->synchronize(); }
  void linear(const float *x, const float *w, const float *b, float *y,
              int64_t M, int64_t K, int64_t N) override {
    in_->linear(x, w, b, y, M, K, N);
  }
  void conv2d(const float *x, const float *w, const float *b, float *y,
              int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t KH,
              int64_t KW, int64_t sh, int64_t sw, int64_t ph,
              int64_t pw) override {
    in_->conv2d(x, w, b, y, N, C, H, W, O, KH, KW, sh, sw, ph, pw);
  }
  void layerNorm(const float *x, const float *g, const float *b, float *y,
                 int64_t rows, int64_t cols, float eps) override {
    in_->layerNorm(x, g, b, y, rows, cols, eps);
  }
  void rmsNorm(const float *x, const float *g, float *y, int64_t rows,
               int64_t cols, float eps) override {
    in_->rmsNorm(x, g, y, rows, cols, eps);
  }
  void ropeTable(const float *ids, float *out, int64_t T, int64_t nAxes,
                 const int64_t *axesDim, double theta) override {
    in_->ropeTable(ids, out, T, nAxes, axesDim, theta);
  }
  void rope(const float *x, const float *table, const float *normWeight,
            float *y, int64_t B, int64_t T, int64_t H, int64_t Dh,
            float eps) override {
    in_->rope(x, table, normWeight, y, B, T, H, Dh, eps);
  }
  void groupNorm(const float *x, const float *g, const float *b, float *y,
                 int64_t N, int64_t C, int64_t S, int64_t groups,
                 float eps) override {
    in_->groupNorm(x, g, b, y, N, C, S, groups, eps);
  }
  void upsampleNearest(const float *x, float *y, int64_t N, int64_t C,
                       int64_t H, int64_t W, int64_t sh, int64_t sw) override {
    in_->upsampleNearest(x, y, N, C, H, W, sh, sw);
  }
  void modulate(const float *x, const float *shift, const float *scale,
                float *y, int64_t B, int64_t T, int64_t D) override {
    in_->modulate(x, shift, scale, y, B, T, D);
  }
  void attention(const float *q, const float *k, const float *v, float *o,
                 int64_t B, int64_t Tq, int64_t Tk, int64_t H, int64_t Dh,
                 float scale) override {
    in_->attention(q, k, v, o, B, Tq, Tk, H, Dh, scale);
  }
  void unary(UnaryKind kind, const float *x, float *y, int64_t n) override {
    in_->unary(kind, x, y, n);
  }
  void binary(BinaryKind kind, const float *a, const float *b, float *out,
              int rank, const int64_t *shape, const int64_t *as,
              const int64_t *bs) override {
    in_->binary(kind, a, b, out, rank, shape, as, bs);
  }
  void mulAdd(const float *a, const float *b, const float *c, float *out,
              int rank, const int64_t *shape, const int64_t *as,
              const int64_t *bs) override {
    in_->mulAdd(a, b, c, out, rank, shape, as, bs);
  }
  void timestepEmbedding(const float *tF32, const int64_t *tI64, float *out,
                         int64_t B, int64_t dim, bool flip, float shift,
                         float scale, float maxPeriod) override {
    in_->timestepEmbedding(tF32, tI64, out, B, dim, flip, shift, scale,
                           maxPeriod);
  }
  void embedding(const float *table, const int64_t *ids, float *out, int64_t n,
                 int64_t V, int64_t D) override {
    in_->embedding(table, ids, out, n, V, D);
  }
  void transpose(const void *x, void *out, int rank, const int64_t *shape,
                 const int64_t *perm, size_t es) override {
    in_->transpose(x, out, rank, shape, perm, es);
  }
  void copyStrided(const void *src, int64_t srcRow, void *dst, int64_t dstRow,
                   int64_t rows, int64_t rowElems, size_t es) override {
    in_->copyStrided(src, srcRow, dst, dstRow, rows, rowElems, es);
  }
  void fillZero(void *dst, size_t bytes) override { in_->fillZero(dst, bytes); }
  void posEmbed2d(float *out, const PosGrid &g, int64_t dim, double base,
                  double interp) override {
    in_->posEmbed2d(out, g, dim, base, interp);
  }

protected:
  std::unique_ptr<Backend> in_ = createCpuBackend();
};

/// The CPU backend with the split group norm, taking at most `limit` blocks
/// of unequal counts (as the CUDA kernel takes kMaxGroupParts).
class LimitedGroupNormBackend final : public LackingBackend {
public:
  explicit LimitedGroupNormBackend(int64_t limit) : limit_(limit) {}
  bool implements(OptionalKernel k) const override {
    return k == OptionalKernel::SplitGroupNorm;
  }
  void groupNormStats(const float *x, float *stats, int64_t N, int64_t C,
                      int64_t S, int64_t groups, int64_t valid) override {
    in_->groupNormStats(x, stats, N, C, S, groups, valid);
  }
  void groupNormApply(const float *x, const float *partials, int64_t parts,
                      const int64_t *valid, const float *g, const float *b,
                      float *y, int64_t N, int64_t C, int64_t S, int64_t groups,
                      float eps) override {
    check(!valid || parts <= limit_, "limited: ", parts,
          " blocks of unequal counts, more than ", limit_);
    in_->groupNormApply(x, partials, parts, valid, g, b, y, N, C, S, groups,
                        eps);
  }

private:
  int64_t limit_;
};

/// A one-instruction plan: `op` with `attrs` over f32 arena values of
/// `shapes` (operands, then the result), the ids (`idsAt`) i64.
std::vector<uint8_t> onePlan(fp::OpCode op, fp::OpAttrs type,
                             const std::vector<std::vector<int64_t>> &shapes,
                             int idsAt,
                             const std::function<flatbuffers::Offset<void>(
                                 flatbuffers::FlatBufferBuilder &)> &attrs) {
  flatbuffers::FlatBufferBuilder b;
  std::vector<flatbuffers::Offset<fp::Value>> vals;
  uint64_t offset = 0;
  std::vector<int32_t> operands;
  for (size_t i = 0; i < shapes.size(); ++i) {
    int64_t n = 1;
    for (int64_t d : shapes[i])
      n *= d;
    const bool ids = int(i) == idsAt;
    vals.push_back(fp::CreateValue(b, fp::ValueKind::Arena,
                                   ids ? fp::DType::I64 : fp::DType::F32,
                                   b.CreateVector(shapes[i]), offset, -1));
    offset += uint64_t(n) * 8; // 8-byte aligned for the ids
    if (i + 1 < shapes.size())
      operands.push_back(int32_t(i));
  }
  const int32_t result = int32_t(shapes.size() - 1);
  auto a = attrs(b);
  auto instr =
      fp::CreateInstr(b, op, b.CreateVector(operands),
                      b.CreateVector(std::vector<int32_t>{result}), type, a);
  std::vector<std::string> names;
  for (int32_t i : operands)
    names.push_back("x" + std::to_string(i));
  auto fn = fp::CreateFunction(
      b, b.CreateString("f"), b.CreateVector(vals),
      b.CreateVector(std::vector<flatbuffers::Offset<fp::Instr>>{instr}),
      b.CreateVector(operands), b.CreateVectorOfStrings(names),
      b.CreateVector(std::vector<int32_t>{result}),
      b.CreateVectorOfStrings(std::vector<std::string>{"y"}), offset, offset);
  auto rank = fp::CreateRankProgram(
      b, 0, b.CreateVector(std::vector<flatbuffers::Offset<fp::Function>>{fn}),
      b.CreateVector(std::vector<flatbuffers::Offset<fp::WeightSlice>>{}),
      offset);
  fp::FinishPlanBuffer(
      b, fp::CreatePlan(
             b, kPlanVersion, b.CreateString("test"), 1,
             b.CreateVector(
                 std::vector<flatbuffers::Offset<fp::RankProgram>>{rank})));
  return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
}

/// The error of binding `bytes` on `backend`, or "" when it binds.
std::string bindError(const std::vector<uint8_t> &bytes, Backend &backend) {
  try {
    LoadedPlan p = LoadedPlan::fromBytes(bytes, "test.fplan");
    WeightStore weights(p.rank(0), "/nonexistent");
    Executor exec(p, 0, backend, weights);
  } catch (const Error &e) {
    return e.what();
  }
  return "";
}

struct Case {
  const char *name;
  std::vector<uint8_t> plan;
  const char *message;
};

std::vector<Case> cases() {
  auto causal = [](flatbuffers::FlatBufferBuilder &b) {
    return fp::CreateAttentionAttrs(b, 2, 0.5f, 0, 0, true).Union();
  };
  auto plain = [](flatbuffers::FlatBufferBuilder &b) {
    return fp::CreateAttentionAttrs(b, 2, 0.5f).Union();
  };
  return {
      {"causal",
       onePlan(fp::OpCode::Attention, fp::OpAttrs::AttentionAttrs,
               {{1, 3, 4}, {1, 3, 4}, {1, 3, 4}, {1, 3, 4}}, -1, causal),
       "(Attention): a causal mask or score bias is not implemented on the "
       "lacking backend yet"},
      {"bias",
       onePlan(fp::OpCode::Attention, fp::OpAttrs::AttentionAttrs,
               {{1, 3, 4}, {1, 3, 4}, {1, 3, 4}, {2, 3, 3}, {1, 3, 4}}, -1,
               plain),
       "(Attention): a causal mask or score bias is not implemented on the "
       "lacking backend yet"},
      {"eos_pool",
       onePlan(fp::OpCode::EosPool, fp::OpAttrs::EosPoolAttrs,
               {{2, 3, 4}, {2, 3}, {2, 4}}, 1,
               [](flatbuffers::FlatBufferBuilder &b) {
                 return fp::CreateEosPoolAttrs(b, 7, false).Union();
               }),
       "(EosPool): not implemented on the lacking backend yet"},
      {"relative_position_bias",
       onePlan(fp::OpCode::RelativePositionBias,
               fp::OpAttrs::RelativePositionBiasAttrs, {{32, 2}, {2, 5, 5}}, -1,
               [](flatbuffers::FlatBufferBuilder &b) {
                 return fp::CreateRelativePositionBiasAttrs(b, 32, 20, true)
                     .Union();
               }),
       "(RelativePositionBias): not implemented on the lacking backend yet"},
  };
}

// An fp8 linear is refused at load, before any backend, unless the plan
// stores floats in 2 bytes (the weight is quantized at bind from a plan
// weight): this f32, arena-weight plan names the storage.
TEST(OptionalKernels, Fp8LinearNeedsTwoByteStorage) {
  std::vector<uint8_t> plan = onePlan(
      fp::OpCode::Linear, fp::OpAttrs::LinearAttrs,
      {{2, 3, 16}, {8, 16}, {2, 3, 8}}, -1,
      [](flatbuffers::FlatBufferBuilder &b) {
        return fp::CreateLinearAttrs(b, fp::Activation::None, true).Union();
      });
  auto cpu = createCpuBackend();
  EXPECT_NE(
      bindError(plan, *cpu)
          .find("(Linear): fp8 needs a plan compiled for bf16 or f16 storage"),
      std::string::npos);
}

TEST(OptionalKernels, RefusedAtBindWithoutTheKernel) {
  for (const Case &c : cases()) {
    SCOPED_TRACE(c.name);
    LackingBackend lacking;
    const std::string err = bindError(c.plan, lacking);
    EXPECT_NE(err.find(c.message), std::string::npos) << "got: '" << err << "'";
    // The same plan binds on the CPU backend, which has the kernels.
    auto cpu = createCpuBackend();
    EXPECT_EQ(bindError(c.plan, *cpu), "");
  }
}

// A group norm over rows split across ranks (GroupNormAttrs.stats_members)
// needs groupNormStats and groupNormApply: refused before its communicator
// is looked for; the CPU backend gets past that check to the missing
// communicator.
TEST(OptionalKernels, SplitGroupNormRefusedWithoutTheKernels) {
  std::vector<uint8_t> plan = onePlan(
      fp::OpCode::GroupNorm, fp::OpAttrs::GroupNormAttrs,
      {{1, 4, 2, 3}, {1, 4, 2, 3}}, -1, [](flatbuffers::FlatBufferBuilder &b) {
        return fp::CreateGroupNormAttrs(
                   b, 2, 1e-6f, b.CreateVector(std::vector<int32_t>{0, 1}))
            .Union();
      });
  LackingBackend lacking;
  const std::string err = bindError(plan, lacking);
  EXPECT_NE(err.find("(GroupNorm): a group norm split across ranks "
                     "(stats_members) is not implemented on the lacking "
                     "backend"),
            std::string::npos)
      << "got: '" << err << "'";
  auto cpu = createCpuBackend();
  EXPECT_NE(bindError(plan, *cpu).find("started without a communicator"),
            std::string::npos);
}

// A group norm over padded rows on one rank (GroupNormAttrs.valid_rows, no
// stats_members) runs the split kernels over one band: refused without
// them, bound on the CPU backend.
TEST(OptionalKernels, PaddedGroupNormRefusedWithoutTheKernels) {
  std::vector<uint8_t> plan = onePlan(
      fp::OpCode::GroupNorm, fp::OpAttrs::GroupNormAttrs,
      {{1, 4, 2, 3}, {1, 4, 2, 3}}, -1, [](flatbuffers::FlatBufferBuilder &b) {
        return fp::CreateGroupNormAttrs(b, 2, 1e-6f, 0, 1).Union();
      });
  LackingBackend lacking;
  const std::string err = bindError(plan, lacking);
  EXPECT_NE(err.find("(GroupNorm): a group norm over padded rows "
                     "(valid_rows) is not implemented on the lacking "
                     "backend"),
            std::string::npos)
      << "got: '" << err << "'";
  auto cpu = createCpuBackend();
  EXPECT_EQ(bindError(plan, *cpu), "");
  // A backend's own limit on the blocks' counts fails the plan at load,
  // not at its first run (the binder asks with an empty call).
  LimitedGroupNormBackend none(0), one(1);
  const std::string limited = bindError(plan, none);
  EXPECT_NE(limited.find("(GroupNorm): limited: 1 blocks of unequal counts, "
                         "more than 0"),
            std::string::npos)
      << "got: '" << limited << "'";
  EXPECT_EQ(bindError(plan, one), "");
}

} // namespace
