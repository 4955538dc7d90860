//===- fresco-compile.cpp - Compile a model into a Fresco plan ------------===//
//
// Input: a diffusers model folder (config.json), a pipeline folder
// (model_index.json: every component, or one with --component) or a .mlir
// file in the fresco dialect. Output: a .fplan (or IR with --emit=mlir).
// Exit codes: 0 success, 1 compile error, 2 misuse.
//
//===----------------------------------------------------------------------===//
#include "compiler/Pipelines/Pipelines.h"
#include "compiler/Target/Plan/PipelineEmitter.h"
#include "compiler/Target/Plan/PlanEmitter.h"
#include "compiler/Transforms/Passes.h"
#include "dialects/Fresco/IR/FloatStorage.h"
#include "dialects/Fresco/IR/FrescoOps.h"
#include "models/ModelRegistry.h"
#include "planner/Layouts.h"
#include "runtime/core/Plan.h"
#include "runtime/core/PlanVersion.h"
#include "tools/fresco-compile/Summary.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Shard/IR/ShardDialect.h"
#include "mlir/Dialect/Shard/IR/ShardOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/WithColor.h"

using namespace llvm;
using namespace mlir;

static cl::OptionCategory category("fresco-compile options");
static cl::opt<std::string> inputPath(
    cl::Positional, cl::Required,
    cl::desc("<model-folder | pipeline-folder | config.json | file.mlir>"),
    cl::cat(category));
static cl::opt<std::string> outputPath("o", cl::Required,
                                       cl::desc("output plan (.fplan)"),
                                       cl::value_desc("file"),
                                       cl::cat(category));
static cl::opt<int64_t> batch("batch", cl::init(1),
                              cl::desc("batch size the plan is compiled for "
                                       "(shapes are static): the most images "
                                       "per run for a pipeline (fewer pad "
                                       "the batch: a full batch's time); "
                                       "default 1"),
                              cl::cat(category));
static cl::opt<int64_t>
    height("height", cl::init(0),
           cl::desc("image height in pixels: of a FluxPipeline, "
                    "StableDiffusionPipeline, StableDiffusionXLPipeline "
                    "(or its Img2Img class) or "
                    "StableDiffusion3Pipeline folder (default: the "
                    "pipeline's, 1024 for FLUX.1, 512 for SD 1.5), or of a "
                    "bare Flux transformer ((height / 16) * (width / 16) "
                    "image tokens)"),
           cl::cat(category));
static cl::opt<int64_t> width("width", cl::init(0),
                              cl::desc("image width in pixels (as --height)"),
                              cl::cat(category));
static cl::opt<int64_t> maxSequenceLength(
    "max-sequence-length", cl::init(0),
    cl::desc("text tokens: T5's max_sequence_length in a FluxPipeline folder "
             "or a bare Flux transformer or T5 encoder (default 512) or in a "
             "StableDiffusion3Pipeline folder (default 256), the text tokens "
             "of a bare UNet (default 77); a CLIP text encoder always takes "
             "max_position_embeddings (77)"),
    cl::cat(category));
static cl::opt<std::string> component(
    "component", cl::init(""),
    cl::desc("compile only this component of a pipeline folder; also the "
             "name of the function built from a model folder (default: "
             "transformer for DiT, Flux and SD3, unet, vae, text_encoder "
             "for CLIP, text_encoder_2 for T5; SDXL's text_encoder_2 and "
             "SD3's text_encoder_2 are CLIP, SD3's text_encoder_3 T5)"),
    cl::cat(category));
enum class EmitKind { Plan, Mlir, LoweredMlir };
static cl::opt<EmitKind>
    emit("emit", cl::init(EmitKind::Plan), cl::desc("what to write to -o"),
         cl::values(clEnumValN(EmitKind::Plan, "plan", "the FlatBuffers plan"),
                    clEnumValN(EmitKind::Mlir, "mlir", "the global fresco IR"),
                    clEnumValN(EmitKind::LoweredMlir, "lowered-mlir",
                               "the IR after the lowering pipeline")),
         cl::cat(category));
