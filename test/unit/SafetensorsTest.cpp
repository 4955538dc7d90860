//===- SafetensorsTest.cpp - safetensors and checkpoint folder tests ------===//
//
// Round trips for every dtype, f16/bf16 conversion, slices, diffusers folder
// layouts, and corrupt files: every corruption must be a fresco::Error with a
// message naming the problem, never a crash. Interop with the Python
// safetensors library runs when a Python with safetensors and numpy is found
// (FRESCO_PYTHON, <repo>/.venv/bin/python, /usr/bin/python3) and is skipped
// visibly otherwise.
//
//===----------------------------------------------------------------------===//
#include "runtime/io/Safetensors.h"
#include "runtime/core/Error.h"
#include "runtime/io/Checkpoint.h"
#include "test/unit/TestUtil.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>

namespace fs = std::filesystem;
using namespace fresco;
using namespace fresco::test;

namespace {

/// Builds a safetensors file from a header text and a data section, so
/// tests can write headers the writer would refuse to produce.
std::vector<uint8_t> makeRaw(const std::string &header,
                             const std::vector<uint8_t> &data) {
  std::vector<uint8_t> out(8 + header.size() + data.size());
  uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  std::copy(header.begin(), header.end(), out.begin() + 8);
  std::copy(data.begin(), data.end(), out.begin() + 8 + header.size());
  return out;
}

std::vector<float> iota(size_t n, float start = 0) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = start + float(i);
  return v;
}

/// A small valid file used as the base of the corruption tests.
std::vector<uint8_t> validFileBytes(const TempDir &dir) {
  std::vector<float> a = iota(6);
  std::vector<int64_t> b = {1, 2, 3};
  writeSafetensors(
      dir / "base.safetensors",
      {{"a", DType::F32, {2, 3}, a.data()}, {"b", DType::I64, {3}, b.data()}});
  return readBytes(dir / "base.safetensors");
}

//===----------------------------------------------------------------------===//
// Round trips and layout
//===----------------------------------------------------------------------===//

TEST(Safetensors, RoundTripEveryDType) {
  TempDir dir;
  std::vector<float> f32 = iota(24, -3.5f);
  std::vector<uint16_t> f16, bf16;
  for (float v : iota(10, -5)) {
    f16.push_back(floatToHalf(v * 0.25f));
    bf16.push_back(floatToBf16(v * 1.5f));
  }
  std::vector<int64_t> i64 = {-1, 0, 1LL << 40, INT64_MAX};
  std::vector<int32_t> i32 = {-7, 0, 7, INT32_MIN, INT32_MAX, 3};
  float scalar = 42.0f;
  std::vector<SafetensorsEntry> entries = {
      {"w.f32", DType::F32, {2, 3, 4}, f32.data()},
      {"w.f16", DType::F16, {10}, f16.data()},
      {"w.bf16", DType::BF16, {2, 5}, bf16.data()},
      {"ids.i64", DType::I64, {4}, i64.data()},
      {"ids.i32", DType::I32, {2, 3}, i32.data()},
      {"scalar", DType::F32, {}, &scalar},
      {"empty", DType::F32, {0, 7}, nullptr},
  };
  writeSafetensors(dir / "m.safetensors", entries);

  SafetensorsFile f(dir / "m.safetensors");
  EXPECT_TRUE(f.isOpen());
  EXPECT_EQ(f.path(), dir / "m.safetensors");
  ASSERT_EQ(f.tensors().size(), entries.size());
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.names(),
            (std::vector<std::string>{"empty", "ids.i32", "ids.i64", "scalar",
                                      "w.bf16", "w.f16", "w.f32"}));
  for (const SafetensorsEntry &e : entries) {
    const TensorInfo *t = f.find(e.name);
    ASSERT_NE(t, nullptr) << e.name;
    EXPECT_EQ(t->name, e.name);
    EXPECT_EQ(t->dtype, e.dtype) << e.name;
    EXPECT_EQ(t->shape, e.shape) << e.name;
    EXPECT_EQ(t->file, dir / "m.safetensors");
    size_t bytes = size_t(numElements(e.shape)) * dtypeSize(e.dtype);
    ASSERT_EQ(t->byteSize, bytes) << e.name;
    if (bytes) {
      EXPECT_EQ(std::memcmp(t->data, e.data, bytes), 0) << e.name;
    }
    // Writer keeps every tensor aligned to its element size in the file.
    EXPECT_EQ(t->fileOffset % dtypeSize(t->dtype), 0u) << e.name;
  }
  EXPECT_EQ(f.find("missing"), nullptr);
  EXPECT_EQ(f.find("__metadata__"), nullptr);
  expectError([&] { f.get("missing"); }, {"m.safetensors", "'missing'"});

  std::vector<float> s(1);
  readAsF32(*f.find("scalar"), s.data());
  EXPECT_EQ(s[0], 42.0f);
}

