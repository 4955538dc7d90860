// The timesteps reach the timestep embedding through a reshape (a view of
// the input: no instruction, the same arena offset).
func.func @f(%t: tensor<1x4xf32> {fresco.name = "t"}) -> (tensor<4x8xf32> {fresco.name = "y"}) {
  %r = fresco.reshape %t : tensor<1x4xf32> -> tensor<4xf32>
  %e = fresco.timestep_embedding %r {dim = 8 : i64, flip_sin_to_cos = true} : (tensor<4xf32>) -> tensor<4x8xf32>
  return %e : tensor<4x8xf32>
}
