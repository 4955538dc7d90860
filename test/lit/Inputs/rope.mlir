// Flux's rotary embedding alone: a table from [T, 3] ids (axes 4 + 6 + 6, a
// 16-wide head), applied to q [B, T, 2 heads * 16].
func.func @rope(%ids: tensor<7x3xf32> {fresco.name = "ids"}, %q: tensor<2x7x32xf32> {fresco.name = "q"}) -> (tensor<2x7x32xf32> {fresco.name = "y"}) {
  %t = fresco.rope_table %ids {theta = 1.0e+04 : f64, axes_dim = array<i64: 4, 6, 6>} : (tensor<7x3xf32>) -> tensor<7x8x2xf32>
  %y = fresco.rope %q, %t {num_heads = 2 : i64} : (tensor<2x7x32xf32>, tensor<7x8x2xf32>) -> tensor<2x7x32xf32>
  return %y : tensor<2x7x32xf32>
}
