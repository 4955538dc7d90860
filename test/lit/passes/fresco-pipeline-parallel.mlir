// RUN: fresco-opt %s --fresco-create-grid="parallel=pipeline=2" --fresco-pipeline-parallel -split-input-file -verify-diagnostics | FileCheck %s
// RUN: fresco-opt %s --fresco-create-grid="parallel=cfg=2" --fresco-pipeline-parallel -split-input-file | FileCheck %s --check-prefix=NONE
// Stages survive the rewrites of the lowering that follow: fusion and CSE.
// RUN: fresco-opt %s --fresco-create-grid="parallel=pipeline=2" --fresco-pipeline-parallel --cse --fresco-fuse-elementwise -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=FUSED

// Two "layers" of equal weight: the first goes to stage 0, the second to
// stage 1. The hidden state and the conditioning %c (which both layers
// read) travel forward once each; the table without operands is repeated
// in each stage rather than sent; the result is broadcast from stage 1.
// CHECK-LABEL: func.func @two_layers
// CHECK-SAME: fresco.pipeline_axis = 0 : i16
// CHECK: %[[W0:.*]] = fresco.param "l0.weight" {fresco.stage = #fresco.stage<0>}
// CHECK: %[[T0:.*]] = fresco.pos_embed_2d {{.*}}fresco.stage = #fresco.stage<0>
// CHECK: %[[T1:.*]] = fresco.pos_embed_2d {{.*}}fresco.stage = #fresco.stage<1>
// CHECK: %[[C:.*]] = fresco.silu %arg1 {fresco.stage = #fresco.stage<0>}
// CHECK: %[[CT:.*]] = fresco.stage_transfer %[[C]] {axis = 0 : i16, from_stage = 0 : i64, to_stage = 1 : i64}
// CHECK: %[[H0:.*]] = fresco.linear %arg0, %[[W0]] {fresco.stage = #fresco.stage<0>}
// CHECK: %[[A0:.*]] = fresco.add %[[H0]], %[[T0]] {fresco.stage = #fresco.stage<0>}
// CHECK: %[[M0:.*]] = fresco.mul %[[A0]], %[[C]] {fresco.stage = #fresco.stage<0>}
// CHECK: %[[MT:.*]] = fresco.stage_transfer %[[M0]] {axis = 0 : i16, from_stage = 0 : i64, to_stage = 1 : i64}
// CHECK: %[[W1:.*]] = fresco.param "l1.weight" {fresco.stage = #fresco.stage<1>}
// CHECK: %[[H1:.*]] = fresco.linear %[[MT]], %[[W1]] {fresco.stage = #fresco.stage<1>}
// CHECK: %[[A1:.*]] = fresco.add %[[H1]], %[[T1]] {fresco.stage = #fresco.stage<1>}
// CHECK: %[[M1:.*]] = fresco.mul %[[A1]], %[[CT]] {fresco.stage = #fresco.stage<1>}
// CHECK: %[[B:.*]] = fresco.stage_broadcast %[[M1]] {axis = 0 : i16, from_stage = 1 : i64}
// CHECK: return %[[B]]
// Without a pipeline axis nothing changes.
// NONE-LABEL: func.func @two_layers
// NONE-NOT: fresco.stage
func.func @two_layers(%x: tensor<1x4x16xf32>, %c: tensor<1x4x16xf32>) -> tensor<1x4x16xf32> {
  %w0 = fresco.param "l0.weight" : tensor<16x16xf32>
  %t = fresco.pos_embed_2d {base_size = 2.0 : f64, dim = 16 : i64, grid_h = 2 : i64, grid_w = 2 : i64} : tensor<1x4x16xf32>
  %cs = fresco.silu %c : (tensor<1x4x16xf32>) -> tensor<1x4x16xf32>
  %h0 = fresco.linear %x, %w0 : (tensor<1x4x16xf32>, tensor<16x16xf32>) -> tensor<1x4x16xf32>
  %a0 = fresco.add %h0, %t : (tensor<1x4x16xf32>, tensor<1x4x16xf32>) -> tensor<1x4x16xf32>
  %m0 = fresco.mul %a0, %cs : (tensor<1x4x16xf32>, tensor<1x4x16xf32>) -> tensor<1x4x16xf32>
  %w1 = fresco.param "l1.weight" : tensor<16x16xf32>
  %h1 = fresco.linear %m0, %w1 : (tensor<1x4x16xf32>, tensor<16x16xf32>) -> tensor<1x4x16xf32>
  %a1 = fresco.add %h1, %t : (tensor<1x4x16xf32>, tensor<1x4x16xf32>) -> tensor<1x4x16xf32>
  %m1 = fresco.mul %a1, %cs : (tensor<1x4x16xf32>, tensor<1x4x16xf32>) -> tensor<1x4x16xf32>
  return %m1 : tensor<1x4x16xf32>
}

