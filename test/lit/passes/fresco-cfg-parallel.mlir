// RUN: fresco-opt %s --fresco-create-grid="parallel=cfg=2" --fresco-cfg-parallel --fresco-propagate-shardings -split-input-file -verify-diagnostics | FileCheck %s

// Each rank takes its half of the batch; input-independent values (the
// parameter, the position table) keep their shapes; reshapes keep the batch
// in dimension 0; the result is marked for an all_gather.
// CHECK-LABEL: func.func @model
// CHECK-SAME: (%[[X:.*]]: tensor<4x3x8xf32>, %[[L:.*]]: tensor<4xi64>) -> (tensor<2x3x8xf32> {fresco.sharding = #fresco.sharding<[{0}, {}, {}]>})
// CHECK: %[[XS:.*]] = shard.all_slice %[[X]] on @grid grid_axes = [0] slice_axis = 0 : tensor<4x3x8xf32> -> tensor<2x3x8xf32>
// CHECK: %[[LS:.*]] = shard.all_slice %[[L]] on @grid grid_axes = [0] slice_axis = 0 : tensor<4xi64> -> tensor<2xi64>
// CHECK: fresco.param "w" : tensor<8x8xf32>
// CHECK: fresco.linear %[[XS]], {{.*}} -> tensor<2x3x8xf32>
// CHECK: fresco.embedding {{.*}}, %[[LS]] : (tensor<10x8xf32>, tensor<2xi64>) -> tensor<2x8xf32>
// CHECK: fresco.reshape {{.*}} : tensor<2x8xf32> -> tensor<2x1x8xf32>
// CHECK: fresco.pos_embed_2d {{.*}} : tensor<1x3x8xf32>
func.func @model(%x: tensor<4x3x8xf32>, %labels: tensor<4xi64>) -> tensor<4x3x8xf32> {
  %w = fresco.param "w" : tensor<8x8xf32>
  %h = fresco.linear %x, %w : (tensor<4x3x8xf32>, tensor<8x8xf32>) -> tensor<4x3x8xf32>
  %t = fresco.param "table" : tensor<10x8xf32>
  %e = fresco.embedding %t, %labels : (tensor<10x8xf32>, tensor<4xi64>) -> tensor<4x8xf32>
  %r = fresco.reshape %e : tensor<4x8xf32> -> tensor<4x1x8xf32>
  %a = fresco.add %h, %r : (tensor<4x3x8xf32>, tensor<4x1x8xf32>) -> tensor<4x3x8xf32>
  %p = fresco.pos_embed_2d {grid_h = 1 : i64, grid_w = 3 : i64, dim = 8 : i64, base_size = 1.0 : f64} : tensor<1x3x8xf32>
  %o = fresco.add %a, %p : (tensor<4x3x8xf32>, tensor<1x3x8xf32>) -> tensor<4x3x8xf32>
  return %o : tensor<4x3x8xf32>
}

// -----

func.func @odd_batch(%x: tensor<3x8xf32>) -> tensor<3x8xf32> {
  // expected-error @-1 {{batch 3 of 'odd_batch' is not divisible by cfg=2}}
  %0 = fresco.silu %x : (tensor<3x8xf32>) -> tensor<3x8xf32>
  return %0 : tensor<3x8xf32>
}

// -----

// Ops run on the rules (ShardingRules.cpp): the batch split follows a
// transpose to the dimension the batch moves to, and that result is marked
// for a gather along it.
// CHECK-LABEL: func.func @moves_batch
// CHECK-SAME: -> (tensor<8x2xf32> {fresco.sharding = #fresco.sharding<[{}, {0}]>})
// CHECK: fresco.transpose {{.*}} : (tensor<2x8xf32>) -> tensor<8x2xf32>
func.func @moves_batch(%x: tensor<4x8xf32>) -> tensor<8x4xf32> {
  %0 = fresco.transpose %x {permutation = array<i64: 1, 0>} : (tensor<4x8xf32>) -> tensor<8x4xf32>
  return %0 : tensor<8x4xf32>
}

// -----

// An op that would mix batch entries across ranks is refused where it is:
// a slice of the batch needs all of it,
func.func @slices_batch(%x: tensor<4x8xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{cfg=2 splits dimension 0 of operand 0, which this op needs whole}}
  %0 = fresco.slice %x {axis = 0 : i64, start = 1 : i64, size = 2 : i64} : (tensor<4x8xf32>) -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

// and so does a reshape whose shapes do not nest (rows of 6 from rows of 4).
func.func @mixes_batch(%x: tensor<4x6xf32>) -> tensor<6x4xf32> {
  // expected-error @+1 {{cfg=2 splits dimension 0 of operand 0, which this op needs whole}}
  %0 = fresco.reshape %x : tensor<4x6xf32> -> tensor<6x4xf32>
  return %0 : tensor<6x4xf32>
}

// -----

// A result computed without the inputs has no batch to gather.
func.func @constant_result(%x: tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<1x3x8xf32>) {
  %p = fresco.pos_embed_2d {grid_h = 1 : i64, grid_w = 3 : i64, dim = 8 : i64, base_size = 1.0 : f64} : tensor<1x3x8xf32>
  // expected-error @+1 {{result 1 does not depend on the batch}}
  return %x, %p : tensor<4x8xf32>, tensor<1x3x8xf32>
}
