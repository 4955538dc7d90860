//===- PngTest.cpp - PNG writer/reader and image conversion tests ---------===//
//
// Round trips (RGB, RGBA, odd sizes, overwrite), errors (bad dimensions,
// unwritable path, missing/garbage/empty/truncated/corrupt files) and
// latentsImageToRgb against a transcription of diffusers' arithmetic,
// including the round-half-to-even boundaries. Interop with Pillow and
// numpy (and torch when present) runs when a Python with PIL and numpy is
// found (FRESCO_PYTHON, <repo>/.venv/bin/python, /usr/bin/python3) and is
// skipped visibly otherwise.
//
//===----------------------------------------------------------------------===//
#include "runtime/io/Png.h"
#include "runtime/core/Error.h"
#include "test/unit/TestUtil.h"

#include <gtest/gtest.h>

#include <cfenv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>

namespace fs = std::filesystem;
using namespace fresco;
using namespace fresco::test;

namespace {

std::vector<uint8_t> randomPixels(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (uint8_t &b : v)
    b = uint8_t(rng());
  return v;
}

/// diffusers' postprocessing transcribed literally: float32 torch
/// `(x / 2 + 0.5).clamp(0, 1)`, then numpy `(x * 255).round()`, with
/// np.round's half-to-even done by nearbyint in the default rounding mode.
uint8_t reference(float x) {
  float y = x / 2 + 0.5f;
  y = std::min(std::max(y, 0.0f), 1.0f);
  float s = y * 255;
  return uint8_t(std::nearbyint(s));
}

uint8_t convertOne(float x) {
  uint8_t out = 0;
  latentsImageToRgb(&x, 1, 1, 1, &out);
  return out;
}

//===----------------------------------------------------------------------===//
// Round trips
//===----------------------------------------------------------------------===//

TEST(Png, RoundTripRgb) {
  TempDir dir;
  for (auto [w, h] : {std::pair<int64_t, int64_t>{1, 1}, {7, 5}, {64, 3}}) {
    std::vector<uint8_t> px = randomPixels(size_t(w * h * 3), unsigned(w));
    writePng(dir / "a.png", px.data(), w, h);
    PngImage img = readPng(dir / "a.png");
    EXPECT_EQ(img.width, w);
    EXPECT_EQ(img.height, h);
    EXPECT_EQ(img.channels, 3);
    EXPECT_EQ(img.pixels, px);
  }
}

TEST(Png, RoundTripRgba) {
  TempDir dir;
  std::vector<uint8_t> px = randomPixels(9 * 4 * 4, 1);
  writePng(dir / "a.png", px.data(), 9, 4, 4);
  PngImage img = readPng(dir / "a.png");
  EXPECT_EQ(img.width, 9);
  EXPECT_EQ(img.height, 4);
  EXPECT_EQ(img.channels, 4);
  EXPECT_EQ(img.pixels, px);
}

TEST(Png, OverwritesAtomicallyAndLeavesNoTemporaries) {
  TempDir dir;
  std::vector<uint8_t> a(4 * 4 * 3, 10), b(4 * 4 * 3, 200);
  writePng(dir / "x.png", a.data(), 4, 4);
  writePng(dir / "x.png", b.data(), 4, 4);
  EXPECT_EQ(readPng(dir / "x.png").pixels, b);
  int files = 0;
  for (const auto &e : fs::directory_iterator(dir.path())) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1);
}

//===----------------------------------------------------------------------===//
// Errors
//===----------------------------------------------------------------------===//

TEST(Png, WriteErrors) {
  TempDir dir;
  std::vector<uint8_t> px(16 * 3);
  const std::string p = dir / "a.png";
  expectError([&] { writePng(p, px.data(), 0, 4); }, {p, "invalid size 0x4"});
  expectError([&] { writePng(p, px.data(), 4, -1); }, {p, "invalid size 4x-1"});
  expectError([&] { writePng(p, px.data(), int64_t(1) << 31, 1); },
              {p, "invalid size"});
  expectError([&] { writePng(p, px.data(), 4, 4, 2); },
              {p, "2 channels", "expected 3 (RGB) or 4 (RGBA)"});
  expectError([&] { writePng(p, nullptr, 4, 4); }, {p, "no pixel data"});
  const std::string missing = dir / "no/such/dir/a.png";
  expectError(
      [&] { writePng(missing, px.data(), 4, 4); },
      {"cannot write PNG file '" + missing + "'", "No such file or directory"});
  // A directory where the file should go.
  fs::create_directory(dir / "isdir");
  expectError([&] { writePng(dir / "isdir", px.data(), 4, 4); },
              {"cannot write PNG file '" + (dir / "isdir") + "'"});
  EXPECT_FALSE(fs::exists(p));
}

