// RUN: fresco-opt %s | FileCheck %s
// Round trip, then round trip the generic form.
// RUN: fresco-opt %s --mlir-print-op-generic | fresco-opt | FileCheck %s

// CHECK-LABEL: func.func @params
func.func @params() -> tensor<4x8xf32> {
  // CHECK: fresco.param "transformer_blocks.0.attn1.to_q.weight" : tensor<4x8xf32>
  %w = fresco.param "transformer_blocks.0.attn1.to_q.weight" : tensor<4x8xf32>
  return %w : tensor<4x8xf32>
}

// Another component's checkpoint (a ControlNet's in its UNet's function):
// kept apart from the function's parameter of the same name by CSE.
// CHECK-LABEL: func.func @component_params
// CHECK: fresco.param "conv_in.weight" : tensor<4x8xf32>
// CHECK: fresco.param "conv_in.weight" {component = "controlnet"} : tensor<4x8xf32>
func.func @component_params() -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %a = fresco.param "conv_in.weight" : tensor<4x8xf32>
  %b = fresco.param "conv_in.weight" {component = "controlnet"} : tensor<4x8xf32>
  return %a, %b : tensor<4x8xf32>, tensor<4x8xf32>
}

// CHECK-LABEL: func.func @linear
func.func @linear(%x: tensor<2x3x8xf32>, %w: tensor<4x8xf32>, %b: tensor<4xf32>) -> tensor<2x3x4xf32> {
  // CHECK: fresco.linear %{{.*}}, %{{.*}}, %{{.*}} : (tensor<2x3x8xf32>, tensor<4x8xf32>, tensor<4xf32>) -> tensor<2x3x4xf32>
  %0 = fresco.linear %x, %w, %b : (tensor<2x3x8xf32>, tensor<4x8xf32>, tensor<4xf32>) -> tensor<2x3x4xf32>
  // CHECK: fresco.linear %{{.*}}, %{{.*}} : (tensor<2x3x4xf32>, tensor<4x4xf32>) -> tensor<2x3x4xf32>
  %w2 = fresco.param "w2" : tensor<4x4xf32>
  %1 = fresco.linear %0, %w2 : (tensor<2x3x4xf32>, tensor<4x4xf32>) -> tensor<2x3x4xf32>
  return %1 : tensor<2x3x4xf32>
}

// The residual prints after the bias, before the attributes.
// CHECK-LABEL: func.func @linear_residual
func.func @linear_residual(%x: tensor<2x8xf32>, %w: tensor<4x8xf32>, %b: tensor<4xf32>, %r: tensor<2x4xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>) {
  // CHECK: fresco.linear %{{.*}}, %{{.*}}, %{{.*}} residual %{{.*}} : (tensor<2x8xf32>, tensor<4x8xf32>, tensor<4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  %0 = fresco.linear %x, %w, %b residual %r : (tensor<2x8xf32>, tensor<4x8xf32>, tensor<4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  // CHECK: fresco.linear %{{.*}}, %{{.*}} residual %{{.*}} : (tensor<2x8xf32>, tensor<4x8xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  %1 = fresco.linear %x, %w residual %r : (tensor<2x8xf32>, tensor<4x8xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  return %0, %1 : tensor<2x4xf32>, tensor<2x4xf32>
}

// The gate prints after the bias and before the residual; per sample or one
// for all, with or without a residual.
// CHECK-LABEL: func.func @linear_gate
func.func @linear_gate(%x: tensor<2x3x8xf32>, %w: tensor<4x8xf32>, %b: tensor<4xf32>, %g: tensor<2x1x4xf32>, %g1: tensor<1x1x4xf32>, %r: tensor<2x3x4xf32>) -> (tensor<2x3x4xf32>, tensor<2x3x4xf32>) {
  // CHECK: fresco.linear %{{.*}}, %{{.*}}, %{{.*}} gate %{{.*}} residual %{{.*}} : (tensor<2x3x8xf32>, tensor<4x8xf32>, tensor<4xf32>, tensor<2x1x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  %0 = fresco.linear %x, %w, %b gate %g residual %r : (tensor<2x3x8xf32>, tensor<4x8xf32>, tensor<4xf32>, tensor<2x1x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  // CHECK: fresco.linear %{{.*}}, %{{.*}} gate %{{.*}} : (tensor<2x3x8xf32>, tensor<4x8xf32>, tensor<1x1x4xf32>) -> tensor<2x3x4xf32>
  %1 = fresco.linear %x, %w gate %g1 : (tensor<2x3x8xf32>, tensor<4x8xf32>, tensor<1x1x4xf32>) -> tensor<2x3x4xf32>
  return %0, %1 : tensor<2x3x4xf32>, tensor<2x3x4xf32>
}

