//===- Noise.h - Reproducible Gaussian noise for latents --------*- C++ -*-===//
//
// Initial latents come from a counter-based generator, so that they are the
// same on every platform and thread count and so that image i of a batch
// depends only on (seed, i): `--class-label 3,7 --seed 0` gives image 0
// equal to `--class-label 3 --seed 0`. The fresh noise an ancestral
// scheduler adds at each step is a second family of streams of the same
// generator, image i's at step s depending only on (seed, i, s). (This is
// fresco's own stream; it does not reproduce torch.randn.)
//
// The algorithm, exactly:
//
//   Philox4x32-10 (Salmon et al., SC'11; Random123's philox4x32_R with R=10)
//   maps a 128-bit counter (c0, c1, c2, c3) and a 64-bit key (k0, k1), all
//   uint32, to four uint32. Ten rounds; before every round but the first,
//   k0 += 0x9E3779B9 and k1 += 0xBB67AE85 (mod 2^32). A round is
//     p0 = 0xD2511F53 * c0,  p1 = 0xCD9E8D57 * c2          (64-bit products)
//     (c0, c1, c2, c3) = (hi(p1) ^ c1 ^ k0, lo(p1), hi(p0) ^ c3 ^ k1, lo(p0))
//   with hi/lo the upper/lower 32 bits.
//
//   gaussianNoise(seed, i, out, n): key = (seed & 0xffffffff, seed >> 32).
//   Element k (0 <= k < n) uses block b = k / 4 and lane k % 4:
//     (w0, w1, w2, w3) = philox4x32_10((b & 0xffffffff, b >> 32,
//                                       i & 0xffffffff, i >> 32), key)
//     u_j = (w_j + 1) * 2^-32                   float64, uniform in (0, 1]
//     r01 = sqrt(-2 log u0), t01 = (2 pi) u1    (Box-Muller, float64)
//     r23 = sqrt(-2 log u2), t23 = (2 pi) u3
//     lanes 0..3 = r01 cos t01, r01 sin t01, r23 cos t23, r23 sin t23
//     out[k] = float32(lane k % 4)              (round to nearest)
//   The last block's unused lanes are dropped, so a prefix of a longer
//   stream equals a shorter one.
//
//   stepNoise(seed, i, s, out, n), the noise of image i at step s (0-based,
//   the scheduler's step index), 0 <= i < 2^32, 0 <= s < 2^31: the same with
//   the counter's upper words (i, 0x80000000 | s) instead of
//   (i & 0xffffffff, i >> 32):
//     (w0, w1, w2, w3) = philox4x32_10((b & 0xffffffff, b >> 32,
//                                       i, 0x80000000 | s), key)
//   gaussianNoise's last counter word i >> 32 is below 2^31 for every int64
//   index, so no counter of one family occurs in the other.
//
// In NumPy (matches to within 1 float32 ulp; bit-exact wherever log/sin/cos
// agree with this build's libm to within float32 rounding, i.e. nearly
// always):
//
//   import numpy as np
//   def philox4x32_10(c, k0, k1):
//       c0, c1, c2, c3 = (np.asarray(x, np.uint64) for x in c)
//       k0, k1, M = np.uint64(k0), np.uint64(k1), np.uint64(0xFFFFFFFF)
//       for r in range(10):
//           if r:
//               k0 = (k0 + np.uint64(0x9E3779B9)) & M
//               k1 = (k1 + np.uint64(0xBB67AE85)) & M
//           p0 = np.uint64(0xD2511F53) * c0
//           p1 = np.uint64(0xCD9E8D57) * c2
//           c0, c1, c2, c3 = ((p1 >> np.uint64(32)) ^ c1 ^ k0, p1 & M,
//                             (p0 >> np.uint64(32)) ^ c3 ^ k1, p0 & M)
//       return c0, c1, c2, c3
//
//   def fresco_stream(seed, c2, c3, n):
//       b = np.arange((n + 3) // 4, dtype=np.uint64)
//       M = np.uint64(0xFFFFFFFF)
//       c = (b & M, b >> np.uint64(32), np.full_like(b, c2),
//            np.full_like(b, c3))
//       w = philox4x32_10(c, seed & 0xFFFFFFFF, seed >> 32)
//       u = [(x.astype(np.float64) + 1.0) * 2.0**-32 for x in w]
//       r01, t01 = np.sqrt(-2.0 * np.log(u[0])), 2.0 * np.pi * u[1]
//       r23, t23 = np.sqrt(-2.0 * np.log(u[2])), 2.0 * np.pi * u[3]
//       z = np.stack([r01 * np.cos(t01), r01 * np.sin(t01),
//                     r23 * np.cos(t23), r23 * np.sin(t23)], axis=1)
//       return z.reshape(-1)[:n].astype(np.float32)
//
//   def fresco_noise(seed, i, n):
//       return fresco_stream(seed, i & 0xFFFFFFFF, i >> 32, n)
//
//   def fresco_step_noise(seed, i, s, n):
//       return fresco_stream(seed, i, 0x80000000 | s, n)
//
// Using 32-bit uniforms bounds |out| by sqrt(64 ln 2) ~= 6.66, a tail of
// probability ~3e-11 per value: irrelevant for diffusion latents.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_PIPELINE_NOISE_H
#define FRESCO_RUNTIME_PIPELINE_NOISE_H

#include <array>
#include <cstdint>

namespace fresco {

/// Random123's philox4x32_R: `rounds` rounds (10 for Philox4x32-10) of
/// Philox on `counter` under `key`. Exposed for the known-answer tests.
std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> counter,
                                   std::array<uint32_t, 2> key,
                                   int rounds = 10);

/// Fills out[0..n) with standard normal float32 values for image
/// `imageIndex` (>= 0) of a batch generated from `seed`, by the algorithm in
/// this file's header. Deterministic and platform-independent.
void gaussianNoise(uint64_t seed, int64_t imageIndex, float *out, int64_t n);

/// Fills out[0..n) with the standard normal noise an ancestral scheduler
/// adds to image `imageIndex` (0 <= i < 2^32) at step `stepIndex` (0 <= s <
/// 2^31) of a run from `seed`, by the algorithm in this file's header:
/// independent of gaussianNoise's streams and of the other images and steps.
void stepNoise(uint64_t seed, int64_t imageIndex, int64_t stepIndex, float *out,
               int64_t n);

} // namespace fresco

#endif // FRESCO_RUNTIME_PIPELINE_NOISE_H
