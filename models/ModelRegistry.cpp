//===- ModelRegistry.cpp - config.json -> fresco IR -----------------------===//
#include "models/ModelRegistry.h"
#include "models/dit/DiTBuilder.h"

#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

using namespace llvm;

namespace fresco::models {

static Error makeError(const Twine &msg) {
  return createStringError(inconvertibleErrorCode(), msg);
}

Error buildComponentFromConfig(mlir::ModuleOp module, StringRef configText,
                               StringRef component,
                               const BuildOptions &options) {
  Expected<json::Value> parsed = json::parse(configText);
  if (!parsed)
    return makeError("config.json is not valid JSON: " +
                     toString(parsed.takeError()));
  const json::Object *obj = parsed->getAsObject();
  if (!obj)
    return makeError("config.json must hold a JSON object");
  if (options.batch < 1)
    return makeError("batch must be at least 1");
  if (DiTConfig::matches(*obj)) {
    Expected<DiTConfig> config = DiTConfig::fromJSON(*obj);
    if (!config)
      return config.takeError();
    buildDiT(module, *config, options.batch, component);
    return Error::success();
  }
  auto cls = obj->getString("_class_name");
  return makeError("model class '" + (cls ? *cls : StringRef("<missing>")) +
                   "' is not supported; supported: DiTTransformer2DModel, "
                   "Transformer2DModel with norm_type 'ada_norm_zero'");
}

Error buildComponentFromFolder(mlir::ModuleOp module, StringRef folder,
                               StringRef component,
                               const BuildOptions &options) {
  SmallString<256> path(folder);
  sys::path::append(path, "config.json");
  auto buf = MemoryBuffer::getFile(path);
  if (!buf)
    return makeError("cannot read " + path + ": " + buf.getError().message());
  if (Error e = buildComponentFromConfig(module, (*buf)->getBuffer(), component,
                                         options))
    return makeError(path + ": " + toString(std::move(e)));
  return Error::success();
}

} // namespace fresco::models