TEST(Safetensors, CustomAndEmptyMetadata) {
  TempDir dir;
  float x = 1;
  writeSafetensors(dir / "a.safetensors", {{"x", DType::F32, {1}, &x}},
                   {{"format", "pt"}, {"note", "h\u00e9llo \"quoted\""}});
  SafetensorsFile a(dir / "a.safetensors");
  EXPECT_EQ(a.metadata().at("note"), "h\u00e9llo \"quoted\"");
  writeSafetensors(dir / "b.safetensors", {{"x", DType::F32, {1}, &x}}, {});
  SafetensorsFile b(dir / "b.safetensors");
  EXPECT_TRUE(b.metadata().empty());
  std::vector<uint8_t> bytes = readBytes(dir / "b.safetensors");
  EXPECT_EQ(std::string(bytes.begin() + 8, bytes.begin() + 9), "{");
  // A file with no tensors at all is valid.
  writeSafetensors(dir / "c.safetensors", {});
  EXPECT_TRUE(SafetensorsFile(dir / "c.safetensors").tensors().empty());
}

// The exact bytes the Python library (safetensors 0.4+) writes for these
// tensors with save_file(..., metadata=None): compact JSON, tensors ordered
// by dtype (I64, F32, I32, BF16, F16) then name, spaces to a multiple of 8.
TEST(Safetensors, LayoutMatchesPythonLibrary) {
  TempDir dir;
  std::vector<float> b(6, 1.0f);
  std::vector<uint16_t> a(3, floatToHalf(1.0f));
  std::vector<int64_t> c = {0, 1, 2};
  std::vector<int32_t> d = {0, 1, 2};
  float s = 3.0f;
  writeSafetensors(dir / "l.safetensors",
                   {{"b", DType::F32, {2, 3}, b.data()},
                    {"a", DType::F16, {3}, a.data()},
                    {"c", DType::I64, {3}, c.data()},
                    {"d", DType::I32, {3}, d.data()},
                    {"e", DType::F32, {0, 2}, nullptr},
                    {"s", DType::F32, {}, &s}},
                   {});
  std::vector<uint8_t> bytes = readBytes(dir / "l.safetensors");
  ASSERT_EQ(bytes.size(), 414u);
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  ASSERT_EQ(n, 336u);
  std::string header(bytes.begin() + 8, bytes.begin() + 8 + n);
  EXPECT_EQ(header,
            R"({"c":{"dtype":"I64","shape":[3],"data_offsets":[0,24]},)"
            R"("b":{"dtype":"F32","shape":[2,3],"data_offsets":[24,48]},)"
            R"("e":{"dtype":"F32","shape":[0,2],"data_offsets":[48,48]},)"
            R"("s":{"dtype":"F32","shape":[],"data_offsets":[48,52]},)"
            R"("d":{"dtype":"I32","shape":[3],"data_offsets":[52,64]},)"
            R"("a":{"dtype":"F16","shape":[3],"data_offsets":[64,70]}}   )");
}

TEST(Safetensors, MoveKeepsPointersValid) {
  TempDir dir;
  std::vector<float> v = iota(4);
  writeSafetensors(dir / "m.safetensors", {{"v", DType::F32, {4}, v.data()}});
  SafetensorsFile a(dir / "m.safetensors");
  const TensorInfo *t = a.find("v");
  SafetensorsFile b(std::move(a));
  EXPECT_FALSE(a.isOpen());
  EXPECT_EQ(b.find("v"), t);
  SafetensorsFile c;
  c = std::move(b);
  ASSERT_EQ(c.find("v"), t);
  std::vector<float> out(4);
  readAsF32(*t, out.data());
  EXPECT_EQ(out, v);
  // Re-opening replaces the old contents.
  c.open(dir / "m.safetensors");
  EXPECT_EQ(c.tensors().size(), 1u);
  c.close();
  EXPECT_FALSE(c.isOpen());
  EXPECT_EQ(c.find("v"), nullptr);
}

//===----------------------------------------------------------------------===//
// Conversion and slices
//===----------------------------------------------------------------------===//

TEST(Safetensors, F16AndBf16ConvertToF32) {
  TempDir dir;
  const float inf = std::numeric_limits<float>::infinity();
  // Values exactly representable in both formats, plus the edges.
  std::vector<float> vals = {0.0f, -0.0f,   1.0f, -2.0f, 0.5f, 0.15625f,
                             3.0f, 1024.0f, -inf, inf,   0.25f};
  std::vector<uint16_t> h, b;
  for (float v : vals) {
    h.push_back(floatToHalf(v));
    b.push_back(floatToBf16(v));
  }
  // Half-only edges: largest half, smallest subnormal half.
  std::vector<uint16_t> hEdge = {0x7bff, 0x0001, 0x8001, 0x03ff};
  std::vector<float> hEdgeF = {65504.0f, std::ldexp(1.0f, -24),
                               -std::ldexp(1.0f, -24),
                               std::ldexp(1023.0f, -24)};
  // bf16 keeps f32's range: 2^100 and a NaN.
  std::vector<uint16_t> bEdge = {floatToBf16(std::ldexp(1.0f, 100)), 0x7fc0};
  writeSafetensors(dir / "c.safetensors",
                   {{"h", DType::F16, {int64_t(h.size())}, h.data()},
                    {"b", DType::BF16, {int64_t(b.size())}, b.data()},
                    {"he", DType::F16, {4}, hEdge.data()},
                    {"be", DType::BF16, {2}, bEdge.data()}});
  SafetensorsFile f(dir / "c.safetensors");
  std::vector<float> out(vals.size());
  readAsF32(f.get("h"), out.data());
  for (size_t i = 0; i < vals.size(); ++i) {
    EXPECT_EQ(out[i], vals[i]) << i;
    EXPECT_EQ(std::signbit(out[i]), std::signbit(vals[i])) << i;
  }
  readAsF32(f.get("b"), out.data());
  for (size_t i = 0; i < vals.size(); ++i)
    EXPECT_EQ(out[i], vals[i]) << i;
  std::vector<float> he(4), be(2);
  readAsF32(f.get("he"), he.data());
  EXPECT_EQ(he, hEdgeF);
  readAsF32(f.get("be"), be.data());
  EXPECT_EQ(be[0], std::ldexp(1.0f, 100));
  EXPECT_TRUE(std::isnan(be[1]));
}

