// diffusers' RMSNorm with a weight (Flux's q/k norm), then without.
func.func @norm(%x: tensor<3x5x16xf32> {fresco.name = "x"}) -> (tensor<3x5x16xf32> {fresco.name = "y"}) {
  %w = fresco.param "norm.weight" : tensor<16xf32>
  %0 = fresco.rms_norm %x, %w {epsilon = 1.0e-6 : f64} : (tensor<3x5x16xf32>, tensor<16xf32>) -> tensor<3x5x16xf32>
  %1 = fresco.rms_norm %0 {epsilon = 1.0e-5 : f64} : (tensor<3x5x16xf32>) -> tensor<3x5x16xf32>
  return %1 : tensor<3x5x16xf32>
}
