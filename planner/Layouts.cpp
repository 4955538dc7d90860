//===- Layouts.cpp - Choosing a layout: fresco-compile --parallel auto ----===//
#include "planner/Layouts.h"

#include "runtime/core/Error.h"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <sstream>

namespace fresco::planner {

std::string Layout::label() const {
  std::string s = parallel;
  if (patches > 0)
    s += " --pipefusion-patches " + std::to_string(patches);
  if (microbatches > 0)
    s += " --microbatches " + std::to_string(microbatches);
  if (tpReduceScatter)
    s += " --tp-reduce-scatter";
  if (tpChunks > 1)
    s += " --tp-chunks " + std::to_string(tpChunks);
  if (!place.empty())
    s += (s.empty() ? "place " : " place ") + place;
  if (s.empty())
    s = "1 rank";
  if (replicas > 1)
    s += " x" + std::to_string(replicas) + " replicas";
  return s;
}

bool Layout::approximate() const {
  return parallel.find("patch=") != std::string::npos ||
         parallel.find("pipefusion=") != std::string::npos;
}

std::vector<std::string> degreeProducts(int n) {
  // Grid order: the last axis varies fastest across ranks, so the axes
  // that communicate most (tp's all_reduces, then Ulysses' all_to_alls,
  // which must precede ring) come last and stay within a node; cfg's one
  // all_gather and the stages' sends may cross nodes.
  static const char *axes[] = {"cfg", "pipeline", "ulysses", "ring", "tp"};
  std::vector<std::string> out;
  std::vector<int> d(5, 1);
  // Depth-first over the axes, each degree a divisor of what remains.
  std::function<void(int, int)> walk = [&](int axis, int left) {
    if (axis == 5) {
      if (left != 1)
        return;
      std::string s;
      for (int i = 0; i < 5; ++i)
        if (d[i] > 1)
          s += (s.empty() ? "" : ",") + std::string(axes[i]) + "=" +
               std::to_string(d[i]);
      out.push_back(s);
      return;
    }
    for (int k = 1; k <= left; ++k) {
      if (left % k || (axis == 0 && k > 2)) // guidance has two halves
        continue;
      d[axis] = k;
      walk(axis + 1, left / k);
    }
    d[axis] = 1;
  };
  walk(0, n);
  return out;
}

std::vector<Layout> approximateLayouts(int n) {
  std::vector<Layout> out;
  auto add = [&](std::initializer_list<std::pair<const char *, int>> axes,
                 int patches) {
    Layout l;
    for (const auto &[axis, d] : axes)
      if (d > 1)
        l.parallel += (l.parallel.empty() ? "" : ",") + std::string(axis) +
                      "=" + std::to_string(d);
    l.ranks = n;
    l.patches = patches;
    out.push_back(l);
  };
  // Displaced patches replace the sequence axes (not with ulysses or ring);
  // PipeFusion replaces the pipeline and the sequence axes.
  for (int c = 1; c <= 2; ++c)
    for (int s = 1; s <= n; ++s)
      for (int p = 2; p <= n; ++p) {
        if (n % (c * s * p))
          continue;
        add({{"cfg", c},
             {"pipeline", s},
             {"patch", p},
             {"tp", n / (c * s * p)}},
            0);
      }
  for (int c = 1; c <= 2; ++c)
    for (int s = 2; s <= n; ++s) {
      if (n % (c * s))
        continue;
      const int t = n / (c * s);
      add({{"cfg", c}, {"pipefusion", s}, {"tp", t}}, 0);
      if (2 * s <= 64)
        add({{"cfg", c}, {"pipefusion", s}, {"tp", t}}, 2 * s);
    }
  return out;
}

namespace {

/// Bytes in GiB, or MiB below one GiB (the tests' tiny models).
std::string size(uint64_t bytes) {
  char buf[32];
  if (bytes >= (uint64_t(1) << 30))
    std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / 1073741824.0);
  else
    std::snprintf(buf, sizeof buf, "%.3f MiB", bytes / 1048576.0);
  return buf;
}

/// Compiles and predicts one layout into `c`.
void evaluate(Candidate &c, const AutoOptions &o, const CompileFn &fn) {
  std::string error;
  std::vector<uint8_t> bytes = fn(c.layout, error);
  if (!error.empty() || bytes.empty()) {
    c.rejected = "does not compile: " + (error.empty() ? "no plan" : error);
    return;
  }
  try {
    LoadedPlan plan = LoadedPlan::fromBytes(bytes, c.layout.label());
    PredictOptions po{o.topology, o.calibration, o.storage};
    c.prediction = predict(plan, po);
    int over = c.prediction.overMemory(o.topology->memoryBytes);
    if (over >= 0) {
      const RankMemory &m = c.prediction.memory[over];
      c.rejected = "does not fit: rank " + std::to_string(over) + " needs " +
                   size(m.total()) + " (weights " + size(m.weightBytes) +
                   " + arena " + size(m.arenaBytes) + "), " +
                   size(o.topology->memoryBytes) + " per rank";
      return;
    }
    c.runSeconds = c.prediction.imageSeconds(o.steps);
    c.imageSeconds =
        c.runSeconds / (double(c.prediction.images) * c.layout.replicas);
    c.plan = std::move(bytes);
  } catch (const std::exception &e) {
    c.rejected = e.what();
  }
}

} // namespace

