//===- PipelineSpec.cpp - A plan's Pipeline table, decoded ----------------===//
#include "runtime/pipeline/PipelineSpec.h"
#include "runtime/core/DType.h"
#include "runtime/core/Error.h"
#include "runtime/core/PlainName.h"
#include "runtime/pipeline/PipelineNames.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>

namespace fresco {
namespace {

using pipeline_names::name;
constexpr int64_t kMaxSize = int64_t(1) << 16;

template <typename E> bool known(E e) {
  return int(e) >= int(E::MIN) && int(e) <= int(E::MAX);
}

std::string shapeString(plan::DType dtype, const std::vector<int64_t> &shape) {
  return dtypeName(DType(dtype)) + shapeToString(shape);
}

const plan::Function *findFunction(const plan::RankProgram &rp,
                                   const std::string &fn) {
  for (const plan::Function *f : *rp.functions())
    if (f->name()->str() == fn)
      return f;
  return nullptr;
}

std::string ranksString(const std::vector<int> &ranks) {
  std::string s = "[";
  for (size_t i = 0; i < ranks.size(); ++i)
    s += (i ? ", " : "") + std::to_string(ranks[i]);
  return s + "]";
}

/// The dtype and shape a role implies for `c`'s tensor, when the role has
/// one here; roles of parts not implemented yet are left unchecked.
struct RoleTensor {
  plan::DType dtype;
  std::vector<int64_t> shape; // empty: rank 4 with `batch` images
  bool f32Too = false;        // f32 also accepted (values a plan keeps f32)
};

class TableReader {
public:
  TableReader(const plan::Plan &p, const std::string &name)
      : p_(p), ctx_("invalid plan " + name + ": pipeline") {}

  PipelineSpec decode() {
    const plan::Pipeline *pl = p_.pipeline();
    check(pl != nullptr, ctx_, ": absent");
    check(pl->kind() != nullptr, ctx_, ": missing kind");
    s_.kind = pl->kind()->str();
    s_.numImages = pl->num_images();
    check(s_.numImages >= 1 && s_.numImages <= kMaxSize, ctx_, ": num_images ",
          s_.numImages, " is not in 1..", kMaxSize);
    s_.freshSteps = pl->fresh_steps();
    check(s_.freshSteps >= 0, ctx_, ": fresh_steps ", s_.freshSteps,
          " is negative");
    decodeSampler(pl->sampler());
    decodeConditioning(pl->conditioning());
    decodeLatents(pl->latents());
    check(pl->components() && pl->components()->size() >= 1, ctx_,
          ": no components");
    for (flatbuffers::uoffset_t i = 0; i < pl->components()->size(); ++i)
      decodeComponent(*pl->components()->Get(i), i);
    for (plan::ComponentRole role :
         {plan::ComponentRole::Denoiser, plan::ComponentRole::Decoder})
      check(s_.find(role), ctx_, ": no ", name(role), " component");
    // An inpainting UNet's masked image is encoded: the plan carries the
    // encoder (the runtime would tell the user to recompile it otherwise).
    check(s_.maskChannels == 0 || s_.find(plan::ComponentRole::Encoder), ctx_,
          ": mask_channels ", s_.maskChannels, " without an encoder component");
    checkTextFlow();
    for (const ComponentSpec &c : s_.components)
      checkSignatures(c);
    if (pl->warmup_function())
      decodeWarmup(pl->warmup_function()->str());
    return s_;
  }

private:
  const plan::Plan &p_;
  std::string ctx_;
  PipelineSpec s_;

  void decodeSampler(const plan::Sampler *sa) {
    check(sa && sa->scheduler() && sa->scheduler_config(), ctx_,
          ": missing sampler (scheduler and its config)");
    s_.scheduler = sa->scheduler()->str();
    s_.schedulerConfig = sa->scheduler_config()->str();
    s_.guidance = sa->guidance();
    check(known(s_.guidance), ctx_, ": unknown guidance mode ",
          int(s_.guidance));
    s_.timestepDivisor = sa->timestep_divisor();
    check(std::isfinite(s_.timestepDivisor) && s_.timestepDivisor > 0 &&
              s_.timestepDivisor <= 1e9,
          ctx_, ": timestep divisor ", s_.timestepDivisor,
          " is not a positive number");
    s_.timesteps = sa->timesteps();
    check(known(s_.timesteps), ctx_, ": unknown timestep schedule ",
          int(s_.timesteps));
    s_.flowPrediction = sa->flow_prediction();
  }

