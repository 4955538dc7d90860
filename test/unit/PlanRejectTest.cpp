//===- PlanRejectTest.cpp - Broken plans are rejected ---------------------===//
//
// Truncated, corrupted and semantically wrong plans: every one must be
// rejected at load or bind with a message naming the problem, never a
// crash.
//
//===----------------------------------------------------------------------===//
#include "test/unit/PlanTestUtil.h"

#include <random>

using namespace fresco;
using namespace fresco::plantest;
namespace fp = fresco::plan;

namespace {

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
    {"attention_bias_shape",
     [](PlanSpec &s) {
       s = maskedSpec({1, 2, 5}, false);
     },
     "(Attention): score bias has shape [1, 2, 5], expected [1, 2, 6]"},
    {"attention_causal_lengths", [](PlanSpec &s) { s = maskedSpec({}, true); },
     "(Attention): causal attention needs as many queries as keys, got 2 "
     "and 6"},
    {"attention_causal_key_valid",
     [](PlanSpec &s) {
       s = keyValidSpec({6});
       s.instrs[0].causal = true;
     },
     "(Attention): a causal mask or score bias cannot be combined with ring "
     "attention or key_valid"},
    {"attention_bias_ring",
     [](PlanSpec &s) {
       s = maskedSpec({1, 2, 6}, false);
       s.instrs[0].ring = {0, 1};
     },
     "a causal mask or score bias cannot be combined with ring attention"},
    {"eos_pool_ids_dtype",
     [](PlanSpec &s) {
       s = eosPoolSpec({2, 3}, fp::DType::F32);
     },
     "(EosPool): ids must be i64"},
    {"eos_pool_ids_shape",
     [](PlanSpec &s) {
       s = eosPoolSpec({2, 4});
     },
     "(EosPool): ids has shape [2, 4], expected [2, 3]"},
    {"relative_bias_table",
     [](PlanSpec &s) {
       s = relativeBiasSpec({16, 2}, 32, 20);
     },
     "(RelativePositionBias): table must be [32, H], got [16, 2]"},
    {"relative_bias_distance",
     [](PlanSpec &s) {
       s = relativeBiasSpec({32, 2}, 32, 8);
     },
     "(RelativePositionBias): max_distance 8 must exceed the 8 exact buckets"},
    {"relative_bias_buckets",
     [](PlanSpec &s) {
       s = relativeBiasSpec({2, 2}, 2, 8);
     },
     "(RelativePositionBias): num_buckets 2 outside [4, 2^20]"},
    {"relative_bias_heads",
     [](PlanSpec &s) {
       s = relativeBiasSpec({32, 3}, 32, 20);
     },
     "result must be [H, Tq, Tk] with H = 3, got [2, 5, 5]"},
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
    {"pos_window_past_grid",
     [](PlanSpec &s) {
       s = posEmbedSpec({4, 4, 2, 0, 3, 1}, 3);
     },
     "(PosEmbed2d): window 3 x 1 at (2, 0) is not inside the grid 4 x 4"},
    {"pos_window_negative",
     [](PlanSpec &s) {
       s = posEmbedSpec({4, 4, -1, 0, 1, 1}, 1);
     },
     "(PosEmbed2d): window 1 x 1 at (-1, 0) is not inside the grid 4 x 4"},
    {"pos_window_result",
     [](PlanSpec &s) {
       s = posEmbedSpec({4, 4, 1, 1, 2, 2}, 16);
     },
     "(PosEmbed2d): result has shape [1, 16, 8], expected [1, 4, 8]"},
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
    // A weight's component is a folder under the weights folder: a plan
    // cannot point outside it (issue 15).
    {"component_parent",
     [](PlanSpec &s) {
       s.withWeight = true;
       s.weightComponent = "../elsewhere";
     },
     "component '../elsewhere' is not a plain folder name"},
    {"component_absolute",
     [](PlanSpec &s) {
       s.withWeight = true;
       s.weightComponent = "/etc";
     },
     "component '/etc' is not a plain folder name"},
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
    // A gate (version 21): the operand after the bias, [first or 1, 1...,
    // N]; counted with the flag, and not with an activation.
    {"linear_gate_missing",
     [](PlanSpec &s) {
       s = linearSpec(fp::Activation::None);
       s.instrs[0].gate = true;
     },
     "instruction 0 (Linear): 2 operands with a gate"},
    {"linear_gate_shape",
     [](PlanSpec &s) {
       s = linearSpec(fp::Activation::None);
       s.values.push_back({fp::ValueKind::Arena, fp::DType::F32, {1, 2}, 96});
       s.instrs[0].operands = {0, 1, 3};
       s.instrs[0].gate = true;
       s.inputs = {0, 1, 3};
       s.inputNames = {"x", "w", "g"};
       s.arena = 128;
     },
     "instruction 0 (Linear): gate [1, 2] must be [first dimension or 1, "
     "1..., 3] for the result [2, 3]"},
    {"linear_gate_activation",
     [](PlanSpec &s) {
       s = linearSpec(fp::Activation::Silu);
       s.values.push_back({fp::ValueKind::Arena, fp::DType::F32, {1, 3}, 96});
       s.instrs[0].operands = {0, 1, 3};
       s.instrs[0].gate = true;
       s.inputs = {0, 1, 3};
       s.inputNames = {"x", "w", "g"};
       s.arena = 128;
     },
     "instruction 0 (Linear): a linear cannot take both an activation and a "
     "gate"},
    // The rope's fused q/k norm (version 13): a weight per head column and
    // a usable epsilon, and no epsilon without the weight.
    {"rope_norm_weight_shape", [](PlanSpec &s) { s = ropeSpec(8, 1e-6f); },
     "(Rope): norm weight has shape [8], expected [4]"},
    {"rope_norm_epsilon_zero", [](PlanSpec &s) { s = ropeSpec(4, 0.0f); },
     "(Rope): epsilon of the fused RMS norm must be positive and finite, got "
     "0"},
    {"rope_norm_epsilon_nan",
     [](PlanSpec &s) { s = ropeSpec(4, std::nanf("")); },
     "(Rope): epsilon of the fused RMS norm must be positive and finite"},
    {"rope_epsilon_without_norm", [](PlanSpec &s) { s = ropeSpec(0, 1e-6f); },
     "(Rope): epsilon 1e-06 without a norm weight operand"},
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
     "AllToAll, AllGather or AllReduce still in flight produces"},
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
       // Over other members: another communicator, not queued behind it.
       s = allToAllSpec();
       s.instrs[0].async = true;
       s.instrs.push_back({fp::OpCode::AllReduce, {0}, {0}, false, -1, {0, 2}});
       s.instrs.push_back({fp::OpCode::Wait, {1}, {}});
     },
     "instruction 1 (AllReduce): communicates while the asynchronous AllToAll "
     "at instruction 0 is in flight"},
    // An asynchronous AllReduce (version 22) over the default plan's values:
    // a into the sum's bytes (value 2), or in place (value 0).
    {"async_all_reduce_result_read",
     [](PlanSpec &s) {
       s.instrs = {{fp::OpCode::AllReduce, {0}, {2}, false, -1, {0, 1}},
                   {fp::OpCode::Silu, {2}, {3}},
                   {fp::OpCode::Wait, {2}, {}}};
       s.instrs[0].async = true;
     },
     "instruction 1 (Silu): touches value 2, the result of the asynchronous "
     "AllReduce at instruction 0, before its Wait"},
    {"async_all_reduce_result_written",
     [](PlanSpec &s) {
       s.instrs = {{fp::OpCode::AllReduce, {0}, {2}, false, -1, {0, 1}},
                   {fp::OpCode::Silu, {1}, {3}},
                   {fp::OpCode::Wait, {2}, {}}};
       s.instrs[0].async = true;
       s.values[3].offset = 48; // over the sum's bytes
     },
     "instruction 1 (Silu): touches value 3, the result of the asynchronous "
     "AllReduce at instruction 0, before its Wait"},
    {"async_all_reduce_in_place_operand_read",
     [](PlanSpec &s) {
       // In place, its operand may have no other reader in the window.
       s.instrs = {{fp::OpCode::AllReduce, {0}, {2}, false, -1, {0, 1}},
                   {fp::OpCode::Silu, {0}, {3}},
                   {fp::OpCode::Wait, {2}, {}}};
       s.instrs[0].async = true;
       s.values[2].offset = 0;
     },
     "instruction 1 (Silu): touches value 0, the result of the asynchronous "
     "AllReduce at instruction 0, before its Wait"},
    {"async_all_reduce_other_members",
     [](PlanSpec &s) {
       s.instrs = {{fp::OpCode::AllReduce, {0}, {2}, false, -1, {0, 1}},
                   {fp::OpCode::AllReduce, {1}, {3}, false, -1, {0, 2}},
                   {fp::OpCode::Wait, {2}, {}}};
       s.instrs[0].async = true;
     },
     "instruction 1 (AllReduce): communicates while the asynchronous "
     "AllReduce at instruction 0 is in flight"},
    {"async_all_reduce_send",
     [](PlanSpec &s) {
       // Point to point over the same members is not queued behind it.
       s.instrs = {{fp::OpCode::AllReduce, {0}, {2}, false, -1, {0, 1}},
                   {fp::OpCode::Send, {1}, {}, false, -1, {0, 1}},
                   {fp::OpCode::Wait, {2}, {}}};
       s.instrs[0].async = true;
       s.instrs[1].peer = 1;
     },
     "instruction 1 (Send): communicates while the asynchronous AllReduce"},
    {"async_all_reduce_without_wait",
     [](PlanSpec &s) {
       s.instrs = {{fp::OpCode::AllReduce, {0}, {2}, false, -1, {0, 1}}};
       s.instrs[0].async = true;
       s.outputs = {2};
     },
     "instruction 0 (AllReduce): started asynchronously but never waited "
     "for"},
    // Halo: x [1, 2, 5, 3] (value 0) into y (value 1) over members {0, 1},
    // rows along dimension 2 (haloSpec).
    {"halo_one_member",
     [](PlanSpec &s) {
       s = haloSpec(1, 1);
       s.instrs[0].members = {0};
     },
     "(Halo): a Halo group needs at least 2 members, got 1"},
    {"halo_negative", [](PlanSpec &s) { s = haloSpec(-1, 1); },
     "(Halo): halo rows must not be negative (halo_lo -1, halo_hi 1)"},
    {"halo_none", [](PlanSpec &s) { s = haloSpec(0, 0); },
     "(Halo): halo_lo and halo_hi are both 0: nothing to exchange"},
    {"halo_block_smaller", [](PlanSpec &s) { s = haloSpec(3, 1); },
     "(Halo): the block along dimension 2 has 1 rows (5 less halos of 3 and "
     "1), fewer than the halo rows its neighbours take from it"},
    {"halo_huge", // lo + hi would wrap int64 in a plain subtraction
     [](PlanSpec &s) { s = haloSpec(int64_t(1) << 62, int64_t(1) << 62); },
     "(Halo): halos of 4611686018427387904 and 4611686018427387904 rows "
     "exceed dimension 2's 5"},
    {"halo_dim",
     [](PlanSpec &s) {
       s = haloSpec(1, 1);
       s.instrs[0].dim = 4;
     },
     "(Halo): halo dimension 4 out of range for an operand of rank 4"},
    {"halo_result_shape",
     [](PlanSpec &s) {
       s = haloSpec(1, 1);
       s.values[1].shape = {1, 2, 6, 3};
     },
     "(Halo): result has shape [1, 2, 6, 3], expected [1, 2, 5, 3]"},
    {"halo_member",
     [](PlanSpec &s) {
       s = haloSpec(1, 1);
       s.instrs[0].members = {1, 2};
     },
     "this rank (0) is not a member of its Halo group"},
    // StaleGather: x [2, 3] (value 0) into y [4, 3] (value 1) over members
    // {0, 1} along dimension 0 (staleGatherSpec).
    {"stale_gather_result_shape",
     [](PlanSpec &s) {
       s = staleGatherSpec();
       s.values[1].shape = {2, 6};
     },
     "(StaleGather): result has shape [2, 6], expected [4, 3]"},
    {"stale_gather_inner_dim_shape",
     [](PlanSpec &s) {
       s = staleGatherSpec();
       s.instrs[0].dim = 1;
     },
     "(StaleGather): result has shape [4, 3], expected [2, 6]"},
    {"stale_gather_one_member",
     [](PlanSpec &s) {
       s = staleGatherSpec();
       s.instrs[0].members = {0};
       s.values[1].shape = {2, 3};
     },
     "(StaleGather): a StaleGather group needs at least 2 members, got 1"},
    {"stale_gather_dtype",
     [](PlanSpec &s) {
       s = staleGatherSpec();
       s.values[1].dtype = fp::DType::I32;
     },
     "(StaleGather): operand and result dtypes differ"},
    {"stale_gather_dim",
     [](PlanSpec &s) {
       s = staleGatherSpec();
       s.instrs[0].dim = 2;
     },
     "(StaleGather): gather dimension 2 out of range for an operand of rank "
     "2"},
    {"stale_gather_negative_dim",
     [](PlanSpec &s) {
       s = staleGatherSpec();
       s.instrs[0].dim = -1;
     },
     "(StaleGather): gather dimension -1 out of range"},
    {"stale_gather_member",
     [](PlanSpec &s) {
       s = staleGatherSpec();
       s.instrs[0].members = {1, 2};
     },
     "this rank (0) is not a member of its StaleGather group"},
    {"stale_gather_async",
     [](PlanSpec &s) {
       s = staleGatherSpec();
       s.instrs[0].async = true;
       s.instrs.push_back({fp::OpCode::Wait, {1}, {}});
     },
     "instruction 0 (StaleGather): only an AllToAll, AllGather or AllReduce "
     "starts asynchronously"},
    {"stale_gather_attrs",
     [](PlanSpec &s) {
       s = staleGatherSpec();
       s.instrs[0].members.clear();
     },
     "(StaleGather): attributes"},
    // ReduceScatter: x [2, 6, 4] (value 0) into y [2, 3, 4] (value 1) over
    // members {0, 1} along dimension 1 (reduceScatterSpec).
    {"reduce_scatter_dim",
     [](PlanSpec &s) {
       s = reduceScatterSpec();
       s.instrs[0].dim = 3;
     },
     "(ReduceScatter): scatter dimension 3 out of range for an operand of "
     "rank 3"},
    {"reduce_scatter_negative_dim",
     [](PlanSpec &s) {
       s = reduceScatterSpec();
       s.instrs[0].dim = -1;
     },
     "(ReduceScatter): scatter dimension -1 out of range"},
    {"reduce_scatter_not_divisible",
     [](PlanSpec &s) {
       s = reduceScatterSpec();
       s.instrs[0].members = {0, 1, 2, 3};
     },
     "(ReduceScatter): scatter dimension 1 of size 6 is not divisible by the "
     "4 members"},
    {"reduce_scatter_result_shape",
     [](PlanSpec &s) {
       s = reduceScatterSpec();
       s.values[1].shape = {1, 6, 4}; // split along dimension 0 instead
     },
     "(ReduceScatter): result has shape [1, 6, 4], expected [2, 3, 4]"},
    {"reduce_scatter_result_whole",
     [](PlanSpec &s) {
       s = reduceScatterSpec();
       s.values[1].shape = {2, 6, 4}; // an AllReduce's
     },
     "(ReduceScatter): result has shape [2, 6, 4], expected [2, 3, 4]"},
    {"reduce_scatter_dtype",
     [](PlanSpec &s) {
       s = reduceScatterSpec();
       s.values[0].dtype = s.values[1].dtype = fp::DType::I32;
     },
     "(ReduceScatter): operands must be f32, got i32"},
    {"reduce_scatter_member",
     [](PlanSpec &s) {
       s = reduceScatterSpec();
       s.instrs[0].members = {1, 2};
     },
     "this rank (0) is not a member of its ReduceScatter group"},
    {"reduce_scatter_async",
     [](PlanSpec &s) {
       s = reduceScatterSpec();
       s.instrs[0].async = true;
       s.instrs.push_back({fp::OpCode::Wait, {1}, {}});
     },
     "instruction 0 (ReduceScatter): only an AllToAll, AllGather or "
     "AllReduce starts asynchronously"},
    // PatchCache: b [2, 3] (value 0) into y [4, 3] (value 1), block 1 of 2
    // along dimension 0 (patchCacheSpec(true)).
    {"patch_cache_result_shape",
     [](PlanSpec &s) {
       s = patchCacheSpec(true);
       s.values[1].shape = {2, 6};
     },
     "(PatchCache): result has shape [2, 6], expected [4, 3]"},
    {"patch_cache_index",
     [](PlanSpec &s) {
       s = patchCacheSpec(true);
       s.instrs[0].patchCache = {0, 2, 2, 0};
     },
     "(PatchCache): block 2 of 2 parts"},
    {"patch_cache_parts",
     [](PlanSpec &s) {
       s = patchCacheSpec(true);
       s.instrs[0].patchCache = {0, 0, 0, 0};
     },
     "(PatchCache): parts 0 out of range 1..4096"},
    {"patch_cache_id",
     [](PlanSpec &s) {
       s = patchCacheSpec(true);
       s.instrs[0].patchCache = {-3, 1, 2, 0};
     },
     "(PatchCache): cache id -3 is negative"},
    {"patch_cache_dim",
     [](PlanSpec &s) {
       s = patchCacheSpec(true);
       s.instrs[0].patchCache = {0, 1, 2, 2};
     },
     "(PatchCache): cache dimension 2 out of range for an operand of rank 2"},
    {"patch_cache_dtype",
     [](PlanSpec &s) {
       s = patchCacheSpec(true);
       s.values[1].dtype = fp::DType::I32;
     },
     "(PatchCache): operand and result dtypes differ"},
    {"patch_cache_attrs",
     [](PlanSpec &s) {
       s = patchCacheSpec(true);
       s.instrs[0].patchCache.clear();
     },
     "(PatchCache): attributes"},
    {"send_reserved_tag",
     [](PlanSpec &s) {
       s.instrs[0] = {fp::OpCode::Send, {0}, {}, false, -1, {0, 1}};
       s.instrs[0].peer = 1;
       s.instrs[0].tag = 2147483646;
     },
     "(Send): Send tag 2147483646 is reserved for the Halo exchange"},
    // GroupNorm over x [1, 4, 2, 3] with stats_members.
    {"group_norm_stats_member",
     [](PlanSpec &s) {
       s = groupNormSpec({1, 2});
     },
     "this rank (0) is not a member of its GroupNorm statistics group "
     "(stats_members)"},
    {"group_norm_stats_one", [](PlanSpec &s) { s = groupNormSpec({0}); },
     "(GroupNorm): stats_members needs at least 2 members to split over, "
     "got 1"},
    // valid_rows (version 18): rows padded so that every level splits.
    {"group_norm_valid_rows_negative",
     [](PlanSpec &s) {
       s = groupNormSpec({});
       s.instrs[0].validRows = -2;
     },
     "(GroupNorm): valid_rows must not be negative, got -2"},
    {"group_norm_valid_rows_rank",
     [](PlanSpec &s) {
       s = groupNormSpec({});
       s.values[0].shape = s.values[1].shape = {1, 4, 6};
       s.instrs[0].validRows = 1;
     },
     "(GroupNorm): valid_rows (1) needs an input [N, C, H, W] whose rows are "
     "padded, got rank 3"},
    {"halo_valid_rows_negative",
     [](PlanSpec &s) {
       s = haloSpec(1, 1);
       s.instrs[0].validRows = -1;
     },
     "(Halo): valid_rows must not be negative, got -1"},
    {"halo_valid_rows_beyond_blocks",
     [](PlanSpec &s) {
       s = haloSpec(1, 1); // 2 members' blocks of 3 rows
       s.instrs[0].validRows = 7;
     },
     "(Halo): valid_rows 7 exceeds the 6 rows of the 2 members' blocks"},
    {"group_norm_valid_rows_beyond_bands",
     [](PlanSpec &s) {
       s = groupNormSpec({}); // one band of 2 rows
       s.instrs[0].validRows = 3;
     },
     "(GroupNorm): valid_rows 3 exceeds the 2 rows of 1 band(s) of 2"},
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

