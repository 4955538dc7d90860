// RUN: fresco-opt %s --fresco-create-grid="parallel=ulysses=2" --fresco-ulysses-parallel --fresco-propagate-shardings -split-input-file -verify-diagnostics | FileCheck %s
// RUN: fresco-opt %s --fresco-create-grid="parallel=cfg=2,ulysses=2" --fresco-cfg-parallel --fresco-ulysses-parallel --fresco-propagate-shardings -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=CFG
// RUN: not fresco-opt %s --fresco-create-grid="parallel=cfg=2,ulysses=2" --fresco-cfg-parallel --fresco-ulysses-parallel --fresco-propagate-shardings --fresco-insert-collectives -split-input-file 2>/dev/null | FileCheck %s --check-prefix=COLL

// A small DiT: each rank takes half of the image rows, which the patch
// embedding turns into half of the tokens; the position table is sliced to
// them; q, k and v trade the token split for a head split around the
// attention and back; the unpatchified result, split by rows, is marked
// for fresco-insert-collectives to gather.
// CHECK-LABEL: func.func @dit
// CHECK-SAME: -> (tensor<2x4x4x8xf32> {fresco.sharding = #fresco.sharding<[{}, {}, {0}, {}]>})
// CHECK: %[[X:.*]] = shard.all_slice %arg0 on @grid grid_axes = [0] slice_axis = 2 : tensor<2x4x8x8xf32> -> tensor<2x4x4x8xf32>
// CHECK: fresco.conv2d %[[X]], {{.*}} -> tensor<2x16x2x4xf32>
// CHECK: fresco.reshape {{.*}} : tensor<2x16x2x4xf32> -> tensor<2x16x8xf32>
// CHECK: fresco.transpose {{.*}} -> tensor<2x8x16xf32>
// CHECK: %[[P:.*]] = fresco.pos_embed_2d {{.*}} : tensor<1x16x16xf32>
// CHECK: %[[PS:.*]] = shard.all_slice %[[P]] on @grid grid_axes = [0] slice_axis = 1 : tensor<1x16x16xf32> -> tensor<1x8x16xf32>
// CHECK: fresco.add {{.*}}, %[[PS]] : (tensor<2x8x16xf32>, tensor<1x8x16xf32>) -> tensor<2x8x16xf32>
// CHECK: fresco.layer_norm {{.*}} -> tensor<2x8x16xf32>
// CHECK: fresco.modulate {{.*}} : (tensor<2x8x16xf32>, tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x8x16xf32>
// CHECK-COUNT-3: shard.all_to_all {{.*}} split_axis = 2 concat_axis = 1 : tensor<2x8x16xf32> -> tensor<2x16x8xf32>
// CHECK: %[[A:.*]] = fresco.attention {{.*}} {num_heads = 2 : i64, {{.*}}} : (tensor<2x16x8xf32>, tensor<2x16x8xf32>, tensor<2x16x8xf32>) -> tensor<2x16x8xf32>
// CHECK: %[[B:.*]] = shard.all_to_all %[[A]] on @grid grid_axes = [0] split_axis = 1 concat_axis = 2 : tensor<2x16x8xf32> -> tensor<2x8x16xf32>
// CHECK: fresco.linear %[[B]], {{.*}} -> tensor<2x8x16xf32>
// CHECK: fresco.reshape {{.*}} : tensor<2x8x16xf32> -> tensor<2x2x4x2x2x4xf32>
// CHECK: fresco.transpose {{.*}} -> tensor<2x4x2x2x4x2xf32>
// CHECK: %[[O:.*]] = fresco.reshape {{.*}} : tensor<2x4x2x2x4x2xf32> -> tensor<2x4x4x8xf32>
// CHECK: return %[[O]]
// With cfg first: the ulysses row slice follows the batch slice, and the
// result's mark gets the rows too. fresco-insert-collectives gathers in the
// reverse order of the splits: the rows (restoring this cfg rank's half),
// then the batch.
// CFG-LABEL: func.func @dit
// CFG-SAME: -> (tensor<1x4x4x8xf32> {fresco.sharding = #fresco.sharding<[{0}, {}, {1}, {}]>})
// CFG: %[[XB:.*]] = shard.all_slice %arg0 on @grid grid_axes = [0] slice_axis = 0 : tensor<2x4x8x8xf32> -> tensor<1x4x8x8xf32>
// CFG: shard.all_slice %[[XB]] on @grid grid_axes = [1] slice_axis = 2 : tensor<1x4x8x8xf32> -> tensor<1x4x4x8xf32>
// CFG-COUNT-3: shard.all_to_all {{.*}} grid_axes = [1] split_axis = 2 concat_axis = 1 : tensor<1x8x16xf32> -> tensor<1x16x8xf32>
// COLL-LABEL: func.func @dit
// COLL-SAME: -> tensor<2x4x8x8xf32>
// COLL: %[[R:.*]] = shard.all_gather {{.*}} grid_axes = [1] gather_axis = 2 : tensor<1x4x4x8xf32> -> tensor<1x4x8x8xf32>
// COLL-NEXT: %[[G:.*]] = shard.all_gather %[[R]] on @grid grid_axes = [0] gather_axis = 0 : tensor<1x4x8x8xf32> -> tensor<2x4x8x8xf32>
// COLL-NEXT: return %[[G]]
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

