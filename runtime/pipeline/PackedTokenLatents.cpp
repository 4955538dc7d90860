//===- PackedTokenLatents.cpp - Latents as 2x2-packed tokens (Flux) -------===//
#include "runtime/core/Error.h"
#include "runtime/pipeline/Noise.h"
#include "runtime/pipeline/Parts.h"

#include <cstring>
#include <vector>

namespace fresco {
namespace {

/// FluxPipeline's layout: an image's [C, H, W] latents as (H/p)(W/p) tokens
/// of C p p channels (_pack_latents: token (i, j), channel c p p + a p + b
/// holds pixel (c, p i + a, p j + b)). The noise is drawn as [C, H, W] and
/// packed, as prepare_latents does, and so is an encoded init image; the
/// decoder takes the latents unpacked.
class PackedTokenLatents final : public LatentLayout {
public:
  explicit PackedTokenLatents(const PipelineSpec &s)
      : c_(s.channels), h_(s.height), w_(s.width), p_(s.patchSize),
        out_(s.predictionChannels) {}

  int64_t tokens() const { return (h_ / p_) * (w_ / p_); }
  int64_t perToken() const { return c_ * p_ * p_; }

  std::vector<int64_t> shape(int64_t images) const override {
    return {images, tokens(), perToken()};
  }
  int64_t imageSize() const override { return c_ * h_ * w_; }
  int64_t predictionRowSize() const override { return tokens() * out_; }
  int64_t decoderImageSize() const override { return imageSize(); }

  void noise(uint64_t seed, int64_t image, float *out) const override {
    std::vector<float> grid(imageSize());
    gaussianNoise(seed, image, grid.data(), imageSize());
    pack(grid.data(), out);
  }
  void prediction(const float *row, float *out) const override {
    const int64_t k = perToken();
    for (int64_t t = 0; t < tokens(); ++t)
      std::memcpy(out + t * k, row + t * out_, k * sizeof(float));
  }
  void toDecoder(const float *latents, float *out) const override {
    unpack(latents, out);
  }
  void fromEncoder(const float *grid, float *out) const override {
    pack(grid, out);
  }
  bool fill(plan::TensorRole role, const BatchLayout &batch,
            HostTensor &in) const override {
    (void)batch;
    if (role != plan::TensorRole::ImageIds)
      return false;
    // (0, row, column) of each token, as _prepare_latent_image_ids.
    check(in.numel() == tokens() * 3, "the denoiser's image ids input is ",
          shapeToString(in.shape), ", expected [", tokens(), ", 3]");
    float *ids = in.as<float>();
    const int64_t cols = w_ / p_;
    for (int64_t t = 0; t < tokens(); ++t) {
      ids[3 * t] = 0;
      ids[3 * t + 1] = float(t / cols);
      ids[3 * t + 2] = float(t % cols);
    }
    return true;
  }

private:
  /// Visits every (token offset, pixel offset) pair.
  template <typename F> void forEach(F f) const {
    const int64_t rows = h_ / p_, cols = w_ / p_, k = perToken();
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j)
        for (int64_t c = 0; c < c_; ++c)
          for (int64_t a = 0; a < p_; ++a)
            for (int64_t b = 0; b < p_; ++b)
              f((i * cols + j) * k + (c * p_ + a) * p_ + b,
                (c * h_ + p_ * i + a) * w_ + p_ * j + b);
  }
  void pack(const float *grid, float *tokens) const {
    forEach([&](int64_t t, int64_t g) { tokens[t] = grid[g]; });
  }
  void unpack(const float *tokens, float *grid) const {
    forEach([&](int64_t t, int64_t g) { grid[g] = tokens[t]; });
  }

  int64_t c_, h_, w_, p_, out_;
};

} // namespace

std::unique_ptr<LatentLayout> makePackedTokenLatents(const PipelineSpec &spec) {
  return std::make_unique<PackedTokenLatents>(spec);
}

} // namespace fresco
