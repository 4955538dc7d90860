//===- fresco-inspect.cpp - Summarise a compiled plan ---------------------===//
//
// Per rank: its functions, instruction counts, the weight bytes it loads,
// its arena, and the communication of one denoising step (one call of the
// pipeline's denoiser, or of each function for bare models) by collective
// kind. Payload bytes: the tensor each collective produces on this rank.
// Exit codes: 0 success, 1 bad plan, 2 misuse.
//
//===----------------------------------------------------------------------===//
#include "planner/Predict.h"
#include "runtime/core/DType.h"
#include "runtime/core/Error.h"
#include "runtime/core/Executor.h"
#include "runtime/core/Plan.h"
#include "runtime/core/PlanVersion.h"
#include "tools/fresco-inspect/PipelineSummary.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

using namespace fresco;

namespace {

const char *kUsage = R"(fresco-inspect: summarise a compiled Fresco plan

USAGE: fresco-inspect PLAN.fplan [--json] [--dtype f32|bf16|f16]
       fresco-inspect PLAN.fplan --predict --topology T [--calibration C]
                      [--steps N] [--json] [--dtype ...]

Prints, per rank: its functions and instruction counts, the bytes of weights
it loads, its arena bytes, the e4m3 weight copies and input scratch its FP8
linears make at load (fresco-compile --gemm fp8) and the weights only they
read, released once quantized, and the bytes each collective kind moves in
one denoising step (one call of the denoiser function): all_reduce,
all_gather, all_to_all, broadcast, stale_gather (the tensor each produces;
stale_gather is patch=P's exchange of keys and values, which a stale step
lets travel while it computes), reduce_scatter (the partial sums it
reduces, of which each rank keeps its block), send (what a pipeline stage
passes on), ring_send_recv (the
key and value blocks ring attention sends, one message per hop, P - 1
hops), halo (the rows a UNet's split convolution sends its neighbours)
and group_norm_stats (the statistics a group norm over split rows
gathers). A patch=P plan's StaleGathers also keep memory between steps: P
blocks and a staging block each; a pipefusion=S plan's PatchCaches one
whole key or value each (the stale key/value state).
--version prints the plan format version it reads.
--json prints the same as one JSON object.
--dtype gives the bytes of a run with that float storage (fresco-run
--dtype; default: the plan's, f32 unless it was compiled with
fresco-compile --dtype): weights, float payloads and the arena's float
values take 2 bytes an element under bf16/f16.
--predict prints the cost model's per-rank timeline instead: compute,
communication and idle time of one call of each function (and the step's
compute by op kind on its busiest rank), per-rank memory, and the time of
one step and of a run of --steps steps (default 50).
--topology names a file or a preset of share/topologies (h100-sxm-8,
h200-sxm-8, h100-pcie-8, l40s-pcie-4, h100-sxm-2x8-ib, cpu-loopback); --calibration a
table written by fresco-run --calibrate (without one, every instruction is
timed by the topology's roofline). See docs/planner.md.
)";

/// Set when the plan was compiled for bf16/f16: its values carry their
/// stored dtypes.
bool gPlanStored = false;

/// Bytes of n elements of `t` under float storage `storage`: an f32 plan's
/// floats take the storage's size; a bf16/f16 plan gives each value's own.
uint64_t storedBytes(uint64_t n, DType t, DType storage) {
  return n * dtypeSize(t == DType::F32 && storage != DType::F32 && !gPlanStored
                           ? storage
                           : t);
}

struct RankSummary {
  int rank = 0;
  std::map<std::string, size_t> instructions;        // function -> count
  std::map<std::string, size_t> linears, fp8Linears; // function -> count
  std::map<std::string, int> microbatches;           // function -> M, where cut
  uint64_t weightBytes = 0, arenaBytes = 0, fp8Bytes = 0, releasedBytes = 0;
  // patch=P: what the StaleGathers keep between runs, P + 1 blocks each.
  uint64_t staleStateBytes = 0;
  std::map<std::string, uint64_t> commBytes; // kind -> payload per step
  std::map<std::string, int> commCalls;
};

RankSummary summarise(const plan::RankProgram &rp, const std::string &denoiser,
                      DType storage) {
  auto valueBytes = [&](const plan::Value &v) {
    return storedBytes(
        uint64_t(numElements({v.shape()->begin(), v.shape()->end()})),
        DType(v.dtype()), storage);
  };
  RankSummary s;
  s.rank = rp.rank();
  // Weights and arena: planner::rankMemory, shared with --predict.
  for (const plan::Function *f : *rp.functions()) {
    s.instructions[f->name()->str()] = f->instrs()->size();
    if (f->microbatches() > 1)
      s.microbatches[f->name()->str()] = f->microbatches();
    for (const plan::Instr *in : *f->instrs()) {
      if (in->op() == plan::OpCode::Linear) {
        ++s.linears[f->name()->str()];
        const plan::LinearAttrs *a = in->attrs_as_LinearAttrs();
        s.fp8Linears[f->name()->str()] += a && a->fp8();
      }
    }
    if (!denoiser.empty() && f->name()->str() != denoiser)
      continue;
    for (const plan::Instr *in : *f->instrs()) {
      std::string kind;
      if (in->op() == plan::OpCode::AllReduce)
        kind = "all_reduce";
      else if (in->op() == plan::OpCode::AllGather)
        kind = "all_gather";
      else if (in->op() == plan::OpCode::AllToAll)
        kind = "all_to_all";
      else if (in->op() == plan::OpCode::ReduceScatter)
        kind = "reduce_scatter";
      else if (in->op() == plan::OpCode::Send)
        kind = "send";
      else if (in->op() == plan::OpCode::Broadcast)
        kind = "broadcast";
      else if (in->op() == plan::OpCode::StaleGather)
        kind = "stale_gather";
      else if (const plan::AttentionAttrs *a = in->attrs_as_AttentionAttrs();
               a && a->ring_members() && a->ring_members()->size() > 1) {
        // Each of the P - 1 hops sends this rank's current key and value
        // blocks to the next rank in one message (and receives as much).
        uint64_t hops = a->ring_members()->size() - 1;
        const plan::Value *k = f->values()->Get(in->operands()->Get(1));
        s.commBytes["ring_send_recv"] += 2 * hops * valueBytes(*k);
        s.commCalls["ring_send_recv"] += int(hops);
        continue;
      } else if (in->op() == plan::OpCode::Halo) {
        // The rows this rank sends: its last halo_lo block rows down unless
        // it is the last member, its first halo_hi up unless the first.
        const plan::CollectiveAttrs *a = in->attrs_as_CollectiveAttrs();
        const plan::Value *x = f->values()->Get(in->operands()->Get(0));
        const uint64_t rows = uint64_t(x->shape()->Get(uint32_t(a->dim())));
        const auto *m = a->members();
        const bool first = m->Get(0) == int(rp.rank()),
                   last = m->Get(m->size() - 1) == int(rp.rank());
        const int64_t down = last ? 0 : a->halo_lo(),
                      up = first ? 0 : a->halo_hi();
        s.commBytes["halo"] += valueBytes(*x) / rows * uint64_t(down + up);
        s.commCalls["halo"] += (down > 0) + (up > 0);
        continue;
      } else if (const plan::GroupNormAttrs *g = in->attrs_as_GroupNormAttrs();
                 g && g->stats_members() && g->stats_members()->size() > 1) {
        // The gathered statistics: a mean and an M2 (f32) per image and
        // group from every member.
        const plan::Value *x = f->values()->Get(in->operands()->Get(0));
        s.commBytes["group_norm_stats"] +=
            8 * uint64_t(x->shape()->Get(0) * g->num_groups()) *
            g->stats_members()->size();
        s.commCalls["group_norm_stats"] += 1;
        continue;
      } else
        continue;
      // The tensor moved: a send's or reduce_scatter's operand, else the
      // result.
      const bool operand = in->op() == plan::OpCode::Send ||
                           in->op() == plan::OpCode::ReduceScatter;
      const plan::Value *v = f->values()->Get(operand ? in->operands()->Get(0)
                                                      : in->results()->Get(0));
      s.commBytes[kind] += valueBytes(*v);
      s.commCalls[kind] += 1;
    }
  }
  return s;
}

} // namespace

int main(int argc, char **argv) {
  std::string path;
  bool json = false;
  std::optional<DType> storageFlag;
  bool predictFlag = false;
  std::string topologyName, calibrationPath;
  int steps = 50;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "-h") || !std::strcmp(argv[i], "--help")) {
      std::cout << kUsage;
      return 0;
    } else if (!std::strcmp(argv[i], "--version")) {
      std::cout << "fresco-inspect (plan format version " << kPlanVersion
                << ")\n";
      return 0;
    } else if (!std::strcmp(argv[i], "--json")) {
      json = true;
    } else if (!std::strcmp(argv[i], "--predict")) {
      predictFlag = true;
    } else if (!std::strcmp(argv[i], "--topology") ||
               !std::strcmp(argv[i], "--calibration") ||
               !std::strcmp(argv[i], "--steps")) {
      if (i + 1 >= argc) {
        std::cerr << "fresco-inspect: " << argv[i] << " needs a value\n";
        return 2;
      }
      std::string flag = argv[i], v = argv[++i];
      if (flag == "--topology")
        topologyName = v;
      else if (flag == "--calibration")
        calibrationPath = v;
      else {
        char *end = nullptr;
        long n = std::strtol(v.c_str(), &end, 10);
        if (v.empty() || *end || n < 1 || n > 100000) {
          std::cerr << "fresco-inspect: --steps expects 1..100000, got '" << v
                    << "'\n";
          return 2;
        }
        steps = int(n);
      }
    } else if (!std::strcmp(argv[i], "--dtype")) {
      std::string d = i + 1 < argc ? argv[++i] : "";
      if (d == "f32" || d == "bf16" || d == "f16") {
        storageFlag = d == "f32"    ? DType::F32
                      : d == "bf16" ? DType::BF16
                                    : DType::F16;
      } else {
        std::cerr << "fresco-inspect: --dtype expects f32, bf16 or f16, got '"
                  << d << "'\n";
        return 2;
      }
    } else if (argv[i][0] == '-') {
      std::cerr << "fresco-inspect: unknown option '" << argv[i]
                << "'\n(run fresco-inspect --help for usage)\n";
      return 2;
    } else if (path.empty()) {
      path = argv[i];
    } else {
      std::cerr << "fresco-inspect: one plan at a time\n";
      return 2;
    }
  }
  if (path.empty()) {
    std::cerr << "fresco-inspect: no plan given\n(run fresco-inspect --help "
                 "for usage)\n";
    return 2;
  }
  if (predictFlag != !topologyName.empty() ||
      (!predictFlag && !calibrationPath.empty())) {
    std::cerr << "fresco-inspect: --predict needs --topology (and takes "
                 "--calibration); they go together\n";
    return 2;
  }
  try {
    LoadedPlan plan = LoadedPlan::fromFile(path);
    if (predictFlag) {
      planner::Topology topology = planner::loadTopology(topologyName);
      std::optional<planner::Calibration> calibration;
      if (!calibrationPath.empty())
        calibration = planner::loadCalibration(calibrationPath);
      planner::PredictOptions po;
      po.topology = &topology;
      po.calibration = calibration ? &*calibration : nullptr;
      po.storage = storageFlag.value_or(DType(plan.plan().float_storage()));
      planner::Prediction pred = planner::predict(plan, po);
      if (json) {
        std::cout << planner::toJson(pred, steps);
      } else {
        std::cout << "plan " << path << " predicted on " << topology.name
                  << " (" << topology.file << "), "
                  << (calibration ? "calibration " + calibration->file
                                  : std::string("no calibration: roofline"))
                  << ", " << dtypeName(po.storage) << " storage\n"
                  << planner::describe(pred, steps, topology);
      }
      return 0;
    }
    const plan::Plan &p = plan.plan();
    const DType compiled = DType(p.float_storage());
    gPlanStored = compiled != DType::F32;
    const DType storage = storageFlag.value_or(compiled);
    std::optional<PipelineSpec> spec;
    if (p.pipeline())
      spec = PipelineSpec::fromPlan(p, path);
    std::string denoiser =
        spec ? spec->find(plan::ComponentRole::Denoiser)->function
             : std::string();
    std::string grid;
    if (p.grid_shape())
      for (flatbuffers::uoffset_t i = 0; i < p.grid_shape()->size(); ++i)
        grid += (i ? " x " : "") +
                (p.grid_axes() && i < p.grid_axes()->size()
                     ? p.grid_axes()->Get(i)->str() + "="
                     : std::string()) +
                std::to_string(p.grid_shape()->Get(i));
    // Every rank summarised before anything is printed: a plan that fails
    // (layOutArena refuses it) leaves no half-written output.
    std::vector<RankSummary> summaries;
    for (const plan::RankProgram *rp : *p.ranks()) {
      summaries.push_back(summarise(*rp, denoiser, storage));
      planner::RankMemory m = planner::rankMemory(plan, rp->rank(), storage);
      summaries.back().weightBytes = m.weightBytes;
      summaries.back().arenaBytes = m.arenaBytes;
      summaries.back().fp8Bytes = m.fp8Bytes;
      summaries.back().releasedBytes = m.releasedBytes;
      summaries.back().staleStateBytes = m.staleStateBytes;
    }
    if (json) {
      std::cout << "{\"plan\": \"" << path << "\", \"float_storage\": \""
                << dtypeName(compiled) << "\", \"ranks\": [";
      for (const RankSummary &s : summaries) {
        std::cout << (s.rank ? ", " : "") << "{\"rank\": " << s.rank
                  << ", \"weight_bytes\": " << s.weightBytes
                  << ", \"arena_bytes\": " << s.arenaBytes
                  << ", \"fp8_bytes\": " << s.fp8Bytes
                  << ", \"released_bytes\": " << s.releasedBytes
                  << ", \"instructions\": ";
        // {"key": n, ...} of one of the summary's maps.
        auto map = [](const auto &m) {
          std::cout << "{";
          bool first = true;
          for (auto &[key, n] : m) {
            std::cout << (first ? "" : ", ") << "\"" << key << "\": " << n;
            first = false;
          }
          std::cout << "}";
        };
        map(s.instructions);
        std::cout << ", \"fp8_linears\": ";
        map(s.fp8Linears);
        std::cout << ", \"microbatches\": ";
        map(s.microbatches);
        std::cout << ", \"comm_bytes_per_step\": ";
        map(s.commBytes);
        std::cout << ", \"comm_calls_per_step\": ";
        map(s.commCalls);
        std::cout << ", \"stale_state_bytes\": " << s.staleStateBytes << "}";
      }
      std::cout << "]"
                << (spec ? ", \"pipeline\": " + inspect::pipelineJson(*spec)
                         : std::string())
                << "}\n";
      return 0;
    }
    std::cout << "plan " << path << ": " << p.num_ranks() << " rank(s)"
              << (grid.empty() ? "" : ", grid " + grid)
              << (compiled != DType::F32
                      ? std::string(", floats stored as ") +
                            dtypeName(compiled) + " (fresco-compile --dtype)"
                      : std::string())
              << (spec ? ", pipeline " + spec->kind + " (" + "up to " +
                             std::to_string(spec->numImages) +
                             (spec->numImages == 1 ? " image, " : " images, ") +
                             spec->scheduler + ")"
                       : std::string())
              << "\n";
    if (spec)
      std::cout << inspect::describePipeline(*spec);
    for (RankSummary &s : summaries) {
      std::printf("rank %d: weights %llu bytes (%.2f MiB), arena %llu bytes",
                  s.rank, (unsigned long long)s.weightBytes,
                  s.weightBytes / 1048576.0, (unsigned long long)s.arenaBytes);
      if (s.fp8Bytes) // e4m3 weight copies and input scratch, made at load
        std::printf(", FP8 copies and input scratch %llu bytes (%.2f MiB); "
                    "%llu bytes (%.2f MiB) of weights only they read released",
                    (unsigned long long)s.fp8Bytes, s.fp8Bytes / 1048576.0,
                    (unsigned long long)s.releasedBytes,
                    s.releasedBytes / 1048576.0);
      if (s.staleStateBytes) // patch=P, pipefusion: kept between steps
        std::printf(", stale key/value state %llu bytes (%.2f MiB)",
                    (unsigned long long)s.staleStateBytes,
                    s.staleStateBytes / 1048576.0);
      std::printf("\n");
      for (auto &[fn, n] : s.instructions) {
        const size_t fp8 = s.fp8Linears[fn];
        std::printf("  function %s: %zu instructions", fn.c_str(), n);
        if (fp8) // fresco-compile --gemm fp8
          std::printf(" (%zu of %zu linears FP8)", fp8, s.linears[fn]);
        if (auto it = s.microbatches.find(fn); it != s.microbatches.end())
          std::printf(", %d micro-batches through the pipeline stages",
                      it->second);
        std::printf("\n");
      }
      if (s.commBytes.empty())
        std::printf("  communication per step: none\n");
      for (auto &[kind, bytes] : s.commBytes)
        std::printf("  communication per step: %s %d calls, %llu bytes\n",
                    kind.c_str(), s.commCalls[kind], (unsigned long long)bytes);
    }
  } catch (const Error &e) {
    std::cerr << "fresco-inspect: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
