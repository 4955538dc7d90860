//===- CheckpointTest.cpp - checkpoint folder tests -----------------------===//
//
// Diffusers and transformers checkpoint folders: single files, shards
// with an index, and their errors.
//
//===----------------------------------------------------------------------===//
#include "test/unit/SafetensorsTestUtil.h"

namespace fs = std::filesystem;
using namespace fresco;
using namespace fresco::test;
using namespace fresco::safetensorstest;

namespace {

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
  // A tensor in two listed shards: the loaders' last shard would win.
  float y = 2;
  writeSafetensors(dir / "shard2.safetensors",
                   {{"a", DType::F32, {1}, &y}, {"b", DType::F32, {1}, &y}});
  expectIndexError(R"({"weight_map": {"a": "shard1.safetensors",
                       "b": "shard2.safetensors"}})",
                   {"tensor 'a'", "shard 'shard2.safetensors' holds it too"});
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
  // The parent folder exists, but a component never leads out of the
  // folder given (issue 15).
  expectError([&] { resolveComponentFolder(dir.path(), ".."); },
              {"component '..'", "not a plain folder name"});
  expectError([&] { resolveComponentFolder(dir.path(), "vae/../../x"); },
              {"not a plain folder name"});
}

} // namespace