TEST(Safetensors, ReadAsF32RejectsIntegers) {
  TempDir dir;
  std::vector<int64_t> v = {1, 2};
  writeSafetensors(dir / "i.safetensors", {{"ids", DType::I64, {2}, v.data()}});
  SafetensorsFile f(dir / "i.safetensors");
  float out[2];
  expectError([&] { readAsF32(f.get("ids"), out); }, {"'ids'", "i64"});
  expectError([&] { readSliceAsF32(f.get("ids"), {0}, {1}, out); },
              {"'ids'", "i64"});
  // The raw copy works for any dtype.
  int64_t raw;
  readSlice(f.get("ids"), {1}, {1}, &raw);
  EXPECT_EQ(raw, 2);
}

/// Reference slice by explicit index arithmetic.
std::vector<float> naiveSlice(const std::vector<float> &full,
                              const std::vector<int64_t> &shape,
                              const std::vector<int64_t> &off,
                              const std::vector<int64_t> &size) {
  std::vector<float> out;
  int64_t n = numElements(size);
  for (int64_t flat = 0; flat < n; ++flat) {
    int64_t rem = flat, src = 0, stride = 1;
    std::vector<int64_t> idx(size.size());
    for (size_t d = size.size(); d-- > 0;) {
      idx[d] = rem % size[d];
      rem /= size[d];
    }
    for (size_t d = shape.size(); d-- > 0;) {
      src += (off[d] + idx[d]) * stride;
      stride *= shape[d];
    }
    out.push_back(full[size_t(src)]);
  }
  return out;
}

TEST(Safetensors, SlicesMatchReference) {
  TempDir dir;
  const std::vector<int64_t> shape = {4, 5, 6};
  std::vector<float> full = iota(120);
  std::vector<uint16_t> half, bf;
  for (float v : full) {
    half.push_back(floatToHalf(v));
    bf.push_back(floatToBf16(v));
  }
  writeSafetensors(dir / "s.safetensors",
                   {{"f", DType::F32, shape, full.data()},
                    {"h", DType::F16, shape, half.data()},
                    {"b", DType::BF16, shape, bf.data()}});
  SafetensorsFile f(dir / "s.safetensors");

  auto checkSlice = [&](const std::vector<int64_t> &off,
                        const std::vector<int64_t> &size) {
    std::vector<float> want = naiveSlice(full, shape, off, size);
    for (const char *name : {"f", "h", "b"}) {
      std::vector<float> got(want.size() + 1, -1.0f); // +1: no overrun
      readSliceAsF32(f.get(name), off, size, got.data());
      EXPECT_EQ(got.back(), -1.0f) << "wrote past the slice";
      got.pop_back();
      EXPECT_EQ(got, want) << name << " off " << shapeToString(off) << " size "
                           << shapeToString(size);
    }
    std::vector<uint16_t> raw(want.size());
    readSlice(f.get("h"), off, size, raw.data());
    for (size_t i = 0; i < raw.size(); ++i)
      EXPECT_EQ(halfToFloat(raw[i]), want[i]);
  };
  checkSlice({0, 0, 0}, {4, 5, 6}); // whole tensor
  checkSlice({1, 0, 0}, {2, 5, 6}); // rows: one contiguous run
  checkSlice({0, 0, 2}, {4, 5, 3}); // column-parallel style: last dim
  checkSlice({0, 2, 0}, {4, 2, 6}); // middle dim
  checkSlice({3, 4, 5}, {1, 1, 1}); // one element
  checkSlice({1, 1, 1}, {2, 3, 4});
  checkSlice({2, 0, 0}, {0, 5, 6}); // empty
  checkSlice({4, 5, 6}, {0, 0, 0}); // empty at the far corner
  std::mt19937 rng(7);
  for (int iter = 0; iter < 200; ++iter) {
    std::vector<int64_t> off(3), size(3);
    for (size_t d = 0; d < 3; ++d) {
      off[d] = int64_t(rng() % uint32_t(shape[d] + 1));
      size[d] = int64_t(rng() % uint32_t(shape[d] - off[d] + 1));
    }
    checkSlice(off, size);
  }
}

TEST(Safetensors, SliceOfScalarAndOneDim) {
  TempDir dir;
  float s = 5.0f;
  std::vector<float> v = iota(10);
  writeSafetensors(dir / "s.safetensors", {{"s", DType::F32, {}, &s},
                                           {"v", DType::F32, {10}, v.data()}});
  SafetensorsFile f(dir / "s.safetensors");
  float out[10] = {};
  readSliceAsF32(f.get("s"), {}, {}, out);
  EXPECT_EQ(out[0], 5.0f);
  readSliceAsF32(f.get("v"), {3}, {4}, out);
  EXPECT_EQ(std::vector<float>(out, out + 4), (std::vector<float>{3, 4, 5, 6}));
}

