// RUN: fresco-opt %s --pass-pipeline='builtin.module(func.func(fresco-fuse-rope-norm))' -split-input-file | FileCheck %s

// Flux's q: the head norm over [B, T, H, Dh] between two reshapes, then the
// rope, becomes one rope with the norm's weight and epsilon; the reshapes
// and the norm are gone.
// CHECK-LABEL: func.func @flux_q
// CHECK-SAME: (%[[X:.*]]: tensor<2x7x32xf32>, %[[T:.*]]: tensor<7x8x2xf32>)
// CHECK: %[[W:.*]] = fresco.param "attn.norm_q.weight" : tensor<16xf32>
// CHECK-NOT: fresco.reshape
// CHECK-NOT: fresco.rms_norm
// CHECK: %[[R:.*]] = fresco.rope %[[X]], %[[T]] norm(%[[W]]) {epsilon = 9.9999999999999995E-7 : f64, num_heads = 2 : i64} : (tensor<2x7x32xf32>, tensor<7x8x2xf32>, tensor<16xf32>) -> tensor<2x7x32xf32>
// CHECK-NOT: fresco.reshape
// CHECK: return %[[R]]
func.func @flux_q(%x: tensor<2x7x32xf32>, %t: tensor<7x8x2xf32>) -> tensor<2x7x32xf32> {
  %w = fresco.param "attn.norm_q.weight" : tensor<16xf32>
  %0 = fresco.reshape %x : tensor<2x7x32xf32> -> tensor<2x7x2x16xf32>
  %1 = fresco.rms_norm %0, %w {epsilon = 1.0e-6 : f64} : (tensor<2x7x2x16xf32>, tensor<16xf32>) -> tensor<2x7x2x16xf32>
  %2 = fresco.reshape %1 : tensor<2x7x2x16xf32> -> tensor<2x7x32xf32>
  %3 = fresco.rope %2, %t {num_heads = 2 : i64} : (tensor<2x7x32xf32>, tensor<7x8x2xf32>) -> tensor<2x7x32xf32>
  return %3 : tensor<2x7x32xf32>
}

// -----

// q and k of one attention, the table a concatenation of two streams'
// tables (Flux's single blocks), another epsilon: both fuse, each keeping
// its own weight; the input x is also used elsewhere (the value's linear
// reads the same normed block input in Flux), which does not matter.
// CHECK-LABEL: func.func @q_and_k
// CHECK: %[[WQ:.*]] = fresco.param "norm_q.weight"
// CHECK: %[[WK:.*]] = fresco.param "norm_k.weight"
// CHECK: %[[T:.*]] = fresco.concat
// CHECK: %[[Q:.*]] = fresco.rope %arg0, %[[T]] norm(%[[WQ]]) {epsilon = 1.000000e-05 : f64, num_heads = 4 : i64}
// CHECK: %[[K:.*]] = fresco.rope %arg1, %[[T]] norm(%[[WK]]) {epsilon = 1.000000e-05 : f64, num_heads = 4 : i64}
// CHECK-NOT: fresco.rms_norm
// CHECK: fresco.attention %[[Q]], %[[K]], %arg1
func.func @q_and_k(%q: tensor<1x5x32xf32>, %k: tensor<1x5x32xf32>, %t0: tensor<2x4x2xf32>, %t1: tensor<3x4x2xf32>) -> tensor<1x5x32xf32> {
  %wq = fresco.param "norm_q.weight" : tensor<8xf32>
  %wk = fresco.param "norm_k.weight" : tensor<8xf32>
  %t = fresco.concat %t0, %t1 {axis = 0 : i64} : (tensor<2x4x2xf32>, tensor<3x4x2xf32>) -> tensor<5x4x2xf32>
  %0 = fresco.reshape %q : tensor<1x5x32xf32> -> tensor<1x5x4x8xf32>
  %1 = fresco.rms_norm %0, %wq {epsilon = 1.0e-5 : f64} : (tensor<1x5x4x8xf32>, tensor<8xf32>) -> tensor<1x5x4x8xf32>
  %2 = fresco.reshape %1 : tensor<1x5x4x8xf32> -> tensor<1x5x32xf32>
  %3 = fresco.rope %2, %t {num_heads = 4 : i64} : (tensor<1x5x32xf32>, tensor<5x4x2xf32>) -> tensor<1x5x32xf32>
  %4 = fresco.reshape %k : tensor<1x5x32xf32> -> tensor<1x5x4x8xf32>
  %5 = fresco.rms_norm %4, %wk {epsilon = 1.0e-5 : f64} : (tensor<1x5x4x8xf32>, tensor<8xf32>) -> tensor<1x5x4x8xf32>
  %6 = fresco.reshape %5 : tensor<1x5x4x8xf32> -> tensor<1x5x32xf32>
  %7 = fresco.rope %6, %t {num_heads = 4 : i64} : (tensor<1x5x32xf32>, tensor<5x4x2xf32>) -> tensor<1x5x32xf32>
  %8 = fresco.attention %3, %7, %k {num_heads = 4 : i64, scale = 0.35 : f64} : (tensor<1x5x32xf32>, tensor<1x5x32xf32>, tensor<1x5x32xf32>) -> tensor<1x5x32xf32>
  return %8 : tensor<1x5x32xf32>
}

// -----

