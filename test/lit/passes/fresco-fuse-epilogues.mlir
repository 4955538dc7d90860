// RUN: fresco-opt %s --pass-pipeline='builtin.module(func.func(fresco-fuse-epilogues))' -split-input-file | FileCheck %s

// DiT's feed-forward: linear + GELU (tanh) becomes one linear; the second
// linear stays as it was.
// CHECK-LABEL: func.func @gelu_tanh
// CHECK: %[[H:.*]] = fresco.linear %arg0, %{{.*}}, %{{.*}} {activation = "gelu_tanh"} : (tensor<2x8xf32>, tensor<16x8xf32>, tensor<16xf32>) -> tensor<2x16xf32>
// CHECK-NOT: fresco.gelu
// CHECK: %[[Y:.*]] = fresco.linear %[[H]], %{{.*}} : (tensor<2x16xf32>, tensor<8x16xf32>) -> tensor<2x8xf32>
// CHECK: return %[[Y]]
func.func @gelu_tanh(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %w1 = fresco.param "fc1.weight" : tensor<16x8xf32>
  %b1 = fresco.param "fc1.bias" : tensor<16xf32>
  %w2 = fresco.param "fc2.weight" : tensor<8x16xf32>
  %0 = fresco.linear %x, %w1, %b1 : (tensor<2x8xf32>, tensor<16x8xf32>, tensor<16xf32>) -> tensor<2x16xf32>
  %1 = fresco.gelu %0 {approximate = "tanh"} : (tensor<2x16xf32>) -> tensor<2x16xf32>
  %2 = fresco.linear %1, %w2 : (tensor<2x16xf32>, tensor<8x16xf32>) -> tensor<2x8xf32>
  return %2 : tensor<2x8xf32>
}

// -----

// Exact GELU (approximate = "none", the default) is "gelu"; a linear without
// bias fuses too, and its result may be the function's.
// CHECK-LABEL: func.func @gelu_erf_no_bias
// CHECK: %[[Y:.*]] = fresco.linear %arg0, %arg1 {activation = "gelu"}
// CHECK-NOT: fresco.gelu
// CHECK: return %[[Y]]
func.func @gelu_erf_no_bias(%x: tensor<3x5x8xf32>, %w: tensor<4x8xf32>) -> tensor<3x5x4xf32> {
  %0 = fresco.linear %x, %w : (tensor<3x5x8xf32>, tensor<4x8xf32>) -> tensor<3x5x4xf32>
  %1 = fresco.gelu %0 : (tensor<3x5x4xf32>) -> tensor<3x5x4xf32>
  return %1 : tensor<3x5x4xf32>
}

// -----