std::vector<Candidate> chooseLayout(const AutoOptions &o, const CompileFn &fn,
                                    std::string &error) noexcept {
  std::vector<Candidate> out;
  try {
    check(o.topology != nullptr, "--parallel auto needs a topology");
    check(o.ranks <= o.topology->ranks(), "--ranks ", o.ranks,
          " but topology '", o.topology->name, "' has ", o.topology->ranks(),
          " ranks");
    // Latency: one plan over every rank. Throughput: also N/d copies of a
    // plan over d ranks, each making its own images.
    std::vector<int> sizes;
    for (int d = 1; d <= o.ranks; ++d)
      if (o.ranks % d == 0 &&
          (o.objective == Objective::Throughput || d == o.ranks))
        sizes.push_back(d);
    // The layouts of n ranks the search tries.
    auto layoutsOf = [&](int n) {
      std::vector<Layout> ls;
      for (const std::string &p : degreeProducts(n)) {
        const size_t first = ls.size();
        ls.push_back({n, 1, p, "", 0, 0});
        // Micro-batches overlap the stages (exact).
        if (p.find("pipeline=") != std::string::npos)
          for (int m : {2, 4, 8, 16})
            ls.push_back({n, 1, p, "", 0, m});
        // tp's sums reduce-scattered over the tokens: the same traffic,
        // the token-wise ops on 1/tp of the tokens.
        // And in chunks whose all_reduces overlap the next chunk's GEMM
        // (not with the reduce-scatter: its sums are not all_reduces).
        if (p.find("tp=") != std::string::npos) {
          const size_t e = ls.size();
          for (size_t i = first; i < e; ++i) {
            Layout twin = ls[i];
            twin.tpReduceScatter = true;
            ls.push_back(twin);
          }
          if (o.tpChunks > 1)
            for (size_t i = first; i < e; ++i) {
              Layout twin = ls[i];
              twin.tpChunks = o.tpChunks;
              ls.push_back(twin);
            }
        }
      }
      if (o.approximate)
        for (const Layout &l : approximateLayouts(n))
          ls.push_back(l);
      return ls;
    };
    for (int d : sizes)
      for (Layout l : layoutsOf(d)) {
        Candidate c;
        l.ranks = d;
        l.replicas = o.ranks / d;
        c.layout = l;
        c.variant = l.microbatches > 0;
        evaluate(c, o, fn);
        out.push_back(std::move(c));
      }
    // The decoder and the text encoders on a rank of their own (the
    // classic "encoders + VAE on one GPU" layout): the denoiser on the
    // others.
    std::string denoiser, decoder;
    for (const Candidate &c : out) {
      if (!c.rejected.empty() || c.plan.empty())
        continue;
      LoadedPlan plan = LoadedPlan::fromBytes(c.plan, "layout");
      if (const plan::Pipeline *pl = plan.plan().pipeline())
        for (const plan::Component *comp : *pl->components()) {
          if (comp->role() == plan::ComponentRole::Denoiser)
            denoiser = comp->function()->str();
          if (comp->role() == plan::ComponentRole::Decoder ||
              comp->role() == plan::ComponentRole::TextEncoder)
            decoder += (decoder.empty() ? "" : "=0,") + comp->function()->str();
        }
      break;
    }
    if (!denoiser.empty() && !decoder.empty())
      for (int d : sizes) {
        if (d < 2)
          continue;
        std::string ranks;
        for (int r = 1; r < d; ++r)
          ranks += (r > 1 ? "+" : "") + std::to_string(r);
        for (Layout l : layoutsOf(d - 1)) {
          Candidate c;
          l.ranks = d;
          l.replicas = o.ranks / d;
          l.place = decoder + "=0," + denoiser + "=" + ranks;
          c.layout = l;
          c.variant = l.microbatches > 0;
          evaluate(c, o, fn);
          out.push_back(std::move(c));
        }
      }
    // A --tp-reduce-scatter or --tp-chunks twin that changed nothing (no op
    // took a token split, no all_reduce could be chunked: the same plan) or
    // whose layout was rejected adds no row.
    auto sameLayout = [](const Layout &a, const Layout &b) {
      return a.ranks == b.ranks && a.replicas == b.replicas &&
             a.parallel == b.parallel && a.place == b.place &&
             a.patches == b.patches && a.microbatches == b.microbatches;
    };
    auto twin = [](const Layout &l) {
      return l.tpReduceScatter || l.tpChunks > 1;
    };
    std::vector<bool> redundant(out.size(), false);
    for (size_t i = 0; i < out.size(); ++i) {
      if (!twin(out[i].layout))
        continue;
      for (const Candidate &base : out)
        if (!twin(base.layout) && sameLayout(base.layout, out[i].layout))
          redundant[i] = !base.rejected.empty() ||
                         (out[i].rejected.empty() && base.plan == out[i].plan);
    }
    for (size_t i = out.size(); i-- > 0;)
      if (redundant[i])
        out.erase(out.begin() + i);
    out.erase(std::remove_if(out.begin(), out.end(),
                             [](const Candidate &c) {
                               // Only the batch's own refusal: any other
                               // failure of a variant is shown.
                               return c.variant &&
                                      c.rejected.find("--microbatches") !=
                                          std::string::npos;
                             }),
              out.end());
    std::stable_sort(
        out.begin(), out.end(), [](const Candidate &a, const Candidate &b) {
          if (a.rejected.empty() != b.rejected.empty())
            return a.rejected.empty();
          return a.rejected.empty() && a.imageSeconds < b.imageSeconds;
        });
    // Only the winner's bytes are kept.
    for (size_t i = 1; i < out.size(); ++i)
      out[i].plan.clear();
  } catch (const std::exception &e) {
    error = e.what();
    out.clear();
  }
  return out;
}

