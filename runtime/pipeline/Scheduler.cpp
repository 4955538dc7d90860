//===- Scheduler.cpp - Scheduler factory and shared schedule maths --------===//
//
// The factory, the scheduler_config.json reader and the pieces the
// schedulers share: the config keys they have in common, diffusers' beta
// schedules and sigma tables (float32 torch), the numpy float64 grids
// (linspace, arange, interp), sigma/timestep conversions, the multistep
// solvers' timesteps and Karras schedules. log/exp/expm1 as torch and numpy
// compute them are in TorchMath.cpp.
//
//===----------------------------------------------------------------------===//
#include "runtime/pipeline/Scheduler.h"
#include "runtime/core/BoundedJson.h"
#include "runtime/core/Error.h"
#include "runtime/pipeline/Noise.h"
#include "runtime/pipeline/SchedulerUtils.h"
#include "runtime/pipeline/TorchGenerator.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace fresco {

const std::vector<std::string> &supportedSchedulers() {
  static const std::vector<std::string> names = {
      "DDIMScheduler",
      "DDPMScheduler",
      "DPMSolverMultistepScheduler",
      "DPMSolverSinglestepScheduler",
      "EDMDPMSolverMultistepScheduler",
      "EDMEulerScheduler",
      "EulerAncestralDiscreteScheduler",
      "EulerDiscreteScheduler",
      "FlowMatchEulerDiscreteScheduler",
      "HeunDiscreteScheduler",
      "KDPM2AncestralDiscreteScheduler",
      "KDPM2DiscreteScheduler",
      "LCMScheduler",
      "LMSDiscreteScheduler",
      "PNDMScheduler",
      "TCDScheduler",
      "UniPCMultistepScheduler"};
  return names;
}

std::unique_ptr<Scheduler> createScheduler(const std::string &className,
                                           const std::string &configJson) {
  using namespace sched;
  const Config c(className, configJson);
  if (className == "DDIMScheduler")
    return createDDIMScheduler(c);
  if (className == "EulerDiscreteScheduler")
    return createEulerDiscreteScheduler(c);
  if (className == "EulerAncestralDiscreteScheduler")
    return createEulerAncestralDiscreteScheduler(c);
  if (className == "DPMSolverMultistepScheduler")
    return createDPMSolverMultistepScheduler(c);
  if (className == "FlowMatchEulerDiscreteScheduler")
    return createFlowMatchEulerDiscreteScheduler(c);
  if (className == "PNDMScheduler")
    return createPNDMScheduler(c);
  if (className == "UniPCMultistepScheduler")
    return createUniPCMultistepScheduler(c);
  if (className == "LCMScheduler")
    return createLCMScheduler(c);
  if (className == "HeunDiscreteScheduler")
    return createHeunDiscreteScheduler(c);
  if (className == "LMSDiscreteScheduler")
    return createLMSDiscreteScheduler(c);
  if (className == "DPMSolverSinglestepScheduler")
    return createDPMSolverSinglestepScheduler(c);
  if (className == "KDPM2DiscreteScheduler")
    return createKDPM2DiscreteScheduler(c);
  if (className == "KDPM2AncestralDiscreteScheduler")
    return createKDPM2AncestralDiscreteScheduler(c);
  if (className == "DDPMScheduler")
    return createDDPMScheduler(c);
  if (className == "TCDScheduler")
    return createTCDScheduler(c);
  if (className == "EDMEulerScheduler")
    return createEDMEulerScheduler(c);
  if (className == "EDMDPMSolverMultistepScheduler")
    return createEDMDPMSolverMultistepScheduler(c);
  fail("unknown scheduler '", className,
       "'; supported schedulers: ", joinNames(supportedSchedulers()));
}

void Scheduler::setEta(double eta) {
  check(eta == 0, name(),
        "'s step takes no eta (only DDIMScheduler's and TCDScheduler's do; "
        "diffusers would ignore it)");
}

void Scheduler::setTimestepsWith(int numInferenceSteps,
                                 const TimestepOptions &options) {
  check(!options.mu, name(),
        ": set_timesteps takes no 'mu' (only flow-matching schedulers do)");
  check(options.sigmas.empty(), name(),
        ": custom sigmas are not supported by Fresco for this scheduler");
  setTimesteps(numInferenceSteps);
}