  void decodeConditioning(const plan::Conditioning *c) {
    check(c != nullptr, ctx_, ": missing conditioning");
    s_.conditioning = c->kind();
    check(known(s_.conditioning), ctx_, ": unknown conditioning kind ",
          int(s_.conditioning));
    s_.numClasses = c->num_classes();
    s_.nullClass = c->null_class();
    if (c->time_ids())
      s_.timeIds.assign(c->time_ids()->begin(), c->time_ids()->end());
    check(s_.timeIds.size() <= 64, ctx_, ": ", s_.timeIds.size(),
          " time ids (at most 64)");
    for (double v : s_.timeIds)
      check(std::isfinite(v) && std::fabs(v) <= 1e9, ctx_, ": time id ", v,
            " is not a finite size");
    s_.zeroNegativePrompt = c->zero_negative_prompt();
    s_.aestheticScore = c->aesthetic_score();
    check(!s_.aestheticScore ||
              (s_.conditioning == plan::ConditioningKind::Text &&
               !s_.timeIds.empty()),
          ctx_,
          ": an aesthetic score time id needs text conditioning and "
          "time ids");
    check(!s_.zeroNegativePrompt || s_.guidance == plan::GuidanceMode::TextCfg,
          ctx_, ": zero negative prompts need text CFG");
    if (s_.conditioning != plan::ConditioningKind::ClassLabel) {
      check(s_.guidance != plan::GuidanceMode::ClassCfg, ctx_,
            ": class CFG needs class-label conditioning");
      return;
    }
    check(s_.numClasses >= 1, ctx_, ": class-label conditioning with ",
          s_.numClasses, " classes");
    check(s_.nullClass >= -1, ctx_, ": null class ", s_.nullClass,
          " is negative");
    check(s_.guidance != plan::GuidanceMode::ClassCfg || s_.nullClass >= 0,
          ctx_, ": class CFG needs a null class");
    check(s_.guidance != plan::GuidanceMode::TextCfg, ctx_,
          ": text CFG needs text conditioning");
  }

  void decodeLatents(const plan::Latents *l) {
    check(l != nullptr, ctx_, ": missing latents");
    s_.layout = l->layout();
    check(known(s_.layout), ctx_, ": unknown latent layout ", int(s_.layout));
    s_.channels = l->channels();
    s_.height = l->height();
    s_.width = l->width();
    s_.patchSize = l->patch_size();
    s_.predictionChannels = l->prediction_channels();
    for (int64_t v : {s_.channels, s_.height, s_.width})
      check(v >= 1 && v <= kMaxSize, ctx_, ": latent size ", v,
            " is not in 1..", kMaxSize);
    if (s_.layout == plan::LatentLayout::Image)
      check(s_.patchSize == 1, ctx_, ": image latents have patch size 1, got ",
            s_.patchSize);
    check(s_.patchSize >= 1 && s_.patchSize <= 64 &&
              s_.height % s_.patchSize == 0 && s_.width % s_.patchSize == 0,
          ctx_, ": patch size ", s_.patchSize, " does not divide the ",
          s_.height, "x", s_.width, " latents");
    const int64_t perPosition = s_.latentChannels();
    check(s_.predictionChannels >= perPosition &&
              s_.predictionChannels <= kMaxSize * 64,
          ctx_, ": prediction_channels ", s_.predictionChannels,
          " is fewer than the latents' ", perPosition);
    s_.maskChannels = l->mask_channels();
    check(s_.maskChannels == 0 || (s_.layout == plan::LatentLayout::Image &&
                                   s_.maskChannels == 1 + s_.channels),
          ctx_, ": mask_channels ", s_.maskChannels,
          " must be 0 or, for image latents, 1 + channels (", 1 + s_.channels,
          ")");
    s_.controlMaskChannels = l->control_mask_channels();
    check(s_.controlMaskChannels == 0 || s_.controlMaskChannels == 1, ctx_,
          ": control_mask_channels ", s_.controlMaskChannels,
          " must be 0 or 1");
    s_.scalingFactor = l->scaling_factor();
    s_.shiftFactor = l->shift_factor();
    if (const auto *m = l->latents_mean())
      s_.latentsMean.assign(m->begin(), m->end());
    if (const auto *d = l->latents_std())
      s_.latentsStd.assign(d->begin(), d->end());
    check(s_.latentsMean.size() == s_.latentsStd.size() &&
              (s_.latentsMean.empty() ||
               (int64_t(s_.latentsMean.size()) == s_.channels &&
                s_.layout == plan::LatentLayout::Image)),
          ctx_, ": latents_mean (", s_.latentsMean.size(),
          " values) and latents_std (", s_.latentsStd.size(),
          ") must both be empty or, for image latents, list one value per "
          "channel (",
          s_.channels, ")");
    for (size_t c = 0; c < s_.latentsStd.size(); ++c)
      check(std::isfinite(s_.latentsMean[c]) &&
                std::isfinite(s_.latentsStd[c]) && s_.latentsStd[c] != 0,
            ctx_, ": bad latent statistics for channel ", c, " (mean ",
            s_.latentsMean[c], ", std ", s_.latentsStd[c], ")");
    check(std::isfinite(s_.scalingFactor) && s_.scalingFactor != 0 &&
              std::isfinite(s_.shiftFactor),
          ctx_, ": bad VAE scaling (factor ", s_.scalingFactor, ", shift ",
          s_.shiftFactor, ")");
  }

