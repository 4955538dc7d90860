//===- Calibration.cpp - Measured instruction times -----------------------===//
#include "planner/Calibration.h"
#include "planner/InstrWork.h"
#include "planner/JsonFields.h"

#include "runtime/core/Error.h"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace fresco::planner {

std::optional<double> Calibration::lookup(const std::string &op,
                                          const std::string &shape,
                                          double flops, double bytes) const {
  const bool byFlops = flopBound(op);
  std::vector<std::pair<double, double>> points; // work, seconds
  for (const CalibrationEntry &e : entries) {
    if (e.op != op)
      continue;
    if (e.shape == shape)
      return e.seconds;
    points.push_back({byFlops ? e.flops : e.bytes, e.seconds});
  }
  if (points.empty())
    return std::nullopt;
  const double work = byFlops ? flops : bytes;
  std::sort(points.begin(), points.end());
  if (work <= points.front().first) {
    // Below the smallest entry: a kernel never gets cheaper than its
    // fixed cost, which the smallest entry bounds from above.
    const auto &[w0, t0] = points.front();
    return w0 > 0 ? std::max(t0 * work / w0, 0.5 * t0) : t0;
  }
  if (work >= points.back().first) {
    const auto &[w1, t1] = points.back();
    return w1 > 0 ? t1 * work / w1 : t1;
  }
  auto hi =
      std::lower_bound(points.begin(), points.end(), std::make_pair(work, 0.0));
  auto lo = hi - 1;
  double f = (work - lo->first) / (hi->first - lo->first);
  return lo->second + f * (hi->second - lo->second);
}

std::string Calibration::toJson() const {
  std::ostringstream os;
  os.precision(9);
  os << "{\n  \"device\": " << nlohmann::json(device).dump()
     << ",\n  \"backend\": " << nlohmann::json(backend).dump()
     << ",\n  \"storage\": \"" << storage << "\",\n  \"threads\": " << threads
     << ",\n  \"entries\": [";
  for (size_t i = 0; i < entries.size(); ++i) {
    const CalibrationEntry &e = entries[i];
    os << (i ? "," : "") << "\n    {\"op\": \"" << e.op << "\", \"shape\": \""
       << e.shape << "\", \"flops\": " << e.flops << ", \"bytes\": " << e.bytes
       << ", \"seconds\": " << e.seconds << ", \"calls\": " << e.calls << "}";
  }
  os << "\n  ]\n}\n";
  return os.str();
}

namespace {

/// Bounds of an entry: one call of a day, 1e21 FLOPs or bytes.
constexpr double kMaxSeconds = 86400, kMaxWork = 1e21;

/// FLOPs or bytes of an entry: whole counts, 0 or in [1, kMaxWork].
double work(const JsonFields &e, const char *key, const std::string &at) {
  const double v = e.nonNegative(key);
  check(v == 0 || (v >= 1 && v <= kMaxWork), at, ": '", key,
        "' must be 0 or in [1, 1e21] (whole FLOPs or bytes per call), got ", v);
  return v;
}

} // namespace

Calibration parseCalibration(const std::string &text, const std::string &file) {
  JsonFields j = JsonFields::parse(text, "calibration " + file);
  Calibration c;
  c.file = file;
  c.device = j.string("device");
  c.backend = j.string("backend");
  c.storage = j.string("storage");
  check(c.storage == "f32" || c.storage == "bf16" || c.storage == "f16",
        "calibration ", file, ": storage must be f32, bf16 or f16, got '",
        c.storage, "'");
  c.threads = int(j.count("threads", 0, 1 << 20, /*optional=*/true));
  for (const JsonFields &e : j.objects("entries")) {
    CalibrationEntry x;
    x.op = e.string("op");
    x.shape = e.string("shape");
    // lookup() scales times by work ratios: an absurd entry (1e308 s, or a
    // work of 1e-300) made every prediction inf.
    const std::string at = "calibration " + file + ", entries[" +
                           std::to_string(c.entries.size()) + "]";
    x.flops = work(e, "flops", at);
    x.bytes = work(e, "bytes", at);
    x.seconds = e.nonNegative("seconds");
    x.calls = e.count("calls", 1, int64_t(1) << 40);
    check(x.seconds <= kMaxSeconds, at, ": 'seconds' must be at most ",
          kMaxSeconds, " (one day per call), got ", x.seconds);
    c.entries.push_back(std::move(x));
  }
  check(!c.entries.empty(), "calibration ", file, " has no entries");
  return c;
}

Calibration loadCalibration(const std::string &path) {
  std::ifstream in(path);
  check(bool(in), "cannot read calibration table '", path, "'");
  std::stringstream text;
  text << in.rdbuf();
  return parseCalibration(text.str(), path);
}

} // namespace fresco::planner