void Scheduler::addNoise(const float *, const float *, float *, int64_t,
                         int) const {
  fail("image-to-image is not implemented for ", name(),
       " (its add_noise and shortened schedule)");
}

void Scheduler::setBeginIndex(int) {
  fail("image-to-image is not implemented for ", name(),
       " (its add_noise and shortened schedule)");
}

namespace sched {

std::string joinNames(const std::vector<std::string> &values) {
  std::string out;
  for (size_t i = 0; i < values.size(); ++i) {
    if (i)
      out += ", ";
    out += values[i];
  }
  return out;
}

//===----------------------------------------------------------------------===//
// Config
//===----------------------------------------------------------------------===//

Config::Config(std::string className, const std::string &json)
    : className_(std::move(className)) {
  nlohmann::json parsed;
  try {
    parsed = parseBoundedJson(json.empty() ? std::string("{}") : json);
  } catch (const nlohmann::json::exception &e) {
    fail(className_, ": the scheduler config is not valid JSON: ", e.what());
  }
  check(parsed.is_object(), className_,
        ": the scheduler config must be a JSON object, got ",
        parsed.type_name());
  // from_config drops the keys a config marks as defaults, and private keys.
  std::vector<std::string> defaults;
  auto it = parsed.find("_use_default_values");
  if (it != parsed.end() && it->is_array())
    for (const auto &k : *it)
      if (k.is_string())
        defaults.push_back(k.get<std::string>());
  json_ = nlohmann::json::object();
  for (auto kv = parsed.begin(); kv != parsed.end(); ++kv) {
    const std::string &key = kv.key();
    if (!key.empty() && key[0] == '_')
      continue;
    if (std::find(defaults.begin(), defaults.end(), key) != defaults.end())
      continue;
    json_[key] = kv.value();
  }
}

const nlohmann::json *Config::find(const char *key) const {
  auto it = json_.find(key);
  if (it == json_.end() || it->is_null())
    return nullptr;
  return &*it;
}

bool Config::has(const char *key) const { return find(key) != nullptr; }

bool Config::isNull(const char *key) const {
  auto it = json_.find(key);
  return it != json_.end() && it->is_null();
}

int64_t Config::getInt(const char *key, int64_t def) const {
  const nlohmann::json *v = find(key);
  if (!v)
    return def;
  // An unsigned value past INT64_MAX would wrap to a negative one.
  if (v->is_number_unsigned() &&
      v->get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
    fail(className_, ": scheduler config key '", key, "' = ", v->dump(),
         " is too large for a 64-bit integer");
  if (v->is_number_integer())
    return v->get<int64_t>();
  if (v->is_number_float()) {
    double d = v->get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e15)
      return int64_t(d);
  }
  fail(className_, ": scheduler config key '", key,
       "' must be an integer, got ", v->dump());
}

namespace {

/// `v` (the value of `key`) as a T, after checking that it `isType`, which
/// the message describes as `what`.
template <typename T>
T checkedGet(const std::string &className, const char *key,
             const nlohmann::json &v, bool isType, const char *what) {
  check(isType, className, ": scheduler config key '", key, "' must be ", what,
        ", got ", v.dump());
  return v.get<T>();
}

} // namespace

double Config::getDouble(const char *key, double def) const {
  const nlohmann::json *v = find(key);
  return v ? checkedGet<double>(className_, key, *v, v->is_number(), "a number")
           : def;
}

bool Config::getBool(const char *key, bool def) const {
  const nlohmann::json *v = find(key);
  return v ? checkedGet<bool>(className_, key, *v, v->is_boolean(),
                              "true or false")
           : def;
}

std::string Config::getString(const char *key, const std::string &def) const {
  const nlohmann::json *v = find(key);
  return v ? checkedGet<std::string>(className_, key, *v, v->is_string(),
                                     "a string")
           : def;
}

std::string Config::getChoice(const char *key, const std::string &def,
                              const std::vector<std::string> &values) const {
  const std::string value = getString(key, def);
  std::string allowed;
  for (size_t i = 0; i < values.size(); ++i) {
    if (value == values[i])
      return value;
    allowed += i == 0 ? "" : i + 1 == values.size() ? " or " : ", ";
    allowed += values[i];
  }
  invalid(key, "\"" + value + "\"", allowed);
}

std::optional<double> Config::getOptionalDouble(const char *key) const {
  if (!has(key))
    return std::nullopt;
  return getDouble(key, 0.0);
}

std::optional<std::vector<double>>
Config::getDoubleList(const char *key) const {
  const nlohmann::json *v = find(key);
  if (!v)
    return std::nullopt;
  check(v->is_array(), className_, ": scheduler config key '", key,
        "' must be a list of numbers, got ", v->type_name());
  std::vector<double> out;
  out.reserve(v->size());
  for (const auto &e : *v) {
    check(e.is_number(), className_, ": scheduler config key '", key,
          "' must be a list of numbers; it holds ", e.dump());
    out.push_back(e.get<double>());
  }
  return out;
}

void Config::requireFalse(const char *key) const {
  if (getBool(key, false))
    unsupported(key, "true", "false");
}

void Config::unsupported(const char *key, const std::string &value,
                         const std::string &supported) const {
  fail(className_, ": scheduler config key '", key, "' = ", value,
       " is not supported by Fresco (supported: ", supported, ")");
}

void Config::invalid(const char *key, const std::string &value,
                     const std::string &allowed) const {
  fail(className_, ": scheduler config key '", key, "' = ", value,
       " is not valid (expected ", allowed, ")");
}

//===----------------------------------------------------------------------===//
// SchedulerBase
//===----------------------------------------------------------------------===//

void SchedulerBase::checkNumInferenceSteps(int n) const {
  check(n >= 1, name_, ": the number of inference steps must be >= 1, got ", n);
}

void SchedulerBase::resetSteps(int numInferenceSteps) {
  check(!timesteps_.empty(), name_, ": the schedule for ", numInferenceSteps,
        " steps is empty");
  // diffusers starts its step counter at the *second* occurrence of the first
  // timestep when it repeats, and then runs off the end of its sigmas; refuse
  // such schedules instead of misaligning silently.
  for (size_t i = 1; i < timesteps_.size(); ++i)
    check(timesteps_[i] != timesteps_[0], name_, ": ", numInferenceSteps,
          " inference steps give a schedule whose first timestep (",
          timesteps_[0],
          ") repeats, which diffusers cannot step through "
          "either; use fewer steps or other sigmas");
  timestepsSet_ = true;
  nextStep_ = 0;
}

void SchedulerBase::checkStepIndex(int stepIndex, const char *what) const {
  check(timestepsSet_, name_, ": ", what,
        " called before setTimesteps (diffusers' set_timesteps)");
  check(stepIndex >= 0 && size_t(stepIndex) < timesteps_.size(), name_, ": ",
        what, " step index ", stepIndex, " is out of range: the schedule has ",
        timesteps_.size(), " steps");
}

void SchedulerBase::beginStep(int stepIndex, int64_t n) {
  checkStepIndex(stepIndex, "step");
  check(stepIndex == nextStep_, name_, ": step ", stepIndex,
        " called out of order; the next step is ", nextStep_,
        " (steps run in order 0, 1, ... after setTimesteps)");
  check(n > 0, name_, ": step needs at least one value, got ", n);
  ++nextStep_;
}

//===----------------------------------------------------------------------===//
// Config keys the schedulers share
//===----------------------------------------------------------------------===//

int readSolverOrder(const Config &c, int64_t maxOrder,
                    const std::string &allowed, bool aboveUnsupported) {
  const int64_t order = c.getInt("solver_order", 2);
  if (order < 1 || (order > maxOrder && !aboveUnsupported))
    c.invalid("solver_order", std::to_string(order), allowed);
  if (order > maxOrder)
    c.unsupported("solver_order", std::to_string(order), allowed);
  return int(order);
}

Prediction readPrediction(const Config &c, const char *allowed,
                          bool originalSampleAlias) {
  const std::string pred = c.getString("prediction_type", "epsilon");
  if (pred == "epsilon")
    return Prediction::Epsilon;
  if (pred == "sample" || (originalSampleAlias && pred == "original_sample"))
    return Prediction::Sample;
  if (pred == "v_prediction")
    return Prediction::V;
  c.invalid("prediction_type", "\"" + pred + "\"", allowed);
}

int64_t readNumTrainTimesteps(const Config &c) {
  const int64_t numTrain = c.getInt("num_train_timesteps", 1000);
  check(numTrain >= 2, c.className(),
        ": scheduler config key 'num_train_timesteps' must be at least 2, "
        "got ",
        numTrain);
  checkNumTrainTimestepsLimit(c, numTrain);
  return numTrain;
}

void checkNumTrainTimestepsLimit(const Config &c, int64_t numTrain) {
  check(numTrain <= kMaxNumTrainTimesteps, c.className(),
        ": scheduler config key 'num_train_timesteps' = ", numTrain,
        " is more than ", kMaxNumTrainTimesteps,
        " (real schedulers train on about 1000)");
}

int64_t readStepsOffset(const Config &c) {
  const int64_t offset = c.getInt("steps_offset", 0);
  check(offset >= -kMaxNumTrainTimesteps && offset <= kMaxNumTrainTimesteps,
        c.className(), ": scheduler config key 'steps_offset' = ", offset,
        " is outside [", -kMaxNumTrainTimesteps, ", ", kMaxNumTrainTimesteps,
        "] (real configs use 0 or 1)");
  return offset;
}

std::string readTimestepSpacing(const Config &c, const std::string &def) {
  // Messages list the default first.
  std::vector<std::string> values = {def};
  for (const char *s : {"leading", "trailing", "linspace"})
    if (def != s)
      values.push_back(s);
  return c.getChoice("timestep_spacing", def, values);
}

KarrasConfig readKarrasConfig(const Config &c) {
  KarrasConfig k;
  k.enabled = c.getBool("use_karras_sigmas", false);
  const bool exponential = c.getBool("use_exponential_sigmas", false);
  const bool beta = c.getBool("use_beta_sigmas", false);
  if (int(k.enabled) + int(exponential) + int(beta) > 1)
    fail(c.className(), ": only one of the scheduler config keys "
                        "'use_karras_sigmas', 'use_exponential_sigmas', "
                        "'use_beta_sigmas' can be true");
  if (exponential)
    c.unsupported("use_exponential_sigmas", "true", "false");
  if (beta)
    c.unsupported("use_beta_sigmas", "true", "false");
  k.sigmaMin = c.getOptionalDouble("sigma_min");
  k.sigmaMax = c.getOptionalDouble("sigma_max");
  return k;
}

bool readFinalSigmaMin(const Config &c) {
  return c.getChoice("final_sigmas_type", "zero", {"zero", "sigma_min"}) ==
         "sigma_min";
}

//===----------------------------------------------------------------------===//
// Noise schedule
//===----------------------------------------------------------------------===//

std::vector<float> torchLinspaceF32(double startD, double endD, int64_t steps) {
  std::vector<float> out(size_t(std::max<int64_t>(steps, 0)));
  if (steps <= 0)
    return out;
  const float start = float(startD), end = float(endD);
  if (steps == 1) {
    out[0] = start;
    return out;
  }
  // PyTorch's CPU kernel: a float step, the first half counted up from
  // `start`, the second half down from `end`. Its AVX2 build fills 8 lanes
  // at a time, two vectors per iteration, each from a base computed with a
  // fused multiply-add plus an unfused k * step per lane; the scalar tail is
  // fused too. (Checked bit for bit against torch.linspace.)
  const float step = (end - start) / float(steps - 1);
  const int64_t halfway = steps / 2;
  auto base = [&](int64_t idx) {
    return idx < halfway ? std::fmaf(step, float(idx), start)
                         : std::fmaf(-step, float(steps - idx - 1), end);
  };
  constexpr int64_t kLanes = 8;
  int64_t idx = 0;
  while (idx + 2 * kLanes <= steps) {
    for (int v = 0; v < 2; ++v, idx += kLanes) {
      const float b = base(idx);
      for (int64_t k = 0; k < kLanes; ++k) {
        const float ks = float(k) * step;
        out[size_t(idx + k)] = b + ks;
      }
    }
  }
  for (; idx < steps; ++idx)
    out[size_t(idx)] = base(idx);
  return out;
}

std::vector<float> torchCumprodF32(const std::vector<float> &x) {
  std::vector<float> out(x.size());
  double acc = 1.0;
  for (size_t i = 0; i < x.size(); ++i) {
    acc *= double(x[i]);
    out[i] = float(acc);
  }
  return out;
}

std::vector<float> alphasCumprod(const std::vector<float> &betas) {
  std::vector<float> alphas(betas.size());
  for (size_t i = 0; i < betas.size(); ++i)
    alphas[i] = 1.0f - betas[i];
  return torchCumprodF32(alphas);
}

std::vector<float> trainSigmas(const std::vector<float> &ac) {
  std::vector<float> s(ac.size());
  for (size_t i = 0; i < ac.size(); ++i) {
    const float q = (1.0f - ac[i]) / ac[i];
    s[i] = std::sqrt(q);
  }
  return s;
}

namespace {

/// diffusers' betas_for_alpha_bar, cosine or (`exp`) exponential: Python
/// floats, then float32.
std::vector<float> alphaBarBetas(int64_t n, bool exp, double maxBeta = 0.999) {
  constexpr double kPi = 3.141592653589793; // Python's math.pi
  auto alphaBar = [exp](double t) {
    if (exp)
      return std::exp(t * -12.0);
    return std::pow(std::cos((t + 0.008) / 1.008 * kPi / 2), 2.0);
  };
  std::vector<float> betas(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double t1 = double(i) / double(n);
    const double t2 = double(i + 1) / double(n);
    betas[size_t(i)] =
        float(std::min(1 - alphaBar(t2) / alphaBar(t1), maxBeta));
  }
  return betas;
}

/// diffusers' rescale_zero_terminal_snr (arXiv 2305.08891, Algorithm 1), in
/// float32 like the torch original.
std::vector<float> rescaleZeroTerminalSnr(const std::vector<float> &betas) {
  std::vector<float> s = alphasCumprod(betas);
  for (float &v : s)
    v = std::sqrt(v);
  const float s0 = s.front(), sT = s.back();
  for (float &v : s)
    v -= sT;
  const float scale = s0 / (s0 - sT);
  for (float &v : s)
    v *= scale;
  std::vector<float> out(s.size());
  float prev = 0.0f;
  for (size_t i = 0; i < s.size(); ++i) {
    const float bar = s[i] * s[i];
    const float alpha = i == 0 ? bar : bar / prev;
    out[i] = 1.0f - alpha;
    prev = bar;
  }
  return out;
}

} // namespace

std::vector<float> makeBetas(const Config &c, int64_t numTrain,
                             bool readRescaleZeroSnr,
                             const BetaDefaults &defaults) {
  std::vector<float> betas;
  if (auto trained = c.getDoubleList("trained_betas")) {
    check(int64_t(trained->size()) == numTrain, c.className(),
          ": scheduler config key 'trained_betas' has ", trained->size(),
          " values but num_train_timesteps is ", numTrain);
    for (double b : *trained)
      betas.push_back(float(b));
  } else {
    const double start = c.getDouble("beta_start", defaults.start);
    const double end = c.getDouble("beta_end", defaults.end);
    const std::string schedule =
        c.getString("beta_schedule", defaults.schedule);
    if (schedule == "linear") {
      betas = torchLinspaceF32(start, end, numTrain);
    } else if (schedule == "scaled_linear") {
      // Python's beta ** 0.5, then a float32 linspace squared in float32.
      betas =
          torchLinspaceF32(std::pow(start, 0.5), std::pow(end, 0.5), numTrain);
      for (float &b : betas)
        b = b * b;
    } else if (schedule == "squaredcos_cap_v2") {
      betas = alphaBarBetas(numTrain, /*exp=*/false);
    } else if (schedule == "exp" && defaults.exp) {
      betas = alphaBarBetas(numTrain, /*exp=*/true);
    } else if (schedule == "sigmoid" && defaults.sigmoid) {
      // torch.sigmoid(torch.linspace(-6, 6, n)) * (end - start) + start.
      betas = torchSigmoidF32(torchLinspaceF32(-6.0, 6.0, numTrain));
      const float span = float(end - start), from = float(start);
      for (float &b : betas) {
        const float scaled = b * span;
        b = scaled + from;
      }
    } else {
      c.invalid("beta_schedule", "\"" + schedule + "\"",
                defaults.exp ? "linear, scaled_linear, squaredcos_cap_v2 or exp"
                : defaults.sigmoid
                    ? "linear, scaled_linear, squaredcos_cap_v2 or "
                      "sigmoid"
                    : "linear, scaled_linear or squaredcos_cap_v2");
    }
  }
  // 1 - beta is each step's kept signal: outside [0, 1) the schedule has
  // no meaning and the denoiser would only ever see non-finite inputs.
  for (size_t i = 0; i < betas.size(); ++i)
    check(std::isfinite(betas[i]) && betas[i] >= 0.0f && betas[i] < 1.0f,
          c.className(), ": beta ", i, " of the schedule is ", betas[i],
          ", outside [0, 1): check beta_start, beta_end or trained_betas "
          "in scheduler_config.json");
  if (readRescaleZeroSnr && c.getBool("rescale_betas_zero_snr", false))
    betas = rescaleZeroTerminalSnr(betas);
  return betas;
}

SigmaTables makeSigmaTables(const Config &c, int64_t numTrain,
                            bool readRescaleZeroSnr,
                            const BetaDefaults &defaults) {
  SigmaTables t;
  t.alphasCumprod =
      alphasCumprod(makeBetas(c, numTrain, readRescaleZeroSnr, defaults));
  // A zero terminal SNR would make the last sigma infinite.
  if (readRescaleZeroSnr && c.getBool("rescale_betas_zero_snr", false))
    t.alphasCumprod.back() = 0x1p-24f;
  t.trainSigmas = trainSigmas(t.alphasCumprod);
  t.logSigmas.resize(t.trainSigmas.size());
  for (size_t i = 0; i < t.trainSigmas.size(); ++i)
    t.logSigmas[i] = npLogF32(t.trainSigmas[i]);
  return t;
}

//===----------------------------------------------------------------------===//
// numpy helpers
//===----------------------------------------------------------------------===//

std::vector<double> npLinspace(double start, double stop, int64_t num) {
  std::vector<double> y(size_t(std::max<int64_t>(num, 0)));
  const int64_t div = num - 1;
  const double delta = stop - start;
  if (div > 0) {
    const double step = delta / double(div);
    for (int64_t i = 0; i < num; ++i)
      y[size_t(i)] =
          (step == 0 ? double(i) / double(div) * delta : double(i) * step) +
          start;
    y.back() = stop;
  } else {
    for (int64_t i = 0; i < num; ++i)
      y[size_t(i)] = double(i) * delta + start;
  }
  return y;
}

std::vector<double> npArange(double start, double stop, double step) {
  const double len = std::ceil((stop - start) / step);
  if (!(len > 0))
    return {};
  const int64_t n = int64_t(len);
  std::vector<double> out(static_cast<size_t>(n));
  out[0] = start;
  if (n > 1)
    out[1] = start + step;
  // numpy's fill derives the increment from the first two values.
  const double delta = n > 1 ? out[1] - start : 0.0;
  for (int64_t i = 2; i < n; ++i)
    out[size_t(i)] = start + double(i) * delta;
  return out;
}

std::vector<double> npInterpArange(const std::vector<double> &x,
                                   const std::vector<float> &fp) {
  const int64_t n = int64_t(fp.size());
  std::vector<double> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    if (std::isnan(v)) {
      out[i] = v;
    } else if (v < 0) {
      out[i] = fp.front();
    } else if (v >= double(n - 1)) {
      out[i] = fp.back();
    } else {
      const int64_t j = int64_t(std::floor(v));
      if (double(j) == v) {
        out[i] = fp[size_t(j)];
      } else {
        const double slope = double(fp[size_t(j) + 1]) - double(fp[size_t(j)]);
        const double r = slope * (v - double(j)) + double(fp[size_t(j)]);
        out[i] = r;
      }
    }
  }
  return out;
}

