//===- HaloRanksTest.cpp - Rows split across ranks, over Gloo -------------===//
//
// The two instructions a UNet's rows split over ranks needs, run through the
// executor on 2 and 3 forked ranks joined over Gloo:
//  - Halo: every member's halo rows must equal its neighbours' block rows,
//    the ends keep what the operand had there, the block is unchanged; with
//    the result in its own storage and in the operand's, on cpu (host
//    memory) and cpu-staged in f32 and bf16 (device memory staged through
//    the host, 2-byte elements). With valid_rows (rows padded so that every
//    level splits evenly) the rows of global index valid_rows or later are
//    zero, the boundary inside a block or a whole block past it.
//  - GroupNorm with stats_members: each member's block of rows, normalised
//    by the statistics of the whole tensor, must equal the float64 group
//    norm of the whole tensor; with valid_rows the tensor's bottom rows are
//    garbage padding (one member's band partly, one's wholly) and the real
//    rows must equal the group norm of the unpadded tensor.
//
//===----------------------------------------------------------------------===//
#include "test/unit/CommTestUtil.h"
#include "test/unit/PlanTestUtil.h"
#include "test/unit/RankPaths.h"

using namespace fresco;
using namespace fresco::commtest;
using namespace fresco::plantest;
using namespace fresco::ranktest;

