//===- Png.h - PNG writer/reader and decoded-image conversion ---*- C++ -*-===//
//
// Generated images leave the runtime as 8-bit PNG files (libspng). writePng
// encodes in memory and writes through a temporary file and a rename, so a
// crash or a full disk never leaves a half-written image under the final
// name. readPng decodes any PNG to 8-bit RGB or RGBA: fresco-run --image reads
// init images with it, the tests check what was written.
//
// latentsImageToRgb turns one VAE-decoded image (float CHW in [-1, 1]) into
// 8-bit HWC pixels with exactly the arithmetic diffusers uses, so fresco's
// PNGs are byte-identical to diffusers' for the same decoded tensor.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_IO_PNG_H
#define FRESCO_RUNTIME_IO_PNG_H

#include <cstdint>
#include <string>
#include <vector>

namespace fresco {

/// Writes an 8-bit PNG of `width` x `height` pixels from row-major HWC bytes
/// with `channels` = 3 (RGB) or 4 (RGBA). Atomic (temporary file + rename).
/// Throws fresco::Error naming the path for bad dimensions or an unwritable
/// destination.
void writePng(const std::string &path, const uint8_t *rgb, int64_t width,
              int64_t height, int channels = 3);

/// A decoded image: row-major HWC, 8 bits per channel.
struct PngImage {
  int64_t width = 0;
  int64_t height = 0;
  int channels = 0; ///< 3 (RGB) or 4 (RGBA).
  int bitDepth = 8; ///< the file's bits per sample (1..16), before decoding
  std::vector<uint8_t> pixels;
};

/// Reads any PNG (gray, palette, RGB, with or without alpha, 1-16 bits,
/// interlaced or not) as 8-bit RGB, or RGBA when the file has an alpha
/// channel or transparency (tRNS). Throws fresco::Error naming the file for a
/// missing file, a non-PNG, a truncated or corrupt PNG.
PngImage readPng(const std::string &path);

/// readPng's decoder on the file's bytes (`name` for messages). An image
/// whose decoded size exceeds `maxDecodedBytes`, or that `size` compressed
/// bytes cannot hold (deflate expands at most 1032 times, the 8-bit RGBA
/// output a 1-bit pixel 32 times), is refused before any allocation.
PngImage decodePng(const uint8_t *data, size_t size, const std::string &name,
                   uint64_t maxDecodedBytes = uint64_t(1) << 32);

/// Converts one decoded image, float CHW with values in [-1, 1], to HWC
/// uint8 (`rgbOut` holds channels * height * width bytes) exactly as
/// diffusers' VaeImageProcessor.postprocess(output_type="pil") does:
///
///   x = (x / 2 + 0.5).clamp(0, 1)                  (float32, torch)
///   x = (x * 255).round().astype("uint8")          (float32, numpy)
///
/// numpy's round() is round-half-to-even, so 0.5 -> 0, 1.5 -> 2, 2.5 -> 2.
/// NaN (which clamp passes through and numpy casts to an unspecified byte)
/// becomes 0.
void latentsImageToRgb(const float *chw, int64_t channels, int64_t height,
                       int64_t width, uint8_t *rgbOut);

/// The other direction, for an init image (image-to-image): 8-bit HWC to
/// float CHW in [-1, 1] as diffusers' VaeImageProcessor.preprocess does
/// (float32 throughout):
///
///   x = np.array(image).astype(np.float32) / 255.0
///   x = 2.0 * x - 1.0
void rgbToImageFloats(const uint8_t *hwc, int64_t channels, int64_t height,
                      int64_t width, float *chwOut);

} // namespace fresco

#endif // FRESCO_RUNTIME_IO_PNG_H