  std::vector<plan::TensorRole>
  roles(const flatbuffers::Vector<plan::TensorRole> *v,
        const std::string &where) {
    check(v != nullptr, where, ": missing roles");
    std::vector<plan::TensorRole> out(v->begin(), v->end());
    for (plan::TensorRole r : out)
      check(known(r), where, ": unknown tensor role ", int(r));
    return out;
  }

  void decodeComponent(const plan::Component &c, flatbuffers::uoffset_t i) {
    std::string where = ctx_ + ", component " + std::to_string(i);
    ComponentSpec cs;
    cs.role = c.role();
    check(known(cs.role), where, ": unknown role ", int(cs.role));
    check(c.function() && c.function()->size() > 0, where,
          ": missing function name");
    cs.function = c.function()->str();
    where += " '" + cs.function + "' (" + name(cs.role) + ")";
    for (const ComponentSpec &other : s_.components) {
      check(other.function != cs.function, where, ": function named twice");
      check(cs.role == plan::ComponentRole::TextEncoder ||
                other.role != cs.role,
            where, ": a second ", name(cs.role));
    }
    check(c.ranks() && c.ranks()->size() >= 1, where, ": no ranks");
    cs.ranks.assign(c.ranks()->begin(), c.ranks()->end());
    for (size_t k = 0; k < cs.ranks.size(); ++k)
      check(cs.ranks[k] >= 0 && cs.ranks[k] < p_.num_ranks() &&
                (k == 0 || cs.ranks[k] > cs.ranks[k - 1]),
            where, ": ranks ", ranksString(cs.ranks),
            " are not ascending ranks of the plan's ", p_.num_ranks());
    std::vector<int> holding;
    for (const plan::RankProgram *rp : *p_.ranks())
      if (findFunction(*rp, cs.function))
        holding.push_back(rp->rank());
    check(holding == cs.ranks, where, ": lists ranks ", ranksString(cs.ranks),
          " but the plan holds the function on ranks ", ranksString(holding));
    cs.inputs = roles(c.inputs(), where + ", inputs");
    cs.outputs = roles(c.outputs(), where + ", outputs");
    decodeTokenizer(c, cs, where);
    requireRoles(cs, where);
    if (cs.role == plan::ComponentRole::Encoder) {
      const plan::Function &f =
          *findFunction(*p_.ranks()->Get(cs.ranks[0]), cs.function);
      check(f.inputs()->size() == 1, where, ": the function has ",
            f.inputs()->size(), " inputs, an encoder takes 1");
      const plan::Value *v = f.values()->Get(f.inputs()->Get(0));
      cs.pixelShape.assign(v->shape()->begin(), v->shape()->end());
      check(cs.pixelShape.size() == 4, where, ": its pixels are ",
            shapeToString(cs.pixelShape), ", expected [images, 3, H, W]");
    }
    s_.components.push_back(std::move(cs));
  }

  /// A text encoder's tokenizer: a known kind and a plain subfolder name
  /// (it is joined to the weights folder: no path may escape it).
  void decodeTokenizer(const plan::Component &c, ComponentSpec &cs,
                       const std::string &where) {
    cs.tokenizerKind = c.tokenizer_kind();
    check(known(cs.tokenizerKind), where, ": unknown tokenizer kind ",
          int(cs.tokenizerKind));
    cs.tokenizer = c.tokenizer() ? c.tokenizer()->str() : std::string();
    cs.promptSlot = c.prompt_slot();
    const bool text = cs.role == plan::ComponentRole::TextEncoder;
    if (!text) {
      check(cs.tokenizerKind == plan::TokenizerKind::None &&
                cs.tokenizer.empty() && cs.promptSlot == 0 && !c.windows() &&
                !c.output_prompts(),
            where,
            ": only a text encoder has a tokenizer, windows and output "
            "prompts");
      return;
    }
    check(cs.tokenizerKind != plan::TokenizerKind::None, where,
          ": a text encoder without a tokenizer kind");
    check(isPlainName(cs.tokenizer), where, ": tokenizer folder '",
          cs.tokenizer, "' is not a plain subfolder name");
    check(cs.promptSlot >= 0 && cs.promptSlot <= 2, where, ": prompt slot ",
          cs.promptSlot, " is not 0, 1 or 2");
    const plan::Function &f =
        *findFunction(*p_.ranks()->Get(cs.ranks[0]), cs.function);
    // At most 8 outputs: TextConditioning's message tags have room for 8
    // per encoder and block (4 roles, each twice under clip_skip).
    check(cs.outputs.size() <= 8, where, ": ", cs.outputs.size(),
          " outputs; a text encoder returns at most 8");
    // The windows are checked before the signatures: the counts first.
    check(f.outputs()->size() == cs.outputs.size(), where,
          ": the function has ", f.outputs()->size(),
          " output(s), the pipeline lists ", cs.outputs.size());
    for (flatbuffers::uoffset_t k = 0; k < f.outputs()->size(); ++k) {
      const plan::Value *v = f.values()->Get(f.outputs()->Get(k));
      cs.outputShapes.emplace_back(v->shape()->begin(), v->shape()->end());
    }
    if (c.windows()) {
      check(c.windows()->size() == cs.outputs.size(), where, ": ",
            c.windows()->size(), " windows for ", cs.outputs.size(),
            " outputs");
      for (const plan::TextWindow *w : *c.windows())
        cs.windows.emplace_back(w->token_offset(), w->feature_offset());
    } else {
      cs.windows.assign(cs.outputs.size(), {0, 0});
    }
    decodeOutputPrompts(c, cs, where);
  }

