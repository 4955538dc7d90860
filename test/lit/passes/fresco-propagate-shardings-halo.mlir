// RUN: fresco-opt %s --fresco-create-grid="parallel=ulysses=2" --fresco-ulysses-parallel --fresco-propagate-shardings -split-input-file -verify-diagnostics | FileCheck %s
// RUN: fresco-opt %s --fresco-create-grid="parallel=cfg=2,ring=2" --fresco-cfg-parallel --fresco-ring-parallel --fresco-propagate-shardings -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=CFG
// RUN: fresco-opt %s --fresco-create-grid="parallel=ulysses=2" --fresco-ulysses-parallel --fresco-propagate-shardings --fresco-specialize-ranks=ranks=2 -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=RANKS
// RUN: not fresco-opt %s --fresco-create-grid="parallel=ulysses=2,ring=2" --fresco-ulysses-parallel --fresco-ring-parallel --fresco-propagate-shardings -split-input-file 2>&1 | FileCheck %s --check-prefix=TWICE

// A UNet's convolutions and group norms over rows split across ranks. Each
// 3x3 convolution (padding 1) reads one row of each neighbour: the band is
// padded by a row above and below and a halo exchange fills them; the
// stride-2 downsampler needs only the row above (its windows start on even
// rows); a 1x1 convolution and the upsampling keep the split as they are;
// the group norms keep it, their statistics spanning the bands.
// CHECK-LABEL: func.func @unet
// CHECK: %[[X:.*]] = shard.all_slice %arg0 on @grid grid_axes = [0] slice_axis = 2 : tensor<2x4x8x6xf32> -> tensor<2x4x4x6xf32>
// CHECK: %[[P:.*]] = fresco.pad %[[X]] {axis = 2 : i64, size = 6 : i64, start = 1 : i64} : (tensor<2x4x4x6xf32>) -> tensor<2x4x6x6xf32>
// CHECK: %[[H:.*]] = shard.update_halo %[[P]] on @grid split_axes = {{\[}}[], [], [0], []] halo_sizes = [1, 1] : tensor<2x4x6x6xf32>
// CHECK: %[[C:.*]] = fresco.conv2d %[[H]], {{.*}} {padding = array<i64: 0, 1>} : {{.*}} -> tensor<2x8x4x6xf32>
// CHECK: fresco.group_norm %[[C]], {{.*}} stats_axes = #fresco.axes<[0]>} : {{.*}} -> tensor<2x8x4x6xf32>
// CHECK: %[[DP:.*]] = fresco.pad {{.*}} {axis = 2 : i64, size = 5 : i64, start = 1 : i64} : (tensor<2x8x4x6xf32>) -> tensor<2x8x5x6xf32>
// CHECK: %[[DH:.*]] = shard.update_halo %[[DP]] on @grid split_axes = {{\[}}[], [], [0], []] halo_sizes = [1, 0] : tensor<2x8x5x6xf32>
// CHECK: fresco.conv2d %[[DH]], {{.*}} {padding = array<i64: 0, 1>, strides = array<i64: 2, 2>} : {{.*}} -> tensor<2x8x2x3xf32>
// CHECK: fresco.conv2d {{.*}} : (tensor<2x8x2x3xf32>, tensor<8x8x1x1xf32>, tensor<8xf32>) -> tensor<2x8x2x3xf32>
// CHECK: fresco.upsample_nearest {{.*}} -> tensor<2x8x4x6xf32>
// CHECK: fresco.concat {{.*}} -> tensor<2x16x4x6xf32>
// CHECK: shard.update_halo {{.*}} halo_sizes = [1, 1] : tensor<2x16x6x6xf32>
// CHECK: fresco.conv2d {{.*}} -> tensor<2x4x4x6xf32>
// The batch split (cfg) goes with the rows: each rank holds a band of one
// half of the batch, and its halos come from the ranks of its ring.
// CFG-LABEL: func.func @unet
// CFG: shard.update_halo {{.*}} on @grid split_axes = {{\[}}[], [], [1], []] halo_sizes = [1, 1] : tensor<1x4x6x6xf32>
// CFG: fresco.conv2d {{.*}} -> tensor<1x8x4x6xf32>
// CFG: fresco.group_norm {{.*}} stats_axes = #fresco.axes<[1]>} : {{.*}} -> tensor<1x8x4x6xf32>
// A second sequence axis would cut the halo bands: refused.
// TWICE: error: ring=2 splits rows that an earlier strategy split with halos; split a UNet's rows over one sequence axis (ulysses or ring)
// Each rank's halo exchange and group norm get the ranks of the split.
// RANKS: module @rank0
// RANKS: shard.update_halo {{.*}} {fresco.members = array<i32: 0, 1>}
// RANKS: fresco.group_norm {{.*}} fresco.members = array<i32: 0, 1>
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
  %5 = fresco.upsample_nearest %4 : (tensor<2x8x4x3xf32>) -> tensor<2x8x8x6xf32>
  %6 = fresco.concat %5, %0 {axis = 1 : i64} : (tensor<2x8x8x6xf32>, tensor<2x8x8x6xf32>) -> tensor<2x16x8x6xf32>
  %wo = fresco.param "conv_out.weight" : tensor<4x16x3x3xf32>
  %7 = fresco.conv2d %6, %wo {padding = array<i64: 1, 1>} : (tensor<2x16x8x6xf32>, tensor<4x16x3x3xf32>) -> tensor<2x4x8x6xf32>
  return %7 : tensor<2x4x8x6xf32>
}

