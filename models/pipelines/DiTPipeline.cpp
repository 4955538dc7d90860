//===- DiTPipeline.cpp - diffusers' DiTPipeline folder -> one module ------===//
#include "models/ModelSizes.h"
#include "models/SizeEstimate.h"
#include "models/dit/DiTBuilder.h"
#include "models/pipelines/PipelineFolder.h"
#include "models/vae/VAEBuilder.h"

using namespace llvm;

namespace fresco::models {

Error buildDiTPipeline(mlir::ModuleOp module, const PipelineFolder &dir,
                       const json::Object &index, const BuildOptions &options) {
  if (options.height || options.width || options.maxSequenceLength)
    return makeError("an image height/width and a max sequence length do "
                     "not apply to a DiTPipeline folder (its sizes come from "
                     "its transformer's config)");
  if (Error e = dir.requireComponents(index, "DiTPipeline",
                                      {"transformer", "vae", "scheduler"}))
    return e;
  Expected<DiTConfig> dit = dir.config<DiTConfig>("transformer");
  if (!dit)
    return dit.takeError();
  Expected<VAEConfig> vae = dir.config<VAEConfig>("vae");
  if (!vae)
    return vae.takeError();
  Expected<SchedulerFile> sched = dir.scheduler();
  if (!sched)
    return sched.takeError();

  if (vae->latentChannels != dit->inChannels)
    return makeError("the VAE's latent_channels (" +
                     Twine(vae->latentChannels) +
                     ") differ from the transformer's in_channels (" +
                     Twine(dit->inChannels) + ")");
  int64_t outC = dit->outputChannels();
  if (outC != dit->inChannels && outC != 2 * dit->inChannels)
    return makeError("transformer out_channels " + Twine(outC) +
                     " must equal in_channels or twice it (learned sigma)");

  // Classifier-free guidance runs the conditional and null-class halves as
  // one batch, as DiTPipeline does.
  const int64_t pixels = saturatingProduct({dit->sampleSize, vae->upscale()});
  if (Error e = checkVAESize(*vae, pixels, pixels))
    return e;
  buildDiT(module, *dit, 2 * options.batch, "transformer");
  buildVAEDecoder(module, *vae, options.batch, dit->sampleSize, dit->sampleSize,
                  "vae");

  // The sampler description (docs/dialect.md); spellings as in
  // runtime/pipeline/PipelineNames.h.
  PipelineAttrs a(module.getContext());
  mlir::ArrayAttr components = a.b.getArrayAttr(
      {a.dict({a.str("role", "denoiser"), a.str("function", "transformer"),
               a.attr("inputs",
                      a.strings({"latents", "timestep", "class_labels"})),
               a.attr("outputs", a.strings({"prediction"}))}),
       a.dict({a.str("role", "decoder"), a.str("function", "vae"),
               a.attr("inputs", a.strings({"latents"})),
               a.attr("outputs", a.strings({"image"}))})});
  // DiT's null class is the extra row of its label table (DiTPipeline's
  // hard-coded 1000).
  mlir::DictionaryAttr conditioning =
      a.dict({a.str("kind", "class_label"),
              a.i64("num_classes", dit->numEmbedsAdaNorm),
              a.i64("null_class", dit->numEmbedsAdaNorm)});
  mlir::DictionaryAttr latents =
      a.dict({a.str("layout", "image"), a.i64("channels", dit->inChannels),
              a.i64("height", dit->sampleSize), a.i64("width", dit->sampleSize),
              // Learned sigma: the last C channels are dropped.
              a.i64("prediction_channels", outC),
              a.f64("scaling_factor", vae->scalingFactor),
              a.f64("shift_factor", vae->shiftFactor.value_or(0.0))});
  mlir::DictionaryAttr sampler = a.dict({a.str("scheduler", sched->className),
                                         a.str("scheduler_config", sched->text),
                                         a.str("guidance", "class_cfg")});
  module->setAttr(
      "fresco.pipeline",
      a.dict({a.str("kind", "DiTPipeline"),
              // The most images a run makes; fewer pad the batch.
              a.i64("num_images", options.batch),
              // Read by the partitioning passes (placement, the denoiser's
              // split).
              a.str("denoiser", "transformer"), a.str("decoder", "vae"),
              a.attr("components", components),
              a.attr("conditioning", conditioning), a.attr("latents", latents),
              a.attr("sampler", sampler)}));
  return Error::success();
}

} // namespace fresco::models
