//===- CudaBackendAttention.cpp - CUDA attention entry points -------------===//
//
// attention, ring attention blocks and masked attention: cuDNN's flash
// attention for bf16/f16 where it applies, else Fresco's tensor-core or
// f32 kernels.
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/cuda/CudaBackendImpl.h"

namespace fresco::cudabackend {

void CudaBackend::attention(const float *q, const float *k, const float *v,
                            float *o, int64_t B, int64_t Tq, int64_t Tk,
                            int64_t H, int64_t Dh, float scale) {
  const cuda::AttentionDims d{B, Tq, Tk, H, Dh, scale, /*stats=*/false};
  if (aligned16({q, k, v, o}) && cudnnAttentionReady(d)) {
    cudnnAttention_->forward(d, q, k, v, o, nullptr, cudnnWorkspace_,
                             cudnnWorkspaceBytes_);
    cuda::checkLaunch("attention (cuDNN)", stream_);
    return;
  }
  if (tensorCoreAttention(Dh))
    cuda::attentionTensorCore(q, k, v, o, B, Tq, Tk, H, Dh, scale, storage_,
                              stream_);
  else
    cuda::attention(q, k, v, o, B, Tq, Tk, H, Dh, scale, storage_, stream_);
}

void CudaBackend::attentionBlock(const float *q, const float *k, const float *v,
                                 float *o, float *lse, int64_t B, int64_t Tq,
                                 int64_t Tk, int64_t H, int64_t Dh, float scale,
                                 bool first) {
  if (attentionBlockOnCudnn(q, k, v, o, lse, B, Tq, Tk, H, Dh, scale, first))
    return;
  if (tensorCoreAttention(Dh))
    cuda::attentionBlockTensorCore(q, k, v, o, lse, B, Tq, Tk, H, Dh, scale,
                                   first, storage_, stream_);
  else
    cuda::attentionBlock(q, k, v, o, lse, B, Tq, Tk, H, Dh, scale, first,
                         storage_, stream_);
}

bool CudaBackend::tensorCoreAttention(int64_t Dh) const {
  if (storage_ == DType::F32)
    return false;
  check(attentionEnvError_.empty(), attentionEnvError_);
  return attentionChoice_ != cuda::AttentionChoice::F32 &&
         cuda::attentionTensorCoreSupported(Dh);
}

void CudaBackend::attentionMasked(const float *q, const float *k,
                                  const float *v, const float *bias, float *o,
                                  int64_t B, int64_t Tq, int64_t Tk, int64_t H,
                                  int64_t Dh, float scale, bool causal) {
  cuda::attentionMasked(q, k, v, bias, o, B, Tq, Tk, H, Dh, scale, causal,
                        storage_, stream_);
}

bool CudaBackend::aligned16(std::initializer_list<const void *> ptrs) {
  for (const void *p : ptrs)
    if (alignmentOf(p) < 16)
      return false;
  return true;
}

bool CudaBackend::cudnnAttentionReady(const cuda::AttentionDims &d) {
  if (storage_ == DType::F32)
    return false;
  check(attentionEnvError_.empty(), attentionEnvError_);
  if (!cudnnAttention_ || d.B <= 0 || d.Tq <= 0 || d.Tk <= 0 || d.H <= 0 ||
      d.Dh <= 0)
    return false;
  // Asked for by name, cuDNN is used or the run stops: never a silent
  // switch to the kernel the run did not ask for.
  auto refuse = [&](const char *why) {
    if (attentionChoice_ == cuda::AttentionChoice::Cudnn)
      fail("FRESCO_CUDA_ATTENTION=cudnn: cuDNN attention for B=", d.B,
           " Tq=", d.Tq, " Tk=", d.Tk, " H=", d.H, " Dh=", d.Dh, " ", why,
           "; unset it (or 'auto') to fall back to Fresco's kernel");
    return false;
  };
  const cuda::AttentionSetup *setup = cudnnAttention_->find(d);
  if (!setup) {
    if (capturing()) // building a graph is no stream work
      return refuse("first seen while recording a CUDA graph (--graphs off "
                    "avoids recording)");
    setup = &cudnnAttention_->prepare(d);
  }
  if (!setup->ok && !setup->outOfRange &&
      attentionChoice_ == cuda::AttentionChoice::Cudnn)
    fail("FRESCO_CUDA_ATTENTION=cudnn: cuDNN attention unavailable for B=", d.B,
         " Tq=", d.Tq, " Tk=", d.Tk, " H=", d.H, " Dh=", d.Dh, " (", setup->why,
         "); unset it (or 'auto') to fall back to Fresco's kernel");
  if (!setup->ok)
    return false;
  if (!cudnnWorkspace(setup->workspaceBytes))
    return refuse("needs a larger workspace while recording a CUDA graph");
  return true;
}

bool CudaBackend::attentionBlockOnCudnn(const float *q, const float *k,
                                        const float *v, float *o, float *lse,
                                        int64_t B, int64_t Tq, int64_t Tk,
                                        int64_t H, int64_t Dh, float scale,
                                        bool first) {
  const cuda::AttentionDims d{B, Tq, Tk, H, Dh, scale, /*stats=*/true};
  if (!aligned16({q, k, v}) || !cudnnAttentionReady(d))
    return false;
  const size_t obBytes = (size_t(B * Tq * H * Dh) * elemSize_ + 255) & ~255ul;
  const size_t bytes = obBytes + size_t(B * H * Tq) * sizeof(float);
  if (bytes > scratchBytes_ && capturing()) {
    if (attentionChoice_ == cuda::AttentionChoice::Cudnn)
      fail("FRESCO_CUDA_ATTENTION=cudnn: ring attention's cuDNN block needs "
           "more scratch while recording a CUDA graph (B=",
           B, " Tq=", Tq, " H=", H, " Dh=", Dh,
           "); --graphs off avoids recording");
    return false;
  }
  char *ob = static_cast<char *>(scratch(bytes));
  float *lseb = reinterpret_cast<float *>(ob + obBytes);
  cudnnAttention_->forward(d, q, k, v, ob, lseb, cudnnWorkspace_,
                           cudnnWorkspaceBytes_);
  cuda::checkLaunch("attentionBlock (cuDNN)", stream_);
  cuda::attentionMergeBlock(ob, lseb, o, lse, B, Tq, H, Dh, first, storage_,
                            stream_);
  ++blocksOnCudnn_;
  return true;
}

} // namespace fresco::cudabackend
