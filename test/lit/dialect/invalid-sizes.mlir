// RUN: fresco-opt %s -split-input-file -verify-diagnostics

// Size products from a .mlir file are checked (issue 15): a shape or a
// result dimension that does not fit in 64 bits is an error naming it, not
// a wrapped size.

func.func @pos_embed_grid_overflow() -> tensor<1x1x8xf32> {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{window 4294967296 x 4294967296 does not fit in 64 bits}}
  %0 = fresco.pos_embed_2d {grid_h = 4294967296 : i64, grid_w = 4294967296 : i64, dim = 8 : i64, base_size = 2.0 : f64} : tensor<1x1x8xf32>
  return %0 : tensor<1x1x8xf32>
}

// -----

func.func @upsample_overflow(%x: tensor<1x1x4611686018427387904x1xf32>) -> tensor<1x1x1x1xf32> {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{height 4611686018427387904 x 4 does not fit in 64 bits}}
  %0 = fresco.upsample_nearest %x {scale = array<i64: 4, 1>} : (tensor<1x1x4611686018427387904x1xf32>) -> tensor<1x1x1x1xf32>
  return %0 : tensor<1x1x1x1xf32>
}

// -----

func.func @upsample_input_elements(%x: tensor<65536x65536x65536x65536xf32>) -> tensor<1x1x1x1xf32> {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{input [65536, 65536, 65536, 65536] has more elements than fit in 64 bits}}
  %0 = fresco.upsample_nearest %x {scale = array<i64: 2, 2>} : (tensor<65536x65536x65536x65536xf32>) -> tensor<1x1x1x1xf32>
  return %0 : tensor<1x1x1x1xf32>
}

// -----

func.func @reshape_elements(%x: tensor<4294967296x4294967296xf32>) -> tensor<1xf32> {
  // expected-error @+1 {{shape [4294967296, 4294967296] has more elements than fit in 64 bits}}
  %0 = fresco.reshape %x : tensor<4294967296x4294967296xf32> -> tensor<1xf32>
  return %0 : tensor<1xf32>
}

// -----

func.func @conv_padding(%x: tensor<1x1x4x4xf32>, %w: tensor<1x1x3x3xf32>) -> tensor<1x1x4x4xf32> {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{strides must be positive and padding non-negative (at most 2^40)}}
  %0 = fresco.conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 4611686018427387904, 1>} : (tensor<1x1x4x4xf32>, tensor<1x1x3x3xf32>) -> tensor<1x1x4x4xf32>
  return %0 : tensor<1x1x4x4xf32>
}