static cl::opt<int64_t> ranks("ranks", cl::init(1),
                              cl::desc("number of ranks the plan runs on "
                                       "(default 1)"),
                              cl::cat(category));
static cl::opt<std::string> parallel(
    "parallel", cl::init(""),
    cl::desc("parallel degrees of the denoiser, e.g. cfg=2,tp=2 (product = "
             "the ranks it is placed on); axes: cfg, tp, ulysses, ring, patch, "
             "pipeline, pipefusion (patch: DistriFusion's displaced patches, "
             "pipefusion: PipeFusion's patches through pipeline stages; both "
             "approximate); "
             "or auto: compile every layout of --ranks, predict each on "
             "--topology and write the best (docs/planner.md)"),
    cl::cat(category));
static cl::opt<int64_t> freshSteps(
    "fresh-steps", cl::init(1),
    cl::desc("with --parallel patch=P or pipefusion=S: the first denoising "
             "steps of each image that run exact (default 1; later steps "
             "read other tokens' keys and values from the step before; "
             "fresco-run --fresh-steps overrides it)"),
    cl::cat(category));
static cl::opt<int64_t> pipefusionPatches(
    "pipefusion-patches", cl::init(0),
    cl::desc("with --parallel pipefusion=S: the patches the tokens are cut "
             "into, each run through the stages in turn (2..64; default S)"),
    cl::cat(category));
static cl::opt<int64_t> microbatches(
    "microbatches", cl::init(0),
    cl::desc("with --parallel pipeline=S: cut the denoiser's batch (with "
             "guidance, its halves) into M micro-batches that every stage "
             "runs in turn, so the stages overlap (2..64; exact)"),
    cl::cat(category));
static cl::opt<std::string> topology(
    "topology", cl::init("cpu-loopback"),
    cl::desc("with --parallel auto: the machine, a file or a preset of "
             "share/topologies (default cpu-loopback)"),
    cl::cat(category));
static cl::opt<std::string> calibration(
    "calibration", cl::init(""),
    cl::desc("with --parallel auto: a table from fresco-run --calibrate "
             "(default: the topology's roofline)"),
    cl::cat(category));
static cl::opt<std::string> objective(
    "objective", cl::init("latency"),
    cl::desc("with --parallel auto: latency (one run over every rank, "
             "fastest) or throughput (images per second, also counting "
             "independent copies of a plan over fewer ranks)"),
    cl::value_desc("latency|throughput"), cl::cat(category));
static cl::opt<int> steps("steps", cl::init(50),
                          cl::desc("with --parallel auto: the denoising "
                                   "steps a run is predicted for (default "
                                   "50)"),
                          cl::cat(category));
static cl::opt<bool> allowApproximate(
    "allow-approximate", cl::init(false),
    cl::desc("with --parallel auto: also try the approximate layouts, "
             "patch=P and pipefusion=S (with S and 2S patches), marked * in "
             "the table"),
    cl::cat(category));
static cl::opt<std::string> place(
    "place", cl::init(""),
    cl::desc("component placement, e.g. vae=0,transformer=1 (default: the "
             "denoiser and the text encoders on every rank, the VAE on rank "
             "0)"),
    cl::cat(category));
static cl::opt<int64_t> tpSplitMinBytes(
    "tp-split-min-bytes", cl::init(8 << 20),
    cl::desc("with tp: also split per-sample linear layers (adaLN) whose "
             "weight has at least this many bytes (default 8 MiB)"),
    cl::cat(category));
static cl::opt<bool> tpReduceScatter(
    "tp-reduce-scatter",
    cl::desc("with tp: Megatron's sequence parallelism: each block's partial "
             "sums reduce-scattered over the tokens instead of all-reduced, "
             "the token-wise ops after them (bias, gate, residual, norms) on "
             "1/tp of the tokens, all-gathered before the next "
             "column-parallel linear; the same traffic, less work per rank "
             "(not with patch or pipefusion; --parallel auto tries both)"),
    cl::cat(category));
