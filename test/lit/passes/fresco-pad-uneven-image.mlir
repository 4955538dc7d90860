// RUN: fresco-opt %s --fresco-create-grid="parallel=ulysses=2" --fresco-pad-uneven | FileCheck %s --check-prefix=PAD2
// RUN: fresco-opt %s --fresco-create-grid="parallel=ring=4" --fresco-pad-uneven | FileCheck %s --check-prefix=PAD4
// RUN: fresco-opt %s --fresco-create-grid="parallel=ring=4" --fresco-pad-uneven --fresco-ring-parallel --fresco-propagate-shardings | FileCheck %s --check-prefix=RING

// SD3's layout: an image marked on its rows (3x3 patches) joined, as
// [image; context], with marked context tokens (3). The degree does not
// divide the patch rows, so the image tokens are padded after the patch
// embedding (padded latent rows would be zeros inside patches), the
// context on its own, and the padding is masked inside the joined keys.
// ulysses=2: image 9 -> 10, context 3 -> 4; keys in segments of 2 (image
// 8-9 and context 2-3 one real each). 10 tokens are no whole patch rows:
// unpadded before the unpatchify's reshape.
// PAD2: %[[C:.*]] = fresco.pad %arg1 {axis = 1 : i64, fresco.sequence_seed, size = 4 : i64, start = 0 : i64} : (tensor<1x3x8xf32>) -> tensor<1x4x8xf32>
// PAD2: fresco.conv2d %arg0, {{.*}} -> tensor<1x8x3x3xf32>
// PAD2: %[[T:.*]] = fresco.transpose
// PAD2: %[[I:.*]] = fresco.pad %[[T]] {axis = 1 : i64, fresco.sequence_seed, size = 10 : i64, start = 0 : i64} : (tensor<1x9x8xf32>) -> tensor<1x10x8xf32>
// PAD2: fresco.concat %[[I]], %[[C]] {axis = 1 : i64} : (tensor<1x10x8xf32>, tensor<1x4x8xf32>) -> tensor<1x14x8xf32>
// PAD2: fresco.attention {{.*}}key_valid = array<i64: 2, 2, 2, 2, 1, 2, 1>
// PAD2: %[[S:.*]] = fresco.slice {{.*}} {axis = 1 : i64, size = 10 : i64, start = 0 : i64}
// PAD2: %[[U:.*]] = fresco.slice %[[S]] {axis = 1 : i64, fresco.unpad, size = 9 : i64, start = 0 : i64}
// PAD2: fresco.reshape %[[U]] : tensor<1x9x8xf32> -> tensor<1x3x3x8xf32>
// ring=4: image 9 -> 12 = 4 padded patch rows of 3, which the reshape
// carries (one run of padding folded into a larger dimension is plain
// padding there), sliced off at the return.
// PAD4: fresco.pad {{.*}}size = 12 : i64{{.*}} : (tensor<1x9x8xf32>) -> tensor<1x12x8xf32>
// PAD4: fresco.attention {{.*}}key_valid = array<i64: 4, 4, 1, 3>
// PAD4: %[[R:.*]] = fresco.reshape {{.*}} : tensor<1x12x8xf32> -> tensor<1x4x3x8xf32>
// PAD4: fresco.slice %[[R]] {axis = 1 : i64, fresco.unpad, size = 3 : i64, start = 0 : i64} : (tensor<1x4x3x8xf32>) -> tensor<1x3x3x8xf32>
// The split seeds the padded image tokens: a rank holds 3 image and 1
// context token, the last rank only padding.
// RING: %[[CS:.*]] = shard.all_slice {{.*}} slice_axis = 1 : tensor<1x4x8xf32> -> tensor<1x1x8xf32>
// RING: %[[IS:.*]] = shard.all_slice {{.*}} slice_axis = 1 : tensor<1x12x8xf32> -> tensor<1x3x8xf32>
// RING: fresco.concat %[[IS]], %[[CS]] {axis = 1 : i64} : (tensor<1x3x8xf32>, tensor<1x1x8xf32>) -> tensor<1x4x8xf32>
// RING: fresco.attention {{.*}}key_valid = array<i64: 4, 4, 4, 0>{{.*}}ring_axes
// RING: shard.all_gather {{.*}} gather_axis = 1 : tensor<1x1x3x8xf32> -> tensor<1x4x3x8xf32>
func.func @joint(%x: tensor<1x4x6x6xf32> {fresco.sequence_dim = 2 : i64}, %ctx: tensor<1x3x8xf32> {fresco.sequence_dim = 1 : i64}) -> tensor<1x3x3x8xf32> {
  %w = fresco.param "proj.weight" : tensor<8x4x2x2xf32>
  %b = fresco.param "proj.bias" : tensor<8xf32>
  %c = fresco.conv2d %x, %w, %b {strides = array<i64: 2, 2>} : (tensor<1x4x6x6xf32>, tensor<8x4x2x2xf32>, tensor<8xf32>) -> tensor<1x8x3x3xf32>
  %f = fresco.reshape %c : tensor<1x8x3x3xf32> -> tensor<1x8x9xf32>
  %img = fresco.transpose %f {permutation = array<i64: 0, 2, 1>} : (tensor<1x8x9xf32>) -> tensor<1x9x8xf32>
  %j = fresco.concat %img, %ctx {axis = 1 : i64} : (tensor<1x9x8xf32>, tensor<1x3x8xf32>) -> tensor<1x12x8xf32>
  %a = fresco.attention %j, %j, %j {num_heads = 2 : i64, scale = 0.5 : f64} : (tensor<1x12x8xf32>, tensor<1x12x8xf32>, tensor<1x12x8xf32>) -> tensor<1x12x8xf32>
  %o = fresco.slice %a {axis = 1 : i64, start = 0 : i64, size = 9 : i64} : (tensor<1x12x8xf32>) -> tensor<1x9x8xf32>
  %r = fresco.reshape %o : tensor<1x9x8xf32> -> tensor<1x3x3x8xf32>
  return %r : tensor<1x3x3x8xf32>
}
