// RUN: fresco-opt %s --fresco-create-grid="parallel=ulysses=2" --fresco-propagate-shardings -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=ULY
// RUN: fresco-opt %s --fresco-create-grid="parallel=ring=2" --fresco-propagate-shardings -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=RING

// A token split at attention, seeded as data: the grid axis's kind says
// how the propagation resolves it. Ulysses: all_to_alls move the split of
// the tokens onto the rule's heads factor and back; a context every rank
// holds whole keeps this rank's heads. Ring: the queries stay split, the
// split keys and values become ring attention, the whole context stays
// local.
// ULY-LABEL: func.func @self_and_cross
// ULY-SAME: -> (tensor<2x4x8xf32> {fresco.sharding = #fresco.sharding<[{}, {0}, {}]>})
// ULY-COUNT-3: shard.all_to_all {{.*}} grid_axes = [0] split_axis = 2 concat_axis = 1 : tensor<2x4x8xf32> -> tensor<2x8x4xf32>
// ULY: %[[A:.*]] = fresco.attention {{.*}} {num_heads = 1 : i64, scale = 5.000000e-01 : f64} : (tensor<2x8x4xf32>, tensor<2x8x4xf32>, tensor<2x8x4xf32>) -> tensor<2x8x4xf32>
// ULY: %[[B:.*]] = shard.all_to_all %[[A]] on @grid grid_axes = [0] split_axis = 1 concat_axis = 2 : tensor<2x8x4xf32> -> tensor<2x4x8xf32>
// ULY: shard.all_to_all %[[B]] {{.*}} split_axis = 2 concat_axis = 1
// ULY: shard.all_slice %arg1 on @grid grid_axes = [0] slice_axis = 2 : tensor<2x3x8xf32> -> tensor<2x3x4xf32>
// ULY: fresco.attention {{.*}} {num_heads = 1 : i64, scale = 5.000000e-01 : f64} : (tensor<2x8x4xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>) -> tensor<2x8x4xf32>
// RING-LABEL: func.func @self_and_cross
// RING-NOT: all_to_all
// RING: fresco.attention {{.*}} {num_heads = 2 : i64, ring_axes = #fresco.axes<[0]>, scale = 5.000000e-01 : f64} : (tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
// RING: fresco.attention {{.*}} {num_heads = 2 : i64, scale = 5.000000e-01 : f64} : (tensor<2x4x8xf32>, tensor<2x3x8xf32>, tensor<2x3x8xf32>) -> tensor<2x4x8xf32>
func.func @self_and_cross(%x: tensor<2x8x8xf32> {fresco.sharding = #fresco.sharding<[{}, {0}, {}]>},
                          %ctx: tensor<2x3x8xf32>) -> tensor<2x8x8xf32> {
  %a = fresco.attention %x, %x, %x {num_heads = 2 : i64, scale = 0.5 : f64} : (tensor<2x8x8xf32>, tensor<2x8x8xf32>, tensor<2x8x8xf32>) -> tensor<2x8x8xf32>
  %c = fresco.attention %a, %ctx, %ctx {num_heads = 2 : i64, scale = 0.5 : f64} : (tensor<2x8x8xf32>, tensor<2x3x8xf32>, tensor<2x3x8xf32>) -> tensor<2x8x8xf32>
  return %c : tensor<2x8x8xf32>
}