// RMS norm (q/k norms) is per token, as layer norm: it keeps the split.
// CHECK-LABEL: func.func @rms_norm
// CHECK: fresco.rms_norm {{.*}} : (tensor<2x8x16xf32>, tensor<16xf32>) -> tensor<2x8x16xf32>
// CHECK: fresco.attention
func.func @rms_norm(%x: tensor<2x4x8x8xf32>) -> tensor<2x16x16xf32> {
  %w = fresco.param "proj.weight" : tensor<16x4x2x2xf32>
  %0 = fresco.conv2d %x, %w {strides = array<i64: 2, 2>} : (tensor<2x4x8x8xf32>, tensor<16x4x2x2xf32>) -> tensor<2x16x4x4xf32>
  %1 = fresco.reshape %0 : tensor<2x16x4x4xf32> -> tensor<2x16x16xf32>
  %2 = fresco.transpose %1 {permutation = array<i64: 0, 2, 1>} : (tensor<2x16x16xf32>) -> tensor<2x16x16xf32>
  %nw = fresco.param "norm.weight" : tensor<16xf32>
  %3 = fresco.rms_norm %2, %nw {epsilon = 1.0e-6 : f64} : (tensor<2x16x16xf32>, tensor<16xf32>) -> tensor<2x16x16xf32>
  %a = fresco.attention %3, %3, %3 {num_heads = 2 : i64, scale = 0.25 : f64} : (tensor<2x16x16xf32>, tensor<2x16x16xf32>, tensor<2x16x16xf32>) -> tensor<2x16x16xf32>
  return %a : tensor<2x16x16xf32>
}

// -----

// Heads must divide: each rank computes whole heads.
func.func @odd_heads(%x: tensor<2x4x8x8xf32>) -> tensor<2x16x16xf32> {
  %w = fresco.param "proj.weight" : tensor<16x4x2x2xf32>
  %0 = fresco.conv2d %x, %w {strides = array<i64: 2, 2>} : (tensor<2x4x8x8xf32>, tensor<16x4x2x2xf32>) -> tensor<2x16x4x4xf32>
  %1 = fresco.reshape %0 : tensor<2x16x4x4xf32> -> tensor<2x16x16xf32>
  %2 = fresco.transpose %1 {permutation = array<i64: 0, 2, 1>} : (tensor<2x16x16xf32>) -> tensor<2x16x16xf32>
  // expected-error @+1 {{attention has 1 heads, not divisible by ulysses=2 (ulysses gives each rank whole heads)}}
  %a = fresco.attention %2, %2, %2 {num_heads = 1 : i64, scale = 0.25 : f64} : (tensor<2x16x16xf32>, tensor<2x16x16xf32>, tensor<2x16x16xf32>) -> tensor<2x16x16xf32>
  return %a : tensor<2x16x16xf32>
}

// -----

// Patch rows must divide: 4 rows / patch 4 = 1 row of patches cannot give
// each of 2 ranks whole patches (the patch embedding's rule: input rows are
// (patch row, row in patch), and the patch rows are what splits).
func.func @few_rows(%x: tensor<2x4x4x8xf32>) -> tensor<2x16x1x2xf32> {
  %w = fresco.param "proj.weight" : tensor<16x4x4x4xf32>
  // expected-error @+1 {{ulysses=2 cannot split dimension 2 of operand 0: the op's factor there has size 1, not divisible by 2}}
  %0 = fresco.conv2d %x, %w {strides = array<i64: 4, 4>} : (tensor<2x4x4x8xf32>, tensor<16x4x4x4xf32>) -> tensor<2x16x1x2xf32>
  return %0 : tensor<2x16x1x2xf32>
}

// -----

// (A convolution that looks across rows and a group norm over them split
// with halos and combined statistics: fresco-propagate-shardings-halo.mlir.)

// -----

// A reshape that folds the split rows into the channels cannot keep them
// contiguous per rank.
func.func @merges_split(%x: tensor<2x4x8x8xf32>) -> tensor<2x256xf32> {
  // expected-error @+1 {{ulysses=2 would split a minor part of result dimension 1}}
  %0 = fresco.reshape %x : tensor<2x4x8x8xf32> -> tensor<2x256xf32>
  return %0 : tensor<2x256xf32>
}

// -----

// The image's row count itself must divide.
// expected-error @+1 {{latent height 3 is not divisible by ulysses=2}}
func.func @odd_height(%x: tensor<2x4x3x8xf32>) -> tensor<2x4x3x8xf32> {
  return %x : tensor<2x4x3x8xf32>
}
