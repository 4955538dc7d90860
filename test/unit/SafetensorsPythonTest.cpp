//===- SafetensorsPythonTest.cpp - interop with Python safetensors --------===//
//
// Runs when a Python with safetensors and numpy is found (FRESCO_PYTHON,
// <repo>/.venv/bin/python, /usr/bin/python3) and is skipped visibly
// otherwise.
//
//===----------------------------------------------------------------------===//
#include "test/unit/SafetensorsTestUtil.h"

namespace fs = std::filesystem;
using namespace fresco;
using namespace fresco::test;
using namespace fresco::safetensorstest;

namespace {

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
