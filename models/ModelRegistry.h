//===- ModelRegistry.h - config.json -> fresco IR ---------------*- C++ -*-===//
#ifndef FRESCO_MODELS_MODELREGISTRY_H
#define FRESCO_MODELS_MODELREGISTRY_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

namespace fresco::models {

/// The largest batch a model or pipeline is built for: far above any run,
/// and small enough that a pipeline's doubled batch times the largest
/// activation a config may have (SizeEstimate) stays far below 2^63.
inline constexpr int64_t kMaxBatch = int64_t(1) << 16;

struct BuildOptions {
  /// 1..kMaxBatch.
  int64_t batch = 1;
  /// Latent height/width for a VAE decoder; 0: derive it from the VAE's
  /// sample_size.
  int64_t latentSize = 0;
  /// Image size in pixels for a Flux transformer: (height / 16) * (width /
  /// 16) image tokens (FLUX.1's VAE downsamples by 8, then latents are
  /// packed 2x2); 0: 1024, FluxPipeline's default.
  int64_t height = 0, width = 0;
  /// Text tokens: for a Flux transformer, and per prompt for a T5 text
  /// encoder (FluxPipeline's max_sequence_length); 0: 512, FluxPipeline's
  /// default. A CLIP text encoder always takes max_position_embeddings
  /// tokens: another value is refused.
  int64_t maxSequenceLength = 0;
  /// The VAE encoder (fresco-compile --vae-encoder): for a bare
  /// AutoencoderKL, build it instead of the decoder, for height x width
  /// pixels (0: sample_size); for a StableDiffusionPipeline folder, add it
  /// as the pipeline's encoder for image-to-image.
  bool vaeEncoder = false;
  /// A FluxControlNetPipeline folder whose one ControlNet is a
  /// ControlNet-Union: apply it to this many control images, each with its
  /// mode, scale and window, summing the samples (diffusers'
  /// FluxMultiControlNetModel of one union net); its weights are stored
  /// once. 0: one image per net.
  int64_t controlImages = 0;
  /// diffusers' clip_skip for the CLIP text encoders of Stable Diffusion,
  /// SDXL and SD3 pipelines (fresco-compile --clip-skip): the prompts read
  /// the hidden state this many layers before the usual one; the negative
  /// prompts keep the usual one, as in diffusers. 0: off.
  int64_t clipSkip = 0;
};

/// Builds the component function `component` (e.g. "transformer"; empty:
/// the usual name for the class, "transformer", "vae", "text_encoder" for a
/// CLIPTextModel or "text_encoder_2" for a CLIPTextModelWithProjection or a
/// T5EncoderModel) from the text of a diffusers config.json (by
/// `_class_name`) or a transformers one (by `architectures`) into `module`.
/// Fails with a message naming the unsupported class or key.
llvm::Error buildComponentFromConfig(mlir::ModuleOp module,
                                     llvm::StringRef configText,
                                     llvm::StringRef component,
                                     const BuildOptions &options);

/// llvm::json::parse after checking that `text` nests at most 256 arrays
/// or objects deep: the parser recurses, and a crafted file would overflow
/// the stack (configs nest a few levels).
llvm::Expected<llvm::json::Value> parseJson(llvm::StringRef text);

/// Reads `<folder>/config.json` and builds it as `component`.
llvm::Error buildComponentFromFolder(mlir::ModuleOp module,
                                     llvm::StringRef folder,
                                     llvm::StringRef component,
                                     const BuildOptions &options);

/// Builds every component a diffusers pipeline folder needs (for
/// DiTPipeline: `transformer` at 2 x batch for classifier-free guidance, and
/// `vae`) and records the sampler description as the module attribute
/// `fresco.pipeline`. `options.batch` is the number of images per run.
llvm::Error buildPipelineFromFolder(mlir::ModuleOp module,
                                    llvm::StringRef folder,
                                    const BuildOptions &options);

} // namespace fresco::models

#endif // FRESCO_MODELS_MODELREGISTRY_H