TEST(Png, ReadErrors) {
  TempDir dir;
  expectError([&] { readPng(dir / "missing.png"); },
              {"cannot read PNG file '" + (dir / "missing.png") + "'",
               "No such file or directory"});
  writeBytes(dir / "empty.png", {});
  expectError([&] { readPng(dir / "empty.png"); },
              {dir / "empty.png", "not a PNG file (empty file)"});
  const std::string text = "this is not a PNG, just some text\n";
  writeBytes(dir / "garbage.png", {text.begin(), text.end()});
  expectError([&] { readPng(dir / "garbage.png"); },
              {dir / "garbage.png", "not a PNG file (bad signature)"});
  // A JPEG signature.
  writeBytes(dir / "jpeg.png", {0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 'J', 'F', 'I',
                                'F', 0, 1, 1, 0, 0, 1});
  expectError([&] { readPng(dir / "jpeg.png"); },
              {dir / "jpeg.png", "not a PNG file"});
}

TEST(Png, TruncatedFiles) {
  TempDir dir;
  // Random pixels do not compress, so the IDAT chunk spans most of the file.
  std::vector<uint8_t> px = randomPixels(32 * 32 * 3, 7);
  writePng(dir / "ok.png", px.data(), 32, 32);
  const std::vector<uint8_t> full = readBytes(dir / "ok.png");
  ASSERT_GT(full.size(), 1000u);
  // Inside the signature, inside IHDR, just after IHDR, inside IDAT.
  for (size_t len : {size_t(4), size_t(8), size_t(20), size_t(33), size_t(45),
                     full.size() / 2, full.size() - 20}) {
    SCOPED_TRACE(len);
    const std::string p = dir / ("cut" + std::to_string(len) + ".png");
    writeBytes(p, {full.begin(), full.begin() + std::ptrdiff_t(len)});
    std::string msg = expectError([&] { readPng(p); }, {p});
    if (len >= 8)
      EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
    else
      EXPECT_NE(msg.find("not a PNG file"), std::string::npos) << msg;
  }
}

TEST(Png, CorruptData) {
  TempDir dir;
  std::vector<uint8_t> px = randomPixels(32 * 32 * 3, 8);
  writePng(dir / "ok.png", px.data(), 32, 32);
  std::vector<uint8_t> bytes = readBytes(dir / "ok.png");
  bytes[bytes.size() / 2] ^= 0x5a; // Inside IDAT: the chunk CRC fails.
  writeBytes(dir / "bad.png", bytes);
  expectError([&] { readPng(dir / "bad.png"); },
              {dir / "bad.png", "corrupt PNG file"});
}

/// PNG's chunk CRC (ISO 3309, the reflected 0xEDB88320 polynomial).
uint32_t pngCrc(const uint8_t *p, size_t n) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k)
      c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return ~c;
}

TEST(Png, HeadersLargerThanTheFileCanHold) {
  // A valid 2x2 file whose IHDR (CRC fixed) claims 20000 x 20000: no
  // deflate stream of its size expands that far, so it is refused before
  // the 1.2 GB buffer would be allocated.
  TempDir dir;
  std::vector<uint8_t> px = randomPixels(2 * 2 * 3, 9);
  writePng(dir / "small.png", px.data(), 2, 2);
  std::vector<uint8_t> bytes = readBytes(dir / "small.png");
  ASSERT_GT(bytes.size(), 33u);
  for (int k = 0; k < 2; ++k) // width at 16, height at 20, big-endian
    for (int b = 0; b < 4; ++b)
      bytes[16 + 4 * k + b] = uint8_t(20000u >> (24 - 8 * b));
  const uint32_t crc = pngCrc(bytes.data() + 12, 17); // "IHDR" + 13 bytes
  for (int b = 0; b < 4; ++b)
    bytes[29 + b] = uint8_t(crc >> (24 - 8 * b));
  expectError(
      [&] { decodePng(bytes.data(), bytes.size(), "big.png"); },
      {"big.png", "-byte file cannot hold a 20000x20000 image (truncated or "
                  "corrupt)"});
  // The caller's cap on the decoded size.
  const std::vector<uint8_t> ok = readBytes(dir / "small.png");
  expectError([&] { decodePng(ok.data(), ok.size(), "small.png", 8); },
              {"2x2 image is too large to decode"});
  EXPECT_EQ(decodePng(ok.data(), ok.size(), "small.png").pixels, px);
}

