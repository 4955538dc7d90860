//===- OpTableTest.cpp - Every op gets its encoding and checks from Ops.def
//===//
//
// These tests walk runtime/schema/Ops.def: a row added there is encoded
// (the generated OpCode enum) and verified at load (counts, attribute
// table, dtypes) with no other edit, and each case below covers it.
//
//===----------------------------------------------------------------------===//
#include "runtime/schema/OpTable.h"
#include "runtime/backends/cpu/CpuBackend.h"
#include "runtime/core/Error.h"
#include "runtime/core/Plan.h"
#include "runtime/core/PlanVersion.h"
#include "runtime/core/ops/OpRegistry.h"
#include "test/unit/TestUtil.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

using namespace fresco;
namespace fp = fresco::plan;

namespace {

struct Instr {
  fp::OpCode op;
  uint32_t operands = 0, results = 0;
  fp::OpAttrs attrs = fp::OpAttrs::NONE;
  bool i64Operand = false; // operand 0 is i64 instead of f32
};

/// A one-instruction plan over [2, 4] arena values: operands first, then
/// results. Attributes are an empty table of the requested type (every
/// field at its default), which is all the row checks look at.
std::vector<uint8_t> build(const Instr &in) {
  flatbuffers::FlatBufferBuilder b;
  std::vector<flatbuffers::Offset<fp::Value>> values;
  std::vector<int32_t> ops, res;
  const uint32_t n = in.operands + in.results;
  for (uint32_t i = 0; i < n; ++i) {
    bool i64 = in.i64Operand && i == 0;
    values.push_back(fp::CreateValue(b, fp::ValueKind::Arena,
                                     i64 ? fp::DType::I64 : fp::DType::F32,
                                     b.CreateVector<int64_t>({2, 4}), 64 * i));
    (i < in.operands ? ops : res).push_back(int32_t(i));
  }
  flatbuffers::Offset<void> attrs;
  if (in.attrs != fp::OpAttrs::NONE)
    attrs = flatbuffers::Offset<void>(b.EndTable(b.StartTable()));
  auto instr = fp::CreateInstr(b, in.op, b.CreateVector(ops),
                               b.CreateVector(res), in.attrs, attrs);
  std::vector<flatbuffers::Offset<fp::Instr>> instrs = {instr};
  const uint64_t arena = 64 * std::max<uint32_t>(n, 1);
  auto fn = fp::CreateFunction(
      b, b.CreateString("f"), b.CreateVector(values), b.CreateVector(instrs),
      b.CreateVector(std::vector<int32_t>()),
      b.CreateVectorOfStrings(std::vector<std::string>()),
      b.CreateVector(std::vector<int32_t>()),
      b.CreateVectorOfStrings(std::vector<std::string>()), arena, arena);
  std::vector<flatbuffers::Offset<fp::Function>> fns = {fn};
  auto rank = fp::CreateRankProgram(b, 0, b.CreateVector(fns), 0, arena);
  std::vector<flatbuffers::Offset<fp::RankProgram>> ranks = {rank};
  fp::FinishPlanBuffer(b, fp::CreatePlan(b, kPlanVersion, b.CreateString("t"),
                                         1, b.CreateVector(ranks)));
  return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
}

std::string loadError(const Instr &in,
                      const OpRegistry &ops = OpRegistry::global()) {
  try {
    LoadedPlan::fromBytes(build(in), "t.fplan", ops);
  } catch (const Error &e) {
    return e.what();
  }
  return "";
}

/// Some attribute table other than `t`.
fp::OpAttrs otherAttrs(fp::OpAttrs t) {
  return t == fp::OpAttrs::GeluAttrs ? fp::OpAttrs::UpsampleAttrs
                                     : fp::OpAttrs::GeluAttrs;
}

/// The counts and attributes the row accepts, the first choice of each.
Instr valid(const OpInfo &row) {
  Instr in{row.code, row.minOperands, row.minResults, fp::OpAttrs::NONE};
  if (row.attrsUse == AttrsUse::Required)
    in.attrs = row.attrs;
  return in;
}

} // namespace

