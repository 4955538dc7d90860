// RUN: fresco-opt %s --fresco-create-grid="parallel=tp=2" --fresco-tensor-parallel --fresco-propagate-shardings -split-input-file -verify-diagnostics | FileCheck %s

// Attention: q/k/v column-parallel (rows of the weights, heads split),
// output projection row-parallel with its bias after the reduction. MLP:
// fc1 column-, fc2 row-parallel. The per-sample [B, D] MLP stays replicated.
// CHECK-LABEL: func.func @block
// CHECK: %[[WQ:.*]] = fresco.param "q.weight" {fresco.sharding = #fresco.sharding<[{0}, {}]>} : tensor<4x8xf32>
// CHECK: fresco.param "q.bias" {fresco.sharding = #fresco.sharding<[{0}]>} : tensor<4xf32>
// CHECK: fresco.attention {{.*}} {num_heads = 1 : i64, {{.*}}} : (tensor<2x5x4xf32>, tensor<2x5x4xf32>, tensor<2x5x4xf32>) -> tensor<2x5x4xf32>
// CHECK: fresco.param "o.weight" {fresco.sharding = #fresco.sharding<[{}, {0}]>} : tensor<8x4xf32>
// CHECK: %[[O:.*]] = fresco.linear {{.*}} {fresco.sharding = #fresco.sharding<[{}, {}, {}], partial = {0}>} : (tensor<2x5x4xf32>, tensor<8x4xf32>) -> tensor<2x5x8xf32>
// CHECK: fresco.add %[[O]], {{.*}} : (tensor<2x5x8xf32>, tensor<8xf32>)
// CHECK: fresco.param "fc1.weight" {fresco.sharding = #fresco.sharding<[{0}, {}]>} : tensor<16x8xf32>
// CHECK: fresco.gelu {{.*}} -> tensor<2x5x16xf32>
// CHECK: fresco.param "fc2.weight" {fresco.sharding = #fresco.sharding<[{}, {0}]>} : tensor<8x16xf32>
// CHECK: fresco.linear {{.*}} {fresco.sharding = #fresco.sharding<[{}, {}, {}], partial = {0}>}
// CHECK: fresco.param "emb1.weight" : tensor<8x8xf32>
// CHECK-NOT: partial =
// CHECK: return
func.func @block(%x: tensor<2x5x8xf32>, %c: tensor<2x8xf32>) -> (tensor<2x5x8xf32>, tensor<2x8xf32>) {
  %wq = fresco.param "q.weight" : tensor<8x8xf32>
  %bq = fresco.param "q.bias" : tensor<8xf32>
  %wk = fresco.param "k.weight" : tensor<8x8xf32>
  %wv = fresco.param "v.weight" : tensor<8x8xf32>
  %q = fresco.linear %x, %wq, %bq : (tensor<2x5x8xf32>, tensor<8x8xf32>, tensor<8xf32>) -> tensor<2x5x8xf32>
  %k = fresco.linear %x, %wk : (tensor<2x5x8xf32>, tensor<8x8xf32>) -> tensor<2x5x8xf32>
  %v = fresco.linear %x, %wv : (tensor<2x5x8xf32>, tensor<8x8xf32>) -> tensor<2x5x8xf32>
  %a = fresco.attention %q, %k, %v {num_heads = 2 : i64, scale = 0.5 : f64} : (tensor<2x5x8xf32>, tensor<2x5x8xf32>, tensor<2x5x8xf32>) -> tensor<2x5x8xf32>
  %wo = fresco.param "o.weight" : tensor<8x8xf32>
  %bo = fresco.param "o.bias" : tensor<8xf32>
  %o = fresco.linear %a, %wo, %bo : (tensor<2x5x8xf32>, tensor<8x8xf32>, tensor<8xf32>) -> tensor<2x5x8xf32>
  %w1 = fresco.param "fc1.weight" : tensor<32x8xf32>
  %h = fresco.linear %o, %w1 : (tensor<2x5x8xf32>, tensor<32x8xf32>) -> tensor<2x5x32xf32>
  %g = fresco.gelu %h {approximate = "tanh"} : (tensor<2x5x32xf32>) -> tensor<2x5x32xf32>
  %w2 = fresco.param "fc2.weight" : tensor<8x32xf32>
  %y = fresco.linear %g, %w2 : (tensor<2x5x32xf32>, tensor<8x32xf32>) -> tensor<2x5x8xf32>
  %we1 = fresco.param "emb1.weight" : tensor<8x8xf32>
  %e1 = fresco.linear %c, %we1 : (tensor<2x8xf32>, tensor<8x8xf32>) -> tensor<2x8xf32>
  %s = fresco.silu %e1 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %we2 = fresco.param "emb2.weight" : tensor<8x8xf32>
  %e2 = fresco.linear %s, %we2 : (tensor<2x8xf32>, tensor<8x8xf32>) -> tensor<2x8xf32>
  return %y, %e2 : tensor<2x5x8xf32>, tensor<2x8xf32>
}

