//===- TextConditioning.cpp - Prompts through the text encoders -----------===//
#include "runtime/comm/Communicator.h"
#include "runtime/core/Error.h"
#include "runtime/core/Executor.h"
#include "runtime/pipeline/Generate.h"
#include "runtime/pipeline/Parts.h"
#include "runtime/pipeline/PipelineNames.h"
#include "runtime/pipeline/TimeIds.h"
#include "runtime/text/ClipTokenizer.h"
#include "runtime/text/T5Tokenizer.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <ostream>

namespace fresco {
namespace {

bool contains(const std::vector<int> &ranks, int rank) {
  return std::find(ranks.begin(), ranks.end(), rank) != ranks.end();
}

/// The pipelines' encode_prompt: each text encoder tokenizes its prompt
/// (the prompt, or prompt_2 / prompt_3 for slots 1 and 2, defaulting to the
/// prompt) padded to the length its function takes, runs once per run
/// before the loop, and its outputs land in their windows of the denoiser's
/// text inputs (zeros elsewhere); text_ids are zeros, time ids the plan's
/// unless the run gives SDXL's micro-conditioning (TimeIds.h).
/// Under text CFG the encoders run a second time on the negative prompts
/// ("" by default), whose outputs fill the second half of the denoiser's
/// batch, or that half is zeros when the pipeline zeroes an absent negative
/// prompt (SDXL's force_zeros_for_empty_prompt).
class TextConditioning final : public Conditioning {
public:
  TextConditioning(const PipelineSpec &spec, const GenerateOptions &o)
      : spec_(spec), folder_(o.weightsFolder), warnings_(o.warnings),
        blocks_(spec.guidanceCopies()),
        zeroNegative_(spec.zeroNegativePrompt && o.negativePrompts.empty()) {
    timeIds_ =
        timeIdRows(spec, o.microConditioning,
                   o.initImage != nullptr || o.initImageLatents != nullptr,
                   o.aestheticScore, o.negativeAestheticScore);
    const size_t n = o.prompts.size();
    prompts_[0][0] = o.prompts;
    // The second and third prompts default to the prompt, also one by one
    // where given empty (as diffusers' `prompt_2 or prompt` for one image).
    for (auto [slot, given] : {std::pair{1, &o.prompts2}, {2, &o.prompts3}}) {
      prompts_[0][slot] = given->empty() ? o.prompts : *given;
      for (size_t i = 0; i < prompts_[0][slot].size(); ++i)
        if (prompts_[0][slot][i].empty())
          prompts_[0][slot][i] = o.prompts[i];
    }
    // One negative prompt per image: none is "", one serves every image.
    auto perImage = [n](const std::vector<std::string> &given) {
      return given.size() == n ? given
             : given.empty()   ? std::vector<std::string>(n)
                               : std::vector<std::string>(n, given[0]);
    };
    prompts_[1][0] = perImage(o.negativePrompts);
    // negative_prompt_2 or negative_prompt (_3 likewise), image by image.
    for (auto [slot, given] :
         {std::pair{1, &o.negativePrompts2}, {2, &o.negativePrompts3}}) {
      prompts_[1][slot] = perImage(given->empty() ? o.negativePrompts : *given);
      for (size_t i = 0; i < n; ++i)
        if (prompts_[1][slot][i].empty())
          prompts_[1][slot][i] = prompts_[1][0][i];
    }
    for (std::vector<std::vector<HostTensor>> &outs : outputs_)
      outs.resize(spec.textEncoders().size());
  }

  int64_t numImages() const override { return int64_t(prompts_[0][0].size()); }

