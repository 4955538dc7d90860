//===- PipelineSpecTest.cpp - The Pipeline table --------------------------===//
//
// Builds plans whose Pipeline table is broken one field at a time and
// checks each load fails with a message naming the field (never a crash);
// tables describing what this runtime cannot run yet load but are refused
// for generation. The sampling loop's per-family parts: PipelinePartsTest.cpp;
// the ControlNets' inputs: PipelineSpecControlTest.cpp.
//
//===----------------------------------------------------------------------===//
#include "PipelineTableSpec.h"

#include "runtime/core/Error.h"
#include "runtime/core/Plan.h"
#include "runtime/core/PlanVersion.h"
#include "runtime/pipeline/Generate.h"
#include "runtime/pipeline/Inpaint.h"
#include "runtime/pipeline/Parts.h"
#include "runtime/pipeline/PipelineNames.h"
#include "runtime/pipeline/PipelineSpec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

using namespace fresco;
using namespace fresco::test;

namespace {

/// fresco-compile's encoder since plan version 24: the log-variance too.
void addLogVar(TableSpec &t) {
  addEncoder(t);
  t.components[2].outputs.push_back(R::LatentLogVar);
  t.ranks[0]["vae_encoder"].outputs.push_back(
      t.ranks[0]["vae_encoder"].outputs[0]);
}

TEST(PipelineSpec, EncoderWithLogVarDecodes) {
  TableSpec t;
  addLogVar(t);
  std::vector<uint8_t> bytes;
  PipelineSpec spec = decode(t, bytes);
  const ComponentSpec *enc = spec.find(CR::Encoder);
  ASSERT_NE(enc, nullptr);
  EXPECT_EQ(enc->outputs,
            (std::vector<fp::TensorRole>{R::LatentMean, R::LatentLogVar}));
}

TEST(PipelineSpec, EncoderTableDecodes) {
  TableSpec t;
  addEncoder(t);
  std::vector<uint8_t> bytes;
  PipelineSpec s = decode(t, bytes);
  const ComponentSpec *enc = s.find(CR::Encoder);
  ASSERT_NE(enc, nullptr);
  EXPECT_EQ(enc->function, "vae_encoder");
  EXPECT_EQ(enc->pixelShape, (std::vector<int64_t>{2, 3, 16, 16}));
  std::vector<uint8_t> plain;
  EXPECT_EQ(decode(TableSpec(), plain).find(CR::Encoder), nullptr);
}

TEST(PipelineSpec, DiTTableDecodes) {
  std::vector<uint8_t> bytes;
  PipelineSpec s = decode(TableSpec(), bytes);
  EXPECT_EQ(s.kind, "DiTPipeline");
  EXPECT_EQ(s.numImages, 2);
  EXPECT_EQ(s.guidanceCopies(), 2);
  EXPECT_EQ(s.latentShape(4, s.latentChannels()),
            (std::vector<int64_t>{4, 4, 8, 8}));
  ASSERT_NE(s.find(CR::Denoiser), nullptr);
  EXPECT_EQ(s.find(CR::Denoiser)->function, "transformer");
  EXPECT_EQ(s.find(CR::Decoder)->ranks, std::vector<int>{0});
  EXPECT_EQ(s.find(CR::TextEncoder), nullptr);
  EXPECT_EQ(s.nullClass, 1000);
  EXPECT_FALSE(generationSupport(s).has_value());
}

/// An inpainting UNet's latents input: the latents, the mask and the masked
/// image's latents (1 + C more channels).
TEST(PipelineSpec, MaskChannelsWidenTheDenoisersLatents) {
  TableSpec t;
  t.maskChannels = 5;
  t.ranks[0]["transformer"].inputs[0].shape = {4, 9, 8, 8};
  addEncoder(t);
  std::vector<uint8_t> bytes;
  PipelineSpec s = decode(t, bytes);
  EXPECT_EQ(s.maskChannels, 5);
  EXPECT_EQ(s.channels, 4);
}

TEST(PipelineSpec, FluxTableDecodes) {
  std::vector<uint8_t> bytes;
  PipelineSpec s = decode(fluxTable(), bytes);
  EXPECT_EQ(s.guidanceCopies(), 1);
  EXPECT_EQ(s.latentPositions(), 16);
  EXPECT_EQ(s.latentShape(2, s.latentChannels()),
            (std::vector<int64_t>{2, 16, 16}));
  ASSERT_EQ(s.textEncoders().size(), 2u);
  EXPECT_EQ(s.textEncoders()[1]->tokenizer, "tokenizer_2");
  EXPECT_EQ(s.textEncoders()[1]->promptSlot, 1);
  EXPECT_EQ(s.textEncoders()[0]->tokenizerKind, fp::TokenizerKind::ClipBpe);
  EXPECT_EQ(s.timestepDivisor, 1000);
  EXPECT_TRUE(s.flowPrediction);
  EXPECT_EQ(s.defaultSteps(), 28);
  EXPECT_EQ(s.defaultGuidanceScale(), 3.5);
  // FluxImg2ImgPipeline's own defaults: 28 steps, guidance 7.0, strength 0.6.
  EXPECT_EQ(s.defaultSteps(Task::ImageToImage), 28);
  EXPECT_EQ(s.defaultGuidanceScale(Task::ImageToImage), 7.0);
  EXPECT_EQ(s.defaultStrength(), 0.6);
  // FluxInpaintPipeline's: as the img2img class's.
  EXPECT_EQ(s.defaultSteps(Task::Inpainting), 28);
  EXPECT_EQ(s.defaultGuidanceScale(Task::Inpainting), 7.0);
  EXPECT_EQ(s.defaultStrength(Task::Inpainting), 0.6);
  EXPECT_FALSE(generationSupport(s).has_value()) << *generationSupport(s);
}

struct FluxCase {
  const char *name;
  void (*mutate)(TableSpec &);
  const char *message;
};

class BadFluxTable : public ::testing::TestWithParam<FluxCase> {};

TEST_P(BadFluxTable, FailsNamingTheProblem) {
  TableSpec t = fluxTable();
  GetParam().mutate(t);
  std::string e = loadError(t);
  EXPECT_NE(e.find(GetParam().message), std::string::npos) << e;
}

const FluxCase kBadFluxTables[] = {
    {"tokenizer_path",
     [](TableSpec &t) { t.components[1].tokenizer = "../secrets"; },
     "tokenizer folder '../secrets' is not a plain subfolder name"},
    {"no_tokenizer_kind",
     [](TableSpec &t) {
       t.components[0].tokenizerKind = fp::TokenizerKind::None;
     },
     "a text encoder without a tokenizer kind"},
    {"decoder_tokenizer",
     [](TableSpec &t) { t.components[3].tokenizer = "tokenizer"; },
     "only a text encoder has a tokenizer"},
    {"prompt_slot", [](TableSpec &t) { t.components[1].promptSlot = 3; },
     "prompt slot 3 is not 0, 1 or 2"},
    {"no_pooled_producer",
     [](TableSpec &t) {
       t.components.erase(t.components.begin());
       t.ranks[0].erase("text_encoder");
     },
     "the denoiser's 'pooled_text_embeddings' input is taken but 0 text "
     "encoder outputs give it"},
    {"no_encoders",
     [](TableSpec &t) {
       t.conditioning = fp::ConditioningKind::ClassLabel;
       t.numClasses = 10;
     },
     "text encoders without text conditioning"},
    {"embedded_without_input",
     [](TableSpec &t) { t.guidance = fp::GuidanceMode::None; },
     "embedded guidance and a guidance scale input go together"},
    {"encoder_takes_latents",
     [](TableSpec &t) { t.components[0].inputs = {R::Latents}; },
     "a text encoder takes token ids and returns text embeddings"},
    {"text_ids_shape",
     [](TableSpec &t) {
       t.ranks[0]["transformer"].inputs[5].shape = {9, 3};
     },
     "input 5 (text_ids) is f32[9, 3], expected f32[8, 3]"},
    {"image_ids_shape",
     [](TableSpec &t) {
       t.ranks[0]["transformer"].inputs[4].shape = {16, 2};
     },
     "input 4 (image_ids) is f32[16, 2], expected f32[16, 3]"},
    {"embedding_width",
     [](TableSpec &t) {
       t.ranks[0]["transformer"].inputs[1].shape = {2, 8, 23};
     },
     "output 0 (text_embeddings) of text encoder 'text_encoder_2' [2, 8, 24] "
     "at offset (0, 0) does not fit the denoiser's input [2, 8, 23]"},
    {"encoder_batch",
     [](TableSpec &t) {
       t.ranks[0]["text_encoder"].inputs[0].shape = {3, 77};
     },
     "input 0 (token_ids) is i64[3, 77], expected i64[2, 77]"},
    {"token_dtype",
     [](TableSpec &t) {
       t.ranks[0]["text_encoder_2"].inputs[0].dtype = fp::DType::F32;
     },
     "input 0 (token_ids) is f32[2, 8], expected i64[2, 8]"},
    {"divisor", [](TableSpec &t) { t.timestepDivisor = 0; },
     "timestep divisor 0 is not a positive number"},
};

INSTANTIATE_TEST_SUITE_P(Pipeline, BadFluxTable,
                         ::testing::ValuesIn(kBadFluxTables),
                         [](const auto &info) { return info.param.name; });

/// An SDXL-like table: two CLIP encoders side by side in the UNet's text
/// input, the second's pooled output, time ids, zeroed negative prompts.
TableSpec sdxlTable() {
  TableSpec t;
  t.kind = "StableDiffusionXLPipeline";
  t.conditioning = fp::ConditioningKind::Text;
  t.guidance = fp::GuidanceMode::TextCfg;
  t.prediction = 4;
  t.timeIds = {16, 16, 0, 0, 16, 16};
  t.zeroNegativePrompt = true;
  t.components = {{CR::TextEncoder,
                   "text_encoder",
                   {0},
                   {R::TokenIds},
                   {R::TextEmbeddings},
                   fp::TokenizerKind::ClipBpe,
                   "tokenizer",
                   0},
                  {CR::TextEncoder,
                   "text_encoder_2",
                   {0},
                   {R::TokenIds},
                   {R::TextEmbeddings, R::PooledTextEmbeddings},
                   fp::TokenizerKind::ClipBpe,
                   "tokenizer_2",
                   1,
                   {{0, 8}, {0, 0}}},
                  {CR::Denoiser,
                   "unet",
                   {0},
                   {R::Latents, R::Timestep, R::TextEmbeddings,
                    R::PooledTextEmbeddings, R::TimeIds},
                   {R::Prediction}},
                  {CR::Decoder, "vae", {0}, {R::Latents}, {R::Image}}};
  using D = fp::DType;
  t.ranks = {
      {{"text_encoder", {{{D::I64, {2, 77}}}, {{D::F32, {2, 77, 8}}}}},
       {"text_encoder_2",
        {{{D::I64, {2, 77}}}, {{D::F32, {2, 77, 12}}, {D::F32, {2, 6}}}}},
       {"unet",
        {{{D::F32, {4, 4, 8, 8}},
          {D::F32, {4}},
          {D::F32, {4, 77, 20}},
          {D::F32, {4, 6}},
          {D::F32, {4, 6}}},
         {{D::F32, {4, 4, 8, 8}}}}},
       {"vae", {{{D::F32, {2, 4, 8, 8}}}, {{D::F32, {2, 3, 16, 16}}}}}}};
  return t;
}

TEST(PipelineSpec, SdxlTableDecodes) {
  std::vector<uint8_t> bytes;
  PipelineSpec s = decode(sdxlTable(), bytes);
  ASSERT_EQ(s.textEncoders().size(), 2u);
  EXPECT_EQ(s.textEncoders()[1]->windows,
            (std::vector<std::pair<int64_t, int64_t>>{{0, 8}, {0, 0}}));
  EXPECT_EQ(s.textEncoders()[1]->outputShapes[0],
            (std::vector<int64_t>{2, 77, 12}));
  EXPECT_EQ(s.textEncoders()[0]->windows,
            (std::vector<std::pair<int64_t, int64_t>>{{0, 0}}));
  EXPECT_EQ(s.timeIds.size(), 6u);
  EXPECT_TRUE(s.zeroNegativePrompt);
  EXPECT_EQ(s.defaultGuidanceScale(), 5.0);
  // StableDiffusionXLImg2ImgPipeline's: strength 0.3, the rest as above.
  EXPECT_EQ(s.defaultStrength(), 0.3);
  EXPECT_EQ(s.defaultSteps(Task::ImageToImage), 50);
  EXPECT_EQ(s.defaultGuidanceScale(Task::ImageToImage), 5.0);
  // StableDiffusionXLInpaintPipeline's: guidance 7.5, strength 0.9999.
  EXPECT_EQ(s.defaultSteps(Task::Inpainting), 50);
  EXPECT_EQ(s.defaultGuidanceScale(Task::Inpainting), 7.5);
  EXPECT_EQ(s.defaultStrength(Task::Inpainting), 0.9999);
}

/// The SDXL refiner's: text_encoder_2 alone reading the prompt, 4 time ids
/// and the aesthetic score, negative prompts encoded.
TableSpec refinerTable() {
  TableSpec t = sdxlTable();
  t.kind = "StableDiffusionXLImg2ImgPipeline";
  t.timeIds = {16, 16, 0, 0};
  t.aestheticScore = true;
  t.zeroNegativePrompt = false;
  t.components.erase(t.components.begin());
  t.components[0].promptSlot = 0;
  t.components[0].windows = {{0, 0}, {0, 0}};
  t.ranks[0].erase("text_encoder");
  t.ranks[0]["unet"].inputs[2].shape = {4, 77, 12};
  t.ranks[0]["unet"].inputs[4].shape = {4, 5};
  return t;
}

TEST(PipelineSpec, RefinerTableDecodes) {
  std::vector<uint8_t> bytes;
  PipelineSpec s = decode(refinerTable(), bytes);
  EXPECT_TRUE(s.aestheticScore);
  EXPECT_EQ(s.timeIds.size(), 4u);
  EXPECT_TRUE(s.imageToImageOnly());
  EXPECT_TRUE(s.isSDXL());
  EXPECT_EQ(s.defaultSteps(Task::ImageToImage), 50);
  EXPECT_EQ(s.defaultGuidanceScale(Task::ImageToImage), 5.0);
  EXPECT_EQ(s.defaultStrength(), 0.3);
  // The base class runs text-to-image too.
  EXPECT_FALSE(decode(sdxlTable(), bytes).imageToImageOnly());
}

TEST(PipelineSpec, BadRefinerTables) {
  // The time ids input is one wider than time_ids with an aesthetic score.
  TableSpec t = refinerTable();
  t.ranks[0]["unet"].inputs[4].shape = {4, 4};
  EXPECT_NE(loadError(t).find("input 4 (time_ids) is f32[4, 4], expected "
                              "f32[4, 5]"),
            std::string::npos)
      << loadError(t);
  t = refinerTable();
  t.aestheticScore = false;
  EXPECT_NE(loadError(t).find("expected f32[4, 4]"), std::string::npos)
      << loadError(t);
  // An aesthetic score needs the other time ids.
  t = refinerTable();
  t.timeIds.clear();
  EXPECT_NE(loadError(t).find("an aesthetic score time id needs text "
                              "conditioning and time ids"),
            std::string::npos)
      << loadError(t);
}

const FluxCase kBadSdxlTables[] = {
    {"overlap",
     [](TableSpec &t) {
       t.components[1].windows[0] = {0, 4};
     },
     "output 0 (text_embeddings) of text encoder 'text_encoder_2' overlaps "
     "output 0 (text_embeddings) of text encoder 'text_encoder'"},
    {"past_the_end",
     [](TableSpec &t) {
       t.components[1].windows[0] = {1, 8};
     },
     "[2, 77, 12] at offset (1, 8) does not fit the denoiser's input [4, 77, "
     "20]"},
    {"pooled_token_offset",
     [](TableSpec &t) {
       t.components[1].windows[1] = {1, 0};
     },
     "at offset (1, 0) does not fit"},
    {"window_count", [](TableSpec &t) { t.components[1].windows.pop_back(); },
     "1 windows for 2 outputs"},
    {"fewer_function_outputs",
     [](TableSpec &t) { t.ranks[0]["text_encoder_2"].outputs.pop_back(); },
     "component 1 'text_encoder_2' (text_encoder): the function has 1 "
     "output(s), the pipeline lists 2"},
    {"decoder_windows",
     [](TableSpec &t) {
       t.components[3].windows = {{0, 0}};
     },
     "only a text encoder has a tokenizer, windows and output prompts"},
    {"time_ids_without_input", [](TableSpec &t) { t.timeIds.clear(); },
     "time ids and a time ids input go together"},
    {"time_ids_width", [](TableSpec &t) { t.timeIds.push_back(1); },
     "input 4 (time_ids) is f32[4, 6], expected f32[4, 7]"},
    {"time_id_nan", [](TableSpec &t) { t.timeIds[0] = std::nan(""); },
     "time id nan is not a finite size"},
    {"zero_negative_without_cfg",
     [](TableSpec &t) { t.guidance = fp::GuidanceMode::None; },
     "zero negative prompts need text CFG"},
};

class BadSdxlTable : public ::testing::TestWithParam<FluxCase> {};

TEST_P(BadSdxlTable, FailsNamingTheProblem) {
  TableSpec t = sdxlTable();
  GetParam().mutate(t);
  std::string e = loadError(t);
  EXPECT_NE(e.find(GetParam().message), std::string::npos) << e;
}

INSTANTIATE_TEST_SUITE_P(Pipeline, BadSdxlTable,
                         ::testing::ValuesIn(kBadSdxlTables),
                         [](const auto &info) { return info.param.name; });

/// fresco-compile --clip-skip's SDXL table: each CLIP encoder returns its
/// usual hidden state for the negative prompts and the skipped one for the
/// prompts, in the same window.
TableSpec clipSkipTable() {
  using P = fp::PromptBlock;
  TableSpec t = sdxlTable();
  t.components[0].outputs = {R::TextEmbeddings, R::TextEmbeddings};
  t.components[0].outputPrompts = {P::NegativePrompts, P::Prompts};
  t.components[1].outputs = {R::TextEmbeddings, R::PooledTextEmbeddings,
                             R::TextEmbeddings};
  t.components[1].windows = {{0, 8}, {0, 0}, {0, 8}};
  t.components[1].outputPrompts = {P::NegativePrompts, P::Every, P::Prompts};
  using D = fp::DType;
  t.ranks[0]["text_encoder"].outputs = {{D::F32, {2, 77, 8}},
                                        {D::F32, {2, 77, 8}}};
  t.ranks[0]["text_encoder_2"].outputs = {
      {D::F32, {2, 77, 12}}, {D::F32, {2, 6}}, {D::F32, {2, 77, 12}}};
  return t;
}

TEST(PipelineSpec, ClipSkipTableDecodes) {
  std::vector<uint8_t> bytes;
  PipelineSpec s = decode(clipSkipTable(), bytes);
  const ComponentSpec &e2 = *s.textEncoders()[1];
  EXPECT_FALSE(e2.fillsBlock(0, 0));
  EXPECT_TRUE(e2.fillsBlock(0, 1));
  EXPECT_TRUE(e2.fillsBlock(1, 0));
  EXPECT_TRUE(e2.fillsBlock(1, 1));
  EXPECT_TRUE(e2.fillsBlock(2, 0));
  EXPECT_FALSE(e2.fillsBlock(2, 1));
  // Without output_prompts every output fills both blocks.
  PipelineSpec plain = decode(sdxlTable(), bytes);
  EXPECT_TRUE(plain.textEncoders()[0]->fillsBlock(0, 0));
  EXPECT_TRUE(plain.textEncoders()[0]->fillsBlock(0, 1));
}

const FluxCase kBadClipSkipTables[] = {
    {"same_block_twice",
     [](TableSpec &t) {
       t.components[0].outputPrompts = {fp::PromptBlock::Every,
                                        fp::PromptBlock::Every};
     },
     "role 'text_embeddings' appears twice for the same prompts"},
    {"no_twin",
     [](TableSpec &t) {
       t.components[1].outputPrompts[0] = fp::PromptBlock::Every;
       t.components[1].outputs[0] = R::PooledTextEmbeddings;
       t.components[1].outputs[1] = R::TextEmbeddings;
       t.components[1].windows = {{0, 0}, {0, 8}, {0, 8}};
       t.components[1].outputPrompts = {fp::PromptBlock::Prompts,
                                        fp::PromptBlock::Every,
                                        fp::PromptBlock::Every};
     },
     "output 0 (pooled_text_embeddings) fills the prompts' rows alone but 0 "
     "output(s) of the same role, shape and window fill the negative "
     "prompts'"},
    {"twin_elsewhere",
     [](TableSpec &t) {
       t.components[1].windows[2] = {0, 0};
     },
     "output 0 (text_embeddings) fills the negative prompts' rows alone but "
     "0 output(s)"},
    {"count", [](TableSpec &t) { t.components[1].outputPrompts.pop_back(); },
     "2 output prompts for 3 outputs"},
    {"unknown",
     [](TableSpec &t) {
       t.components[1].outputPrompts[1] = fp::PromptBlock(7);
     },
     "unknown prompt block 7"},
    {"decoder",
     [](TableSpec &t) {
       t.components[3].outputPrompts = {fp::PromptBlock::Prompts};
     },
     "only a text encoder has a tokenizer, windows and output prompts"},
};

class BadClipSkipTable : public ::testing::TestWithParam<FluxCase> {};

TEST_P(BadClipSkipTable, FailsNamingTheProblem) {
  TableSpec t = clipSkipTable();
  GetParam().mutate(t);
  std::string e = loadError(t);
  EXPECT_NE(e.find(GetParam().message), std::string::npos) << e;
}

INSTANTIATE_TEST_SUITE_P(Pipeline, BadClipSkipTable,
                         ::testing::ValuesIn(kBadClipSkipTables),
                         [](const auto &info) { return info.param.name; });

/// Placement: the decoder on rank 0 only, the denoiser on both.
TEST(PipelineSpec, ComponentsListTheirRanks) {
  TableSpec t;
  t.numRanks = 2;
  t.ranks.push_back({{"transformer", t.ranks[0]["transformer"]}});
  t.components[0].ranks = {0, 1};
  EXPECT_EQ(loadError(t), "");
  t.components[1].ranks = {0, 1};
  EXPECT_NE(loadError(t).find("component 1 'vae' (decoder): lists ranks [0, "
                              "1] but the plan holds the function on ranks "
                              "[0]"),
            std::string::npos)
      << loadError(t);
}

struct Case {
  const char *name;
  void (*mutate)(TableSpec &);
  const char *message;
};

class BadTable : public ::testing::TestWithParam<Case> {};

TEST_P(BadTable, Rejected) {
  TableSpec t;
  GetParam().mutate(t);
  std::string err = loadError(t);
  EXPECT_NE(err.find("invalid plan test.fplan: pipeline"), std::string::npos)
      << "got: '" << err << "'";
  EXPECT_NE(err.find(GetParam().message), std::string::npos)
      << "got: '" << err << "'";
}

const Case kBadTables[] = {
    {"no_kind", [](TableSpec &t) { t.hasKind = false; }, "missing kind"},
    {"fresh_steps_without_stale_gathers",
     [](TableSpec &t) { t.freshSteps = 2; },
     "fresh_steps is 2 but no function holds a StaleGather"},
    // PipeFusion's warm-up twin (version 16).
    {"warmup_undefined",
     [](TableSpec &t) {
       t.warmup = "transformer_warmup";
       t.freshSteps = 1;
     },
     "warmup_function 'transformer_warmup' on rank 0 is not defined there"},
    {"warmup_is_denoiser",
     [](TableSpec &t) {
       t.warmup = "transformer";
       t.freshSteps = 1;
     },
     "warmup_function 'transformer' must name a function other than the "
     "denoiser"},
    {"warmup_signature",
     [](TableSpec &t) {
       Signature sig = t.ranks[0].at("transformer");
       sig.outputs[0].shape = {4, 4, 8, 8};
       t.ranks[0]["transformer_warmup"] = sig;
       t.warmup = "transformer_warmup";
       t.freshSteps = 1;
     },
     "warmup_function 'transformer_warmup' on rank 0: output 0 is "
     "f32[4, 4, 8, 8] but the denoiser's is f32[4, 8, 8, 8]"},
    {"warmup_without_fresh_steps",
     [](TableSpec &t) {
       t.ranks[0]["transformer_warmup"] = t.ranks[0].at("transformer");
       t.warmup = "transformer_warmup";
     },
     "fresh_steps is 0, but a warm-up function (pipefusion) must run the "
     "first step"},
    {"zero_images", [](TableSpec &t) { t.numImages = 0; },
     "num_images 0 is not in 1..65536"},
    {"no_sampler", [](TableSpec &t) { t.hasSampler = false; },
     "missing sampler"},
    {"unknown_guidance", [](TableSpec &t) { t.guidance = fp::GuidanceMode(9); },
     "unknown guidance mode 9"},
    {"no_conditioning", [](TableSpec &t) { t.hasConditioning = false; },
     "missing conditioning"},
    {"unknown_conditioning",
     [](TableSpec &t) { t.conditioning = fp::ConditioningKind(7); },
     "unknown conditioning kind 7"},
    {"no_classes", [](TableSpec &t) { t.numClasses = 0; },
     "class-label conditioning with 0 classes"},
    {"cfg_without_null_class", [](TableSpec &t) { t.nullClass = -1; },
     "class CFG needs a null class"},
    {"negative_null_class", [](TableSpec &t) { t.nullClass = -5; },
     "null class -5 is negative"},
    {"no_latents", [](TableSpec &t) { t.hasLatents = false; },
     "missing latents"},
    {"unknown_layout", [](TableSpec &t) { t.layout = fp::LatentLayout(5); },
     "unknown latent layout 5"},
    {"zero_channels", [](TableSpec &t) { t.channels = 0; },
     "latent size 0 is not in 1..65536"},
    {"image_with_patches", [](TableSpec &t) { t.patch = 2; },
     "image latents have patch size 1, got 2"},
    {"patch_not_dividing",
     [](TableSpec &t) {
       t.layout = fp::LatentLayout::PackedTokens;
       t.patch = 3;
     },
     "patch size 3 does not divide the 8x8 latents"},
    {"few_prediction_channels", [](TableSpec &t) { t.prediction = 2; },
     "prediction_channels 2 is fewer than the latents' 4"},
    {"mask_channels_count", [](TableSpec &t) { t.maskChannels = 3; },
     "mask_channels 3 must be 0 or, for image latents, 1 + channels (5)"},
    {"mask_channels_input",
     [](TableSpec &t) {
       t.maskChannels = 5;
       addEncoder(t);
     },
     "input 0 (latents) is f32[4, 4, 8, 8], expected f32[4, 9, 8, 8]"},
    {"mask_channels_without_encoder",
     [](TableSpec &t) {
       t.maskChannels = 5;
       t.ranks[0]["transformer"].inputs[0].shape = {4, 9, 8, 8};
     },
     "mask_channels 5 without an encoder component"},
    {"zero_scaling", [](TableSpec &t) { t.scaling = 0; }, "bad VAE scaling"},
    {"nan_shift", [](TableSpec &t) { t.shift = std::nan(""); },
     "bad VAE scaling"},
    {"no_components", [](TableSpec &t) { t.components.clear(); },
     "no components"},
    {"unknown_component_role",
     [](TableSpec &t) { t.components[1].role = CR(9); }, "unknown role 9"},
    {"unnamed_function", [](TableSpec &t) { t.components[1].function = ""; },
     "component 1: missing function name"},
    {"function_twice",
     [](TableSpec &t) { t.components[1].function = "transformer"; },
     "function named twice"},
    {"two_denoisers", [](TableSpec &t) { t.components[1].role = CR::Denoiser; },
     "a second denoiser"},
    {"no_decoder", [](TableSpec &t) { t.components.pop_back(); },
     "no decoder component"},
    {"no_ranks", [](TableSpec &t) { t.components[0].ranks.clear(); },
     "no ranks"},
    {"rank_outside", [](TableSpec &t) { t.components[0].ranks = {1}; },
     "ranks [1] are not ascending ranks of the plan's 1"},
    {"missing_function",
     [](TableSpec &t) { t.components[1].function = "unet"; },
     "'unet' (decoder): lists ranks [0] but the plan holds the function on "
     "ranks []"},
    {"unknown_tensor_role",
     [](TableSpec &t) { t.components[0].inputs[1] = R(42); },
     "inputs: unknown tensor role 42"},
    {"output_role_as_input",
     [](TableSpec &t) { t.components[0].inputs[1] = R::Prediction; },
     "'prediction' is an output role, not an input"},
    {"input_role_as_output",
     [](TableSpec &t) { t.components[0].outputs[0] = R::Timestep; },
     "'timestep' is an input role, not an output"},
    {"role_twice",
     [](TableSpec &t) { t.components[0].inputs[2] = R::Timestep; },
     "role 'timestep' appears twice"},
    {"denoiser_without_latents",
     [](TableSpec &t) { t.components[0].inputs[0] = R::ImageIds; },
     "a denoiser takes the latents and returns the prediction"},
    {"decoder_with_timestep",
     [](TableSpec &t) { t.components[1].inputs.push_back(R::Timestep); },
     "a decoder takes the latents and returns the image"},
    {"role_count", [](TableSpec &t) { t.components[0].inputs.pop_back(); },
     "denoiser 'transformer' on rank 0 has 3 input(s) and 1 output(s), the "
     "pipeline lists 2 and 1"},
    {"batch", [](TableSpec &t) { t.numImages = 3; },
     "denoiser 'transformer' on rank 0: input 0 (latents) is f32[4, 4, 8, 8], "
     "expected f32[6, 4, 8, 8]"},
    {"guidance_batch",
     [](TableSpec &t) {
       t.guidance = fp::GuidanceMode::None;
       t.nullClass = -1;
     },
     "input 0 (latents) is f32[4, 4, 8, 8], expected f32[2, 4, 8, 8]"},
    {"label_dtype",
     [](TableSpec &t) {
       t.ranks[0]["transformer"].inputs[2].dtype = fp::DType::F32;
     },
     "input 2 (class_labels) is f32[4], expected i64[4]"},
    {"timestep_shape",
     [](TableSpec &t) {
       t.ranks[0]["transformer"].inputs[1].shape = {4, 1};
     },
     "input 1 (timestep) is f32[4, 1], expected f32[4]"},
    {"prediction_shape", [](TableSpec &t) { t.prediction = 4; },
     "output 0 (prediction) is f32[4, 8, 8, 8], expected f32[4, 4, 8, 8]"},
    {"decoder_input",
     [](TableSpec &t) {
       t.ranks[0]["vae"].inputs[0].shape = {2, 4, 8, 4};
     },
     "decoder 'vae' on rank 0: input 0 (latents) is f32[2, 4, 8, 4], expected "
     "f32[2, 4, 8, 8]"},
    {"text_cfg_with_labels",
     [](TableSpec &t) { t.guidance = fp::GuidanceMode::TextCfg; },
     "text CFG needs text conditioning"},
    {"encoder_takes_latents",
     [](TableSpec &t) {
       addEncoder(t);
       t.components[2].inputs[0] = R::Latents;
     },
     "an encoder takes the pixels and returns the latent mean"},
    {"denoiser_takes_pixels",
     [](TableSpec &t) { t.components[0].inputs[2] = R::Pixels; },
     "pixels and the latent mean and log-variance are the encoder's"},
    {"latent_mean_as_input",
     [](TableSpec &t) { t.components[1].inputs[0] = R::LatentMean; },
     "'latent_mean' is an output role, not an input"},
    {"pixels_as_output",
     [](TableSpec &t) {
       addEncoder(t);
       t.components[2].outputs[0] = R::Pixels;
     },
     "'pixels' is an input role, not an output"},
    {"two_encoders",
     [](TableSpec &t) {
       addEncoder(t);
       t.components.push_back(t.components[2]);
       t.components[3].function = "vae_encoder_2";
       t.ranks[0]["vae_encoder_2"] = t.ranks[0]["vae_encoder"];
     },
     "a second encoder"},
    {"control_image_alone",
     [](TableSpec &t) {
       addControl(t);
       t.components[0].inputs.pop_back();
       t.ranks[0]["transformer"].inputs.pop_back();
     },
     "the denoiser's control_image (or control_latents) and control_scale "
     "inputs go together"},
    {"control_latents_shape_on_image_latents",
     [](TableSpec &t) {
       addEncoder(t);
       t.components[0].inputs.push_back(R::ControlLatents);
       t.components[0].inputs.push_back(R::ControlScale);
       t.ranks[0]["transformer"].inputs.push_back({fp::DType::F32, {4, 64, 4}});
       t.ranks[0]["transformer"].inputs.push_back({fp::DType::F32, {4, 1}});
     },
     "the denoiser's control_latents input is [4, 64, 4], expected [batch, "
     "K x 4, 8, 8] (K latent images)"},
    {"control_latents_without_encoder",
     [](TableSpec &t) {
       t.components[0].inputs.push_back(R::ControlLatents);
       t.components[0].inputs.push_back(R::ControlScale);
       t.ranks[0]["transformer"].inputs.push_back(
           {fp::DType::F32, {4, 8, 8, 8}});
       t.ranks[0]["transformer"].inputs.push_back({fp::DType::F32, {4, 2}});
     },
     "control latents need a VAE encoder and latents without mask channels"},
    {"control_mode_without_latents",
     [](TableSpec &t) {
       addControl(t);
       t.components[0].inputs.push_back(R::ControlMode);
       t.ranks[0]["transformer"].inputs.push_back({fp::DType::I64, {4, 1}});
     },
     "a control_mode input needs control latents (a Flux ControlNet-Union)"},
    {"control_image_size",
     [](TableSpec &t) {
       addControl(t);
       t.ranks[0]["transformer"].inputs[3].shape = {4, 3, 16, 12};
     },
     "the denoiser's control_image input is [4, 3, 16, 12], expected"},
    {"control_on_decoder",
     [](TableSpec &t) {
       t.components[1].inputs.push_back(R::ControlScale);
       t.ranks[0]["vae"].inputs.push_back({fp::DType::F32, {2}});
     },
     "a decoder takes the latents and returns the image"},
    {"logvar_first",
     [](TableSpec &t) {
       addEncoder(t);
       t.components[2].outputs[0] = R::LatentLogVar;
     },
     "an encoder takes the pixels and returns the latent mean (and then the "
     "log-variance)"},
    {"logvar_shape",
     [](TableSpec &t) {
       addLogVar(t);
       t.ranks[0]["vae_encoder"].outputs[1].shape = {2, 4, 4, 8};
     },
     "encoder 'vae_encoder' on rank 0: output 1 (latent_logvar) is f32[2, 4, "
     "4, 8], expected f32[2, 4, 8, 8]"},
    {"latent_mean_shape",
     [](TableSpec &t) {
       addEncoder(t);
       t.ranks[0]["vae_encoder"].outputs[0].shape = {2, 4, 8, 4};
     },
     "encoder 'vae_encoder' on rank 0: output 0 (latent_mean) is f32[2, 4, 8, "
     "4], expected f32[2, 4, 8, 8]"},
    {"pixels_rank",
     [](TableSpec &t) {
       addEncoder(t);
       t.ranks[0]["vae_encoder"].inputs[0].shape = {2, 3, 16};
     },
     "its pixels are [2, 3, 16], expected [images, 3, H, W]"},
    {"decoder_output",
     [](TableSpec &t) {
       t.ranks[0]["vae"].outputs[0].shape = {2, 3, 16};
     },
     "output 0 (image) is f32[2, 3, 16], expected f32[2, channels, H, W]"},
};

INSTANTIATE_TEST_SUITE_P(Pipeline, BadTable, ::testing::ValuesIn(kBadTables),
                         [](const auto &info) { return info.param.name; });

/// generationSupport: every table that loads can generate today, but for
/// a packed-token patch other than FluxPipeline's 2x2.
TEST(PipelineSpec, GenerationSupportRefusesOtherPatchSizes) {
  TableSpec t = fluxTable();
  std::vector<uint8_t> bytes;
  PipelineSpec s = decode(t, bytes);
  EXPECT_FALSE(generationSupport(s).has_value());
  s.patchSize = 4;
  std::optional<std::string> why = generationSupport(s);
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("packed latents with patch size 4 is not implemented "
                      "yet"),
            std::string::npos)
      << *why;
}

