//===- fresco-random-checkpoint.cpp - Random-weight diffusers folders -----===//
//
// Writes `<out>/config.json` (for a config input) and
// `<out>/diffusion_pytorch_model.safetensors` exactly as diffusers'
// save_pretrained lays a model folder out, with every parameter the model
// builder asks for, drawn from a seeded generator. Tests and demos use it: no
// model weights can be downloaded.
//
//===----------------------------------------------------------------------===//
#include "dialects/Fresco/IR/FrescoOps.h"
#include "models/ModelRegistry.h"
#include "runtime/core/Error.h"
#include "runtime/io/Safetensors.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/xxhash.h"

#include <cmath>
#include <map>
#include <unistd.h>

using namespace llvm;
using namespace mlir;

static cl::OptionCategory category("fresco-random-checkpoint options");
static cl::opt<std::string> configPath(
    cl::Positional, cl::Required,
    cl::desc("<config.json | model.mlir | pipeline-folder> (a .mlir file "
             "gets weights for every fresco.param it declares; a pipeline "
             "folder of configs gets weights for every model component)"),
    cl::cat(category));
static cl::opt<std::string> outDir("o", cl::Required,
                                   cl::desc("output model folder"),
                                   cl::value_desc("folder"), cl::cat(category));
static cl::opt<uint64_t> seed("seed", cl::init(0), cl::desc("random seed"),
                              cl::cat(category));
static cl::opt<std::string> dtype("dtype", cl::init("f32"),
                                  cl::desc("storage dtype: f32, f16 or bf16"),
                                  cl::cat(category));

namespace {

/// splitmix64: a tiny generator whose stream is the same on every platform
/// (std:: distributions are not), so a seed names the same checkpoint.
struct Rng {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double uniform() { return (next() >> 11) * (1.0 / 9007199254740992.0); }
  double normal() { // Box-Muller
    double u1 = uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1 + 1e-300)) *
           std::cos(6.283185307179586 * u2);
  }
};

/// Scales that keep activations O(1) through deep random networks.
void fill(StringRef name, ArrayRef<int64_t> shape, Rng &rng,
          std::vector<float> &out) {
  int64_t n = 1, fanIn = 1;
  for (int64_t d : shape)
    n *= d;
  for (size_t i = 1; i < shape.size(); ++i)
    fanIn *= shape[i];
  out.resize(n);
  bool isTable = name.contains("embedding_table");
  bool isBias = name.ends_with(".bias");
  for (float &v : out) {
    if (isTable)
      v = float(rng.normal());
    else if (isBias)
      v = float((rng.uniform() * 2 - 1) * 0.1);
    else if (shape.size() == 1) // a norm gain
      v = float(1.0 + (rng.uniform() * 2 - 1) * 0.1);
    else
      v = float((rng.uniform() * 2 - 1) / std::sqrt(double(fanIn)));
  }
}

int errorExit(const Twine &msg) {
  WithColor::error(errs(), "fresco-random-checkpoint") << msg << "\n";
  return 1;
}

