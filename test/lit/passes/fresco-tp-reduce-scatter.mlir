// RUN: fresco-opt %s --fresco-create-grid="parallel=tp=2" --fresco-tensor-parallel --fresco-propagate-shardings --fresco-insert-collectives --fresco-tp-reduce-scatter -split-input-file -verify-diagnostics | FileCheck %s
// Without a tp axis nothing changes.
// RUN: fresco-opt %s --fresco-create-grid="parallel=cfg=2" --fresco-tp-reduce-scatter -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=NONE
// Patches split the tokens already: an error.
// RUN: not fresco-opt %s --fresco-create-grid="parallel=tp=2,patch=2" --fresco-tp-reduce-scatter -split-input-file 2>&1 | FileCheck %s --check-prefix=PATCH
// PATCH: fresco-tp-reduce-scatter: tp's reduce_scatter over the tokens does not compose with patch
// RUN: not fresco-opt %s --fresco-create-grid="parallel=tp=2,pipefusion=2" --fresco-tp-reduce-scatter -split-input-file 2>&1 | FileCheck %s --check-prefix=PIPEFUSION
// PIPEFUSION: fresco-tp-reduce-scatter: tp's reduce_scatter over the tokens does not compose with pipefusion

// Two pre-norm blocks (attention, MLP) with gated residuals: each
// row-parallel output's all_reduce becomes a reduce_scatter over the tokens;
// its bias, the gate, the residual add and the next layer norm run on this
// rank's 4 of 8 tokens (the first residual, replicated, sliced locally);
// the column-parallel linears read one all_gather of the normed tokens; the
// output projection (replicated weight) runs on the split too, and the
// result is gathered before the return.
// CHECK-LABEL: func.func @blocks
// CHECK: %[[N0:.*]] = fresco.layer_norm %arg0 {{.*}} -> tensor<2x8x16xf32>
// CHECK: fresco.linear %[[N0]], {{.*}} -> tensor<2x8x8xf32>
// CHECK: fresco.attention
// CHECK: %[[O:.*]] = fresco.linear {{.*}} -> tensor<2x8x16xf32>
// CHECK-NOT: shard.all_reduce
// CHECK: %[[RS:.*]] = shard.reduce_scatter %[[O]] on @grid grid_axes = [0] scatter_axis = 1 : tensor<2x8x16xf32> -> tensor<2x4x16xf32>
// CHECK: %[[B:.*]] = fresco.add %[[RS]], {{.*}} -> tensor<2x4x16xf32>
// CHECK: %[[G:.*]] = fresco.mul {{.*}}%[[B]]{{.*}} -> tensor<2x4x16xf32>
// CHECK: %[[X:.*]] = shard.all_slice %arg0 on @grid grid_axes = [0] slice_axis = 1 : tensor<2x8x16xf32> -> tensor<2x4x16xf32>
// CHECK: %[[H:.*]] = fresco.add %[[G]], %[[X]] {{.*}} -> tensor<2x4x16xf32>
// CHECK: %[[N1:.*]] = fresco.layer_norm %[[H]] {{.*}} -> tensor<2x4x16xf32>
// CHECK: %[[AG:.*]] = shard.all_gather %[[N1]] on @grid grid_axes = [0] gather_axis = 1 : tensor<2x4x16xf32> -> tensor<2x8x16xf32>
// CHECK: fresco.linear %[[AG]], {{.*}} -> tensor<2x8x32xf32>
// CHECK: %[[F:.*]] = fresco.linear {{.*}} -> tensor<2x8x16xf32>
// CHECK: %[[RS2:.*]] = shard.reduce_scatter %[[F]] {{.*}} -> tensor<2x4x16xf32>
// CHECK: %[[B2:.*]] = fresco.add %[[RS2]], {{.*}} -> tensor<2x4x16xf32>
// CHECK: %[[H2:.*]] = fresco.add {{.*}}%[[H]]{{.*}} -> tensor<2x4x16xf32>
// CHECK: %[[P:.*]] = fresco.linear %[[H2]], {{.*}} -> tensor<2x4x4xf32>
// CHECK: %[[PG:.*]] = shard.all_gather %[[P]] {{.*}} gather_axis = 1 : tensor<2x4x4xf32> -> tensor<2x8x4xf32>
// CHECK: return %[[PG]]
// NONE-LABEL: func.func @blocks
// NONE-NOT: shard.reduce_scatter
func.func @blocks(%x: tensor<2x8x16xf32>, %gate: tensor<2x1x16xf32>) -> tensor<2x8x4xf32> attributes {fresco.component = "transformer"} {
  %n0 = fresco.layer_norm %x {epsilon = 1.0e-6 : f64} : (tensor<2x8x16xf32>) -> tensor<2x8x16xf32>
  %wq = fresco.param "attn.to_q.weight" : tensor<16x16xf32>
  %wk = fresco.param "attn.to_k.weight" : tensor<16x16xf32>
  %wv = fresco.param "attn.to_v.weight" : tensor<16x16xf32>
  %wo = fresco.param "attn.to_out.0.weight" : tensor<16x16xf32>
  %bo = fresco.param "attn.to_out.0.bias" : tensor<16xf32>
  %q = fresco.linear %n0, %wq : (tensor<2x8x16xf32>, tensor<16x16xf32>) -> tensor<2x8x16xf32>
  %k = fresco.linear %n0, %wk : (tensor<2x8x16xf32>, tensor<16x16xf32>) -> tensor<2x8x16xf32>
  %v = fresco.linear %n0, %wv : (tensor<2x8x16xf32>, tensor<16x16xf32>) -> tensor<2x8x16xf32>
  %a = fresco.attention %q, %k, %v {num_heads = 2 : i64, scale = 0.35355339059327373 : f64} : (tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<2x8x16xf32>) -> tensor<2x8x16xf32>
  %o = fresco.linear %a, %wo, %bo : (tensor<2x8x16xf32>, tensor<16x16xf32>, tensor<16xf32>) -> tensor<2x8x16xf32>
  %g = fresco.mul %gate, %o : (tensor<2x1x16xf32>, tensor<2x8x16xf32>) -> tensor<2x8x16xf32>
  %h = fresco.add %g, %x : (tensor<2x8x16xf32>, tensor<2x8x16xf32>) -> tensor<2x8x16xf32>
  %n1 = fresco.layer_norm %h {epsilon = 1.0e-6 : f64} : (tensor<2x8x16xf32>) -> tensor<2x8x16xf32>
  %w1 = fresco.param "ff.net.0.proj.weight" : tensor<64x16xf32>
  %w2 = fresco.param "ff.net.2.weight" : tensor<16x64xf32>
  %b2 = fresco.param "ff.net.2.bias" : tensor<16xf32>
  %f1 = fresco.linear %n1, %w1 : (tensor<2x8x16xf32>, tensor<64x16xf32>) -> tensor<2x8x64xf32>
  %f2 = fresco.gelu %f1 {approximate = "tanh"} : (tensor<2x8x64xf32>) -> tensor<2x8x64xf32>
  %f3 = fresco.linear %f2, %w2, %b2 : (tensor<2x8x64xf32>, tensor<16x64xf32>, tensor<16xf32>) -> tensor<2x8x16xf32>
  %h2 = fresco.add %f3, %h : (tensor<2x8x16xf32>, tensor<2x8x16xf32>) -> tensor<2x8x16xf32>
  %wp = fresco.param "proj_out.weight" : tensor<4x16xf32>
  %p = fresco.linear %h2, %wp : (tensor<2x8x16xf32>, tensor<4x16xf32>) -> tensor<2x8x4xf32>
  return %p : tensor<2x8x4xf32>
}