// -----

func.func @heads(%x: tensor<1x4x6xf32>) -> tensor<1x4x6xf32> {
  %w = fresco.param "q" : tensor<6x6xf32>
  %q = fresco.linear %x, %w : (tensor<1x4x6xf32>, tensor<6x6xf32>) -> tensor<1x4x6xf32>
  %wk = fresco.param "k" : tensor<6x6xf32>
  %k = fresco.linear %x, %wk : (tensor<1x4x6xf32>, tensor<6x6xf32>) -> tensor<1x4x6xf32>
  %wv = fresco.param "v" : tensor<6x6xf32>
  %v = fresco.linear %x, %wv : (tensor<1x4x6xf32>, tensor<6x6xf32>) -> tensor<1x4x6xf32>
  // expected-error @+1 {{attention has 3 heads, not divisible by tp=2 (tensor parallelism splits whole heads)}}
  %a = fresco.attention %q, %k, %v {num_heads = 3 : i64, scale = 0.5 : f64} : (tensor<1x4x6xf32>, tensor<1x4x6xf32>, tensor<1x4x6xf32>) -> tensor<1x4x6xf32>
  %wo = fresco.param "o" : tensor<6x6xf32>
  %o = fresco.linear %a, %wo : (tensor<1x4x6xf32>, tensor<6x6xf32>) -> tensor<1x4x6xf32>
  return %o : tensor<1x4x6xf32>
}

// -----

func.func @nothing(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @-1 {{fresco-tensor-parallel found no attention, MLP or large per-sample layer to split in 'nothing'}}
  %0 = fresco.silu %x : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}


// -----

// Per-head q/k RMS norms between the projections and attention (Flux,
// SD3): q's projection is found behind the reshapes and the norm, and the
// rules keep the split on the heads (the norm needs only the head
// dimension whole).
// CHECK-LABEL: func.func @qk_norm
// CHECK: fresco.param "q.weight" {fresco.sharding = #fresco.sharding<[{0}, {}]>} : tensor<4x8xf32>
// CHECK: fresco.reshape {{.*}} : tensor<2x5x4xf32> -> tensor<2x5x1x4xf32>
// CHECK: fresco.rms_norm {{.*}} : (tensor<2x5x1x4xf32>, tensor<4xf32>) -> tensor<2x5x1x4xf32>
// CHECK: fresco.reshape {{.*}} : tensor<2x5x1x4xf32> -> tensor<2x5x4xf32>
// CHECK: fresco.attention {{.*}} {num_heads = 1 : i64, {{.*}}} : (tensor<2x5x4xf32>, tensor<2x5x4xf32>, tensor<2x5x4xf32>) -> tensor<2x5x4xf32>
// CHECK: fresco.param "o.weight" {fresco.sharding = #fresco.sharding<[{}, {0}]>} : tensor<8x4xf32>
// CHECK: fresco.linear {{.*}} {fresco.sharding = #fresco.sharding<[{}, {}, {}], partial = {0}>}
func.func @qk_norm(%x: tensor<2x5x8xf32>) -> tensor<2x5x8xf32> {
  %wq = fresco.param "q.weight" : tensor<8x8xf32>
  %wk = fresco.param "k.weight" : tensor<8x8xf32>
  %wv = fresco.param "v.weight" : tensor<8x8xf32>
  %gq = fresco.param "norm_q.weight" : tensor<4xf32>
  %q0 = fresco.linear %x, %wq : (tensor<2x5x8xf32>, tensor<8x8xf32>) -> tensor<2x5x8xf32>
  %q1 = fresco.reshape %q0 : tensor<2x5x8xf32> -> tensor<2x5x2x4xf32>
  %q2 = fresco.rms_norm %q1, %gq {epsilon = 1.0e-6 : f64} : (tensor<2x5x2x4xf32>, tensor<4xf32>) -> tensor<2x5x2x4xf32>
  %q = fresco.reshape %q2 : tensor<2x5x2x4xf32> -> tensor<2x5x8xf32>
  %k = fresco.linear %x, %wk : (tensor<2x5x8xf32>, tensor<8x8xf32>) -> tensor<2x5x8xf32>
  %v = fresco.linear %x, %wv : (tensor<2x5x8xf32>, tensor<8x8xf32>) -> tensor<2x5x8xf32>
  %a = fresco.attention %q, %k, %v {num_heads = 2 : i64, scale = 0.5 : f64} : (tensor<2x5x8xf32>, tensor<2x5x8xf32>, tensor<2x5x8xf32>) -> tensor<2x5x8xf32>
  %wo = fresco.param "o.weight" : tensor<8x8xf32>
  %o = fresco.linear %a, %wo : (tensor<2x5x8xf32>, tensor<8x8xf32>) -> tensor<2x5x8xf32>
  return %o : tensor<2x5x8xf32>
}