  /// Which prompts each output fills. An output for one block alone has a
  /// twin for the other block (same role and window), so both blocks get
  /// every window.
  void decodeOutputPrompts(const plan::Component &c, ComponentSpec &cs,
                           const std::string &where) {
    using P = plan::PromptBlock;
    if (!c.output_prompts()) {
      cs.outputPrompts.assign(cs.outputs.size(), P::Every);
      return;
    }
    check(c.output_prompts()->size() == cs.outputs.size(), where, ": ",
          c.output_prompts()->size(), " output prompts for ", cs.outputs.size(),
          " outputs");
    for (P p : *c.output_prompts()) {
      check(known(p), where, ": unknown prompt block ", int(p));
      cs.outputPrompts.push_back(p);
    }
    for (size_t k = 0; k < cs.outputs.size(); ++k) {
      const P p = cs.outputPrompts[k];
      if (p == P::Every)
        continue;
      const P twin = p == P::Prompts ? P::NegativePrompts : P::Prompts;
      int twins = 0;
      for (size_t j = 0; j < cs.outputs.size(); ++j)
        twins +=
            int(cs.outputPrompts[j] == twin && cs.outputs[j] == cs.outputs[k] &&
                cs.windows[j] == cs.windows[k] &&
                cs.outputShapes[j] == cs.outputShapes[k]);
      check(twins == 1, where, ": output ", k, " (", name(cs.outputs[k]),
            ") fills the ", p == P::Prompts ? "prompts'" : "negative prompts'",
            " rows alone but ", twins,
            " output(s) of the same role, shape "
            "and window fill the ",
            p == P::Prompts ? "negative prompts'" : "prompts'", " (need 1)");
    }
  }

  /// The roles the loop relies on for the denoiser and the decoder.
  void requireRoles(const ComponentSpec &c, const std::string &where) {
    auto count = [](const std::vector<plan::TensorRole> &v,
                    plan::TensorRole r) {
      return std::count(v.begin(), v.end(), r);
    };
    using R = plan::TensorRole;
    for (R r : c.inputs)
      check(r != R::Prediction && r != R::Image && r != R::LatentMean &&
                r != R::LatentLogVar,
            where, ": '", name(r), "' is an output role, not an input");
    for (R r : c.outputs)
      check(r == R::Prediction || r == R::Image || r == R::TextEmbeddings ||
                r == R::PooledTextEmbeddings || r == R::LatentMean ||
                r == R::LatentLogVar,
            where, ": '", name(r), "' is an input role, not an output");
    for (R r : c.inputs)
      check(count(c.inputs, r) == 1, where, ": role '", name(r),
            "' appears twice");
    // A text encoder may return a role twice: once for the prompts' rows
    // and once for the negative prompts' (clip_skip).
    auto block = [&](size_t k) {
      return c.outputPrompts.empty() ? plan::PromptBlock::Every
                                     : c.outputPrompts[k];
    };
    for (size_t k = 0; k < c.outputs.size(); ++k)
      for (size_t j = k + 1; j < c.outputs.size(); ++j)
        check(
            c.outputs[j] != c.outputs[k] ||
                (block(j) != plan::PromptBlock::Every &&
                 block(k) != plan::PromptBlock::Every && block(j) != block(k)),
            where, ": role '", name(c.outputs[k]), "' appears twice",
            c.role == plan::ComponentRole::TextEncoder ? " for the same prompts"
                                                       : "");
    if (c.role == plan::ComponentRole::Denoiser)
      check(count(c.inputs, R::Latents) == 1 && c.outputs.size() == 1 &&
                c.outputs[0] == R::Prediction,
            where, ": a denoiser takes the latents and returns the prediction");
    if (c.role == plan::ComponentRole::Decoder)
      check(c.inputs.size() == 1 && c.inputs[0] == R::Latents &&
                c.outputs.size() == 1 && c.outputs[0] == R::Image,
            where, ": a decoder takes the latents and returns the image");
    const bool encoder = c.role == plan::ComponentRole::Encoder;
    if (encoder)
      check(c.inputs.size() == 1 && c.inputs[0] == R::Pixels &&
                !c.outputs.empty() && c.outputs.size() <= 2 &&
                c.outputs[0] == R::LatentMean &&
                (c.outputs.size() == 1 || c.outputs[1] == R::LatentLogVar),
            where,
            ": an encoder takes the pixels and returns the latent mean (and "
            "then the log-variance)");
    else
      check(count(c.inputs, R::Pixels) == 0 &&
                count(c.outputs, R::LatentMean) == 0 &&
                count(c.outputs, R::LatentLogVar) == 0,
            where,
            ": pixels and the latent mean and log-variance are the encoder's");
    if (c.role == plan::ComponentRole::TextEncoder)
      check(c.inputs.size() == 1 && c.inputs[0] == R::TokenIds &&
                !c.outputs.empty(),
            where,
            ": a text encoder takes token ids and returns text embeddings");
    else
      check(count(c.inputs, R::TokenIds) == 0 &&
                count(c.outputs, R::TextEmbeddings) == 0 &&
                count(c.outputs, R::PooledTextEmbeddings) == 0,
            where, ": token ids and text embeddings are a text encoder's");
  }

