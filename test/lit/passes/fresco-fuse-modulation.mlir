// RUN: fresco-opt %s --pass-pipeline='builtin.module(func.func(fresco-fuse-modulation))' -split-input-file | FileCheck %s

// DiT's norm1: a plain layer norm then its adaLN modulation become one
// modulated norm.
// CHECK-LABEL: func.func @plain
// CHECK: %[[Y:.*]] = fresco.layer_norm %arg0 modulate(%arg1, %arg2) {epsilon = 9.9999999999999995E-7 : f64} : (tensor<2x3x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x3x8xf32>
// CHECK-NOT: fresco.modulate
// CHECK: return %[[Y]]
func.func @plain(%x: tensor<2x3x8xf32>, %shift: tensor<2x8xf32>, %scale: tensor<2x8xf32>) -> tensor<2x3x8xf32> {
  %0 = fresco.layer_norm %x {epsilon = 1.0e-6 : f64} : (tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  %1 = fresco.modulate %0, %shift, %scale : (tensor<2x3x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x3x8xf32>
  return %1 : tensor<2x3x8xf32>
}

// -----

// DiT's norm3 with elementwise_affine: the affine operands stay, the
// modulation follows them.
// CHECK-LABEL: func.func @affine
// CHECK: %[[W:.*]] = fresco.param "norm3.weight"
// CHECK: %[[B:.*]] = fresco.param "norm3.bias"
// CHECK: %[[Y:.*]] = fresco.layer_norm %arg0, %[[W]], %[[B]] modulate(%arg1, %arg2) {epsilon = 1.000000e-05 : f64}
// CHECK-NOT: fresco.modulate
// CHECK: fresco.linear %[[Y]]
func.func @affine(%x: tensor<2x3x8xf32>, %shift: tensor<2x8xf32>, %scale: tensor<2x8xf32>, %w: tensor<4x8xf32>) -> tensor<2x3x4xf32> {
  %g = fresco.param "norm3.weight" : tensor<8xf32>
  %b = fresco.param "norm3.bias" : tensor<8xf32>
  %0 = fresco.layer_norm %x, %g, %b {epsilon = 1.0e-5 : f64} : (tensor<2x3x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
  %1 = fresco.modulate %0, %shift, %scale : (tensor<2x3x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x3x8xf32>
  %2 = fresco.linear %1, %w : (tensor<2x3x8xf32>, tensor<4x8xf32>) -> tensor<2x3x4xf32>
  return %2 : tensor<2x3x4xf32>
}

// -----

// DiT's output head: shift and scale are sliced after the norm, so the
// fused norm goes where the modulate was.
// CHECK-LABEL: func.func @operands_after_norm
// CHECK: %[[SH:.*]] = fresco.slice %arg1 {axis = 1 : i64, size = 8 : i64, start = 0 : i64}
// CHECK: %[[SC:.*]] = fresco.slice %arg1 {axis = 1 : i64, size = 8 : i64, start = 8 : i64}
// CHECK: %[[Y:.*]] = fresco.layer_norm %arg0 modulate(%[[SH]], %[[SC]])
// CHECK: return %[[Y]]
func.func @operands_after_norm(%x: tensor<2x3x8xf32>, %e: tensor<2x16xf32>) -> tensor<2x3x8xf32> {
  %0 = fresco.layer_norm %x {epsilon = 1.0e-6 : f64} : (tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  %1 = fresco.slice %e {axis = 1 : i64, start = 0 : i64, size = 8 : i64} : (tensor<2x16xf32>) -> tensor<2x8xf32>
  %2 = fresco.slice %e {axis = 1 : i64, start = 8 : i64, size = 8 : i64} : (tensor<2x16xf32>) -> tensor<2x8xf32>
  %3 = fresco.modulate %0, %1, %2 : (tensor<2x3x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x3x8xf32>
  return %3 : tensor<2x3x8xf32>
}

// -----

// A norm whose result has another use keeps it: nothing fuses.
// CHECK-LABEL: func.func @two_uses
// CHECK: %[[N:.*]] = fresco.layer_norm %arg0 {epsilon = 9.9999999999999995E-7 : f64} : (tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
// CHECK: %[[M:.*]] = fresco.modulate %[[N]], %arg1, %arg2
// CHECK: fresco.add %[[M]], %[[N]]
func.func @two_uses(%x: tensor<2x3x8xf32>, %shift: tensor<2x8xf32>, %scale: tensor<2x8xf32>) -> tensor<2x3x8xf32> {
  %0 = fresco.layer_norm %x {epsilon = 1.0e-6 : f64} : (tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  %1 = fresco.modulate %0, %shift, %scale : (tensor<2x3x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x3x8xf32>
  %2 = fresco.add %1, %0 : (tensor<2x3x8xf32>, tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  return %2 : tensor<2x3x8xf32>
}

// -----

// Two modulations of the same norm: two uses, neither fuses.
// CHECK-LABEL: func.func @two_modulations
// CHECK: %[[N:.*]] = fresco.layer_norm %arg0 {epsilon
// CHECK-DAG: fresco.modulate %[[N]], %arg1, %arg2
// CHECK-DAG: fresco.modulate %[[N]], %arg2, %arg1
func.func @two_modulations(%x: tensor<2x3x8xf32>, %shift: tensor<2x8xf32>, %scale: tensor<2x8xf32>) -> (tensor<2x3x8xf32>, tensor<2x3x8xf32>) {
  %0 = fresco.layer_norm %x {epsilon = 1.0e-6 : f64} : (tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  %1 = fresco.modulate %0, %shift, %scale : (tensor<2x3x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x3x8xf32>
  %2 = fresco.modulate %0, %scale, %shift : (tensor<2x3x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x3x8xf32>
  return %1, %2 : tensor<2x3x8xf32>, tensor<2x3x8xf32>
}

// -----

// A norm already carrying a modulation takes no second one: the second
// modulate stays an op.
// CHECK-LABEL: func.func @already_modulated
// CHECK: %[[N:.*]] = fresco.layer_norm %arg0 modulate(%arg1, %arg2)
// CHECK: %[[M:.*]] = fresco.modulate %[[N]], %arg2, %arg1
// CHECK: return %[[M]]
func.func @already_modulated(%x: tensor<2x3x8xf32>, %shift: tensor<2x8xf32>, %scale: tensor<2x8xf32>) -> tensor<2x3x8xf32> {
  %0 = fresco.layer_norm %x modulate(%shift, %scale) {epsilon = 1.0e-6 : f64} : (tensor<2x3x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x3x8xf32>
  %1 = fresco.modulate %0, %scale, %shift : (tensor<2x3x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x3x8xf32>
  return %1 : tensor<2x3x8xf32>
}

// -----

// A modulate of anything but a layer norm stays: a function argument, a
// linear, a reshaped norm (the reshape is a use of its own).
// CHECK-LABEL: func.func @not_a_norm
// CHECK: fresco.modulate %arg0, %arg1, %arg2
// CHECK: %[[L:.*]] = fresco.linear %arg0, %arg3
// CHECK: fresco.modulate %[[L]], %arg1, %arg2
// CHECK: %[[N:.*]] = fresco.layer_norm %arg4 {epsilon
// CHECK: %[[R:.*]] = fresco.reshape %[[N]]
// CHECK: fresco.modulate %[[R]], %arg1, %arg2
func.func @not_a_norm(%x: tensor<2x3x8xf32>, %shift: tensor<2x8xf32>, %scale: tensor<2x8xf32>, %w: tensor<8x8xf32>, %flat: tensor<2x24xf32>) -> (tensor<2x3x8xf32>, tensor<2x3x8xf32>, tensor<2x3x8xf32>) {
  %0 = fresco.modulate %x, %shift, %scale : (tensor<2x3x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x3x8xf32>
  %1 = fresco.linear %x, %w : (tensor<2x3x8xf32>, tensor<8x8xf32>) -> tensor<2x3x8xf32>
  %2 = fresco.modulate %1, %shift, %scale : (tensor<2x3x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x3x8xf32>
  %3 = fresco.layer_norm %flat {epsilon = 1.0e-6 : f64} : (tensor<2x24xf32>) -> tensor<2x24xf32>
  %4 = fresco.reshape %3 : tensor<2x24xf32> -> tensor<2x3x8xf32>
  %5 = fresco.modulate %4, %shift, %scale : (tensor<2x3x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x3x8xf32>
  return %0, %2, %5 : tensor<2x3x8xf32>, tensor<2x3x8xf32>, tensor<2x3x8xf32>
}

// -----

// Fusion names both diffusers modules in the location, and the unmodulated
// buffer is gone once buffers are assigned: the three arguments (192 + 64
// + 64 bytes) and one 192-byte result, where the unfused function also
// allocates the norm's 192 bytes.
// RUN: fresco-opt %s --pass-pipeline='builtin.module(func.func(fresco-fuse-modulation,fresco-assign-buffers))' -split-input-file -mlir-print-debuginfo | FileCheck %s --check-prefix=LOWER
// RUN: fresco-opt %s --pass-pipeline='builtin.module(func.func(fresco-assign-buffers))' -split-input-file | FileCheck %s --check-prefix=UNFUSED
// LOWER-LABEL: func.func @keeps_location
// LOWER-SAME: fresco.intermediate_bytes = 512 : i64
// LOWER: fresco.layer_norm %arg0 modulate(%arg1, %arg2) {epsilon = 9.9999999999999995E-7 : f64, fresco.offset = {{[0-9]+}} : i64} : (tensor<2x3x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x3x8xf32> loc(#[[LOC:.*]])
// LOWER: #[[NORM:loc[0-9]+]] = loc("transformer_blocks.0.norm1.norm")
// LOWER: #[[MOD:loc[0-9]+]] = loc("transformer_blocks.0.norm1")
// LOWER: #[[LOC]] = loc(fused[#[[NORM]], #[[MOD]]])
// UNFUSED-LABEL: func.func @keeps_location
// UNFUSED-SAME: fresco.intermediate_bytes = 704 : i64
func.func @keeps_location(%x: tensor<2x3x8xf32>, %shift: tensor<2x8xf32>, %scale: tensor<2x8xf32>) -> tensor<2x3x8xf32> {
  %0 = fresco.layer_norm %x {epsilon = 1.0e-6 : f64} : (tensor<2x3x8xf32>) -> tensor<2x3x8xf32> loc("transformer_blocks.0.norm1.norm")
  %1 = fresco.modulate %0, %shift, %scale : (tensor<2x3x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x3x8xf32> loc("transformer_blocks.0.norm1")
  return %1 : tensor<2x3x8xf32>
}

// -----

// Pipeline stages survive the fusion: the modulated norm is built in the
// modulate's place and takes its stage (StageListener).
// CHECK-LABEL: func.func @staged
// CHECK: fresco.layer_norm %arg0 modulate(%arg1, %arg2) {epsilon = {{.*}}, fresco.stage = #fresco.stage<1>}
func.func @staged(%x: tensor<2x3x8xf32>, %shift: tensor<2x8xf32>, %scale: tensor<2x8xf32>) -> tensor<2x3x8xf32> attributes {fresco.pipeline_axis = 0 : i16} {
  %0 = fresco.layer_norm %x {epsilon = 1.0e-6 : f64, fresco.stage = #fresco.stage<1>} : (tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  %1 = fresco.modulate %0, %shift, %scale {fresco.stage = #fresco.stage<1>} : (tensor<2x3x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x3x8xf32>
  return %1 : tensor<2x3x8xf32>
}