// -----

// A norm over all of q's features cannot take the heads split: refused
// where it is.
func.func @full_norm(%x: tensor<2x5x8xf32>) -> tensor<2x5x8xf32> {
  %wq = fresco.param "q.weight" : tensor<8x8xf32>
  %wk = fresco.param "k.weight" : tensor<8x8xf32>
  %wv = fresco.param "v.weight" : tensor<8x8xf32>
  %q0 = fresco.linear %x, %wq : (tensor<2x5x8xf32>, tensor<8x8xf32>) -> tensor<2x5x8xf32>
  // expected-error @+1 {{tp=2 splits dimension 2 of operand 0, which this op needs whole}}
  %q = fresco.layer_norm %q0 {epsilon = 1.0e-6 : f64} : (tensor<2x5x8xf32>) -> tensor<2x5x8xf32>
  %k = fresco.linear %x, %wk : (tensor<2x5x8xf32>, tensor<8x8xf32>) -> tensor<2x5x8xf32>
  %v = fresco.linear %x, %wv : (tensor<2x5x8xf32>, tensor<8x8xf32>) -> tensor<2x5x8xf32>
  %a = fresco.attention %q, %k, %v {num_heads = 2 : i64, scale = 0.5 : f64} : (tensor<2x5x8xf32>, tensor<2x5x8xf32>, tensor<2x5x8xf32>) -> tensor<2x5x8xf32>
  %wo = fresco.param "o.weight" : tensor<8x8xf32>
  %o = fresco.linear %a, %wo : (tensor<2x5x8xf32>, tensor<8x8xf32>) -> tensor<2x5x8xf32>
  return %o : tensor<2x5x8xf32>
}

// -----

// q, k and v must each come from a projection of their own.
func.func @shared_projection(%x: tensor<2x5x8xf32>) -> tensor<2x5x8xf32> {
  %w = fresco.param "qkv.weight" : tensor<8x8xf32>
  %p = fresco.linear %x, %w : (tensor<2x5x8xf32>, tensor<8x8xf32>) -> tensor<2x5x8xf32>
  // expected-error @+1 {{tensor parallelism needs q, k and v to come from their own linear layers}}
  %a = fresco.attention %p, %p, %p {num_heads = 2 : i64, scale = 0.5 : f64} : (tensor<2x5x8xf32>, tensor<2x5x8xf32>, tensor<2x5x8xf32>) -> tensor<2x5x8xf32>
  %wo = fresco.param "o.weight" : tensor<8x8xf32>
  %o = fresco.linear %a, %wo : (tensor<2x5x8xf32>, tensor<8x8xf32>) -> tensor<2x5x8xf32>
  return %o : tensor<2x5x8xf32>
}

// -----

