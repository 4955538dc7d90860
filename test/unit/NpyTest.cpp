//===- NpyTest.cpp - NumPy .npy reader/writer tests -----------------------===//
//
// Round trips, the header dialects numpy has written over the years, and
// malformed files (each a fresco::Error, never a crash). Interop with numpy
// itself runs when a Python with numpy and safetensors is found
// (FRESCO_PYTHON, <repo>/.venv/bin/python, /usr/bin/python3) and is skipped
// visibly otherwise.
//
//===----------------------------------------------------------------------===//
#include "runtime/io/Npy.h"
#include "runtime/core/Error.h"
#include "test/unit/TestUtil.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

namespace fs = std::filesystem;
using namespace fresco;
using namespace fresco::test;

namespace {

/// A .npy file with an arbitrary header text (padded with spaces and a
/// newline as numpy does unless `raw`) and data section.
std::vector<uint8_t> makeNpy(const std::string &header, size_t dataBytes,
                             int major = 1, bool raw = false) {
  std::string h = header;
  const size_t prefix = major == 1 ? 10 : 12;
  if (!raw) {
    h.append(64 - (prefix + h.size() + 1) % 64, ' ');
    h += '\n';
  }
  std::vector<uint8_t> out = {0x93, 'N', 'U', 'M', 'P', 'Y', uint8_t(major), 0};
  uint32_t len = uint32_t(h.size());
  out.push_back(uint8_t(len));
  out.push_back(uint8_t(len >> 8));
  if (major != 1) {
    out.push_back(uint8_t(len >> 16));
    out.push_back(uint8_t(len >> 24));
  }
  out.insert(out.end(), h.begin(), h.end());
  for (size_t i = 0; i < dataBytes; ++i)
    out.push_back(uint8_t(i));
  return out;
}

NpyArray parse(const std::vector<uint8_t> &bytes) {
  return parseNpy(bytes.data(), bytes.size(), "mem.npy");
}

//===----------------------------------------------------------------------===//
// Round trips and layout
//===----------------------------------------------------------------------===//

TEST(Npy, RoundTrip) {
  TempDir dir;
  std::vector<float> f32 = {1.5f, -2, 0, 3.25f, 4, 5};
  std::vector<uint16_t> f16 = {floatToHalf(0.5f), floatToHalf(-1), 0x7bff};
  std::vector<int64_t> i64 = {-1, 1LL << 50};
  std::vector<int32_t> i32 = {7, -8, 9, 10};
  struct Case {
    DType dtype;
    std::vector<int64_t> shape;
    const void *data;
  };
  std::vector<Case> cases = {
      {DType::F32, {2, 3}, f32.data()},       {DType::F32, {6}, f32.data()},
      {DType::F32, {1, 2, 1, 3}, f32.data()}, {DType::F32, {}, f32.data()},
      {DType::F32, {0, 4}, nullptr},          {DType::F16, {3}, f16.data()},
      {DType::I64, {2, 1}, i64.data()},       {DType::I32, {4}, i32.data()}};
  for (const Case &c : cases) {
    SCOPED_TRACE(std::string(dtypeName(c.dtype)) + " " +
                 shapeToString(c.shape));
    const std::string p = dir / "a.npy";
    writeNpy(p, c.dtype, c.shape, c.data);
    NpyArray a = readNpy(p);
    EXPECT_EQ(a.dtype, c.dtype);
    EXPECT_EQ(a.shape, c.shape);
    size_t bytes = size_t(numElements(c.shape)) * dtypeSize(c.dtype);
    ASSERT_EQ(a.data.size(), bytes);
    if (bytes) {
      EXPECT_EQ(std::memcmp(a.data.data(), c.data, bytes), 0);
    }
    // numpy aligns the data to 64 bytes.
    EXPECT_EQ((readBytes(p).size() - bytes) % 64, 0u);
    EXPECT_EQ(encodeNpy(c.dtype, c.shape, c.data), readBytes(p));
  }
}

TEST(Npy, ToF32) {
  std::vector<uint16_t> f16 = {floatToHalf(0.5f), floatToHalf(-1)};
  std::vector<uint8_t> bytes = encodeNpy(DType::F16, {2}, f16.data());
  EXPECT_EQ(parse(bytes).toF32(), (std::vector<float>{0.5f, -1}));
  std::vector<float> f32 = {1, 2};
  EXPECT_EQ(parse(encodeNpy(DType::F32, {2}, f32.data())).toF32(), f32);
  int32_t i = 3;
  NpyArray ints = parse(encodeNpy(DType::I32, {}, &i));
  expectError([&] { ints.toF32(); }, {"i32"});
}

// The exact header numpy 1.24+ writes (with its room to grow axis 0).
TEST(Npy, HeaderMatchesNumpy) {
  std::vector<float> z(6, 0.0f);
  std::vector<uint8_t> b = encodeNpy(DType::F32, {2, 3}, z.data());
  ASSERT_EQ(b.size(), 152u);
  std::string expect("\x93NUMPY\x01\x00v\x00", 10);
  expect += "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  expect.append(58, ' ');
  expect += '\n';
  EXPECT_EQ(std::string(b.begin(), b.begin() + 128), expect);
  int64_t s = 0;
  b = encodeNpy(DType::I64, {}, &s);
  EXPECT_EQ(b.size(), 136u);
  EXPECT_EQ(std::string(b.begin() + 10, b.begin() + 65),
            "{'descr': '<i8', 'fortran_order': False, 'shape': (), }");
  std::vector<uint16_t> h(7, 0);
  b = encodeNpy(DType::F16, {7}, h.data());
  EXPECT_EQ(b.size(), 142u);
  EXPECT_EQ(std::string(b.begin() + 10, b.begin() + 67),
            "{'descr': '<f2', 'fortran_order': False, 'shape': (7,), }");
}

TEST(Npy, HeaderDialects) {
  // Double quotes, no trailing comma, other key order, odd spacing.
  NpyArray a = parse(
      makeNpy(R"({"shape":(2,3),"fortran_order":False,"descr":"<f4"})", 24));
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a.dtype, DType::F32);
  // Python 2 longs and a trailing comma in the shape.
  a = parse(makeNpy(
      "{'descr': '<i8', 'fortran_order': False, 'shape': (2L, 1L,), }", 16));
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(a.dtype, DType::I64);
  // Native byte order and 0-d.
  a = parse(
      makeNpy("{'descr': '=i4', 'fortran_order': False, 'shape': ()}", 4));
  EXPECT_TRUE(a.shape.empty());
  EXPECT_EQ(a.dtype, DType::I32);
  // Versions 2.0 and 3.0 (4-byte header length).
  for (int major : {2, 3}) {
    a = parse(
        makeNpy("{'descr': '<f2', 'fortran_order': False, 'shape': (5,), }", 10,
                major));
    EXPECT_EQ(a.shape, (std::vector<int64_t>{5}));
    EXPECT_EQ(a.dtype, DType::F16);
  }
  // Unpadded header (still valid: alignment is a courtesy).
  a = parse(makeNpy("{'descr':'<f4','fortran_order':False,'shape':(1,)}", 4, 1,
                    true));
  EXPECT_EQ(a.numel(), 1);
}

