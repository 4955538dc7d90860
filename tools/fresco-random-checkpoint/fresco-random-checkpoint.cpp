//===- fresco-random-checkpoint.cpp - Random-weight diffusers folders -----===//
//
// Writes `<out>/config.json` (for a config input) and
// `<out>/diffusion_pytorch_model.safetensors` exactly as diffusers'
// save_pretrained lays a model folder out, with every parameter the model
// builder asks for, drawn from a seeded generator. Tests and demos use it: no
// model weights can be downloaded. A pipeline template folder gets every
// component: weights for the models (model.safetensors for transformers'
// text encoders) and vocabulary files for the tokenizers (RandomTokenizers.h).
//
//===----------------------------------------------------------------------===//
#include "RandomTokenizers.h"

#include "dialects/Fresco/IR/FrescoOps.h"
#include "models/ModelRegistry.h"
#include "runtime/core/CheckedMath.h"
#include "runtime/core/Error.h"
#include "runtime/core/PlanVersion.h"
#include "runtime/io/Safetensors.h"
#include "runtime/text/ClipTokenizer.h"
#include "runtime/text/T5Tokenizer.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Config/llvm-config.h"
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
  // Lookup tables (DiT's class table, CLIP's token and position tables, T5's
  // shared table) are N(0, 1), as nn.Embedding initialises them.
  bool isTable = name.contains("embedding_table") ||
                 name.ends_with("_embedding.weight") || name == "shared.weight";
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