  /// The denoiser's text inputs each come from exactly one text encoder,
  /// and every other input has the part that fills it.
  void checkTextFlow() {
    using R = plan::TensorRole;
    const ComponentSpec &den = *s_.find(plan::ComponentRole::Denoiser);
    const bool text = s_.conditioning == plan::ConditioningKind::Text;
    check(text == !s_.textEncoders().empty(), ctx_,
          text ? ": text conditioning without a text encoder"
               : ": text encoders without text conditioning");
    for (R r : {R::TextEmbeddings, R::PooledTextEmbeddings}) {
      int producers = 0;
      for (const ComponentSpec *e : s_.textEncoders())
        producers += int(std::count(e->outputs.begin(), e->outputs.end(), r));
      const bool taken =
          std::count(den.inputs.begin(), den.inputs.end(), r) > 0;
      check(taken ? producers >= 1 : producers == 0, ctx_, ": the denoiser's '",
            name(r), "' input ", taken ? "is" : "is not", " taken but ",
            producers, " text encoder outputs give it");
      if (taken)
        checkWindows(den, r);
    }
    check(s_.timeIds.empty() == (std::count(den.inputs.begin(),
                                            den.inputs.end(), R::TimeIds) == 0),
          ctx_, ": time ids and a time ids input go together");
    for (R r : den.inputs) {
      check(r != R::ClassLabels ||
                s_.conditioning == plan::ConditioningKind::ClassLabel,
            ctx_, ": class labels without class-label conditioning");
      check(r != R::ImageIds || s_.layout == plan::LatentLayout::PackedTokens,
            ctx_, ": image ids need packed-token latents");
      check(r != R::TextIds || text, ctx_, ": text ids need text conditioning");
    }
    const bool embedded = s_.guidance == plan::GuidanceMode::Embedded;
    check(embedded == (std::count(den.inputs.begin(), den.inputs.end(),
                                  R::GuidanceScale) == 1),
          ctx_, ": embedded guidance and a guidance scale input go together");
    checkControl(den);
  }

  /// A ControlNet's two inputs go together: the control image on an
  /// image-layout denoiser (requireRoles keeps them off the other
  /// components' fixed inputs), an integer multiple of the latent grid; or
  /// the control latents on a packed-token denoiser with a VAE encoder, a
  /// whole number of latent rows per token.
  void checkControl(const ComponentSpec &den) {
    using R = plan::TensorRole;
    const bool image = count(den.inputs, R::ControlImage) > 0,
               latents = count(den.inputs, R::ControlLatents) > 0;
    check(!(image && latents), ctx_,
          ": the denoiser takes a control image or control latents, not both");
    check((image || latents) == (count(den.inputs, R::ControlScale) > 0), ctx_,
          ": the denoiser's control_image (or control_latents) and "
          "control_scale inputs go together");
    s_.controlModes = count(den.inputs, R::ControlMode) > 0;
    check(s_.controlMaskChannels == 0 || latents, ctx_,
          ": control_mask_channels without a control_latents input");
    check(!s_.controlModes || latents, ctx_,
          ": a control_mode input needs control latents (a Flux "
          "ControlNet-Union)");
    if (latents) {
      check(s_.find(plan::ComponentRole::Encoder) != nullptr &&
                s_.maskChannels == 0,
            ctx_,
            ": control latents need a VAE encoder and latents without mask "
            "channels");
      std::vector<int64_t> in = denoiserInputShape(R::ControlLatents);
      const int64_t p = s_.latentChannels();
      check(s_.controlMaskChannels == 0 ||
                s_.layout == plan::LatentLayout::Image,
            ctx_, ": control mask channels need image latents (SD3's)");
      if (s_.layout == plan::LatentLayout::PackedTokens)
        check(in.size() == 3 && in[1] == s_.latentPositions() && in[2] > 0 &&
                  in[2] % p == 0,
              ctx_, ": the denoiser's control_latents input is ",
              shapeToString(in), ", expected [batch, ", s_.latentPositions(),
              ", K x ", p, "] (K packed latents)");
      else if (s_.controlMaskChannels)
        // StableDiffusion3ControlNetInpaintingPipeline runs one net.
        check(in.size() == 4 && in[1] == p + s_.controlMaskChannels &&
                  in[2] == s_.height && in[3] == s_.width,
              ctx_, ": the denoiser's control_latents input is ",
              shapeToString(in), ", expected [batch, ",
              p + s_.controlMaskChannels, ", ", s_.height, ", ", s_.width,
              "] (one net's latents and mask)");
      else
        check(in.size() == 4 && in[1] > 0 && in[1] % p == 0 &&
                  in[2] == s_.height && in[3] == s_.width,
              ctx_, ": the denoiser's control_latents input is ",
              shapeToString(in), ", expected [batch, K x ", p, ", ", s_.height,
              ", ", s_.width, "] (K latent images)");
      s_.controlImage.assign(in.begin() + 1, in.end());
      s_.controlLatents = true;
      checkNetCount();
      return;
    }
    if (!image)
      return;
    // (With an inpainting UNet's mask channels: its ControlNet reads the
    // latents alone.)
    check(s_.layout == plan::LatentLayout::Image, ctx_,
          ": a control image needs image latents");
    std::vector<int64_t> in = denoiserInputShape(R::ControlImage);
    check(in.size() == 4 && in[1] > 0 && in[1] % 3 == 0 && in[2] > 0 &&
              in[2] % s_.height == 0 && in[3] % s_.width == 0 &&
              in[2] / s_.height == in[3] / s_.width,
          ctx_, ": the denoiser's control_image input is ", shapeToString(in),
          ", expected [batch, 3 K, H, W] (K RGB images) with H x W a "
          "multiple of the latent grid ",
          s_.height, "x", s_.width);
    s_.controlImage.assign(in.begin() + 1, in.end());
    checkNetCount();
    // A UNet's ControlNets take a scale per residual (version 27): guess
    // mode's factors.
    std::vector<int64_t> scale = denoiserInputShape(R::ControlScale);
    check(scale.size() == 3 && scale[2] >= 1 && scale[2] <= 64, ctx_,
          ": the denoiser's control_scale input is ", shapeToString(scale),
          ", expected [batch, K, R] (each net's scale per residual, R in "
          "1..64; plans of ControlNets compiled before plan version 27 "
          "took [batch, K]: recompile)");
    s_.controlResiduals = scale[2];
  }

