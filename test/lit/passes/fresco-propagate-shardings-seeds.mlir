// Hand-written seeds, with and without an order.
// RUN: fresco-opt %s --fresco-create-grid="parallel=tp=2,cfg=2" --fresco-propagate-shardings -split-input-file -verify-diagnostics 2>/dev/null | FileCheck %s --check-prefix=HAND
// A seed order: axis 1 (cfg) is propagated before axis 0 (tp), so its
// slice comes first. Without one, the seeds go together.
// HAND-LABEL: func.func @ordered
// HAND: shard.all_slice %arg0 on @grid grid_axes = [1] slice_axis = 1 : tensor<8x4xf32> -> tensor<8x2xf32>
// HAND-NEXT: shard.all_slice %{{.*}} on @grid grid_axes = [0] slice_axis = 0 : tensor<8x2xf32> -> tensor<4x2xf32>
// HAND-NOT: fresco.seed
module attributes {fresco.seed_order = array<i16: 1, 0>} {
func.func @ordered(%x: tensor<8x4xf32> {fresco.seed = #fresco.sharding<[{0}, {1}]>}) -> tensor<8x4xf32> {
  %y = fresco.silu %x : (tensor<8x4xf32>) -> tensor<8x4xf32>
  return %y : tensor<8x4xf32>
}
}

// -----

// HAND-LABEL: func.func @together
// HAND-SAME: -> (tensor<2x4xf32> {fresco.sharding = #fresco.sharding<[{0, 1}, {}]>})
// HAND: shard.all_slice %arg0 on @grid grid_axes = [0, 1] slice_axis = 0 : tensor<8x4xf32> -> tensor<2x4xf32>
func.func @together(%x: tensor<8x4xf32> {fresco.seed = #fresco.sharding<[{0, 1}, {}]>}) -> tensor<8x4xf32> {
  %y = fresco.silu %x : (tensor<8x4xf32>) -> tensor<8x4xf32>
  return %y : tensor<8x4xf32>
}

// -----

// Ordered against the grid on one dimension: the gather of the result
// could not restore it.
module attributes {fresco.seed_order = array<i16: 1, 0>} {
func.func @against_grid(%x: tensor<8x4xf32> {fresco.seed = #fresco.sharding<[{0, 1}, {}]>}) -> tensor<8x4xf32> {
  %y = fresco.silu %x : (tensor<8x4xf32>) -> tensor<8x4xf32>
  // expected-error @+1 {{tp=2: list it after the strategy that split dimension 0 of result 0 (grid axis 1) in --parallel}}
  return %y : tensor<8x4xf32>
}
}

// -----

// A seed on an op splits its result where it is.
// HAND-LABEL: func.func @on_op
// HAND: %[[Y:.*]] = fresco.silu %arg0 : (tensor<8x4xf32>) -> tensor<8x4xf32>
// HAND-NEXT: %[[S:.*]] = shard.all_slice %[[Y]] on @grid grid_axes = [1] slice_axis = 1 : tensor<8x4xf32> -> tensor<8x2xf32>
// HAND-NEXT: fresco.gelu %[[S]] {{.*}} -> tensor<8x2xf32>
func.func @on_op(%x: tensor<8x4xf32>) -> tensor<8x4xf32> {
  %y = fresco.silu %x {fresco.seed = #fresco.sharding<[{}, {1}]>} : (tensor<8x4xf32>) -> tensor<8x4xf32>
  %z = fresco.gelu %y {approximate = "tanh"} : (tensor<8x4xf32>) -> tensor<8x4xf32>
  return %z : tensor<8x4xf32>
}

// -----

// expected-error @+1 {{a seed names grid axis 5, but the grid has 2 axes}}
func.func @no_axis(%x: tensor<8x4xf32> {fresco.seed = #fresco.sharding<[{5}, {}]>}) -> tensor<8x4xf32> {
  return %x : tensor<8x4xf32>
}
