//===- Control.cpp - ControlNets' inputs to the denoiser ------------------===//
#include "runtime/pipeline/Control.h"
#include "runtime/core/Error.h"
#include "runtime/pipeline/Inpaint.h"

#include <cmath>
#include <cstring>
#include <tuple>

namespace fresco {
namespace {

/// Net `k`'s value of a list of 1 or K.
double at(const std::vector<double> &v, size_t k) {
  return v.size() == 1 ? v[0] : v[k];
}

} // namespace

double defaultControlScale(const PipelineSpec &spec, Task task) {
  // FluxControlNetImg2ImgPipeline keeps 1.0;
  // StableDiffusionControlNetInpaintPipeline has 0.5.
  if (spec.controlLatents || task == Task::TextToImage)
    return 1.0;
  if (task == Task::Inpainting)
    return spec.kind == "StableDiffusionPipeline" ? 0.5 : 1.0;
  return 0.8;
}

void checkControl(const PipelineSpec &spec, const ControlOptions &o,
                  Task task) {
  const size_t nets = size_t(spec.controlNets());
  if (nets == 0) {
    check(!o.mask, "--control-mask: this ", spec.kind,
          " plan has no ControlNet");
    check(!o.guessMode, "--guess-mode: this ", spec.kind,
          " plan has no ControlNet");
    check(o.images.empty(), "--control-image: this ", spec.kind,
          " plan has no ControlNet (compile a "
          "StableDiffusionControlNetPipeline, "
          "StableDiffusionXLControlNetPipeline, FluxControlNetPipeline, "
          "StableDiffusion3ControlNetPipeline or "
          "StableDiffusion3ControlNetInpaintingPipeline folder)");
    return;
  }
  check(!o.images.empty(),
        nets == 1 ? "this plan runs a ControlNet: give its control image "
                    "with --control-image"
                  : "this plan runs " + std::to_string(nets) +
                        " ControlNets: give their control images with " +
                        std::to_string(nets) + " --control-image flags");
  check(o.images.size() == nets, "this plan runs ", nets,
        " ControlNet(s); got ", o.images.size(),
        " --control-image flag(s) (one per net, in folder order: controlnet, "
        "controlnet_1, ...)",
        spec.controlLatents
            ? "; a plan compiled with --control-images K takes one per image"
            : "");
  // StableDiffusion3ControlNetInpaintingPipeline has no init image: its
  // net repaints the control image where the control mask is white.
  const bool sd3Inpainting = spec.controlMaskChannels > 0;
  check(task != Task::Inpainting || !spec.controlLatents ||
            spec.kind == "FluxPipeline",
        sd3Inpainting
            ? "this StableDiffusion3ControlNetInpaintingPipeline plan takes "
              "no --image or --mask: give the image to repaint as "
              "--control-image and its mask as --control-mask"
            : "inpainting with an SD3 ControlNet: a "
              "StableDiffusion3ControlNetPipeline plan generates from the "
              "prompts and the control image; compile a "
              "StableDiffusion3ControlNetInpaintingPipeline folder and give "
              "--control-image and --control-mask");
  check(sd3Inpainting == (o.mask != nullptr),
        sd3Inpainting
            ? "this plan runs an inpainting SD3 ControlNet "
              "(StableDiffusion3ControlNetInpaintingPipeline): give the "
              "mask of the control image's part to repaint with "
              "--control-mask"
            : "--control-mask: this plan's ControlNet has no mask input "
              "(only a StableDiffusion3ControlNetInpaintingPipeline plan "
              "takes one)");
  check(!spec.controlLatents || task == Task::TextToImage ||
            spec.kind == "FluxPipeline",
        sd3Inpainting
            ? "this StableDiffusion3ControlNetInpaintingPipeline plan takes "
              "no --image: give the image to repaint as --control-image and "
              "its mask as --control-mask"
            : "image-to-image with an SD3 ControlNet is not implemented "
              "(diffusers 0.31 has no such class): a "
              "StableDiffusion3ControlNetPipeline plan generates from the "
              "prompts and the control image");
  // The control image's pixel size: the pixel input's, or (Flux, SD3) the
  // VAE encoder's, which encodes it.
  std::vector<int64_t> hw(spec.controlImage.end() - 2, spec.controlImage.end());
  if (spec.controlLatents) {
    const std::vector<int64_t> &px =
        spec.find(plan::ComponentRole::Encoder)->pixelShape;
    hw = {px[2], px[3]};
  }
  if (o.mask)
    check(o.mask->shape == std::vector<int64_t>{1, 1, hw[0], hw[1]},
          "the control mask is ",
          o.mask->shape.size() == 4 ? o.mask->shape[3] : 0, "x",
          o.mask->shape.size() == 4 ? o.mask->shape[2] : 0,
          " pixels, the plan's images ", hw[1], "x", hw[0],
          " (width x height): give one of that size (Fresco does not resize "
          "it)");
  for (size_t k = 0; k < nets; ++k) {
    const std::vector<int64_t> &s = o.images[k]->shape;
    check(s.size() == 4 && s[0] == 1 && s[1] == 3, "control image ", k + 1,
          " of ", nets, " must be RGB");
    check(s[2] == hw[0] && s[3] == hw[1], "control image ", k + 1, " of ", nets,
          " is ", s[3], "x", s[2], " pixels, the plan's images ", hw[1], "x",
          hw[0],
          " (width x height): give one of that size (Fresco does not resize "
          "it)");
  }
  check(!o.guessMode || spec.controlResiduals > 0,
        "--guess-mode applies to a Stable Diffusion or SDXL ControlNet plan "
        "(diffusers' guess_mode); the Flux and SD3 ControlNet classes have "
        "none");
  // The scales may be empty (the class's default).
  for (auto [v, flag, empty] :
       {std::tuple{&o.scales, "--controlnet-scale", true},
        std::tuple{&o.starts, "--control-guidance-start", false},
        std::tuple{&o.ends, "--control-guidance-end", false}})
    check(v->size() == 1 || v->size() == nets || (empty && v->empty()), flag,
          " gives ", v->size(), " values for ", nets,
          " ControlNet(s): give one for all or one each");
  for (double s : o.scales)
    check(std::isfinite(s), "--controlnet-scale must be a finite number");
  // diffusers' FluxControlNetModel: "`controlnet_mode` cannot be `None`
  // when applying ControlNet-Union".
  if (spec.controlModes)
    check(!o.modes.empty(),
          "this plan runs a ControlNet-Union: give each control image's "
          "mode with --control-mode (the net's model card numbers them, "
          "e.g. canny, tile, depth)");
  else
    check(o.modes.empty(), "--control-mode: this plan's ControlNets have no "
                           "modes (only a Flux ControlNet-Union, whose "
                           "config has num_mode, takes them)");
  check(o.modes.size() <= 1 || o.modes.size() == nets, "--control-mode gives ",
        o.modes.size(), " values for ", nets,
        " ControlNet(s): give one for all or one each");
  for (size_t k = 0; k < nets; ++k) {
    const double start = at(o.starts, k), end = at(o.ends, k);
    check(start >= 0.0 && end <= 1.0 && start < end,
          "--control-guidance-start (", start, ") and --control-guidance-end (",
          end, ") must satisfy 0 <= start < end <= 1");
  }
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

HostTensor maskedControlPixels(const HostTensor &pixels,
                               const HostTensor &mask) {
  const int64_t plane = mask.numel();
  check(pixels.numel() == 3 * plane, "the control mask's ",
        shapeToString(mask.shape), " does not fit the control image's ",
        shapeToString(pixels.shape));
  HostTensor t = pixels;
  float *v = t.as<float>();
  const float *m = mask.as<float>();
  for (int64_t p = 0; p < plane; ++p)
    if (m[p] > 0.5f)
      for (int64_t k = 0; k < 3; ++k)
        v[k * plane + p] = -1.0f;
  return t;
}

void controlMaskChannel(const HostTensor &mask, int64_t height, int64_t width,
                        float *dst) {
  const std::vector<float> grid = nearestMask(mask, height, width);
  for (size_t i = 0; i < grid.size(); ++i)
    dst[i] = 1.0f - grid[i];
}

HostTensor encoderPixels(const HostTensor &image) {
  HostTensor t = image;
  float *v = t.as<float>();
  for (int64_t i = 0; i < t.numel(); ++i)
    v[i] = 2.0f * v[i] - 1.0f;
  return t;
}

void interleaveControlLatents(const float *packed, size_t net, size_t nets,
                              int64_t tokens, int64_t perToken, float *row) {
  for (int64_t t = 0; t < tokens; ++t)
    std::memcpy(row + (t * int64_t(nets) + int64_t(net)) * perToken,
                packed + t * perToken, perToken * sizeof(float));
}

void fillRows(const std::vector<float> &row, HostTensor &in) {
  const int64_t n = int64_t(row.size());
  check(n > 0 && !in.shape.empty() && in.numel() == in.shape[0] * n,
        "the denoiser's control latents input is ", shapeToString(in.shape),
        ", expected rows of ", n, " values");
  for (int64_t r = 0; r < in.shape[0]; ++r)
    std::memcpy(in.as<float>() + r * n, row.data(), n * sizeof(float));
}

void fillControlModes(const ControlOptions &o, HostTensor &in) {
  check(in.shape.size() == 2 && in.dtype == DType::I64 && !o.modes.empty(),
        "the denoiser's control mode input is ", shapeToString(in.shape),
        ", expected i64 [rows, nets] and --control-mode");
  int64_t *dst = in.as<int64_t>();
  for (int64_t r = 0; r < in.shape[0]; ++r)
    for (int64_t k = 0; k < in.shape[1]; ++k)
      dst[r * in.shape[1] + k] =
          o.modes.size() == 1 ? o.modes[0] : o.modes[size_t(k)];
}

void fillControlImage(const ControlOptions &o, HostTensor &in) {
  int64_t row = 0;
  for (const HostTensor *image : o.images)
    row += image->numel();
  check(in.shape.size() == 4 && row > 0 && in.numel() == in.shape[0] * row,
        "the denoiser's control image input is ", shapeToString(in.shape),
        ", expected rows of ", o.images.size(), " images of 3 channels");
  float *dst = in.as<float>();
  for (int64_t r = 0; r < in.shape[0]; ++r)
    for (const HostTensor *image : o.images) {
      std::memcpy(dst, image->as<float>(), image->numel() * sizeof(float));
      dst += image->numel();
    }
}

void fillControlScales(const ControlOptions &o, const BatchLayout &batch,
                       bool guided, int step, int64_t length, HostTensor &in) {
  check(in.shape.size() == 2 || in.shape.size() == 3,
        "the denoiser's control scale input is ", shapeToString(in.shape),
        ", expected [rows, nets] or [rows, nets, residuals]");
  const int64_t nets = in.shape[1];
  const int64_t residuals = in.shape.size() == 3 ? in.shape[2] : 1;
  check(in.shape[0] == batch.rows(), "the denoiser's control scale input is ",
        shapeToString(in.shape), " for ", batch.rows(), " rows");
  std::vector<float> row(size_t(nets * residuals));
  for (int64_t k = 0; k < nets; ++k) {
    const float s = controlScale(o, size_t(k), step, length);
    for (int64_t i = 0; i < residuals; ++i) {
      // torch.logspace(-1, 0, R) (within an ulp of torch's own
      // arithmetic; logspace(-1, 0, 1) is 0.1), times the scale.
      const float f =
          !o.guessMode ? 1.0f
          : residuals == 1
              ? 0.1f
              : std::pow(10.0f, -1.0f + float(i) / float(residuals - 1));
      row[size_t(k * residuals + i)] = s * f;
    }
  }
  float *dst = in.as<float>();
  for (int64_t r = 0; r < batch.rows(); ++r) {
    const bool zero = o.guessMode && guided && batch.block(r) == 1;
    for (size_t j = 0; j < row.size(); ++j)
      dst[size_t(r) * row.size() + j] = zero ? 0.0f : row[j];
  }
}

float controlScale(const ControlOptions &o, size_t net, int step,
                   int64_t length) {
  // 1 - float(i / len < start or (i + 1) / len > end), in Python's doubles.
  const double n = double(length);
  const bool off = double(step) / n < at(o.starts, net) ||
                   double(step + 1) / n > at(o.ends, net);
  return float(at(o.scales, net) * (off ? 0.0 : 1.0));
}

} // namespace fresco
