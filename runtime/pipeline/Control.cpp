//===- Control.cpp - A ControlNet's inputs to the denoiser ----------------===//
#include "runtime/pipeline/Control.h"
#include "runtime/core/Error.h"

#include <cmath>
#include <cstring>

namespace fresco {

double defaultControlScale(Task task) {
  return task == Task::ImageToImage ? 0.8 : 1.0;
}

void checkControl(const PipelineSpec &spec, const ControlOptions &o,
                  Task task) {
  const bool planned = !spec.controlImage.empty();
  if (!planned) {
    check(o.image == nullptr, "--control-image: this ", spec.kind,
          " plan has no ControlNet (compile a "
          "StableDiffusionControlNetPipeline or "
          "StableDiffusionXLControlNetPipeline folder)");
    return;
  }
  check(o.image != nullptr, "this plan runs a ControlNet: give its control "
                            "image with --control-image");
  check(
      task != Task::Inpainting,
      "inpainting with a ControlNet (StableDiffusionControlNetInpaintPipeline, "
      "StableDiffusionXLControlNetInpaintPipeline) is not implemented: a "
      "ControlNet plan generates from the prompts and the control image, "
      "or from an init image with --image (image-to-image)");
  const std::vector<int64_t> &c = spec.controlImage;
  check(o.image->shape.size() == 4 && o.image->shape[0] == 1 &&
            o.image->shape[1] == c[0],
        "the control image must have ", c[0], " channels");
  check(o.image->shape[2] == c[1] && o.image->shape[3] == c[2],
        "the control image is ", o.image->shape[3], "x", o.image->shape[2],
        " pixels, the plan's images ", c[2], "x", c[1],
        " (width x height): give one of that size (Fresco does not resize "
        "it)");
  check(std::isnan(o.scale) || std::isfinite(o.scale),
        "--controlnet-scale must be a finite number");
  check(o.start >= 0.0 && o.end <= 1.0 && o.start < o.end,
        "--control-guidance-start (", o.start, ") and --control-guidance-end (",
        o.end, ") must satisfy 0 <= start < end <= 1");
}

HostTensor controlImage(const uint8_t *hwc, int channels, int64_t height,
                        int64_t width) {
  check(channels == 3, "the control image must be RGB");
  HostTensor t;
  t.dtype = DType::F32;
  t.shape = {1, 3, height, width};
  t.data.resize(t.numel() * sizeof(float));
  float *out = t.as<float>();
  const int64_t plane = height * width;
  for (int64_t p = 0; p < plane; ++p)
    for (int k = 0; k < 3; ++k)
      out[k * plane + p] = float(hwc[p * 3 + k]) / 255.0f;
  return t;
}

void fillControlImage(const ControlOptions &o, HostTensor &in) {
  const int64_t row = o.image->numel();
  check(in.shape.size() == 4 && in.numel() % row == 0 &&
            in.numel() / row == in.shape[0],
        "the denoiser's control image input is ", shapeToString(in.shape),
        ", expected rows of ", shapeToString(o.image->shape));
  for (int64_t r = 0; r < in.shape[0]; ++r)
    std::memcpy(in.as<float>() + r * row, o.image->as<float>(),
                row * sizeof(float));
}

float controlScale(const ControlOptions &o, int step, int64_t length) {
  // 1 - float(i / len < start or (i + 1) / len > end), in Python's doubles.
  const double n = double(length);
  const bool off = double(step) / n < o.start || double(step + 1) / n > o.end;
  return float(o.scale * (off ? 0.0 : 1.0));
}

} // namespace fresco
