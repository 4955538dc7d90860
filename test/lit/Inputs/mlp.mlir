// A hand-written model: fresco-compile takes .mlir as well as model folders.
func.func @mlp(%x: tensor<3x5x8xf32> {fresco.name = "x"}) -> (tensor<3x5x8xf32> {fresco.name = "y"}) {
  %w1 = fresco.param "fc1.weight" : tensor<16x8xf32>
  %b1 = fresco.param "fc1.bias" : tensor<16xf32>
  %w2 = fresco.param "fc2.weight" : tensor<8x16xf32>
  %g = fresco.param "norm.weight" : tensor<8xf32>
  %b = fresco.param "norm.bias" : tensor<8xf32>
  %0 = fresco.linear %x, %w1, %b1 : (tensor<3x5x8xf32>, tensor<16x8xf32>, tensor<16xf32>) -> tensor<3x5x16xf32>
  %1 = fresco.gelu %0 : (tensor<3x5x16xf32>) -> tensor<3x5x16xf32>
  %2 = fresco.linear %1, %w2 : (tensor<3x5x16xf32>, tensor<8x16xf32>) -> tensor<3x5x8xf32>
  %3 = fresco.add %2, %x : (tensor<3x5x8xf32>, tensor<3x5x8xf32>) -> tensor<3x5x8xf32>
  %4 = fresco.layer_norm %3, %g, %b {epsilon = 1.0e-5 : f64} : (tensor<3x5x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<3x5x8xf32>
  return %4 : tensor<3x5x8xf32>
}
