// RUN: fresco-opt %s --fresco-create-grid="parallel=ulysses=2" --fresco-ulysses-parallel --fresco-propagate-shardings -split-input-file -verify-diagnostics | FileCheck %s
// RUN: fresco-opt %s --fresco-create-grid="parallel=ring=2" --fresco-ring-parallel --fresco-propagate-shardings -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=RING

// Joined sequences (Flux's [text; image] tokens): every argument marked
// fresco.sequence_dim is split along its tokens, so each rank holds its
// share of the text and of the image tokens and of their ids; the joined
// value is each rank's text block then its image block, the rotary table
// rows go with their tokens, and a slice of the image tokens is this
// rank's image block (start 1 = its 1 text token), marked to be gathered.
// CHECK-LABEL: func.func @joint
// CHECK-SAME: -> (tensor<1x2x8xf32> {fresco.sharding = #fresco.sharding<[{}, {0}, {}]>})
// CHECK: %[[TI:.*]] = shard.all_slice %arg3 {{.*}} slice_axis = 0 : tensor<2x2xf32> -> tensor<1x2xf32>
// CHECK: %[[II:.*]] = shard.all_slice %arg2 {{.*}} slice_axis = 0 : tensor<4x2xf32> -> tensor<2x2xf32>
// CHECK: %[[T:.*]] = shard.all_slice %arg1 {{.*}} slice_axis = 1 : tensor<1x2x8xf32> -> tensor<1x1x8xf32>
// CHECK: %[[I:.*]] = shard.all_slice %arg0 {{.*}} slice_axis = 1 : tensor<1x4x8xf32> -> tensor<1x2x8xf32>
// CHECK: %[[IDS:.*]] = fresco.concat %[[TI]], %[[II]] {axis = 0 : i64} : (tensor<1x2xf32>, tensor<2x2xf32>) -> tensor<3x2xf32>
// CHECK: %[[TAB:.*]] = fresco.rope_table %[[IDS]] {{.*}} -> tensor<3x2x2xf32>
// CHECK: %[[X:.*]] = fresco.concat %[[T]], %[[I]] {axis = 1 : i64} : (tensor<1x1x8xf32>, tensor<1x2x8xf32>) -> tensor<1x3x8xf32>
// CHECK: %[[Q:.*]] = fresco.rope %{{.*}}, %[[TAB]] {{.*}} -> tensor<1x3x8xf32>
// CHECK-COUNT-3: shard.all_to_all {{.*}} split_axis = 2 concat_axis = 1 : tensor<1x3x8xf32> -> tensor<1x6x4xf32>
// CHECK: %[[A:.*]] = fresco.attention {{.*}}num_heads = 1 : i64{{.*}} -> tensor<1x6x4xf32>
// CHECK: %[[B:.*]] = shard.all_to_all %[[A]] {{.*}} split_axis = 1 concat_axis = 2 : tensor<1x6x4xf32> -> tensor<1x3x8xf32>
// CHECK: %[[O:.*]] = fresco.slice %[[B]] {axis = 1 : i64, size = 2 : i64, start = 1 : i64} : (tensor<1x3x8xf32>) -> tensor<1x2x8xf32>
// CHECK: return %[[O]]
// Ring: the same blocks, attention over the ring.
// RING-LABEL: func.func @joint
// RING-SAME: -> (tensor<1x2x8xf32> {fresco.sharding = #fresco.sharding<[{}, {0}, {}]>})
// RING: fresco.concat {{.*}} {axis = 1 : i64} : (tensor<1x1x8xf32>, tensor<1x2x8xf32>) -> tensor<1x3x8xf32>
// RING: %[[A:.*]] = fresco.attention {{.*}}ring_axes = #fresco.axes<[0]>{{.*}} -> tensor<1x3x8xf32>
// RING: %[[O:.*]] = fresco.slice %[[A]] {axis = 1 : i64, size = 2 : i64, start = 1 : i64}
// RING: return %[[O]]
func.func @joint(%img: tensor<1x4x8xf32> {fresco.sequence_dim = 1 : i64}, %txt: tensor<1x2x8xf32> {fresco.sequence_dim = 1 : i64}, %iids: tensor<4x2xf32> {fresco.sequence_dim = 0 : i64}, %tids: tensor<2x2xf32> {fresco.sequence_dim = 0 : i64}) -> tensor<1x4x8xf32> {
  %ids = fresco.concat %tids, %iids {axis = 0 : i64} : (tensor<2x2xf32>, tensor<4x2xf32>) -> tensor<6x2xf32>
  %table = fresco.rope_table %ids {axes_dim = array<i64: 2, 2>, theta = 1.0e4 : f64} : (tensor<6x2xf32>) -> tensor<6x2x2xf32>
  %x = fresco.concat %txt, %img {axis = 1 : i64} : (tensor<1x2x8xf32>, tensor<1x4x8xf32>) -> tensor<1x6x8xf32>
  %w = fresco.param "q.weight" : tensor<8x8xf32>
  %l = fresco.linear %x, %w : (tensor<1x6x8xf32>, tensor<8x8xf32>) -> tensor<1x6x8xf32>
  %q = fresco.rope %l, %table {num_heads = 2 : i64} : (tensor<1x6x8xf32>, tensor<6x2x2xf32>) -> tensor<1x6x8xf32>
  %a = fresco.attention %q, %q, %x {num_heads = 2 : i64, scale = 0.5 : f64} : (tensor<1x6x8xf32>, tensor<1x6x8xf32>, tensor<1x6x8xf32>) -> tensor<1x6x8xf32>
  %o = fresco.slice %a {axis = 1 : i64, start = 2 : i64, size = 4 : i64} : (tensor<1x6x8xf32>) -> tensor<1x4x8xf32>
  return %o : tensor<1x4x8xf32>
}

