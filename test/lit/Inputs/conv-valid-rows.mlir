// A convolution over padded rows (valid_rows) that no halo exchange
// zeroes: hand-written, since fresco-pad-uneven pads rows only for a split
// of them. The plan's Conv2d cannot skip them.
func.func @conv(%x: tensor<1x4x6x4xf32>) -> tensor<1x4x6x4xf32> {
  %w = fresco.param "w" : tensor<4x4x3x3xf32>
  %0 = fresco.conv2d %x, %w {padding = array<i64: 1, 1>, valid_rows = 4 : i64} : (tensor<1x4x6x4xf32>, tensor<4x4x3x3xf32>) -> tensor<1x4x6x4xf32>
  return %0 : tensor<1x4x6x4xf32>
}
