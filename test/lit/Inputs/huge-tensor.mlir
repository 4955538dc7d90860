// A value of 2^48 floats: valid IR, but more than the 2^46 bytes a plan's
// arena may hold (test/lit/cli/config-limits.test).
func.func @f(%x: tensor<65536x65536x65536xf32>) -> tensor<65536x65536x65536xf32> {
  %0 = fresco.silu %x : (tensor<65536x65536x65536xf32>) -> tensor<65536x65536x65536xf32>
  return %0 : tensor<65536x65536x65536xf32>
}
