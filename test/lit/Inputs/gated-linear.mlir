// A hand-written gated residual (LinearAttrs.gate): r + g * linear with a
// gate per sample, then a gate for all samples with no residual after it.
func.func @gated(%x: tensor<2x5x8xf32> {fresco.name = "x"}, %g: tensor<2x1x8xf32> {fresco.name = "g"}) -> (tensor<2x5x8xf32> {fresco.name = "y"}) {
  %w1 = fresco.param "proj.weight" : tensor<8x8xf32>
  %b1 = fresco.param "proj.bias" : tensor<8xf32>
  %w2 = fresco.param "out.weight" : tensor<8x8xf32>
  %s = fresco.param "out.scale" : tensor<1x1x8xf32>
  %0 = fresco.linear %x, %w1, %b1 : (tensor<2x5x8xf32>, tensor<8x8xf32>, tensor<8xf32>) -> tensor<2x5x8xf32>
  %1 = fresco.mul %g, %0 : (tensor<2x1x8xf32>, tensor<2x5x8xf32>) -> tensor<2x5x8xf32>
  %2 = fresco.add %x, %1 : (tensor<2x5x8xf32>, tensor<2x5x8xf32>) -> tensor<2x5x8xf32>
  %3 = fresco.linear %2, %w2 : (tensor<2x5x8xf32>, tensor<8x8xf32>) -> tensor<2x5x8xf32>
  %4 = fresco.mul %3, %s : (tensor<2x5x8xf32>, tensor<1x1x8xf32>) -> tensor<2x5x8xf32>
  return %4 : tensor<2x5x8xf32>
}
