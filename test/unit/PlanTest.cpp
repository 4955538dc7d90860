//===- PlanTest.cpp - Valid plans load, bind and compute ------------------===//
//
// Builds small valid plans with PlanSpec and checks that they load and run
// and compute the right numbers, against the references in Reference.h.
// PlanRejectTest.cpp breaks plans on purpose; PlanCollectiveTest.cpp runs
// the collectives.
//
//===----------------------------------------------------------------------===//
#include "test/unit/PlanTestUtil.h"

#include <fstream>
#include <regex>
#include <set>

using namespace fresco;
using namespace fresco::plantest;
namespace fp = fresco::plan;

namespace {

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

TEST(Plan, KeyValidLayoutsLoad) {
  for (const PlanSpec &s :
       {keyValidSpec({6}), keyValidSpec({2, 0}), keyValidSpec({1, 0, 2}),
        keyValidSpec({0, 0, 3, 1}, {0, 1})})
    EXPECT_NO_THROW(LoadedPlan::fromBytes(s.build(), "kv.fplan"));
}

// The text encoders' instructions load in their valid forms.
TEST(Plan, TextEncoderOpsLoad) {
  PlanSpec causal = maskedSpec({1, 2, 6}, false);
  for (const PlanSpec &s :
       {causal, eosPoolSpec({2, 3}), relativeBiasSpec({32, 2}, 32, 20)})
    EXPECT_NO_THROW(LoadedPlan::fromBytes(s.build(), "text.fplan"));
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

// inPlaceSpec: c = Concat(a, b) along the tokens, s = Slice(c) its last 2
// tokens. Where fresco-assign-buffers put a and b inside c and s over c's
// rows, nothing is copied and the executor counts the bytes left in place;
// elsewhere (offsets `cAt`, `sAt`, `bAt`) the same values are copied. Under
// the staged bf16 backend the f32 plan's offsets halve, and stay in place.
TEST(Plan, InPlaceSliceAndConcatSkipTheirCopies) {
  struct Case {
    const char *name;
    uint64_t bAt, cAt, sAt;
    uint64_t inPlace; // f32 bytes not copied
  };
  const Case cases[] = {{"all in place", 32, 0, 32, 64 + 32},
                        {"copied", 32, 64, 128, 0},
                        {"first operand only", 160, 0, 192, 32}};
  for (const Case &c : cases) {
    for (bool bf16 : {false, true}) {
      SCOPED_TRACE(std::string(c.name) + (bf16 ? ", bf16" : ", f32"));
      PlanSpec s = inPlaceSpec(c.bAt, c.cAt, c.sAt);
      LoadedPlan p = LoadedPlan::fromBytes(s.build(), "in-place.fplan");
      WeightStore weights(p.rank(0), "/nonexistent");
      auto backend = bf16 ? createStagedCpuBackend(GemmPrecision::BF16)
                          : createCpuBackend();
      Executor exec(p, 0, *backend, weights);
      EXPECT_EQ(exec.bytesInPlace(), bf16 ? c.inPlace / 2 : c.inPlace);
      HostTensor a{DType::F32, {1, 2, 4}, std::vector<uint8_t>(32)},
          b{DType::F32, {1, 2, 4}, std::vector<uint8_t>(32)};
      for (int i = 0; i < 8; ++i) {
        a.as<float>()[i] = float(i + 1);
        b.as<float>()[i] = float(-i - 1);
      }
      std::vector<HostTensor> out = exec.run("f", {a, b});
      ASSERT_EQ(out.size(), 2u);
      for (int i = 0; i < 16; ++i)
        EXPECT_EQ(out[0].as<float>()[i], i < 8 ? float(i + 1) : float(7 - i))
            << "c[" << i << "]";
      for (int i = 0; i < 8; ++i)
        EXPECT_EQ(out[1].as<float>()[i], float(-i - 1)) << "s[" << i << "]";
    }
  }
}

// A PosEmbed2d window (version 11) holds the whole table's values at its
// rows and columns; a plan without the window fields (version 10's
// attributes) computes the whole table.
TEST(Plan, PosEmbedWindowIsTheCrop) {
  auto run = [](const PlanSpec &s) {
    LoadedPlan p = LoadedPlan::fromBytes(s.build(), "pos.fplan");
    WeightStore weights(p.rank(0), "/nonexistent");
    auto backend = createCpuBackend();
    Executor exec(p, 0, *backend, weights);
    std::vector<HostTensor> out = exec.run("f", {});
    EXPECT_EQ(out.size(), 1u);
    return floats(out.at(0));
  };
  const ref::Vec whole = run(posEmbedSpec({6, 5}, 30));
  // Rows 2..4, columns 1..3 of the 6 x 5 grid.
  const ref::Vec window = run(posEmbedSpec({6, 5, 2, 1, 3, 3}, 9));
  ASSERT_EQ(whole.size(), 30u * 8);
  ASSERT_EQ(window.size(), 9u * 8);
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t k = 0; k < 3 * 8; ++k)
      EXPECT_EQ(window[size_t(i * 24 + k)],
                whole[size_t(((2 + i) * 5 + 1) * 8 + k)])
          << "row " << i << " element " << k;
  // rows and cols 0 reach the grid's end: rows 4..5, columns 3..4.
  const ref::Vec tail = run(posEmbedSpec({6, 5, 4, 3, 0, 0}, 4));
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t k = 0; k < 2 * 8; ++k)
      EXPECT_EQ(tail[size_t(i * 16 + k)],
                whole[size_t(((4 + i) * 5 + 3) * 8 + k)]);
}