// -----

// A convolution whose output rows do not map onto its input's (unpadded
// 3x3: 8 rows in, 6 out) cannot split with halos.
func.func @valid_conv(%x: tensor<2x4x8x6xf32>) -> tensor<2x4x6x4xf32> attributes {fresco.component = "unet"} {
  %w = fresco.param "w" : tensor<4x4x3x3xf32>
  // expected-error @+1 {{splits the rows of a convolution (kernel 3, stride 1, padding 0, 8 rows in, 6 out) whose output rows do not map onto its input's}}
  %0 = fresco.conv2d %x, %w : (tensor<2x4x8x6xf32>, tensor<4x4x3x3xf32>) -> tensor<2x4x6x4xf32>
  return %0 : tensor<2x4x6x4xf32>
}

// -----

// Rows that do not divide at a lower resolution: refused there.
func.func @uneven(%x: tensor<2x4x6x6xf32>) -> tensor<2x4x3x3xf32> attributes {fresco.component = "unet"} {
  %w = fresco.param "w" : tensor<4x4x3x3xf32>
  // expected-error @+1 {{cannot split the 3 output rows of this convolution over 2 ranks}}
  %0 = fresco.conv2d %x, %w {padding = array<i64: 1, 1>, strides = array<i64: 2, 2>} : (tensor<2x4x6x6xf32>, tensor<4x4x3x3xf32>) -> tensor<2x4x3x3xf32>
  return %0 : tensor<2x4x3x3xf32>
}

// -----

// A 5x5 convolution needs two rows of each neighbour: a band of one row
// is too thin.
func.func @thin(%x: tensor<2x4x2x6xf32>) -> tensor<2x4x2x6xf32> attributes {fresco.component = "unet"} {
  %w = fresco.param "w" : tensor<4x4x5x5xf32>
  // expected-error @+1 {{leaves each rank 1 rows, fewer than the convolution's halo (2)}}
  %0 = fresco.conv2d %x, %w {padding = array<i64: 2, 2>} : (tensor<2x4x2x6xf32>, tensor<4x4x5x5xf32>) -> tensor<2x4x2x6xf32>
  return %0 : tensor<2x4x2x6xf32>
}

// -----

// A 1x1 window with stride 2 reads one row of every two: its stride is
// larger than its kernel, which the halo split does not handle.
func.func @strided_point(%x: tensor<2x4x8x6xf32>) -> tensor<2x4x4x3xf32> attributes {fresco.component = "unet"} {
  %w = fresco.param "w" : tensor<4x4x1x1xf32>
  // expected-error @+1 {{splits the rows of a convolution whose stride (2) exceeds its kernel (1) less its padding: not supported}}
  %0 = fresco.conv2d %x, %w {strides = array<i64: 2, 2>} : (tensor<2x4x8x6xf32>, tensor<4x4x1x1xf32>) -> tensor<2x4x4x3xf32>
  return %0 : tensor<2x4x4x3xf32>
}
