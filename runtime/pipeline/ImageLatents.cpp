//===- ImageLatents.cpp - Latents as [B, C, H, W] images ------------------===//
#include "runtime/pipeline/Noise.h"
#include "runtime/pipeline/Parts.h"

#include <cstring>

namespace fresco {
namespace {

/// DiT's (and the UNets') layout: one image is [C, H, W]; the denoiser
/// returns [P, H, W] per image with the prediction in the first C channels
/// (DiT's learned sigma: P = 2C, the variance channels dropped); the
/// decoder takes the latents as they are.
class ImageLatents final : public LatentLayout {
public:
  explicit ImageLatents(const PipelineSpec &s)
      : c_(s.channels), h_(s.height), w_(s.width), p_(s.predictionChannels) {}

  std::vector<int64_t> shape(int64_t images) const override {
    return {images, c_, h_, w_};
  }
  int64_t imageSize() const override { return c_ * h_ * w_; }
  int64_t predictionRowSize() const override { return p_ * h_ * w_; }
  int64_t decoderImageSize() const override { return imageSize(); }

  void noise(uint64_t seed, int64_t image, float *out) const override {
    gaussianNoise(seed, image, out, imageSize());
  }
  void prediction(const float *row, float *out) const override {
    std::memcpy(out, row, imageSize() * sizeof(float));
  }
  void toDecoder(const float *latents, float *out) const override {
    std::memcpy(out, latents, imageSize() * sizeof(float));
  }
  void fromEncoder(const float *grid, float *out) const override {
    std::memcpy(out, grid, imageSize() * sizeof(float));
  }

private:
  int64_t c_, h_, w_, p_;
};

} // namespace

std::unique_ptr<LatentLayout> makeImageLatents(const PipelineSpec &spec) {
  return std::make_unique<ImageLatents>(spec);
}

} // namespace fresco