static cl::opt<int64_t> tpChunks(
    "tp-chunks", cl::init(0),
    cl::desc("with tp: each row-parallel linear split into N chunks of its "
             "rows (whole samples, or runs of each sample's tokens), the "
             "row-wise ops after its all_reduce run per chunk, each chunk's "
             "all_reduce overlapping the other chunks' work (NCCL); "
             "0 or 1: one GEMM and one all_reduce (default); with --parallel "
             "auto, every exact tp layout is also tried in N chunks"),
    cl::value_desc("N"), cl::cat(category));
static cl::opt<std::string> dtype(
    "dtype", cl::init("f32"),
    cl::desc("float storage the plan is laid out for: f32 (default; a run "
             "may still choose bf16/f16), bf16 or f16 (weights and "
             "activations in 2 bytes, the arena planned for it, the "
             "timesteps kept f32; the run uses this storage)"),
    cl::value_desc("f32|bf16|f16"), cl::cat(category));
static cl::opt<std::string>
    gemm("gemm", cl::init("default"),
         cl::desc("GEMM precision: default (the float storage's) or fp8 (the "
                  "token-wise linears of the transformer blocks as FP8 GEMMs: "
                  "e4m3 weights scaled per output channel, e4m3 activations "
                  "scaled per token, f32 accumulation; needs --dtype bf16 or "
                  "f16)"),
         cl::value_desc("default|fp8"), cl::cat(category));
static cl::opt<bool> vaeEncoder(
    "vae-encoder",
    cl::desc("a StableDiffusionPipeline, StableDiffusionXLPipeline, "
             "StableDiffusion3Pipeline or FluxPipeline folder: also "
             "compile the VAE encoder (function vae_encoder), for "
             "image-to-image (fresco-run "
             "--image; a StableDiffusionXLImg2ImgPipeline folder, the SDXL "
             "refiner, always has it); a bare AutoencoderKL folder: compile "
             "its encoder "
             "instead of the decoder, for --height x --width pixels "
             "(default sample_size)"),
    cl::cat(category));
static cl::opt<int64_t> controlImages(
    "control-images", cl::init(0),
    cl::desc("a FluxControlNetPipeline folder whose one ControlNet is a "
             "ControlNet-Union: apply it to this many control images, each "
             "with its own mode, scale and window (diffusers' "
             "FluxMultiControlNetModel of one union net; its weights are "
             "stored once)"),
    cl::value_desc("K"), cl::cat(category));
static cl::opt<int64_t> clipSkip(
    "clip-skip", cl::init(0),
    cl::desc("a Stable Diffusion, SDXL or SD3 pipeline folder: diffusers' "
             "clip_skip, the layers of CLIP to skip for the prompts (1: "
             "the pre-final layer's output); the negative prompts keep the "
             "usual hidden state, as in diffusers (default 0: off)"),
    cl::value_desc("K"), cl::cat(category));
static cl::opt<bool> quiet("quiet", cl::desc("no summary on stderr"),
                           cl::cat(category));

/// The model-building flags, for a pipeline, a component or a config.
static ::fresco::models::BuildOptions buildOptions() {
  ::fresco::models::BuildOptions options;
  options.batch = batch;
  options.height = height;
  options.width = width;
  options.maxSequenceLength = maxSequenceLength;
  options.vaeEncoder = vaeEncoder;
  options.controlImages = controlImages;
  options.clipSkip = clipSkip;
  return options;
}

static int errorExit(const Twine &msg) {
  WithColor::error(errs(), "fresco-compile") << msg << "\n";
  return 1;
}