/// Writes `out`/diffusion_pytorch_model.safetensors with random values for
/// every fresco.param of `module`, plus `out`/config.json (`configText`).
Error writeModelFolder(ModuleOp module, StringRef out, StringRef configText,
                       ::fresco::DType storage, Rng &rng) {
  // Every distinct parameter, in a fixed (sorted) order for reproducibility.
  std::map<std::string, SmallVector<int64_t>> params;
  module->walk([&](mlir::fresco::ParamOp p) {
    params[p.getName().str()] = SmallVector<int64_t>(p.getType().getShape());
  });
  // Every tensor is held in memory until the file is written: refuse, with
  // the size, a config that could not fit (an absurd one would otherwise
  // end in an allocator abort).
  const uint64_t limit = std::min<uint64_t>(
      uint64_t(1) << 36,
      uint64_t(sysconf(_SC_PHYS_PAGES)) * uint64_t(sysconf(_SC_PAGE_SIZE)) / 2);
  uint64_t total = 0;
  for (auto &[name, shape] : params) {
    uint64_t n = ::fresco::dtypeSize(storage);
    for (int64_t d : shape)
      n = d > 0 && n > limit / uint64_t(d) ? limit + 1 : n * uint64_t(d);
    total = std::min(total + n, limit + 1);
  }
  if (total > limit)
    return createStringError(
        inconvertibleErrorCode(),
        "the parameters would take more than " +
            std::to_string(limit >> 30) +
            " GiB (half this machine's memory, at most 64 GiB), which "
            "fresco-random-checkpoint holds in memory while writing: check "
            "the config's sizes");
  if (std::error_code ec = sys::fs::create_directories(out))
    return createStringError(ec, "cannot create " + out + ": " + ec.message());
  std::vector<std::vector<uint8_t>> storageBufs;
  std::vector<::fresco::SafetensorsEntry> entries;
  uint64_t bytes = 0;
  for (auto &[name, shape] : params) {
    std::vector<float> values;
    fill(name, shape, rng, values);
    std::vector<uint8_t> buf(values.size() * ::fresco::dtypeSize(storage));
    for (size_t i = 0; i < values.size(); ++i) {
      if (storage == ::fresco::DType::F32) {
        std::memcpy(buf.data() + 4 * i, &values[i], 4);
      } else {
        uint16_t h = storage == ::fresco::DType::F16
                         ? ::fresco::floatToHalf(values[i])
                         : ::fresco::floatToBf16(values[i]);
        std::memcpy(buf.data() + 2 * i, &h, 2);
      }
    }
    bytes += buf.size();
    storageBufs.push_back(std::move(buf));
    entries.push_back({name, storage,
                       std::vector<int64_t>(shape.begin(), shape.end()),
                       storageBufs.back().data()});
  }
  SmallString<256> weightsPath(out), configOut(out);
  sys::path::append(weightsPath, "diffusion_pytorch_model.safetensors");
  sys::path::append(configOut, "config.json");
  try {
    ::fresco::writeSafetensors(std::string(weightsPath), entries);
  } catch (const ::fresco::Error &e) {
    return createStringError(inconvertibleErrorCode(), e.what());
  }
  std::error_code ec;
  raw_fd_ostream os(configOut, ec);
  if (ec)
    return createStringError(ec, "cannot write " + configOut + ": " +
                                     ec.message());
  os << configText;
  errs() << "fresco-random-checkpoint: wrote " << params.size() << " tensors ("
         << format("%.2f", bytes / 1048576.0) << " MiB, " << dtype << ", seed "
         << seed << ") to " << out << "\n";
  return Error::success();
}

Error copyFile(const Twine &from, const Twine &to) {
  SmallString<256> dir(to.str());
  sys::path::remove_filename(dir);
  if (std::error_code ec = sys::fs::create_directories(dir))
    return createStringError(ec, "cannot create " + dir + ": " + ec.message());
  if (std::error_code ec = sys::fs::copy_file(from, to))
    return createStringError(ec, "cannot copy " + from + " to " + to + ": " +
                                     ec.message());
  return Error::success();
}