// The normed q is also returned: the norm keeps its result and the rope
// stays unfused.
// CHECK-LABEL: func.func @multi_use
// CHECK: %[[N:.*]] = fresco.rms_norm
// CHECK: %[[B:.*]] = fresco.reshape %[[N]]
// CHECK: fresco.rope %[[B]], %arg1 {num_heads = 2 : i64}
// CHECK-NOT: norm(
func.func @multi_use(%x: tensor<2x7x32xf32>, %t: tensor<7x8x2xf32>, %w: tensor<16xf32>) -> (tensor<2x7x32xf32>, tensor<2x7x32xf32>) {
  %0 = fresco.reshape %x : tensor<2x7x32xf32> -> tensor<2x7x2x16xf32>
  %1 = fresco.rms_norm %0, %w {epsilon = 1.0e-6 : f64} : (tensor<2x7x2x16xf32>, tensor<16xf32>) -> tensor<2x7x2x16xf32>
  %2 = fresco.reshape %1 : tensor<2x7x2x16xf32> -> tensor<2x7x32xf32>
  %3 = fresco.rope %2, %t {num_heads = 2 : i64} : (tensor<2x7x32xf32>, tensor<7x8x2xf32>) -> tensor<2x7x32xf32>
  return %3, %2 : tensor<2x7x32xf32>, tensor<2x7x32xf32>
}

// -----

// The norm's rows are 8 columns wide but the rope turns heads of 16: the
// shapes do not match and nothing fuses.
// CHECK-LABEL: func.func @shape_mismatch
// CHECK: fresco.rms_norm
// CHECK: fresco.rope %{{.*}}, %arg1 {num_heads = 2 : i64}
// CHECK-NOT: norm(
func.func @shape_mismatch(%x: tensor<2x7x32xf32>, %t: tensor<7x8x2xf32>, %w: tensor<8xf32>) -> tensor<2x7x32xf32> {
  %0 = fresco.reshape %x : tensor<2x7x32xf32> -> tensor<2x7x4x8xf32>
  %1 = fresco.rms_norm %0, %w {epsilon = 1.0e-6 : f64} : (tensor<2x7x4x8xf32>, tensor<8xf32>) -> tensor<2x7x4x8xf32>
  %2 = fresco.reshape %1 : tensor<2x7x4x8xf32> -> tensor<2x7x32xf32>
  %3 = fresco.rope %2, %t {num_heads = 2 : i64} : (tensor<2x7x32xf32>, tensor<7x8x2xf32>) -> tensor<2x7x32xf32>
  return %3 : tensor<2x7x32xf32>
}

// -----

// A norm over the whole width (not per head), and one without weight:
// neither is the fused op's norm.
// CHECK-LABEL: func.func @not_head_norms
// CHECK-COUNT-2: fresco.rms_norm
// CHECK-NOT: norm(
func.func @not_head_norms(%x: tensor<2x7x32xf32>, %t: tensor<7x8x2xf32>, %w: tensor<32xf32>) -> (tensor<2x7x32xf32>, tensor<2x7x32xf32>) {
  %0 = fresco.rms_norm %x, %w {epsilon = 1.0e-6 : f64} : (tensor<2x7x32xf32>, tensor<32xf32>) -> tensor<2x7x32xf32>
  %1 = fresco.rope %0, %t {num_heads = 2 : i64} : (tensor<2x7x32xf32>, tensor<7x8x2xf32>) -> tensor<2x7x32xf32>
  %2 = fresco.reshape %x : tensor<2x7x32xf32> -> tensor<2x7x2x16xf32>
  %3 = fresco.rms_norm %2 {epsilon = 1.0e-6 : f64} : (tensor<2x7x2x16xf32>) -> tensor<2x7x2x16xf32>
  %4 = fresco.reshape %3 : tensor<2x7x2x16xf32> -> tensor<2x7x32xf32>
  %5 = fresco.rope %4, %t {num_heads = 2 : i64} : (tensor<2x7x32xf32>, tensor<7x8x2xf32>) -> tensor<2x7x32xf32>
  return %1, %5 : tensor<2x7x32xf32>, tensor<2x7x32xf32>
}

// -----

// A norm the fused rope could not hold, though rms_norm's verifier takes
// it: an f32 weight on a bf16 input. It stays unfused (no compiler abort).
// CHECK-LABEL: func.func @not_fusable_norm
// CHECK: fresco.rms_norm
// CHECK-NOT: norm(
func.func @not_fusable_norm(%w: tensor<16xf32>, %xb: tensor<2x7x32xbf16>, %tb: tensor<7x8x2xbf16>) -> tensor<2x7x32xbf16> {
  %0 = fresco.reshape %xb : tensor<2x7x32xbf16> -> tensor<2x7x2x16xbf16>
  %1 = fresco.rms_norm %0, %w {epsilon = 1.0e-6 : f64} : (tensor<2x7x2x16xbf16>, tensor<16xf32>) -> tensor<2x7x2x16xbf16>
  %2 = fresco.reshape %1 : tensor<2x7x2x16xbf16> -> tensor<2x7x32xbf16>
  %3 = fresco.rope %2, %tb {num_heads = 2 : i64} : (tensor<2x7x32xbf16>, tensor<7x8x2xbf16>) -> tensor<2x7x32xbf16>
  return %3 : tensor<2x7x32xbf16>
}