// SiLU, as in DiT's timestep embedder (linear_1 -> silu -> linear_2).
// CHECK-LABEL: func.func @silu
// CHECK: %[[Y:.*]] = fresco.linear %arg0, %arg1, %arg2 {activation = "silu"}
// CHECK-NOT: fresco.silu
// CHECK: return %[[Y]]
func.func @silu(%x: tensor<2x8xf32>, %w: tensor<4x8xf32>, %b: tensor<4xf32>) -> tensor<2x4xf32> {
  %0 = fresco.linear %x, %w, %b : (tensor<2x8xf32>, tensor<4x8xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %1 = fresco.silu %0 : (tensor<2x4xf32>) -> tensor<2x4xf32>
  return %1 : tensor<2x4xf32>
}

// -----

// A linear with a second use must keep its pre-activation result: nothing
// fuses.
// CHECK-LABEL: func.func @two_uses
// CHECK: %[[L:.*]] = fresco.linear %arg0, %arg1 : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
// CHECK: %[[G:.*]] = fresco.gelu %[[L]] {approximate = "tanh"}
// CHECK: fresco.add %[[G]], %[[L]]
func.func @two_uses(%x: tensor<2x8xf32>, %w: tensor<4x8xf32>) -> tensor<2x4xf32> {
  %0 = fresco.linear %x, %w : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  %1 = fresco.gelu %0 {approximate = "tanh"} : (tensor<2x4xf32>) -> tensor<2x4xf32>
  %2 = fresco.add %1, %0 : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  return %2 : tensor<2x4xf32>
}

// -----

// Two activations of the same linear: two uses, neither fuses.
// CHECK-LABEL: func.func @two_activations
// CHECK: %[[L:.*]] = fresco.linear %arg0, %arg1 : (
// CHECK-DAG: fresco.gelu %[[L]]
// CHECK-DAG: fresco.silu %[[L]]
func.func @two_activations(%x: tensor<2x8xf32>, %w: tensor<4x8xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>) {
  %0 = fresco.linear %x, %w : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  %1 = fresco.gelu %0 : (tensor<2x4xf32>) -> tensor<2x4xf32>
  %2 = fresco.silu %0 : (tensor<2x4xf32>) -> tensor<2x4xf32>
  return %1, %2 : tensor<2x4xf32>, tensor<2x4xf32>
}

// -----

// A linear that already has an activation takes no second one; an
// activation of anything but a linear stays (SiLU after group norm, as in
// the VAE; SiLU of a function argument).
// CHECK-LABEL: func.func @not_fusable
// CHECK: %[[L:.*]] = fresco.linear %arg0, %arg1 {activation = "silu"}
// CHECK: fresco.gelu %[[L]]
// CHECK: %[[N:.*]] = fresco.group_norm
// CHECK: fresco.silu %[[N]]
// CHECK: fresco.silu %arg2
func.func @not_fusable(%x: tensor<2x8xf32>, %w: tensor<4x8xf32>, %img: tensor<1x4x2x2xf32>) -> (tensor<2x4xf32>, tensor<1x4x2x2xf32>, tensor<1x4x2x2xf32>) {
  %0 = fresco.linear %x, %w {activation = "silu"} : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  %1 = fresco.gelu %0 : (tensor<2x4xf32>) -> tensor<2x4xf32>
  %2 = fresco.group_norm %img {num_groups = 2 : i64, epsilon = 1.0e-6 : f64} : (tensor<1x4x2x2xf32>) -> tensor<1x4x2x2xf32>
  %3 = fresco.silu %2 : (tensor<1x4x2x2xf32>) -> tensor<1x4x2x2xf32>
  %4 = fresco.silu %img : (tensor<1x4x2x2xf32>) -> tensor<1x4x2x2xf32>
  return %1, %3, %4 : tensor<2x4xf32>, tensor<1x4x2x2xf32>, tensor<1x4x2x2xf32>
}

// -----

// An activation of a reshaped linear result is not fused: the reshape is a
// use of its own. (Canonicalization does not move reshapes, so DiT's
// feed-forward never has one here.)
// CHECK-LABEL: func.func @through_reshape
// CHECK: fresco.linear %arg0, %arg1 : (
// CHECK: fresco.reshape
// CHECK: fresco.silu
func.func @through_reshape(%x: tensor<2x8xf32>, %w: tensor<4x8xf32>) -> tensor<8xf32> {
  %0 = fresco.linear %x, %w : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  %1 = fresco.reshape %0 : tensor<2x4xf32> -> tensor<8xf32>
  %2 = fresco.silu %1 : (tensor<8xf32>) -> tensor<8xf32>
  return %2 : tensor<8xf32>
}

// -----

// Fusion keeps the linear's location (the diffusers module), and the
// pre-activation buffer is gone once buffers are assigned: the arguments
// (128 + 64 bytes) and one 64-byte result, where the unfused function
// allocates 320 bytes.
// RUN: fresco-opt %s --pass-pipeline='builtin.module(func.func(fresco-fuse-epilogues,fresco-assign-buffers))' -split-input-file -mlir-print-debuginfo | FileCheck %s --check-prefix=LOWER
// LOWER-LABEL: func.func @keeps_location
// LOWER-SAME: fresco.intermediate_bytes = 256 : i64
// LOWER: fresco.linear %arg0, %arg1 {activation = "gelu_tanh", fresco.offset = {{[0-9]+}} : i64} : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32> loc(#[[LOC:.*]])
// LOWER: #[[LOC]] = loc("ff.net.0.proj")
func.func @keeps_location(%x: tensor<2x8xf32>, %w: tensor<4x8xf32>) -> tensor<2x4xf32> {
  %0 = fresco.linear %x, %w : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32> loc("ff.net.0.proj")
  %1 = fresco.gelu %0 {approximate = "tanh"} : (tensor<2x4xf32>) -> tensor<2x4xf32> loc("ff.net.0")
  return %1 : tensor<2x4xf32>
}

// -----

// A residual connection: add(linear, r) becomes the linear accumulating onto
// r, either operand order, with or without a bias; the sum's location is
// the linear's.
// CHECK-LABEL: func.func @residual
// CHECK: %[[A:.*]] = fresco.linear %arg0, %arg1, %arg2 residual %arg3 : (tensor<2x3x8xf32>, tensor<4x8xf32>, tensor<4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
// CHECK: %[[B:.*]] = fresco.linear %arg0, %arg1 residual %[[A]] : (tensor<2x3x8xf32>, tensor<4x8xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
// CHECK-NOT: fresco.add
// CHECK: return %[[B]]
func.func @residual(%x: tensor<2x3x8xf32>, %w: tensor<4x8xf32>, %b: tensor<4xf32>, %r: tensor<2x3x4xf32>) -> tensor<2x3x4xf32> {
  %0 = fresco.linear %x, %w, %b : (tensor<2x3x8xf32>, tensor<4x8xf32>, tensor<4xf32>) -> tensor<2x3x4xf32>
  %1 = fresco.add %0, %r : (tensor<2x3x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  %2 = fresco.linear %x, %w : (tensor<2x3x8xf32>, tensor<4x8xf32>) -> tensor<2x3x4xf32>
  %3 = fresco.add %1, %2 : (tensor<2x3x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  return %3 : tensor<2x3x4xf32>
}

// -----

// Flux's single block: two linears over the parts of a concatenation,
// summed. The earlier one moves to the add and takes the later's result as
// its residual (its input is read as late as possible), whichever side of
// the add it is on.
// CHECK-LABEL: func.func @two_linears
// CHECK: %[[P:.*]] = fresco.linear %arg1, %arg3 :
// CHECK: %[[Q:.*]] = fresco.linear %arg0, %arg2 residual %[[P]] :
// CHECK: %[[R:.*]] = fresco.linear %arg1, %arg3 :
// CHECK: %[[S:.*]] = fresco.linear %arg0, %arg2 residual %[[R]] :
// CHECK-NOT: fresco.add
// CHECK: return %[[Q]], %[[S]]
func.func @two_linears(%a: tensor<2x8xf32>, %m: tensor<2x16xf32>, %wa: tensor<4x8xf32>, %wm: tensor<4x16xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>) {
  %0 = fresco.linear %a, %wa : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  %1 = fresco.linear %m, %wm : (tensor<2x16xf32>, tensor<4x16xf32>) -> tensor<2x4xf32>
  %2 = fresco.add %1, %0 : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  %3 = fresco.linear %a, %wa : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  %4 = fresco.linear %m, %wm : (tensor<2x16xf32>, tensor<4x16xf32>) -> tensor<2x4xf32>
  %5 = fresco.add %3, %4 : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  return %2, %5 : tensor<2x4xf32>, tensor<2x4xf32>
}

// -----

// Not fused: a broadcast residual (the add would broadcast it), a linear
// with an activation, a linear whose result has another use, and a linear
// added to itself. A residual linear then takes no activation.
// CHECK-LABEL: func.func @residual_not_fusable
// CHECK: %[[L0:.*]] = fresco.linear %arg0, %arg1 :
// CHECK: fresco.add %[[L0]], %arg2
// CHECK: %[[L1:.*]] = fresco.linear %arg0, %arg1 {activation = "silu"}
// CHECK: fresco.add %[[L1]], %arg3
// CHECK: %[[L2:.*]] = fresco.linear %arg0, %arg1 :
// CHECK: fresco.add %[[L2]], %arg3
// CHECK: fresco.mul %[[L2]]
// CHECK: %[[L3:.*]] = fresco.linear %arg0, %arg1 :
// CHECK: fresco.add %[[L3]], %[[L3]]
// CHECK: %[[L4:.*]] = fresco.linear %arg0, %arg1 residual %arg3 :
// CHECK: fresco.gelu %[[L4]]
func.func @residual_not_fusable(%x: tensor<2x8xf32>, %w: tensor<4x8xf32>, %row: tensor<4xf32>, %r: tensor<2x4xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {
  %0 = fresco.linear %x, %w : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  %1 = fresco.add %0, %row : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %2 = fresco.linear %x, %w {activation = "silu"} : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  %3 = fresco.add %2, %r : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  %4 = fresco.linear %x, %w : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  %5 = fresco.add %4, %r : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  %6 = fresco.mul %4, %r : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  %7 = fresco.linear %x, %w : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  %8 = fresco.add %7, %7 : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  %9 = fresco.linear %x, %w : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  %10 = fresco.add %9, %r : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  %11 = fresco.gelu %10 : (tensor<2x4xf32>) -> tensor<2x4xf32>
  return %1, %3, %5, %6, %8, %11 : tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>
}

// -----

// DiT's gated residual: add(mul(gate, linear), r) becomes one linear with
// the gate and the residual, any operand order of the add and the mul; the
// gate is per sample [2, 1, 4] or one for all [1, 1, 4], and r may be
// defined after the linear.
// CHECK-LABEL: func.func @gated_residual
// CHECK: %[[A:.*]] = fresco.linear %arg0, %arg1, %arg2 gate %arg3 residual %arg5 : (tensor<2x3x8xf32>, tensor<4x8xf32>, tensor<4xf32>, tensor<2x1x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
// CHECK: %[[R:.*]] = fresco.silu %arg5
// CHECK: %[[B:.*]] = fresco.linear %arg0, %arg1 gate %arg4 residual %[[R]] : (tensor<2x3x8xf32>, tensor<4x8xf32>, tensor<1x1x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
// CHECK-NOT: fresco.mul
// CHECK-NOT: fresco.add
// CHECK: return %[[A]], %[[B]]
func.func @gated_residual(%x: tensor<2x3x8xf32>, %w: tensor<4x8xf32>, %b: tensor<4xf32>, %g: tensor<2x1x4xf32>, %g1: tensor<1x1x4xf32>, %r: tensor<2x3x4xf32>) -> (tensor<2x3x4xf32>, tensor<2x3x4xf32>) {
  %0 = fresco.linear %x, %w, %b : (tensor<2x3x8xf32>, tensor<4x8xf32>, tensor<4xf32>) -> tensor<2x3x4xf32>
  %1 = fresco.mul %g, %0 : (tensor<2x1x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  %2 = fresco.add %r, %1 : (tensor<2x3x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  %3 = fresco.linear %x, %w : (tensor<2x3x8xf32>, tensor<4x8xf32>) -> tensor<2x3x4xf32>
  %4 = fresco.mul %3, %g1 : (tensor<2x3x4xf32>, tensor<1x1x4xf32>) -> tensor<2x3x4xf32>
  %5 = fresco.silu %r : (tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  %6 = fresco.add %4, %5 : (tensor<2x3x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  return %2, %6 : tensor<2x3x4xf32>, tensor<2x3x4xf32>
}

// -----

// The gated product goes before r's own linear: r + g * L is L's gate and
// residual, not r's linear taking the product as its residual.
// CHECK-LABEL: func.func @gated_before_residual
// CHECK: %[[R:.*]] = fresco.linear %arg4, %arg1 :
// CHECK: %[[Y:.*]] = fresco.linear %arg0, %arg1 gate %arg2 residual %[[R]] :
// CHECK: return %[[Y]]
func.func @gated_before_residual(%x: tensor<2x3x8xf32>, %w: tensor<4x8xf32>, %g: tensor<2x1x4xf32>, %unused: tensor<2x3x4xf32>, %y: tensor<2x3x8xf32>) -> tensor<2x3x4xf32> {
  %0 = fresco.linear %x, %w : (tensor<2x3x8xf32>, tensor<4x8xf32>) -> tensor<2x3x4xf32>
  %1 = fresco.mul %0, %g : (tensor<2x3x4xf32>, tensor<2x1x4xf32>) -> tensor<2x3x4xf32>
  %2 = fresco.linear %y, %w : (tensor<2x3x8xf32>, tensor<4x8xf32>) -> tensor<2x3x4xf32>
  %3 = fresco.add %2, %1 : (tensor<2x3x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  return %3 : tensor<2x3x4xf32>
}

// -----

// Flux's single block: the split proj_out (the attention part's linear
// with the MLP part's as its residual), gated, plus the block's input. The
// gate distributes: the MLP part takes the gate and r, the attention part
// the gate and the MLP part's result.
// CHECK-LABEL: func.func @gated_split
// CHECK: %[[M:.*]] = fresco.linear %arg1, %arg3 gate %arg5 residual %arg6 : (tensor<1x3x16xf32>, tensor<4x16xf32>, tensor<1x1x4xf32>, tensor<1x3x4xf32>) -> tensor<1x3x4xf32>
// CHECK: %[[A:.*]] = fresco.linear %arg0, %arg2, %arg4 gate %arg5 residual %[[M]] : (tensor<1x3x8xf32>, tensor<4x8xf32>, tensor<4xf32>, tensor<1x1x4xf32>, tensor<1x3x4xf32>) -> tensor<1x3x4xf32>
// CHECK-NOT: fresco.mul
// CHECK-NOT: fresco.add
// CHECK: return %[[A]]
func.func @gated_split(%a: tensor<1x3x8xf32>, %m: tensor<1x3x16xf32>, %wa: tensor<4x8xf32>, %wm: tensor<4x16xf32>, %b: tensor<4xf32>, %g: tensor<1x1x4xf32>, %r: tensor<1x3x4xf32>) -> tensor<1x3x4xf32> {
  %0 = fresco.linear %m, %wm : (tensor<1x3x16xf32>, tensor<4x16xf32>) -> tensor<1x3x4xf32>
  %1 = fresco.linear %a, %wa, %b residual %0 : (tensor<1x3x8xf32>, tensor<4x8xf32>, tensor<4xf32>, tensor<1x3x4xf32>) -> tensor<1x3x4xf32>
  %2 = fresco.mul %g, %1 : (tensor<1x1x4xf32>, tensor<1x3x4xf32>) -> tensor<1x3x4xf32>
  %3 = fresco.add %2, %r : (tensor<1x3x4xf32>, tensor<1x3x4xf32>) -> tensor<1x3x4xf32>
  return %3 : tensor<1x3x4xf32>
}

// -----

// The same before the parts' sum is fused (the add of two linears, as
// fresco-split-concat-linear leaves it): both patterns together reach the
// same form.
// CHECK-LABEL: func.func @gated_split_unfused
// CHECK: %[[M:.*]] = fresco.linear %arg1, %arg3 gate %arg4 residual %arg5 :
// CHECK: %[[A:.*]] = fresco.linear %arg0, %arg2 gate %arg4 residual %[[M]] :
// CHECK-NOT: fresco.mul
// CHECK-NOT: fresco.add
// CHECK: return %[[A]]
func.func @gated_split_unfused(%a: tensor<1x3x8xf32>, %m: tensor<1x3x16xf32>, %wa: tensor<4x8xf32>, %wm: tensor<4x16xf32>, %g: tensor<1x1x4xf32>, %r: tensor<1x3x4xf32>) -> tensor<1x3x4xf32> {
  %0 = fresco.linear %a, %wa : (tensor<1x3x8xf32>, tensor<4x8xf32>) -> tensor<1x3x4xf32>
  %1 = fresco.linear %m, %wm : (tensor<1x3x16xf32>, tensor<4x16xf32>) -> tensor<1x3x4xf32>
  %2 = fresco.add %0, %1 : (tensor<1x3x4xf32>, tensor<1x3x4xf32>) -> tensor<1x3x4xf32>
  %3 = fresco.mul %g, %2 : (tensor<1x1x4xf32>, tensor<1x3x4xf32>) -> tensor<1x3x4xf32>
  %4 = fresco.add %3, %r : (tensor<1x3x4xf32>, tensor<1x3x4xf32>) -> tensor<1x3x4xf32>
  return %4 : tensor<1x3x4xf32>
}

// -----

// A gate with no residual after it: mul(g, linear) alone is the gated
// linear.
// CHECK-LABEL: func.func @gate_only
// CHECK: %[[Y:.*]] = fresco.linear %arg0, %arg1 gate %arg2 : (tensor<2x3x8xf32>, tensor<4x8xf32>, tensor<2x1x4xf32>) -> tensor<2x3x4xf32>
// CHECK-NOT: fresco.mul
// CHECK: return %[[Y]]
func.func @gate_only(%x: tensor<2x3x8xf32>, %w: tensor<4x8xf32>, %g: tensor<2x1x4xf32>) -> tensor<2x3x4xf32> {
  %0 = fresco.linear %x, %w : (tensor<2x3x8xf32>, tensor<4x8xf32>) -> tensor<2x3x4xf32>
  %1 = fresco.mul %0, %g : (tensor<2x3x4xf32>, tensor<2x1x4xf32>) -> tensor<2x3x4xf32>
  return %1 : tensor<2x3x4xf32>
}

// -----

// Not gated: a gate over the tokens ([2, 3, 1]), a gate of lower rank
// ([4], the add of a broadcast), a linear with an activation, a product
// with another use, a linear whose residual is no plain linear (the gate
// cannot distribute over it), and an elementwise product of rank 2 (no
// broadcast over tokens; a [1, N] gate of rank 2 is one).
// CHECK-LABEL: func.func @gate_not_fusable
// CHECK: %[[L0:.*]] = fresco.linear %arg0, %arg1 :
// CHECK: fresco.mul %[[L0]], %arg2
// CHECK: %[[L1:.*]] = fresco.linear %arg0, %arg1 :
// CHECK: fresco.mul %[[L1]], %arg3
// CHECK: %[[L2:.*]] = fresco.linear %arg0, %arg1 {activation = "silu"}
// CHECK: fresco.mul %[[L2]], %arg4
// CHECK: %[[L3:.*]] = fresco.linear %arg0, %arg1 :
// CHECK: %[[P3:.*]] = fresco.mul %[[L3]], %arg4
// CHECK: fresco.add %[[P3]], %arg5
// CHECK: %[[L4:.*]] = fresco.linear %arg0, %arg1 residual %arg5 :
// CHECK: %[[P4:.*]] = fresco.mul %[[L4]], %arg4
// CHECK: fresco.add %[[P4]], %arg5
// CHECK: %[[L5:.*]] = fresco.linear %arg6, %arg1 :
// CHECK: fresco.mul %[[L5]], %arg7
// CHECK: fresco.linear %arg6, %arg1 gate %arg8 :
func.func @gate_not_fusable(%x: tensor<2x3x8xf32>, %w: tensor<4x8xf32>, %gt: tensor<2x3x1xf32>, %row: tensor<4xf32>, %g: tensor<2x1x4xf32>, %r: tensor<2x3x4xf32>, %x2: tensor<2x8xf32>, %e: tensor<2x4xf32>, %e1: tensor<1x4xf32>) -> (tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {
  %0 = fresco.linear %x, %w : (tensor<2x3x8xf32>, tensor<4x8xf32>) -> tensor<2x3x4xf32>
  %1 = fresco.mul %0, %gt : (tensor<2x3x4xf32>, tensor<2x3x1xf32>) -> tensor<2x3x4xf32>
  %2 = fresco.linear %x, %w : (tensor<2x3x8xf32>, tensor<4x8xf32>) -> tensor<2x3x4xf32>
  %3 = fresco.mul %2, %row : (tensor<2x3x4xf32>, tensor<4xf32>) -> tensor<2x3x4xf32>
  %4 = fresco.linear %x, %w {activation = "silu"} : (tensor<2x3x8xf32>, tensor<4x8xf32>) -> tensor<2x3x4xf32>
  %5 = fresco.mul %4, %g : (tensor<2x3x4xf32>, tensor<2x1x4xf32>) -> tensor<2x3x4xf32>
  %6 = fresco.linear %x, %w : (tensor<2x3x8xf32>, tensor<4x8xf32>) -> tensor<2x3x4xf32>
  %7 = fresco.mul %6, %g : (tensor<2x3x4xf32>, tensor<2x1x4xf32>) -> tensor<2x3x4xf32>
  %8 = fresco.add %7, %r : (tensor<2x3x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  %9 = fresco.linear %x, %w residual %r : (tensor<2x3x8xf32>, tensor<4x8xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  %10 = fresco.mul %9, %g : (tensor<2x3x4xf32>, tensor<2x1x4xf32>) -> tensor<2x3x4xf32>
  %11 = fresco.add %10, %r : (tensor<2x3x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  %12 = fresco.linear %x2, %w : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  %13 = fresco.mul %12, %e : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  %14 = fresco.linear %x2, %w : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  %15 = fresco.mul %14, %e1 : (tensor<2x4xf32>, tensor<1x4xf32>) -> tensor<2x4xf32>
  return %1, %3, %5, %7, %8, %11, %13, %15 : tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>
}
