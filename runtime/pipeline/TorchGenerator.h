//===- TorchGenerator.h - torch.randn's CPU stream, reproduced --*- C++ -*-===//
//
// `fresco-run --generator torch` draws the noise that diffusers draws from
// torch.Generator("cpu").manual_seed(seed) (or torch.manual_seed(seed)) in
// float32, so that a seed gives the picture diffusers gives for it. What
// torch 1.13 to 2.x do on the CPU, and what this file does:
//
//   The engine is MT19937 seeded with the seed's low 32 bits (init_genrand);
//   std::mt19937 is that engine, word for word.
//
//   randn(n), float32, n >= 16 (normal_fill): first n uniforms
//   u = (w & 0xFFFFFF) * 2^-24, one engine word w each; then, for every whole
//   block of 16, Box-Muller over the pairs (j, j + 8), j < 8:
//     r = sqrt(-2 log(1 - u_j)),  theta = float(2 pi) * u_{j+8}
//     out_j = r cos(theta),  out_{j+8} = r sin(theta)
//   in float32 arithmetic. When 16 does not divide n, 16 more uniforms are
//   drawn and the last 16 values are recomputed from them.
//
//   randn(n), n < 16: element by element, normal_distribution<double>: two
//   53-bit uniforms from 64-bit words (hi << 32 | lo, hi drawn first),
//   r = sqrt(-2 log(1 - u2)), theta = 2 pi u1, r cos(theta) returned and
//   r sin(theta) cached in the generator for its next such draw.
//
// torch's AVX2 build computes log, sin and cos with Cephes-style float32
// polynomials (avx_mathfun.h), other builds with libm; here they are
// float64 rounded to float32 (correctly rounded but for rare double
// roundings). Measured against torch 1.13's AVX2 path: within 3 float32 ulps
// (about 80% of the values bit-identical), relative error below 3e-7.
// (torch builds without AVX2, e.g. on aarch64, take the angle's product in
// float64: again ulps apart.)
//
// A pipeline run in bfloat16 or float16 draws in that dtype (randn_tensor
// takes the latents' dtype), another stream: uniforms of 8 (bf16) or 11
// (f16) bits, and normal_fill's scalar Box-Muller in the dtype's arithmetic,
// every operation's result rounded to the dtype (the angle (2 pi) u in
// float64, to float32, then to the dtype). Bit-identical on 65536-value
// streams to torch 2.5.1 (bf16, f16) and 1.13 (bf16; its f16 kept log,
// sqrt and the products in float32: a half ulp apart on a third of the
// values). torch 2.5.1 on an AVX512 machine gives 1.13's float32 and
// bfloat16 streams exactly.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_PIPELINE_TORCHGENERATOR_H
#define FRESCO_RUNTIME_PIPELINE_TORCHGENERATOR_H

#include "runtime/core/DType.h"

#include <cstdint>
#include <optional>
#include <random>

namespace fresco {

/// torch.Generator("cpu").manual_seed(seed), for torch.randn in `dtype`
/// (F32, BF16 or F16).
class TorchGenerator {
public:
  explicit TorchGenerator(uint64_t seed, DType dtype = DType::F32);

  /// torch.randn(n, generator=g, dtype=dtype) into out[0..n), as float32
  /// (exactly the dtype's values).
  void randn(float *out, int64_t n);
  /// The same in `dtype` instead of the generator's (a draw whose dtype
  /// diffusers fixes, as DPM-Solver's SDE step noise in float32).
  void randn(float *out, int64_t n, DType dtype);

  DType dtype() const { return dtype_; }

private:
  double uniform53();
  double normalDouble();
  float uniform();
  float toDType(float x) const; // rounded to nearest even
  void boxMuller16(float *d) const;

  DType dtype_;
  std::mt19937 engine_;
  std::optional<double> cachedNormal_; // normal_distribution<double>'s
};

} // namespace fresco

#endif // FRESCO_RUNTIME_PIPELINE_TORCHGENERATOR_H
