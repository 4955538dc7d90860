//===- WeightStoreTest.cpp - Weights in their checkpoint dtype ------------===//
//
// The store keeps each slice in its checkpoint's dtype and converts one
// tensor at a time on request; older tensor names are found through
// io/KeyAliases; a LoRA's update lands in each slice (diffusers' semantics
// are test/e2e/lora_parity.sh's).
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Error.h"
#include "runtime/core/Lora.h"
#include "runtime/core/Weights.h"
#include "runtime/io/KeyAliases.h"
#include "runtime/io/Safetensors.h"
#include "test/unit/TestUtil.h"
#include "test/unit/WeightTable.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <fstream>

using namespace fresco;
namespace fp = fresco::plan;
using fresco::test::rankOf;
using fresco::test::SliceSpec;
using fresco::test::weightTable;

namespace {

/// values[i] = i / 4 - 1 (exact in bf16 and f16), [3, 4], saved as `dtype`
/// under `name`.
std::vector<float> writeTensor(const test::TempDir &dir, DType dtype,
                               const std::string &name = "w") {
  std::vector<float> v(12);
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = float(i) / 4 - 1;
  std::vector<uint8_t> bytes(v.size() * dtypeSize(dtype));
  narrowFloats(v.data(), bytes.data(), v.size(), dtype);
  std::ofstream(dir / "config.json") << "{}";
  writeSafetensors(dir / "diffusion_pytorch_model.safetensors",
                   {{name, dtype, {3, 4}, bytes.data()}});
  return v;
}

} // namespace

TEST(WeightStore, KeepsTheCheckpointDtypeUntilAsked) {
  test::TempDir dir;
  std::vector<float> v = writeTensor(dir, DType::BF16);
  auto table = weightTable({{"w", {3, 4}, {0, 0}, {3, 4}}});
  WeightStore store(rankOf(table), dir.path());
  ASSERT_EQ(store.size(), 1u);
  EXPECT_EQ(store.dtype(0), DType::BF16);
  EXPECT_EQ(store.count(0), 12u);
  EXPECT_EQ(store.bytesLoaded(), 12u * 2);

  std::vector<uint8_t> same(24), expected(24);
  store.copyAs(0, DType::BF16, same.data());
  narrowFloats(v.data(), expected.data(), 12, DType::BF16);
  EXPECT_EQ(same, expected);
  std::vector<float> wide(12);
  store.copyAs(0, DType::F32, wide.data());
  EXPECT_EQ(wide, v);
  std::vector<uint8_t> half(24);
  store.copyAs(0, DType::F16, half.data());
  narrowFloats(v.data(), expected.data(), 12, DType::F16);
  EXPECT_EQ(half, expected);
  EXPECT_THROW(store.copyAs(0, DType::I64, wide.data()), Error);
  EXPECT_EQ(store.dtype(0), DType::BF16); // copies change nothing

  // A host backend's view: widened in place, once.
  const float *f32 = store.data(0);
  EXPECT_EQ(std::vector<float>(f32, f32 + 12), v);
  EXPECT_EQ(store.dtype(0), DType::F32);
  EXPECT_EQ(store.data(0), f32);
  store.copyAs(0, DType::BF16, same.data());
  narrowFloats(v.data(), expected.data(), 12, DType::BF16);
  EXPECT_EQ(same, expected);
}

TEST(WeightStore, ReadsOnlyTheSliceInItsDtype) {
  test::TempDir dir;
  std::vector<float> v = writeTensor(dir, DType::F16);
  // Rows 1..2, columns 2..3.
  auto table = weightTable({{"w", {3, 4}, {1, 2}, {2, 2}}});
  WeightStore store(rankOf(table), dir.path());
  EXPECT_EQ(store.dtype(0), DType::F16);
  EXPECT_EQ(store.bytesLoaded(), 4u * 2);
  std::vector<float> got(4);
  store.copyAs(0, DType::F32, got.data());
  EXPECT_EQ(got, (std::vector<float>{v[6], v[7], v[10], v[11]}));
}

