// Partitioned by hand over 2 ranks (its own grid): each rank's silu(x),
// summed over the ranks and cut along dimension 1, rank r keeping rows
// [4 r, 4 r + 4). Dimension 0 before it is 2, so the blocks are packed
// before they are reduced.
module attributes {fresco.grid_axes = ["tp"]} {
  shard.grid @grid(shape = 2)
  func.func @rs(%x: tensor<2x8x4xf32> {fresco.name = "x"}) -> (tensor<2x4x4xf32> {fresco.name = "y"}) {
    %0 = fresco.silu %x : (tensor<2x8x4xf32>) -> tensor<2x8x4xf32>
    %1 = shard.reduce_scatter %0 on @grid grid_axes = [0] reduction = sum scatter_axis = 1 : tensor<2x8x4xf32> -> tensor<2x4x4xf32>
    return %1 : tensor<2x4x4xf32>
  }
}
