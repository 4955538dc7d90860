// f16 activations verify in the dialect but the CPU plan is f32-only.
func.func @f(%x: tensor<2x8xf16>) -> tensor<2x8xf16> {
  %0 = fresco.silu %x : (tensor<2x8xf16>) -> tensor<2x8xf16>
  return %0 : tensor<2x8xf16>
}