// W + scale * alpha / r * B A, in a row slice that reaches past the tensor
// (its padding stays zero) and a column slice, rounded once into a bf16
// run's storage, or exact in an f32 run's.
TEST(WeightStore, MergesALoraIntoEachSlice) {
  test::TempDir dir;
  std::vector<float> v = writeTensor(dir, DType::BF16, "w.weight");
  const std::vector<float> a = {1, 0.5f, -1, 2}, b = {0.25f, -0.5f, 1};
  const float alpha = 3;
  writeSafetensors(dir / "lora.safetensors",
                   {{"model.w.lora_A.weight", DType::F32, {1, 4}, a.data()},
                    {"model.w.lora_B.weight", DType::F32, {3, 1}, b.data()},
                    {"model.w.alpha", DType::F32, {}, &alpha}});
  // Rows 2..3 of 3 (row 3 is padding), and columns 1..2 of every row.
  auto table = weightTable({{"w.weight", {3, 4}, {2, 0}, {2, 4}},
                            {"w.weight", {3, 4}, {0, 1}, {3, 2}}});
  LoraSet loras({{dir / "lora.safetensors", 0.5f}}, *fp::GetPlan(table.data()));
  EXPECT_EQ(loras.moduleCount(), 1u);
  WeightStore store(rankOf(table), dir.path(), &loras, DType::BF16);
  auto merged = [&](int row, int col) {
    float w = v[size_t(row * 4 + col)] + 0.5f * alpha * b[row] * a[col];
    uint16_t h = 0;
    narrowFloats(&w, &h, 1, DType::BF16);
    float back = 0;
    widenFloats(&h, &back, 1, DType::BF16);
    return back;
  };
  std::vector<float> rows(8), cols(6);
  store.copyAs(0, DType::F32, rows.data());
  store.copyAs(1, DType::F32, cols.data());
  for (int c = 0; c < 4; ++c) {
    EXPECT_EQ(rows[size_t(c)], merged(2, c)) << c;
    EXPECT_EQ(rows[size_t(4 + c)], 0.0f) << c;
  }
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 2; ++c)
      EXPECT_EQ(cols[size_t(r * 2 + c)], merged(r, 1 + c)) << r << c;
  // An f32 run keeps the update exact on the bf16 checkpoint's weights.
  WeightStore exact(rankOf(table), dir.path(), &loras, DType::F32);
  EXPECT_EQ(exact.dtype(1), DType::F32);
  EXPECT_EQ(exact.bytesLoaded(), store.bytesLoaded());
  const float *w = exact.data(1);
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 2; ++c)
      EXPECT_EQ(w[r * 2 + c],
                v[size_t(r * 4 + 1 + c)] + 0.5f * alpha * b[r] * a[1 + c])
          << r << c;
}