// -----

// A table of ids every rank holds whole would be sliced by plain blocks of
// the joined sequence: not the rows of this rank's tokens. Refused.
func.func @replicated_table(%img: tensor<1x4x8xf32> {fresco.sequence_dim = 1 : i64}, %txt: tensor<1x2x8xf32> {fresco.sequence_dim = 1 : i64}, %ids: tensor<6x2xf32>) -> tensor<1x6x8xf32> {
  %table = fresco.rope_table %ids {axes_dim = array<i64: 2, 2>, theta = 1.0e4 : f64} : (tensor<6x2xf32>) -> tensor<6x2x2xf32>
  %x = fresco.concat %txt, %img {axis = 1 : i64} : (tensor<1x2x8xf32>, tensor<1x4x8xf32>) -> tensor<1x6x8xf32>
  // expected-error @+1 {{operand 1 holds the tokens of dimension 0 as [6], another operand as [2, 4]}}
  %q = fresco.rope %x, %table {num_heads = 2 : i64} : (tensor<1x6x8xf32>, tensor<6x2x2xf32>) -> tensor<1x6x8xf32>
  return %q : tensor<1x6x8xf32>
}

// -----

// A slice that cuts across the joined sequences has no local equivalent.
func.func @partial_slice(%img: tensor<1x4x8xf32> {fresco.sequence_dim = 1 : i64}, %txt: tensor<1x2x8xf32> {fresco.sequence_dim = 1 : i64}) -> tensor<1x4x8xf32> {
  %x = fresco.concat %txt, %img {axis = 1 : i64} : (tensor<1x2x8xf32>, tensor<1x4x8xf32>) -> tensor<1x6x8xf32>
  // expected-error @+1 {{elements [1, 5) are not whole sequences of the [2, 4] it concatenates}}
  %o = fresco.slice %x {axis = 1 : i64, start = 1 : i64, size = 4 : i64} : (tensor<1x6x8xf32>) -> tensor<1x4x8xf32>
  return %o : tensor<1x4x8xf32>
}

// -----

// Returning the joined sequence: a gather would interleave text and image.
func.func @joined_result(%img: tensor<1x4x8xf32> {fresco.sequence_dim = 1 : i64}, %txt: tensor<1x2x8xf32> {fresco.sequence_dim = 1 : i64}) -> tensor<1x6x8xf32> {
  %x = fresco.concat %txt, %img {axis = 1 : i64} : (tensor<1x2x8xf32>, tensor<1x4x8xf32>) -> tensor<1x6x8xf32>
  %a = fresco.attention %x, %x, %x {num_heads = 2 : i64, scale = 0.5 : f64} : (tensor<1x6x8xf32>, tensor<1x6x8xf32>, tensor<1x6x8xf32>) -> tensor<1x6x8xf32>
  // expected-error @+1 {{result 0 concatenates sequences split on their own; gathering it would interleave them}}
  return %a : tensor<1x6x8xf32>
}