// A fused activation (GEMM epilogue), with and without bias.
// CHECK-LABEL: func.func @linear_activation
func.func @linear_activation(%x: tensor<2x8xf32>, %w: tensor<4x8xf32>, %b: tensor<4xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {
  // CHECK: fresco.linear %{{.*}}, %{{.*}}, %{{.*}} {activation = "gelu_tanh"} : (tensor<2x8xf32>, tensor<4x8xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %0 = fresco.linear %x, %w, %b {activation = "gelu_tanh"} : (tensor<2x8xf32>, tensor<4x8xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  // CHECK: fresco.linear %{{.*}}, %{{.*}} {activation = "gelu"} : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  %1 = fresco.linear %x, %w {activation = "gelu"} : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  // CHECK: fresco.linear %{{.*}}, %{{.*}}, %{{.*}} {activation = "silu"} : (tensor<2x8xf32>, tensor<4x8xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %2 = fresco.linear %x, %w, %b {activation = "silu"} : (tensor<2x8xf32>, tensor<4x8xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  return %0, %1, %2 : tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>
}

// CHECK-LABEL: func.func @conv2d
func.func @conv2d(%x: tensor<1x4x8x8xf32>, %w: tensor<16x4x2x2xf32>, %b: tensor<16xf32>) -> tensor<1x16x4x4xf32> {
  // CHECK: fresco.conv2d %{{.*}}, %{{.*}}, %{{.*}} {strides = array<i64: 2, 2>}
  %0 = fresco.conv2d %x, %w, %b {strides = array<i64: 2, 2>} : (tensor<1x4x8x8xf32>, tensor<16x4x2x2xf32>, tensor<16xf32>) -> tensor<1x16x4x4xf32>
  return %0 : tensor<1x16x4x4xf32>
}

// CHECK-LABEL: func.func @conv2d_padded
func.func @conv2d_padded(%x: tensor<1x4x8x8xf32>, %w: tensor<2x4x3x3xf32>) -> tensor<1x2x8x8xf32> {
  // CHECK: fresco.conv2d %{{.*}}, %{{.*}} {padding = array<i64: 1, 1>}
  %0 = fresco.conv2d %x, %w {padding = array<i64: 1, 1>} : (tensor<1x4x8x8xf32>, tensor<2x4x3x3xf32>) -> tensor<1x2x8x8xf32>
  return %0 : tensor<1x2x8x8xf32>
}

// CHECK-LABEL: func.func @norms
func.func @norms(%x: tensor<2x3x8xf32>, %g: tensor<8xf32>, %s: tensor<2x8xf32>) -> tensor<2x3x8xf32> {
  // CHECK: fresco.layer_norm %{{.*}} {epsilon = 9.9999999999999995E-7 : f64} : (tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  %0 = fresco.layer_norm %x {epsilon = 1.0e-6 : f64} : (tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  // CHECK: fresco.layer_norm %{{.*}}, %{{.*}}, %{{.*}} {epsilon
  %1 = fresco.layer_norm %0, %g, %g {epsilon = 1.0e-5 : f64} : (tensor<2x3x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
  // CHECK: fresco.modulate %{{.*}}, %{{.*}}, %{{.*}} : (tensor<2x3x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x3x8xf32>
  %2 = fresco.modulate %1, %s, %s : (tensor<2x3x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x3x8xf32>
  return %2 : tensor<2x3x8xf32>
}

// CHECK-LABEL: func.func @mul_add
func.func @mul_add(%g: tensor<2x1x8xf32>, %x: tensor<2x3x8xf32>) -> tensor<2x3x8xf32> {
  // CHECK: fresco.mul_add %{{.*}}, %{{.*}}, %{{.*}} : (tensor<2x1x8xf32>, tensor<2x3x8xf32>, tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  %0 = fresco.mul_add %g, %x, %x : (tensor<2x1x8xf32>, tensor<2x3x8xf32>, tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  return %0 : tensor<2x3x8xf32>
}

// CHECK-LABEL: func.func @rms_norms
func.func @rms_norms(%x: tensor<2x3x8xf32>, %g: tensor<8xf32>) -> tensor<2x3x8xf32> {
  // CHECK: fresco.rms_norm %{{.*}} {epsilon = 9.9999999999999995E-7 : f64} : (tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  %0 = fresco.rms_norm %x {epsilon = 1.0e-6 : f64} : (tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  // CHECK: fresco.rms_norm %{{.*}}, %{{.*}} {epsilon = 1.000000e-05 : f64} : (tensor<2x3x8xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
  %1 = fresco.rms_norm %0, %g {epsilon = 1.0e-5 : f64} : (tensor<2x3x8xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
  return %1 : tensor<2x3x8xf32>
}

// Flux's rotary embedding: a table from [T, 3] ids (axes 4 + 6 + 6 = a
// 16-wide head, 8 pairs), applied to q laid out [B, T, H*Dh] with 2 heads.
// CHECK-LABEL: func.func @rope
func.func @rope(%ids: tensor<7x3xf32>, %q: tensor<2x7x32xf32>) -> tensor<2x7x32xf32> {
  // CHECK: fresco.rope_table %{{.*}} {axes_dim = array<i64: 4, 6, 6>, theta = 1.000000e+04 : f64} : (tensor<7x3xf32>) -> tensor<7x8x2xf32>
  %t = fresco.rope_table %ids {theta = 1.0e+04 : f64, axes_dim = array<i64: 4, 6, 6>} : (tensor<7x3xf32>) -> tensor<7x8x2xf32>
  // CHECK: fresco.rope %{{.*}}, %{{.*}} {num_heads = 2 : i64} : (tensor<2x7x32xf32>, tensor<7x8x2xf32>) -> tensor<2x7x32xf32>
  %r = fresco.rope %q, %t {num_heads = 2 : i64} : (tensor<2x7x32xf32>, tensor<7x8x2xf32>) -> tensor<2x7x32xf32>
  return %r : tensor<2x7x32xf32>
}

// A rope with the q/k RMS norm fused in (fresco-fuse-rope-norm).
// CHECK-LABEL: func.func @rope_norm
func.func @rope_norm(%q: tensor<2x7x32xf32>, %t: tensor<7x8x2xf32>, %w: tensor<16xf32>) -> tensor<2x7x32xf32> {
  // CHECK: fresco.rope %{{.*}}, %{{.*}} norm(%{{.*}}) {epsilon = 9.9999999999999995E-7 : f64, num_heads = 2 : i64} : (tensor<2x7x32xf32>, tensor<7x8x2xf32>, tensor<16xf32>) -> tensor<2x7x32xf32>
  %r = fresco.rope %q, %t norm(%w) {epsilon = 1.0e-6 : f64, num_heads = 2 : i64} : (tensor<2x7x32xf32>, tensor<7x8x2xf32>, tensor<16xf32>) -> tensor<2x7x32xf32>
  return %r : tensor<2x7x32xf32>
}

// A fused adaLN modulation (fresco-fuse-modulation), with and without the
// affine operands; the plain forms print as before.
// CHECK-LABEL: func.func @layer_norm_modulated
func.func @layer_norm_modulated(%x: tensor<2x3x8xf32>, %g: tensor<8xf32>, %b: tensor<8xf32>, %shift: tensor<2x8xf32>, %scale: tensor<2x8xf32>) -> (tensor<2x3x8xf32>, tensor<2x3x8xf32>) {
  // CHECK: fresco.layer_norm %{{.*}} modulate(%{{.*}}, %{{.*}}) {epsilon = 9.9999999999999995E-7 : f64} : (tensor<2x3x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x3x8xf32>
  %0 = fresco.layer_norm %x modulate(%shift, %scale) {epsilon = 1.0e-6 : f64} : (tensor<2x3x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x3x8xf32>
  // CHECK: fresco.layer_norm %{{.*}}, %{{.*}}, %{{.*}} modulate(%{{.*}}, %{{.*}}) {epsilon = 1.000000e-05 : f64} : (tensor<2x3x8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x3x8xf32>
  %1 = fresco.layer_norm %x, %g, %b modulate(%shift, %scale) {epsilon = 1.0e-5 : f64} : (tensor<2x3x8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x3x8xf32>
  return %0, %1 : tensor<2x3x8xf32>, tensor<2x3x8xf32>
}

// CHECK-LABEL: func.func @attention
func.func @attention(%q: tensor<2x5x8xf32>, %kv: tensor<2x7x8xf32>) -> tensor<2x5x8xf32> {
  // CHECK: fresco.attention %{{.*}}, %{{.*}}, %{{.*}} {num_heads = 2 : i64, scale = 5.000000e-01 : f64}
  %0 = fresco.attention %q, %kv, %kv {num_heads = 2 : i64, scale = 0.5 : f64} : (tensor<2x5x8xf32>, tensor<2x7x8xf32>, tensor<2x7x8xf32>) -> tensor<2x5x8xf32>
  return %0 : tensor<2x5x8xf32>
}

// CHECK-LABEL: func.func @elementwise
func.func @elementwise(%a: tensor<2x3x8xf32>, %b: tensor<2x1x8xf32>) -> tensor<2x3x8xf32> {
  // CHECK: fresco.gelu %{{.*}} {approximate = "tanh"}
  %0 = fresco.gelu %a {approximate = "tanh"} : (tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  // CHECK: fresco.gelu %{{.*}} : (tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  %1 = fresco.gelu %0 : (tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  // CHECK: fresco.silu
  %2 = fresco.silu %1 : (tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  // CHECK: fresco.add %{{.*}}, %{{.*}} : (tensor<2x3x8xf32>, tensor<2x1x8xf32>) -> tensor<2x3x8xf32>
  %3 = fresco.add %2, %b : (tensor<2x3x8xf32>, tensor<2x1x8xf32>) -> tensor<2x3x8xf32>
  // CHECK: fresco.sub
  %4 = fresco.sub %3, %b : (tensor<2x3x8xf32>, tensor<2x1x8xf32>) -> tensor<2x3x8xf32>
  // CHECK: fresco.mul
  %5 = fresco.mul %b, %4 : (tensor<2x1x8xf32>, tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  // CHECK: fresco.div
  %6 = fresco.div %5, %b : (tensor<2x3x8xf32>, tensor<2x1x8xf32>) -> tensor<2x3x8xf32>
  return %6 : tensor<2x3x8xf32>
}

// CHECK-LABEL: func.func @embeddings
func.func @embeddings(%t: tensor<2xi64>, %tf: tensor<2xf32>, %ids: tensor<2xi64>, %table: tensor<11x8xf32>) -> tensor<2x8xf32> {
  // CHECK: fresco.timestep_embedding %{{.*}} {dim = 256 : i64, flip_sin_to_cos = true} : (tensor<2xi64>) -> tensor<2x256xf32>
  %0 = fresco.timestep_embedding %t {dim = 256 : i64, flip_sin_to_cos = true} : (tensor<2xi64>) -> tensor<2x256xf32>
  // CHECK: fresco.timestep_embedding %{{.*}} {dim = 7 : i64, downscale_freq_shift = 0.000000e+00 : f64} : (tensor<2xf32>) -> tensor<2x7xf32>
  %1 = fresco.timestep_embedding %tf {dim = 7 : i64, downscale_freq_shift = 0.0 : f64} : (tensor<2xf32>) -> tensor<2x7xf32>
  // CHECK: fresco.embedding %{{.*}}, %{{.*}} : (tensor<11x8xf32>, tensor<2xi64>) -> tensor<2x8xf32>
  %2 = fresco.embedding %table, %ids : (tensor<11x8xf32>, tensor<2xi64>) -> tensor<2x8xf32>
  return %2 : tensor<2x8xf32>
}

// CHECK-LABEL: func.func @pos_embed
func.func @pos_embed() -> tensor<1x16x8xf32> {
  // CHECK: fresco.pos_embed_2d {base_size = 4.000000e+00 : f64, dim = 8 : i64, grid_h = 4 : i64, grid_w = 4 : i64} : tensor<1x16x8xf32>
  %0 = fresco.pos_embed_2d {grid_h = 4 : i64, grid_w = 4 : i64, dim = 8 : i64, base_size = 4.0 : f64} : tensor<1x16x8xf32>
  return %0 : tensor<1x16x8xf32>
}

// A window: rows 1..2, columns 1..3 of the 4 x 4 table; rows or cols left
// out reach the grid's end.
// CHECK-LABEL: func.func @pos_embed_window
func.func @pos_embed_window() -> (tensor<1x6x8xf32>, tensor<1x6x8xf32>) {
  // CHECK: fresco.pos_embed_2d {base_size = 4.000000e+00 : f64, col_start = 1 : i64, cols = 3 : i64, dim = 8 : i64, grid_h = 4 : i64, grid_w = 4 : i64, row_start = 1 : i64, rows = 2 : i64} : tensor<1x6x8xf32>
  %0 = fresco.pos_embed_2d {grid_h = 4 : i64, grid_w = 4 : i64, dim = 8 : i64, base_size = 4.0 : f64, row_start = 1 : i64, col_start = 1 : i64, rows = 2 : i64, cols = 3 : i64} : tensor<1x6x8xf32>
  // CHECK: fresco.pos_embed_2d {base_size = 4.000000e+00 : f64, col_start = 2 : i64, dim = 8 : i64, grid_h = 4 : i64, grid_w = 4 : i64, row_start = 1 : i64, rows = 3 : i64} : tensor<1x6x8xf32>
  %1 = fresco.pos_embed_2d {grid_h = 4 : i64, grid_w = 4 : i64, dim = 8 : i64, base_size = 4.0 : f64, row_start = 1 : i64, col_start = 2 : i64, rows = 3 : i64} : tensor<1x6x8xf32>
  return %0, %1 : tensor<1x6x8xf32>, tensor<1x6x8xf32>
}

// CHECK-LABEL: func.func @layout
func.func @layout(%x: tensor<2x4x6xf32>) -> tensor<2x6x4xf32> {
  // CHECK: fresco.reshape %{{.*}} : tensor<2x4x6xf32> -> tensor<2x24xf32>
  %0 = fresco.reshape %x : tensor<2x4x6xf32> -> tensor<2x24xf32>
  // CHECK: fresco.slice %{{.*}} {axis = 1 : i64, size = 12 : i64, start = 12 : i64} : (tensor<2x24xf32>) -> tensor<2x12xf32>
  %1 = fresco.slice %0 {axis = 1 : i64, start = 12 : i64, size = 12 : i64} : (tensor<2x24xf32>) -> tensor<2x12xf32>
  // CHECK: fresco.concat %{{.*}}, %{{.*}} {axis = -1 : i64} : (tensor<2x12xf32>, tensor<2x12xf32>) -> tensor<2x24xf32>
  %2 = fresco.concat %1, %1 {axis = -1 : i64} : (tensor<2x12xf32>, tensor<2x12xf32>) -> tensor<2x24xf32>
  %3 = fresco.reshape %2 : tensor<2x24xf32> -> tensor<2x4x6xf32>
  // CHECK: fresco.transpose %{{.*}} {permutation = array<i64: 0, 2, 1>} : (tensor<2x4x6xf32>) -> tensor<2x6x4xf32>
  %4 = fresco.transpose %3 {permutation = array<i64: 0, 2, 1>} : (tensor<2x4x6xf32>) -> tensor<2x6x4xf32>
  return %4 : tensor<2x6x4xf32>
}

// CHECK-LABEL: func.func @vae_ops
func.func @vae_ops(%x: tensor<1x8x4x4xf32>, %g: tensor<8xf32>) -> tensor<1x8x8x8xf32> {
  // CHECK: fresco.group_norm %{{.*}}, %{{.*}}, %{{.*}} {epsilon = 9.9999999999999995E-7 : f64, num_groups = 4 : i64} : (tensor<1x8x4x4xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<1x8x4x4xf32>
  %0 = fresco.group_norm %x, %g, %g {num_groups = 4 : i64, epsilon = 1.0e-6 : f64} : (tensor<1x8x4x4xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<1x8x4x4xf32>
  // CHECK: fresco.group_norm %{{.*}} {epsilon
  %1 = fresco.group_norm %0 {num_groups = 8 : i64, epsilon = 1.0e-6 : f64} : (tensor<1x8x4x4xf32>) -> tensor<1x8x4x4xf32>
  // Statistics over every rank's band of rows along grid axis 0.
  // CHECK: fresco.group_norm %{{.*}} {epsilon = {{.*}}, num_groups = 8 : i64, stats_axes = #fresco.axes<[0]>}
  %s = fresco.group_norm %1 {num_groups = 8 : i64, epsilon = 1.0e-6 : f64, stats_axes = #fresco.axes<[0]>} : (tensor<1x8x4x4xf32>) -> tensor<1x8x4x4xf32>
  // CHECK: fresco.upsample_nearest %{{.*}} : (tensor<1x8x4x4xf32>) -> tensor<1x8x8x8xf32>
  %2 = fresco.upsample_nearest %s : (tensor<1x8x4x4xf32>) -> tensor<1x8x8x8xf32>
  return %2 : tensor<1x8x8x8xf32>
}

shard.grid @grid(shape = 2)
// CHECK-LABEL: func.func @wait
func.func @wait(%x: tensor<2x4xf32>) -> tensor<4x4xf32> {
  // CHECK: %[[G:.*]] = shard.all_gather {{.*}}fresco.async
  %g = shard.all_gather %x on @grid grid_axes = [0] gather_axis = 0 {fresco.async} : tensor<2x4xf32> -> tensor<4x4xf32>
  // CHECK: fresco.wait %[[G]] : tensor<4x4xf32>
  %0 = fresco.wait %g : tensor<4x4xf32>
  return %0 : tensor<4x4xf32>
}

// patch=P's stale gather, and the same with its ranks (fresco-specialize-ranks).
// CHECK-LABEL: func.func @stale_gather
func.func @stale_gather(%k: tensor<2x8x16xf32>) -> (tensor<2x16x16xf32>, tensor<4x8x16xf32>) {
  // CHECK: fresco.stale_gather %{{.*}} {axes = #fresco.axes<[0]>, dim = 1 : i64} : tensor<2x8x16xf32> -> tensor<2x16x16xf32>
  %0 = fresco.stale_gather %k {axes = #fresco.axes<[0]>, dim = 1 : i64} : tensor<2x8x16xf32> -> tensor<2x16x16xf32>
  // CHECK: fresco.stale_gather %{{.*}} {axes = #fresco.axes<[0]>, dim = 0 : i64, fresco.members = array<i32: 0, 1>} : tensor<2x8x16xf32> -> tensor<4x8x16xf32>
  %1 = fresco.stale_gather %k {axes = #fresco.axes<[0]>, dim = 0 : i64, fresco.members = array<i32: 0, 1>} : tensor<2x8x16xf32> -> tensor<4x8x16xf32>
  return %0, %1 : tensor<2x16x16xf32>, tensor<4x8x16xf32>
}

// A stale gather of joined token segments (Flux's text and image).
// CHECK-LABEL: func.func @stale_gather_segments
func.func @stale_gather_segments(%k: tensor<1x12x16xf32>) -> tensor<1x24x16xf32> {
  // CHECK: fresco.stale_gather %{{.*}} {axes = #fresco.axes<[0]>, dim = 1 : i64, segments = array<i64: 8, 16>}
  %0 = fresco.stale_gather %k {axes = #fresco.axes<[0]>, dim = 1 : i64, segments = array<i64: 8, 16>} : tensor<1x12x16xf32> -> tensor<1x24x16xf32>
  return %0 : tensor<1x24x16xf32>
}

// PipeFusion's cache: block 1 of 2 written, the whole read; the warm-up
// function's whole write (parts = 1).
// CHECK-LABEL: func.func @patch_cache
func.func @patch_cache(%k: tensor<2x8x16xf32>, %w: tensor<2x16x16xf32>) -> (tensor<2x16x16xf32>, tensor<2x16x16xf32>) {
  // CHECK: fresco.patch_cache %{{.*}} {cache = 3 : i64, dim = 1 : i64, index = 1 : i64, parts = 2 : i64} : tensor<2x8x16xf32> -> tensor<2x16x16xf32>
  %0 = fresco.patch_cache %k {cache = 3 : i64, dim = 1 : i64, index = 1 : i64, parts = 2 : i64} : tensor<2x8x16xf32> -> tensor<2x16x16xf32>
  // CHECK: fresco.patch_cache %{{.*}} {cache = 3 : i64, dim = 1 : i64, index = 0 : i64, parts = 1 : i64} : tensor<2x16x16xf32> -> tensor<2x16x16xf32>
  %1 = fresco.patch_cache %w {cache = 3 : i64, dim = 1 : i64, index = 0 : i64, parts = 1 : i64} : tensor<2x16x16xf32> -> tensor<2x16x16xf32>
  return %0, %1 : tensor<2x16x16xf32>, tensor<2x16x16xf32>
}

// The text encoders' ops: causal attention (CLIP), a score bias (T5's
// relative position bias), quick_gelu, EOS pooling.
// CHECK-LABEL: func.func @text_encoders
func.func @text_encoders(%x: tensor<2x5x8xf32>, %ids: tensor<2x5xi64>, %t: tensor<32x2xf32>) -> (tensor<2x5x8xf32>, tensor<2x8xf32>) {
  // CHECK: fresco.attention %{{.*}}, %{{.*}}, %{{.*}} {causal, num_heads = 2 : i64, scale = 5.000000e-01 : f64}
  %0 = fresco.attention %x, %x, %x {num_heads = 2 : i64, scale = 0.5 : f64, causal} : (tensor<2x5x8xf32>, tensor<2x5x8xf32>, tensor<2x5x8xf32>) -> tensor<2x5x8xf32>
  // CHECK: fresco.relative_position_bias %{{.*}} {bidirectional, key_length = 5 : i64, max_distance = 20 : i64, num_buckets = 32 : i64, query_length = 5 : i64} : (tensor<32x2xf32>) -> tensor<2x5x5xf32>
  %b = fresco.relative_position_bias %t {num_buckets = 32 : i64, max_distance = 20 : i64, bidirectional, query_length = 5 : i64, key_length = 5 : i64} : (tensor<32x2xf32>) -> tensor<2x5x5xf32>
  // CHECK: fresco.attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {num_heads = 2 : i64, scale = 1.000000e+00 : f64} : (tensor<2x5x8xf32>, tensor<2x5x8xf32>, tensor<2x5x8xf32>, tensor<2x5x5xf32>)
  %1 = fresco.attention %0, %0, %0, %b {num_heads = 2 : i64, scale = 1.0 : f64} : (tensor<2x5x8xf32>, tensor<2x5x8xf32>, tensor<2x5x8xf32>, tensor<2x5x5xf32>) -> tensor<2x5x8xf32>
  // CHECK: fresco.quick_gelu
  %2 = fresco.quick_gelu %1 : (tensor<2x5x8xf32>) -> tensor<2x5x8xf32>
  // CHECK: fresco.eos_pool %{{.*}}, %{{.*}} {argmax, token_id = 2 : i64} : (tensor<2x5x8xf32>, tensor<2x5xi64>) -> tensor<2x8xf32>
  %3 = fresco.eos_pool %2, %ids {token_id = 2 : i64, argmax} : (tensor<2x5x8xf32>, tensor<2x5xi64>) -> tensor<2x8xf32>
  return %2, %3 : tensor<2x5x8xf32>, tensor<2x8xf32>
}