TEST(OpTable, GeneratedEnumFollowsTheRows) {
  for (const OpInfo &row : optable::kOps)
    EXPECT_STREQ(fp::EnumNameOpCode(row.code), row.name);
  EXPECT_EQ(size_t(fp::OpCode::MAX) + 1, optable::kNumOps);
}

// Op codes are stored in plans: a row moved or removed would make every
// older plan mean something else. The enum follows the rows, so only a
// list written down here catches that.
TEST(OpTable, OpCodeValuesNeverChange) {
  const char *stored[] = {
      "Linear",    "Conv2d",     "LayerNorm", "Modulate",
      "Attention", "Gelu",       "Silu",      "Add",
      "Sub",       "Mul",        "Div",       "TimestepEmbedding",
      "Embedding", "PosEmbed2d", "Transpose", "Slice",
      "Concat",    "Copy",       "GroupNorm", "UpsampleNearest",
      "AllReduce", "AllGather",  "AllToAll",  "Send",
      "Recv",      "Broadcast",  "RmsNorm",   "MulAdd",
      "Wait",      "Pad",       "RopeTable",  "Rope",
      "QuickGelu", "EosPool",   "RelativePositionBias"};
  ASSERT_GE(optable::kNumOps, std::size(stored));
  for (size_t i = 0; i < std::size(stored); ++i)
    EXPECT_STREQ(optable::kOps[i].name, stored[i]) << "op code " << i;
}

TEST(OpTable, RowsAreConsistent) {
  for (const OpInfo &row : optable::kOps) {
    SCOPED_TRACE(row.name);
    EXPECT_LE(row.minOperands, row.maxOperands);
    EXPECT_LE(row.minResults, row.maxResults);
    EXPECT_EQ(row.attrsUse == AttrsUse::None, row.attrs == fp::OpAttrs::NONE);
  }
}

TEST(OpTable, WrongCountsAreRejectedForEveryOp) {
  for (const OpInfo &row : optable::kOps) {
    SCOPED_TRACE(row.name);
    const std::string op = std::string("(") + row.name + "): takes ";
    Instr in = valid(row);
    if (row.maxOperands != optable::Variadic) {
      in.operands = row.maxOperands + 1;
      std::string e = loadError(in);
      EXPECT_NE(e.find(op), std::string::npos) << e;
      EXPECT_NE(e.find("operands, got"), std::string::npos) << e;
    }
    if (row.minOperands > 0) {
      in = valid(row);
      in.operands = row.minOperands - 1;
      EXPECT_NE(loadError(in).find("operands, got"), std::string::npos);
    }
    in = valid(row);
    in.results = row.maxResults + 1;
    std::string e = loadError(in);
    EXPECT_NE(e.find(op), std::string::npos) << e;
    EXPECT_NE(e.find("results, got"), std::string::npos) << e;
  }
}

TEST(OpTable, WrongAttributesAreRejectedForEveryOp) {
  for (const OpInfo &row : optable::kOps) {
    SCOPED_TRACE(row.name);
    Instr in = valid(row);
    in.attrs = otherAttrs(row.attrs);
    std::string e = loadError(in);
    EXPECT_NE(e.find(std::string("(") + row.name + "): "), std::string::npos)
        << e;
    EXPECT_NE(e.find(row.attrsUse == AttrsUse::None ? "takes no attributes"
                                                    : "attributes must be"),
              std::string::npos)
        << e;
    if (row.attrsUse == AttrsUse::Required) {
      in.attrs = fp::OpAttrs::NONE;
      EXPECT_NE(loadError(in).find("got none"), std::string::npos);
    }
  }
}

TEST(OpTable, FloatOpsRejectOtherDTypes) {
  for (const OpInfo &row : optable::kOps) {
    if (row.dtypes != DTypeRule::Float || row.minOperands == 0)
      continue;
    SCOPED_TRACE(row.name);
    Instr in = valid(row);
    in.i64Operand = true;
    std::string e = loadError(in);
    EXPECT_NE(e.find("operands must be f32, got i64"), std::string::npos) << e;
  }
}

TEST(OpTable, MovesKeepTheirDType) {
  for (const OpInfo &row : optable::kOps) {
    if (row.dtypes != DTypeRule::Moves || row.minOperands == 0 ||
        row.minResults == 0)
      continue;
    SCOPED_TRACE(row.name);
    Instr in = valid(row);
    in.i64Operand = true;
    EXPECT_NE(loadError(in).find("operand and result dtypes differ"),
              std::string::npos);
  }
}

