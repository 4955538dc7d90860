//===- WeightTable.h - A plan holding only a weight table -------*- C++ -*-===//
//
// For tests of the weight store and LoRA merging (unit tests, the lora fuzz
// target): one rank, no functions. No gtest here.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_TEST_UNIT_WEIGHTTABLE_H
#define FRESCO_TEST_UNIT_WEIGHTTABLE_H

#include "runtime/core/Plan.h"

#include <cstdint>
#include <string>
#include <vector>

namespace fresco::test {

struct SliceSpec {
  std::string name;
  std::vector<int64_t> full, offsets, sizes;
  std::string component = "model";
};

/// A plan buffer holding one rank whose weight table is `slices`.
inline std::vector<uint8_t> weightTable(const std::vector<SliceSpec> &slices) {
  namespace fp = fresco::plan;
  flatbuffers::FlatBufferBuilder b;
  std::vector<flatbuffers::Offset<fp::WeightSlice>> ws;
  for (const SliceSpec &s : slices)
    ws.push_back(fp::CreateWeightSlice(
        b, b.CreateString(s.component), b.CreateString(s.name), fp::DType::F32,
        b.CreateVector(s.full), b.CreateVector(s.offsets),
        b.CreateVector(s.sizes)));
  std::vector<flatbuffers::Offset<fp::Function>> none;
  auto rank =
      fp::CreateRankProgram(b, 0, b.CreateVector(none), b.CreateVector(ws), 0);
  std::vector<flatbuffers::Offset<fp::RankProgram>> ranks = {rank};
  fp::FinishPlanBuffer(
      b, fp::CreatePlan(b, 0, b.CreateString("t"), 1, b.CreateVector(ranks)));
  return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
}

/// Its only rank.
inline const plan::RankProgram &rankOf(const std::vector<uint8_t> &buffer) {
  return *plan::GetPlan(buffer.data())->ranks()->Get(0);
}

} // namespace fresco::test

#endif // FRESCO_TEST_UNIT_WEIGHTTABLE_H
