//===- Parts.h - The per-family parts of the sampling loop ------*- C++ -*-===//
//
// generate() (Generate.cpp) is one loop for every pipeline family; what
// differs between families lives behind three small interfaces, chosen by
// the Pipeline table:
//
//   Conditioning  what each image is conditioned on and how the denoiser's
//                 conditioning inputs are filled (class labels; prompts,
//                 whose text encoders run in prepare())
//   LatentLayout  the shape of one image's latents, its noise, where the
//                 prediction sits in the denoiser's output and what the
//                 decoder takes ([C, H, W] images; 2x2-packed tokens)
//   Guidance      how many times the denoiser sees each image and how the
//                 predictions combine (class CFG; none; a guidance scale
//                 input of the denoiser)
//
// A family added later implements these and leaves the loop alone.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_PIPELINE_PARTS_H
#define FRESCO_RUNTIME_PIPELINE_PARTS_H

#include "runtime/core/Tensor.h"
#include "runtime/pipeline/PipelineSpec.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace fresco {

class Executor;
struct GenerateOptions;
struct RankRoles;

/// The rows of the denoiser's batch: `copies` blocks (block 0 conditional,
/// block 1 unconditional under CFG) of `capacity` rows, the batch the plan
/// was compiled for. Row i of a block is image i for i < images; the rows
/// after pad the batch and repeat image 0 (real inputs keep them finite;
/// their results are dropped). The decoder's batch is one block.
struct BatchLayout {
  int64_t images = 1;   // this run's
  int64_t capacity = 1; // the plan's num_images
  int copies = 1;

  int64_t rows() const { return capacity * copies; }
  int block(int64_t row) const { return int(row / capacity); }
  /// The image whose data fills `row`.
  int64_t image(int64_t row) const {
    int64_t i = row % capacity;
    return i < images ? i : 0;
  }
  int64_t row(int block, int64_t image) const {
    return block * capacity + image;
  }
};

class Conditioning {
public:
  virtual ~Conditioning() = default;
  /// The images this run makes: one per label or prompt.
  virtual int64_t numImages() const = 0;
  /// Runs once before the loop on every rank (the text encoders, on the
  /// ranks that hold them, and their results sent to the denoiser ranks
  /// that do not).
  virtual void prepare(Executor &exec, const RankRoles &roles) {
    (void)exec, (void)roles;
  }
  /// Fills `in`, the denoiser input of `role`, for `batch`; `guided` says
  /// whether block 1 is the unconditional half. False when `role` is not
  /// this part's.
  virtual bool fill(plan::TensorRole role, const BatchLayout &batch,
                    bool guided, HostTensor &in) const = 0;
  /// "class 207", "prompt 'a cat'", for messages.
  virtual std::string describe(int64_t image) const = 0;
};

class LatentLayout {
public:
  virtual ~LatentLayout() = default;
  /// Latents of `images` images, as --latents takes and --output-latents
  /// writes them.
  virtual std::vector<int64_t> shape(int64_t images) const = 0;
  /// Values in one image's latents, denoiser output row and decoder input.
  virtual int64_t imageSize() const = 0;
  virtual int64_t predictionRowSize() const = 0;
  virtual int64_t decoderImageSize() const = 0;
  /// One image's initial noise from the seeded generator.
  virtual void noise(uint64_t seed, int64_t image, float *out) const = 0;
  /// One image's prediction (imageSize() values) out of its output row.
  virtual void prediction(const float *row, float *out) const = 0;
  /// One image's latents in the decoder's layout.
  virtual void toDecoder(const float *latents, float *out) const = 0;
  /// One image's encoded latents ([C, H, W], as the VAE encoder returns
  /// them) in this layout: image-to-image's starting point.
  virtual void fromEncoder(const float *grid, float *out) const = 0;
  /// Fills a denoiser input derived from the layout (packed tokens' image
  /// position ids); false when `role` is not this part's.
  virtual bool fill(plan::TensorRole role, const BatchLayout &batch,
                    HostTensor &in) const {
    (void)role, (void)batch, (void)in;
    return false;
  }
};

class Guidance {
public:
  virtual ~Guidance() = default;
  /// Blocks of the denoiser batch: 2 under classifier-free guidance.
  virtual int copies() const = 0;
  /// Whether block 1 is the unconditional half this run (CFG with a scale
  /// above 1, as diffusers); otherwise its results are unused.
  virtual bool guided() const = 0;
  /// One image's prediction from its blocks' (`blocks[b]`, n values each).
  virtual void combine(const std::vector<const float *> &blocks, float *out,
                       int64_t n) const = 0;
  /// Fills a guidance input of the denoiser (the guidance scale).
  virtual bool fill(plan::TensorRole role, const BatchLayout &batch,
                    HostTensor &in) const {
    (void)role, (void)batch, (void)in;
    return false;
  }
};

/// The parts `spec` asks for; an option the plan cannot honour (a label out
/// of range, more images than the plan's batch) throws fresco::Error, as
/// does a part that is not implemented yet.
std::unique_ptr<Conditioning> makeConditioning(const PipelineSpec &spec,
                                               const GenerateOptions &options);
std::unique_ptr<LatentLayout> makeLatentLayout(const PipelineSpec &spec);
/// Throws fresco::Error for a guidance_rescale (0: none) outside [0, 1] or
/// given to a run whose diffusers class has no such parameter (it is
/// StableDiffusionPipeline's text-to-image and the SDXL classes').
void checkGuidanceRescale(const PipelineSpec &spec, double rescale, Task task);

/// `rescale`: guidance_rescale (0: none), for classifier-free guidance.
std::unique_ptr<Guidance> makeGuidance(const PipelineSpec &spec, double scale,
                                       double rescale = 0.0);

// The implementations, one file each.
std::unique_ptr<Conditioning>
makeClassLabelConditioning(const PipelineSpec &spec,
                           const GenerateOptions &options);
std::unique_ptr<Conditioning>
makeTextConditioning(const PipelineSpec &spec, const GenerateOptions &options);
std::unique_ptr<LatentLayout> makeImageLatents(const PipelineSpec &spec);
std::unique_ptr<LatentLayout> makePackedTokenLatents(const PipelineSpec &spec);

/// `prompt` cut to about 40 bytes for messages ("..." appended), never
/// inside a UTF-8 character.
std::string shortPrompt(const std::string &prompt);

/// Checks that `n` images fit the plan's batch.
void checkImageCount(const PipelineSpec &spec, int64_t n, const char *what);

/// Fails naming `what` when the f32 tensor `t` holds a non-finite value: a
/// component's NaN or infinity would otherwise end in a black image.
void requireFinite(const HostTensor &t, const std::string &what);

/// The same for a user's f32 input (`flag`, e.g. --latents): its NaN was
/// blamed on the denoiser's output and the checkpoint.
void requireFiniteInput(const HostTensor &t, const std::string &flag);

} // namespace fresco

#endif // FRESCO_RUNTIME_PIPELINE_PARTS_H