// K = 0: an empty sum, so every row of the result is the bias (the binder
// once took the rows as numel / K and left the result unwritten).
TEST(Plan, LinearWithoutInputFeaturesGivesTheBias) {
  PlanSpec s;
  s.arena = 128;
  s.values = {{fp::ValueKind::Arena, fp::DType::F32, {2, 0}, 0},   // x
              {fp::ValueKind::Arena, fp::DType::F32, {3, 0}, 0},   // w
              {fp::ValueKind::Arena, fp::DType::F32, {3}, 0},      // b
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
// plan.fbs, and every vector of a struct holding such a field: a new one
// must be added to the alignment check.
TEST(Plan, AlignmentCheckCoversTheSchema) {
  std::ifstream in(std::string(FRESCO_SOURCE_DIR) + "/runtime/schema/plan.fbs");
  ASSERT_TRUE(in.good());
  std::string text((std::istreambuf_iterator<char>(in)), {});
  text = std::regex_replace(text, std::regex("//[^\\n]*"), "");
  std::set<std::string> inSchema;
  const std::string wide = "long|ulong|int64|uint64|double|float64";
  // Structs with an 8-byte member are 8-byte aligned too.
  std::set<std::string> wideStructs;
  std::regex strct(R"(struct\s+(\w+)\s*\{([^}]*)\})");
  std::regex member("\\w+\\s*:\\s*(" + wide + ")\\s*;");
  for (std::sregex_iterator t(text.begin(), text.end(), strct), e; t != e;
       ++t) {
    std::string body = (*t)[2];
    if (std::regex_search(body, member))
      wideStructs.insert((*t)[1].str());
  }
  std::regex table(R"(table\s+(\w+)\s*\{([^}]*)\})");
  std::regex field(R"((\w+)\s*:\s*\[\s*(\w+)\s*\])");
  for (std::sregex_iterator t(text.begin(), text.end(), table), e; t != e;
       ++t) {
    std::string body = (*t)[2];
    for (std::sregex_iterator f(body.begin(), body.end(), field); f != e; ++f) {
      std::string type = (*f)[2];
      if (std::regex_match(type, std::regex(wide)) || wideStructs.count(type))
        inSchema.insert((*t)[1].str() + "." + (*f)[1].str());
    }
  }
  EXPECT_EQ(wideStructs, std::set<std::string>{"TextWindow"});
  std::set<std::string> checked(eightByteVectorFields().begin(),
                                eightByteVectorFields().end());
  EXPECT_EQ(inSchema, checked);
}

// fresco-compile checks what it writes with this (built without
// exceptions, it cannot catch the loader's).
TEST(Plan, CheckPlanBytesReportsWithoutThrowing) {
  EXPECT_EQ(checkPlanBytes(PlanSpec().build(), "good.fplan"), "");
  std::vector<uint8_t> junk(64, 0x41);
  EXPECT_NE(checkPlanBytes(junk, "junk.fplan")
                .find("junk.fplan is not a Fresco plan"),
            std::string::npos);
}

} // namespace

namespace fresco {
namespace {
// The plan fuzzer's seeds must reach the instruction verifiers: a seed of
// an older plan version stops at the version check. Regenerate them with
// test/fuzz/make_corpus.py after a version bump.
TEST(Plan, FuzzCorpusSeedsLoad) {
  const std::string dir =
      std::string(FRESCO_SOURCE_DIR) + "/test/fuzz/corpus/plan";
  for (const char *name :
       {"dit-tiny.fplan", "dit-tiny-bf16.fplan", "dit-tiny-tp2.fplan",
        "dit-tiny-fp8.fplan", "pipe-dit-tiny.fplan",
        "pipe-dit-tiny-patch2.fplan", "pipe-dit-tiny-pipefusion2.fplan"}) {
    SCOPED_TRACE(name);
    EXPECT_NO_THROW(LoadedPlan::fromFile(dir + "/" + name));
  }
}
} // namespace
} // namespace fresco