//===----------------------------------------------------------------------===//
// latentsImageToRgb
//===----------------------------------------------------------------------===//

TEST(LatentsImageToRgb, Layout) {
  // CHW [3, 2, 2] -> HWC: pixel (h, w) channel c at ((h * 2 + w) * 3 + c).
  std::vector<float> chw = {-1,   -0.5f, 0,    0.5f,  // R
                            1,    1,     -1,   -1,    // G
                            0.2f, 0.4f,  0.6f, 0.8f}; // B
  std::vector<uint8_t> out(12);
  latentsImageToRgb(chw.data(), 3, 2, 2, out.data());
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 4; ++i)
      EXPECT_EQ(out[size_t(i * 3 + c)], reference(chw[size_t(c * 4 + i)]))
          << "c=" << c << " i=" << i;
  EXPECT_EQ(out[0], 0);
  EXPECT_EQ(out[1], 255);
  EXPECT_EQ(out[3 * 2], 128); // x = 0: 127.5 rounds half to even, up to 128.
}

TEST(LatentsImageToRgb, ClampAndSpecialValues) {
  EXPECT_EQ(convertOne(-1), 0);
  EXPECT_EQ(convertOne(1), 255);
  EXPECT_EQ(convertOne(-7.5f), 0);
  EXPECT_EQ(convertOne(3), 255);
  EXPECT_EQ(convertOne(std::numeric_limits<float>::infinity()), 255);
  EXPECT_EQ(convertOne(-std::numeric_limits<float>::infinity()), 0);
  EXPECT_EQ(convertOne(std::numeric_limits<float>::quiet_NaN()), 0);
  EXPECT_EQ(convertOne(0), 128);
  expectError(
      [] {
        uint8_t o;
        latentsImageToRgb(nullptr, 3, 0, 4, &o);
      },
      {"invalid image shape [3, 0, 4]"});
}

TEST(LatentsImageToRgb, MatchesTranscriptionEverywhere) {
  ASSERT_EQ(std::fegetround(), FE_TONEAREST);
  // Every 4099th float32 bit pattern of either sign up to 1.25 in
  // magnitude, and many random values.
  std::vector<float> xs;
  uint32_t limit;
  const float top = 1.25f;
  std::memcpy(&limit, &top, 4);
  for (uint32_t bits = 0; bits <= limit; bits += 4099) {
    float x;
    std::memcpy(&x, &bits, 4);
    xs.push_back(x);
    xs.push_back(-x);
  }
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-1.5f, 1.5f);
  for (int i = 0; i < 100000; ++i)
    xs.push_back(dist(rng));
  std::vector<uint8_t> out(xs.size());
  latentsImageToRgb(xs.data(), 1, 1, int64_t(xs.size()), out.data());
  for (size_t i = 0; i < xs.size(); ++i)
    ASSERT_EQ(out[i], reference(xs[i])) << "x = " << xs[i];
}

TEST(LatentsImageToRgb, RoundsHalfToEven) {
  // Search, for each k, inputs x whose float32 pipeline lands exactly on
  // k + 0.5: numpy rounds those to the even neighbour, not away from zero.
  int downs = 0, ups = 0;
  for (int k = 0; k < 255; ++k) {
    const float half = float(k) + 0.5f;
    float y = half / 255.0f;
    for (int j = 0; j < 64; ++j)
      y = std::nextafter(y, 0.0f);
    for (int j = 0; j < 128; ++j, y = std::nextafter(y, 1.0f)) {
      if (y * 255.0f != half)
        continue;
      // An x that the first step maps to exactly this y.
      const float x = (y - 0.5f) * 2.0f;
      if (x / 2 + 0.5f != y)
        continue;
      const uint8_t expected = uint8_t(k % 2 == 0 ? k : k + 1);
      EXPECT_EQ(convertOne(x), expected) << "k=" << k << " x=" << x;
      EXPECT_EQ(reference(x), expected);
      (k % 2 == 0 ? downs : ups)++;
    }
  }
  // Enough ties of both kinds were exercised to mean something.
  EXPECT_GT(downs, 20);
  EXPECT_GT(ups, 20);
}

//===----------------------------------------------------------------------===//
// Interop with Pillow / numpy / torch
//===----------------------------------------------------------------------===//

