// Slice and concat along axis -1 (the last): swaps the halves of the last
// dimension.
func.func @swap(%x: tensor<2x6xf32> {fresco.name = "x"}) -> (tensor<2x6xf32> {fresco.name = "y"}) {
  %a = fresco.slice %x {axis = -1 : i64, start = 0 : i64, size = 3 : i64} : (tensor<2x6xf32>) -> tensor<2x3xf32>
  %b = fresco.slice %x {axis = -1 : i64, start = 3 : i64, size = 3 : i64} : (tensor<2x6xf32>) -> tensor<2x3xf32>
  %y = fresco.concat %b, %a {axis = -1 : i64} : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x6xf32>
  return %y : tensor<2x6xf32>
}
