// A reduce_scatter taking the maximum: the plan has no such instruction.
module attributes {fresco.grid_axes = ["tp"]} {
  shard.grid @grid(shape = 2)
  func.func @rs(%x: tensor<2x8x4xf32>) -> tensor<2x4x4xf32> {
    %1 = shard.reduce_scatter %x on @grid grid_axes = [0] reduction = max scatter_axis = 1 : tensor<2x8x4xf32> -> tensor<2x4x4xf32>
    return %1 : tensor<2x4x4xf32>
  }
}
