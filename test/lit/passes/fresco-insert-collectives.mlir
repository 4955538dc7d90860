// RUN: fresco-opt %s --fresco-insert-collectives -split-input-file | FileCheck %s

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

// -----

// Results split by cfg (the batch) and by the sequence axes (the tokens,
// Ulysses major to ring) are gathered in the reverse of the order the
// strategies ran: the tokens of every result first, over both sequence
// axes at once, then the batch.
// CHECK-LABEL: func.func @order
// CHECK-SAME: -> (tensor<2x8x4xf32>, tensor<2x8x4xf32>)
// CHECK: %[[T0:.*]] = shard.all_gather %arg0 on @grid grid_axes = [1, 2] gather_axis = 1 : tensor<1x2x4xf32> -> tensor<1x8x4xf32>
// CHECK-NEXT: %[[T1:.*]] = shard.all_gather %arg1 on @grid grid_axes = [1, 2] gather_axis = 1 : tensor<1x2x4xf32> -> tensor<1x8x4xf32>
// CHECK-NEXT: %[[B0:.*]] = shard.all_gather %[[T0]] on @grid grid_axes = [0] gather_axis = 0 : tensor<1x8x4xf32> -> tensor<2x8x4xf32>
// CHECK-NEXT: %[[B1:.*]] = shard.all_gather %[[T1]] on @grid grid_axes = [0] gather_axis = 0 : tensor<1x8x4xf32> -> tensor<2x8x4xf32>
// CHECK-NEXT: return %[[B0]], %[[B1]]
module attributes {fresco.grid_axes = ["cfg", "ulysses", "ring"]} {
  shard.grid @grid(shape = 2x2x2)
  func.func @order(%x: tensor<1x2x4xf32>, %y: tensor<1x2x4xf32>) -> (tensor<1x2x4xf32> {fresco.sharding = #fresco.sharding<[{0}, {1, 2}, {}]>}, tensor<1x2x4xf32> {fresco.sharding = #fresco.sharding<[{0}, {1, 2}, {}]>}) {
    return %x, %y : tensor<1x2x4xf32>, tensor<1x2x4xf32>
  }
}