// -----

// One layer cannot fill two stages.
// expected-error @+1 {{fresco-pipeline-parallel: 'one_layer' cannot be cut into 2 stages with parameters each (pipeline=2 is more than its layers allow)}}
func.func @one_layer(%x: tensor<1x4x16xf32>) -> tensor<1x4x16xf32> {
  %w0 = fresco.param "l0.weight" : tensor<16x16xf32>
  %h0 = fresco.linear %x, %w0 : (tensor<1x4x16xf32>, tensor<16x16xf32>) -> tensor<1x4x16xf32>
  %s = fresco.silu %h0 : (tensor<1x4x16xf32>) -> tensor<1x4x16xf32>
  return %s : tensor<1x4x16xf32>
}

// -----

// Ops before the first weight do not make a stage: stage 0 would load no
// parameters (the layer's bytes all fall in stage 1).
// expected-error @+1 {{fresco-pipeline-parallel: 'param_free_first' cannot be cut into 2 stages with parameters each (pipeline=2 is more than its layers allow)}}
func.func @param_free_first(%x: tensor<1x4x16xf32>) -> tensor<1x4x16xf32> {
  %s = fresco.silu %x : (tensor<1x4x16xf32>) -> tensor<1x4x16xf32>
  %w0 = fresco.param "l0.weight" : tensor<16x16xf32>
  %h0 = fresco.linear %s, %w0 : (tensor<1x4x16xf32>, tensor<16x16xf32>) -> tensor<1x4x16xf32>
  return %h0 : tensor<1x4x16xf32>
}

// -----

// Stages survive the rewrites that follow in the lowering: each gated
// residual (an add of a product) fuses into a mul_add of its own stage, and
// CSE does not merge the two copies of the table, being of different
// stages.
// FUSED-LABEL: func.func @gated_layers
// FUSED: %[[T0:.*]] = fresco.pos_embed_2d {{.*}}fresco.stage = #fresco.stage<0>
// FUSED: %[[T1:.*]] = fresco.pos_embed_2d {{.*}}fresco.stage = #fresco.stage<1>
// FUSED: fresco.mul_add {{.*}}, %[[T0]], %arg0 {fresco.stage = #fresco.stage<0>}
// FUSED: fresco.mul_add {{.*}}, %[[T1]], {{.*}} {fresco.stage = #fresco.stage<1>}
// FUSED-NOT: fresco.add
func.func @gated_layers(%x: tensor<1x4x16xf32>) -> tensor<1x4x16xf32> {
  %t = fresco.pos_embed_2d {base_size = 2.0 : f64, dim = 16 : i64, grid_h = 2 : i64, grid_w = 2 : i64} : tensor<1x4x16xf32>
  %w0 = fresco.param "l0.weight" : tensor<16x16xf32>
  %h0 = fresco.linear %x, %w0 : (tensor<1x4x16xf32>, tensor<16x16xf32>) -> tensor<1x4x16xf32>
  %m0 = fresco.mul %h0, %t : (tensor<1x4x16xf32>, tensor<1x4x16xf32>) -> tensor<1x4x16xf32>
  %r0 = fresco.add %m0, %x : (tensor<1x4x16xf32>, tensor<1x4x16xf32>) -> tensor<1x4x16xf32>
  %w1 = fresco.param "l1.weight" : tensor<16x16xf32>
  %h1 = fresco.linear %r0, %w1 : (tensor<1x4x16xf32>, tensor<16x16xf32>) -> tensor<1x4x16xf32>
  %m1 = fresco.mul %h1, %t : (tensor<1x4x16xf32>, tensor<1x4x16xf32>) -> tensor<1x4x16xf32>
  %r1 = fresco.add %m1, %h1 : (tensor<1x4x16xf32>, tensor<1x4x16xf32>) -> tensor<1x4x16xf32>
  return %r1 : tensor<1x4x16xf32>
}