  void prepare(Executor &exec, const RankRoles &roles) override {
    const std::vector<int> &den = roles.denoiserRanks;
    const std::vector<const ComponentSpec *> encoders = spec_.textEncoders();
    for (size_t e = 0; e < encoders.size(); ++e) {
      const ComponentSpec &c = *encoders[e];
      bool missing = false; // a denoiser rank without this encoder
      for (int r : den)
        missing = missing || !contains(c.ranks, r);
      const int source = c.ranks.front();
      const bool runs =
          contains(c.ranks, roles.rank) &&
          (contains(den, roles.rank) || (roles.rank == source && missing));
      // One rank warns about this encoder's truncated prompts: the first
      // that runs it.
      int warner = source;
      for (int r : c.ranks)
        if (contains(den, r)) {
          warner = missing && source < r ? source : r;
          break;
        }
      for (int block = 0; block < encodedBlocks(); ++block) {
        if (runs)
          encode(exec, c, e, block,
                 block == 0 && roles.rank == warner ? warnings_ : nullptr);
        if (!missing)
          continue;
        // The first rank holding the encoder sends what the denoiser reads
        // to the denoiser ranks that lack it.
        std::vector<HostTensor> &outs = outputs_[block][e];
        // A denoiser rank without the encoder receives into tensors of the
        // outputs' shapes.
        if (!runs && contains(den, roles.rank) &&
            outs.size() != c.outputs.size()) {
          outs.assign(c.outputs.size(), HostTensor());
          for (size_t k = 0; k < outs.size(); ++k) {
            outs[k].dtype = DType::F32;
            outs[k].shape = c.outputShapes.at(k);
            outs[k].data.resize(outs[k].numel() * sizeof(float));
          }
        }
        for (size_t k = 0; k < c.outputs.size(); ++k) {
          // clip_skip's twin outputs: each block's rows read one of them.
          if (!c.fillsBlock(k, block))
            continue;
          const int tag = 100 + (int(e) * 2 + block) * 8 + int(k);
          HostTensor none;
          handOver(roles, k < outs.size() ? outs[k] : none, source, c.ranks,
                   den, tag, "a text encoder");
        }
      }
    }
  }

  bool fill(plan::TensorRole role, const BatchLayout &batch, bool guided,
            HostTensor &in) const override {
    using R = plan::TensorRole;
    float *dst = in.as<float>();
    if (role == R::TextIds) {
      std::fill(dst, dst + in.numel(), 0.0f);
      return true;
    }
    if (role == R::TimeIds) {
      // The prompts' row, and the negative one in the unconditional half.
      const std::array<std::vector<double>, 2> &ids = timeIds_;
      const int64_t k = int64_t(ids[0].size());
      check(in.numel() == batch.rows() * k, "the denoiser's time ids input is ",
            shapeToString(in.shape), ", the plan has ", k, " time ids per row");
      for (int64_t r = 0; r < batch.rows(); ++r) {
        const int block = guided ? batch.block(r) : 0;
        for (int64_t i = 0; i < k; ++i)
          dst[r * k + i] = float(ids[block != 0][i]);
      }
      return true;
    }
    if (role != R::TextEmbeddings && role != R::PooledTextEmbeddings)
      return false;
    check(in.shape.size() >= 2 && in.shape[0] == batch.rows(),
          "the denoiser's '", pipeline_names::name(role), "' input is ",
          shapeToString(in.shape), " for a batch of ", batch.rows());
    // [rows, tokens, features], pooled as one token.
    const bool pooled = role == R::PooledTextEmbeddings;
    const int64_t tokens = pooled ? 1 : in.shape[1], feats = in.shape.back();
    std::fill(dst, dst + in.numel(), 0.0f);
    const std::vector<const ComponentSpec *> encoders = spec_.textEncoders();
    for (int64_t r = 0; r < batch.rows(); ++r) {
      // Encoder row i is image i; block 1 holds the negative prompts' under
      // guidance, else (its results unused) the prompts' again.
      const int block = guided ? batch.block(r) : 0;
      check(block < blocks_, "the denoiser's batch has more blocks than the ",
            "text conditioning");
      if (block == 1 && zeroNegative_)
        continue;
      for (size_t e = 0; e < encoders.size(); ++e) {
        const ComponentSpec &c = *encoders[e];
        for (size_t k = 0; k < c.outputs.size(); ++k) {
          if (c.outputs[k] != role || !c.fillsBlock(k, block))
            continue;
          const std::vector<HostTensor> &outs = outputs_[block][e];
          check(k < outs.size() && !outs[k].data.empty(), "text encoder '",
                c.function, "' gave no '", pipeline_names::name(role),
                "' on this rank");
          const HostTensor &enc = outs[k];
          const int64_t t = pooled ? 1 : enc.shape[1], d = enc.shape.back();
          const auto [tok, feat] = c.windows.at(k);
          check(tok + t <= tokens && feat + d <= feats, "text encoder '",
                c.function, "' output ", shapeToString(enc.shape),
                " does not fit the denoiser's '", pipeline_names::name(role),
                "' input ", shapeToString(in.shape));
          const float *src = enc.as<float>() + batch.image(r) * t * d;
          for (int64_t i = 0; i < t; ++i)
            std::memcpy(dst + (r * tokens + tok + i) * feats + feat,
                        src + i * d, d * sizeof(float));
        }
      }
    }
    return true;
  }