TEST(Safetensors, SliceBoundsAreChecked) {
  TempDir dir;
  std::vector<float> v = iota(12);
  writeSafetensors(dir / "s.safetensors",
                   {{"w", DType::F32, {3, 4}, v.data()}});
  SafetensorsFile f(dir / "s.safetensors");
  const TensorInfo &t = f.get("w");
  std::vector<float> out(64);
  expectError(
      [&] {
        readSliceAsF32(t, {0, 0}, {4, 4}, out.data());
      },
      {"outside tensor 'w'", "[3, 4]"});
  expectError(
      [&] {
        readSliceAsF32(t, {3, 0}, {1, 4}, out.data());
      },
      {"outside"});
  expectError(
      [&] {
        readSliceAsF32(t, {0, 2}, {1, 3}, out.data());
      },
      {"outside"});
  expectError(
      [&] {
        readSliceAsF32(t, {-1, 0}, {1, 4}, out.data());
      },
      {"outside"});
  expectError(
      [&] {
        readSliceAsF32(t, {0, 0}, {-1, 4}, out.data());
      },
      {"outside"});
  expectError(
      [&] {
        readSliceAsF32(t, {0, INT64_MAX}, {1, INT64_MAX}, out.data());
      },
      {"outside"});
  expectError([&] { readSliceAsF32(t, {0}, {1}, out.data()); },
              {"rank 2", "'w'"});
  expectError(
      [&] {
        readSlice(t, {0, 0, 0}, {1, 1, 1}, out.data());
      },
      {"rank 2"});
}

//===----------------------------------------------------------------------===//
// Corrupt files: every one is a fresco::Error naming the file
//===----------------------------------------------------------------------===//

TEST(SafetensorsCorrupt, TruncatedAnywhere) {
  TempDir dir;
  std::vector<uint8_t> good = validFileBytes(dir);
  uint64_t headerLen;
  std::memcpy(&headerLen, good.data(), 8);
  const std::string path = dir / "t.safetensors";
  std::vector<size_t> cuts = {0,
                              1,
                              4,
                              7,
                              8,
                              9,
                              12,
                              size_t(8 + headerLen / 2),
                              size_t(8 + headerLen - 1),
                              size_t(8 + headerLen),
                              size_t(8 + headerLen + 1),
                              good.size() - 8,
                              good.size() - 1};
  for (size_t cut : cuts) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    writeBytes(path, std::vector<uint8_t>(good.begin(), good.begin() + cut));
    expectError([&] { SafetensorsFile f(path); }, {path});
  }
  // Every other cut point too: none may crash or be accepted.
  for (size_t cut = 0; cut < good.size(); ++cut) {
    writeBytes(path, std::vector<uint8_t>(good.begin(), good.begin() + cut));
    EXPECT_THROW(SafetensorsFile{path}, Error) << "cut at " << cut;
  }
  writeBytes(path, good);
  EXPECT_NO_THROW(SafetensorsFile{path});
}

TEST(SafetensorsCorrupt, HeaderLengthBeyondFile) {
  TempDir dir;
  std::vector<uint8_t> bytes = validFileBytes(dir);
  const std::string path = dir / "h.safetensors";
  for (uint64_t len : {uint64_t(bytes.size() - 7), uint64_t(bytes.size()),
                       uint64_t(99'999'999), ~uint64_t(0), uint64_t(1) << 63}) {
    SCOPED_TRACE(len);
    std::memcpy(bytes.data(), &len, 8);
    writeBytes(path, bytes);
    expectError([&] { SafetensorsFile f(path); }, {path, "header length"});
  }
}