double sigmaToT(double sigma, const std::vector<float> &logSigmas,
                bool torchFloat32) {
  const int64_t n = int64_t(logSigmas.size());
  const double logSigma = std::log(std::max(sigma, 1e-10));
  // numpy's value-based casting: float64 scalar op float32 array -> float32.
  const float logSigma32 = float(logSigma);
  int64_t low = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float d = logSigma32 - logSigmas[size_t(i)];
    if (d >= 0)
      low = i; // argmax(cumsum(dists >= 0)): the last index where it holds
  }
  low = std::min(low, n - 2);
  const int64_t high = low + 1;
  const float lo = logSigmas[size_t(low)], hi = logSigmas[size_t(high)];
  const float num = lo - logSigma32;
  const float den = lo - hi;
  float w = num / den;
  if (!std::isnan(w))
    w = std::min(std::max(w, 0.0f), 1.0f);
  const float oneMinusW = 1.0f - w;
  if (torchFloat32) { // a float32 tensor times an int64 one stays float32
    const float a = oneMinusW * float(low), b = w * float(high);
    return a + b;
  }
  // float32 array times int64 array promotes to float64.
  const double a = double(oneMinusW) * double(low);
  const double b = double(w) * double(high);
  return a + b;
}

std::vector<double> karrasSigmas(double sigmaMin, double sigmaMax, int64_t n) {
  const double rho = 7.0;
  const std::vector<double> ramp = npLinspace(0, 1, n);
  const double minInvRho = std::pow(sigmaMin, 1 / rho);
  const double maxInvRho = std::pow(sigmaMax, 1 / rho);
  std::vector<double> out(ramp.size());
  for (size_t i = 0; i < ramp.size(); ++i) {
    const double r = ramp[i] * (minInvRho - maxInvRho);
    out[i] = std::pow(maxInvRho + r, rho);
  }
  return out;
}

