// RUN: fresco-opt %s --fresco-create-grid="parallel=pipefusion=2 ranks=2" --fresco-pipefusion-warmup --fresco-patch-parallel --fresco-propagate-shardings --fresco-insert-collectives --fresco-pipefusion --fresco-pipeline-parallel | FileCheck %s

// PipeFusion's stages balance time, not bytes. The small DiT of
// fresco-pipefusion.mlir with a conditioning linear first whose weight
// (2048x16) outweighs all the others together: by bytes it alone would be
// stage 0 (one small kernel, once a step) and stage 1 would run every op
// of both patches. The roofline estimate of the patched step (kernel
// launches, at these sizes) moves the patch embedding to stage 0 as well;
// q, k and v stay together on stage 1 with both caches, since a cut
// between k and v would send the whole cached keys on for every patch.
// CHECK-LABEL: func.func @dit(
// CHECK: fresco.param "cond.weight" {fresco.stage = #fresco.stage<0>}
// CHECK: fresco.param "proj.weight" {fresco.stage = #fresco.stage<0>}
// CHECK: fresco.conv2d {{.*}}fresco.stage = #fresco.stage<0>
// CHECK: fresco.param "q.weight" {fresco.stage = #fresco.stage<1>}
// CHECK: fresco.param "k.weight" {fresco.stage = #fresco.stage<1>}
// CHECK: fresco.param "v.weight" {fresco.stage = #fresco.stage<1>}
// CHECK: fresco.patch_cache {{.*}}{cache = 0 : i64, dim = 1 : i64, fresco.stage = #fresco.stage<1>, index = 0 : i64, parts = 2 : i64}
// CHECK: fresco.patch_cache {{.*}}{cache = 1 : i64, dim = 1 : i64, fresco.stage = #fresco.stage<1>, index = 0 : i64, parts = 2 : i64}
// CHECK: fresco.conv2d {{.*}}fresco.stage = #fresco.stage<0>
// The twin is cut alike.
// CHECK-LABEL: func.func @dit_warmup(
// CHECK: fresco.param "proj.weight" {fresco.stage = #fresco.stage<0>}
// CHECK: fresco.param "q.weight" {fresco.stage = #fresco.stage<1>}
module attributes {fresco.pipeline = {denoiser = "dit", decoder = "vae"}} {
  func.func @dit(%x: tensor<2x4x8x8xf32>, %c0: tensor<2x16xf32>) -> tensor<2x4x8x8xf32> {
    %wc = fresco.param "cond.weight" : tensor<2048x16xf32>
    %cc = fresco.linear %c0, %wc : (tensor<2x16xf32>, tensor<2048x16xf32>) -> tensor<2x2048xf32>
    %c = fresco.slice %cc {axis = 1 : i64, start = 0 : i64, size = 16 : i64} : (tensor<2x2048xf32>) -> tensor<2x16xf32>
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
  func.func @vae(%x: tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32> {
    return %x : tensor<2x4x8x8xf32>
  }
}