TEST(WeightStore, RefusesALoraThePlanCannotTake) {
  test::TempDir dir;
  writeTensor(dir, DType::F32, "w.weight");
  auto table = weightTable({{"w.weight", {3, 4}, {0, 0}, {3, 4}}});
  const fp::Plan &plan = *fp::GetPlan(table.data());
  std::vector<float> zeros(64);
  auto lora = [&](std::vector<SafetensorsEntry> entries) {
    writeSafetensors(dir / "l.safetensors", entries);
    return std::vector<LoraFile>{{dir / "l.safetensors", 1}};
  };
  test::expectError(
      [&] {
        LoraSet(
            lora({{"model.v.lora_A.weight", DType::F32, {1, 4}, zeros.data()},
                  {"model.v.lora_B.weight", DType::F32, {3, 1}, zeros.data()}}),
            plan);
      },
      {"module 'model.v' adapts 'v.weight', which is a model weight of "
       "neither"});
  test::expectError(
      [&] {
        LoraSet(
            lora({{"model.w.lora_A.weight", DType::F32, {1, 3}, zeros.data()},
                  {"model.w.lora_B.weight", DType::F32, {3, 1}, zeros.data()}}),
            plan);
      },
      {"has lora_A [1, 3], which does not fit the inputs of 'w.weight' [3, "
       "4]"});
  test::expectError(
      [&] {
        LoraSet(
            lora({{"model.w.lora_A.weight", DType::F32, {1, 4}, zeros.data()}}),
            plan);
      },
      {"'model.w' has lora_A but no lora_B"});
  test::expectError(
      [&] {
        LoraSet(lora({{"lora_unet_w.lora_down.weight",
                       DType::F32,
                       {1, 4},
                       zeros.data()}}),
                plan);
      },
      {"module 'lora_unet_w' has lora_down but no lora_up"});
  test::expectError([&] { parseLoraSpec("x.safetensors:nan"); },
                    {"the scale must be a finite number"});
  EXPECT_EQ(parseLoraSpec("a:b/x.safetensors").path, "a:b/x.safetensors");
  EXPECT_EQ(parseLoraSpec("x.safetensors:-0.25").scale, -0.25f);
  EXPECT_EQ(parseLoraSpec("x.safetensors").scale, 1.0f);
}

// A kohya qkv module's lora_up rows split among q, k and v; with k left
// out of the plan (the checkpoint has it), v still takes rows 4..5. A module
// on a weight only the checkpoint has is checked against its shape.
TEST(WeightStore, LeftOutTargetsKeepTheirRowsOfAFusedUpdate) {
  test::TempDir dir;
  std::vector<float> w(8, 0.0f), down = {1, 2, 3, 4},
                                 up = {1, 10, 100, 1000, 10000, 100000};
  const float alpha = 1;
  std::ofstream(dir / "config.json") << "{}";
  const std::string q = "transformer_blocks.0.attn.to_";
  writeSafetensors(dir / "diffusion_pytorch_model.safetensors",
                   {{q + "q.weight", DType::F32, {2, 4}, w.data()},
                    {q + "k.weight", DType::F32, {2, 4}, w.data()},
                    {q + "v.weight", DType::F32, {2, 4}, w.data()},
                    {"u.weight", DType::F32, {2, 4}, w.data()}});
  const std::string k = "lora_unet_double_blocks_0_img_attn_qkv";
  writeSafetensors(dir / "qkv.safetensors",
                   {{k + ".lora_down.weight", DType::F32, {1, 4}, down.data()},
                    {k + ".lora_up.weight", DType::F32, {6, 1}, up.data()},
                    {k + ".alpha", DType::F32, {}, &alpha}});
  auto table =
      weightTable({{q + "q.weight", {2, 4}, {0, 0}, {2, 4}, "transformer"},
                   {q + "v.weight", {2, 4}, {0, 0}, {2, 4}, "transformer"}});
  const fp::Plan &plan = *fp::GetPlan(table.data());
  LoraSet loras({{dir / "qkv.safetensors", 1}}, plan, dir.path());
  EXPECT_EQ(loras.moduleCount(), 2u); // q and v
  WeightStore store(rankOf(table), dir.path(), &loras);
  const float *v = store.data(1);
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 4; ++c)
      EXPECT_EQ(v[r * 4 + c], up[size_t(4 + r)] * down[size_t(c)]) << r << c;
  // Without the folder k is unknown, so the module is refused.
  test::expectError(
      [&] {
        LoraSet({{dir / "qkv.safetensors", 1}}, plan);
      },
      {"transformer_blocks.0.attn.to_k.weight', which is a "
       "transformer weight of neither this plan nor its "
       "checkpoint"});
  std::vector<float> a(4, 1), b(3, 1);
  writeSafetensors(
      dir / "u.safetensors",
      {{"transformer.u.lora_A.weight", DType::F32, {1, 4}, a.data()},
       {"transformer.u.lora_B.weight", DType::F32, {3, 1}, b.data()}});
  test::expectError(
      [&] {
        LoraSet({{dir / "u.safetensors", 1}}, plan, dir.path());
      },
      {"has lora_B [3, 1] for 3 outputs, but 'u.weight' has 2"});
}

