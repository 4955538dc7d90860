// RUN: fresco-opt %s --fresco-create-grid="parallel=ring=2" --fresco-pad-uneven | FileCheck %s --check-prefix=PAD
// RUN: fresco-opt %s --fresco-create-grid="parallel=ring=2" --fresco-pad-uneven --fresco-ring-parallel --fresco-propagate-shardings | FileCheck %s --check-prefix=RING
// RUN: fresco-opt %s --fresco-create-grid="parallel=ulysses=2" --fresco-pad-uneven --fresco-ulysses-parallel --fresco-propagate-shardings | FileCheck %s --check-prefix=ULY
// RUN: fresco-opt %s --fresco-create-grid="parallel=ulysses=2,ring=2" --fresco-pad-uneven --fresco-ulysses-parallel --fresco-ring-parallel --fresco-propagate-shardings | FileCheck %s --check-prefix=USP

// Joined sequences padded on their own (3 text and 5 image tokens): each
// marked argument gets zeros up to a multiple of the sequence degree, the
// join keeps the padding of each (text 4, image 6 at degree 2), the slice
// of the image tokens takes their padded extent, and attention masks the
// padding inside the joined keys: 5 segments of 2 keys, [text 0-1, text
// 2-3 (one real), image 0-1, 2-3, 4-5 (one real)].
// PAD: %[[T:.*]] = fresco.pad %arg1 {axis = 1 : i64, fresco.sequence_seed, size = 4 : i64, start = 0 : i64} : (tensor<1x3x8xf32>) -> tensor<1x4x8xf32>
// PAD: %[[I:.*]] = fresco.pad %arg0 {axis = 1 : i64, fresco.sequence_seed, size = 6 : i64, start = 0 : i64} : (tensor<1x5x8xf32>) -> tensor<1x6x8xf32>
// PAD: fresco.concat {{.*}} : (tensor<4x2xf32>, tensor<6x2xf32>) -> tensor<10x2xf32>
// PAD: fresco.concat %[[T]], %[[I]] {axis = 1 : i64} : (tensor<1x4x8xf32>, tensor<1x6x8xf32>) -> tensor<1x10x8xf32>
// PAD: %[[A:.*]] = fresco.attention {{.*}}key_valid = array<i64: 2, 1, 2, 2, 1>{{.*}} -> tensor<1x10x8xf32>
// PAD: %[[S:.*]] = fresco.slice %[[A]] {axis = 1 : i64, size = 6 : i64, start = 4 : i64}
// PAD: %[[U:.*]] = fresco.slice %[[S]] {axis = 1 : i64, fresco.unpad, size = 5 : i64, start = 0 : i64}
// PAD: return %[[U]]
// Ring: rank 0's block is text 0-1 and image 0-2 (all real), rank 1's text
// 2-3 and image 3-5 (text 3 and image 5 padding): a row of single-key
// segments per ring member.
// RING: fresco.concat {{.*}} : (tensor<1x2x8xf32>, tensor<1x3x8xf32>) -> tensor<1x5x8xf32>
// RING: %[[A:.*]] = fresco.attention {{.*}}key_valid = array<i64: 1, 1, 1, 1, 1, 1, 0, 1, 1, 0>{{.*}}ring_axes
// RING: %[[S:.*]] = fresco.slice %[[A]] {axis = 1 : i64, size = 3 : i64, start = 2 : i64}
// RING: %[[G:.*]] = shard.all_gather %[[S]] {{.*}} gather_axis = 1 : tensor<1x3x8xf32> -> tensor<1x6x8xf32>
// RING: fresco.slice %[[G]] {axis = 1 : i64, fresco.unpad, size = 5 : i64, start = 0 : i64}
// Ulysses: after the all_to_all the keys are rank 0's text and image
// blocks, then rank 1's.
// ULY: fresco.attention {{.*}}key_valid = array<i64: 1, 1, 1, 1, 1, 1, 0, 1, 1, 0>, num_heads = 1 : i64
// Both (4 ranks; image padded to 8): ring member 0 holds, after Ulysses'
// all_to_all, text 0, image 0-1, text 2, image 4-5 (image 5 padding);
// member 1 text 1, image 2-3, text 3, image 6-7 (the last three padding).
// USP: fresco.attention {{.*}}key_valid = array<i64: 5, 3>, num_heads = 1 : i64, ring_axes = #fresco.axes<[1]>
func.func @joint(%img: tensor<1x5x8xf32> {fresco.sequence_dim = 1 : i64}, %txt: tensor<1x3x8xf32> {fresco.sequence_dim = 1 : i64}, %iids: tensor<5x2xf32> {fresco.sequence_dim = 0 : i64}, %tids: tensor<3x2xf32> {fresco.sequence_dim = 0 : i64}) -> tensor<1x5x8xf32> {
  %ids = fresco.concat %tids, %iids {axis = 0 : i64} : (tensor<3x2xf32>, tensor<5x2xf32>) -> tensor<8x2xf32>
  %table = fresco.rope_table %ids {axes_dim = array<i64: 2, 2>, theta = 1.0e4 : f64} : (tensor<8x2xf32>) -> tensor<8x2x2xf32>
  %x = fresco.concat %txt, %img {axis = 1 : i64} : (tensor<1x3x8xf32>, tensor<1x5x8xf32>) -> tensor<1x8x8xf32>
  %w = fresco.param "q.weight" : tensor<8x8xf32>
  %l = fresco.linear %x, %w : (tensor<1x8x8xf32>, tensor<8x8xf32>) -> tensor<1x8x8xf32>
  %q = fresco.rope %l, %table {num_heads = 2 : i64} : (tensor<1x8x8xf32>, tensor<8x2x2xf32>) -> tensor<1x8x8xf32>
  %a = fresco.attention %q, %q, %x {num_heads = 2 : i64, scale = 0.5 : f64} : (tensor<1x8x8xf32>, tensor<1x8x8xf32>, tensor<1x8x8xf32>) -> tensor<1x8x8xf32>
  %o = fresco.slice %a {axis = 1 : i64, start = 3 : i64, size = 5 : i64} : (tensor<1x8x8xf32>) -> tensor<1x5x8xf32>
  return %o : tensor<1x5x8xf32>
}