// -----

// A partial sum whose only reader needs all the tokens (a reshape across
// them) keeps its all_reduce: a reduce_scatter and an all_gather right after
// would only add a call.
// CHECK-LABEL: func.func @no_taker
// CHECK: shard.all_reduce
// CHECK-NOT: shard.reduce_scatter
func.func @no_taker(%x: tensor<2x8x16xf32>) -> tensor<2x128xf32> attributes {fresco.component = "transformer"} {
  %w1 = fresco.param "ff.net.0.proj.weight" : tensor<64x16xf32>
  %w2 = fresco.param "ff.net.2.weight" : tensor<16x64xf32>
  %f1 = fresco.linear %x, %w1 : (tensor<2x8x16xf32>, tensor<64x16xf32>) -> tensor<2x8x64xf32>
  %f2 = fresco.gelu %f1 {approximate = "tanh"} : (tensor<2x8x64xf32>) -> tensor<2x8x64xf32>
  %f3 = fresco.linear %f2, %w2 : (tensor<2x8x64xf32>, tensor<16x64xf32>) -> tensor<2x8x16xf32>
  %r = fresco.reshape %f3 : tensor<2x8x16xf32> -> tensor<2x128xf32>
  return %r : tensor<2x128xf32>
}

// -----

// 5 tokens on tp=2: not a multiple, the all_reduce stays.
// CHECK-LABEL: func.func @indivisible_tokens
// CHECK: shard.all_reduce
// CHECK-NOT: shard.reduce_scatter
func.func @indivisible_tokens(%x: tensor<2x5x16xf32>) -> tensor<2x5x16xf32> attributes {fresco.component = "transformer"} {
  %w1 = fresco.param "ff.net.0.proj.weight" : tensor<64x16xf32>
  %w2 = fresco.param "ff.net.2.weight" : tensor<16x64xf32>
  %f1 = fresco.linear %x, %w1 : (tensor<2x5x16xf32>, tensor<64x16xf32>) -> tensor<2x5x64xf32>
  %f2 = fresco.gelu %f1 {approximate = "tanh"} : (tensor<2x5x64xf32>) -> tensor<2x5x64xf32>
  %f3 = fresco.linear %f2, %w2 : (tensor<2x5x64xf32>, tensor<16x64xf32>) -> tensor<2x5x16xf32>
  %h = fresco.add %f3, %x : (tensor<2x5x16xf32>, tensor<2x5x16xf32>) -> tensor<2x5x16xf32>
  return %h : tensor<2x5x16xf32>
}

