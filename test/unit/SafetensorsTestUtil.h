//===- SafetensorsTestUtil.h - the safetensors tests' helpers ---*- C++ -*-===//
//
// Shared by the Safetensors*Test.cpp and CheckpointTest.cpp files.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_TEST_UNIT_SAFETENSORSTESTUTIL_H
#define FRESCO_TEST_UNIT_SAFETENSORSTESTUTIL_H

#include "runtime/core/Error.h"
#include "runtime/io/Checkpoint.h"
#include "runtime/io/Safetensors.h"
#include "test/unit/TestUtil.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <vector>

namespace fresco::safetensorstest {

inline std::vector<float> iota(size_t n, float start = 0) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = start + float(i);
  return v;
}

} // namespace fresco::safetensorstest

#endif // FRESCO_TEST_UNIT_SAFETENSORSTESTUTIL_H