static OwningOpRef<ModuleOp> loadInput(MLIRContext &ctx, SourceMgr &sm,
                                       std::string &error) {
  if (sys::fs::is_directory(inputPath)) {
    OwningOpRef<ModuleOp> module = ModuleOp::create(UnknownLoc::get(&ctx));
    SmallString<256> folder(inputPath);
    SmallString<256> index(inputPath);
    sys::path::append(index, "model_index.json");
    if (sys::fs::exists(index) && !component.getNumOccurrences()) {
      // The whole pipeline: every component plus the sampler description.
      if (Error e = ::fresco::models::buildPipelineFromFolder(*module, folder,
                                                              buildOptions())) {
        error = toString(std::move(e));
        return nullptr;
      }
      return module;
    }
    if (controlImages.getNumOccurrences()) {
      error = "--control-images applies to a whole FluxControlNetPipeline "
              "folder, not to one component";
      return nullptr;
    }
    if (clipSkip != 0) {
      error = "--clip-skip applies to a whole Stable Diffusion, SDXL or SD3 "
              "pipeline folder (the negative prompts keep the usual hidden "
              "state), not to one component";
      return nullptr;
    }
    if (sys::fs::exists(index)) {
      sys::path::append(folder, component);
      if (!sys::fs::is_directory(folder)) {
        error = "pipeline folder " + inputPath + " has no '" + component +
                "' component folder";
        return nullptr;
      }
    }
    if (Error e = ::fresco::models::buildComponentFromFolder(
            *module, folder, component, buildOptions())) {
      error = toString(std::move(e));
      return nullptr;
    }
    return module;
  }
  if (controlImages.getNumOccurrences() || clipSkip != 0) {
    error = controlImages.getNumOccurrences()
                ? "--control-images applies to a FluxControlNetPipeline folder"
                : "--clip-skip applies to a Stable Diffusion, SDXL or SD3 "
                  "pipeline folder";
    return nullptr;
  }
  if (StringRef(inputPath).ends_with(".json")) {
    // A bare config.json: build it as a model folder would be.
    auto text = MemoryBuffer::getFile(inputPath);
    if (!text) {
      error = "cannot read " + inputPath + ": " + text.getError().message();
      return nullptr;
    }
    OwningOpRef<ModuleOp> module = ModuleOp::create(UnknownLoc::get(&ctx));
    if (Error e = ::fresco::models::buildComponentFromConfig(
            *module, (*text)->getBuffer(), component, buildOptions())) {
      error = inputPath + ": " + toString(std::move(e));
      return nullptr;
    }
    return module;
  }
  if (!sys::fs::exists(inputPath)) {
    error = "no such file or folder: " + inputPath;
    return nullptr;
  }
  std::string msg;
  auto file = openInputFile(inputPath, &msg);
  if (!file) {
    error = msg;
    return nullptr;
  }
  if (batch.getNumOccurrences() || height.getNumOccurrences() ||
      width.getNumOccurrences() || maxSequenceLength.getNumOccurrences() ||
      vaeEncoder.getNumOccurrences()) {
    errs() << "fresco-compile: --batch, --height, --width, "
              "--max-sequence-length and --vae-encoder apply to model "
              "folders and configs: a "
              ".mlir file fixes its own shapes\n";
    std::exit(2);
  }
  // `sm` outlives the compile: every later diagnostic shows its source line.
  sm.AddNewSourceBuffer(std::move(file), SMLoc());
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sm, &ctx);
  if (!module)
    error = "cannot parse " + inputPath;
  return module;
}

static void printSummary(StringRef summary, size_t planBytes) {
  errs() << summary;
  errs() << "fresco-compile: wrote " << outputPath << " (" << planBytes
         << " bytes, " << ranks << (ranks == 1 ? " rank" : " ranks") << ")\n";
}

