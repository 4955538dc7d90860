// RUN: fresco-opt %s --fresco-create-grid="parallel=patch=2" --fresco-patch-parallel --fresco-propagate-shardings -split-input-file -verify-diagnostics | FileCheck %s
// RUN: fresco-opt %s --fresco-create-grid="parallel=cfg=2,patch=2" --fresco-cfg-parallel --fresco-patch-parallel --fresco-propagate-shardings -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=CFG
// RUN: not fresco-opt %s --fresco-create-grid="parallel=ulysses=2,patch=2" --fresco-ulysses-parallel --fresco-patch-parallel -split-input-file 2>&1 | FileCheck %s --check-prefix=ULY
// RUN: fresco-opt %s --fresco-create-grid="parallel=patch=2" --fresco-patch-parallel --fresco-propagate-shardings --fresco-insert-collectives -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=GATHER
// RUN: fresco-opt %s --fresco-create-grid="parallel=patch=2" --fresco-patch-parallel --fresco-propagate-shardings --fresco-insert-collectives --fresco-specialize-ranks="ranks=2" -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=RANKS

// The small DiT of fresco-ring-parallel.mlir: each rank takes half of the
// image rows, hence half of the tokens, and keeps its 8 queries through the
// attention; its keys and values are made whole (16 tokens) by stale
// gathers over grid axis 0, so the heads stay whole too (no all_to_all).
// CHECK-LABEL: func.func @dit
// CHECK-SAME: -> (tensor<2x4x4x8xf32> {fresco.sharding = #fresco.sharding<[{}, {}, {0}, {}]>})
// CHECK: shard.all_slice %arg0 on @grid grid_axes = [0] slice_axis = 2 : tensor<2x4x8x8xf32> -> tensor<2x4x4x8xf32>
// CHECK-NOT: shard.all_to_all
// CHECK: %[[Q:.*]] = fresco.linear {{.*}} -> tensor<2x8x16xf32>
// CHECK: %[[K:.*]] = fresco.linear {{.*}} -> tensor<2x8x16xf32>
// CHECK: %[[V:.*]] = fresco.linear {{.*}} -> tensor<2x8x16xf32>
// CHECK: %[[KW:.*]] = fresco.stale_gather %[[K]] {axes = #fresco.axes<[0]>, dim = 1 : i64} : tensor<2x8x16xf32> -> tensor<2x16x16xf32>
// CHECK: %[[VW:.*]] = fresco.stale_gather %[[V]] {axes = #fresco.axes<[0]>, dim = 1 : i64} : tensor<2x8x16xf32> -> tensor<2x16x16xf32>
// CHECK: %[[A:.*]] = fresco.attention %[[Q]], %[[KW]], %[[VW]] {num_heads = 4 : i64, scale = 5.000000e-01 : f64} : (tensor<2x8x16xf32>, tensor<2x16x16xf32>, tensor<2x16x16xf32>) -> tensor<2x8x16xf32>
// CHECK-NOT: ring_axes
// CHECK: fresco.linear %[[A]], {{.*}} -> tensor<2x8x16xf32>
// CHECK: %[[O:.*]] = fresco.reshape {{.*}} : tensor<2x4x2x2x4x2xf32> -> tensor<2x4x4x8xf32>
// CHECK: return %[[O]]
// With cfg first: the patches are grid axis 1, within each cfg half.
// CFG-LABEL: func.func @dit
// CFG-SAME: -> (tensor<1x4x4x8xf32> {fresco.sharding = #fresco.sharding<[{0}, {}, {1}, {}]>})
// CFG-COUNT-2: fresco.stale_gather {{.*}} {axes = #fresco.axes<[1]>, dim = 1 : i64} : tensor<1x8x16xf32> -> tensor<1x16x16xf32>
// CFG: fresco.attention {{.*}} : (tensor<1x8x16xf32>, tensor<1x16x16xf32>, tensor<1x16x16xf32>) -> tensor<1x8x16xf32>
// ULY: error: patch=2 with ulysses=2: displaced patches do not compose with another sequence split
// The prediction's rows are gathered (exactly) before the return.
// GATHER-LABEL: func.func @dit
// GATHER: %[[G:.*]] = shard.all_gather {{.*}} grid_axes = [0] gather_axis = 2 : tensor<2x4x4x8xf32> -> tensor<2x4x8x8xf32>
// GATHER: return %[[G]]
// Each rank's stale gathers name both ranks.
// RANKS-LABEL: func.func @dit
// RANKS-COUNT-2: fresco.stale_gather {{.*}}fresco.members = array<i32: 0, 1>{{.*}} : tensor<2x8x16xf32> -> tensor<2x16x16xf32>
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

