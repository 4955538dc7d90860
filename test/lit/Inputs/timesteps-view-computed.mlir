// The timesteps feed the embedding, and a view of them a computation.
func.func @f(%t: tensor<4xf32> {fresco.name = "t"}) -> (tensor<4x8xf32> {fresco.name = "y"}, tensor<1x4xf32> {fresco.name = "z"}) {
  %e = fresco.timestep_embedding %t {dim = 8 : i64, flip_sin_to_cos = true} : (tensor<4xf32>) -> tensor<4x8xf32>
  %r = fresco.reshape %t : tensor<4xf32> -> tensor<1x4xf32>
  %z = fresco.silu %r : (tensor<1x4xf32>) -> tensor<1x4xf32>
  return %e, %z : tensor<4x8xf32>, tensor<1x4xf32>
}