// The well-formed StaleGather behind the cases above loads (binding it
// needs its group: StaleGatherRanksTest.cpp), along either dimension, in a
// plan without a pipeline (every run of a bare function is fresh).
TEST(Plan, StaleGatherLoads) {
  EXPECT_NO_THROW(LoadedPlan::fromBytes(staleGatherSpec().build(), "s.fplan"));
  PlanSpec inner = staleGatherSpec();
  inner.instrs[0].dim = 1;
  inner.values[1].shape = {2, 6};
  EXPECT_NO_THROW(LoadedPlan::fromBytes(inner.build(), "s.fplan"));
}

// The well-formed ReduceScatter behind the cases above loads (running it
// needs its group: ReduceScatterRanksTest.cpp), along every dimension.
TEST(Plan, ReduceScatterLoads) {
  for (int64_t dim = 0; dim < 3; ++dim) {
    PlanSpec s = reduceScatterSpec();
    s.instrs[0].dim = dim;
    s.values[0].shape = {2, 3, 4};
    s.values[0].shape[size_t(dim)] *= 2;
    EXPECT_NO_THROW(LoadedPlan::fromBytes(s.build(), "rs.fplan")) << dim;
  }
}

// Asynchronous AllReduces (version 22) load: in place and not, with more
// AllReduces, an AllGather and an AllToAll over the same members in their
// windows (queued behind them on the same communicator), the tokens'
// chunks of a row-parallel GEMM each summed while the next is computed.
TEST(Plan, AsyncAllReduceWindowsLoad) {
  PlanSpec s;
  s.arena = 4 * 72;
  // a [2, 3], its chunks' sums c0, c1 (c1 in place over a1), a gather g.
  s.values = {{fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 0},    // a0
              {fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 24},   // a1
              {fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 48},   // c0
              {fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 24},   // c1
              {fp::ValueKind::Arena, fp::DType::F32, {4, 3}, 72},   // g
              {fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 120},  // t
              {fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 144},  // u
              {fp::ValueKind::Arena, fp::DType::F32, {2, 3}, 168}}; // e
  InstrSpec r0{fp::OpCode::AllReduce, {0}, {2}, false, -1, {0, 1}};
  InstrSpec r1{fp::OpCode::AllReduce, {1}, {3}, false, -1, {0, 1}};
  InstrSpec gather{fp::OpCode::AllGather, {0}, {4}, false, -1, {0, 1}};
  InstrSpec a2a{fp::OpCode::AllToAll, {0}, {7}, false, -1, {0, 1}};
  r0.async = r1.async = true;
  s.instrs = {r0,
              {fp::OpCode::Silu, {0}, {5}},
              r1,
              gather,
              a2a,
              {fp::OpCode::Wait, {2}, {}},
              {fp::OpCode::Wait, {3}, {}},
              {fp::OpCode::Add, {2, 3}, {6}}};
  s.inputs = {0, 1};
  s.inputNames = {"a0", "a1"};
  s.outputs = {6, 4, 5, 7};
  s.outputNames = {"u", "g", "t", "e"};
  EXPECT_NO_THROW(LoadedPlan::fromBytes(s.build(), "ar.fplan"));
}

