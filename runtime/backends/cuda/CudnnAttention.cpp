//===- CudnnAttention.cpp - Flash attention through cuDNN's frontend ------===//
//
// The frontend is header-only and calls cuDNN's backend API by name
// (cudnnBackendCreateDescriptor, ...). libcudnn is not linked (CPU runs
// and machines without it must start), so CudnnShim.cpp defines those names
// as hidden forwarders to the library loaded here; CUDA runtime calls go to
// the statically linked cudart, so no second runtime is loaded.
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/cuda/CudnnAttention.h"
#include "runtime/backends/cuda/Cudnn.h"
#include "runtime/backends/cuda/CudnnShim.h"

#include "runtime/core/Error.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

namespace fresco {
namespace cuda {

AttentionChoice attentionChoice(std::string *error) {
  const char *v = std::getenv("FRESCO_CUDA_ATTENTION");
  if (!v || !*v || std::strcmp(v, "auto") == 0)
    return AttentionChoice::Auto;
  if (std::strcmp(v, "cudnn") == 0)
    return AttentionChoice::Cudnn;
  if (std::strcmp(v, "fresco") == 0)
    return AttentionChoice::Fresco;
  if (std::strcmp(v, "f32") == 0)
    return AttentionChoice::F32;
  *error = std::string("FRESCO_CUDA_ATTENTION=") + v +
           ": expected 'cudnn', 'fresco', 'f32' or 'auto'";
  return AttentionChoice::Auto;
}

/// Why `d` is not even tried: cuDNN's flash kernels take heads of
/// multiples of 8 (16-byte rows) up to 256 wide (the VAE's 512 and the
/// tests' odd widths stay on Fresco's kernels, silently); the frontend
/// checks the rest (check_support).
static std::string shapeRefusal(const AttentionDims &d) {
  if (d.Dh <= 0 || d.Dh % 8 != 0 || d.Dh > 256)
    return "head width " + std::to_string(d.Dh) +
           " (cuDNN needs a multiple of 8 up to 256)";
  if (d.Tq <= 0 || d.Tk <= 0 || d.B <= 0 || d.H <= 0)
    return "empty shape";
  return {};
}

} // namespace cuda
} // namespace fresco

#ifdef FRESCO_HAVE_CUDNN_FRONTEND

#include <cuda_runtime.h>
#include <cudnn_frontend.h>

#include <unordered_map>

namespace fresco {
namespace cuda {
namespace {

namespace fe = cudnn_frontend;

// The graph's tensors, by uid.
enum : int64_t { kQ = 1, kK, kV, kO, kStats };

/// [B, T, H*Dh] row-major seen as [B, H, T, Dh].
std::shared_ptr<fe::graph::Tensor_attributes>
bhsd(fe::graph::Graph &g, const char *name, int64_t uid, int64_t B, int64_t T,
     int64_t H, int64_t Dh) {
  return g.tensor(fe::graph::Tensor_attributes()
                      .set_name(name)
                      .set_uid(uid)
                      .set_dim({B, H, T, Dh})
                      .set_stride({T * H * Dh, Dh, H * Dh, 1}));
}

struct Plan {
  AttentionSetup setup;
  std::shared_ptr<fe::graph::Graph> graph;
};

} // namespace

bool cudnnAttentionAvailable(std::string *why) {
  std::string error;
  bool ok = shim::load(&error);
  if (why)
    *why = error;
  return ok;
}

std::string cudnnAttentionLibrary() {
  std::string lib = shim::loadedLibrary();
  if (lib.empty())
    return lib;
  return lib + ", frontend " + std::to_string(CUDNN_FRONTEND_MAJOR_VERSION) +
         "." + std::to_string(CUDNN_FRONTEND_MINOR_VERSION) + "." +
         std::to_string(CUDNN_FRONTEND_PATCH_VERSION);
}

struct CudnnAttention::Impl {
  int device;
  cudaStream_t stream;
  DType storage;
  cudnnHandle_t handle = nullptr;
  std::map<AttentionDims, Plan> plans;
  bool reported = false;