AlphaSigma alphaSigma(float sigma) {
  const float sq = sigma * sigma + 1.0f;
  const float alpha = 1.0f / std::sqrt(sq);
  const float s = sigma * alpha;
  const float lambda = torchLogF32(alpha) - torchLogF32(s);
  return {alpha, s, lambda};
}

void AlphasCumprodScheduler::addNoise(const float *original, const float *noise,
                                      float *out, int64_t n,
                                      int stepIndex) const {
  checkStepIndex(stepIndex, "addNoise");
  ddpmAddNoise(alphaAt(int64_t(timesteps_[size_t(stepIndex)])), original, noise,
               out, n);
}

std::vector<double> ddimTimesteps(const std::string &name,
                                  const std::string &spacing, int64_t numTrain,
                                  int n, int64_t stepsOffset) {
  std::vector<double> ts;
  if (spacing == "linspace") {
    std::vector<double> t = npLinspace(0, double(numTrain - 1), n);
    for (auto it = t.rbegin(); it != t.rend(); ++it)
      ts.push_back(npRound(*it));
  } else if (spacing == "leading") {
    const int64_t ratio = numTrain / n;
    for (int64_t i = n - 1; i >= 0; --i)
      ts.push_back(double(i * ratio + stepsOffset));
  } else { // trailing
    const double ratio = double(numTrain) / double(n);
    // np.arange may yield n + 1 values here (float length rounding);
    // diffusers keeps them all, and so do we.
    for (double t : npArange(double(numTrain), 0, -ratio))
      ts.push_back(double(int64_t(npRound(t)) - 1));
  }
  // Trailing spacing can end on timestep -1 (when np.arange yields n + 1
  // values); diffusers then indexes alphas_cumprod[-1], the last entry, as
  // Python does, and so do the steps. Beyond the table is an IndexError.
  for (double t : ts)
    check(t >= -double(numTrain) && t < double(numTrain), name, ": timestep ",
          t, " of the ", n, "-step schedule is outside 0..", numTrain - 1,
          " (steps_offset too large for this step count)");
  return ts;
}

