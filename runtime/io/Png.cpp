//===- Png.cpp - PNG writer/reader (libspng) ------------------------------===//
//
// Both directions work on memory buffers: the encoder writes to a buffer
// that writeFileAtomically then stores, and the decoder reads the whole file
// first, so every libspng error maps to one message naming the file.
//
//===----------------------------------------------------------------------===//
#include "runtime/io/Png.h"

#include "runtime/core/Error.h"
#include "runtime/io/Safetensors.h"

#include <spng.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace fresco {

namespace {

/// PNG's own limit on either dimension.
constexpr int64_t kMaxDimension = 0x7fffffff;
/// Deflate's largest expansion, and the decoded RGBA8 bytes of one 1-bit
/// source pixel: the most output a PNG of a given size can hold.
constexpr uint64_t kMaxInflation = 1032, kMaxPixelGrowth = 32;

constexpr uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

struct SpngCtxDeleter {
  void operator()(spng_ctx *ctx) const { spng_ctx_free(ctx); }
};
using SpngCtx = std::unique_ptr<spng_ctx, SpngCtxDeleter>;

struct FreeDeleter {
  void operator()(void *p) const { std::free(p); }
};

/// A libspng error code as a short phrase for the user.
std::string describeSpngError(int err) {
  switch (err) {
  case SPNG_ESIGNATURE:
    return "not a PNG file (bad signature)";
  case SPNG_EOF:
  case SPNG_IO_EOF:
  case SPNG_EIDAT_TOO_SHORT:
    return "truncated PNG file (data ends early)";
  case SPNG_ECHUNK_CRC:
  case SPNG_EIDAT_STREAM:
    return std::string("corrupt PNG file (") + spng_strerror(err) + ")";
  default:
    return std::string("invalid PNG file (") + spng_strerror(err) + ")";
  }
}

std::vector<uint8_t> readWholeFile(const std::string &path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE *)> f(
      std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f)
    fail("cannot read PNG file '", path, "': ", std::strerror(errno));
  std::vector<uint8_t> bytes;
  uint8_t buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f.get())) > 0)
    bytes.insert(bytes.end(), buf, buf + n);
  if (std::ferror(f.get()))
    fail("cannot read PNG file '", path, "': read error");
  return bytes;
}

} // namespace

void writePng(const std::string &path, const uint8_t *rgb, int64_t width,
              int64_t height, int channels) {
  check(channels == 3 || channels == 4, "cannot write PNG file '", path,
        "': ", channels, " channels per pixel; expected 3 (RGB) or 4 (RGBA)");
  check(width > 0 && height > 0 && width <= kMaxDimension &&
            height <= kMaxDimension,
        "cannot write PNG file '", path, "': invalid size ", width, "x", height,
        " (each side must be 1 to ", kMaxDimension, " pixels)");
  const uint64_t rowBytes = uint64_t(width) * uint64_t(channels);
  check(uint64_t(height) <= SIZE_MAX / rowBytes, "cannot write PNG file '",
        path, "': ", width, "x", height, " image is too large");
  const size_t imageBytes = size_t(rowBytes * uint64_t(height));
  check(rgb != nullptr, "cannot write PNG file '", path, "': no pixel data");

  SpngCtx ctx(spng_ctx_new(SPNG_CTX_ENCODER));
  check(ctx != nullptr, "cannot write PNG file '", path,
        "': out of memory creating the encoder");
  auto spngCheck = [&](int err, const char *step) {
    if (err)
      fail("cannot write PNG file '", path, "': ", step, ": ",
           spng_strerror(err));
  };
  spngCheck(spng_set_option(ctx.get(), SPNG_ENCODE_TO_BUFFER, 1),
            "encoder setup");
  spng_ihdr ihdr = {};
  ihdr.width = uint32_t(width);
  ihdr.height = uint32_t(height);
  ihdr.bit_depth = 8;
  ihdr.color_type = channels == 4 ? SPNG_COLOR_TYPE_TRUECOLOR_ALPHA
                                  : SPNG_COLOR_TYPE_TRUECOLOR;
  spngCheck(spng_set_ihdr(ctx.get(), &ihdr), "header");
  spngCheck(spng_encode_image(ctx.get(), rgb, imageBytes, SPNG_FMT_PNG,
                              SPNG_ENCODE_FINALIZE),
            "encoding failed");
  size_t pngSize = 0;
  int err = 0;
  std::unique_ptr<void, FreeDeleter> png(
      spng_get_png_buffer(ctx.get(), &pngSize, &err));
  spngCheck(err, "encoding failed");
  check(png != nullptr, "cannot write PNG file '", path,
        "': encoder produced no data");
  writeFileAtomically(path, {ByteSpan{png.get(), pngSize}}, "PNG file");
}

