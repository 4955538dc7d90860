//===- PlanVersion.h - The plan format version ------------------*- C++ -*-===//
#ifndef FRESCO_RUNTIME_CORE_PLANVERSION_H
#define FRESCO_RUNTIME_CORE_PLANVERSION_H

#include <cstdint>

namespace fresco {
/// Bumped whenever runtime/schema/plan.fbs changes meaning; the runtime
/// refuses plans of another version.
constexpr uint32_t kPlanVersion = 1;
} // namespace fresco

#endif // FRESCO_RUNTIME_CORE_PLANVERSION_H
