//===- Lora.h - LoRA adapters merged into weights at load -------*- C++ -*-===//
//
// A LoRA file adds a low-rank update to some of a pipeline's linear layers:
// W' = W + s * (alpha / r) * B A, with A [r, in] and B [out, r]. Fresco
// merges the update into each weight slice as a rank reads it, so a
// strategy's slices (tp's rows or columns, pipeline stages, placement) get
// their part of it and nothing changes in the plan or the executor.
//
// Two file formats, as diffusers 0.31's FluxPipeline / StableDiffusion*
// load_lora_weights read them:
//   - PEFT (what save_lora_weights writes):
//   `<component>.<module>.lora_A.weight`,
//     `<component>.<module>.lora_B.weight` and optionally
//     `<component>.<module>.alpha`, where <component> is the pipeline folder
//     ("transformer", "unet", "text_encoder", ...) and <module>.weight a
//     weight of the plan. A module without an alpha takes diffusers'
//     get_peft_kwargs default: the first alpha of its component, or, with
//     none, the first rank diffusers lists (the file's first lora_B; for a
//     text encoder, CLIP's attention modules layer by layer, then its MLPs).
//   - kohya's (sd-scripts): `<module>.lora_down.weight`, `.lora_up.weight`
//     and `.alpha`, where <module> is Flux's `lora_unet_double_blocks_N_...`
//     / `lora_unet_single_blocks_N_...` in BFL's names (a fused qkv or
//     linear1 adapts several diffusers weights: lora_up's rows split among
//     them), a UNet's in Stable Diffusion's original names
//     (`lora_unet_input_blocks_4_1_...`: LoraLdm.h), a UNet's or
//     transformer's module in diffusers' names with '_' for '.'
//     (`lora_unet_down_blocks_0_...`), or a text encoder's
//     (`lora_te1_` / `lora_te_` CLIP, `lora_te2_` text_encoder_2); the update
//     is alpha / r times up * down (alpha defaults to r), as sd-scripts
//     computes it.
// A (down) is [r, in] and B (up) [out, r] on a linear weight [out, in]; on a
// convolution's [out, in, kh, kw], [r, in, kh, kw] and [out, r, 1, 1].
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_CORE_LORA_H
#define FRESCO_RUNTIME_CORE_LORA_H

#include "runtime/core/Plan.h"
#include "runtime/io/Safetensors.h"

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace fresco {

/// One --lora: a file and the weight of its adapter (diffusers'
/// set_adapters adapter_weights).
struct LoraFile {
  std::string path;
  float scale = 1.0f;
};

/// "FILE" or "FILE:SCALE" as a LoraFile; throws for a bad scale.
LoraFile parseLoraSpec(const std::string &spec);

class LoraSet {
public:
  /// Reads every file and checks each adapter against the weights of every
  /// rank of `plan`: the weight must exist, be a linear's or a
  /// convolution's and match A's and B's shapes. Throws fresco::Error
  /// naming the file and tensor otherwise. With `weightsFolder`, a module
  /// on a weight the plan leaves out but the checkpoint has (the plan never
  /// reads it) is checked against the checkpoint's shape and left out.
  LoraSet(const std::vector<LoraFile> &files, const plan::Plan &plan,
          const std::string &weightsFolder = "");
  ~LoraSet();
  LoraSet(LoraSet &&) noexcept;

  bool empty() const { return targets_.empty(); }
  /// Adapted weights over all files, and the lines that say so.
  size_t moduleCount() const;
  std::vector<std::string> summary() const;

  /// Whether an adapter targets weight `w`.
  bool adapts(const plan::WeightSlice &w) const;
  /// Adds the adapters of weight `w` to `slice` (f32, w's sizes, row-major;
  /// the part past the tensor's shape, zero padding, is left alone).
  /// Returns false when no adapter targets it.
  bool apply(const plan::WeightSlice &w, float *slice) const;

  /// One update of one weight: scaling * B[bRow : bRow + out] A.
  struct Adapter {
    const TensorInfo *a = nullptr; // [r, in]
    const TensorInfo *b = nullptr; // [rows, r]; rows >= bRow + out
    int64_t bRow = 0;
    float scaling = 1.0f; // scale * alpha / r
  };

private:
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::vector<std::string> summary_;
  // (component, weight name) -> adapters, one per file that has it.
  std::map<std::pair<std::string, std::string>, std::vector<Adapter>> targets_;
};

} // namespace fresco

#endif // FRESCO_RUNTIME_CORE_LORA_H
