// RUN: fresco-opt %s --pass-pipeline='builtin.module(func.func(fresco-fuse-elementwise))' -split-input-file | FileCheck %s

// DiT's gated residual, hidden + gate * attn (either order of the add):
// one mul_add.
// CHECK-LABEL: func.func @gated_residual
// CHECK: %[[A:.*]] = fresco.mul_add %arg0, %arg1, %arg2 : (tensor<2x1x8xf32>, tensor<2x3x8xf32>, tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
// CHECK: %[[B:.*]] = fresco.mul_add %arg0, %[[A]], %arg2
// CHECK-NOT: fresco.mul {{.*}}:
// CHECK-NOT: fresco.add
// CHECK: return %[[B]]
func.func @gated_residual(%g: tensor<2x1x8xf32>, %a: tensor<2x3x8xf32>, %h: tensor<2x3x8xf32>) -> tensor<2x3x8xf32> {
  %0 = fresco.mul %g, %a : (tensor<2x1x8xf32>, tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  %1 = fresco.add %0, %h : (tensor<2x3x8xf32>, tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  %2 = fresco.mul %g, %1 : (tensor<2x1x8xf32>, tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  %3 = fresco.add %h, %2 : (tensor<2x3x8xf32>, tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  return %3 : tensor<2x3x8xf32>
}

// -----

// Left alone: a product with another use, and a sum that broadcasts its
// other operand (mul_add's c has the result's shape).
// CHECK-LABEL: func.func @not_fused
// CHECK: fresco.mul
// CHECK: fresco.add
// CHECK: fresco.mul
// CHECK: fresco.add
// CHECK-NOT: fresco.mul_add
func.func @not_fused(%g: tensor<2x1x8xf32>, %a: tensor<2x3x8xf32>, %b: tensor<8xf32>) -> (tensor<2x3x8xf32>, tensor<2x3x8xf32>, tensor<2x3x8xf32>) {
  %0 = fresco.mul %g, %a : (tensor<2x1x8xf32>, tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  %1 = fresco.add %0, %a : (tensor<2x3x8xf32>, tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  %2 = fresco.mul %a, %a : (tensor<2x3x8xf32>, tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  %3 = fresco.add %2, %b : (tensor<2x3x8xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
  return %0, %1, %3 : tensor<2x3x8xf32>, tensor<2x3x8xf32>, tensor<2x3x8xf32>
}

// -----

// Pipeline stages survive the fusion: the mul_add takes the stage of the
// add it replaces (StageListener), so the plan emitter still gives it to
// stage 1's ranks.
// CHECK-LABEL: func.func @staged
// CHECK: fresco.mul_add %arg0, %arg1, %arg2 {fresco.stage = #fresco.stage<1>}
func.func @staged(%g: tensor<2x1x8xf32>, %a: tensor<2x3x8xf32>, %h: tensor<2x3x8xf32>) -> tensor<2x3x8xf32> attributes {fresco.pipeline_axis = 0 : i16} {
  %0 = fresco.mul %g, %a {fresco.stage = #fresco.stage<1>} : (tensor<2x1x8xf32>, tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  %1 = fresco.add %0, %h {fresco.stage = #fresco.stage<1>} : (tensor<2x3x8xf32>, tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  return %1 : tensor<2x3x8xf32>
}