  /// At most 16 ControlNets, as the compiler builds (the runtime's
  /// messages for their encoded images have tags to spare for 16).
  void checkNetCount() {
    check(s_.controlNets() <= 16, ctx_, ": the denoiser runs ",
          s_.controlNets(), " ControlNets; at most 16 are supported");
  }

  static int64_t count(const std::vector<plan::TensorRole> &v,
                       plan::TensorRole r) {
    return int64_t(std::count(v.begin(), v.end(), r));
  }

  /// The denoiser's input of `role`, as its first rank's function takes it.
  std::vector<int64_t> denoiserInputShape(plan::TensorRole role) const {
    const ComponentSpec &den = *s_.find(plan::ComponentRole::Denoiser);
    for (size_t k = 0; k < den.inputs.size(); ++k)
      if (den.inputs[k] == role) {
        const plan::Function &f =
            *findFunction(*p_.ranks()->Get(den.ranks[0]), den.function);
        check(k < f.inputs()->size(), ctx_, ": the denoiser '", den.function,
              "' has fewer inputs than its roles");
        const plan::Value *v = f.values()->Get(f.inputs()->Get(k));
        return {v->shape()->begin(), v->shape()->end()};
      }
    return {};
  }

  /// Every encoder output of `role` fits its window of the denoiser's
  /// input row ([T, D], or [D] pooled) and no two windows overlap.
  void checkWindows(const ComponentSpec &den, plan::TensorRole role) {
    const std::vector<int64_t> in = denoiserInputShape(role);
    const bool pooled = role == plan::TensorRole::PooledTextEmbeddings;
    check(in.size() == (pooled ? 2u : 3u), ctx_, ": the denoiser '",
          den.function, "' takes '", name(role), "' as ", shapeToString(in),
          ", expected rank ", pooled ? 2 : 3);
    struct Box {
      int64_t t0, t1, f0, f1;
      plan::PromptBlock prompts;
      std::string what;
    };
    std::vector<Box> boxes;
    for (const ComponentSpec *e : s_.textEncoders())
      for (size_t k = 0; k < e->outputs.size(); ++k) {
        if (e->outputs[k] != role)
          continue;
        const std::vector<int64_t> &out = e->outputShapes.at(k);
        auto [tok, feat] = e->windows.at(k);
        const std::string what = "output " + std::to_string(k) + " (" +
                                 name(role) + ") of text encoder '" +
                                 e->function + "'";
        check(out.size() == in.size() && out[0] == s_.numImages, ctx_, ": ",
              what, " is ", shapeToString(out), ", expected rank ", in.size(),
              " with ", s_.numImages, " images");
        const int64_t tokens = pooled ? 1 : out[1], feats = out.back();
        const int64_t inTokens = pooled ? 1 : in[1], inFeats = in.back();
        check(tok >= 0 && feat >= 0 && (!pooled || tok == 0) &&
                  tok <= inTokens - tokens && feat <= inFeats - feats,
              ctx_, ": ", what, " ", shapeToString(out), " at offset (", tok,
              ", ", feat, ") does not fit the denoiser's input ",
              shapeToString(in));
        // A prompts-only output and its negative twin share their window.
        Box b{tok,          tok + tokens,           feat,
              feat + feats, e->outputPrompts.at(k), what};
        for (const Box &o : boxes) {
          const bool disjointRows = b.prompts != plan::PromptBlock::Every &&
                                    o.prompts != plan::PromptBlock::Every &&
                                    b.prompts != o.prompts;
          check(disjointRows || b.t1 <= o.t0 || o.t1 <= b.t0 || b.f1 <= o.f0 ||
                    o.f1 <= b.f0,
                ctx_, ": ", what, " overlaps ", o.what,
                " in the denoiser's input");
        }
        boxes.push_back(b);
      }
  }