TEST(SafetensorsCorrupt, BadHeaders) {
  TempDir dir;
  const std::string path = dir / "b.safetensors";
  const std::vector<uint8_t> data(24, 0);
  auto expectBad = [&](const std::string &header,
                       const std::vector<std::string> &needles) {
    SCOPED_TRACE(header);
    writeBytes(path, makeRaw(header, data));
    std::vector<std::string> all = needles;
    all.push_back(path);
    expectError([&] { SafetensorsFile f(path); }, all);
  };
  auto t = [](const std::string &body) { return "{\"x\":" + body + "}"; };

  expectBad("", {"not valid JSON"});
  expectBad("{not json", {"not valid JSON"});
  expectBad("{\"x\": {\"dtype\": \"F32\"", {"not valid JSON"});
  expectBad(std::string("{}\0\0", 4), {"not valid JSON"});
  expectBad("[1, 2]", {"not an object"});
  expectBad(t("3"), {"'x'", "not an object"});
  expectBad(t(R"({"shape":[2],"data_offsets":[0,8]})"), {"'x'", "dtype"});
  expectBad(t(R"({"dtype":"F32","data_offsets":[0,8]})"), {"'x'", "shape"});
  expectBad(t(R"({"dtype":"F32","shape":[2]})"), {"'x'", "data_offsets"});
  for (const char *dt : {"F64", "I8", "BOOL", "U8", "F8_E4M3", "f32"})
    expectBad(t(std::string(R"({"dtype":")") + dt +
                R"(","shape":[2],"data_offsets":[0,8]})"),
              {std::string("unsupported dtype ") + dt + " for tensor 'x'"});
  expectBad(t(R"({"dtype":7,"shape":[2],"data_offsets":[0,8]})"), {"dtype"});
  expectBad(t(R"({"dtype":"F32","shape":[-1,2],"data_offsets":[0,8]})"),
            {"'x'", "non-negative"});
  expectBad(t(R"({"dtype":"F32","shape":[2.5],"data_offsets":[0,8]})"),
            {"non-negative integers"});
  expectBad(t(R"({"dtype":"F32","shape":["2"],"data_offsets":[0,8]})"),
            {"non-negative integers"});
  expectBad(t(R"({"dtype":"F32","shape":{"a":1},"data_offsets":[0,8]})"),
            {"shape"});
  expectBad(t(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8,9]})"),
            {"data_offsets"});
  expectBad(t(R"({"dtype":"F32","shape":[2],"data_offsets":[-8,0]})"),
            {"data_offsets"});
  expectBad(t(R"({"dtype":"F32","shape":[2],"data_offsets":[0.0,8]})"),
            {"data_offsets"});
  expectBad(t(R"({"dtype":"F32","shape":[2],"data_offsets":[8,0]})"),
            {"outside the data section"});
  expectBad(t(R"({"dtype":"F32","shape":[2],"data_offsets":[20,28]})"),
            {"outside the data section", "24 bytes"});
  expectBad(t(R"({"dtype":"F32","shape":[2],)"
              R"("data_offsets":[0,18446744073709551615]})"),
            {"outside the data section"});
  // Offsets inside the file but not matching dtype x shape.
  expectBad(t(R"({"dtype":"F32","shape":[2],"data_offsets":[0,12]})"),
            {"needs 8 bytes", "span 12"});
  expectBad(t(R"({"dtype":"F16","shape":[2,3],"data_offsets":[0,24]})"),
            {"needs 12 bytes"});
  // numel * size overflowing 64 bits must not wrap around to a small size.
  expectBad(t(R"({"dtype":"F32","shape":[4294967296,4294967296],)"
              R"("data_offsets":[0,0]})"),
            {"too large"});
  expectBad(t(R"({"dtype":"F32","shape":[4611686018427387904],)"
              R"("data_offsets":[0,0]})"),
            {"too large"});
  expectBad(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
            R"("b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})",
            {"'a' and 'b' overlap"});
  expectBad(R"({"__metadata__":{"format":1}})", {"__metadata__"});
  expectBad(R"({"__metadata__":[1]})", {"__metadata__"});

  // Accepted: gaps, null metadata, zero-size tensors anywhere, extra keys.
  writeBytes(path, makeRaw(R"({"__metadata__":null,)"
                           R"("a":{"dtype":"F32","shape":[2],)"
                           R"("data_offsets":[16,24],"extra":1},)"
                           R"("z":{"dtype":"F32","shape":[0],)"
                           R"("data_offsets":[16,16]}})",
                           data));
  SafetensorsFile ok(path);
  EXPECT_EQ(ok.tensors().size(), 2u);
  EXPECT_EQ(ok.get("a").fileOffset, ok.fileSize() - 24 + 16);
}

TEST(SafetensorsCorrupt, NotAFile) {
  TempDir dir;
  expectError([&] { SafetensorsFile f(dir / "nope.safetensors"); },
              {"nope.safetensors", "cannot open"});
  expectError([&] { SafetensorsFile f(dir.path()); }, {"not a regular file"});
  writeText(dir / "short", "abc");
  expectError([&] { SafetensorsFile f(dir / "short"); }, {"too short"});
  // A pickle or any other format: the "length" is garbage.
  const char pickle[] = "\x80\x02}q\x00(X\x06\x00\x00\x00weightq";
  writeText(dir / "pickle.bin", std::string(pickle, sizeof(pickle) - 1));
  expectError([&] { SafetensorsFile f(dir / "pickle.bin"); },
              {"header length"});
}

//===----------------------------------------------------------------------===//
// Writer errors
//===----------------------------------------------------------------------===//

TEST(SafetensorsWrite, Errors) {
  TempDir dir;
  float x[4] = {};
  expectError(
      [&] {
        writeSafetensors(dir / "no/such/dir/w.safetensors",
                         {{"x", DType::F32, {1}, x}});
      },
      {"cannot write safetensors file", "no/such/dir/w.safetensors",
       "No such file or directory"});
  fs::create_directory(dir / "adir");
  expectError(
      [&] {
        writeSafetensors(dir / "adir", {{"x", DType::F32, {1}, x}});
      },
      {"cannot write safetensors file", "adir"});
  const std::string p = dir / "w.safetensors";
  expectError(
      [&] {
        writeSafetensors(
            p, {{"x", DType::F32, {1}, x}, {"x", DType::F16, {1}, x}});
      },
      {"'x'", "twice"});
  expectError(
      [&] {
        writeSafetensors(p, {{"x", DType::F32, {-1}, x}});
      },
      {"'x'", "shape"});
  expectError(
      [&] {
        writeSafetensors(p, {{"x", DType::F32, {2}, nullptr}});
      },
      {"'x'", "no data"});
  expectError(
      [&] {
        writeSafetensors(p, {{"", DType::F32, {1}, x}});
      },
      {"name"});
  expectError(
      [&] {
        writeSafetensors(p, {{"__metadata__", DType::F32, {1}, x}});
      },
      {"name"});
  expectError(
      [&] {
        writeSafetensors(p, {{"\xff\xfe", DType::F32, {1}, x}});
      },
      {"UTF-8"});
  // Failed writes leave nothing behind (no target, no temporary).
  std::vector<std::string> left;
  for (const auto &e : fs::directory_iterator(dir.path()))
    left.push_back(e.path().filename().string());
  EXPECT_EQ(left, std::vector<std::string>{"adir"});
}

