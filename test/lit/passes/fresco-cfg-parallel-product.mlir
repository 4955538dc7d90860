// RUN: fresco-opt %s --fresco-create-grid="parallel=cfg=2,tp=2" --fresco-cfg-parallel --fresco-tensor-parallel --fresco-propagate-shardings --fresco-insert-collectives | FileCheck %s
// RUN: fresco-opt %s --fresco-create-grid="parallel=tp=2,cfg=2" --fresco-cfg-parallel --fresco-tensor-parallel --fresco-propagate-shardings --fresco-insert-collectives | FileCheck %s --check-prefix=SWAP

// cfg (rule-driven batch split) then Megatron tp, as fresco-compile runs
// them: each rank takes half the batch on grid axis 0 and half the heads
// and MLP width on axis 1; the partial sums are reduced over axis 1 only
// and the result gathered over axis 0 only.
// CHECK-LABEL: func.func @block
// CHECK-SAME: -> tensor<4x5x8xf32>
// CHECK: shard.all_slice %arg0 on @grid grid_axes = [0] slice_axis = 0 : tensor<4x5x8xf32> -> tensor<2x5x8xf32>
// CHECK: fresco.param "q.weight" {fresco.sharding = #fresco.sharding<[{1}, {}]>} : tensor<4x8xf32>
// CHECK: fresco.attention {{.*}} {num_heads = 1 : i64, {{.*}}} : (tensor<2x5x4xf32>, tensor<2x5x4xf32>, tensor<2x5x4xf32>) -> tensor<2x5x4xf32>
// CHECK: %[[O:.*]] = fresco.linear {{.*}} : (tensor<2x5x4xf32>, tensor<8x4xf32>) -> tensor<2x5x8xf32>
// CHECK: shard.all_reduce %[[O]] on @grid grid_axes = [1] : tensor<2x5x8xf32> -> tensor<2x5x8xf32>
// CHECK: fresco.param "fc1.weight" {fresco.sharding = #fresco.sharding<[{1}, {}]>} : tensor<8x8xf32>
// CHECK: fresco.param "fc2.weight" {fresco.sharding = #fresco.sharding<[{}, {1}]>} : tensor<8x8xf32>
// CHECK: %[[F:.*]] = fresco.linear {{.*}} : (tensor<2x5x8xf32>, tensor<8x8xf32>) -> tensor<2x5x8xf32>
// CHECK: shard.all_reduce %[[F]] on @grid grid_axes = [1]
// CHECK: %[[G:.*]] = shard.all_gather %{{.*}} on @grid grid_axes = [0] gather_axis = 0 : tensor<2x5x8xf32> -> tensor<4x5x8xf32>
// CHECK: return %[[G]]
// With the axes the other way round, the same on swapped axes.
// SWAP-LABEL: func.func @block
// SWAP: shard.all_slice %arg0 on @grid grid_axes = [1] slice_axis = 0
// SWAP: fresco.param "q.weight" {fresco.sharding = #fresco.sharding<[{0}, {}]>}
// SWAP: shard.all_reduce {{.*}} grid_axes = [0]
// SWAP: shard.all_gather {{.*}} grid_axes = [1] gather_axis = 0
module {
  func.func @block(%x: tensor<4x5x8xf32>) -> tensor<4x5x8xf32> {
    %wq = fresco.param "q.weight" : tensor<8x8xf32>
    %wk = fresco.param "k.weight" : tensor<8x8xf32>
    %wv = fresco.param "v.weight" : tensor<8x8xf32>
    %wo = fresco.param "o.weight" : tensor<8x8xf32>
    %q = fresco.linear %x, %wq : (tensor<4x5x8xf32>, tensor<8x8xf32>) -> tensor<4x5x8xf32>
    %k = fresco.linear %x, %wk : (tensor<4x5x8xf32>, tensor<8x8xf32>) -> tensor<4x5x8xf32>
    %v = fresco.linear %x, %wv : (tensor<4x5x8xf32>, tensor<8x8xf32>) -> tensor<4x5x8xf32>
    %a = fresco.attention %q, %k, %v {num_heads = 2 : i64, scale = 0.5 : f64} : (tensor<4x5x8xf32>, tensor<4x5x8xf32>, tensor<4x5x8xf32>) -> tensor<4x5x8xf32>
    %o = fresco.linear %a, %wo : (tensor<4x5x8xf32>, tensor<8x8xf32>) -> tensor<4x5x8xf32>
    %h = fresco.add %o, %x : (tensor<4x5x8xf32>, tensor<4x5x8xf32>) -> tensor<4x5x8xf32>
    %w1 = fresco.param "fc1.weight" : tensor<16x8xf32>
    %w2 = fresco.param "fc2.weight" : tensor<8x16xf32>
    %f1 = fresco.linear %h, %w1 : (tensor<4x5x8xf32>, tensor<16x8xf32>) -> tensor<4x5x16xf32>
    %g = fresco.gelu %f1 {approximate = "tanh"} : (tensor<4x5x16xf32>) -> tensor<4x5x16xf32>
    %f2 = fresco.linear %g, %w2 : (tensor<4x5x16xf32>, tensor<8x16xf32>) -> tensor<4x5x8xf32>
    %y = fresco.add %f2, %h : (tensor<4x5x8xf32>, tensor<4x5x8xf32>) -> tensor<4x5x8xf32>
    return %y : tensor<4x5x8xf32>
  }
}
