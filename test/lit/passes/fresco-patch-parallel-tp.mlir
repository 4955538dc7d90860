// RUN: fresco-opt %s --fresco-create-grid="parallel=tp=2,patch=2" --fresco-tensor-parallel --fresco-patch-parallel --fresco-propagate-shardings | FileCheck %s

// With tp first: each rank's 2 of the 4 heads; the stale gathers take its
// heads' keys and values of every patch.
// CHECK-LABEL: func.func @dit
// CHECK-COUNT-2: fresco.stale_gather {{.*}} {axes = #fresco.axes<[1]>, dim = 1 : i64} : tensor<2x8x8xf32> -> tensor<2x16x8xf32>
// CHECK: fresco.attention {{.*}} {num_heads = 2 : i64, {{.*}}} : (tensor<2x8x8xf32>, tensor<2x16x8xf32>, tensor<2x16x8xf32>) -> tensor<2x8x8xf32>
func.func @dit(%x: tensor<2x4x8x8xf32>, %c: tensor<2x16xf32>) -> tensor<2x4x8x8xf32> {
  %w = fresco.param "proj.weight" : tensor<16x4x2x2xf32>
  %pb = fresco.param "proj.bias" : tensor<16xf32>
  %0 = fresco.conv2d %x, %w, %pb {strides = array<i64: 2, 2>} : (tensor<2x4x8x8xf32>, tensor<16x4x2x2xf32>, tensor<16xf32>) -> tensor<2x16x4x4xf32>
  %1 = fresco.reshape %0 : tensor<2x16x4x4xf32> -> tensor<2x16x16xf32>
  %2 = fresco.transpose %1 {permutation = array<i64: 0, 2, 1>} : (tensor<2x16x16xf32>) -> tensor<2x16x16xf32>
  %pe = fresco.pos_embed_2d {base_size = 4.0 : f64, dim = 16 : i64, grid_h = 4 : i64, grid_w = 4 : i64} : tensor<1x16x16xf32>
  %3 = fresco.add %2, %pe : (tensor<2x16x16xf32>, tensor<1x16x16xf32>) -> tensor<2x16x16xf32>
  %4 = fresco.layer_norm %3 {epsilon = 1.0e-6 : f64} : (tensor<2x16x16xf32>) -> tensor<2x16x16xf32>
  %5 = fresco.modulate %4, %c, %c : (tensor<2x16x16xf32>, tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x16x16xf32>
  %wq = fresco.param "q.weight" : tensor<16x16xf32>
  %wk = fresco.param "k.weight" : tensor<16x16xf32>
  %wv = fresco.param "v.weight" : tensor<16x16xf32>
  %q = fresco.linear %5, %wq : (tensor<2x16x16xf32>, tensor<16x16xf32>) -> tensor<2x16x16xf32>
  %k = fresco.linear %5, %wk : (tensor<2x16x16xf32>, tensor<16x16xf32>) -> tensor<2x16x16xf32>
  %v = fresco.linear %5, %wv : (tensor<2x16x16xf32>, tensor<16x16xf32>) -> tensor<2x16x16xf32>
  %a = fresco.attention %q, %k, %v {num_heads = 4 : i64, scale = 0.5 : f64} : (tensor<2x16x16xf32>, tensor<2x16x16xf32>, tensor<2x16x16xf32>) -> tensor<2x16x16xf32>
  %wo = fresco.param "out.weight" : tensor<16x16xf32>
  %o = fresco.linear %a, %wo : (tensor<2x16x16xf32>, tensor<16x16xf32>) -> tensor<2x16x16xf32>
  %g = fresco.reshape %c : tensor<2x16xf32> -> tensor<2x1x16xf32>
  %6 = fresco.mul %g, %o : (tensor<2x1x16xf32>, tensor<2x16x16xf32>) -> tensor<2x16x16xf32>
  %7 = fresco.add %6, %3 : (tensor<2x16x16xf32>, tensor<2x16x16xf32>) -> tensor<2x16x16xf32>
  %8 = fresco.gelu %7 {approximate = "tanh"} : (tensor<2x16x16xf32>) -> tensor<2x16x16xf32>
  %9 = fresco.reshape %8 : tensor<2x16x16xf32> -> tensor<2x4x4x2x2x4xf32>
  %10 = fresco.transpose %9 {permutation = array<i64: 0, 5, 1, 3, 2, 4>} : (tensor<2x4x4x2x2x4xf32>) -> tensor<2x4x4x2x4x2xf32>
  %11 = fresco.reshape %10 : tensor<2x4x4x2x4x2xf32> -> tensor<2x4x8x8xf32>
  return %11 : tensor<2x4x8x8xf32>
}
