// Timesteps embedded through a reshape the first stage holds, the
// embedding summed with the second linear's result: fresco-fuse-epilogues
// makes the sum that linear's residual, placed after the embedding, which
// the first stage then computes (in f32 from the f32 timesteps) and sends
// to the second as an ordinary value.
func.func @f(%x: tensor<2x64xf32> {fresco.name = "x"}, %t: tensor<2x1xf32> {fresco.name = "t"}) -> (tensor<2x128xf32> {fresco.name = "y"}) {
  %r = fresco.reshape %t : tensor<2x1xf32> -> tensor<2xf32>
  %w0 = fresco.param "first.weight" : tensor<8x64xf32>
  %w1 = fresco.param "second.weight" : tensor<128x8xf32>
  %h = fresco.linear %x, %w0 : (tensor<2x64xf32>, tensor<8x64xf32>) -> tensor<2x8xf32>
  %h2 = fresco.linear %h, %w1 : (tensor<2x8xf32>, tensor<128x8xf32>) -> tensor<2x128xf32>
  %e = fresco.timestep_embedding %r {dim = 128 : i64, flip_sin_to_cos = true} : (tensor<2xf32>) -> tensor<2x128xf32>
  %y = fresco.add %h2, %e : (tensor<2x128xf32>, tensor<2x128xf32>) -> tensor<2x128xf32>
  return %y : tensor<2x128xf32>
}
