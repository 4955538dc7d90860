//===- SafetensorsCorruptTest.cpp - corrupt safetensors files -------------===//
//
// Every corruption must be a fresco::Error with a message naming the
// problem, never a crash; and the writer's own errors.
//
//===----------------------------------------------------------------------===//
#include "test/unit/SafetensorsTestUtil.h"

namespace fs = std::filesystem;
using namespace fresco;
using namespace fresco::test;
using namespace fresco::safetensorstest;

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

} // namespace
