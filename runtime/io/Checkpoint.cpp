//===- Checkpoint.cpp - Diffusers model folders as they are on disk -------===//
#include "runtime/io/Checkpoint.h"
#include "runtime/core/BoundedJson.h"
#include "runtime/core/Error.h"
#include "runtime/core/PlainName.h"
#include "runtime/io/KeyAliases.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;

namespace fresco {

namespace {

/// Reads a whole text file; `what` words the error.
std::string readTextFile(const fs::path &p, const std::string &what) {
  std::ifstream in(p, std::ios::binary);
  if (!in)
    fail("cannot read ", what, " '", p.string(), "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad())
    fail("cannot read ", what, " '", p.string(), "'");
  return ss.str();
}

nlohmann::json parseJsonFile(const fs::path &p, const std::string &text) {
  try {
    return parseBoundedJson(text);
  } catch (const nlohmann::json::exception &e) {
    fail("'", p.string(), "' is not valid JSON (", e.what(), ")");
  }
}

bool isFile(const fs::path &p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

} // namespace

const std::vector<std::string> &Checkpoint::weightFileNames() {
  static const std::vector<std::string> kNames = {
      "diffusion_pytorch_model.safetensors",
      "diffusion_pytorch_model.safetensors.index.json",
      "model.safetensors",
      "model.safetensors.index.json",
  };
  return kNames;
}

Checkpoint::~Checkpoint() = default;
Checkpoint::Checkpoint(Checkpoint &&) noexcept = default;
Checkpoint &Checkpoint::operator=(Checkpoint &&) noexcept = default;

Checkpoint::Checkpoint(const std::string &folder) : folder_(folder) {
  std::error_code ec;
  const fs::path dir(folder);
  if (!fs::exists(dir, ec))
    fail("checkpoint folder '", folder, "' does not exist");
  if (!fs::is_directory(dir, ec))
    fail("checkpoint '", folder, "' is not a folder");

  const fs::path configPath = dir / "config.json";
  if (!isFile(configPath))
    fail("checkpoint folder '", folder,
         "' has no config.json (is it a diffusers model folder? a pipeline "
         "folder holds one per component subfolder)");
  configText_ = readTextFile(configPath, "config");
  config_ =
      std::make_unique<nlohmann::json>(parseJsonFile(configPath, configText_));
  if (!config_->is_object())
    fail("'", configPath.string(), "' is not a JSON object");

  for (const std::string &name : weightFileNames()) {
    const fs::path p = dir / name;
    if (!isFile(p))
      continue;
    if (name.size() > 11 &&
        name.compare(name.size() - 11, 11, ".index.json") == 0) {
      openSharded(p.string());
    } else {
      files_.push_back(std::make_unique<SafetensorsFile>(p.string()));
      for (const TensorInfo &t : files_.back()->tensors())
        tensors_.emplace(t.name, &t);
    }
    return;
  }

  std::string tried;
  for (const std::string &name : weightFileNames())
    tried += (tried.empty() ? "" : ", ") + name;
  std::string hint;
  for (const char *pickle :
       {"diffusion_pytorch_model.bin", "pytorch_model.bin"})
    if (isFile(dir / pickle))
      hint = std::string("; it has ") + pickle +
             " (PyTorch pickle), which Fresco does not read: convert it to "
             "safetensors";
  fail("checkpoint folder '", folder, "' has no safetensors weights (tried ",
       tried, ")", hint);
}

void Checkpoint::openSharded(const std::string &indexPath) {
  const std::string text = readTextFile(indexPath, "weight index");
  const nlohmann::json index = parseJsonFile(indexPath, text);
  auto wm = index.is_object() ? index.find("weight_map") : index.end();
  if (!index.is_object() || wm == index.end() || !wm->is_object())
    fail("weight index '", indexPath, "' has no \"weight_map\" object");

  std::unordered_map<std::string, SafetensorsFile *> shards;
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    const std::string &tensor = it.key();
    if (!it.value().is_string())
      fail("weight index '", indexPath, "' maps tensor '", tensor,
           "' to something other than a file name");
    const std::string shard = it.value().get<std::string>();
    auto found = shards.find(shard);
    if (found == shards.end()) {
      // Shards live next to the index; a path elsewhere is a corrupt index.
      if (shard.empty() || shard.find('/') != std::string::npos ||
          shard == "." || shard == "..")
        fail("weight index '", indexPath, "' names shard '", shard,
             "', which is not a plain file name in the same folder");
      const fs::path p = fs::path(folder_) / shard;
      if (!isFile(p))
        fail("weight index '", indexPath, "' names shard '", shard,
             "', which does not exist in '", folder_, "'");
      files_.push_back(std::make_unique<SafetensorsFile>(p.string()));
      found = shards.emplace(shard, files_.back().get()).first;
    }
    const TensorInfo *t = found->second->find(tensor);
    if (!t)
      fail("weight index '", indexPath, "' says tensor '", tensor,
           "' is in shard '", shard, "', but that shard has no such tensor");
    tensors_.emplace(tensor, t);
  }
  // transformers and diffusers load every tensor of each listed shard, the
  // later shard winning: a tensor stored in two of them is ambiguous.
  for (const auto &[shard, file] : shards)
    for (const TensorInfo &t : file->tensors()) {
      auto mapped = wm->find(t.name);
      if (mapped != wm->end() && mapped->get<std::string>() != shard)
        fail("weight index '", indexPath, "' maps tensor '", t.name,
             "' to shard '", mapped->get<std::string>(), "', but shard '",
             shard, "' holds it too: which copy is the weight is ambiguous");
    }
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto &kv : tensors_)
    out.push_back(kv.first);
  std::sort(out.begin(), out.end());
  return out;
}

const TensorInfo *Checkpoint::find(const std::string &name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : it->second;
}

std::string Checkpoint::storedName(const std::string &name) const {
  if (find(name))
    return name;
  for (const std::string &alias : checkpointKeyAliases(name))
    if (find(alias))
      return alias;
  return name;
}

void Checkpoint::releasePages(const TensorInfo &t) const {
  for (const auto &file : files_)
    file->releasePages(t);
}

const TensorInfo &Checkpoint::get(const std::string &name) const {
  const TensorInfo *t = find(name);
  if (!t)
    fail("checkpoint '", folder_, "' has no tensor '", name, "'");
  return *t;
}

const TensorInfo &
Checkpoint::checkShape(const std::string &name,
                       const std::vector<int64_t> &expected) const {
  const TensorInfo &t = get(name);
  if (t.shape != expected)
    fail("tensor '", name, "' in '", folder_, "' has shape ",
         shapeToString(t.shape), ", the model expects ",
         shapeToString(expected));
  return t;
}

std::string resolveComponentFolder(const std::string &folder,
                                   const std::string &component) {
  std::error_code ec;
  const fs::path dir(folder);
  if (!fs::is_directory(dir, ec))
    fail("model folder '", folder, "' does not exist or is not a folder");
  if (!isFile(dir / "model_index.json"))
    return folder;
  // Plans are verified to name plain components; callers with another
  // source of names get the same guarantee.
  if (!isPlainName(component))
    fail("component '", component, "' of '", folder,
         "' is not a plain folder name");
  const fs::path comp = dir / component;
  if (fs::is_directory(comp, ec))
    return comp.string();
  // Name what is there, so a typo or the wrong model type is obvious.
  std::vector<std::string> have;
  for (const auto &e : fs::directory_iterator(dir, ec))
    if (e.is_directory(ec) && isFile(e.path() / "config.json"))
      have.push_back(e.path().filename().string());
  std::sort(have.begin(), have.end());
  std::string list;
  for (const std::string &h : have)
    list += (list.empty() ? "" : ", ") + h;
  fail("pipeline folder '", folder, "' has no '", component, "' component",
       have.empty() ? std::string() : " (it has: " + list + ")");
}

} // namespace fresco