  std::string describe(int64_t image) const override {
    return "prompt \"" + shortPrompt(prompts_[0][0][image]) + "\"";
  }

private:
  /// The blocks the encoders run on: the negative prompts' too under CFG,
  /// unless that half is zeros.
  int encodedBlocks() const { return zeroNegative_ ? 1 : blocks_; }

  std::string tokenizerFolder(const ComponentSpec &c) const {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::path dir = fs::path(folder_) / c.tokenizer;
    check(fs::is_directory(dir, ec), "the weights folder '", folder_,
          "' has no '", c.tokenizer,
          "' folder: the tokenizer of text encoder '", c.function, "' (",
          c.tokenizerKind == plan::TokenizerKind::ClipBpe
              ? "vocab.json, merges.txt, tokenizer_config.json"
              : "spiece.model",
          ")");
    return dir.string();
  }

  /// Token ids of the images' prompts (block 0) or negative prompts
  /// (block 1) for `c`, one row per batch row.
  HostTensor tokenize(Executor &exec, const ComponentSpec &c, int block,
                      std::ostream *warnings) const {
    const TensorSpec &spec = exec.inputs(c.function).at(0);
    HostTensor ids;
    ids.dtype = DType::I64;
    ids.shape = spec.shape;
    ids.data.resize(ids.numel() * sizeof(int64_t));
    const int64_t rows = spec.shape[0], length = spec.shape[1];
    const std::vector<std::string> &prompts = prompts_[block][c.promptSlot];
    std::vector<std::vector<int64_t>> tokens;
    const std::string folder = tokenizerFolder(c);
    if (c.tokenizerKind == plan::TokenizerKind::ClipBpe) {
      ClipTokenizer tok = ClipTokenizer::load(folder);
      // The pipelines pad CLIP to the tokenizer's model_max_length.
      check(tok.modelMaxLength() == length, folder, ": model_max_length is ",
            tok.modelMaxLength(), " but text encoder '", c.function, "' takes ",
            length, " tokens");
      for (const std::string &p : prompts) {
        ClipTokens t = tok.tokenize(p, length);
        if (t.truncated && warnings)
          *warnings << "warning: the prompt \"" << shortPrompt(p)
                    << "\" was truncated to the " << length
                    << " tokens CLIP takes\n";
        tokens.push_back(std::move(t.ids));
      }
    } else {
      T5Tokenizer tok = T5Tokenizer::load(folder);
      for (const std::string &p : prompts)
        tokens.push_back(tok.tokenize(p, length, warnings).ids);
    }
    const BatchLayout layout{numImages(), rows, 1};
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(ids.as<int64_t>() + r * length,
                  tokens[layout.image(r)].data(), length * sizeof(int64_t));
    return ids;
  }

  void encode(Executor &exec, const ComponentSpec &c, size_t e, int block,
              std::ostream *warnings) {
    HostTensor ids = tokenize(exec, c, block, warnings);
    std::vector<HostTensor> out;
    try {
      out = exec.run(c.function, {ids});
    } catch (const Error &e) {
      // An id past the encoder's vocabulary comes from the tokenizer
      // files: say which encoder and tokenizer.
      fail(e.what(), " (text encoder '", c.function, "' on the ids of its '",
           c.tokenizer, "' tokenizer)");
    }
    check(out.size() == c.outputs.size(), "text encoder '", c.function,
          "' returned ", out.size(), " outputs, the pipeline lists ",
          c.outputs.size());
    for (size_t k = 0; k < out.size(); ++k)
      requireFinite(out[k], "output " + std::to_string(k) +
                                " of text encoder '" + c.function + "'");
    outputs_[block][e] = std::move(out);
  }