//===----------------------------------------------------------------------===//
// Malformed files
//===----------------------------------------------------------------------===//

TEST(NpyCorrupt, BadMagicAndVersions) {
  std::vector<uint8_t> good =
      makeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 8);
  std::vector<uint8_t> b = good;
  b[1] = 'X';
  expectError([&] { parse(b); }, {"mem.npy", "bad magic"});
  b = good;
  b[0] = 0;
  expectError([&] { parse(b); }, {"bad magic"});
  b = good;
  b[6] = 4;
  expectError([&] { parse(b); }, {"version 4.0"});
  b = good;
  b[7] = 1;
  expectError([&] { parse(b); }, {"version 1.1"});
  const char pngBytes[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
  std::string png(pngBytes, sizeof(pngBytes) - 1);
  expectError([&] { parse(std::vector<uint8_t>(png.begin(), png.end())); },
              {"bad magic"});
}

TEST(NpyCorrupt, Truncated) {
  std::vector<float> v(10, 1.0f);
  const std::vector<uint8_t> good = encodeNpy(DType::F32, {2, 5}, v.data());
  // Every cut point, from the empty file to one byte short.
  for (size_t cut = 0; cut < good.size(); ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    expectError([&] { parseNpy(good.data(), cut, "t.npy"); }, {"t.npy"});
  }
  expectError([&] { parseNpy(good.data(), good.size() - 4, "t.npy"); },
              {"data is 36 bytes", "need 40", "truncated"});
  // Extra bytes after the data are also a size mismatch.
  std::vector<uint8_t> longer = good;
  longer.push_back(0);
  expectError([&] { parse(longer); }, {"data is 41 bytes"});
  // Header length beyond the file.
  std::vector<uint8_t> b = good;
  b[8] = 0xff;
  b[9] = 0xff;
  expectError([&] { parse(b); }, {"header length 65535", "truncated"});
  std::vector<uint8_t> v2 = makeNpy(
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 4, 2);
  v2[11] = 0x7f;
  expectError([&] { parse(v2); }, {"header length"});
}