// A UNet's ResNet block: conv1 splits its output channels (weight and bias
// by rows), the time embedding's projection likewise (each rank adds its
// channels' share; no slice of a whole projection), the group norm normalises each rank's whole groups (4 of 8 ->
// 2 a rank, with its slice of the affine), conv2 contracts the channels
// (weight by columns, partial sums) and its bias moves after the
// reduction, broadcast as [O, 1, 1]. The first norm, on the replicated
// input, stays whole.
// CHECK-LABEL: func.func @resnet
// CHECK: fresco.group_norm %arg0, {{.*}}num_groups = 4 : i64} : {{.*}} -> tensor<2x8x4x4xf32>
// CHECK: fresco.param "conv1.weight" {fresco.sharding = #fresco.sharding<[{0}, {}, {}, {}]>} : tensor<4x8x3x3xf32>
// CHECK: fresco.param "conv1.bias" {fresco.sharding = #fresco.sharding<[{0}]>} : tensor<4xf32>
// CHECK: fresco.conv2d {{.*}} -> tensor<2x4x4x4xf32>
// CHECK: fresco.param "time_emb_proj.weight" {fresco.sharding = #fresco.sharding<[{0}, {}]>} : tensor<4x16xf32>
// CHECK: fresco.reshape {{.*}} : tensor<2x4xf32> -> tensor<2x4x1x1xf32>
// CHECK-NOT: shard.all_slice
// CHECK: %[[N:.*]] = fresco.group_norm {{.*}}num_groups = 2 : i64} : (tensor<2x4x4x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x4x4x4xf32>
// CHECK: fresco.param "conv2.weight" {fresco.sharding = #fresco.sharding<[{}, {0}, {}, {}]>} : tensor<8x4x3x3xf32>
// CHECK: %[[C2:.*]] = fresco.conv2d {{.*}}fresco.sharding = #fresco.sharding<[{}, {}, {}, {}], partial = {0}>{{.*}} -> tensor<2x8x4x4xf32>
// CHECK: %[[B:.*]] = fresco.reshape {{.*}} : tensor<8xf32> -> tensor<8x1x1xf32>
// CHECK: fresco.add %[[C2]], %[[B]]
func.func @resnet(%x: tensor<2x8x4x4xf32>, %t: tensor<2x16xf32>) -> tensor<2x8x4x4xf32> attributes {fresco.component = "unet"} {
  %g1 = fresco.param "norm1.weight" : tensor<8xf32>
  %b1 = fresco.param "norm1.bias" : tensor<8xf32>
  %0 = fresco.group_norm %x, %g1, %b1 {num_groups = 4 : i64, epsilon = 1.0e-5 : f64} : (tensor<2x8x4x4xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x8x4x4xf32>
  %1 = fresco.silu %0 : (tensor<2x8x4x4xf32>) -> tensor<2x8x4x4xf32>
  %w1 = fresco.param "conv1.weight" : tensor<8x8x3x3xf32>
  %c1 = fresco.param "conv1.bias" : tensor<8xf32>
  %2 = fresco.conv2d %1, %w1, %c1 {padding = array<i64: 1, 1>} : (tensor<2x8x4x4xf32>, tensor<8x8x3x3xf32>, tensor<8xf32>) -> tensor<2x8x4x4xf32>
  %wt = fresco.param "time_emb_proj.weight" : tensor<8x16xf32>
  %bt = fresco.param "time_emb_proj.bias" : tensor<8xf32>
  %ts = fresco.silu %t : (tensor<2x16xf32>) -> tensor<2x16xf32>
  %te = fresco.linear %ts, %wt, %bt : (tensor<2x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<2x8xf32>
  %tr = fresco.reshape %te : tensor<2x8xf32> -> tensor<2x8x1x1xf32>
  %3 = fresco.add %2, %tr : (tensor<2x8x4x4xf32>, tensor<2x8x1x1xf32>) -> tensor<2x8x4x4xf32>
  %g2 = fresco.param "norm2.weight" : tensor<8xf32>
  %b2 = fresco.param "norm2.bias" : tensor<8xf32>
  %4 = fresco.group_norm %3, %g2, %b2 {num_groups = 4 : i64, epsilon = 1.0e-5 : f64} : (tensor<2x8x4x4xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x8x4x4xf32>
  %5 = fresco.silu %4 : (tensor<2x8x4x4xf32>) -> tensor<2x8x4x4xf32>
  %w2 = fresco.param "conv2.weight" : tensor<8x8x3x3xf32>
  %c2 = fresco.param "conv2.bias" : tensor<8xf32>
  %6 = fresco.conv2d %5, %w2, %c2 {padding = array<i64: 1, 1>} : (tensor<2x8x4x4xf32>, tensor<8x8x3x3xf32>, tensor<8xf32>) -> tensor<2x8x4x4xf32>
  %7 = fresco.add %6, %x : (tensor<2x8x4x4xf32>, tensor<2x8x4x4xf32>) -> tensor<2x8x4x4xf32>
  return %7 : tensor<2x8x4x4xf32>
}
