//===- PipelineTableSpec.h - Plans with a Pipeline table, for tests -*- C++
//-*-===//
//
// TableSpec builds a plan whose Pipeline table and function signatures a
// test sets field by field; loadError and decode load it.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_TEST_UNIT_PIPELINETABLESPEC_H
#define FRESCO_TEST_UNIT_PIPELINETABLESPEC_H

#include "runtime/core/Error.h"
#include "runtime/core/Plan.h"
#include "runtime/core/PlanVersion.h"
#include "runtime/pipeline/PipelineSpec.h"

#include <map>
#include <string>
#include <vector>

namespace fresco::test {

namespace fp = fresco::plan;
using R = fp::TensorRole;
using CR = fp::ComponentRole;

struct Tensor {
  fp::DType dtype;
  std::vector<int64_t> shape;
};
struct Signature {
  std::vector<Tensor> inputs, outputs;
};
struct ComponentDesc {
  CR role;
  std::string function;
  std::vector<int32_t> ranks;
  std::vector<R> inputs, outputs;
  fp::TokenizerKind tokenizerKind = fp::TokenizerKind::None;
  std::string tokenizer;
  int32_t promptSlot = 0;
  std::vector<std::pair<int64_t, int64_t>> windows; // none: not written
  std::vector<fp::PromptBlock> outputPrompts;       // none: not written
};

/// A DiT-like table (2 images, class CFG, 4x8x8 latents, learned sigma)
/// and functions matching it, on `numRanks` ranks.
struct TableSpec {
  std::string kind = "DiTPipeline";
  bool hasKind = true, hasSampler = true, hasConditioning = true,
       hasLatents = true;
  int32_t numImages = 2;
  std::vector<ComponentDesc> components = {
      {CR::Denoiser,
       "transformer",
       {0},
       {R::Latents, R::Timestep, R::ClassLabels},
       {R::Prediction}},
      {CR::Decoder, "vae", {0}, {R::Latents}, {R::Image}}};
  fp::ConditioningKind conditioning = fp::ConditioningKind::ClassLabel;
  int32_t numClasses = 1000, nullClass = 1000;
  fp::LatentLayout layout = fp::LatentLayout::Image;
  int32_t channels = 4, height = 8, width = 8, patch = 1, prediction = 8;
  int32_t maskChannels = 0;
  int32_t controlMaskChannels = 0;
  std::vector<double> latentsMean, latentsStd;
  double scaling = 0.18215, shift = 0;
  fp::GuidanceMode guidance = fp::GuidanceMode::ClassCfg;
  double timestepDivisor = 1;
  fp::TimestepSchedule timesteps = fp::TimestepSchedule::Scheduler;
  bool flowPrediction = false;
  std::vector<double> timeIds;
  bool zeroNegativePrompt = false;
  bool aestheticScore = false;
  int32_t freshSteps = 0;
  std::string warmup; // Pipeline.warmup_function ("": none)

  int numRanks = 1;
  /// The functions each rank holds, with their signatures.
  std::vector<std::map<std::string, Signature>> ranks = {
      {{"transformer",
        {{{fp::DType::F32, {4, 4, 8, 8}},
          {fp::DType::F32, {4}},
          {fp::DType::I64, {4}}},
         {{fp::DType::F32, {4, 8, 8, 8}}}}},
       {"vae",
        {{{fp::DType::F32, {2, 4, 8, 8}}},
         {{fp::DType::F32, {2, 3, 16, 16}}}}}}};

