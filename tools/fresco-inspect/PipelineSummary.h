//===- PipelineSummary.h - fresco-inspect: the Pipeline table ---*- C++ -*-===//
#ifndef FRESCO_TOOLS_FRESCO_INSPECT_PIPELINESUMMARY_H
#define FRESCO_TOOLS_FRESCO_INSPECT_PIPELINESUMMARY_H

#include "runtime/pipeline/PipelineSpec.h"

#include <string>

namespace fresco::inspect {

/// Lines describing the sampler and each component (function, ranks,
/// input and output roles), and what this runtime cannot generate yet.
std::string describePipeline(const PipelineSpec &spec);

/// The same as a JSON object.
std::string pipelineJson(const PipelineSpec &spec);

} // namespace fresco::inspect

#endif // FRESCO_TOOLS_FRESCO_INSPECT_PIPELINESUMMARY_H