  /// Loads cuDNN and makes the handle on the backend's stream, or says why
  /// not.
  std::string openHandle() {
    std::string error;
    if (!shim::load(&error))
      return error;
    if (!handle) {
      // On the backend's device (a handle belongs to the current one).
      const auto s = cudnnStatus_t(
          createOnDevice(device, [&] { return int(cudnnCreate(&handle)); }));
      if (s != CUDNN_STATUS_SUCCESS) {
        handle = nullptr;
        return std::string("cudnnCreate failed: ") + cudnnGetErrorString(s);
      }
      if (cudnnSetStream(handle, stream) != CUDNN_STATUS_SUCCESS) {
        // Not kept: a later build would skip this and run on the legacy
        // default stream.
        cudnnDestroy(handle);
        handle = nullptr;
        return "cudnnSetStream failed";
      }
    }
    return {};
  }

  /// Builds d's graph with the frontend's SDPA `impl`, or says why not.
  std::string build(const AttentionDims &d, Plan &plan,
                    fe::AttentionImplementation_t impl) {
    auto g = std::make_shared<fe::graph::Graph>();
    g->set_io_data_type(storage == DType::BF16 ? fe::DataType_t::BFLOAT16
                                               : fe::DataType_t::HALF)
        .set_intermediate_data_type(fe::DataType_t::FLOAT)
        .set_compute_data_type(fe::DataType_t::FLOAT);
    auto q = bhsd(*g, "q", kQ, d.B, d.Tq, d.H, d.Dh);
    auto k = bhsd(*g, "k", kK, d.B, d.Tk, d.H, d.Dh);
    auto v = bhsd(*g, "v", kV, d.B, d.Tk, d.H, d.Dh);
    auto options = fe::graph::SDPA_attributes()
                       .set_name("fresco_attention")
                       .set_generate_stats(d.stats)
                       .set_attn_scale(d.scale)
                       .set_implementation(impl);
    auto [o, stats] = g->sdpa(q, k, v, options);
    o->set_output(true)
        .set_uid(kO)
        .set_dim({d.B, d.H, d.Tq, d.Dh})
        .set_stride({d.Tq * d.H * d.Dh, d.Dh, d.H * d.Dh, 1});
    if (d.stats) // [B, H, Tq, 1]: attentionBlock's lse layout
      stats->set_output(true)
          .set_uid(kStats)
          .set_data_type(fe::DataType_t::FLOAT)
          .set_dim({d.B, d.H, d.Tq, 1})
          .set_stride({d.H * d.Tq, d.Tq, 1, 1});
    auto step = [](const char *what, fe::error_t e) {
      return e.is_good() ? std::string()
                         : std::string(what) + ": " + e.get_message();
    };
    std::string why;
    if ((why = step("validate", g->validate())).empty() &&
        (why = step("operation graph", g->build_operation_graph(handle)))
            .empty() &&
        (why =
             step("plans", g->create_execution_plans(
                               {fe::HeurMode_t::A, fe::HeurMode_t::FALLBACK})))
            .empty() &&
        (why = step("support", g->check_support())).empty() &&
        (why = step("build", g->build_plans())).empty()) {
      int64_t bytes = 0;
      if (!(why = step("workspace", g->get_workspace_size(bytes))).empty())
        return why;
      plan.graph = std::move(g);
      plan.setup.workspaceBytes = size_t(bytes);
      return {};
    }
    return why;
  }
};

CudnnAttention::CudnnAttention(int device, CUstream_st *stream, DType storage,
                               bool required)
    : impl_(std::make_unique<Impl>()) {
  impl_->device = device;
  impl_->stream = stream;
  impl_->storage = storage;
  impl_->reported = required; // the caller reports refusals as errors
}

CudnnAttention::~CudnnAttention() {
  impl_->plans.clear(); // graphs before the handle they were built on
  if (impl_->handle)
    cudnnDestroy(impl_->handle);
}

const AttentionSetup *CudnnAttention::find(const AttentionDims &d) const {
  auto it = impl_->plans.find(d);
  return it == impl_->plans.end() ? nullptr : &it->second.setup;
}

const AttentionSetup &CudnnAttention::prepare(const AttentionDims &d) {
  if (const AttentionSetup *s = find(d))
    return *s;
  Plan &plan = impl_->plans[d];
  plan.setup.why = impl_->storage == DType::BF16 || impl_->storage == DType::F16
                       ? shapeRefusal(d)
                       : std::string("f32 storage");
  plan.setup.outOfRange = !plan.setup.why.empty();
  if (plan.setup.outOfRange)
    return plan.setup; // by design: not worth a message
  // AUTO picks cuDNN's unified SDPA operation whenever the library is new
  // enough (9.13.1), whatever the GPU and shape; where it has no engine,
  // the composite graph (the older path) may still have one.
  using Impl = fe::AttentionImplementation_t;
  try {
    plan.setup.why = impl_->openHandle();
  } catch (const std::exception &e) {
    plan.setup.why = e.what();
  }
  for (Impl impl : {Impl::AUTO, Impl::COMPOSITE}) {
    if (impl == Impl::AUTO && !plan.setup.why.empty())
      break; // no cuDNN: nothing to retry
    std::string why;
    try {
      why = impl_->build(d, plan, impl);
    } catch (const std::exception &e) { // the frontend throws on some paths
      why = e.what();
    }
    if (why.empty()) {
      plan.setup.why.clear();
      break;
    }
    plan.setup.why =
        impl == Impl::AUTO ? why : plan.setup.why + "; composite: " + why;
  }
  plan.setup.ok = plan.setup.why.empty();
  if (!plan.setup.ok && !impl_->reported) {
    impl_->reported = true;
    std::fprintf(stderr,
                 "fresco: cuDNN attention unavailable for B=%lld Tq=%lld "
                 "Tk=%lld H=%lld Dh=%lld (%s); using Fresco's kernel\n",
                 (long long)d.B, (long long)d.Tq, (long long)d.Tk,
                 (long long)d.H, (long long)d.Dh, plan.setup.why.c_str());
  }
  return plan.setup;
}

void CudnnAttention::forward(const AttentionDims &d, const void *q,
                             const void *k, const void *v, void *o, float *lse,
                             void *workspace, size_t workspaceBytes) {
  auto it = impl_->plans.find(d);
  check(it != impl_->plans.end() && it->second.setup.ok,
        "cuDNN attention: shape not set up");
  check(workspaceBytes >= it->second.setup.workspaceBytes,
        "cuDNN attention: workspace too small");
  std::unordered_map<int64_t, void *> pack = {{kQ, const_cast<void *>(q)},
                                              {kK, const_cast<void *>(k)},
                                              {kV, const_cast<void *>(v)},
                                              {kO, o}};
  if (d.stats)
    pack[kStats] = lse;
  fe::error_t e = it->second.graph->execute(impl_->handle, pack, workspace);
  check(e.is_good(), "cuDNN attention: ", e.get_message());
}

int CudnnAttention::shapesOnCudnn() const {
  int n = 0;
  for (const auto &[d, p] : impl_->plans)
    n += p.setup.ok;
  return n;
}

int CudnnAttention::shapesFallenBack() const {
  return int(impl_->plans.size()) - shapesOnCudnn();
}

} // namespace cuda
} // namespace fresco