TEST(OpTable, UnknownOpCodeIsRejected) {
  Instr in{fp::OpCode(optable::kNumOps), 1, 1};
  EXPECT_NE(loadError(in).find("unknown op code"), std::string::npos);
}

// A new row gets the next op code and keeps every existing one: the
// generator run on Ops.def with one more row.
TEST(OpTable, NewRowGetsTheNextOpCode) {
  const std::string dir = ::testing::TempDir();
  const std::string def = dir + "/Ops.def", out = dir + "/opcodes.fbs";
  {
    std::ifstream in(fresco::test::repoRoot() + "/runtime/schema/Ops.def");
    std::stringstream text;
    text << in.rdbuf();
    std::ofstream o(def);
    std::string s = text.str();
    const std::string marker = "// clang-format on";
    s.insert(s.find(marker),
             "FRESCO_OP(Tanh, NONE, None, 1, 1, 1, 1, Float, Unary)\n");
    o << s;
  }
  const std::string cmd = std::string(FRESCO_CMAKE_COMMAND) +
                          " -DOPS_DEF=" + def + " -DOUT=" + out + " -P " +
                          fresco::test::repoRoot() +
                          "/runtime/schema/GenerateOpCodes.cmake";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream gen(out);
  std::stringstream text;
  text << gen.rdbuf();
  std::string s = text.str();
  // The enumerators in order: each row's name, the new one last.
  size_t at = s.find('{');
  for (const OpInfo &row : optable::kOps) {
    size_t next = s.find(std::string(row.name) + ",", at);
    ASSERT_NE(next, std::string::npos) << row.name;
    at = next;
  }
  EXPECT_NE(s.find("Tanh\n}", at), std::string::npos) << s;
}

TEST(OpTable, RegistryHoldsEveryRow) {
  const OpRegistry &r = OpRegistry::global();
  ASSERT_EQ(r.size(), optable::kNumOps);
  for (const OpInfo &row : optable::kOps) {
    SCOPED_TRACE(row.name);
    const OpEntry *e = r.find(row.code);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->info.code, row.code);
    EXPECT_STREQ(e->info.name, row.name);
    EXPECT_EQ(e->info.attrs, row.attrs);
    EXPECT_EQ(e->info.attrsUse, row.attrsUse);
    EXPECT_EQ(e->info.minOperands, row.minOperands);
    EXPECT_EQ(e->info.maxOperands, row.maxOperands);
    EXPECT_EQ(e->info.minResults, row.minResults);
    EXPECT_EQ(e->info.maxResults, row.maxResults);
    EXPECT_EQ(e->info.dtypes, row.dtypes);
    EXPECT_FALSE(e->borrowsFamily);
  }
  EXPECT_EQ(r.find(fp::OpCode(optable::kNumOps)), nullptr);
}

namespace {

// New rows as a contributor would append them to Ops.def, each naming a
// family that has no case for it yet. The registry is built from the
// rows exactly as OpRegistry::global() is; only the generated OpCode enum
// (and so plan::EnumNameOpCode) lacks them, which the runtime never needs:
// messages take the op's name from its row.
const char *const kNewRows[] = {"Tanh", "Pow", "Gather", "L2Norm"};
const char *const kNewRowFamilies[] = {"Unary", "Binary", "PointToPoint",
                                       "RmsNorm"};

const OpRegistry &withNewRows() {
  using namespace optable;
  static const OpRegistry r({
#define FRESCO_OP(...) FRESCO_OP_ENTRY(__VA_ARGS__),
#include "runtime/schema/Ops.def"
      FRESCO_OP_ENTRY(Tanh, NONE, None, 1, 1, 1, 1, Float, Unary),
      FRESCO_OP_ENTRY(Pow, NONE, None, 2, 2, 1, 1, Float, Binary),
      FRESCO_OP_ENTRY(Gather, CollectiveAttrs, Required, 1, 1, 1, 1, Moves,
                      PointToPoint),
      FRESCO_OP_ENTRY(L2Norm, RmsNormAttrs, Required, 1, 2, 1, 1, Float,
                      RmsNorm),
  });
  return r;
}

fp::OpCode newRow(size_t i) { return fp::OpCode(optable::kNumOps + i); }

} // namespace