std::string rankTable(const std::vector<Candidate> &cs, const AutoOptions &o) {
  std::ostringstream os;
  os << "fresco-compile: --parallel auto over " << o.ranks << " rank(s) of "
     << o.topology->name << " ("
     << (o.calibration ? "calibration " + o.calibration->file
                       : std::string("roofline, no calibration"))
     << "), objective "
     << (o.objective == Objective::Latency ? "latency" : "throughput") << ", "
     << o.steps << " steps:\n";
  auto labelOf = [](const Candidate &c) {
    return c.layout.label() + (c.layout.approximate() ? " *" : "");
  };
  // The layout column as wide as its longest label (placements are long).
  int width = 48;
  for (const Candidate &c : cs)
    width = std::max(width, int(labelOf(c).size()));
  std::vector<char> line(width + 120);
  std::snprintf(line.data(), line.size(), "  %-4s %-*s %10s %10s %10s %9s\n",
                "#", width, "layout", "step ms", "run s", "s/image", "max GiB");
  os << line.data();
  int n = 0;
  bool approximate = false;
  for (const Candidate &c : cs) {
    ++n;
    const std::string label = labelOf(c);
    approximate |= c.layout.approximate();
    if (!c.rejected.empty()) {
      os << "  -    " << label << ": rejected, " << c.rejected << "\n";
      continue;
    }
    uint64_t most = 0;
    for (const RankMemory &m : c.prediction.memory)
      most = std::max(most, m.total());
    std::snprintf(line.data(), line.size(),
                  "  %-4d %-*s %10.4g %10.4g %10.4g %9.3f\n", n, width,
                  label.c_str(), c.prediction.stepSeconds * 1e3, c.runSeconds,
                  c.imageSeconds, most / 1073741824.0);
    os << line.data();
  }
  if (approximate)
    os << "  * approximate: attention reads other patches' keys and values "
          "from the previous step (step ms: such a step; run s counts the "
          "fresh or warm-up steps)\n";
  return os.str();
}

bool tryLoadTopology(const std::string &name, Topology &out,
                     std::string &error) noexcept {
  try {
    out = loadTopology(name);
    return true;
  } catch (const std::exception &e) {
    error = e.what();
    return false;
  }
}

bool tryLoadCalibration(const std::string &path, Calibration &out,
                        std::string &error) noexcept {
  try {
    out = loadCalibration(path);
    return true;
  } catch (const std::exception &e) {
    error = e.what();
    return false;
  }
}

} // namespace fresco::planner