TEST(PngPython, InteropWithPillowAndNumpy) {
  std::string why;
  const std::string py = findPython({"PIL", "numpy"}, why);
  if (py.empty())
    GTEST_SKIP() << why;
  TempDir dir;
  std::vector<uint8_t> rgb = randomPixels(13 * 6 * 3, 11);
  std::vector<uint8_t> rgba = randomPixels(5 * 8 * 4, 12);
  writePng(dir / "ours_rgb.png", rgb.data(), 13, 6);
  writePng(dir / "ours_rgba.png", rgba.data(), 5, 8, 4);
  writeBytes(dir / "rgb.bin", rgb);
  writeBytes(dir / "rgba.bin", rgba);
  // Decoded-image values including ties found like RoundsHalfToEven does.
  std::vector<float> xs;
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> dist(-1.2f, 1.2f);
  for (int i = 0; i < 20000; ++i)
    xs.push_back(dist(rng));
  for (int k = 0; k < 255; ++k) {
    float y = (float(k) + 0.5f) / 255.0f;
    for (int j = 0; j < 64; ++j)
      y = std::nextafter(y, 0.0f);
    for (int j = 0; j < 128; ++j, y = std::nextafter(y, 1.0f))
      if (y * 255.0f == float(k) + 0.5f)
        xs.push_back((y - 0.5f) * 2.0f);
  }
  while (xs.size() % 3)
    xs.push_back(0);
  {
    std::ofstream f(dir / "decoded.f32", std::ios::binary);
    f.write(reinterpret_cast<const char *>(xs.data()),
            std::streamsize(xs.size() * sizeof(float)));
  }
  const char *script = R"PY(
import sys, numpy as np
from PIL import Image
d = sys.argv[1]
a = np.asarray(Image.open(d + "/ours_rgb.png"))
assert a.shape == (6, 13, 3) and a.dtype == np.uint8, a.shape
assert (a.reshape(-1) == np.fromfile(d + "/rgb.bin", np.uint8)).all()
a = np.asarray(Image.open(d + "/ours_rgba.png"))
assert a.shape == (8, 5, 4), a.shape
assert (a.reshape(-1) == np.fromfile(d + "/rgba.bin", np.uint8)).all()
rng = np.random.default_rng(0)
img = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
Image.fromarray(img).save(d + "/pil_rgb.png")
Image.fromarray(rng.integers(0, 256, (6, 7, 4), dtype=np.uint8)).save(
    d + "/pil_rgba.png")
Image.fromarray(img[:, :, 0]).save(d + "/pil_gray.png")
Image.fromarray(img).convert("P").save(d + "/pil_palette.png")
Image.fromarray(img).save(d + "/pil_interlaced.png", interlace=1)
Image.fromarray((img[:, :, 0].astype(np.uint16) * 257)).save(
    d + "/pil_gray16.png")
for name in ["rgb", "rgba", "gray", "palette", "interlaced", "gray16"]:
    im = Image.open(d + "/pil_" + name + ".png")
    mode = "RGBA" if "A" in im.mode or "transparency" in im.info else "RGB"
    if name == "gray16":  # Pillow reads 16-bit gray as I;16; scale to 8.
        arr = (np.asarray(im).astype(np.uint32) >> 8).astype(np.uint8)
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    else:
        arr = np.asarray(im.convert(mode))
    arr.tofile(d + "/pil_" + name + ".expected")
# diffusers: torch (x / 2 + 0.5).clamp(0, 1), numpy (x * 255).round().
x = np.fromfile(d + "/decoded.f32", np.float32).reshape(3, 1, -1)
try:
    import torch
    y = (torch.from_numpy(x) / 2 + 0.5).clamp(0, 1)
    y = y.permute(1, 2, 0).float().numpy()
except ImportError:
    y = np.clip(x / 2 + 0.5, 0, 1).transpose(1, 2, 0)
assert y.dtype == np.float32
(y * 255).round().astype("uint8").tofile(d + "/decoded.expected")
)PY";
  ASSERT_EQ(runPython(py, dir, script), 0);

  for (const char *name :
       {"rgb", "rgba", "gray", "palette", "interlaced", "gray16"}) {
    SCOPED_TRACE(name);
    PngImage img = readPng(dir / (std::string("pil_") + name + ".png"));
    EXPECT_EQ(img.width, 7);
    EXPECT_EQ(img.height, 6);
    EXPECT_EQ(img.channels, std::string(name) == "rgba" ? 4 : 3);
    EXPECT_EQ(img.pixels,
              readBytes(dir / (std::string("pil_") + name + ".expected")));
  }

  const int64_t w = int64_t(xs.size() / 3);
  std::vector<uint8_t> ours(xs.size());
  latentsImageToRgb(xs.data(), 3, 1, w, ours.data());
  EXPECT_EQ(ours, readBytes(dir / "decoded.expected"))
      << "latentsImageToRgb differs from diffusers' postprocessing";
}

} // namespace