std::vector<double> lcmTimesteps(const std::string &name, int64_t numTrain,
                                 int64_t originalSteps, int n) {
  check(originalSteps <= numTrain, name, ": original_inference_steps (",
        originalSteps, ") cannot be larger than num_train_timesteps (",
        numTrain, ")");
  check(n <= numTrain, name, ": ", n,
        " inference steps cannot be more than num_train_timesteps (", numTrain,
        ")");
  check(n <= originalSteps, name, ": ", n,
        " inference steps cannot be more than original_inference_steps (",
        originalSteps,
        "): the schedule is a subset of the distillation timesteps");
  // The distillation timesteps k - 1, 2k - 1, ..., noisiest first, and n
  // of them at indices floor(i * L / n) (np.linspace without endpoint).
  const int64_t k = numTrain / originalSteps;
  const double stride = double(originalSteps) / double(n);
  std::vector<double> ts;
  for (int i = 0; i < n; ++i) {
    const int64_t index = int64_t(std::floor(double(i) * stride));
    ts.push_back(double((originalSteps - index) * k - 1));
  }
  return ts;
}

std::vector<double> integerTimesteps(const std::string &name,
                                     const std::string &spacing,
                                     int64_t numTrain, int64_t last, int n,
                                     int64_t stepsOffset) {
  std::vector<double> ts;
  if (spacing == "linspace") {
    std::vector<double> t = npLinspace(0, double(last - 1), n + 1);
    for (int64_t i = n; i >= 1; --i)
      ts.push_back(npRound(t[size_t(i)]));
  } else if (spacing == "leading") {
    const int64_t ratio = last / (n + 1);
    for (int64_t i = n; i >= 1; --i)
      ts.push_back(double(i * ratio + stepsOffset));
    // diffusers keeps such timesteps and np.interp clamps their sigmas to
    // the table's end: two of them give equal sigmas, h = 0 and a 0/0 in
    // the multistep update (NaN latents). Refused, as DDIM and PNDM do.
    for (double t : ts)
      check(t >= 0 && t < double(numTrain), name, ": timestep ", t, " of the ",
            n, "-step schedule is outside 0..", numTrain - 1, " (steps_offset ",
            stepsOffset, " too large for this step count)");
  } else { // trailing; numpy may give n + 1 values
    const double ratio = double(numTrain) / double(n);
    for (double t : npArange(double(last), 0, -ratio))
      ts.push_back(double(int64_t(npRound(t)) - 1));
  }
  return ts;
}

