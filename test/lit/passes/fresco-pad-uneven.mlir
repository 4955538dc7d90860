// RUN: fresco-opt %s --fresco-create-grid="parallel=ulysses=2,ring=2" --fresco-pad-uneven -split-input-file | FileCheck %s --check-prefix=SEQ
// RUN: fresco-opt %s --fresco-create-grid="parallel=tp=4" --fresco-pad-uneven -split-input-file | FileCheck %s --check-prefix=TP
// RUN: fresco-opt %s --fresco-create-grid="parallel=ulysses=2,ring=2" --fresco-pad-uneven --fresco-ulysses-parallel --fresco-ring-parallel --fresco-propagate-shardings -split-input-file | FileCheck %s --check-prefix=USP
// RUN: fresco-opt %s --fresco-create-grid="parallel=cfg=2,tp=2,ulysses=2" --fresco-pad-uneven --fresco-cfg-parallel --fresco-tensor-parallel --fresco-ulysses-parallel --fresco-propagate-shardings --fresco-insert-collectives --canonicalize -split-input-file | FileCheck %s --check-prefix=ALL
// RUN: fresco-opt %s --fresco-create-grid="parallel=ring=5" --fresco-pad-uneven -split-input-file | FileCheck %s --check-prefix=EVEN

// A DiT block with 25 tokens (5x5 patches), 3 heads of 4 and an MLP of 18.
//
// ulysses=2 x ring=2: the tokens are padded to 28 right after the patch
// embedding (where the sequence passes split them), the position table to
// match; attention masks the 3 padded keys; the 3 heads become 4 (zero rows
// in q, k and v, zero columns in the output projection: the checkpoint
// tensors keep their shapes); the padding is sliced off before the
// unpatchify reshape, which cannot carry it. The MLP is not split: whole.
// SEQ-LABEL: func.func @dit
// SEQ: %[[T:.*]] = fresco.transpose {{.*}} -> tensor<2x25x12xf32>
// SEQ: %[[P:.*]] = fresco.pad %[[T]] {axis = 1 : i64, fresco.sequence_seed, size = 28 : i64, start = 0 : i64} : (tensor<2x25x12xf32>) -> tensor<2x28x12xf32>
// SEQ: %[[PE:.*]] = fresco.pos_embed_2d
// SEQ: %[[PEP:.*]] = fresco.pad %[[PE]] {axis = 1 : i64, size = 28 : i64, start = 0 : i64} : (tensor<1x25x12xf32>) -> tensor<1x28x12xf32>
// SEQ: fresco.add %[[P]], %[[PEP]] : (tensor<2x28x12xf32>, tensor<1x28x12xf32>) -> tensor<2x28x12xf32>
// SEQ: %[[WQ:.*]] = fresco.param "q.weight" {checkpoint_shape = array<i64: 12, 12>} : tensor<16x12xf32>
// SEQ: %[[BQ:.*]] = fresco.param "q.bias" {checkpoint_shape = array<i64: 12>} : tensor<16xf32>
// SEQ: %[[Q:.*]] = fresco.linear {{.*}}, %[[WQ]], %[[BQ]] : {{.*}} -> tensor<2x28x16xf32>
// SEQ: fresco.param "k.weight" {checkpoint_shape = array<i64: 12, 12>} : tensor<16x12xf32>
// SEQ: fresco.param "v.weight" {checkpoint_shape = array<i64: 12, 12>} : tensor<16x12xf32>
// SEQ: %[[A:.*]] = fresco.attention %[[Q]], {{.*}} {key_valid = array<i64: 25>, num_heads = 4 : i64, scale = 5.000000e-01 : f64} : {{.*}} -> tensor<2x28x16xf32>
// SEQ: %[[WO:.*]] = fresco.param "out.weight" {checkpoint_shape = array<i64: 12, 12>} : tensor<12x16xf32>
// SEQ: fresco.linear %[[A]], %[[WO]], {{.*}} -> tensor<2x28x12xf32>
// SEQ: fresco.linear {{.*}} : (tensor<2x28x12xf32>, tensor<18x12xf32>, tensor<18xf32>) -> tensor<2x28x18xf32>
// SEQ: %[[F:.*]] = fresco.linear {{.*}} -> tensor<2x28x16xf32>
// SEQ: %[[U:.*]] = fresco.slice %[[F]] {axis = 1 : i64, fresco.unpad, size = 25 : i64, start = 0 : i64} : (tensor<2x28x16xf32>) -> tensor<2x25x16xf32>
// SEQ: fresco.reshape %[[U]] : tensor<2x25x16xf32> -> tensor<2x5x5x2x2x4xf32>
//
// tp=4: heads 3 -> 4 and the MLP's 18 -> 20 (fc1 zero rows and bias, fc2
// zero columns); the tokens stay as they are.
// TP-LABEL: func.func @dit
// TP-NOT: fresco.pad
// TP: fresco.attention {{.*}} {num_heads = 4 : i64, scale = 5.000000e-01 : f64} : {{.*}} -> tensor<2x25x16xf32>
// TP: %[[W1:.*]] = fresco.param "fc1.weight" {checkpoint_shape = array<i64: 18, 12>} : tensor<20x12xf32>
// TP: %[[B1:.*]] = fresco.param "fc1.bias" {checkpoint_shape = array<i64: 18>} : tensor<20xf32>
// TP: %[[H:.*]] = fresco.linear {{.*}}, %[[W1]], %[[B1]] : {{.*}} -> tensor<2x25x20xf32>
// TP: %[[G:.*]] = fresco.gelu %[[H]] {{.*}} -> tensor<2x25x20xf32>
// TP: %[[W2:.*]] = fresco.param "fc2.weight" {checkpoint_shape = array<i64: 12, 18>} : tensor<12x20xf32>
// TP: fresco.linear %[[G]], %[[W2]], {{.*}} -> tensor<2x25x12xf32>
// TP-NOT: fresco.slice
//
// The split that follows is even. Ulysses then ring: each rank holds 7
// tokens; after Ulysses' all_to_all a ring block is 2 segments of 7 (Ulysses
// band u, ring block r: tokens (2u + r) * 7 ...), and only the last one
// holds padding: key_valid's row per ring rank. One gather over both axes
// brings the 28 tokens back before the padding is sliced off.
// USP-LABEL: func.func @dit
// USP: shard.all_slice {{.*}} grid_axes = [0] slice_axis = 1 : tensor<2x28x12xf32> -> tensor<2x14x12xf32>
// USP: shard.all_slice {{.*}} grid_axes = [1] slice_axis = 1 : tensor<2x14x12xf32> -> tensor<2x7x12xf32>
// USP: fresco.attention {{.*}} {key_valid = array<i64: 7, 7, 7, 4>, num_heads = 2 : i64, ring_axes = #fresco.axes<[1]>, {{.*}}} : (tensor<2x14x8xf32>, tensor<2x14x8xf32>, tensor<2x14x8xf32>) -> tensor<2x14x8xf32>
// USP: %[[G:.*]] = shard.all_gather {{.*}} grid_axes = [0, 1] gather_axis = 1 : tensor<2x7x16xf32> -> tensor<2x28x16xf32>
// USP: fresco.slice %[[G]] {axis = 1 : i64, fresco.unpad, size = 25 : i64, start = 0 : i64}
//
// cfg=2 x tp=2 x ulysses=2: tokens to 26 (ulysses), heads to 4 (tp x
// ulysses); the MLP's 18 divides by tp. Each rank loads its half of the
// padded q rows: rank tp=1 rows [8, 16), of which [12, 16) are zeros.
// ALL-LABEL: func.func @dit
// ALL: fresco.pad {{.*}} size = 26 : i64{{.*}} -> tensor<1x26x12xf32>
// ALL: fresco.param "q.weight" {checkpoint_shape = array<i64: 12, 12>, fresco.sharding = #fresco.sharding<[{1}, {}]>} : tensor<8x12xf32>
// ALL: fresco.attention {{.*}} {key_valid = array<i64: 25>, num_heads = 1 : i64, {{.*}}} : (tensor<1x26x4xf32>
// ALL: shard.all_reduce
// ALL: fresco.param "fc1.weight" {fresco.sharding = #fresco.sharding<[{1}, {}]>} : tensor<9x12xf32>
// ALL: %[[G:.*]] = shard.all_gather {{.*}} grid_axes = [2] gather_axis = 1 : tensor<1x13x16xf32> -> tensor<1x26x16xf32>
// ALL: fresco.slice %[[G]] {axis = 1 : i64, fresco.unpad, size = 25 : i64, start = 0 : i64}
//
// ring=5 divides the 5 patch rows: nothing to pad.
// EVEN-LABEL: func.func @dit
// EVEN-NOT: fresco.pad
// EVEN-NOT: checkpoint_shape
// EVEN: return
func.func @dit(%x: tensor<2x4x10x10xf32>, %c: tensor<2x12xf32>) -> tensor<2x4x10x10xf32> {
  %w = fresco.param "proj.weight" : tensor<12x4x2x2xf32>
  %pb = fresco.param "proj.bias" : tensor<12xf32>
  %0 = fresco.conv2d %x, %w, %pb {strides = array<i64: 2, 2>} : (tensor<2x4x10x10xf32>, tensor<12x4x2x2xf32>, tensor<12xf32>) -> tensor<2x12x5x5xf32>
  %1 = fresco.reshape %0 : tensor<2x12x5x5xf32> -> tensor<2x12x25xf32>
  %2 = fresco.transpose %1 {permutation = array<i64: 0, 2, 1>} : (tensor<2x12x25xf32>) -> tensor<2x25x12xf32>
  %pe = fresco.pos_embed_2d {base_size = 5.0 : f64, dim = 12 : i64, grid_h = 5 : i64, grid_w = 5 : i64} : tensor<1x25x12xf32>
  %3 = fresco.add %2, %pe : (tensor<2x25x12xf32>, tensor<1x25x12xf32>) -> tensor<2x25x12xf32>
  %4 = fresco.layer_norm %3 {epsilon = 1.0e-6 : f64} : (tensor<2x25x12xf32>) -> tensor<2x25x12xf32>
  %5 = fresco.modulate %4, %c, %c : (tensor<2x25x12xf32>, tensor<2x12xf32>, tensor<2x12xf32>) -> tensor<2x25x12xf32>
  %wq = fresco.param "q.weight" : tensor<12x12xf32>
  %bq = fresco.param "q.bias" : tensor<12xf32>
  %wk = fresco.param "k.weight" : tensor<12x12xf32>
  %wv = fresco.param "v.weight" : tensor<12x12xf32>
  %q = fresco.linear %5, %wq, %bq : (tensor<2x25x12xf32>, tensor<12x12xf32>, tensor<12xf32>) -> tensor<2x25x12xf32>
  %k = fresco.linear %5, %wk : (tensor<2x25x12xf32>, tensor<12x12xf32>) -> tensor<2x25x12xf32>
  %v = fresco.linear %5, %wv : (tensor<2x25x12xf32>, tensor<12x12xf32>) -> tensor<2x25x12xf32>
  %a = fresco.attention %q, %k, %v {num_heads = 3 : i64, scale = 0.5 : f64} : (tensor<2x25x12xf32>, tensor<2x25x12xf32>, tensor<2x25x12xf32>) -> tensor<2x25x12xf32>
  %wo = fresco.param "out.weight" : tensor<12x12xf32>
  %bo = fresco.param "out.bias" : tensor<12xf32>
  %o = fresco.linear %a, %wo, %bo : (tensor<2x25x12xf32>, tensor<12x12xf32>, tensor<12xf32>) -> tensor<2x25x12xf32>
  %6 = fresco.add %o, %3 : (tensor<2x25x12xf32>, tensor<2x25x12xf32>) -> tensor<2x25x12xf32>
  %w1 = fresco.param "fc1.weight" : tensor<18x12xf32>
  %b1 = fresco.param "fc1.bias" : tensor<18xf32>
  %h = fresco.linear %6, %w1, %b1 : (tensor<2x25x12xf32>, tensor<18x12xf32>, tensor<18xf32>) -> tensor<2x25x18xf32>
  %g = fresco.gelu %h {approximate = "tanh"} : (tensor<2x25x18xf32>) -> tensor<2x25x18xf32>
  %w2 = fresco.param "fc2.weight" : tensor<12x18xf32>
  %b2 = fresco.param "fc2.bias" : tensor<12xf32>
  %m = fresco.linear %g, %w2, %b2 : (tensor<2x25x18xf32>, tensor<12x18xf32>, tensor<12xf32>) -> tensor<2x25x12xf32>
  %7 = fresco.add %m, %6 : (tensor<2x25x12xf32>, tensor<2x25x12xf32>) -> tensor<2x25x12xf32>
  %wf = fresco.param "final.weight" : tensor<16x12xf32>
  %f = fresco.linear %7, %wf : (tensor<2x25x12xf32>, tensor<16x12xf32>) -> tensor<2x25x16xf32>
  %9 = fresco.reshape %f : tensor<2x25x16xf32> -> tensor<2x5x5x2x2x4xf32>
  %10 = fresco.transpose %9 {permutation = array<i64: 0, 5, 1, 3, 2, 4>} : (tensor<2x5x5x2x2x4xf32>) -> tensor<2x4x5x2x5x2xf32>
  %11 = fresco.reshape %10 : tensor<2x4x5x2x5x2xf32> -> tensor<2x4x10x10xf32>
  return %11 : tensor<2x4x10x10xf32>
}