PngImage readPng(const std::string &path) {
  const std::vector<uint8_t> bytes = readWholeFile(path);
  return decodePng(bytes.data(), bytes.size(), path);
}

PngImage decodePng(const uint8_t *data, size_t byteCount,
                   const std::string &path, uint64_t maxDecodedBytes) {
  // Checked here so that an empty or tiny file gets the same clear message
  // as any other non-PNG, rather than libspng's end-of-stream error.
  if (byteCount < sizeof(kSignature) ||
      std::memcmp(data, kSignature, sizeof(kSignature)) != 0)
    fail("cannot read PNG file '", path, "': not a PNG file (",
         byteCount == 0 ? "empty file" : "bad signature", ")");

  SpngCtx ctx(spng_ctx_new(0));
  check(ctx != nullptr, "cannot read PNG file '", path,
        "': out of memory creating the decoder");
  auto spngCheck = [&](int err) {
    if (err)
      fail("cannot read PNG file '", path, "': ", describeSpngError(err));
  };
  spngCheck(spng_set_png_buffer(ctx.get(), data, byteCount));
  spng_ihdr ihdr = {};
  spngCheck(spng_get_ihdr(ctx.get(), &ihdr));

  // Alpha comes from the colour type or from a tRNS chunk (palette or
  // colour-key transparency).
  // Asking for tRNS reads the chunks before IDAT, so a file cut short there
  // fails here: only "no such chunk" means no transparency.
  spng_trns trns = {};
  const int trnsErr = spng_get_trns(ctx.get(), &trns);
  if (trnsErr != SPNG_ECHUNKAVAIL)
    spngCheck(trnsErr);
  const bool hasAlpha = ihdr.color_type == SPNG_COLOR_TYPE_TRUECOLOR_ALPHA ||
                        ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA ||
                        trnsErr == 0;
  const int fmt = hasAlpha ? SPNG_FMT_RGBA8 : SPNG_FMT_RGB8;

  PngImage img;
  img.width = ihdr.width;
  img.height = ihdr.height;
  img.channels = hasAlpha ? 4 : 3;
  img.bitDepth = ihdr.bit_depth;
  size_t size = 0;
  spngCheck(spng_decoded_image_size(ctx.get(), fmt, &size));
  check(uint64_t(size) <= maxDecodedBytes, "cannot read PNG file '", path,
        "': ", img.width, "x", img.height, " image is too large to decode");
  check(uint64_t(size) / kMaxPixelGrowth / kMaxInflation <= byteCount,
        "cannot read PNG file '", path, "': a ", byteCount,
        "-byte file cannot hold a ", img.width, "x", img.height,
        " image (truncated or corrupt)");
  img.pixels.resize(size);
  spngCheck(spng_decode_image(ctx.get(), img.pixels.data(), size, fmt,
                              hasAlpha ? SPNG_DECODE_TRNS : 0));
  return img;
}

void latentsImageToRgb(const float *chw, int64_t channels, int64_t height,
                       int64_t width, uint8_t *rgbOut) {
  check(channels > 0 && height > 0 && width > 0,
        "latentsImageToRgb: invalid image shape [", channels, ", ", height,
        ", ", width, "]");
  const int64_t plane = height * width;
  for (int64_t c = 0; c < channels; ++c) {
    const float *src = chw + c * plane;
    for (int64_t i = 0; i < plane; ++i) {
      // Float32 throughout, in diffusers' order: x / 2 + 0.5 (torch), clamp,
      // then * 255 (numpy float32), so every rounding step matches.
      float x = src[i] / 2.0f + 0.5f;
      if (std::isnan(x)) {
        rgbOut[i * channels + c] = 0;
        continue;
      }
      x = x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x);
      const float scaled = x * 255.0f;
      // numpy's round() is half-to-even. Spelled out rather than relying on
      // std::nearbyint and the current rounding mode; floor and the
      // difference are exact for values in [0, 255].
      const float lo = std::floor(scaled);
      const float frac = scaled - lo;
      int v = int(lo);
      if (frac > 0.5f || (frac == 0.5f && (v & 1)))
        ++v;
      rgbOut[i * channels + c] = uint8_t(v);
    }
  }
}

void rgbToImageFloats(const uint8_t *hwc, int64_t channels, int64_t height,
                      int64_t width, float *chwOut) {
  const int64_t plane = height * width;
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t i = 0; i < plane; ++i) {
      const float x = float(hwc[i * channels + c]) / 255.0f;
      chwOut[c * plane + i] = 2.0f * x - 1.0f;
    }
}

} // namespace fresco
