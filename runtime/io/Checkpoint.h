//===- Checkpoint.h - Diffusers model folders on disk -----------*- C++ -*-===//
//
// A diffusers component folder (transformer/, unet/, vae/, text_encoder/)
// holds config.json and its weights, either in one safetensors file or in
// shards listed by a "*.safetensors.index.json" weight map. Checkpoint opens
// such a folder without conversion: every shard is mmapped once and tensors
// are looked up by their diffusers names.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_IO_CHECKPOINT_H
#define FRESCO_RUNTIME_IO_CHECKPOINT_H

#include "runtime/io/Safetensors.h"

#include <nlohmann/json_fwd.hpp>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace fresco {

/// One model component's weights and config. Move-only.
class Checkpoint {
public:
  /// Opens `folder`; throws fresco::Error naming the folder and the problem
  /// (missing folder, missing or invalid config.json, no weights, bad index,
  /// missing shard, corrupt safetensors).
  explicit Checkpoint(const std::string &folder);
  ~Checkpoint();
  Checkpoint(Checkpoint &&) noexcept;
  Checkpoint &operator=(Checkpoint &&) noexcept;

  /// Weight file names tried, in order: single files before index files,
  /// diffusers names before transformers names.
  static const std::vector<std::string> &weightFileNames();

  const std::string &folder() const { return folder_; }
  /// config.json as read, and parsed.
  const std::string &configText() const { return configText_; }
  const nlohmann::json &config() const { return *config_; }

  /// All tensor names, sorted.
  std::vector<std::string> names() const;
  size_t size() const { return tensors_.size(); }
  /// nullptr when there is no tensor of that name.
  const TensorInfo *find(const std::string &name) const;
  /// The name tensor `name` is stored under: `name` itself, else the first
  /// of its older names (KeyAliases.h) that is present, else `name` (so
  /// that get() names the tensor the caller asked for).
  std::string storedName(const std::string &name) const;
  /// Error "checkpoint X has no tensor 'name'" when it is missing.
  const TensorInfo &get(const std::string &name) const;
  /// get() plus a shape check: "tensor 'name' in X has shape [a, b], the
  /// model expects [c, d]".
  const TensorInfo &checkShape(const std::string &name,
                               const std::vector<int64_t> &expected) const;

  /// SafetensorsFile::releasePages on the shard holding `t`.
  void releasePages(const TensorInfo &t) const;

  /// The safetensors files opened (one, or one per shard).
  const std::vector<std::unique_ptr<SafetensorsFile>> &files() const {
    return files_;
  }

private:
  void openSharded(const std::string &indexPath);

  std::string folder_;
  std::string configText_;
  std::unique_ptr<nlohmann::json> config_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  // Points into files_: the unique_ptrs keep the TensorInfos in place.
  std::unordered_map<std::string, const TensorInfo *> tensors_;
};

/// For a pipeline folder (one with model_index.json) returns
/// folder/component, an error if that subfolder is missing; for any other
/// folder returns `folder` itself, so users may point at either.
std::string resolveComponentFolder(const std::string &folder,
                                   const std::string &component);

} // namespace fresco

#endif // FRESCO_RUNTIME_IO_CHECKPOINT_H