TEST(NpyCorrupt, UnsupportedContent) {
  auto hdr = [](const std::string &descr, const std::string &fortran,
                const std::string &shape) {
    return "{'descr': " + descr + ", 'fortran_order': " + fortran +
           ", 'shape': " + shape + ", }";
  };
  expectError([&] { parse(makeNpy(hdr("'<f4'", "True", "(2, 3)"), 24)); },
              {"Fortran-order", "ascontiguousarray"});
  expectError([&] { parse(makeNpy(hdr("'>f4'", "False", "(2,)"), 8)); },
              {"big-endian", "'>f4'"});
  expectError([&] { parse(makeNpy(hdr("'>i8'", "False", "(2,)"), 16)); },
              {"big-endian"});
  expectError([&] { parse(makeNpy(hdr("'<f8'", "False", "(2,)"), 16)); },
              {"float64", "np.float32"});
  for (const char *d :
       {"'|b1'", "'|u1'", "'<u4'", "'<c8'", "'|i1'", "'<U5'", "'f4'", "''"})
    expectError([&] { parse(makeNpy(hdr(d, "False", "(2,)"), 8)); },
                {"unsupported dtype"});
  expectError(
      [&] {
        parse(
            makeNpy(hdr("[('a', '<f4'), ('b', '<i4')]", "False", "(2,)"), 16));
      },
      {"structured"});
  expectError([&] { parse(makeNpy(hdr("'<f4'", "False", "(-1,)"), 8)); },
              {"negative"});
  expectError(
      [&] {
        parse(makeNpy(hdr("'<f4'", "False", "(99999999999999999999,)"), 8));
      },
      {"too large"});
  expectError(
      [&] {
        parse(makeNpy(
            hdr("'<f4'", "False", "(4294967296, 4294967296, 4294967296)"), 8));
      },
      {"too large"});
}

TEST(NpyCorrupt, MalformedHeaders) {
  for (const char *h : {
           "",
           "not a dict",
           "{'descr': '<f4', 'fortran_order': False}",
           "{'descr': '<f4', 'shape': (2,)}",
           "{'fortran_order': False, 'shape': (2,)}",
           "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)",
           "{'descr': '<f4', 'fortran_order': false, 'shape': (2,)}",
           "{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}",
           "{'descr': '<f4', 'fortran_order': False, 'shape': [2]}",
           "{'descr': '<f4', 'fortran_order': False, 'shape': (2 2)}",
           "{'descr': '<f4', 'fortran_order': False, 'shape': (a,)}",
           "{'descr': <f4, 'fortran_order': False, 'shape': (2,)}",
           "{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}",
           "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}",
           "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} junk",
       }) {
    SCOPED_TRACE(h);
    expectError([&] { parse(makeNpy(h, 8)); }, {"mem.npy"});
  }
}