/// A pipeline template folder (model_index.json + <component>/config.json,
/// scheduler/scheduler_config.json): random weights for every model
/// component, configs copied. The VAE gets its decoder (all Fresco runs).
Error writePipelineFolder(MLIRContext &ctx, StringRef in, StringRef out,
                          ::fresco::DType storage) {
  SmallString<256> index(in);
  sys::path::append(index, "model_index.json");
  auto text = MemoryBuffer::getFile(index);
  if (!text)
    return createStringError(text.getError(), "cannot read " + index);
  Expected<json::Value> parsed =
      ::fresco::models::parseJson((*text)->getBuffer());
  if (!parsed || !parsed->getAsObject())
    return createStringError(inconvertibleErrorCode(),
                             index + " is not a JSON object");
  SmallString<256> outIndex(out);
  sys::path::append(outIndex, "model_index.json");
  if (Error e = copyFile(index, outIndex))
    return e;
  for (const auto &[key, value] : *parsed->getAsObject()) {
    StringRef component = key;
    if (component.starts_with("_") || !value.getAsArray())
      continue;
    SmallString<256> dir(in), outDir(out);
    sys::path::append(dir, component);
    sys::path::append(outDir, component);
    SmallString<256> config(dir), schedulerConfig(dir);
    sys::path::append(config, "config.json");
    sys::path::append(schedulerConfig, "scheduler_config.json");
    if (sys::fs::exists(schedulerConfig)) {
      SmallString<256> to(outDir);
      sys::path::append(to, "scheduler_config.json");
      if (Error e = copyFile(schedulerConfig, to))
        return e;
      continue;
    }
    auto configText = MemoryBuffer::getFile(config);
    if (!configText)
      return createStringError(configText.getError(),
                               "component '" + component + "' has no " +
                                   config);
    OwningOpRef<ModuleOp> module = ModuleOp::create(UnknownLoc::get(&ctx));
    if (Error e = ::fresco::models::buildComponentFromConfig(
            *module, (*configText)->getBuffer(), component, {}))
      return createStringError(inconvertibleErrorCode(),
                               config + ": " + toString(std::move(e)));
    // Each component draws from its own stream, so its weights do not
    // depend on which other components the folder has.
    Rng rng{seed ^ llvm::xxh3_64bits(component)};
    if (Error e = writeModelFolder(*module, outDir,
                                   (*configText)->getBuffer(), storage, rng))
      return e;
  }
  return Error::success();
}

} // namespace

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  if (!cl::ParseCommandLineOptions(
          argc, argv,
          "fresco-random-checkpoint: write random-weight diffusers folders\n\n"
          "  fresco-random-checkpoint dit-tiny.json -o ./dit-tiny\n"
          "  fresco-random-checkpoint models/dit/pipelines/dit-tiny -o ./pipe\n",
          &errs()))
    return 2;
  ::fresco::DType storage;
  if (dtype == "f32")
    storage = ::fresco::DType::F32;
  else if (dtype == "f16")
    storage = ::fresco::DType::F16;
  else if (dtype == "bf16")
    storage = ::fresco::DType::BF16;
  else {
    errs() << "fresco-random-checkpoint: --dtype must be f32, f16 or bf16\n";
    return 2;
  }

  DialectRegistry registry;
  registry.insert<mlir::fresco::FrescoDialect, func::FuncDialect>();
  MLIRContext ctx(registry);
  ctx.loadAllAvailableDialects();
  Rng rng{seed};
  if (sys::fs::is_directory(configPath)) {
    if (Error e = writePipelineFolder(ctx, configPath, outDir, storage))
      return errorExit(toString(std::move(e)));
    return 0;
  }

  auto config = MemoryBuffer::getFile(configPath);
  if (!config)
    return errorExit("cannot read " + configPath + ": " +
                     config.getError().message());
  bool isMlir = StringRef(configPath).ends_with(".mlir");
  OwningOpRef<ModuleOp> module;
  std::string configText = (*config)->getBuffer().str();
  if (isMlir) {
    SourceMgr sm;
    sm.AddNewSourceBuffer(
        MemoryBuffer::getMemBufferCopy((*config)->getBuffer(), configPath),
        SMLoc());
    SourceMgrDiagnosticHandler handler(sm, &ctx);
    module = parseSourceFile<ModuleOp>(sm, &ctx);
    if (!module)
      return errorExit("cannot parse " + configPath);
    // A model folder always has a config.json; for IR, record the source.
    std::string s;
    raw_string_ostream os(s);
    os << json::Value(json::Object{{"_class_name", "FrescoMLIRModel"},
                                   {"source", configPath.getValue()}})
       << "\n";
    configText = os.str();
  } else {
    module = ModuleOp::create(UnknownLoc::get(&ctx));
    if (Error e = ::fresco::models::buildComponentFromConfig(
            *module, (*config)->getBuffer(), "model", {}))
      return errorExit(configPath + ": " + toString(std::move(e)));
  }
  if (Error e = writeModelFolder(*module, outDir, configText, storage, rng))
    return errorExit(toString(std::move(e)));
  return 0;
}
