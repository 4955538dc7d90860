//===- PipelineFolder.h - Shared pieces of the pipeline builders -*- C++
//-*-===//
//
// A diffusers pipeline folder (model_index.json and one subfolder per
// component) becomes one module: a function per model component and the
// fresco.pipeline attribute (docs/dialect.md) describing how the runtime's
// sampling loop drives them. One file per pipeline class; this header holds
// what they share: reading the folder's JSON files and spelling the
// attribute.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_MODELS_PIPELINES_PIPELINEFOLDER_H
#define FRESCO_MODELS_PIPELINES_PIPELINEFOLDER_H

#include "models/ModelRegistry.h"
#include "models/text/CLIPTextModel.h"
#include "models/vae/VAEBuilder.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

#include <initializer_list>
#include <optional>
#include <string>

namespace fresco::models {

llvm::Error makeError(const llvm::Twine &msg);

/// scheduler/scheduler_config.json: its class and its whole text (copied
/// into the plan).
struct SchedulerFile {
  std::string className, text;
};

/// A pipeline folder being read: paths of its components' files and their
/// parsed JSON, with errors naming the file.
class PipelineFolder {
public:
  explicit PipelineFolder(llvm::StringRef folder) : folder_(folder.str()) {}

  /// folder/component/file.
  llvm::SmallString<256> path(llvm::StringRef component,
                              llvm::StringRef file) const;
  /// The JSON object in folder/component/file.
  llvm::Expected<llvm::json::Object> object(llvm::StringRef component,
                                            llvm::StringRef file) const;
  /// The text of folder/component/file.
  llvm::Expected<std::string> text(llvm::StringRef component,
                                   llvm::StringRef file) const;
  /// Fails naming the first of `components` that `index` (model_index.json)
  /// lacks, and all that `pipeline` needs.
  llvm::Error
  requireComponents(const llvm::json::Object &index, llvm::StringRef pipeline,
                    llvm::ArrayRef<llvm::StringRef> components) const;
  /// The scheduler's config; an error names the file when it is missing,
  /// not JSON, has no _class_name or another class than model_index.json's
  /// (setIndexScheduler).
  llvm::Expected<SchedulerFile> scheduler() const;
  /// The scheduler class model_index.json names: diffusers loads that one.
  void setIndexScheduler(llvm::StringRef cls) { indexScheduler_ = cls.str(); }
  /// The same, refusing any class but `required`, which `pipeline` runs.
  llvm::Expected<SchedulerFile> scheduler(llvm::StringRef pipeline,
                                          llvm::StringRef required) const;
  /// Parses component/config.json with `Config::fromJSON`, prefixing an
  /// error with the file's path.
  template <typename Config>
  llvm::Expected<Config> config(llvm::StringRef component) const {
    llvm::Expected<llvm::json::Object> obj = object(component, "config.json");
    if (!obj)
      return obj.takeError();
    llvm::Expected<Config> c = Config::fromJSON(*obj);
    if (!c)
      return makeError(path(component, "config.json") + ": " +
                       llvm::toString(c.takeError()));
    return c;
  }

private:
  llvm::Expected<SchedulerFile> readScheduler() const;
  llvm::Error checkIndexScheduler(llvm::StringRef configClass) const;

  std::string folder_;
  std::optional<std::string> indexScheduler_;
};

/// Whether model_index.json names `component` (diffusers writes an absent
/// optional one as [null, null]).
bool componentPresent(const llvm::json::Object &index,
                      llvm::StringRef component);

/// The JSON object in the file at `path`.
llvm::Expected<llvm::json::Object> readJSONObject(const llvm::Twine &path);

/// An image size in pixels and its latent grid.
struct ImageSize {
  int64_t height, width;             // pixels
  int64_t latentHeight, latentWidth; // the VAE's latent grid
};

/// The image size `options` asks for, or `defaultLatent` latents square,
/// checked to be a multiple of `vaeScale` x `denoiserScale` pixels (the
/// denoiser's own downsampling or patching) up to 65536; the error names
/// the pipeline and the multiple.
llvm::Expected<ImageSize> imageSize(llvm::StringRef pipeline,
                                    const BuildOptions &options,
                                    int64_t vaeScale, int64_t denoiserScale,
                                    llvm::StringRef denoiserWhat,
                                    int64_t defaultLatent);

/// Appends the CLIP text function `name` (buildCLIPText) with `base`'s
/// outputs and, under diffusers' clip_skip `clipSkip`
/// (BuildOptions::clipSkip; 0: none), the hidden state the prompts read:
/// StableDiffusionPipeline's final_layer_norm(hidden_states[-(clip_skip +
/// 1)]) when `normed`, else SDXL's and SD3's hidden_states[-(clip_skip +
/// 2)]. Fails, naming the limit, where diffusers' indexing would.
llvm::Error buildPipelineCLIP(mlir::ModuleOp module, const CLIPTextConfig &clip,
                              int64_t batch, llvm::StringRef name,
                              CLIPOutputs base, int64_t clipSkip, bool normed,
                              llvm::StringRef cls);

/// Refuses a joint attention over `tokens` image and text tokens with
/// `heads` heads whose scores would exceed the size limit (SizeEstimate.h)
/// for a `height` x `width` image.
llvm::Error checkJointAttention(llvm::StringRef pipeline, int64_t heads,
                                int64_t tokens, int64_t height, int64_t width);

/// Spells the fresco.pipeline attribute's dictionaries.
struct PipelineAttrs {
  mlir::Builder b;
  explicit PipelineAttrs(mlir::MLIRContext *ctx) : b(ctx) {}

