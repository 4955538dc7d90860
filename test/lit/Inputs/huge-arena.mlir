// Two values of 2^46 bytes each, both live at the silu: each fits a plan,
// the arena holding both does not (test/lit/cli/config-limits.test).
func.func @f(%x: tensor<4096x4096x1048576xf32>) -> tensor<4096x4096x1048576xf32> {
  %0 = fresco.silu %x : (tensor<4096x4096x1048576xf32>) -> tensor<4096x4096x1048576xf32>
  return %0 : tensor<4096x4096x1048576xf32>
}
