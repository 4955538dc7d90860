//===- TextConditioning.cpp - Prompts through the text encoders -----------===//
#include "runtime/comm/Communicator.h"
#include "runtime/core/Error.h"
#include "runtime/core/Executor.h"
#include "runtime/pipeline/Generate.h"
#include "runtime/pipeline/Parts.h"
#include "runtime/pipeline/PipelineNames.h"
#include "runtime/text/ClipTokenizer.h"
#include "runtime/text/T5Tokenizer.h"

#include <algorithm>
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
/// (the prompt, or prompt_2 for slot 1, defaulting to the prompt) padded to
/// the length its function takes, runs once per run before the loop, and
/// its outputs fill the denoiser's text inputs; text_ids are zeros. Under
/// text CFG the encoders run a second time on the negative prompts ("" by
/// default), whose outputs fill the second half of the denoiser's batch.
class TextConditioning final : public Conditioning {
public:
  TextConditioning(const PipelineSpec &spec, const GenerateOptions &o)
      : spec_(spec), folder_(o.weightsFolder), warnings_(o.warnings),
        blocks_(spec.guidanceCopies()) {
    const size_t n = o.prompts.size();
    prompts_[0][0] = o.prompts;
    prompts_[0][1] = o.prompts2.empty() ? o.prompts : o.prompts2;
    std::vector<std::string> negative =
        o.negativePrompts.size() == n ? o.negativePrompts
        : o.negativePrompts.empty()
            ? std::vector<std::string>(n)
            : std::vector<std::string>(n, o.negativePrompts[0]);
    prompts_[1][0] = prompts_[1][1] = negative;
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
      for (int block = 0; block < blocks_; ++block) {
        if (runs)
          encode(exec, c, block,
                 block == 0 && roles.rank == warner ? warnings_ : nullptr);
        if (!missing)
          continue;
        // The first rank holding the encoder sends what the denoiser reads
        // to the denoiser ranks that lack it.
        check(roles.world != nullptr,
              "a text encoder runs on another rank but there is no "
              "communicator");
        for (size_t k = 0; k < c.outputs.size(); ++k) {
          const int tag = 100 + (int(e) * 2 + block) * 8 + int(k);
          for (int r : den) {
            if (contains(c.ranks, r))
              continue;
            if (roles.rank == source) {
              const HostTensor &t = outputs_[block].at(c.outputs[k]);
              roles.world->send(t.data.data(), t.data.size(), r, tag);
            } else if (roles.rank == r) {
              HostTensor t = received(exec, c.outputs[k]);
              roles.world->recv(t.data.data(), t.data.size(), source, tag);
              outputs_[block][c.outputs[k]] = std::move(t);
            }
          }
        }
      }
    }
  }

  bool fill(plan::TensorRole role, const BatchLayout &batch, bool guided,
            HostTensor &in) const override {
    using R = plan::TensorRole;
    if (role == R::TextIds) {
      std::fill(in.as<float>(), in.as<float>() + in.numel(), 0.0f);
      return true;
    }
    if (role != R::TextEmbeddings && role != R::PooledTextEmbeddings)
      return false;
    // Encoder row i is image i; block 1 holds the negative prompts' under
    // guidance, else (its results unused) the prompts' again.
    for (int64_t r = 0; r < batch.rows(); ++r) {
      const int block = guided ? batch.block(r) : 0;
      check(block < blocks_, "the denoiser's batch has more blocks than the ",
            "text conditioning");
      auto it = outputs_[block].find(role);
      check(it != outputs_[block].end(), "the denoiser's '",
            pipeline_names::name(role), "' input has no text encoder output");
      const HostTensor &enc = it->second;
      const int64_t row = enc.numel() / enc.shape[0];
      check(in.numel() == batch.rows() * row, "the denoiser's '",
            pipeline_names::name(role), "' input is ", shapeToString(in.shape),
            ", the text encoder gives ", shapeToString(enc.shape));
      std::memcpy(in.as<float>() + r * row,
                  enc.as<float>() + batch.image(r) * row, row * sizeof(float));
    }
    return true;
  }

  std::string describe(int64_t image) const override {
    return "prompt \"" + shortPrompt(prompts_[0][0][image]) + "\"";
  }

private:
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
      // FluxPipeline pads CLIP to the tokenizer's model_max_length.
      check(tok.modelMaxLength() == length, folder, ": model_max_length is ",
            tok.modelMaxLength(), " but text encoder '", c.function, "' takes ",
            length, " tokens");
      for (const std::string &p : prompts) {
        ClipTokens t = tok.tokenize(p, length);
        if (t.truncated && warnings)
          *warnings << "warning: the prompt \"" << p
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

  void encode(Executor &exec, const ComponentSpec &c, int block,
              std::ostream *warnings) {
    std::vector<HostTensor> out =
        exec.run(c.function, {tokenize(exec, c, block, warnings)});
    check(out.size() == c.outputs.size(), "text encoder '", c.function,
          "' returned ", out.size(), " outputs, the pipeline lists ",
          c.outputs.size());
    for (size_t k = 0; k < out.size(); ++k) {
      requireFinite(out[k], "output " + std::to_string(k) +
                                " of text encoder '" + c.function + "'");
      outputs_[block][c.outputs[k]] = std::move(out[k]);
    }
  }

  /// An empty tensor for `role` as the encoder returns it: the denoiser's
  /// input shape with the encoder's batch (the plan's images).
  HostTensor received(Executor &exec, plan::TensorRole role) const {
    const ComponentSpec &den = *spec_.find(plan::ComponentRole::Denoiser);
    size_t k = size_t(std::find(den.inputs.begin(), den.inputs.end(), role) -
                      den.inputs.begin());
    check(k < den.inputs.size(), "the denoiser does not take '",
          pipeline_names::name(role), "'");
    HostTensor t;
    t.dtype = DType::F32;
    t.shape = exec.inputs(den.function).at(k).shape;
    t.shape[0] = spec_.numImages;
    t.data.resize(t.numel() * sizeof(float));
    return t;
  }

  const PipelineSpec &spec_;
  std::string folder_;
  std::ostream *warnings_;
  int blocks_; // 2 under text CFG: the prompts', the negative prompts'
  // [block][prompt slot]: the prompts each encoder reads.
  std::vector<std::string> prompts_[2][2];
  std::map<plan::TensorRole, HostTensor> outputs_[2];
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
  bool secondPrompt = false;
  for (const ComponentSpec *e : spec.textEncoders())
    secondPrompt = secondPrompt || e->promptSlot == 1;
  check(secondPrompt || o.prompts2.empty(), "pipeline '", spec.kind,
        "' reads one prompt per image: --prompt-2 does not apply");
  check(!o.weightsFolder.empty(),
        "text conditioning needs the weights folder (its tokenizers)");
  return std::make_unique<TextConditioning>(spec, o);
}

} // namespace fresco
