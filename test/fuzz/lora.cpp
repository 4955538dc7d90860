//===- lora.cpp - libFuzzer target: a LoRA file merged into weights -------===//
//
// The input is the LoRA safetensors file; the plan (a weight table: linear,
// padded, split-qkv, convolution and text encoder weights) and its
// checkpoint (with one weight the plan does not load) are fixed. The file is
// checked against the plan and merged into every slice, in f32 and in bf16.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Lora.h"
#include "FuzzUtil.h"
#include "runtime/core/Error.h"
#include "runtime/core/Weights.h"
#include "runtime/io/Safetensors.h"
#include "test/unit/WeightTable.h"

#include <fstream>

namespace fp = fresco::plan;

namespace {

using Slice = fresco::test::SliceSpec;

const std::vector<Slice> &slices() {
  static const std::vector<Slice> s = {
      {"a.weight", {6, 4}, {0, 0}, {6, 4}, "transformer"},
      // Rows 4..7 of 6: two rows of padding.
      {"a.weight", {6, 4}, {4, 0}, {4, 4}, "transformer"},
      {"a.weight", {6, 4}, {0, 2}, {6, 2}, "transformer"},
      {"transformer_blocks.0.attn.to_q.weight",
       {4, 4},
       {0, 0},
       {4, 4},
       "transformer"},
      {"transformer_blocks.0.attn.to_k.weight",
       {4, 4},
       {2, 0},
       {2, 4},
       "transformer"},
      {"transformer_blocks.0.attn.to_v.weight",
       {4, 4},
       {0, 0},
       {4, 4},
       "transformer"},
      {"c.weight", {4, 2, 3, 3}, {0, 1, 0, 0}, {4, 1, 3, 3}, "transformer"},
      {"n.weight", {4}, {0}, {4}, "transformer"},
      {"text_model.encoder.layers.0.self_attn.q_proj.weight",
       {4, 4},
       {0, 0},
       {4, 4},
       "text_encoder"},
  };
  return s;
}

// Writes the checkpoint every component reads (a model folder, not a
// pipeline's) to `dir`.
void writeCheckpoint(const std::filesystem::path &dir) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json") << "{}";
  std::vector<std::vector<float>> data;
  std::vector<fresco::SafetensorsEntry> entries;
  data.reserve(slices().size() + 1);
  for (const Slice &s : slices()) {
    bool seen = false;
    for (const auto &e : entries)
      seen = seen || e.name == s.name;
    if (seen)
      continue;
    data.emplace_back(size_t(fresco::numElements(s.full)), 0.25f);
    entries.push_back({s.name, fresco::DType::F32, s.full, data.back().data()});
  }
  // A weight no rank loads: a LoRA module on it is checked and left out.
  data.emplace_back(16, 0.25f);
  entries.push_back(
      {"u.weight", fresco::DType::F32, {4, 4}, data.back().data()});
  fresco::writeSafetensors(
      (dir / "diffusion_pytorch_model.safetensors").string(), entries);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const std::vector<uint8_t> plan = fresco::test::weightTable(slices());
  const std::filesystem::path dir = fresco::fuzz::freshScratchFolder();
  const std::string folder = (dir / "ckpt").string();
  writeCheckpoint(folder);
  const std::filesystem::path file = dir / "lora.safetensors";
  fresco::fuzz::writeFile(
      file, std::string(reinterpret_cast<const char *>(data), size));
  try {
    fresco::LoraSet loras({{file.string(), 0.5f}}, *fp::GetPlan(plan.data()),
                          folder);
    const fp::RankProgram &rank = *fp::GetPlan(plan.data())->ranks()->Get(0);
    fresco::WeightStore f32(rank, folder, &loras, fresco::DType::F32);
    fresco::WeightStore bf16(rank, folder, &loras, fresco::DType::BF16);
  } catch (const fresco::Error &) {
  }
  return 0;
}