// PipeFusion's cache: a whole write, then a block read back with the
// earlier write's other block; a second run sees the first run's blocks
// until it writes its own. Reading before any whole write is an error, as
// is one id bound at two sizes.
TEST(Plan, PatchCacheKeepsBlocksAcrossRuns) {
  LoadedPlan p = LoadedPlan::fromBytes(patchCacheSpec().build(), "pc.fplan");
  WeightStore weights(p.rank(0), "/nonexistent");
  auto backend = createCpuBackend();
  Executor exec(p, 0, *backend, weights);
  EXPECT_EQ(exec.staleStateBytes(), 4u * 12);
  auto tensor = [](std::vector<int64_t> shape, float base) {
    HostTensor t{DType::F32, shape, {}};
    t.data.resize(size_t(numElements(shape)) * 4);
    for (int64_t i = 0; i < t.numel(); ++i)
      t.as<float>()[i] = base + float(i);
    return t;
  };
  for (float run : {0.0f, 100.0f}) {
    HostTensor w = tensor({4, 3}, run), b = tensor({2, 3}, run + 50);
    std::vector<HostTensor> out = exec.run("f", {w, b});
    ASSERT_EQ(out.size(), 2u);
    for (int i = 0; i < 12; ++i) {
      EXPECT_EQ(out[0].as<float>()[i], w.as<float>()[i]) << i;
      // Rows 0-1 from the whole write, rows 2-3 this block.
      EXPECT_EQ(out[1].as<float>()[i],
                i < 6 ? w.as<float>()[i] : b.as<float>()[i - 6])
          << i;
    }
  }

  LoadedPlan q =
      LoadedPlan::fromBytes(patchCacheSpec(true).build(), "pc1.fplan");
  WeightStore qw(q.rank(0), "/nonexistent");
  Executor patched(q, 0, *backend, qw);
  try {
    patched.run("f", {tensor({2, 3}, 0)});
    ADD_FAILURE() << "a patched read of an unwritten cache ran";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find(
                  "(PatchCache): cache 0 is read before it was written "
                  "whole: the pipeline's warm-up function"),
              std::string::npos)
        << e.what();
  }

  PlanSpec twoSizes = patchCacheSpec();
  twoSizes.values[2].shape = {1, 3};
  twoSizes.values[3].shape = {2, 3};
  EXPECT_NE(loadError(twoSizes.build())
                .find("(PatchCache): cache 0 is 48 bytes in another "
                      "instruction, 24 here"),
            std::string::npos);
}

// The well-formed ropes behind the rope cases above load and bind: plain,
// and with the fused q/k norm.
TEST(Plan, RopeWithAndWithoutNormLoads) {
  EXPECT_EQ(loadError(ropeSpec(0, 0.0f).build()), "");
  EXPECT_EQ(loadError(ropeSpec(4, 1e-6f).build()), "");
}

} // namespace
