//===- EulerFamily.cpp - What the Euler schedulers share ------------------===//
//
// diffusers' EulerDiscreteScheduler and EulerAncestralDiscreteScheduler
// (0.31.0) build the same schedule: float32 timestep grids from numpy,
// sigmas interpolated in float64 by np.interp, both stored as float32; and
// they scale the model input and size the initial noise the same way.
//
//===----------------------------------------------------------------------===//
#include "runtime/pipeline/SchedulerUtils.h"

#include <cmath>

namespace fresco {
namespace sched {

EulerFamilyBase::EulerFamilyBase(std::string name, const Config &c,
                                 const char *allowedPredictions,
                                 bool originalSampleAlias,
                                 bool readRescaleZeroSnr,
                                 const BetaDefaults &defaults)
    : SchedulerBase(std::move(name)) {
  numTrain_ = readNumTrainTimesteps(c);
  tables_ = makeSigmaTables(c, numTrain_, readRescaleZeroSnr, defaults);
  prediction_ = readPrediction(c, allowedPredictions, originalSampleAlias);
  spacing_ = readTimestepSpacing(c, "linspace");
  stepsOffset_ = readStepsOffset(c);
  // Until set_timesteps, diffusers' sigmas are the training ones, noisiest
  // first, then 0 (init_noise_sigma reads them).
  sigmas_.assign(tables_.trainSigmas.rbegin(), tables_.trainSigmas.rend());
  sigmas_.push_back(0.0f);
}

std::vector<float> EulerFamilyBase::timestepGrid(int n) const {
  std::vector<float> ts;
  if (spacing_ == "linspace") {
    std::vector<double> t = npLinspace(0, double(numTrain_ - 1), n);
    for (auto it = t.rbegin(); it != t.rend(); ++it)
      ts.push_back(float(*it));
  } else if (spacing_ == "leading") {
    const int64_t ratio = numTrain_ / n;
    for (int64_t i = n - 1; i >= 0; --i)
      ts.push_back(float(i * ratio) + float(stepsOffset_));
  } else { // trailing; may give n + 1 values like numpy does
    const double ratio = double(numTrain_) / double(n);
    for (double t : npArange(double(numTrain_), 0, -ratio))
      ts.push_back(float(npRound(t)) - 1.0f);
  }
  return ts;
}

std::vector<double>
EulerFamilyBase::interpolatedSigmas(const std::vector<float> &ts) const {
  return npInterpArange(std::vector<double>(ts.begin(), ts.end()),
                        tables_.trainSigmas);
}

void EulerFamilyBase::baseSchedule(int n, const KarrasConfig &karras,
                                   bool roundTimesteps,
                                   std::vector<double> &sigmas,
                                   std::vector<double> &timesteps) const {
  const std::vector<float> grid = timestepGrid(n);
  sigmas = interpolatedSigmas(grid);
  timesteps.assign(grid.begin(), grid.end());
  if (!karras.enabled)
    return;
  sigmas = karrasSigmas(karras.sigmaMin.value_or(sigmas.back()),
                        karras.sigmaMax.value_or(sigmas.front()), n);
  timesteps.clear();
  for (double s : sigmas) {
    const double t = sigmaToT(s, tables_.logSigmas);
    timesteps.push_back(roundTimesteps ? npRound(t) : t);
  }
}

double EulerFamilyBase::initNoiseSigma() const {
  float maxSigma = sigmas_[0];
  for (float s : sigmas_)
    maxSigma = std::isnan(s) || s > maxSigma ? s : maxSigma;
  if (spacing_ == "linspace" || spacing_ == "trailing")
    return maxSigma;
  const float sq = maxSigma * maxSigma + 1.0f;
  return std::sqrt(sq);
}

void EulerFamilyBase::scaleModelInput(float *sample, int64_t n, int stepIndex) {
  checkStepIndex(stepIndex, "scaleModelInput");
  const float sigma = sigmas_[size_t(stepIndex)];
  const float sq = sigma * sigma + 1.0f;
  const float denom = std::sqrt(sq);
  for (int64_t i = 0; i < n; ++i)
    sample[i] = sample[i] / denom;
}

void EulerFamilyBase::addNoise(const float *original, const float *noise,
                               float *out, int64_t n, int stepIndex) const {
  checkStepIndex(stepIndex, "addNoise");
  const float sigma = sigmas_[size_t(stepIndex)];
  for (int64_t i = 0; i < n; ++i) {
    const float scaled = noise[i] * sigma;
    out[i] = original[i] + scaled;
  }
}

void EulerFamilyBase::setBeginIndex(int stepIndex) {
  checkStepIndex(stepIndex, "setBeginIndex");
  nextStep_ = stepIndex;
}

} // namespace sched
} // namespace fresco