TEST(Npy, FileErrors) {
  TempDir dir;
  expectError([&] { readNpy(dir / "missing.npy"); },
              {"missing.npy", "No such file"});
  float x = 1;
  expectError([&] { writeNpy(dir / "no/dir/x.npy", DType::F32, {1}, &x); },
              {"cannot write .npy file", "no/dir/x.npy"});
  uint16_t bf = 0;
  expectError([&] { writeNpy(dir / "b.npy", DType::BF16, {1}, &bf); },
              {"b.npy", "bf16"});
  expectError([&] { writeNpy(dir / "n.npy", DType::F32, {-2}, &x); },
              {"n.npy", "invalid shape"});
  expectError([&] { writeNpy(dir / "n.npy", DType::F32, {2}, nullptr); },
              {"no data"});
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

//===----------------------------------------------------------------------===//
// Interop with numpy
//===----------------------------------------------------------------------===//

TEST(NpyPython, InteropWithNumpy) {
  // safetensors too: one probe (and skip reason) with the safetensors tests.
  std::string why;
  const std::string py = findPython({"safetensors", "numpy"}, why);
  if (py.empty())
    GTEST_SKIP() << why;
  TempDir dir;
  std::vector<float> ours = {1, 2, 3, 4, 5, 6};
  writeNpy(dir / "ours.npy", DType::F32, {3, 2}, ours.data());
  std::vector<int64_t> oursI = {-3, 4};
  writeNpy(dir / "ours_i64.npy", DType::I64, {2}, oursI.data());
  const char *script = R"PY(
import sys, numpy as np
d = sys.argv[1]
a = np.load(d + "/ours.npy")
assert a.dtype == np.float32 and a.shape == (3, 2), (a.dtype, a.shape)
assert (a == np.arange(1, 7, dtype=np.float32).reshape(3, 2)).all()
assert list(np.load(d + "/ours_i64.npy")) == [-3, 4]
np.save(d + "/theirs.npy", np.arange(1, 7, dtype=np.float32).reshape(3, 2))
np.save(d + "/f16.npy", (np.arange(4, dtype=np.float16) - 1) / 2)
np.save(d + "/i32.npy", np.array([[1, -2, 3]], dtype=np.int32))
np.save(d + "/i64_0d.npy", np.array(-9, dtype=np.int64))
np.save(d + "/empty.npy", np.zeros((0, 5), dtype=np.float32))
np.save(d + "/fortran.npy", np.asfortranarray(np.ones((2, 3), np.float32)))
np.save(d + "/f64.npy", np.ones(3))
np.save(d + "/big.npy", np.ones(3, dtype=">f4"))
np.save(d + "/bool.npy", np.ones(3, dtype=bool))
with open(d + "/v2.npy", "wb") as f:
    np.lib.format.write_array(f, np.ones(2, np.float32), version=(2, 0))
with open(d + "/v3.npy", "wb") as f:
    np.lib.format.write_array(f, np.ones(2, np.float32), version=(3, 0))
)PY";
  ASSERT_EQ(runPython(py, dir, script), 0);

  EXPECT_EQ(readBytes(dir / "ours.npy"), readBytes(dir / "theirs.npy"))
      << "writeNpy output differs from numpy.save's";
  NpyArray a = readNpy(dir / "f16.npy");
  EXPECT_EQ(a.dtype, DType::F16);
  EXPECT_EQ(a.toF32(), (std::vector<float>{-0.5f, 0, 0.5f, 1}));
  a = readNpy(dir / "i32.npy");
  EXPECT_EQ(a.dtype, DType::I32);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{1, 3}));
  int32_t iv[3];
  std::memcpy(iv, a.data.data(), 12);
  EXPECT_EQ(iv[1], -2);
  a = readNpy(dir / "i64_0d.npy");
  EXPECT_TRUE(a.shape.empty());
  int64_t s;
  std::memcpy(&s, a.data.data(), 8);
  EXPECT_EQ(s, -9);
  a = readNpy(dir / "empty.npy");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{0, 5}));
  EXPECT_TRUE(a.data.empty());
  for (const char *v : {"v2.npy", "v3.npy"})
    EXPECT_EQ(readNpy(dir / v).toF32(), (std::vector<float>{1, 1}));
  expectError([&] { readNpy(dir / "fortran.npy"); }, {"Fortran"});
  expectError([&] { readNpy(dir / "f64.npy"); }, {"float64"});
  expectError([&] { readNpy(dir / "big.npy"); }, {"big-endian"});
  expectError([&] { readNpy(dir / "bool.npy"); }, {"unsupported dtype '|b1'"});
}

} // namespace