  const PipelineSpec &spec_;
  std::string folder_;
  std::ostream *warnings_;
  int blocks_;        // 2 under text CFG: the prompts', the negative prompts'
  bool zeroNegative_; // block 1 is zeros (no encoder runs on it)
  // The TimeIds row of the prompts' half and of the negative half.
  std::array<std::vector<double>, 2> timeIds_;
  // [block][prompt slot]: the prompts each encoder reads.
  std::vector<std::string> prompts_[2][3];
  // [block][text encoder][output]: what the encoders returned on this rank.
  std::vector<std::vector<HostTensor>> outputs_[2];
};

} // namespace

std::unique_ptr<Conditioning> makeTextConditioning(const PipelineSpec &spec,
                                                   const GenerateOptions &o) {
  check(o.classLabels.empty(), "pipeline '", spec.kind,
        "' is conditioned on prompts, not class labels: give --prompt");
  checkImageCount(spec, int64_t(o.prompts.size()), "prompt");
  check(o.prompts2.empty() || o.prompts2.size() == o.prompts.size(), "got ",
        o.prompts2.size(), " second prompts for ", o.prompts.size(),
        " prompts: give one --prompt-2 per --prompt, or none");
  const size_t neg = o.negativePrompts.size();
  check(spec.guidance == plan::GuidanceMode::TextCfg || neg == 0, "pipeline '",
        spec.kind,
        "' has no classifier-free guidance batch: a negative prompt does not "
        "apply");
  check(neg <= 1 || neg == o.prompts.size(), "got ", neg,
        " negative prompts for ", o.prompts.size(),
        " prompts: give none, one for all, or one per --prompt");
  for (auto [flag, given] :
       {std::pair{"--negative-prompt-2", &o.negativePrompts2},
        {"--negative-prompt-3", &o.negativePrompts3}}) {
    check(spec.guidance == plan::GuidanceMode::TextCfg || given->empty(),
          "pipeline '", spec.kind,
          "' has no classifier-free guidance batch: ", flag, " does not apply");
    check(given->size() <= 1 || given->size() == o.prompts.size(), "got ",
          given->size(), " ", flag, " for ", o.prompts.size(),
          " prompts: give none, one for all, or one per --prompt");
  }
  check(o.prompts3.empty() || o.prompts3.size() == o.prompts.size(), "got ",
        o.prompts3.size(), " third prompts for ", o.prompts.size(),
        " prompts: give one --prompt-3 per --prompt, or none");
  bool slot[3] = {true, false, false};
  for (const ComponentSpec *e : spec.textEncoders())
    slot[e->promptSlot] = true;
  check(slot[1] || o.prompts2.empty(), "pipeline '", spec.kind,
        "' reads one prompt per image: --prompt-2 does not apply");
  check(slot[2] || o.prompts3.empty(), "pipeline '", spec.kind,
        "' has no third text encoder: --prompt-3 does not apply");
  check(slot[1] || o.negativePrompts2.empty(), "pipeline '", spec.kind,
        "' reads one prompt per image: --negative-prompt-2 does not apply");
  check(slot[2] || o.negativePrompts3.empty(), "pipeline '", spec.kind,
        "' has no third text encoder: --negative-prompt-3 does not apply");
  // diffusers zeroes the whole half then, ignoring negative_prompt_2.
  for (auto [flag, given] :
       {std::pair{"--negative-prompt-2", &o.negativePrompts2},
        {"--negative-prompt-3", &o.negativePrompts3}})
    check(!spec.zeroNegativePrompt || neg > 0 || given->empty(), flag,
          " needs --negative-prompt: without one pipeline '", spec.kind,
          "' makes the negative half zeros (its "
          "force_zeros_for_empty_prompt), as diffusers does, and ",
          flag, " would go unused");
  check(!o.weightsFolder.empty(),
        "text conditioning needs the weights folder (its tokenizers)");
  return std::make_unique<TextConditioning>(spec, o);
}

} // namespace fresco