  std::vector<uint8_t> build() const {
    flatbuffers::FlatBufferBuilder b;
    std::vector<flatbuffers::Offset<fp::RankProgram>> rankPrograms;
    uint64_t arena = 0;
    for (const auto &fns : ranks)
      for (const auto &[name, sig] : fns)
        for (const auto *list : {&sig.inputs, &sig.outputs})
          for (const Tensor &t : *list) {
            uint64_t n = 8;
            for (int64_t d : t.shape)
              n *= uint64_t(d);
            arena = std::max(arena, n);
          }
    for (size_t r = 0; r < ranks.size(); ++r) {
      std::vector<flatbuffers::Offset<fp::Function>> fns;
      for (const auto &[name, sig] : ranks[r]) {
        // Every input and output its own value at offset 0: the loader
        // checks bounds, not overlap.
        std::vector<flatbuffers::Offset<fp::Value>> values;
        std::vector<int32_t> in, out;
        std::vector<std::string> inNames, outNames;
        for (const Tensor &t : sig.inputs) {
          in.push_back(int32_t(values.size()));
          inNames.push_back("in" + std::to_string(in.size()));
          values.push_back(fp::CreateValue(b, fp::ValueKind::Arena, t.dtype,
                                           b.CreateVector(t.shape), 0));
        }
        for (const Tensor &t : sig.outputs) {
          out.push_back(int32_t(values.size()));
          outNames.push_back("out" + std::to_string(out.size()));
          values.push_back(fp::CreateValue(b, fp::ValueKind::Arena, t.dtype,
                                           b.CreateVector(t.shape), 0));
        }
        std::vector<flatbuffers::Offset<fp::Instr>> noInstrs;
        fns.push_back(fp::CreateFunction(
            b, b.CreateString(name), b.CreateVector(values),
            b.CreateVector(noInstrs), b.CreateVector(in),
            b.CreateVectorOfStrings(inNames), b.CreateVector(out),
            b.CreateVectorOfStrings(outNames), arena, arena));
      }
      std::vector<flatbuffers::Offset<fp::WeightSlice>> noWeights;
      rankPrograms.push_back(
          fp::CreateRankProgram(b, int32_t(r), b.CreateVector(fns),
                                b.CreateVector(noWeights), arena));
    }
    std::vector<flatbuffers::Offset<fp::Component>> comps;
    for (const ComponentDesc &c : components) {
      std::vector<fp::TextWindow> windows;
      for (auto [tok, feat] : c.windows)
        windows.emplace_back(tok, feat);
      comps.push_back(fp::CreateComponent(
          b, c.role, b.CreateString(c.function), b.CreateVector(c.ranks),
          b.CreateVector(c.inputs), b.CreateVector(c.outputs), c.tokenizerKind,
          c.tokenizer.empty() ? 0 : b.CreateString(c.tokenizer), c.promptSlot,
          c.windows.empty() ? 0 : b.CreateVectorOfStructs(windows),
          c.outputPrompts.empty() ? 0 : b.CreateVector(c.outputPrompts)));
    }
    auto compsV = b.CreateVector(comps);
    auto cond = hasConditioning
                    ? fp::CreateConditioning(
                          b, conditioning, numClasses, nullClass,
                          timeIds.empty() ? 0 : b.CreateVector(timeIds),
                          zeroNegativePrompt, aestheticScore)
                    : 0;
    auto lat = hasLatents
                   ? fp::CreateLatents(
                         b, layout, channels, height, width, patch, prediction,
                         scaling, shift, maskChannels, controlMaskChannels,
                         latentsMean.empty() ? 0 : b.CreateVector(latentsMean),
                         latentsStd.empty() ? 0 : b.CreateVector(latentsStd))
                   : 0;
    auto sampler =
        hasSampler
            ? fp::CreateSampler(b, b.CreateString("DDIMScheduler"),
                                b.CreateString("{}"), guidance, timestepDivisor,
                                timesteps, flowPrediction)
            : 0;
    auto kindS = hasKind ? b.CreateString(kind) : 0;
    auto warmupS = warmup.empty() ? 0 : b.CreateString(warmup);
    auto pipeline = fp::CreatePipeline(b, kindS, numImages, compsV, cond, lat,
                                       sampler, freshSteps, warmupS);
    auto rv = b.CreateVector(rankPrograms);
    fp::FinishPlanBuffer(b,
                         fp::CreatePlan(b, kPlanVersion, b.CreateString("test"),
                                        numRanks, rv, pipeline));
    return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
  }
};

inline std::string loadError(const TableSpec &t) {
  try {
    LoadedPlan::fromBytes(t.build(), "test.fplan");
  } catch (const Error &e) {
    return e.what();
  }
  return "";
}

inline PipelineSpec decode(const TableSpec &t, std::vector<uint8_t> &bytes) {
  bytes = t.build();
  LoadedPlan p = LoadedPlan::fromBytes(bytes, "test.fplan");
  return PipelineSpec::fromPlan(p.plan(), "test.fplan");
}

/// The table with an image-to-image VAE encoder (16x16 pixels -> the 4x8x8
/// latents' mean), as fresco-compile --vae-encoder adds it.
inline void addEncoder(TableSpec &t) {
  t.components.push_back(
      {CR::Encoder, "vae_encoder", {0}, {R::Pixels}, {R::LatentMean}});
  t.ranks[0]["vae_encoder"] = {{{fp::DType::F32, {2, 3, 16, 16}}},
                               {{fp::DType::F32, {2, 4, 8, 8}}}};
}

/// K ControlNets' inputs: their control images side by side (16x16 pixels
/// over the 8x8 latents) and their scales (3 residuals each), after the
/// denoiser's others.
inline void addControl(TableSpec &t, int64_t nets = 1) {
  t.components[0].inputs.push_back(R::ControlImage);
  t.components[0].inputs.push_back(R::ControlScale);
  t.ranks[0]["transformer"].inputs.push_back(
      {fp::DType::F32, {4, 3 * nets, 16, 16}});
  t.ranks[0]["transformer"].inputs.push_back({fp::DType::F32, {4, nets, 3}});
}

/// A FluxPipeline-like table: CLIP's pooled output and T5's embeddings (8
/// tokens) condition a transformer on 2x2-packed 4x8x8 latents (16 tokens
/// of 16), guidance scale as an input.
inline TableSpec fluxTable() {
  TableSpec t;
  t.kind = "FluxPipeline";
  t.conditioning = fp::ConditioningKind::Text;
  t.numClasses = 0;
  t.nullClass = -1;
  t.layout = fp::LatentLayout::PackedTokens;
  t.patch = 2;
  t.prediction = 16;
  t.guidance = fp::GuidanceMode::Embedded;
  t.timestepDivisor = 1000;
  t.timesteps = fp::TimestepSchedule::FluxShifted;
  t.flowPrediction = true;
  t.components = {{CR::TextEncoder,
                   "text_encoder",
                   {0},
                   {R::TokenIds},
                   {R::PooledTextEmbeddings},
                   fp::TokenizerKind::ClipBpe,
                   "tokenizer",
                   0},
                  {CR::TextEncoder,
                   "text_encoder_2",
                   {0},
                   {R::TokenIds},
                   {R::TextEmbeddings},
                   fp::TokenizerKind::T5SentencePiece,
                   "tokenizer_2",
                   1},
                  {CR::Denoiser,
                   "transformer",
                   {0},
                   {R::Latents, R::TextEmbeddings, R::PooledTextEmbeddings,
                    R::Timestep, R::ImageIds, R::TextIds, R::GuidanceScale},
                   {R::Prediction}},
                  {CR::Decoder, "vae", {0}, {R::Latents}, {R::Image}}};
  using D = fp::DType;
  t.ranks = {{{"text_encoder", {{{D::I64, {2, 77}}}, {{D::F32, {2, 32}}}}},
              {"text_encoder_2", {{{D::I64, {2, 8}}}, {{D::F32, {2, 8, 24}}}}},
              {"transformer",
               {{{D::F32, {2, 16, 16}},
                 {D::F32, {2, 8, 24}},
                 {D::F32, {2, 32}},
                 {D::F32, {2}},
                 {D::F32, {16, 3}},
                 {D::F32, {8, 3}},
                 {D::F32, {2}}},
                {{D::F32, {2, 16, 16}}}}},
              {"vae", {{{D::F32, {2, 4, 8, 8}}}, {{D::F32, {2, 3, 16, 16}}}}}}};
  return t;
}

} // namespace fresco::test

#endif // FRESCO_TEST_UNIT_PIPELINETABLESPEC_H