// -----

// Attention to a context every rank holds stays local: no stale gather.
// CHECK-LABEL: func.func @cross
// CHECK-NOT: fresco.stale_gather
// CHECK: fresco.attention {{.*}} : (tensor<2x8x16xf32>, tensor<2x5x16xf32>, tensor<2x5x16xf32>) -> tensor<2x8x16xf32>
func.func @cross(%x: tensor<2x4x8x8xf32>, %ctx: tensor<2x5x16xf32>) -> tensor<2x16x16xf32> {
  %w = fresco.param "proj.weight" : tensor<16x4x2x2xf32>
  %0 = fresco.conv2d %x, %w {strides = array<i64: 2, 2>} : (tensor<2x4x8x8xf32>, tensor<16x4x2x2xf32>) -> tensor<2x16x4x4xf32>
  %1 = fresco.reshape %0 : tensor<2x16x4x4xf32> -> tensor<2x16x16xf32>
  %2 = fresco.transpose %1 {permutation = array<i64: 0, 2, 1>} : (tensor<2x16x16xf32>) -> tensor<2x16x16xf32>
  %a = fresco.attention %2, %ctx, %ctx {num_heads = 1 : i64, scale = 0.25 : f64} : (tensor<2x16x16xf32>, tensor<2x5x16xf32>, tensor<2x5x16xf32>) -> tensor<2x16x16xf32>
  return %a : tensor<2x16x16xf32>
}

// -----

// Keys split but values replicated: refused, named after the strategy.
func.func @mixed(%x: tensor<2x4x8x8xf32>, %v: tensor<2x16x16xf32>) -> tensor<2x16x16xf32> {
  %w = fresco.param "proj.weight" : tensor<16x4x2x2xf32>
  %0 = fresco.conv2d %x, %w {strides = array<i64: 2, 2>} : (tensor<2x4x8x8xf32>, tensor<16x4x2x2xf32>) -> tensor<2x16x4x4xf32>
  %1 = fresco.reshape %0 : tensor<2x16x4x4xf32> -> tensor<2x16x16xf32>
  %2 = fresco.transpose %1 {permutation = array<i64: 0, 2, 1>} : (tensor<2x16x16xf32>) -> tensor<2x16x16xf32>
  // expected-error @+1 {{fresco-patch-parallel: attention key and value must both be split along the sequence or both be replicated}}
  %a = fresco.attention %2, %2, %v {num_heads = 2 : i64, scale = 0.25 : f64} : (tensor<2x16x16xf32>, tensor<2x16x16xf32>, tensor<2x16x16xf32>) -> tensor<2x16x16xf32>
  return %a : tensor<2x16x16xf32>
}

// -----

// A causal mask compares global positions: its keys must stay whole.
func.func @causal(%x: tensor<2x4x8x8xf32>) -> tensor<2x16x16xf32> {
  %w = fresco.param "proj.weight" : tensor<16x4x2x2xf32>
  %0 = fresco.conv2d %x, %w {strides = array<i64: 2, 2>} : (tensor<2x4x8x8xf32>, tensor<16x4x2x2xf32>) -> tensor<2x16x4x4xf32>
  %1 = fresco.reshape %0 : tensor<2x16x4x4xf32> -> tensor<2x16x16xf32>
  %2 = fresco.transpose %1 {permutation = array<i64: 0, 2, 1>} : (tensor<2x16x16xf32>) -> tensor<2x16x16xf32>
  // expected-error @+1 {{fresco-patch-parallel}}
  %a = fresco.attention %2, %2, %2 {num_heads = 2 : i64, scale = 0.25 : f64, causal} : (tensor<2x16x16xf32>, tensor<2x16x16xf32>, tensor<2x16x16xf32>) -> tensor<2x16x16xf32>
  return %a : tensor<2x16x16xf32>
}
