//===- Inpaint.cpp - Repaint the masked part of an init image -------------===//
#include "runtime/pipeline/Inpaint.h"
#include "runtime/core/Error.h"
#include "runtime/pipeline/ImageToImage.h"

#include <algorithm>
#include <cmath>

namespace fresco {

void checkInpainting(const PipelineSpec &spec) {
  check(spec.kind == "StableDiffusionPipeline" || spec.isSDXL() ||
            spec.kind == "StableDiffusion3Pipeline" ||
            spec.kind == "FluxPipeline",
        "--mask (inpainting) is implemented for StableDiffusionPipeline, "
        "StableDiffusionXLPipeline, StableDiffusionXLImg2ImgPipeline, "
        "StableDiffusion3Pipeline and FluxPipeline plans only; this plan is "
        "a ",
        spec.kind);
  // StableDiffusionXLInpaintPipeline decodes with latents_mean /
  // latents_std but encodes without them; not replayed.
  check(spec.latentsMean.empty(),
        "--mask (inpainting) with a VAE's latents_mean / latents_std is not "
        "implemented (diffusers' StableDiffusionXLInpaintPipeline encodes "
        "without them and decodes with them)");
  check(spec.find(plan::ComponentRole::Encoder) != nullptr,
        "--mask needs the VAE encoder (the init image's latents are kept "
        "where the mask is black), and this plan has none: compile the "
        "pipeline folder with fresco-compile --vae-encoder");
}

HostTensor binaryMask(const uint8_t *hwc, int channels, int64_t height,
                      int64_t width) {
  check(channels == 1 || channels == 3,
        "a mask has 1 (gray) or 3 (RGB) "
        "channels, got ",
        channels);
  HostTensor t;
  t.dtype = DType::F32;
  t.shape = {1, 1, height, width};
  t.data.resize(t.numel() * sizeof(float));
  float *out = t.as<float>();
  for (int64_t i = 0; i < height * width; ++i) {
    const uint8_t *px = hwc + i * channels;
    uint32_t gray = px[0];
    if (channels == 3)
      gray = (uint32_t(px[0]) * 19595u + uint32_t(px[1]) * 38470u +
              uint32_t(px[2]) * 7471u + 0x8000u) >>
             16;
    // float32(gray / 255) >= 0.5 exactly when gray >= 128.
    out[i] = gray >= 128 ? 1.0f : 0.0f;
  }
  return t;
}

void checkMask(const PipelineSpec &spec, const HostTensor &mask) {
  checkInpainting(spec);
  const std::vector<int64_t> &px =
      spec.find(plan::ComponentRole::Encoder)->pixelShape;
  const std::vector<int64_t> &s = mask.shape;
  check(mask.dtype == DType::F32 && s.size() == 4 && s[0] == 1 && s[1] == 1,
        "the mask must be f32 [1, 1, H, W], got ", dtypeName(mask.dtype),
        shapeToString(s));
  check(s[2] == px[2] && s[3] == px[3], "--mask is ", s[3], "x", s[2],
        " pixels (width x height) but the plan was compiled for ", px[3], "x",
        px[2],
        " (fresco-compile --width/--height); Fresco does not resize: "
        "give a mask of the image's size");
  const float *v = mask.as<float>();
  for (int64_t i = 0; i < mask.numel(); ++i)
    check(v[i] == 0.0f || v[i] == 1.0f, "the mask must hold 0s and 1s, got ",
          v[i], " at ", i);
}

std::vector<float> nearestMask(const HostTensor &mask, int64_t height,
                               int64_t width) {
  const int64_t inH = mask.shape.at(2), inW = mask.shape.at(3);
  // ATen's nearest_idx: the same size maps through, twice the size halves,
  // else floorf(i * (float)in / out), clamped to the last row.
  auto source = [](int64_t i, int64_t in, int64_t out) -> int64_t {
    if (in == out)
      return i;
    if (out == 2 * in)
      return i >> 1;
    const float scale = float(in) / float(out);
    return std::min(int64_t(std::floor(float(i) * scale)), in - 1);
  };
  std::vector<float> out(height * width);
  const float *v = mask.as<float>();
  for (int64_t y = 0; y < height; ++y)
    for (int64_t x = 0; x < width; ++x)
      out[y * width + x] =
          v[source(y, inH, height) * inW + source(x, inW, width)];
  return out;
}

void checkInpaintingUNet(const PipelineSpec &spec, bool hasMask) {
  check(hasMask || spec.maskChannels == 0,
        "this plan's UNet is an "
        "inpainting UNet (",
        spec.channels + spec.maskChannels,
        " input channels: the latents, a mask and the masked image's "
        "latents): it only inpaints; give --image and --mask");
}

HostTensor maskedImage(const HostTensor &image, const HostTensor &mask) {
  const int64_t plane = mask.numel();
  check(image.dtype == DType::F32 && image.shape.size() == 4 &&
            image.shape[0] == 1 && image.shape[2] == mask.shape.at(2) &&
            image.shape[3] == mask.shape.at(3),
        "the init image ", shapeToString(image.shape), " and the mask ",
        shapeToString(mask.shape), " differ in size");
  HostTensor out = image;
  float *v = out.as<float>();
  const float *k = mask.as<float>();
  for (int64_t i = 0; i < out.numel(); ++i)
    v[i] = k[i % plane] < 0.5f ? v[i] : 0.0f;
  return out;
}

int64_t maskedPixels(const HostTensor &mask) {
  const float *v = mask.as<float>();
  return std::count(v, v + mask.numel(), 1.0f);
}

} // namespace fresco