void karrasSchedule(const KarrasConfig &karras, const SigmaTables &tables,
                    int n, std::vector<double> &sigmas,
                    std::vector<double> &timesteps) {
  // Over the whole training range (the spacing only matters for the count),
  // then timesteps rounded back to integers.
  const double sMin =
      karras.sigmaMin ? *karras.sigmaMin : double(tables.trainSigmas.front());
  const double sMax =
      karras.sigmaMax ? *karras.sigmaMax : double(tables.trainSigmas.back());
  sigmas = karrasSigmas(sMin, sMax, n);
  timesteps.clear();
  for (double s : sigmas)
    timesteps.push_back(npRound(sigmaToT(s, tables.logSigmas)));
}

std::vector<float> drawStepNoise(const std::string &name,
                                 const std::optional<StepNoise> &noise,
                                 int64_t n, int stepIndex, bool torchF32) {
  check(noise.has_value(), name,
        ": step needs the seed of its noise (setStepNoise)");
  const int64_t m = noise->valuesPerImage;
  check(m > 0 && n % m == 0, name, ": step got ", n,
        " values, not a whole number of images of ", m);
  std::vector<float> fresh(static_cast<size_t>(n));
  std::vector<TorchGenerator> *torch = noise->torch;
  auto draw = [&](TorchGenerator &g, float *out, int64_t count) {
    if (torchF32)
      g.randn(out, count, DType::F32);
    else
      g.randn(out, count);
  };
  if (torch && torch->size() == 1)
    draw(torch->front(), fresh.data(), n);
  else if (torch)
    for (int64_t image = 0; image < n / m; ++image)
      draw(torch->at(size_t(image)), fresh.data() + image * m, m);
  else
    for (int64_t image = 0; image < n / m; ++image)
      stepNoise(noise->seed, image, stepIndex, fresh.data() + image * m, m);
  return fresh;
}

} // namespace sched
} // namespace fresco
