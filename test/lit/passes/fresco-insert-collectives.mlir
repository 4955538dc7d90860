// RUN: fresco-opt %s --fresco-insert-collectives | FileCheck %s

// A partial sum gets an all_reduce right after it (before the bias add); a
// split result gets an all_gather before the return and the global type.
// CHECK-LABEL: func.func @f
// CHECK-SAME: -> tensor<4x8xf32>
// CHECK: %[[P:.*]] = fresco.linear
// CHECK-NOT: partial =
// CHECK: %[[R:.*]] = shard.all_reduce %[[P]] on @grid grid_axes = [1] : tensor<2x8xf32> -> tensor<2x8xf32>
// CHECK: %[[A:.*]] = fresco.add %[[R]]
// CHECK: %[[G:.*]] = shard.all_gather %[[A]] on @grid grid_axes = [0] gather_axis = 0 : tensor<2x8xf32> -> tensor<4x8xf32>
// CHECK: return %[[G]]
module attributes {fresco.grid_axes = ["cfg", "tp"]} {
  shard.grid @grid(shape = 2x2)
  func.func @f(%x: tensor<2x4xf32>, %b: tensor<8xf32>) -> (tensor<2x8xf32> {fresco.sharding = #fresco.sharding<[{0}, {}]>}) {
    %w = fresco.param "w" {fresco.sharding = #fresco.sharding<[{}, {1}]>} : tensor<8x4xf32>
    %p = fresco.linear %x, %w {fresco.sharding = #fresco.sharding<[{}, {}], partial = {1}>} : (tensor<2x4xf32>, tensor<8x4xf32>) -> tensor<2x8xf32>
    %a = fresco.add %p, %b : (tensor<2x8xf32>, tensor<8xf32>) -> tensor<2x8xf32>
    return %a : tensor<2x8xf32>
  }
}