TEST(SafetensorsWrite, ReplacesExistingFileAtomically) {
  TempDir dir;
  const std::string p = dir / "r.safetensors";
  float a = 1, b = 2;
  writeSafetensors(p, {{"a", DType::F32, {1}, &a}});
  SafetensorsFile old(p); // keeps the old mapping alive across the rename
  writeSafetensors(p, {{"b", DType::F32, {1}, &b}});
  SafetensorsFile now(p);
  EXPECT_NE(old.find("a"), nullptr);
  EXPECT_EQ(now.find("a"), nullptr);
  float v;
  readAsF32(old.get("a"), &v);
  EXPECT_EQ(v, 1.0f);
  readAsF32(now.get("b"), &v);
  EXPECT_EQ(v, 2.0f);
}

//===----------------------------------------------------------------------===//
// Checkpoint folders
//===----------------------------------------------------------------------===//

const char *kConfig = R"({"_class_name": "PixArtTransformer2DModel",
  "num_layers": 2, "attention_head_dim": 8})";

TEST(Checkpoint, SingleFileFolder) {
  TempDir dir;
  std::vector<float> w = iota(6), bias = iota(3);
  writeText(dir / "config.json", kConfig);
  writeSafetensors(dir / "diffusion_pytorch_model.safetensors",
                   {{"proj.weight", DType::F32, {3, 2}, w.data()},
                    {"proj.bias", DType::F32, {3}, bias.data()}});
  Checkpoint ck(dir.path());
  EXPECT_EQ(ck.folder(), dir.path());
  EXPECT_EQ(ck.configText(), kConfig);
  EXPECT_EQ(ck.config().at("num_layers").get<int>(), 2);
  EXPECT_EQ(ck.names(), (std::vector<std::string>{"proj.bias", "proj.weight"}));
  EXPECT_EQ(ck.size(), 2u);
  EXPECT_EQ(ck.files().size(), 1u);
  ASSERT_NE(ck.find("proj.weight"), nullptr);
  EXPECT_EQ(ck.find("nope"), nullptr);
  const TensorInfo &t = ck.checkShape("proj.weight", {3, 2});
  std::vector<float> out(6);
  readAsF32(t, out.data());
  EXPECT_EQ(out, w);

  expectError([&] { ck.get("blocks.0.attn.to_q.weight"); },
              {"checkpoint '" + dir.path() +
               "' has no tensor 'blocks.0.attn.to_q.weight'"});
  std::string msg = expectError(
      [&] {
        ck.checkShape("proj.weight", {2, 3});
      },
      {});
  EXPECT_EQ(msg, "tensor 'proj.weight' in '" + dir.path() +
                     "' has shape [3, 2], the model expects [2, 3]");
  expectError([&] { ck.checkShape("missing", {1}); }, {"no tensor 'missing'"});

  Checkpoint moved = std::move(ck);
  EXPECT_EQ(moved.config().at("attention_head_dim").get<int>(), 8);
  EXPECT_NE(moved.find("proj.bias"), nullptr);
}

TEST(Checkpoint, ShardedFolder) {
  TempDir dir;
  std::vector<float> a = iota(4), b = iota(4, 10), c = iota(2, 20);
  writeText(dir / "config.json", kConfig);
  writeSafetensors(
      dir / "diffusion_pytorch_model-00001-of-00002.safetensors",
      {{"a", DType::F32, {4}, a.data()}, {"b", DType::F32, {2, 2}, b.data()}});
  writeSafetensors(dir / "diffusion_pytorch_model-00002-of-00002.safetensors",
                   {{"c", DType::F32, {2}, c.data()},
                    {"not_in_index", DType::F32, {2}, c.data()}});
  nlohmann::json index = {
      {"metadata", {{"total_size", 40}}},
      {"weight_map",
       {{"a", "diffusion_pytorch_model-00001-of-00002.safetensors"},
        {"b", "diffusion_pytorch_model-00001-of-00002.safetensors"},
        {"c", "diffusion_pytorch_model-00002-of-00002.safetensors"}}}};
  writeText(dir / "diffusion_pytorch_model.safetensors.index.json",
            index.dump(2));
  Checkpoint ck(dir.path());
  EXPECT_EQ(ck.files().size(), 2u); // each shard opened once
  EXPECT_EQ(ck.names(), (std::vector<std::string>{"a", "b", "c"}));
  std::vector<float> out(4);
  readAsF32(ck.get("b"), out.data());
  EXPECT_EQ(out, b);
  readAsF32(ck.get("c"), out.data());
  EXPECT_EQ(out[1], 21.0f);
  EXPECT_NE(ck.get("c").file.find("00002-of-00002"), std::string::npos);
  // The index is authoritative: unlisted tensors are not part of the model.
  EXPECT_EQ(ck.find("not_in_index"), nullptr);
}