// The row alone gives a new op its load-time checks: counts, attribute
// table and dtypes are refused naming the new op, before its family runs.
TEST(OpTable, NewRowIsVerifiedAtLoad) {
  const OpRegistry &r = withNewRows();
  ASSERT_EQ(r.size(), optable::kNumOps + std::size(kNewRows));
  for (size_t i = 0; i < std::size(kNewRows); ++i) {
    const OpInfo &row = r.find(newRow(i))->info;
    ASSERT_STREQ(row.name, kNewRows[i]);
    SCOPED_TRACE(row.name);
    const std::string op = std::string("instruction 0 (") + row.name + "): ";
    Instr in = valid(row);
    in.operands = row.maxOperands + 1;
    EXPECT_NE(loadError(in, r).find(op + "takes "), std::string::npos)
        << loadError(in, r);
    in = valid(row);
    in.results = row.maxResults + 1;
    EXPECT_NE(loadError(in, r).find("results, got"), std::string::npos);
    in = valid(row);
    in.attrs = otherAttrs(row.attrs);
    EXPECT_NE(loadError(in, r).find(op + (row.attrsUse == AttrsUse::None
                                              ? "takes no attributes"
                                              : "attributes must be")),
              std::string::npos)
        << loadError(in, r);
    if (row.attrsUse == AttrsUse::Required) {
      in.attrs = fp::OpAttrs::NONE;
      EXPECT_NE(loadError(in, r).find(op + "attributes must be " +
                                      fp::EnumNameOpAttrs(row.attrs) +
                                      ", got none"),
                std::string::npos)
          << loadError(in, r);
    }
    if (row.dtypes == DTypeRule::Float) {
      in = valid(row);
      in.i64Operand = true;
      EXPECT_NE(loadError(in, r).find(op + "operands must be f32, got i64"),
                std::string::npos)
          << loadError(in, r);
    }
    // Well formed, it reaches its family, which has no case for it: the
    // load fails naming both rather than running another op's kernel.
    EXPECT_NE(loadError(valid(row), r)
                  .find(op + "the " + kNewRowFamilies[i] +
                        " family does not implement " + row.name),
              std::string::npos)
        << loadError(valid(row), r);
  }
}

// Binding goes through the same rows: a family given an op it has no case
// for fails naming the op instead of defaulting to one of its kernels
// (bindUnary used to compute SiLU, bindBinary Add).
TEST(OpTable, FamilyWithoutTheOpRefusesToBindIt) {
  const OpRegistry &r = withNewRows();
  std::unique_ptr<Backend> be = createCpuBackend();
  auto scratch = std::make_shared<ScratchArena>(*be);
  GroupResolver noGroups;
  for (size_t i = 0; i < std::size(kNewRows); ++i) {
    const OpInfo &row = r.find(newRow(i))->info;
    SCOPED_TRACE(row.name);
    Instr spec = valid(row);
    std::vector<uint8_t> bytes = build(spec);
    const fp::Function &f =
        *fp::GetPlan(bytes.data())->ranks()->Get(0)->functions()->Get(0);
    const fp::Instr &in = *f.instrs()->Get(0);
    std::vector<float> mem(8 * (spec.operands + spec.results));
    std::vector<Ref> ops, res;
    for (uint32_t k = 0; k < spec.operands + spec.results; ++k)
      (k < spec.operands ? ops : res)
          .push_back({mem.data() + 8 * k, DType::F32, {2, 4}, sizeof(float)});
    OpBind b{in, std::move(ops), std::move(res), *be, "bind test", noGroups,
             0,  scratch};
    try {
      r.bind(b);
      ADD_FAILURE() << "bound to another op's kernel";
    } catch (const Error &e) {
      EXPECT_EQ(
          std::string(e.what()).find(std::string("bind test (") + row.name +
                                     "): the " + kNewRowFamilies[i] +
                                     " family does not implement " + row.name),
          0u)
          << e.what();
    }
  }
}