namespace {

/// The backends a rank runs each plan on.
const char *const kBackends[] = {"cpu", "cpu-staged f32", "cpu-staged bf16"};
struct HaloCase {
  int P;
  int64_t lo, hi;
  bool shared;           // the result at the operand's offset
  int64_t validRows = 0; // CollectiveAttrs.valid_rows
};

// x [1, 2, L, 3] along dim 2: L = lo + kBlock + hi.
constexpr int64_t kBlock = 3, kC = 2, kW = 3;

/// Member r's block row `row`, channel c, column w: small integers, exact
/// in bf16, different for every member, row, channel and column.
float blockValue(int r, int64_t row, int64_t c, int64_t w) {
  return float(1 + r * 64 + row * 8 + c * 4 + w);
}
constexpr float kPad = -7.0f; // what the operand's halo rows hold

PlanSpec haloRanksPlan(const HaloCase &h) {
  const int64_t L = h.lo + kBlock + h.hi, bytes = 4 * kC * L * kW;
  PlanSpec s;
  s.numRanks = h.P;
  s.programPerRank = true;
  s.arena = uint64_t(2 * bytes);
  s.values = {{fp::ValueKind::Arena, fp::DType::F32, {1, kC, L, kW}, 0},
              {fp::ValueKind::Arena,
               fp::DType::F32,
               {1, kC, L, kW},
               h.shared ? 0 : uint64_t(bytes)}};
  InstrSpec halo{fp::OpCode::Halo, {0}, {1}};
  halo.members = world(h.P);
  halo.dim = 2;
  halo.haloLo = h.lo;
  halo.haloHi = h.hi;
  halo.validRows = h.validRows;
  s.instrs = {halo};
  s.inputs = {0};
  s.inputNames = {"x"};
  s.outputs = {1};
  return s;
}

void haloRank(const HaloCase &h, int rank, Communicator &comm) {
  const int64_t L = h.lo + kBlock + h.hi;
  LoadedPlan p = LoadedPlan::fromBytes(haloRanksPlan(h).build(), "halo.fplan");
  HostTensor x{
      DType::F32, {1, kC, L, kW}, std::vector<uint8_t>(4 * kC * L * kW)};
  auto at = [&](int64_t c, int64_t row, int64_t w) {
    return size_t((c * L + row) * kW + w);
  };
  for (int64_t c = 0; c < kC; ++c)
    for (int64_t row = 0; row < L; ++row)
      for (int64_t w = 0; w < kW; ++w) {
        const int64_t b = row - h.lo; // the block's row
        x.as<float>()[at(c, row, w)] =
            b >= 0 && b < kBlock ? blockValue(rank, b, c, w) : kPad;
      }
  for (int kind = 0; kind < 3; ++kind) {
    std::unique_ptr<Backend> be = rankBackend(kind);
    WeightStore weights(p.rank(rank), "/nonexistent");
    Executor exec(
        p, rank, *be, weights,
        [&](const std::vector<int> &) -> Communicator & { return comm; });
    std::vector<HostTensor> out = exec.run("f", {x});
    RANK_CHECK(out.size() == 1u);
    const float *y = out[0].as<float>();
    for (int64_t c = 0; c < kC; ++c)
      for (int64_t row = 0; row < L; ++row)
        for (int64_t w = 0; w < kW; ++w) {
          const int64_t b = row - h.lo;
          float want;
          if (b < 0) // the top halo: the previous member's last rows
            want = rank == 0 ? kPad : blockValue(rank - 1, kBlock + b, c, w);
          else if (b >= kBlock) // the bottom halo: the next member's first
            want =
                rank == h.P - 1 ? kPad : blockValue(rank + 1, b - kBlock, c, w);
          else
            want = blockValue(rank, b, c, w);
          // valid_rows: rows from global row valid_rows on are zero.
          const int64_t global = rank * kBlock + b;
          if (h.validRows > 0 && global >= h.validRows)
            want = 0.0f;
          const float got = y[at(c, row, w)];
          RANK_CHECK(got == want, "on ", kBackends[kind], ": rank ", rank,
                     " channel ", c, " row ", row, " column ", w, ": got ", got,
                     ", want ", want);
        }
  }
}

// Names the case in gtest's messages.
void PrintTo(const HaloCase &h, std::ostream *os) {
  *os << "P=" << h.P << " lo=" << h.lo << " hi=" << h.hi
      << (h.shared ? " shared" : "") << " valid_rows=" << h.validRows;
}

class HaloRanks : public ::testing::TestWithParam<HaloCase> {};

TEST_P(HaloRanks, HalosHoldTheNeighboursRows) {
  const HaloCase h = GetParam();
  expectAllSucceed(runRanks(h.P, [&](int rank, const RankEnv &env) {
    std::unique_ptr<Communicator> comm = join(env);
    haloRank(h, rank, *comm);
    comm->barrier();
  }));
}

INSTANTIATE_TEST_SUITE_P(
    Gloo, HaloRanks,
    ::testing::Values(HaloCase{2, 1, 1, false}, HaloCase{2, 1, 0, false},
                      HaloCase{2, 1, 1, true}, HaloCase{3, 1, 1, false},
                      HaloCase{3, 1, 0, true}, HaloCase{3, 0, 2, false},
                      HaloCase{3, 2, 1, true},
                      // Global rows 0-8 (blocks of 3): the boundary inside
                      // member 1's block, member 2's all padding.
                      HaloCase{3, 1, 1, false, 4}, HaloCase{3, 2, 1, true, 5},
                      // Member 2's block all padding, member 1's bottom
                      // halo too; member 1 of 2 all padding, top halo too.
                      HaloCase{3, 1, 1, true, 6}, HaloCase{2, 1, 1, false, 2},
                      HaloCase{2, 0, 2, false, 1}),
    [](const auto &info) {
      const HaloCase &h = info.param;
      return "P" + std::to_string(h.P) + "_lo" + std::to_string(h.lo) + "_hi" +
             std::to_string(h.hi) + (h.shared ? "_shared" : "") +
             (h.validRows ? "_valid" + std::to_string(h.validRows) : "");
    });

// GroupNorm over x [2, 4, H, 3] split into P blocks of rows, 2 groups, with
// weight and bias.
constexpr int64_t kN = 2, kGC = 4, kH = 6, kGW = 3, kGroups = 2;

PlanSpec splitNormPlan(int P, int64_t validRows) {
  const int64_t rows = kH / P, bytes = 4 * kN * kGC * rows * kGW;
  PlanSpec s;
  s.numRanks = P;
  s.programPerRank = true;
  s.values = {
      {fp::ValueKind::Arena, fp::DType::F32, {kN, kGC, rows, kGW}, 0},
      {fp::ValueKind::Arena, fp::DType::F32, {kGC}, uint64_t(bytes)},
      {fp::ValueKind::Arena, fp::DType::F32, {kGC}, uint64_t(bytes + 64)},
      {fp::ValueKind::Arena,
       fp::DType::F32,
       {kN, kGC, rows, kGW},
       uint64_t(bytes + 128)}};
  s.arena = uint64_t(2 * bytes + 128);
  InstrSpec norm{fp::OpCode::GroupNorm, {0, 1, 2}, {3}};
  norm.groupNorm = kGroups;
  norm.statsMembers = world(P);
  norm.validRows = validRows;
  s.instrs = {norm};
  s.inputs = {0, 1, 2};
  s.inputNames = {"x", "weight", "bias"};
  s.outputs = {3};
  return s;
}

struct NormCase {
  int P;
  int64_t validRows; // 0: every row real
};

void groupNormRank(const NormCase &nc, int rank, Communicator &comm) {
  const int P = nc.P;
  const int64_t rows = kH / P, S = kH * kGW;
  const int64_t real = nc.validRows ? nc.validRows : kH; // the real rows
  // Every rank draws the whole tensor (and so knows the reference), far
  // from 0 so that the combination of the blocks' statistics matters;
  // padding rows (from `real` on) hold garbage far from the real values.
  ref::Vec x = ref::randomVec(size_t(kN * kGC * S), 77, 99.0f, 101.0f);
  const ref::Vec junk =
      ref::randomVec(size_t(kN * kGC * S), 80, -1000.0f, 1000.0f);
  for (size_t i = 0; i < x.size(); ++i) {
    const int64_t row = int64_t(i / kGW) % kH;
    x[i] = row < real ? x[i] + 0.5f * float(row / rows) : junk[i];
  }
  const ref::Vec g = ref::randomVec(kGC, 78, 0.5f, 1.5f),
                 b = ref::randomVec(kGC, 79);
  // Rows [r0, r0 + n) of every plane of v [kN, kGC, H, kGW].
  auto rowsOf = [](const auto &v, int64_t H, int64_t r0, int64_t n) {
    std::vector<typename std::decay_t<decltype(v)>::value_type> out;
    for (int64_t plane = 0; plane < kN * kGC; ++plane)
      out.insert(out.end(), v.begin() + (plane * H + r0) * kGW,
                 v.begin() + (plane * H + r0 + n) * kGW);
    return out;
  };
  const ref::Vec unpadded = rowsOf(x, kH, 0, real);
  const ref::RefVec whole = ref::refGroupNorm(unpadded, g.data(), b.data(), kN,
                                              kGC, real * kGW, kGroups, 1e-6f);
  auto tensor = [](const ref::Vec &v, std::vector<int64_t> shape) {
    HostTensor t{DType::F32, std::move(shape),
                 std::vector<uint8_t>(v.size() * 4)};
    std::memcpy(t.data.data(), v.data(), v.size() * 4);
    return t;
  };
  // bf16 storage rounds x, weight and bias as they go in: its reference is
  // the group norm of the rounded values, and its output is rounded once.
  auto bf16 = [](ref::Vec v) {
    std::vector<uint16_t> narrow(v.size());
    narrowFloats(v.data(), narrow.data(), v.size(), DType::BF16);
    widenFloats(narrow.data(), v.data(), v.size(), DType::BF16);
    return v;
  };
  const ref::RefVec wholeBf16 =
      ref::refGroupNorm(bf16(unpadded), bf16(g).data(), bf16(b).data(), kN, kGC,
                        real * kGW, kGroups, 1e-6f);
  // This rank's band, and its real rows (none past the real tensor).
  const ref::Vec block = rowsOf(x, kH, rank * rows, rows);
  const int64_t mineReal = std::clamp<int64_t>(real - rank * rows, 0, rows);
  LoadedPlan p =
      LoadedPlan::fromBytes(splitNormPlan(P, nc.validRows).build(), "gn.fplan");
  for (int kind = 0; kind < 3; ++kind) {
    const ref::RefVec want =
        rowsOf(kind == 2 ? wholeBf16 : whole, real, rank * rows, mineReal);
    // f32: the normalisation cancels values of about 100 / std (as in
    // GroupNormSplitConformanceTest.cpp); bf16: one rounding of the output.
    const double tol = kind == 2 ? 1e-2 : 5e-5;
    std::unique_ptr<Backend> be = rankBackend(kind);
    WeightStore weights(p.rank(rank), "/nonexistent");
    Executor exec(
        p, rank, *be, weights,
        [&](const std::vector<int> &) -> Communicator & { return comm; });
    std::vector<HostTensor> out =
        exec.run("f", {tensor(block, {kN, kGC, rows, kGW}), tensor(g, {kGC}),
                       tensor(b, {kGC})});
    RANK_CHECK(out.size() == 1u && out[0].numel() == kN * kGC * rows * kGW);
    const float *y = out[0].as<float>();
    for (int64_t i = 0; i < out[0].numel(); ++i)
      RANK_CHECK(std::isfinite(y[i]), "on ", kBackends[kind], ": rank ", rank,
                 " wrote ", y[i], " at ", i);
    const ref::Vec got =
        rowsOf(ref::Vec(y, y + out[0].numel()), rows, 0, mineReal);
    double worst = 0.0, mag = 0.0;
    for (size_t i = 0; i < want.size(); ++i) {
      worst = std::max(worst, std::fabs(double(got[i]) - want[i]));
      mag = std::max(mag, std::fabs(want[i]));
    }
    RANK_CHECK(worst <= tol * mag, "on ", kBackends[kind], ": rank ", rank,
               " is off the whole tensor's group norm by ", worst,
               " (largest value ", mag, ")");
  }
}

class GroupNormRanks : public ::testing::TestWithParam<NormCase> {};

TEST_P(GroupNormRanks, EqualsTheWholeTensorsGroupNorm) {
  const NormCase nc = GetParam();
  expectAllSucceed(runRanks(nc.P, [&](int rank, const RankEnv &env) {
    std::unique_ptr<Communicator> comm = join(env);
    groupNormRank(nc, rank, *comm);
    comm->barrier();
  }));
}

void PrintTo(const NormCase &nc, std::ostream *os) {
  *os << "P=" << nc.P << " valid_rows=" << nc.validRows;
}

// kH = 6 rows: with valid_rows 4 over 2 bands of 3, band 1 is partly
// padding; 3 over 3 bands of 2, band 1 partly and band 2 wholly; 1, bands
// 1 and 2 wholly.
INSTANTIATE_TEST_SUITE_P(Gloo, GroupNormRanks,
                         ::testing::Values(NormCase{2, 0}, NormCase{3, 0},
                                           NormCase{2, 4}, NormCase{3, 3},
                                           NormCase{3, 1}),
                         [](const auto &info) {
                           return "P" + std::to_string(info.param.P) +
                                  (info.param.validRows
                                       ? "_valid" + std::to_string(
                                                        info.param.validRows)
                                       : "");
                         });

} // namespace