  /// The denoiser sees every image once per guidance copy.
  int64_t batchOf(const ComponentSpec &c) const {
    return c.role == plan::ComponentRole::Denoiser
               ? s_.numImages * s_.guidanceCopies()
               : s_.numImages;
  }

  std::optional<RoleTensor> expected(const ComponentSpec &c,
                                     plan::TensorRole r) {
    using R = plan::TensorRole;
    const int64_t batch = batchOf(c);
    // Floats as the plan stores them; the timesteps stay f32 whatever the
    // storage (fresco-compile --dtype).
    const plan::DType floats = p_.float_storage();
    if (c.role == plan::ComponentRole::TextEncoder)
      return textEncoderTensor(c, r, batch, floats);
    const std::vector<int64_t> embeddings =
        denoiserInputShape(R::TextEmbeddings);
    const int64_t textTokens = embeddings.size() == 3 ? embeddings[1] : 0;
    switch (r) {
    case R::Latents:
      // The decoder sees unpacked latents whatever the layout.
      return RoleTensor{
          floats,
          c.role == plan::ComponentRole::Decoder
              ? std::vector<int64_t>{batch, s_.channels, s_.height, s_.width}
              : s_.latentShape(batch, s_.latentChannels() + s_.maskChannels)};
    case R::Timestep:
      return RoleTensor{plan::DType::F32, {batch}};
    case R::ClassLabels:
      return RoleTensor{plan::DType::I64, {batch}};
    case R::Prediction:
      return RoleTensor{floats, s_.latentShape(batch, s_.predictionChannels)};
    case R::Image:
    case R::Pixels: // [batch, 3, H, W]: the image size is not in the table
      return RoleTensor{floats, {}};
    case R::LatentMean: // unpacked whatever the layout, as the decoder's
    case R::LatentLogVar:
      return RoleTensor{floats, {batch, s_.channels, s_.height, s_.width}};
    case R::TextEmbeddings:
    case R::PooledTextEmbeddings: {
      // The first rank's sizes (checkWindows checked them against the
      // encoders'), with this component's batch.
      std::vector<int64_t> shape = denoiserInputShape(r);
      shape[0] = batch;
      return RoleTensor{floats, shape};
    }
    case R::TimeIds:
      return RoleTensor{
          floats,
          {batch, int64_t(s_.timeIds.size()) + (s_.aestheticScore ? 1 : 0)},
          true};
    case R::GuidanceScale:
      return RoleTensor{floats, {batch}, true};
    case R::ControlScale: // one per ControlNet (a UNet's: per residual)
      if (s_.controlResiduals)
        return RoleTensor{
            floats, {batch, s_.controlNets(), s_.controlResiduals}, true};
      return RoleTensor{floats, {batch, s_.controlNets()}, true};
    case R::ControlMode:
      return RoleTensor{plan::DType::I64, {batch, s_.controlNets()}};
    case R::ControlImage:
    case R::ControlLatents: {
      std::vector<int64_t> shape = denoiserInputShape(r);
      shape[0] = batch;
      return RoleTensor{floats, shape};
    }
    case R::ImageIds:
      // (0, row, column) per packed token: Flux's three rope axes.
      return RoleTensor{floats, {s_.latentPositions(), 3}, true};
    case R::TextIds:
      return RoleTensor{floats, {textTokens, 3}, true};
    default:
      return std::nullopt;
    }
  }

  /// Token ids [images, T] in; [images, T', D] or [images, D] floats out.
  std::optional<RoleTensor> textEncoderTensor(const ComponentSpec &c,
                                              plan::TensorRole r, int64_t batch,
                                              plan::DType floats) const {
    using R = plan::TensorRole;
    const plan::Function &f =
        *findFunction(*p_.ranks()->Get(c.ranks[0]), c.function);
    auto shapeOf = [&](bool input, size_t k) {
      const plan::Value *v =
          f.values()->Get((input ? f.inputs() : f.outputs())->Get(k));
      return std::vector<int64_t>(v->shape()->begin(), v->shape()->end());
    };
    auto at = [](const std::vector<plan::TensorRole> &v, plan::TensorRole x) {
      return size_t(std::find(v.begin(), v.end(), x) - v.begin());
    };
    std::vector<int64_t> shape = r == R::TokenIds
                                     ? shapeOf(true, at(c.inputs, r))
                                     : shapeOf(false, at(c.outputs, r));
    // The function's own sizes, with the pipeline's batch and rank.
    const size_t rank =
        r == R::TokenIds || r == R::PooledTextEmbeddings ? 2 : 3;
    shape.resize(rank, 1);
    shape[0] = batch;
    return RoleTensor{r == R::TokenIds ? plan::DType::I64 : floats, shape};
  }

