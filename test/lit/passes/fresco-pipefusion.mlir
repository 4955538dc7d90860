// RUN: fresco-opt %s --fresco-create-grid="parallel=pipefusion=2 ranks=2" --fresco-pipefusion-warmup --fresco-patch-parallel --fresco-propagate-shardings --fresco-insert-collectives --fresco-pipefusion -split-input-file -verify-diagnostics | FileCheck %s
// RUN: fresco-opt %s --fresco-create-grid="parallel=pipefusion=2 ranks=2" --fresco-pipefusion-warmup --fresco-patch-parallel --fresco-propagate-shardings --fresco-insert-collectives --fresco-pipefusion --fresco-pipeline-parallel | FileCheck %s --check-prefix=STAGES
// RUN: not fresco-opt %s --fresco-create-grid="parallel=ulysses=2,pipefusion=2 ranks=4" --fresco-pipefusion-warmup --fresco-ulysses-parallel --fresco-patch-parallel 2>&1 | FileCheck %s --check-prefix=ULY

// The small DiT of fresco-patch-parallel.mlir in a pipeline, pipefusion=2
// (2 stages, 2 patches). The patches' axis is gone from the grid.
// CHECK: fresco.grid_axes = ["pipeline"]
// CHECK: shard.grid @grid(shape = 2)
// The denoiser runs patch 0 (rows 0..3 of the latent), then patch 1 (rows
// 4..7); each patch's keys and values go through one cache per
// attention operand, as block 0 and block 1 of 2.
// CHECK-LABEL: func.func @dit
// CHECK-NOT: shard.
// CHECK: fresco.slice %arg0 {axis = 2 : i64, size = 4 : i64, start = 0 : i64}
// CHECK: %[[K0:.*]] = fresco.patch_cache %{{.*}} {cache = 0 : i64, dim = 1 : i64, index = 0 : i64, parts = 2 : i64} : tensor<2x8x16xf32> -> tensor<2x16x16xf32>
// CHECK: %[[V0:.*]] = fresco.patch_cache %{{.*}} {cache = 1 : i64, dim = 1 : i64, index = 0 : i64, parts = 2 : i64}
// CHECK: fresco.attention %{{.*}}, %[[K0]], %[[V0]] {{.*}} : (tensor<2x8x16xf32>, tensor<2x16x16xf32>, tensor<2x16x16xf32>) -> tensor<2x8x16xf32>
// CHECK: %[[P0:.*]] = fresco.reshape {{.*}} -> tensor<2x4x4x8xf32>
// CHECK: fresco.slice %arg0 {axis = 2 : i64, size = 4 : i64, start = 4 : i64}
// CHECK: fresco.patch_cache %{{.*}} {cache = 0 : i64, dim = 1 : i64, index = 1 : i64, parts = 2 : i64}
// CHECK: fresco.patch_cache %{{.*}} {cache = 1 : i64, dim = 1 : i64, index = 1 : i64, parts = 2 : i64}
// CHECK: %[[P1:.*]] = fresco.reshape {{.*}} -> tensor<2x4x4x8xf32>
// The final gather: the patches' rows joined.
// CHECK: %[[O:.*]] = fresco.concat %[[P0]], %[[P1]] {axis = 2 : i64}
// CHECK: return %[[O]]
// The warm-up twin is not split; it writes both caches whole.
// CHECK-LABEL: func.func @dit_warmup
// CHECK-NOT: fresco.slice
// CHECK: %[[KW:.*]] = fresco.patch_cache %{{.*}} {cache = 0 : i64, dim = 1 : i64, index = 0 : i64, parts = 1 : i64} : tensor<2x16x16xf32> -> tensor<2x16x16xf32>
// CHECK: %[[VW:.*]] = fresco.patch_cache %{{.*}} {cache = 1 : i64, dim = 1 : i64, index = 0 : i64, parts = 1 : i64}
// CHECK: fresco.attention %{{.*}}, %[[KW]], %[[VW]] {{.*}} : (tensor<2x16x16xf32>, tensor<2x16x16xf32>, tensor<2x16x16xf32>) -> tensor<2x16x16xf32>
// The stages cut by dataflow (fresco-pipeline-parallel): the time balance
// (fresco-pipefusion-balance.mlir) puts q's, k's and v's weights on stage
// 1, so every write of both caches, in both functions, is on stage 1 (the
// rank that keeps them), and each patch sends its own activations on.
// STAGES-LABEL: func.func @dit
// STAGES: fresco.stage_transfer {{.*}}from_stage = 0 : i64, to_stage = 1 : i64} : tensor<2x8x16xf32>
// STAGES: fresco.patch_cache {{.*}}{cache = 0 : i64, dim = 1 : i64, fresco.stage = #fresco.stage<1>, index = 0 : i64
// STAGES: fresco.patch_cache {{.*}}{cache = 1 : i64, dim = 1 : i64, fresco.stage = #fresco.stage<1>, index = 0 : i64
// STAGES: fresco.patch_cache {{.*}}{cache = 0 : i64, dim = 1 : i64, fresco.stage = #fresco.stage<1>, index = 1 : i64
// STAGES: fresco.patch_cache {{.*}}{cache = 1 : i64, dim = 1 : i64, fresco.stage = #fresco.stage<1>, index = 1 : i64
// STAGES: fresco.stage_broadcast {{.*}}from_stage = 1 : i64} : tensor<2x4x8x8xf32>
// STAGES-LABEL: func.func @dit_warmup
// STAGES: fresco.patch_cache {{.*}}{cache = 0 : i64, dim = 1 : i64, fresco.stage = #fresco.stage<1>, index = 0 : i64, parts = 1 : i64}
// STAGES: fresco.patch_cache {{.*}}{cache = 1 : i64, dim = 1 : i64, fresco.stage = #fresco.stage<1>, index = 0 : i64, parts = 1 : i64}
// ULY: error: pipefusion=2 with ulysses=2: PipeFusion's patches do not compose with another sequence split
module attributes {fresco.pipeline = {denoiser = "dit", decoder = "vae"}} {
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
  func.func @vae(%x: tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32> {
    return %x : tensor<2x4x8x8xf32>
  }
}