TEST(PipelineNames, EverySpellingRoundTrips) {
  namespace pn = pipeline_names;
  for (int i = 0; i <= int(R::MAX); ++i)
    EXPECT_EQ(pn::parse<R>(pn::name(R(i))), R(i));
  for (int i = 0; i <= int(fp::GuidanceMode::MAX); ++i)
    EXPECT_EQ(pn::parse<fp::GuidanceMode>(pn::name(fp::GuidanceMode(i))),
              fp::GuidanceMode(i));
  EXPECT_STREQ(pn::name(R::ClassLabels), "class_labels");
  EXPECT_STREQ(pn::name(R(99)), "?");
  EXPECT_FALSE(pn::parse<CR>("unet").has_value());
  EXPECT_EQ(pn::list<fp::LatentLayout>(), "image, packed_tokens");
}

// A warm-up twin with the denoiser's signature and a fresh step loads.
TEST(PipelineSpec, WarmupFunctionLoads) {
  TableSpec t;
  t.ranks[0]["transformer_warmup"] = t.ranks[0].at("transformer");
  t.warmup = "transformer_warmup";
  t.freshSteps = 1;
  EXPECT_EQ(loadError(t), "");
  LoadedPlan p = LoadedPlan::fromBytes(t.build(), "test.fplan");
  EXPECT_EQ(PipelineSpec::fromPlan(p.plan(), "test.fplan").warmupFunction,
            "transformer_warmup");
}

} // namespace
