// RUN: fresco-opt %s --fresco-create-grid="parallel=tp=2,cfg=2" --fresco-propagate-shardings -split-input-file -verify-diagnostics | FileCheck %s
// With the collectives the annotations ask for.
// RUN: fresco-opt %s --fresco-create-grid="parallel=tp=2,cfg=2" --fresco-propagate-shardings --fresco-insert-collectives -split-input-file -verify-diagnostics 2>/dev/null | FileCheck %s --check-prefix=COLL

// Megatron's MLP from one seed: fc1's weight split by rows over grid axis
// 0. The rules make fc1's output features, then GELU's, split; fc2
// contracts them, so its parameter gets its own copy loading columns, and
// its result is a partial sum (reduced by fresco-insert-collectives).
// CHECK-LABEL: func.func @mlp
// CHECK-SAME: -> tensor<2x5x8xf32>
// CHECK: %[[W1:.*]] = shard.all_slice %arg1 on @grid grid_axes = [0] slice_axis = 0 : tensor<16x8xf32> -> tensor<8x8xf32>
// CHECK: %[[H:.*]] = fresco.linear %arg0, %[[W1]] : (tensor<2x5x8xf32>, tensor<8x8xf32>) -> tensor<2x5x8xf32>
// CHECK: %[[G:.*]] = fresco.gelu %[[H]] {{.*}} -> tensor<2x5x8xf32>
// CHECK: %[[W2:.*]] = fresco.param "fc2.weight" {fresco.sharding = #fresco.sharding<[{}, {0}]>} : tensor<8x8xf32>
// CHECK: fresco.linear %[[G]], %[[W2]] {fresco.sharding = #fresco.sharding<[{}, {}, {}], partial = {0}>} : (tensor<2x5x8xf32>, tensor<8x8xf32>) -> tensor<2x5x8xf32>
// COLL-LABEL: func.func @mlp
// COLL: fresco.param "fc2.weight" {fresco.sharding
// COLL-NEXT: %[[P:.*]] = fresco.linear
// COLL-NEXT: %[[R:.*]] = shard.all_reduce %[[P]] on @grid grid_axes = [0]
// COLL-NEXT: fresco.add %[[R]], %arg0
func.func @mlp(%x: tensor<2x5x8xf32>, %w1: tensor<16x8xf32> {fresco.sharding = #fresco.sharding<[{0}, {}]>}) -> tensor<2x5x8xf32> {
  %h = fresco.linear %x, %w1 : (tensor<2x5x8xf32>, tensor<16x8xf32>) -> tensor<2x5x16xf32>
  %g = fresco.gelu %h {approximate = "tanh"} : (tensor<2x5x16xf32>) -> tensor<2x5x16xf32>
  %w2 = fresco.param "fc2.weight" : tensor<8x16xf32>
  %y = fresco.linear %g, %w2 : (tensor<2x5x16xf32>, tensor<8x16xf32>) -> tensor<2x5x8xf32>
  %r = fresco.add %y, %x : (tensor<2x5x8xf32>, tensor<2x5x8xf32>) -> tensor<2x5x8xf32>
  return %r : tensor<2x5x8xf32>
}

// -----

// Heads: q, k and v split along their features (heads major) over axis 0
// and the batch over axis 1 (a product of two seeds). The attention keeps
// 2 of its 4 heads per rank; the result is split on both and marked for
// the gathers.
// CHECK-LABEL: func.func @heads
// CHECK-SAME: -> (tensor<1x5x8xf32> {fresco.sharding = #fresco.sharding<[{1}, {}, {0}]>})
// CHECK: fresco.attention {{.*}} {num_heads = 2 : i64, scale = 5.000000e-01 : f64} : (tensor<1x5x8xf32>, tensor<1x5x8xf32>, tensor<1x5x8xf32>) -> tensor<1x5x8xf32>
// COLL-LABEL: func.func @heads
// COLL-SAME: -> tensor<2x5x16xf32>
// COLL: shard.all_gather {{.*}} grid_axes = [1] gather_axis = 0 : tensor<1x5x8xf32> -> tensor<2x5x8xf32>
// COLL: shard.all_gather {{.*}} grid_axes = [0] gather_axis = 2 : tensor<2x5x8xf32> -> tensor<2x5x16xf32>
func.func @heads(%q: tensor<2x5x16xf32> {fresco.sharding = #fresco.sharding<[{1}, {}, {0}]>},
                 %k: tensor<2x5x16xf32> {fresco.sharding = #fresco.sharding<[{1}, {}, {0}]>},
                 %v: tensor<2x5x16xf32> {fresco.sharding = #fresco.sharding<[{1}, {}, {0}]>}) -> tensor<2x5x16xf32> {
  %a = fresco.attention %q, %k, %v {num_heads = 4 : i64, scale = 0.5 : f64} : (tensor<2x5x16xf32>, tensor<2x5x16xf32>, tensor<2x5x16xf32>) -> tensor<2x5x16xf32>
  return %a : tensor<2x5x16xf32>
}

// -----

// A split of the keys' tokens needs ring or Ulysses attention.
func.func @key_tokens(%q: tensor<2x4x8xf32>, %k: tensor<2x4x8xf32> {fresco.sharding = #fresco.sharding<[{}, {0}, {}]>}) -> tensor<2x4x8xf32> {
  // expected-error @+1 {{tp=2 splits attention's key/value tokens (dimension 1 of operand 1); only ring or Ulysses attention resolves that}}
  %a = fresco.attention %q, %k, %k {num_heads = 2 : i64, scale = 0.5 : f64} : (tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  return %a : tensor<2x4x8xf32>
}

// -----

// A norm needs its features whole.
func.func @norm_features(%x: tensor<2x4x8xf32> {fresco.sharding = #fresco.sharding<[{}, {}, {0}]>}) -> tensor<2x4x8xf32> {
  // expected-error @+1 {{tp=2 splits dimension 2 of operand 0, which this op needs whole}}
  %y = fresco.layer_norm %x {epsilon = 1.0e-6 : f64} : (tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  return %y : tensor<2x4x8xf32>
}

// -----

// A split contraction with a bias: the bias would be added on every rank,
// so it moves after the reduction (which fresco-insert-collectives puts
// right after the linear).
// CHECK-LABEL: func.func @bias
// CHECK: %[[W:.*]] = fresco.param "w" {fresco.sharding = #fresco.sharding<[{}, {0}]>} : tensor<4x4xf32>
// CHECK: %[[Y:.*]] = fresco.linear %{{.*}}, %[[W]] {fresco.sharding = #fresco.sharding<[{}, {}], partial = {0}>} : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
// CHECK: fresco.add %[[Y]], %{{.*}} : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
// COLL-LABEL: func.func @bias
// COLL: %[[Y:.*]] = fresco.linear
// COLL-NEXT: %[[R:.*]] = shard.all_reduce %[[Y]]
// COLL-NEXT: fresco.add %[[R]]
func.func @bias(%x: tensor<2x8xf32> {fresco.sharding = #fresco.sharding<[{}, {0}]>}) -> tensor<2x4xf32> {
  %w = fresco.param "w" : tensor<4x8xf32>
  %b = fresco.param "b" : tensor<4xf32>
  %y = fresco.linear %x, %w, %b : (tensor<2x8xf32>, tensor<4x8xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

// A convolution's bias likewise (a ResNet's second convolution under tp),
// broadcast over the channels as [O, 1, 1].
// CHECK-LABEL: func.func @conv_bias
// CHECK: %[[Y:.*]] = fresco.conv2d {{.*}}partial = {0}>{{.*}} : (tensor<1x2x4x4xf32>, tensor<2x2x2x2xf32>) -> tensor<1x2x2x2xf32>
// CHECK: %[[B:.*]] = fresco.reshape %{{.*}} : tensor<2xf32> -> tensor<2x1x1xf32>
// CHECK: fresco.add %[[Y]], %[[B]] : (tensor<1x2x2x2xf32>, tensor<2x1x1xf32>) -> tensor<1x2x2x2xf32>
// COLL-LABEL: func.func @conv_bias
// COLL: %[[Y:.*]] = fresco.conv2d
// COLL-NEXT: %[[R:.*]] = shard.all_reduce %[[Y]]
// COLL: fresco.add %[[R]]
func.func @conv_bias(%x: tensor<1x4x4x4xf32> {fresco.sharding = #fresco.sharding<[{}, {0}, {}, {}]>}) -> tensor<1x2x2x2xf32> {
  %w = fresco.param "w" : tensor<2x4x2x2xf32>
  %b = fresco.param "b" : tensor<2xf32>
  %y = fresco.conv2d %x, %w, %b {strides = array<i64: 2, 2>} : (tensor<1x4x4x4xf32>, tensor<2x4x2x2xf32>, tensor<2xf32>) -> tensor<1x2x2x2xf32>
  return %y : tensor<1x2x2x2xf32>
}

// -----

// A split that does not divide is refused where it is seeded.
// expected-error @+1 {{dimension 0 of argument 0 ('tensor<3x8xf32>') is not divisible by tp=2}}
func.func @odd(%x: tensor<3x8xf32> {fresco.sharding = #fresco.sharding<[{0}, {}]>}) -> tensor<3x8xf32> {
  return %x : tensor<3x8xf32>
}

// -----

// One grid axis cannot split two dimensions of one op's iteration space.
func.func @axis_twice(%x: tensor<2x4xf32> {fresco.sharding = #fresco.sharding<[{0}, {}]>}, %y: tensor<2x4xf32> {fresco.sharding = #fresco.sharding<[{}, {0}]>}) -> tensor<2x4xf32> {
  // expected-error @+1 {{tp=2 splits two different dimensions of this op over grid axis 0}}
  %z = fresco.add %x, %y : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  return %z : tensor<2x4xf32>
}

// -----

// A causal mask compares global positions: split queries are refused.
func.func @causal_queries(%x: tensor<2x4x8xf32> {fresco.sharding = #fresco.sharding<[{}, {0}, {}]>}) -> tensor<2x4x8xf32> {
  // expected-error @+1 {{tp=2 splits dimension 1 of operand 0, which this op needs whole}}
  %a = fresco.attention %x, %x, %x {num_heads = 2 : i64, scale = 0.5 : f64, causal} : (tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  return %a : tensor<2x4x8xf32>
}

// -----

// With a score bias the keys stay whole (not a key sequence for a ring).
func.func @bias_keys(%q: tensor<2x4x8xf32>, %k: tensor<2x4x8xf32> {fresco.sharding = #fresco.sharding<[{}, {0}, {}]>}, %b: tensor<2x4x4xf32>) -> tensor<2x4x8xf32> {
  // expected-error @+1 {{tp=2 splits dimension 1 of operand 1, which this op needs whole}}
  %a = fresco.attention %q, %k, %k, %b {num_heads = 2 : i64, scale = 1.0 : f64} : (tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x4xf32>) -> tensor<2x4x8xf32>
  return %a : tensor<2x4x8xf32>
}

// -----

// Heads split: the bias follows them, each rank taking its heads' rows.
// CHECK-LABEL: func.func @bias_heads
// CHECK: %[[B:.*]] = fresco.relative_position_bias {{.*}} -> tensor<4x5x5xf32>
// CHECK: %[[S:.*]] = shard.all_slice %[[B]] on @grid grid_axes = [0] slice_axis = 0 : tensor<4x5x5xf32> -> tensor<2x5x5xf32>
// CHECK: fresco.attention {{.*}}, %[[S]] {num_heads = 2 : i64, scale = 1.000000e+00 : f64} : (tensor<2x5x8xf32>, tensor<2x5x8xf32>, tensor<2x5x8xf32>, tensor<2x5x5xf32>) -> tensor<2x5x8xf32>
func.func @bias_heads(%q: tensor<2x5x16xf32> {fresco.sharding = #fresco.sharding<[{}, {}, {0}]>},
                      %k: tensor<2x5x16xf32> {fresco.sharding = #fresco.sharding<[{}, {}, {0}]>},
                      %t: tensor<32x4xf32>) -> tensor<2x5x16xf32> {
  %b = fresco.relative_position_bias %t {num_buckets = 32 : i64, max_distance = 20 : i64, bidirectional, query_length = 5 : i64, key_length = 5 : i64} : (tensor<32x4xf32>) -> tensor<4x5x5xf32>
  %a = fresco.attention %q, %k, %k, %b {num_heads = 4 : i64, scale = 1.0 : f64} : (tensor<2x5x16xf32>, tensor<2x5x16xf32>, tensor<2x5x16xf32>, tensor<4x5x5xf32>) -> tensor<2x5x16xf32>
  return %a : tensor<2x5x16xf32>
}

// -----

// A result an earlier strategy marked (the batch over axis 1, as cfg does)
// keeps its mark, and this split is added to it.
// CHECK-LABEL: func.func @earlier_mark
// CHECK-SAME: -> (tensor<2x4x4xf32> {fresco.sharding = #fresco.sharding<[{1}, {}, {0}]>})
// COLL-LABEL: func.func @earlier_mark
// COLL: shard.all_gather {{.*}} grid_axes = [1] gather_axis = 0 : tensor<2x4x4xf32> -> tensor<4x4x4xf32>
// COLL: shard.all_gather {{.*}} grid_axes = [0] gather_axis = 2 : tensor<4x4x4xf32> -> tensor<4x4x8xf32>
func.func @earlier_mark(%x: tensor<2x4x8xf32> {fresco.sharding = #fresco.sharding<[{}, {}, {0}]>}) -> (tensor<2x4x8xf32> {fresco.sharding = #fresco.sharding<[{1}, {}, {}]>}) {
  %y = fresco.silu %x : (tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  return %y : tensor<2x4x8xf32>
}

// -----

// On a dimension an earlier strategy split, a later split cuts its blocks:
// its axis must be minor (later in the grid) to the earlier one.
func.func @earlier_mark_order(%x: tensor<4x8xf32> {fresco.sharding = #fresco.sharding<[{0}, {}]>}) -> (tensor<4x8xf32> {fresco.sharding = #fresco.sharding<[{1}, {}]>}) {
  %y = fresco.silu %x : (tensor<4x8xf32>) -> tensor<4x8xf32>
  // expected-error @+1 {{tp=2: list it after the strategy that split dimension 0 of result 0 (grid axis 1) in --parallel}}
  return %y : tensor<4x8xf32>
}