TEST(WeightStore, F32CheckpointNarrowsPerTensor) {
  test::TempDir dir;
  std::vector<float> v = writeTensor(dir, DType::F32);
  auto table = weightTable({{"w", {3, 4}, {0, 0}, {3, 4}}});
  WeightStore store(rankOf(table), dir.path());
  EXPECT_EQ(store.dtype(0), DType::F32);
  EXPECT_EQ(store.bytesLoaded(), 12u * 4);
  EXPECT_EQ(std::memcmp(store.bytes(0), v.data(), 48), 0);
  std::vector<uint8_t> got(24), expected(24);
  store.copyAs(0, DType::BF16, got.data());
  narrowFloats(v.data(), expected.data(), 12, DType::BF16);
  EXPECT_EQ(got, expected);
}

/// Element `at` (row-major in `sizes`) of the slice [offsets, offsets +
/// sizes) of a tensor `full` holding `v`: zero outside the tensor.
float paddedElement(const std::vector<float> &v,
                    const std::vector<int64_t> &full,
                    const std::vector<int64_t> &offsets,
                    const std::vector<int64_t> &sizes, int64_t at) {
  int64_t src = 0;
  for (size_t d = sizes.size(); d-- > 0;) {
    const int64_t i = offsets[d] + at % sizes[d];
    at /= sizes[d];
    if (i >= full[d])
      return 0.0f;
    int64_t stride = 1;
    for (size_t e = d + 1; e < full.size(); ++e)
      stride *= full[e];
    src += i * stride;
  }
  return v[size_t(src)];
}

// Zero-padded weights (plan version 8): a slice reaching past its tensor
// reads the part inside and zeros beyond, in the checkpoint's dtype.
TEST(WeightStore, SlicesPastTheTensorReadZeros) {
  const std::vector<SliceSpec> slices = {
      {"w", {3, 4}, {0, 0}, {4, 4}},  // one padded row (a [3, 4] -> [4, 4])
      {"w", {3, 4}, {2, 1}, {3, 4}},  // past the end in both dimensions
      {"w", {3, 4}, {3, 0}, {2, 4}},  // starts at the end: all zeros
      {"w", {3, 4}, {7, 9}, {1, 2}},  // starts beyond it: all zeros
      {"w", {3, 4}, {1, 0}, {2, 4}}}; // inside: as before
  for (DType dtype : {DType::F32, DType::F16, DType::BF16}) {
    SCOPED_TRACE(dtypeName(dtype));
    test::TempDir dir;
    std::vector<float> v = writeTensor(dir, dtype);
    auto table = weightTable(slices);
    WeightStore store(rankOf(table), dir.path());
    for (size_t i = 0; i < slices.size(); ++i) {
      const SliceSpec &sl = slices[i];
      SCOPED_TRACE("slice " + std::to_string(i));
      const size_t n = size_t(numElements(sl.sizes));
      ASSERT_EQ(store.count(int(i)), n);
      EXPECT_EQ(store.dtype(int(i)), dtype); // kept until upload
      std::vector<float> want(n);
      for (size_t e = 0; e < n; ++e)
        want[e] = paddedElement(v, sl.full, sl.offsets, sl.sizes, int64_t(e));
      std::vector<float> got(n);
      store.copyAs(int(i), DType::F32, got.data());
      EXPECT_EQ(got, want);
      // The stored bytes themselves, as a same-dtype upload copies them.
      std::vector<uint8_t> raw(n * dtypeSize(dtype)), expected(raw.size());
      store.copyAs(int(i), dtype, raw.data());
      if (dtype == DType::F32)
        std::memcpy(expected.data(), want.data(), raw.size());
      else
        narrowFloats(want.data(), expected.data(), n, dtype);
      EXPECT_EQ(raw, expected);
    }
  }
}