// -----

// A slice of all the tokens is parallel by its rule but counts them in its
// attributes: it takes them whole (one gather), while the product next to
// it runs split.
// CHECK-LABEL: func.func @whole_slice
// CHECK: %[[RS:.*]] = shard.reduce_scatter
// CHECK: %[[H:.*]] = fresco.add %[[RS]], {{.*}} -> tensor<2x4x16xf32>
// CHECK: %[[G:.*]] = shard.all_gather %[[H]] {{.*}} -> tensor<2x8x16xf32>
// CHECK: fresco.slice %[[G]] {{.*}} -> tensor<2x8x16xf32>
// CHECK: %[[M:.*]] = fresco.mul %[[H]], %[[H]] {{.*}} -> tensor<2x4x16xf32>
// CHECK: shard.all_gather %[[M]]
func.func @whole_slice(%x: tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<2x8x16xf32>) attributes {fresco.component = "transformer"} {
  %w1 = fresco.param "ff.net.0.proj.weight" : tensor<64x16xf32>
  %w2 = fresco.param "ff.net.2.weight" : tensor<16x64xf32>
  %f1 = fresco.linear %x, %w1 : (tensor<2x8x16xf32>, tensor<64x16xf32>) -> tensor<2x8x64xf32>
  %f2 = fresco.gelu %f1 {approximate = "tanh"} : (tensor<2x8x64xf32>) -> tensor<2x8x64xf32>
  %f3 = fresco.linear %f2, %w2 : (tensor<2x8x64xf32>, tensor<16x64xf32>) -> tensor<2x8x16xf32>
  %h = fresco.add %f3, %x : (tensor<2x8x16xf32>, tensor<2x8x16xf32>) -> tensor<2x8x16xf32>
  %s = fresco.slice %h {axis = 1 : i64, start = 0 : i64, size = 8 : i64} : (tensor<2x8x16xf32>) -> tensor<2x8x16xf32>
  %wq = fresco.param "attn.to_q.weight" : tensor<16x16xf32>
  %m = fresco.mul %h, %h : (tensor<2x8x16xf32>, tensor<2x8x16xf32>) -> tensor<2x8x16xf32>
  return %s, %m : tensor<2x8x16xf32>, tensor<2x8x16xf32>
}
