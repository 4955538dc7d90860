// A verifier error: fresco-compile prints it with its location.
func.func @f(%x: tensor<2x8xf32>) -> tensor<2x4xf32> {
  %w = fresco.param "w" : tensor<4x7xf32>
  %0 = fresco.linear %x, %w : (tensor<2x8xf32>, tensor<4x7xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}