TEST(Checkpoint, TransformersFileNames) {
  TempDir dir;
  float x = 1;
  writeText(dir / "config.json", "{}");
  writeSafetensors(dir / "model.safetensors", {{"x", DType::F32, {1}, &x}});
  EXPECT_NE(Checkpoint(dir.path()).find("x"), nullptr);

  TempDir sharded;
  writeText(sharded / "config.json", "{}");
  writeSafetensors(sharded / "model-00001-of-00001.safetensors",
                   {{"y", DType::F32, {1}, &x}});
  writeText(sharded / "model.safetensors.index.json",
            R"({"weight_map": {"y": "model-00001-of-00001.safetensors"}})");
  EXPECT_NE(Checkpoint(sharded.path()).find("y"), nullptr);
}

TEST(Checkpoint, FolderErrors) {
  TempDir dir;
  expectError([&] { Checkpoint ck(dir / "absent"); },
              {"absent", "does not exist"});
  writeText(dir / "file", "x");
  expectError([&] { Checkpoint ck(dir / "file"); }, {"not a folder"});
  expectError([&] { Checkpoint ck(dir.path()); },
              {dir.path(), "has no config.json"});
  writeText(dir / "config.json", "{\"a\": ");
  expectError([&] { Checkpoint ck(dir.path()); },
              {"config.json", "not valid JSON"});
  writeText(dir / "config.json", "[1]");
  expectError([&] { Checkpoint ck(dir.path()); }, {"not a JSON object"});
  writeText(dir / "config.json", kConfig);
  std::string msg = expectError(
      [&] { Checkpoint ck(dir.path()); },
      {"has no safetensors weights", "diffusion_pytorch_model.safetensors",
       "diffusion_pytorch_model.safetensors.index.json", "model.safetensors",
       "model.safetensors.index.json"});
  EXPECT_EQ(msg.find("pickle"), std::string::npos);
  writeText(dir / "diffusion_pytorch_model.bin", "pickle");
  expectError([&] { Checkpoint ck(dir.path()); },
              {"diffusion_pytorch_model.bin", "convert it to safetensors"});
  // A corrupt weight file surfaces the safetensors error.
  writeText(dir / "diffusion_pytorch_model.safetensors", "short");
  expectError([&] { Checkpoint ck(dir.path()); },
              {"diffusion_pytorch_model.safetensors", "too short"});
}

TEST(Checkpoint, IndexErrors) {
  TempDir dir;
  float x = 1;
  writeText(dir / "config.json", kConfig);
  writeSafetensors(dir / "shard1.safetensors", {{"a", DType::F32, {1}, &x}});
  const std::string idx =
      dir / "diffusion_pytorch_model.safetensors.index.json";
  auto expectIndexError = [&](const std::string &text,
                              const std::vector<std::string> &needles) {
    SCOPED_TRACE(text);
    writeText(idx, text);
    expectError([&] { Checkpoint ck(dir.path()); }, needles);
  };
  expectIndexError(R"({"weight_map": {"a": "shard1.safetensors",
                       "b": "shard2.safetensors"}})",
                   {"names shard 'shard2.safetensors'", "does not exist"});
  expectIndexError(R"({"weight_map": {"zz": "shard1.safetensors"}})",
                   {"tensor 'zz'", "shard1.safetensors", "no such tensor"});
  expectIndexError(R"({"metadata": {}})", {"weight_map"});
  expectIndexError(R"({"weight_map": [1]})", {"weight_map"});
  expectIndexError(R"({"weight_map": {"a": 3}})", {"tensor 'a'"});
  expectIndexError(R"({"weight_map": {"a": "../shard1.safetensors"}})",
                   {"not a plain file name"});
  expectIndexError(R"({"weight_map": {"a": "/etc/passwd"}})",
                   {"not a plain file name"});
  expectIndexError("{oops", {"index.json", "not valid JSON"});
  writeText(idx, R"({"weight_map": {"a": "shard1.safetensors"}})");
  EXPECT_NO_THROW(Checkpoint{dir.path()});
}

TEST(Checkpoint, ResolveComponentFolder) {
  TempDir dir;
  // A component folder on its own resolves to itself.
  EXPECT_EQ(resolveComponentFolder(dir.path(), "transformer"), dir.path());
  writeText(dir / "model_index.json",
            R"({"_class_name": "PixArtSigmaPipeline"})");
  fs::create_directory(dir / "vae");
  writeText(dir / "vae/config.json", "{}");
  fs::create_directory(dir / "text_encoder");
  writeText(dir / "text_encoder/config.json", "{}");
  fs::create_directory(dir / "scheduler");
  EXPECT_EQ(resolveComponentFolder(dir.path(), "vae"), dir / "vae");
  std::string msg = expectError(
      [&] { resolveComponentFolder(dir.path(), "transformer"); }, {});
  EXPECT_EQ(msg, "pipeline folder '" + dir.path() +
                     "' has no 'transformer' component (it has: "
                     "text_encoder, vae)");
  expectError([&] { resolveComponentFolder(dir / "missing", "vae"); },
              {"missing", "does not exist"});
}

//===----------------------------------------------------------------------===//
// Interop with the Python safetensors library
//===----------------------------------------------------------------------===//

class SafetensorsPython : public ::testing::Test {
protected:
  void SetUp() override {
    std::string why;
    py_ = findPython({"safetensors", "numpy"}, why);
    if (py_.empty())
      GTEST_SKIP() << why;
  }
  std::string py_;
  TempDir dir_;
};

