//===- SafetensorsTest.cpp - safetensors round trips and slices -----------===//
//
// Round trips for every dtype, the layout the Python library writes,
// f16/bf16 conversion and slices against an index-arithmetic reference.
// SafetensorsCorruptTest.cpp has the corrupt files and writer errors,
// CheckpointTest.cpp the diffusers folder layouts, and
// SafetensorsPythonTest.cpp the interop with the Python library.
//
//===----------------------------------------------------------------------===//
#include "test/unit/SafetensorsTestUtil.h"

namespace fs = std::filesystem;
using namespace fresco;
using namespace fresco::test;
using namespace fresco::safetensorstest;

namespace {

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

} // namespace
