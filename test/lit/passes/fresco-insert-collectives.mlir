// RUN: fresco-opt %s --fresco-insert-collectives | FileCheck %s

// A partial sum gets an all_reduce right after it (before the bias add); a
// split result gets an all_gather before the return and the global type.
// CHECK-LABEL: func.func @f
// CHECK-SAME: -> tensor<4x8xf32>
// CHECK: %[[P:.*]] = fresco.linear
// CHECK-NOT: partial_axes
// CHECK: %[[R:.*]] = shard.all_reduce %[[P]] on @grid grid_axes = [1] : tensor<2x8xf32> -> tensor<2x8xf32>
// CHECK: %[[A:.*]] = fresco.add %[[R]]
// CHECK: %[[G:.*]] = shard.all_gather %[[A]] on @grid grid_axes = [0] gather_axis = 0 : tensor<2x8xf32> -> tensor<4x8xf32>
// CHECK: return %[[G]]
module attributes {fresco.grid_axes = ["cfg", "tp"]} {
  shard.grid @grid(shape = 2x2)
  func.func @f(%x: tensor<2x4xf32>, %b: tensor<8xf32>) -> (tensor<2x8xf32> {fresco.split = array<i64: 0, 0>}) {
    %w = fresco.param "w" {fresco.shard_dim = 1 : i64, fresco.shard_axis = 1 : i64} : tensor<8x4xf32>
    %p = fresco.linear %x, %w {fresco.partial_axes = array<i16: 1>} : (tensor<2x4xf32>, tensor<8x4xf32>) -> tensor<2x8xf32>
    %a = fresco.add %p, %b : (tensor<2x8xf32>, tensor<8xf32>) -> tensor<2x8xf32>
    return %a : tensor<2x8xf32>
  }
}