// -----

// A slice of an argument is repeated on each stage that reads it, not sent;
// one that is also a result is computed on stage 0 and broadcast.
// CHECK-LABEL: func.func @argument_slices
// CHECK-DAG: %[[S0:.*]] = fresco.slice %arg1 {{.*}}fresco.stage = #fresco.stage<0>
// CHECK-DAG: %[[S1:.*]] = fresco.slice %arg1 {{.*}}fresco.stage = #fresco.stage<1>
// CHECK-NOT: fresco.stage_transfer {{.*}}: tensor<1x16xf32>
// CHECK: fresco.reshape %[[S1]] {fresco.stage = #fresco.stage<1>}
// CHECK-NOT: fresco.stage_transfer {{.*}}: tensor<1x{{1x16|16}}xf32>
// CHECK: fresco.stage_broadcast %[[S0]] {axis = 0 : i16, from_stage = 0 : i64}
func.func @argument_slices(%x: tensor<1x4x16xf32>, %c: tensor<1x32xf32>) -> (tensor<1x4x16xf32>, tensor<1x16xf32>) {
  %s = fresco.slice %c {axis = 1 : i64, start = 0 : i64, size = 16 : i64} : (tensor<1x32xf32>) -> tensor<1x16xf32>
  %w0 = fresco.param "l0.weight" : tensor<16x16xf32>
  %h0 = fresco.linear %x, %w0 : (tensor<1x4x16xf32>, tensor<16x16xf32>) -> tensor<1x4x16xf32>
  %w1 = fresco.param "l1.weight" : tensor<16x16xf32>
  %h1 = fresco.linear %h0, %w1 : (tensor<1x4x16xf32>, tensor<16x16xf32>) -> tensor<1x4x16xf32>
  %r = fresco.reshape %s : tensor<1x16xf32> -> tensor<1x1x16xf32>
  %a = fresco.mul %h1, %r : (tensor<1x4x16xf32>, tensor<1x1x16xf32>) -> tensor<1x4x16xf32>
  return %a, %s : tensor<1x4x16xf32>, tensor<1x16xf32>
}

// -----

// A first weight of more than half the bytes (an embedding table of a small
// model): cut in proportion to the bytes, every layer would fall in stage 1
// and stage 0 would hold no weights; the cut of the fewest bytes on its
// largest stage gives stage 0 that weight and stage 1 the other two.
// CHECK-LABEL: func.func @big_first_weight
// CHECK: fresco.param "l0.weight" {fresco.stage = #fresco.stage<0>}
// CHECK: fresco.linear {{.*}}fresco.stage = #fresco.stage<0>
// CHECK: fresco.stage_transfer {{.*}}from_stage = 0 : i64, to_stage = 1 : i64
// CHECK: fresco.param "l1.weight" {fresco.stage = #fresco.stage<1>}
// CHECK: fresco.param "l2.weight" {fresco.stage = #fresco.stage<1>}
// CHECK: fresco.stage_broadcast {{.*}}from_stage = 1 : i64
func.func @big_first_weight(%x: tensor<1x4x64xf32>) -> tensor<1x4x16xf32> {
  %w0 = fresco.param "l0.weight" : tensor<16x64xf32>
  %h0 = fresco.linear %x, %w0 : (tensor<1x4x64xf32>, tensor<16x64xf32>) -> tensor<1x4x16xf32>
  %w1 = fresco.param "l1.weight" : tensor<16x16xf32>
  %h1 = fresco.linear %h0, %w1 : (tensor<1x4x16xf32>, tensor<16x16xf32>) -> tensor<1x4x16xf32>
  %w2 = fresco.param "l2.weight" : tensor<16x16xf32>
  %h2 = fresco.linear %h1, %w2 : (tensor<1x4x16xf32>, tensor<16x16xf32>) -> tensor<1x4x16xf32>
  return %h2 : tensor<1x4x16xf32>
}
