// Valid fresco IR the plan cannot take: embedding ids must be i64 there.
func.func @f(%ids: tensor<2xi32>) -> tensor<2x4xf32> {
  %t = fresco.param "table" : tensor<10x4xf32>
  %0 = fresco.embedding %t, %ids : (tensor<10x4xf32>, tensor<2xi32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}