/// From a verified module to the plan's bytes: partition, lower,
/// specialise per rank, emit, and the runtime loader's checks. With
/// `lowered`, prints the lowered IR there and stops. The message of the
/// first failure, or empty.
static std::string lower(ModuleOp module, int64_t numRanks,
                         const std::string &degrees, const std::string &where,
                         int64_t patches, int64_t micro, bool reduceScatter,
                         int64_t chunks, std::vector<uint8_t> &bytes,
                         std::string &summary, raw_ostream *lowered) {
  MLIRContext *ctx = module.getContext();
  // The flag decides, whatever a hand-written module said.
  if (dtype == "f32")
    module->removeAttr(mlir::fresco::kFloatStorageAttr);
  else
    module->setAttr(mlir::fresco::kFloatStorageAttr,
                    StringAttr::get(ctx, dtype));
  PassManager pm(ctx);
  if (failed(applyPassManagerCLOptions(pm)))
    return "bad pass manager options";
  // A .mlir partitioned by hand (its own `shard.grid @grid`, collectives
  // written in it) is taken as it is: --ranks says how many run it.
  auto grid = module.lookupSymbol<shard::GridOp>("grid");
  const bool ownGrid = grid && degrees.empty() && where.empty();
  if (ownGrid) {
    int64_t gridRanks = 1;
    for (int64_t d : grid.getShape())
      gridRanks *= d;
    if (gridRanks != numRanks)
      return "the module's own grid (shard.grid @grid) has " +
             std::to_string(gridRanks) + " ranks; compile it with --ranks " +
             std::to_string(gridRanks) + ", not " + std::to_string(numRanks);
  }
  if (!ownGrid && (numRanks > 1 || !degrees.empty() || !where.empty())) {
    mlir::fresco::PartitionOptions po;
    po.ranks = numRanks;
    po.parallel = degrees;
    po.place = where;
    po.tpSplitMinBytes = tpSplitMinBytes;
    po.tpReduceScatter = reduceScatter;
    po.pipefusionPatches = patches;
    po.microbatches = micro;
    mlir::fresco::buildPartitionPipeline(pm, po);
  } else if (!ownGrid) {
    // One rank: Flux's single blocks project their parts apart as well
    // (the partition pipeline runs it for several).
    pm.addPass(mlir::fresco::createSplitConcatLinear());
  }
  mlir::fresco::LowerOptions lo;
  lo.tpChunks = chunks;
  mlir::fresco::buildLowerToPlanPipeline(pm, lo);
  if (failed(pm.run(module)))
    return "lowering failed";
  if (lowered) {
    module->print(*lowered);
    return "";
  }
  // patch=P: how many steps exchange fresh blocks (PipelineEmitter).
  const bool stale = mlir::fresco::readsStaleState(module);
  // --parallel auto applies it to the approximate layouts only.
  if (freshSteps.getNumOccurrences() && !stale && parallel != "auto")
    return "--fresh-steps: nothing compiled reads stale blocks (patch=1, or "
           "a function without self-attention); drop the flag";
  auto p = module->getAttrOfType<DictionaryAttr>("fresco.pipeline");
  if (freshSteps.getNumOccurrences() && !p && parallel != "auto")
    return "--fresh-steps: a bare model's runs (fresco-run --function) are "
           "all fresh; drop the flag";
  if (p) {
    NamedAttrList entries(p);
    entries.set("fresh_steps",
                IntegerAttr::get(IntegerType::get(ctx, 64), freshSteps));
    module->setAttr("fresco.pipeline", entries.getDictionary(ctx));
  }
  std::string warning;
  summary =
      ::fresco::compile::summarize(module, chunks, reduceScatter, warning);
  if (!warning.empty() && parallel != "auto")
    errs() << warning;
  // One program per rank, then the plan.
  PassManager specialize(ctx);
  mlir::fresco::SpecializeRanksOptions so;
  so.ranks = numRanks;
  specialize.addPass(mlir::fresco::createSpecializeRanks(so));
  if (failed(specialize.run(module)))
    return "cannot specialise the functions per rank";
  if (failed(mlir::fresco::emitPlan(module, bytes, numRanks,
                                    gemm == "fp8"
                                        ? mlir::fresco::GemmMode::Fp8
                                        : mlir::fresco::GemmMode::Default)))
    return "cannot emit the plan";
  // Nothing written that its runtime would refuse: the loader's own checks.
  if (std::string why = ::fresco::checkPlanBytes(bytes, outputPath);
      !why.empty())
    return "internal error: the plan does not pass the runtime's checks, so "
           "it is not written: " +
           why;
  return "";
}

static MLIRContext &makeContext(std::unique_ptr<MLIRContext> &holder) {
  DialectRegistry registry;
  registry.insert<mlir::fresco::FrescoDialect, func::FuncDialect,
                  shard::ShardDialect>();
  holder = std::make_unique<MLIRContext>(registry);
  holder->loadAllAvailableDialects();
  // Diagnostics name the layer (the location); dumping the op is noise.
  holder->printOpOnDiagnostic(false);
  return *holder;
}