TEST(WeightStore, PaddedSliceOfARank3Tensor) {
  test::TempDir dir;
  std::vector<float> v(24);
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = float(i) + 1;
  std::ofstream(dir / "config.json") << "{}";
  writeSafetensors(dir / "diffusion_pytorch_model.safetensors",
                   {{"w", DType::F32, {2, 3, 4}, v.data()}});
  const SliceSpec sl{"w", {2, 3, 4}, {1, 1, 2}, {2, 3, 3}};
  auto table = weightTable({sl});
  WeightStore store(rankOf(table), dir.path());
  std::vector<float> got(18), want(18);
  store.copyAs(0, DType::F32, got.data());
  for (size_t e = 0; e < want.size(); ++e)
    want[e] = paddedElement(v, sl.full, sl.offsets, sl.sizes, int64_t(e));
  EXPECT_EQ(got, want);
  // 2 * 2 * 2 values lie inside the tensor; the rest of the 18 are zero.
  EXPECT_EQ(std::count(got.begin(), got.end(), 0.0f), 18 - 4);
}

TEST(WeightStore, FindsPre014VaeAttentionNames) {
  test::TempDir dir;
  writeTensor(dir, DType::F32, "decoder.mid_block.attentions.0.query.weight");
  auto table = weightTable(
      {{"decoder.mid_block.attentions.0.to_q.weight", {3, 4}, {0, 0}, {3, 4}}});
  WeightStore store(rankOf(table), dir.path());
  EXPECT_EQ(store.count(0), 12u);

  // A name with no stored alias is reported as the plan asked for it.
  auto missing = weightTable(
      {{"decoder.mid_block.attentions.0.to_k.weight", {3, 4}, {0, 0}, {3, 4}}});
  try {
    WeightStore none(rankOf(missing), dir.path());
    FAIL() << "a missing tensor was accepted";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find(
                  "no tensor 'decoder.mid_block.attentions.0.to_k.weight'"),
              std::string::npos)
        << e.what();
  }
}

TEST(KeyAliases, VaeAttentionProjections) {
  EXPECT_EQ(
      checkpointKeyAliases("decoder.mid_block.attentions.0.to_out.0.bias"),
      std::vector<std::string>{
          "decoder.mid_block.attentions.0.proj_attn.bias"});
  EXPECT_EQ(
      checkpointKeyAliases("decoder.mid_block.attentions.0.to_v.weight"),
      std::vector<std::string>{"decoder.mid_block.attentions.0.value.weight"});
  // Only attention blocks were renamed.
  EXPECT_TRUE(
      checkpointKeyAliases("transformer_blocks.0.attn1.to_q.weight").empty());
  EXPECT_TRUE(checkpointKeyAliases("decoder.conv_in.weight").empty());
}

TEST(KeyAliases, T5TiedEmbedding) {
  EXPECT_EQ(checkpointKeyAliases("shared.weight"),
            std::vector<std::string>{"encoder.embed_tokens.weight"});
  EXPECT_TRUE(checkpointKeyAliases("encoder.embed_tokens.weight").empty());
}

TEST(Safetensors, ReleasedPagesReadTheSameAndOthersAreLeftAlone) {
  test::TempDir dir;
  // Several pages, so that some lie wholly inside the tensor.
  std::vector<float> v(8192);
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = float(i);
  writeSafetensors(dir / "w.safetensors",
                   {{"w", DType::F32, {8192}, v.data()}});
  SafetensorsFile file(dir / "w.safetensors");
  const TensorInfo &t = file.get("w");
  file.releasePages(t);
  std::vector<float> again(v.size());
  readAsF32(t, again.data());
  EXPECT_EQ(again, v);
  // Memory that is not the file's mapping is never touched.
  TensorInfo foreign = t;
  foreign.data = reinterpret_cast<const uint8_t *>(v.data());
  file.releasePages(foreign);
  EXPECT_EQ(v[4096], 4096.0f);
}