  /// PipeFusion's twin runs in the denoiser's place: same ranks, inputs
  /// and outputs.
  void decodeWarmup(const std::string &fn) {
    const ComponentSpec &den = *s_.find(plan::ComponentRole::Denoiser);
    check(!fn.empty() && fn != den.function, ctx_, ": warmup_function '", fn,
          "' must name a function other than the denoiser '", den.function,
          "'");
    for (int r : den.ranks) {
      const plan::RankProgram &rp = *p_.ranks()->Get(r);
      const plan::Function *w = findFunction(rp, fn);
      const plan::Function *d = findFunction(rp, den.function);
      std::string where =
          ctx_ + ": warmup_function '" + fn + "' on rank " + std::to_string(r);
      check(w != nullptr, where,
            " is not defined there (it runs where the "
            "denoiser does)");
      check(w->inputs()->size() == d->inputs()->size() &&
                w->outputs()->size() == d->outputs()->size(),
            where, " has another signature than the denoiser '", den.function,
            "'");
      for (bool in : {true, false}) {
        const auto &wi = in ? *w->inputs() : *w->outputs();
        const auto &di = in ? *d->inputs() : *d->outputs();
        for (flatbuffers::uoffset_t k = 0; k < wi.size(); ++k) {
          const plan::Value *a = w->values()->Get(wi.Get(k));
          const plan::Value *b = d->values()->Get(di.Get(k));
          std::vector<int64_t> sa(a->shape()->begin(), a->shape()->end());
          std::vector<int64_t> sb(b->shape()->begin(), b->shape()->end());
          check(a->dtype() == b->dtype() && sa == sb, where, ": ",
                in ? "input " : "output ", k, " is ",
                shapeString(a->dtype(), sa), " but the denoiser's is ",
                shapeString(b->dtype(), sb));
        }
      }
    }
    s_.warmupFunction = fn;
  }

  void checkSignatures(const ComponentSpec &c) {
    const int64_t images = batchOf(c);
    for (int r : c.ranks) {
      const plan::Function &f = *findFunction(*p_.ranks()->Get(r), c.function);
      std::string where = ctx_ + ": " + name(c.role) + " '" + c.function +
                          "' on rank " + std::to_string(r);
      check(f.inputs()->size() == c.inputs.size() &&
                f.outputs()->size() == c.outputs.size(),
            where, " has ", f.inputs()->size(), " input(s) and ",
            f.outputs()->size(), " output(s), the pipeline lists ",
            c.inputs.size(), " and ", c.outputs.size());
      for (bool in : {true, false}) {
        const auto &ids = in ? *f.inputs() : *f.outputs();
        const auto &list = in ? c.inputs : c.outputs;
        for (flatbuffers::uoffset_t k = 0; k < ids.size(); ++k) {
          std::optional<RoleTensor> e = expected(c, list[k]);
          if (!e)
            continue;
          const plan::Value *v = f.values()->Get(ids.Get(k));
          std::vector<int64_t> shape(v->shape()->begin(), v->shape()->end());
          bool ok = (v->dtype() == e->dtype ||
                     (e->f32Too && v->dtype() == plan::DType::F32)) &&
                    (e->shape.empty() ? shape.size() == 4 && shape[0] == images
                                      : shape == e->shape);
          check(ok, where, ": ", in ? "input " : "output ", k, " (",
                name(list[k]), ") is ", shapeString(v->dtype(), shape),
                ", expected ",
                e->shape.empty()
                    ? std::string(dtypeName(DType(e->dtype))) + "[" +
                          std::to_string(images) + ", channels, H, W]"
                    : shapeString(e->dtype, e->shape));
        }
      }
    }
  }
};

} // namespace

PipelineSpec PipelineSpec::fromPlan(const plan::Plan &p,
                                    const std::string &name) {
  return TableReader(p, name).decode();
}

void verifyPipeline(const plan::Plan &p, const std::string &name) {
  (void)PipelineSpec::fromPlan(p, name);
}

std::optional<std::string> generationSupport(const PipelineSpec &s) {
  auto notYet = [&](const std::string &what) {
    return "pipeline '" + s.kind + "': " + what +
           " is not implemented yet in this runtime";
  };
  if (s.layout == plan::LatentLayout::PackedTokens && s.patchSize != 2)
    return notYet("packed latents with patch size " +
                  std::to_string(s.patchSize));
  return std::nullopt;
}

} // namespace fresco