/// --pipefusion-patches or --microbatches (the coordinates of a virtual grid
/// axis): only with `axis`=S in --parallel (with auto, `hint` says what it
/// tries instead), 2..64. The exit code, 0 when fine.
static int checkVirtualCount(cl::opt<int64_t> &count, StringRef axis,
                             StringRef hint) {
  if (!count.getNumOccurrences())
    return 0;
  if (StringRef(parallel).find((axis + "=").str()) == StringRef::npos) {
    errs() << "fresco-compile: --" << count.ArgStr << " goes with --parallel "
           << axis << "=S"
           << (parallel == "auto" ? (" (" + hint + ")").str() : "") << "\n";
    return 2;
  }
  if (count < 2 || count > 64) {
    errs() << "fresco-compile: --" << count.ArgStr << " must be in 2..64, got "
           << count << "\n";
    return 2;
  }
  return 0;
}

/// --parallel auto: every layout compiled in a context of its own, its
/// diagnostics kept as the reason when it fails; the ranked table on
/// stdout, the best plan to -o.
static int autoParallel() {
  namespace pl = ::fresco::planner;
  pl::Topology topo;
  pl::Calibration cal;
  std::string error;
  if (!pl::tryLoadTopology(topology, topo, error))
    return errorExit(error);
  if (!calibration.empty() && !pl::tryLoadCalibration(calibration, cal, error))
    return errorExit(error);
  if (objective != "latency" && objective != "throughput") {
    errs() << "fresco-compile: --objective expects latency or throughput, "
              "got '"
           << objective << "'\n";
    return 2;
  }
  if (steps < 1 || steps > 100000) {
    errs() << "fresco-compile: --steps must be in 1..100000\n";
    return 2;
  }
  // The output is opened before the layout search, which compiles every
  // candidate: a bad -o fails first (and the file goes if the search does).
  std::string outErr;
  auto out = openOutputFile(outputPath, &outErr);
  if (!out)
    return errorExit(outErr);
  pl::AutoOptions ao;
  ao.ranks = int(ranks);
  ao.objective = objective == "latency" ? pl::Objective::Latency
                                        : pl::Objective::Throughput;
  ao.steps = steps;
  ao.approximate = allowApproximate;
  ao.tpChunks = int(tpChunks);
  ao.topology = &topo;
  ao.calibration = calibration.empty() ? nullptr : &cal;
  ao.storage = dtype == "bf16"  ? ::fresco::DType::BF16
               : dtype == "f16" ? ::fresco::DType::F16
                                : ::fresco::DType::F32;
  auto compileOne = [&](const pl::Layout &l, std::string &why) {
    std::unique_ptr<MLIRContext> holder;
    MLIRContext &ctx = makeContext(holder);
    SourceMgr sm;
    std::string first;
    ScopedDiagnosticHandler capture(&ctx, [&](Diagnostic &d) {
      if (d.getSeverity() == DiagnosticSeverity::Error && first.empty())
        first = d.str();
      return success();
    });
    std::vector<uint8_t> bytes;
    OwningOpRef<ModuleOp> module = loadInput(ctx, sm, why);
    if (!module)
      return bytes;
    if (failed(verify(*module)) ||
        failed(mlir::fresco::verifyPipelineAttribute(*module))) {
      why = "the input does not verify";
      return bytes;
    }
    std::string summary;
    why =
        lower(*module, l.ranks, l.parallel, l.place, l.patches, l.microbatches,
              l.tpReduceScatter, l.tpChunks, bytes, summary, nullptr);
    if (!why.empty() && !first.empty())
      why = first;
    return bytes;
  };
  std::vector<pl::Candidate> ranked = pl::chooseLayout(ao, compileOne, error);
  if (!error.empty())
    return errorExit(error);
  outs() << pl::rankTable(ranked, ao);
  outs().flush();
  if (ranked.empty() || !ranked.front().rejected.empty())
    return errorExit("no layout of " + std::to_string(ranks) +
                     " rank(s) compiles and fits " + topo.name);
  const pl::Candidate &best = ranked.front();
  out->os().write(reinterpret_cast<const char *>(best.plan.data()),
                  best.plan.size());
  out->keep();
  if (!quiet)
    errs() << "fresco-compile: wrote " << outputPath << " ("
           << best.layout.label() << ", " << best.layout.ranks
           << (best.layout.ranks == 1 ? " rank" : " ranks")
           << (best.layout.approximate() ? ", approximate" : "")
           << (best.layout.replicas > 1
                   ? "; run " + std::to_string(best.layout.replicas) +
                         " copies of it for the throughput predicted"
                   : std::string())
           << ")\n";
  return 0;
}

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  mlir::registerPassManagerCLOptions();
  mlir::registerMLIRContextCLOptions();
  cl::HideUnrelatedOptions(category);
  cl::SetVersionPrinter([](raw_ostream &os) {
    os << "fresco-compile (plan format version " << ::fresco::kPlanVersion
       << ", MLIR " << LLVM_VERSION_STRING << ")\n";
  });
  if (!cl::ParseCommandLineOptions(
          argc, argv,
          "fresco-compile: compile a diffusion model into a Fresco plan\n\n"
          "  fresco-compile ./dit-folder -o dit.fplan --batch 2\n"
          "  fresco-compile model.mlir -o model.fplan\n",
          &errs()))
    return 2;
  if (dtype != "f32" && dtype != "bf16" && dtype != "f16") {
    errs() << "fresco-compile: --dtype expects f32, bf16 or f16, got '" << dtype
           << "'\n";
    return 2;
  }
  if (gemm != "default" && gemm != "fp8") {
    errs() << "fresco-compile: --gemm expects default or fp8, got '" << gemm
           << "'\n";
    return 2;
  }
  // FP8 GEMMs write a 2-byte result, and the rest of the model is meant to
  // run in that storage: an f32 plan with FP8 GEMMs is not a recipe anyone
  // measures.
  if (gemm == "fp8" && dtype == "f32") {
    errs() << "fresco-compile: --gemm fp8 needs --dtype bf16 (or f16): the "
              "other layers run in that storage\n";
    return 2;
  }
  for (cl::opt<int64_t> *size : {&height, &width, &maxSequenceLength})
    if (size->getNumOccurrences() && *size < 1) {
      errs() << "fresco-compile: --" << size->ArgStr << " must be at least 1\n";
      return 2;
    }
  if (tpSplitMinBytes < 0) {
    errs() << "fresco-compile: --tp-split-min-bytes must be at least 0, got "
           << tpSplitMinBytes << "\n";
    return 2;
  }
  if (batch < 1) {
    errs() << "fresco-compile: --batch must be at least 1\n";
    return 2;
  }
  // A pipeline doubles it for guidance: 2^62 wrapped to a negative shape.
  if (batch > ::fresco::models::kMaxBatch) {
    errs() << "fresco-compile: --batch must be at most "
           << ::fresco::models::kMaxBatch << ", got " << batch << "\n";
    return 2;
  }
  if (maxSequenceLength.getNumOccurrences() && maxSequenceLength < 1) {
    errs() << "fresco-compile: --max-sequence-length must be at least 1\n";
    return 2;
  }
  if (clipSkip < 0) {
    errs() << "fresco-compile: --clip-skip must be at least 0, got " << clipSkip
           << "\n";
    return 2;
  }
  if (controlImages.getNumOccurrences() &&
      (controlImages < 1 || controlImages > 16)) {
    errs() << "fresco-compile: --control-images must be in 1..16, got "
           << controlImages << "\n";
    return 2;
  }
  if (tpReduceScatter) {
    StringRef spec(parallel);
    if (!spec.contains("tp=")) {
      errs() << "fresco-compile: --tp-reduce-scatter goes with --parallel "
                "tp=N (it changes how tp's partial sums are reduced)"
             << (parallel == "auto" ? "; --parallel auto tries every tp "
                                      "layout with and without it"
                                    : "")
             << "\n";
      return 2;
    }
    if (spec.contains("patch=") || spec.contains("pipefusion=")) {
      errs() << "fresco-compile: --tp-reduce-scatter does not compose with "
                "patch=P or pipefusion=S (their patches split the tokens "
                "already)\n";
      return 2;
    }
  }
  if (tpChunks.getNumOccurrences()) {
    if (tpChunks < 0 || tpChunks > 64) {
      errs() << "fresco-compile: --tp-chunks must be between 0 and 64, got "
             << tpChunks << "\n";
      return 2;
    }
    if (tpChunks > 1 && !StringRef(parallel).contains("tp=") &&
        parallel != "auto") {
      errs() << "fresco-compile: --tp-chunks goes with --parallel tp=N (it "
                "splits tp's row-parallel linears and their all_reduces)\n";
      return 2;
    }
  }
  if (allowApproximate && parallel != "auto") {
    errs() << "fresco-compile: --allow-approximate goes with --parallel "
              "auto (name patch=P or pipefusion=S in --parallel instead)\n";
    return 2;
  }
  if (freshSteps.getNumOccurrences()) {
    if (StringRef(parallel).find("patch=") == StringRef::npos &&
        StringRef(parallel).find("pipefusion=") == StringRef::npos &&
        !(parallel == "auto" && allowApproximate)) {
      errs() << "fresco-compile: --fresh-steps goes with --parallel "
                "patch=P or pipefusion=S (or auto with "
                "--allow-approximate)\n";
      return 2;
    }
    if (freshSteps < 1 || freshSteps > 10000) {
      errs() << "fresco-compile: --fresh-steps must be in 1..10000 (the "
                "first step has no earlier one to read), got "
             << freshSteps << "\n";
      return 2;
    }
  }
  if (int rc = checkVirtualCount(pipefusionPatches, "pipefusion",
                                 "--parallel auto --allow-approximate tries S "
                                 "and 2S patches"))
    return rc;
  if (microbatches.getNumOccurrences() &&
      StringRef(parallel).contains("pipefusion=")) {
    errs() << "fresco-compile: --microbatches goes with --parallel "
              "pipeline=S (pipefusion=S runs its patches through the stages "
              "instead)\n";
    return 2;
  }
  if (int rc = checkVirtualCount(microbatches, "pipeline",
                                 "--parallel auto tries 2, 4, 8 and 16 "
                                 "micro-batches with pipeline=S"))
    return rc;
  if (ranks < 1 || ranks > 4096) {
    errs() << "fresco-compile: --ranks must be in 1..4096\n";
    return 2;
  }

  if (parallel != "auto" &&
      (topology.getNumOccurrences() || calibration.getNumOccurrences() ||
       objective.getNumOccurrences() || steps.getNumOccurrences())) {
    errs() << "fresco-compile: --topology, --calibration, --objective and "
              "--steps go with --parallel auto\n";
    return 2;
  }
  std::unique_ptr<MLIRContext> holder;
  MLIRContext &ctx = makeContext(holder);
  if (parallel == "auto") {
    if (emit != EmitKind::Plan)
      return errorExit("--parallel auto writes a plan: drop --emit");
    if (!place.empty())
      return errorExit("--parallel auto chooses the placement: drop --place");
    return autoParallel();
  }
  SourceMgr sm;
  SourceMgrDiagnosticHandler handler(sm, &ctx);
  std::string error;
  OwningOpRef<ModuleOp> module = loadInput(ctx, sm, error);
  if (!module)
    return errorExit(error);
  if (failed(verify(*module)))
    return errorExit("the input does not verify");
  // A malformed fresco.pipeline is reported before any pass reads it.
  if (failed(mlir::fresco::verifyPipelineAttribute(*module)))
    return errorExit("the input does not verify");

  std::string outErr;
  auto out = openOutputFile(outputPath, &outErr);
  if (!out)
    return errorExit(outErr);

  if (emit == EmitKind::Mlir) {
    module->print(out->os());
    out->keep();
    return 0;
  }
  std::vector<uint8_t> bytes;
  std::string summary;
  if (std::string why =
          lower(*module, ranks, parallel, place, pipefusionPatches,
                microbatches, tpReduceScatter, tpChunks, bytes, summary,
                emit == EmitKind::LoweredMlir ? &out->os() : nullptr);
      !why.empty())
    return errorExit(why);
  if (emit == EmitKind::LoweredMlir) {
    out->keep();
    return 0;
  }
  out->os().write(reinterpret_cast<const char *>(bytes.data()), bytes.size());
  out->keep();
  if (!quiet)
    printSummary(summary, bytes.size());
  return 0;
}
