//===- Layouts.h - Choosing a layout: fresco-compile --parallel auto -*- C++
//-*-===//
//
// Enumerates the layouts of N ranks (every product of cfg, tp, ulysses,
// ring and pipeline degrees, and on request the approximate patch and
// pipefusion ones; the decoder with the denoiser or on a rank of its own), has
// the caller compile each one, drops the plans that do not fit the topology's
// memory, predicts the rest and ranks them. Built with exceptions but called
// from fresco-compile, which has none: nothing here throws out.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_PLANNER_LAYOUTS_H
#define FRESCO_PLANNER_LAYOUTS_H

#include "planner/Predict.h"

#include <functional>
#include <string>
#include <vector>

namespace fresco::planner {

struct Layout {
  int ranks = 1;        // of one plan
  int replicas = 1;     // independent copies (throughput objective)
  std::string parallel; // "cfg=2,tp=2" ("" for one rank)
  std::string place;    // "vae=0,transformer=1+2+3" ("" by default)
  int patches = 0;      // --pipefusion-patches (0: the compiler's default)
  int microbatches = 0; // --microbatches with pipeline=S (0: none)
  bool tpReduceScatter = false; // --tp-reduce-scatter with tp=P
  int tpChunks = 0;             // --tp-chunks with tp=P (< 2: none)
  /// The flags that compile it, e.g. "pipefusion=4 --pipefusion-patches 8
  /// place vae=0,transformer=1+2+3+4", "pipeline=2 --microbatches 4",
  /// "tp=4 --tp-reduce-scatter", "tp=8 --tp-chunks 4".
  std::string label() const;
  /// patch=P or pipefusion=S: reads other tokens' keys and values from
  /// the previous step.
  bool approximate() const;
};

struct Candidate {
  Layout layout;
  /// A layout's micro-batched variant: dropped from the table when it does
  /// not compile (the batch does not divide), as the layout itself stays.
  /// A --tp-reduce-scatter or --tp-chunks twin is dropped where its layout
  /// is rejected or where it changes nothing (the same plan).
  bool variant = false;
  std::string rejected; // why it was dropped; empty when it was ranked
  Prediction prediction;
  double runSeconds = 0;     // one run of `steps` steps
  double imageSeconds = 0;   // per image, over every replica
  std::vector<uint8_t> plan; // kept for the winner only
};

enum class Objective { Latency, Throughput };

struct AutoOptions {
  int ranks = 1;
  Objective objective = Objective::Latency;
  int steps = 50;
  const Topology *topology = nullptr;
  const Calibration *calibration = nullptr;
  DType storage = DType::F32;
  /// Also the layouts with patch=P and pipefusion=S.
  bool approximate = false;
  /// The chunks of each tp layout's --tp-chunks twin (< 2: no twin).
  int tpChunks = 0;
};

/// Compiles one layout: the plan's bytes, or the reason it failed in
/// `error`.
using CompileFn =
    std::function<std::vector<uint8_t>(const Layout &, std::string &error)>;

/// The degree tuples whose product is `n` ("" for n == 1), cfg at most 2,
/// in the grid order cfg, pipeline, ulysses, ring, tp.
std::vector<std::string> degreeProducts(int n);

/// The approximate layouts of `n` ranks: patch=P (P >= 2) times cfg,
/// pipeline and tp degrees, in the grid order cfg, pipeline, patch, tp; and
/// pipefusion=S (S >= 2) times cfg and tp, each with S and 2S patches (at
/// most 64). Only `parallel` and `patches` are set.
std::vector<Layout> approximateLayouts(int n);

/// Every layout (and each pipeline=S layout with 2, 4, 8 and 16
/// micro-batches, and each exact layout with tp also with
/// --tp-reduce-scatter and, with AutoOptions::tpChunks, with --tp-chunks),
/// compiled, predicted and ranked best first (rejected
/// ones last). `error` is set (and nothing returned) only for bad options.
std::vector<Candidate> chooseLayout(const AutoOptions &o, const CompileFn &fn,
                                    std::string &error) noexcept;

/// The ranked table fresco-compile prints.
std::string rankTable(const std::vector<Candidate> &c, const AutoOptions &o);

/// loadTopology / loadCalibration without exceptions: the message in
/// `error` when they fail.
bool tryLoadTopology(const std::string &name, Topology &out,
                     std::string &error) noexcept;
bool tryLoadCalibration(const std::string &path, Calibration &out,
                        std::string &error) noexcept;

} // namespace fresco::planner

#endif // FRESCO_PLANNER_LAYOUTS_H