#else // no frontend headers at configure time

namespace fresco {
namespace cuda {

namespace {
const char *kNoFrontend =
    "this build has no cuDNN frontend (pip install nvidia-cudnn-frontend, "
    "then reconfigure)";
} // namespace

bool cudnnAttentionAvailable(std::string *why) {
  if (why)
    *why = kNoFrontend;
  return false;
}

std::string cudnnAttentionLibrary() { return {}; }

struct CudnnAttention::Impl {
  std::map<AttentionDims, AttentionSetup> refused;
  bool required = false;
};

CudnnAttention::CudnnAttention(int, CUstream_st *, DType, bool required)
    : impl_(std::make_unique<Impl>()) {
  impl_->required = required;
}
CudnnAttention::~CudnnAttention() = default;

const AttentionSetup *CudnnAttention::find(const AttentionDims &d) const {
  auto it = impl_->refused.find(d);
  return it == impl_->refused.end() ? nullptr : &it->second;
}

const AttentionSetup &CudnnAttention::prepare(const AttentionDims &d) {
  AttentionSetup &s = impl_->refused[d];
  s.why = shapeRefusal(d);
  s.outOfRange = !s.why.empty();
  if (s.why.empty()) { // a shape cuDNN would have been asked for: say so
    s.why = kNoFrontend;
    static bool reported = false;
    if (!reported && !impl_->required)
      std::fprintf(stderr,
                   "fresco: cuDNN attention unavailable (%s); using "
                   "Fresco's kernel\n",
                   kNoFrontend);
    reported = reported || !impl_->required;
  }
  return s;
}

void CudnnAttention::forward(const AttentionDims &, const void *, const void *,
                             const void *, void *, float *, void *, size_t) {
  fail("cuDNN attention: ", kNoFrontend);
}

int CudnnAttention::shapesOnCudnn() const { return 0; }
int CudnnAttention::shapesFallenBack() const {
  return int(impl_->refused.size());
}

} // namespace cuda
} // namespace fresco

#endif