  mlir::ArrayAttr strings(std::initializer_list<llvm::StringRef> items);
  mlir::ArrayAttr strings(llvm::ArrayRef<llvm::StringRef> items);
  mlir::NamedAttribute str(llvm::StringRef key, llvm::StringRef value);
  mlir::NamedAttribute i64(llvm::StringRef key, int64_t value);
  mlir::NamedAttribute f64(llvm::StringRef key, double value);
  mlir::NamedAttribute attr(llvm::StringRef key, mlir::Attribute value);
  mlir::DictionaryAttr dict(llvm::ArrayRef<mlir::NamedAttribute> entries);

  /// One output's window in the denoiser input: {token, feature} offsets.
  struct Window {
    int64_t token = 0, feature = 0;
  };
  /// A text encoder component: `function` reads prompt `slot` through the
  /// tokenizer in `tokenizer` of `kind` and returns `outputs` (roles),
  /// landing at `windows` (none: offset 0 each).
  /// With `clipSkipped` the function returns one more output, last: the
  /// hidden state diffusers' clip_skip reads for the prompts, in output
  /// 0's role and window; output 0 then fills the negative prompts' rows
  /// alone, and the skipped state the prompts' (output_prompts).
  mlir::DictionaryAttr
  textEncoder(llvm::StringRef function, llvm::ArrayRef<llvm::StringRef> outputs,
              llvm::StringRef kind, llvm::StringRef tokenizer, int64_t slot,
              llvm::ArrayRef<Window> windows = {}, bool clipSkipped = false);
  /// The denoiser or decoder component.
  mlir::DictionaryAttr component(llvm::StringRef role, llvm::StringRef function,
                                 llvm::ArrayRef<llvm::StringRef> inputs,
                                 llvm::ArrayRef<llvm::StringRef> outputs);
  mlir::DictionaryAttr component(llvm::StringRef role, llvm::StringRef function,
                                 llvm::ArrayRef<llvm::StringRef> inputs,
                                 llvm::StringRef output) {
    return component(role, function, inputs,
                     llvm::ArrayRef<llvm::StringRef>(output));
  }
  /// Image-to-image's VAE encoder: builds `vae_encoder` (weights from the
  /// `vae` folder) for `n` images of `height` x `width` pixels in `module`
  /// and returns its component.
  mlir::DictionaryAttr vaeEncoder(mlir::ModuleOp module, const VAEConfig &vae,
                                  int64_t n, int64_t height, int64_t width);
};

/// The pipeline classes (one file each).
llvm::Error buildDiTPipeline(mlir::ModuleOp module, const PipelineFolder &dir,
                             const llvm::json::Object &index,
                             const BuildOptions &options);
llvm::Error buildFluxPipeline(mlir::ModuleOp module, const PipelineFolder &dir,
                              const llvm::json::Object &index,
                              const BuildOptions &options);
llvm::Error buildStableDiffusionPipeline(mlir::ModuleOp module,
                                         const PipelineFolder &dir,
                                         const llvm::json::Object &index,
                                         const BuildOptions &options);
llvm::Error buildStableDiffusionXLPipeline(mlir::ModuleOp module,
                                           const PipelineFolder &dir,
                                           const llvm::json::Object &index,
                                           const BuildOptions &options);
llvm::Error buildStableDiffusionXLImg2ImgPipeline(
    mlir::ModuleOp module, const PipelineFolder &dir,
    const llvm::json::Object &index, const BuildOptions &options);
llvm::Error buildStableDiffusionXLInpaintPipeline(
    mlir::ModuleOp module, const PipelineFolder &dir,
    const llvm::json::Object &index, const BuildOptions &options);
/// How many ControlNets a pipeline folder holds: 1 (controlnet/), or with
/// a `multiClass` model_index.json entry (diffusers' MultiControlNetModel)
/// the folders controlnet, controlnet_1, ... up to the first missing, at
/// most 16.
llvm::Expected<size_t> controlNetCount(const PipelineFolder &dir,
                                       const llvm::json::Object &index,
                                       llvm::StringRef multiClass);

llvm::Error buildStableDiffusionXLControlNetPipeline(
    mlir::ModuleOp module, const PipelineFolder &dir,
    const llvm::json::Object &index, const BuildOptions &options);
llvm::Error buildStableDiffusion3Pipeline(mlir::ModuleOp module,
                                          const PipelineFolder &dir,
                                          const llvm::json::Object &index,
                                          const BuildOptions &options);

} // namespace fresco::models

#endif // FRESCO_MODELS_PIPELINES_PIPELINEFOLDER_H