TEST_F(SafetensorsPython, ReadsFilesWrittenByPython) {
  const char *script = R"PY(
import sys, numpy as np
from safetensors.numpy import save_file
out = sys.argv[1]
save_file({
    "w.f32": np.arange(24, dtype=np.float32).reshape(2, 3, 4) * 0.5,
    "w.f16": (np.arange(6, dtype=np.float16) - 3) / 4,
    "ids.i64": np.array([-1, 0, 1 << 40], dtype=np.int64),
    "ids.i32": np.array([[1, -2], [3, -4]], dtype=np.int32),
    "scalar": np.array(7.0, dtype=np.float32),
    "empty": np.zeros((0, 3), dtype=np.float32),
}, out + "/np.safetensors", metadata={"format": "pt", "k": "v"})
try:
    import torch
    from safetensors.torch import save_file as tsave
    tsave({"w.bf16": torch.arange(8, dtype=torch.float32).to(torch.bfloat16)
           .reshape(2, 4) * 1.5}, out + "/bf16.safetensors")
except ImportError:
    pass
)PY";
  ASSERT_EQ(runPython(py_, dir_, script), 0);
  SafetensorsFile f(dir_ / "np.safetensors");
  EXPECT_EQ(f.metadata().at("k"), "v");
  EXPECT_EQ(f.tensors().size(), 6u);
  std::vector<float> out(24);
  readAsF32(f.get("w.f32"), out.data());
  for (int i = 0; i < 24; ++i)
    EXPECT_EQ(out[i], i * 0.5f);
  EXPECT_EQ(f.get("w.f32").shape, (std::vector<int64_t>{2, 3, 4}));
  readAsF32(f.get("w.f16"), out.data());
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(out[i], (i - 3) / 4.0f);
  std::vector<float> slice(6);
  readSliceAsF32(f.get("w.f32"), {1, 0, 1}, {1, 3, 2}, slice.data());
  EXPECT_EQ(slice, (std::vector<float>{6.5f, 7, 8.5f, 9, 10.5f, 11}));
  const TensorInfo &i64 = f.get("ids.i64");
  std::vector<int64_t> ids(3);
  std::memcpy(ids.data(), i64.data, i64.byteSize);
  EXPECT_EQ(ids, (std::vector<int64_t>{-1, 0, 1LL << 40}));
  const TensorInfo &i32 = f.get("ids.i32");
  EXPECT_EQ(i32.shape, (std::vector<int64_t>{2, 2}));
  int32_t i32v[4];
  std::memcpy(i32v, i32.data, 16);
  EXPECT_EQ(i32v[3], -4);
  EXPECT_TRUE(f.get("scalar").shape.empty());
  EXPECT_EQ(f.get("empty").byteSize, 0u);

  if (fs::exists(dir_ / "bf16.safetensors")) {
    SafetensorsFile b(dir_ / "bf16.safetensors");
    std::vector<float> bv(8);
    readAsF32(b.get("w.bf16"), bv.data());
    for (int i = 0; i < 8; ++i)
      EXPECT_EQ(bv[i], i * 1.5f);
  }
}

TEST_F(SafetensorsPython, PythonReadsOurFilesAndBytesMatch) {
  std::vector<float> f32 = iota(12, -2);
  std::vector<uint16_t> f16;
  for (float v : iota(5))
    f16.push_back(floatToHalf(v / 8));
  std::vector<int64_t> i64 = {5, -6, 7};
  std::vector<int32_t> i32 = {1, 2};
  float scalar = 9;
  writeSafetensors(dir_ / "ours.safetensors",
                   {{"layer.weight", DType::F32, {3, 4}, f32.data()},
                    {"layer.half", DType::F16, {5}, f16.data()},
                    {"pos", DType::I64, {3}, i64.data()},
                    {"small", DType::I32, {2, 1}, i32.data()},
                    {"scalar", DType::F32, {}, &scalar},
                    {"empty", DType::F32, {2, 0}, nullptr}});
  // Python checks the values, then writes the same tensors itself.
  const char *script = R"PY(
import sys, numpy as np
from safetensors.numpy import load_file, save_file
from safetensors import safe_open
d = sys.argv[1]
t = load_file(d + "/ours.safetensors")
assert t["layer.weight"].dtype == np.float32
assert (t["layer.weight"] == np.arange(12, dtype=np.float32).reshape(3, 4) - 2).all()
assert t["layer.half"].dtype == np.float16
assert (t["layer.half"] == np.arange(5, dtype=np.float16) / 8).all()
assert t["pos"].dtype == np.int64 and list(t["pos"]) == [5, -6, 7]
assert t["small"].dtype == np.int32 and t["small"].shape == (2, 1)
assert t["scalar"].shape == () and t["scalar"] == 9
assert t["empty"].shape == (2, 0)
with safe_open(d + "/ours.safetensors", "np") as f:
    assert f.metadata() == {"format": "pt"}
save_file(t, d + "/theirs.safetensors", metadata={"format": "pt"})
)PY";
  ASSERT_EQ(runPython(py_, dir_, script), 0);
  EXPECT_EQ(readBytes(dir_ / "ours.safetensors"),
            readBytes(dir_ / "theirs.safetensors"))
      << "writeSafetensors output differs from the Python library's";
}

} // namespace
