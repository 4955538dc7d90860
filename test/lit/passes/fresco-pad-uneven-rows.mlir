// RUN: fresco-opt %s --fresco-create-grid="parallel=ring=3" --fresco-pad-uneven -split-input-file | FileCheck %s --check-prefix=PAD
// RUN: fresco-opt %s --fresco-create-grid="parallel=ring=3" --fresco-pad-uneven --fresco-ring-parallel --fresco-propagate-shardings -split-input-file | FileCheck %s --check-prefix=RING
// RUN: fresco-opt %s --fresco-create-grid="parallel=ulysses=2" --fresco-pad-uneven -split-input-file | FileCheck %s --check-prefix=EVEN

// A UNet's latent rows (no patch embedding to pad tokens after): 8 rows,
// 4 after the stride-2 downsampler. ring=3 divides neither, so the image
// is padded at the bottom to 12 rows (the smallest multiple of 3 x the
// halving factor 2), 6 at the lower level: every level splits evenly. Convolutions that read across rows take `valid_rows` (their
// padding rows read as zeros), group norms leave them out of their
// statistics, attention masks the padded tokens, the return slices them
// off; a 1x1 convolution and the upsampler carry the padding as it is.
// PAD: func.func @unet{{.*}}fresco.padded_rows = array<i64: 8, 12>
// PAD: %[[P:.*]] = fresco.pad %arg0 {axis = 2 : i64, fresco.sequence_seed, size = 12 : i64, start = 0 : i64} : (tensor<2x4x8x6xf32>) -> tensor<2x4x12x6xf32>
// PAD: %[[C:.*]] = fresco.conv2d %[[P]], {{.*}}valid_rows = 8 : i64} : {{.*}} -> tensor<2x8x12x6xf32>
// PAD: fresco.group_norm %[[C]], {{.*}}valid_rows = 8 : i64} : {{.*}} -> tensor<2x8x12x6xf32>
// PAD: fresco.conv2d {{.*}}strides = array<i64: 2, 2>, valid_rows = 8 : i64} : {{.*}} -> tensor<2x8x6x3xf32>
// PAD: fresco.conv2d {{.*}} : (tensor<2x8x6x3xf32>, tensor<8x8x1x1xf32>, tensor<8xf32>) -> tensor<2x8x6x3xf32>
// PAD: fresco.attention {{.*}}key_valid = array<i64: 12>{{.*}} -> tensor<2x18x8xf32>
// PAD: fresco.upsample_nearest {{.*}} -> tensor<2x8x12x6xf32>
// PAD: %[[O:.*]] = fresco.conv2d {{.*}}valid_rows = 8 : i64} : {{.*}} -> tensor<2x4x12x6xf32>
// PAD: %[[U:.*]] = fresco.slice %[[O]] {axis = 2 : i64, fresco.unpad, size = 8 : i64, start = 0 : i64}
// PAD: return %[[U]] : tensor<2x4x8x6xf32>
// The split: bands of 4 rows (2 at the lower level), the last rank's all
// padding; the halo exchanges carry the real row count (they zero the
// padding rows) and the convolutions lose it, the group norm keeps it with
// its statistics axes, each ring member's tokens are masked (6 real, 6, 0).
// RING: shard.all_slice {{.*}} slice_axis = 2 : tensor<2x4x12x6xf32> -> tensor<2x4x4x6xf32>
// RING: shard.update_halo {{.*}} halo_sizes = [1, 1] {fresco.valid_rows = 8 : i64} : tensor<2x4x6x6xf32>
// RING: fresco.conv2d {{.*}}{padding = array<i64: 0, 1>} : (tensor<2x4x6x6xf32>
// RING: fresco.group_norm {{.*}}stats_axes = #fresco.axes<[0]>, valid_rows = 8 : i64} : {{.*}} -> tensor<2x8x4x6xf32>
// RING: shard.update_halo {{.*}} halo_sizes = [1, 0] {fresco.valid_rows = 8 : i64} : tensor<2x8x5x6xf32>
// RING: fresco.conv2d {{.*}}{padding = array<i64: 0, 1>, strides = array<i64: 2, 2>} : {{.*}} -> tensor<2x8x2x3xf32>
// RING: fresco.attention {{.*}}key_valid = array<i64: 6, 6, 0>{{.*}}ring_axes
// RING: shard.update_halo {{.*}} halo_sizes = [1, 1] {fresco.valid_rows = 8 : i64} : tensor<2x16x6x6xf32>
// RING: shard.all_gather {{.*}} gather_axis = 2 : tensor<2x4x4x6xf32> -> tensor<2x4x12x6xf32>
// RING: fresco.slice {{.*}}fresco.unpad, size = 8 : i64
// ulysses=2 divides both levels: nothing is padded.
// EVEN-NOT: fresco.pad
// EVEN-NOT: valid_rows
// EVEN-NOT: padded_rows
func.func @unet(%x: tensor<2x4x8x6xf32>) -> tensor<2x4x8x6xf32> attributes {fresco.component = "unet"} {
  %w0 = fresco.param "conv_in.weight" : tensor<8x4x3x3xf32>
  %b0 = fresco.param "conv_in.bias" : tensor<8xf32>
  %0 = fresco.conv2d %x, %w0, %b0 {padding = array<i64: 1, 1>} : (tensor<2x4x8x6xf32>, tensor<8x4x3x3xf32>, tensor<8xf32>) -> tensor<2x8x8x6xf32>
  %g = fresco.param "norm.weight" : tensor<8xf32>
  %gb = fresco.param "norm.bias" : tensor<8xf32>
  %1 = fresco.group_norm %0, %g, %gb {num_groups = 4 : i64, epsilon = 1.0e-5 : f64} : (tensor<2x8x8x6xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x8x8x6xf32>
  %2 = fresco.silu %1 : (tensor<2x8x8x6xf32>) -> tensor<2x8x8x6xf32>
  %wd = fresco.param "down.weight" : tensor<8x8x3x3xf32>
  %3 = fresco.conv2d %2, %wd {padding = array<i64: 1, 1>, strides = array<i64: 2, 2>} : (tensor<2x8x8x6xf32>, tensor<8x8x3x3xf32>) -> tensor<2x8x4x3xf32>
  %ws = fresco.param "shortcut.weight" : tensor<8x8x1x1xf32>
  %bs = fresco.param "shortcut.bias" : tensor<8xf32>
  %4 = fresco.conv2d %3, %ws, %bs : (tensor<2x8x4x3xf32>, tensor<8x8x1x1xf32>, tensor<8xf32>) -> tensor<2x8x4x3xf32>
  %r = fresco.reshape %4 : tensor<2x8x4x3xf32> -> tensor<2x8x12xf32>
  %t = fresco.transpose %r {permutation = array<i64: 0, 2, 1>} : (tensor<2x8x12xf32>) -> tensor<2x12x8xf32>
  %a = fresco.attention %t, %t, %t {num_heads = 2 : i64, scale = 0.5 : f64} : (tensor<2x12x8xf32>, tensor<2x12x8xf32>, tensor<2x12x8xf32>) -> tensor<2x12x8xf32>
  %at = fresco.transpose %a {permutation = array<i64: 0, 2, 1>} : (tensor<2x12x8xf32>) -> tensor<2x8x12xf32>
  %ar = fresco.reshape %at : tensor<2x8x12xf32> -> tensor<2x8x4x3xf32>
  %5 = fresco.upsample_nearest %ar : (tensor<2x8x4x3xf32>) -> tensor<2x8x8x6xf32>
  %6 = fresco.concat %5, %0 {axis = 1 : i64} : (tensor<2x8x8x6xf32>, tensor<2x8x8x6xf32>) -> tensor<2x16x8x6xf32>
  %wo = fresco.param "conv_out.weight" : tensor<4x16x3x3xf32>
  %7 = fresco.conv2d %6, %wo {padding = array<i64: 1, 1>} : (tensor<2x16x8x6xf32>, tensor<4x16x3x3xf32>) -> tensor<2x4x8x6xf32>
  return %7 : tensor<2x4x8x6xf32>
}

