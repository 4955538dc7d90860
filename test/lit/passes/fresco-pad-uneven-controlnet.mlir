// RUN: fresco-opt %s --fresco-create-grid="parallel=ring=3" --fresco-pad-uneven | FileCheck %s --check-prefix=PAD
// RUN: fresco-opt %s --fresco-create-grid="parallel=ring=3" --fresco-pad-uneven --fresco-ring-parallel --fresco-propagate-shardings | FileCheck %s --check-prefix=RING
// RUN: fresco-opt %s --fresco-create-grid="parallel=ulysses=2" --fresco-pad-uneven | FileCheck %s --check-prefix=EVEN

// A UNet with a ControlNet: the latents (8 rows, 4 after the downsampler)
// and the control image (16 pixel rows, embedded to 8 by a stride-2
// convolution) both marked on their rows. ring=3 divides neither, so both
// are padded at the bottom alike: the latents to 12 rows, the control image
// to twice that, so that its embedding lands on the padded latent grid; its
// convolutions take `valid_rows` at their own resolution (16).
// PAD: func.func @unet{{.*}}fresco.padded_rows = array<i64: 8, 12>
// PAD-DAG: fresco.pad %arg1 {axis = 2 : i64, fresco.sequence_seed, size = 24 : i64, start = 0 : i64} : (tensor<2x3x16x12xf32>) -> tensor<2x3x24x12xf32>
// PAD-DAG: fresco.pad %arg0 {axis = 2 : i64, fresco.sequence_seed, size = 12 : i64, start = 0 : i64} : (tensor<2x4x8x6xf32>) -> tensor<2x4x12x6xf32>
// PAD: fresco.conv2d {{.*}}valid_rows = 8 : i64} : {{.*}} -> tensor<2x8x12x6xf32>
// PAD: fresco.conv2d {{.*}}valid_rows = 16 : i64} : {{.*}} -> tensor<2x8x24x12xf32>
// PAD: fresco.conv2d {{.*}}strides = array<i64: 2, 2>, valid_rows = 16 : i64} : {{.*}} -> tensor<2x8x12x6xf32>
// PAD: fresco.add {{.*}} -> tensor<2x8x12x6xf32>
// PAD: fresco.slice {{.*}}fresco.unpad, size = 8 : i64
// The split: each rank a band of both images (8 pixel rows, 4 latent
// rows), halos carrying each image's real rows.
// RING-DAG: shard.all_slice {{.*}} slice_axis = 2 : tensor<2x3x24x12xf32> -> tensor<2x3x8x12xf32>
// RING-DAG: shard.all_slice {{.*}} slice_axis = 2 : tensor<2x4x12x6xf32> -> tensor<2x4x4x6xf32>
// RING: shard.update_halo {{.*}} halo_sizes = [1, 1] {fresco.valid_rows = 16 : i64} : tensor<2x3x10x12xf32>
// RING: shard.update_halo {{.*}} halo_sizes = [1, 0] {fresco.valid_rows = 16 : i64} : tensor<2x8x9x12xf32>
// RING: shard.all_gather {{.*}} gather_axis = 2 : tensor<2x4x4x6xf32> -> tensor<2x4x12x6xf32>
// ulysses=2 divides every level: nothing is padded.
// EVEN-NOT: fresco.pad
// EVEN-NOT: padded_rows
func.func @unet(%x: tensor<2x4x8x6xf32> {fresco.sequence_dim = 2 : i64}, %c: tensor<2x3x16x12xf32> {fresco.sequence_dim = 2 : i64}) -> tensor<2x4x8x6xf32> attributes {fresco.component = "unet"} {
  %w0 = fresco.param "conv_in.weight" : tensor<8x4x3x3xf32>
  %0 = fresco.conv2d %x, %w0 {padding = array<i64: 1, 1>} : (tensor<2x4x8x6xf32>, tensor<8x4x3x3xf32>) -> tensor<2x8x8x6xf32>
  %we = fresco.param "controlnet_cond_embedding.conv_in.weight" {component = "controlnet"} : tensor<8x3x3x3xf32>
  %1 = fresco.conv2d %c, %we {padding = array<i64: 1, 1>} : (tensor<2x3x16x12xf32>, tensor<8x3x3x3xf32>) -> tensor<2x8x16x12xf32>
  %2 = fresco.silu %1 : (tensor<2x8x16x12xf32>) -> tensor<2x8x16x12xf32>
  %wh = fresco.param "controlnet_cond_embedding.blocks.1.weight" {component = "controlnet"} : tensor<8x8x3x3xf32>
  %3 = fresco.conv2d %2, %wh {padding = array<i64: 1, 1>, strides = array<i64: 2, 2>} : (tensor<2x8x16x12xf32>, tensor<8x8x3x3xf32>) -> tensor<2x8x8x6xf32>
  %4 = fresco.add %0, %3 : (tensor<2x8x8x6xf32>, tensor<2x8x8x6xf32>) -> tensor<2x8x8x6xf32>
  %wd = fresco.param "down.weight" : tensor<8x8x3x3xf32>
  %5 = fresco.conv2d %4, %wd {padding = array<i64: 1, 1>, strides = array<i64: 2, 2>} : (tensor<2x8x8x6xf32>, tensor<8x8x3x3xf32>) -> tensor<2x8x4x3xf32>
  %6 = fresco.upsample_nearest %5 {scale = array<i64: 2, 2>} : (tensor<2x8x4x3xf32>) -> tensor<2x8x8x6xf32>
  %wo = fresco.param "conv_out.weight" : tensor<4x8x3x3xf32>
  %7 = fresco.conv2d %6, %wo {padding = array<i64: 1, 1>} : (tensor<2x8x8x6xf32>, tensor<4x8x3x3xf32>) -> tensor<2x4x8x6xf32>
  return %7 : tensor<2x4x8x6xf32>
}