/// Writes `out`/`weightsName` with random values for every fresco.param of
/// `module`, plus `out`/config.json (`configText`).
Error writeModelFolder(
    ModuleOp module, StringRef out, StringRef configText,
    ::fresco::DType storage, Rng &rng,
    StringRef weightsName = "diffusion_pytorch_model.safetensors") {
  // Every distinct parameter, in a fixed (sorted) order for reproducibility.
  std::map<std::string, SmallVector<int64_t>> params;
  std::optional<std::string> foreign;
  module->walk([&](mlir::fresco::ParamOp p) {
    if (std::optional<StringRef> c = p.getComponent())
      foreign = c->str();
    params[p.getName().str()] = SmallVector<int64_t>(p.getType().getShape());
  });
  // One folder per model: a parameter of another component's checkpoint (a
  // ControlNet's, in its UNet's function) would land in the wrong one.
  if (foreign)
    return createStringError(inconvertibleErrorCode(),
                             "the module reads parameters of component '" +
                                 *foreign +
                                 "', which this tool does not write");
  // Every tensor is held in memory until the file is written: refuse, with
  // the size, a config that could not fit (an absurd one would otherwise
  // end in an allocator abort).
  const uint64_t limit = std::min<uint64_t>(
      uint64_t(1) << 36,
      uint64_t(sysconf(_SC_PHYS_PAGES)) * uint64_t(sysconf(_SC_PAGE_SIZE)) / 2);
  uint64_t total = 0;
  for (auto &[name, shape] : params) {
    std::optional<int64_t> n = ::fresco::checkedProduct(shape);
    if (n)
      n = ::fresco::checkedMul(*n, ::fresco::dtypeSize(storage));
    total = n && uint64_t(*n) <= limit
                ? std::min<uint64_t>(total + uint64_t(*n), limit + 1)
                : limit + 1;
  }
  if (total > limit)
    return createStringError(
        inconvertibleErrorCode(),
        "the parameters would take more than " + std::to_string(limit >> 30) +
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
  sys::path::append(weightsPath, weightsName);
  sys::path::append(configOut, "config.json");
  try {
    ::fresco::writeSafetensors(std::string(weightsPath), entries);
  } catch (const ::fresco::Error &e) {
    return createStringError(inconvertibleErrorCode(), e.what());
  }
  std::error_code ec;
  raw_fd_ostream os(configOut, ec);
  if (ec)
    return createStringError(ec,
                             "cannot write " + configOut + ": " + ec.message());
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

Error makeError(const Twine &msg) {
  return createStringError(inconvertibleErrorCode(), msg);
}

/// `dir`/`name` parsed as a JSON object.
Expected<json::Object> readObject(StringRef dir, StringRef name) {
  SmallString<256> path(dir);
  sys::path::append(path, name);
  auto text = MemoryBuffer::getFile(path);
  if (!text)
    return makeError("cannot read " + path + ": " + text.getError().message());
  Expected<json::Value> parsed =
      ::fresco::models::parseJson((*text)->getBuffer());
  if (!parsed)
    return makeError(path +
                     " is not valid JSON: " + toString(parsed.takeError()));
  if (!parsed->getAsObject())
    return makeError(path + " must hold a JSON object");
  return std::move(*parsed->getAsObject());
}

/// A positive integer `key` of the config of the text encoder that the
/// tokenizer `component` feeds (diffusers pairs tokenizer<suffix> with
/// text_encoder<suffix>).
Expected<int64_t> encoderInt(StringRef in, StringRef component, StringRef key) {
  std::string encoder =
      ("text_encoder" + component.drop_front(StringRef("tokenizer").size()))
          .str();
  SmallString<256> dir(in);
  sys::path::append(dir, encoder);
  Expected<json::Object> config = readObject(dir, "config.json");
  if (!config)
    return makeError("the tokenizer '" + component + "' is sized by its " +
                     "text encoder '" + encoder +
                     "': " + toString(config.takeError()));
  std::optional<int64_t> v = config->getInteger(key);
  if (!v || *v <= 0)
    return makeError(dir + "/config.json has no positive integer '" + key +
                     "', which sizes the tokenizer '" + component + "'");
  return *v;
}

/// Copies every .json file of the template tokenizer folder `from` (its
/// configs) to `to`; tokenizer_config.json is required.
Error copyTokenizerConfigs(StringRef from, StringRef to) {
  SmallString<256> config(from);
  sys::path::append(config, "tokenizer_config.json");
  if (!sys::fs::exists(config))
    return makeError("tokenizer template " + from +
                     " has no tokenizer_config.json");
  if (std::error_code ec = sys::fs::create_directories(to))
    return makeError("cannot create " + to + ": " + ec.message());
  std::error_code ec;
  for (sys::fs::directory_iterator it(from, ec), end; it != end && !ec;
       it.increment(ec)) {
    StringRef name = sys::path::filename(it->path());
    if (!name.ends_with(".json"))
      continue;
    SmallString<256> dst(to);
    sys::path::append(dst, name);
    if (Error e = copyFile(it->path(), dst))
      return e;
  }
  if (ec)
    return makeError("cannot list " + from + ": " + ec.message());
  return Error::success();
}

/// A CLIP tokenizer: the template's configs and a vocabulary of the text
/// encoder's vocab_size; checked by loading it with the runtime's tokenizer.
Error writeClipTokenizer(StringRef in, StringRef out, StringRef component) {
  Expected<int64_t> vocab = encoderInt(in, component, "vocab_size");
  if (!vocab)
    return vocab.takeError();
  Expected<int64_t> positions =
      encoderInt(in, component, "max_position_embeddings");
  if (!positions)
    return positions.takeError();
  SmallString<256> dir(in);
  sys::path::append(dir, component);
  if (Error e = copyTokenizerConfigs(dir, out))
    return e;
  if (Error e = ::fresco::randomckpt::writeClipVocabulary(out, *vocab))
    return makeError(out + ": " + toString(std::move(e)));
  try {
    auto tok = ::fresco::ClipTokenizer::load(out.str());
    // The CLIP encoder takes max_position_embeddings tokens, always.
    if (tok.modelMaxLength() != *positions)
      return makeError(dir + "/tokenizer_config.json: model_max_length " +
                       Twine(tok.modelMaxLength()) +
                       " differs from the text encoder's "
                       "max_position_embeddings " +
                       Twine(*positions));
  } catch (const ::fresco::Error &e) {
    return makeError(e.what());
  }
  errs() << "fresco-random-checkpoint: wrote a CLIP BPE vocabulary of "
         << *vocab << " tokens to " << out << "\n";
  return Error::success();
}

/// A T5 tokenizer: the template's configs and a SentencePiece model whose
/// pieces and the config's extra ids fit the text encoder's vocab_size.
Error writeT5Tokenizer(StringRef in, StringRef out, StringRef component) {
  Expected<int64_t> vocab = encoderInt(in, component, "vocab_size");
  if (!vocab)
    return vocab.takeError();
  SmallString<256> dir(in);
  sys::path::append(dir, component);
  Expected<json::Object> config = readObject(dir, "tokenizer_config.json");
  if (!config)
    return config.takeError();
  // T5Tokenizer's default: 100 <extra_id_N> after the pieces.
  const int64_t extra = config->getInteger("extra_ids").value_or(100);
  if (extra < 0 || *vocab - extra < 16)
    return makeError(dir + ": the text encoder's vocab_size " + Twine(*vocab) +
                     " leaves " + Twine(*vocab - extra) +
                     " SentencePiece pieces after " + Twine(extra) +
                     " extra ids; at least 16 are needed");
  if (Error e = copyTokenizerConfigs(dir, out))
    return e;
  if (Error e = ::fresco::randomckpt::writeT5SentencePiece(out, *vocab - extra))
    return makeError(out + ": " + toString(std::move(e)));
  int64_t size = 0;
  try {
    size = ::fresco::T5Tokenizer::load(out.str()).vocabSize();
  } catch (const ::fresco::Error &e) {
    return makeError(e.what());
  }
  if (size > *vocab)
    return makeError(out + ": the tokenizer has " + Twine(size) +
                     " ids, more than the text encoder's vocab_size " +
                     Twine(*vocab));
  errs() << "fresco-random-checkpoint: wrote a T5 SentencePiece model (" << size
         << " ids with the extra ids) to " << out << "\n";
  return Error::success();
}

/// A pipeline template folder (model_index.json + <component>/config.json,
/// scheduler/scheduler_config.json, tokenizer configs): random weights for
/// every model component, vocabulary files for every tokenizer, configs
/// copied. The VAE gets its decoder (all Fresco runs).
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
    const json::Array *entry = value.getAsArray();
    if (component.starts_with("_") || !entry)
      continue;
    // [library, class]; diffusers writes [null, null] for an absent one.
    std::optional<StringRef> library, cls;
    if (entry->size() == 2) {
      library = (*entry)[0].getAsString();
      cls = (*entry)[1].getAsString();
    }
    if (entry->size() == 2 && !library && !cls)
      continue;
    // The key names a subfolder: nothing may be written outside -o.
    if (component.empty() || component == "." || component == ".." ||
        component.find_first_of("/\\") != StringRef::npos)
      return createStringError(inconvertibleErrorCode(),
                               index + ": component '" + component +
                                   "' is not a plain folder name");
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
    if (cls && cls->contains("Tokenizer")) {
      Error e = cls->starts_with("CLIPTokenizer")
                    ? writeClipTokenizer(in, outDir, component)
                : cls->starts_with("T5Tokenizer")
                    ? writeT5Tokenizer(in, outDir, component)
                    : makeError("component '" + component +
                                "': tokenizer "
                                "class '" +
                                *cls +
                                "' is not supported "
                                "(CLIPTokenizer, T5Tokenizer, their Fast "
                                "forms)");
      if (e)
        return e;
      continue;
    }
    auto configText = MemoryBuffer::getFile(config);
    if (!configText)
      return createStringError(configText.getError(), "component '" +
                                                          component +
                                                          "' has no " + config);
    OwningOpRef<ModuleOp> module = ModuleOp::create(UnknownLoc::get(&ctx));
    if (Error e = ::fresco::models::buildComponentFromConfig(
            *module, (*configText)->getBuffer(), component, {}))
      return createStringError(inconvertibleErrorCode(),
                               config + ": " + toString(std::move(e)));
    // Each component draws from its own stream, so its weights do not
    // depend on which other components the folder has.
    Rng rng{seed ^ llvm::xxh3_64bits(component)};
    // transformers' models (the text encoders) save model.safetensors.
    StringRef weights = library == "transformers"
                            ? "model.safetensors"
                            : "diffusion_pytorch_model.safetensors";
    if (Error e = writeModelFolder(*module, outDir, (*configText)->getBuffer(),
                                   storage, rng, weights))
      return e;
  }
  return Error::success();
}

} // namespace

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::SetVersionPrinter([](raw_ostream &os) {
    os << "fresco-random-checkpoint (plan format version "
       << ::fresco::kPlanVersion << ", MLIR " << LLVM_VERSION_STRING << ")\n";
  });
  if (!cl::ParseCommandLineOptions(
          argc, argv,
          "fresco-random-checkpoint: write random-weight diffusers folders\n\n"
          "  fresco-random-checkpoint dit-tiny.json -o ./dit-tiny\n"
          "  fresco-random-checkpoint models/dit/pipelines/dit-tiny -o ./pipe\n"
          "  fresco-random-checkpoint models/flux/pipelines/flux-tiny -o "
          "./flux\n",
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
