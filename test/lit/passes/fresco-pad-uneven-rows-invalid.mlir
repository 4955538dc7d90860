// RUN: fresco-opt %s --fresco-create-grid="parallel=ring=5" --fresco-pad-uneven -split-input-file -verify-diagnostics -o /dev/null

// Rows that fresco-pad-uneven cannot pad for a split, named where they
// stop.

// Levels that do not halve exactly (12 rows, 6, then an unpadded 3x3
// convolution down to 4): ring=5 pads the image to 15 rows, which the
// stride-2 downsampler cannot halve.
func.func @not_halving(%x: tensor<2x4x12x6xf32>) -> tensor<2x8x4x3xf32> attributes {fresco.component = "unet"} {
  %w0 = fresco.param "conv_in.weight" : tensor<8x4x3x3xf32>
  %0 = fresco.conv2d %x, %w0 {padding = array<i64: 1, 1>} : (tensor<2x4x12x6xf32>, tensor<8x4x3x3xf32>) -> tensor<2x8x12x6xf32>
  %wd = fresco.param "down.weight" : tensor<8x8x3x3xf32>
  // expected-error @+1 {{fresco-pad-uneven padded this convolution's 12 input rows to 15, which its stride 2 does not divide (the levels do not halve exactly)}}
  %1 = fresco.conv2d %0, %wd {padding = array<i64: 1, 1>, strides = array<i64: 2, 2>} : (tensor<2x8x12x6xf32>, tensor<8x8x3x3xf32>) -> tensor<2x8x6x3xf32>
  %wv = fresco.param "valid.weight" : tensor<8x8x3x3xf32>
  %2 = fresco.conv2d %1, %wv {padding = array<i64: 0, 1>} : (tensor<2x8x6x3xf32>, tensor<8x8x3x3xf32>) -> tensor<2x8x4x3xf32>
  return %2 : tensor<2x8x4x3xf32>
}

// -----

// 8 rows, 4, then an unpadded 3x3 convolution to 2: padded to 20 (10), the
// last convolution's output rows are not its input rows.
func.func @valid_conv(%x: tensor<2x4x8x6xf32>) -> tensor<2x8x2x1xf32> attributes {fresco.component = "unet"} {
  %w0 = fresco.param "conv_in.weight" : tensor<8x4x3x3xf32>
  %0 = fresco.conv2d %x, %w0 {padding = array<i64: 1, 1>} : (tensor<2x4x8x6xf32>, tensor<8x4x3x3xf32>) -> tensor<2x8x8x6xf32>
  %wd = fresco.param "down.weight" : tensor<8x8x3x3xf32>
  %1 = fresco.conv2d %0, %wd {padding = array<i64: 1, 1>, strides = array<i64: 2, 2>} : (tensor<2x8x8x6xf32>, tensor<8x8x3x3xf32>) -> tensor<2x8x4x3xf32>
  %wv = fresco.param "valid.weight" : tensor<8x8x3x3xf32>
  // expected-error @+1 {{fresco-pad-uneven padded the rows of this convolution's input (4 real of 10), but its output rows are not its input rows / stride 1; only such a convolution can take padded rows}}
  %2 = fresco.conv2d %1, %wv : (tensor<2x8x4x3xf32>, tensor<8x8x3x3xf32>) -> tensor<2x8x2x1xf32>
  return %2 : tensor<2x8x2x1xf32>
}

