// RUN: fresco-opt %s --pass-pipeline='builtin.module(func.func(fresco-transpose-chunks))' -split-input-file | FileCheck %s

// adaLN's six chunks of a batch of 2 (each 2 rows x 8 floats, 64 bytes:
// windows on fresco-assign-buffers' grid): one transpose to [chunk, row,
// column], each chunk a slice of its leading rows, reshaped back.
// CHECK-LABEL: func.func @six_chunks
func.func @six_chunks(%e: tensor<2x48xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) {
  // CHECK: %[[R:.*]] = fresco.reshape %arg0 : tensor<2x48xf32> -> tensor<2x6x8xf32>
  // CHECK: %[[T:.*]] = fresco.transpose %[[R]] {permutation = array<i64: 1, 0, 2>} : (tensor<2x6x8xf32>) -> tensor<6x2x8xf32>
  // CHECK: %[[S0:.*]] = fresco.slice %[[T]] {axis = 0 : i64, size = 1 : i64, start = 0 : i64} : (tensor<6x2x8xf32>) -> tensor<1x2x8xf32>
  // CHECK: fresco.reshape %[[S0]] : tensor<1x2x8xf32> -> tensor<2x8xf32>
  // CHECK: fresco.slice %[[T]] {axis = 0 : i64, size = 1 : i64, start = 5 : i64}
  // CHECK-NOT: fresco.transpose
  %0 = fresco.slice %e {axis = 1 : i64, start = 0 : i64, size = 8 : i64} : (tensor<2x48xf32>) -> tensor<2x8xf32>
  %1 = fresco.slice %e {axis = 1 : i64, start = 8 : i64, size = 8 : i64} : (tensor<2x48xf32>) -> tensor<2x8xf32>
  %2 = fresco.slice %e {axis = 1 : i64, start = 16 : i64, size = 8 : i64} : (tensor<2x48xf32>) -> tensor<2x8xf32>
  %3 = fresco.slice %e {axis = 1 : i64, start = 24 : i64, size = 8 : i64} : (tensor<2x48xf32>) -> tensor<2x8xf32>
  %4 = fresco.slice %e {axis = 1 : i64, start = 32 : i64, size = 8 : i64} : (tensor<2x48xf32>) -> tensor<2x8xf32>
  %5 = fresco.slice %e {axis = -1 : i64, start = 40 : i64, size = 8 : i64} : (tensor<2x48xf32>) -> tensor<2x8xf32>
  return %0, %1, %2, %3, %4, %5 : tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>
}

// -----

// Rows of more than one leading dimension flatten into the transpose's
// middle axis; two chunks of two are enough.
// CHECK-LABEL: func.func @two_of_two
// CHECK: fresco.reshape %arg0 : tensor<2x3x16xf32> -> tensor<6x2x8xf32>
// CHECK: fresco.transpose
// CHECK-SAME: -> tensor<2x6x8xf32>
// CHECK: fresco.reshape %{{.*}} : tensor<1x6x8xf32> -> tensor<2x3x8xf32>
func.func @two_of_two(%e: tensor<2x3x16xf32>) -> (tensor<2x3x8xf32>, tensor<2x3x8xf32>) {
  %0 = fresco.slice %e {axis = 2 : i64, start = 8 : i64, size = 8 : i64} : (tensor<2x3x16xf32>) -> tensor<2x3x8xf32>
  %1 = fresco.slice %e {axis = 2 : i64, start = 0 : i64, size = 8 : i64} : (tensor<2x3x16xf32>) -> tensor<2x3x8xf32>
  return %0, %1 : tensor<2x3x8xf32>, tensor<2x3x8xf32>
}

// -----

// Left as they are: one row (already contiguous chunks: windows as they
// are), a lone chunk, two of six chunks (the transpose would move three
// times the bytes), chunks that are not whole multiples, another axis,
// integer ids, a tensor over 2^18 elements (GEGLU's halves: copies at
// bandwidth), and chunks of 3 rows x 4 floats (48 bytes: off the 64-byte
// grid windows need).
// CHECK-LABEL: func.func @left_alone
// CHECK-NOT: fresco.transpose
// CHECK: return
func.func @left_alone(%a: tensor<1x24xf32>, %b: tensor<2x24xf32>, %c: tensor<2x10xf32>, %d: tensor<4x6xf32>, %i: tensor<2x8xi64>, %g: tensor<2x512x512xf32>, %h: tensor<3x8xf32>)
    -> (tensor<1x4xf32>, tensor<1x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x6xf32>, tensor<2x6xf32>, tensor<2x4xi64>, tensor<2x4xi64>, tensor<2x512x256xf32>, tensor<2x512x256xf32>, tensor<3x4xf32>, tensor<3x4xf32>) {
  %0 = fresco.slice %a {axis = 1 : i64, start = 0 : i64, size = 4 : i64} : (tensor<1x24xf32>) -> tensor<1x4xf32>
  %1 = fresco.slice %a {axis = 1 : i64, start = 4 : i64, size = 4 : i64} : (tensor<1x24xf32>) -> tensor<1x4xf32>
  %2 = fresco.slice %b {axis = 1 : i64, start = 0 : i64, size = 4 : i64} : (tensor<2x24xf32>) -> tensor<2x4xf32>
  %3 = fresco.slice %b {axis = 1 : i64, start = 20 : i64, size = 4 : i64} : (tensor<2x24xf32>) -> tensor<2x4xf32>
  %4 = fresco.slice %c {axis = 1 : i64, start = 0 : i64, size = 4 : i64} : (tensor<2x10xf32>) -> tensor<2x4xf32>
  %5 = fresco.slice %c {axis = 1 : i64, start = 4 : i64, size = 4 : i64} : (tensor<2x10xf32>) -> tensor<2x4xf32>
  %6 = fresco.slice %d {axis = 0 : i64, start = 0 : i64, size = 2 : i64} : (tensor<4x6xf32>) -> tensor<2x6xf32>
  %7 = fresco.slice %d {axis = 0 : i64, start = 2 : i64, size = 2 : i64} : (tensor<4x6xf32>) -> tensor<2x6xf32>
  %8 = fresco.slice %i {axis = 1 : i64, start = 0 : i64, size = 4 : i64} : (tensor<2x8xi64>) -> tensor<2x4xi64>
  %9 = fresco.slice %i {axis = 1 : i64, start = 4 : i64, size = 4 : i64} : (tensor<2x8xi64>) -> tensor<2x4xi64>
  %10 = fresco.slice %g {axis = 2 : i64, start = 0 : i64, size = 256 : i64} : (tensor<2x512x512xf32>) -> tensor<2x512x256xf32>
  %11 = fresco.slice %g {axis = 2 : i64, start = 256 : i64, size = 256 : i64} : (tensor<2x512x512xf32>) -> tensor<2x512x256xf32>
  %12 = fresco.slice %h {axis = 1 : i64, start = 0 : i64, size = 4 : i64} : (tensor<3x8xf32>) -> tensor<3x4xf32>
  %13 = fresco.slice %h {axis = 1 : i64, start = 4 : i64, size = 4 : i64} : (tensor<3x8xf32>) -> tensor<3x4xf32>
  return %0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13 : tensor<1x4xf32>, tensor<1x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x6xf32>, tensor<2x6xf32>, tensor<2x4xi64>, tensor<2x4xi64>, tensor<2x512x256xf32>, tensor<2x512x256xf32>, tensor<3x4xf32>, tensor<3x4xf32>
}

// -----

// After the transpose, fresco-assign-buffers makes every chunk a window:
// nothing left to copy but the transpose.
// RUN: fresco-opt %s --pass-pipeline='builtin.module(func.func(fresco-transpose-chunks,fresco-assign-buffers))' -split-input-file | FileCheck %s --check-prefix=ARENA
// ARENA-LABEL: func.func @windows
// ARENA: fresco.transpose
// ARENA-COUNT-3: fresco.slice {{.*}} fresco.in_place
func.func @windows(%e: tensor<2x48xf32>) -> (tensor<2x16xf32>, tensor<2x16xf32>, tensor<2x16xf32>) {
  %0 = fresco.slice %e {axis = 1 : i64, start = 0 : i64, size = 16 : i64} : (tensor<2x48xf32>) -> tensor<2x16xf32>
  %1 = fresco.slice %e {axis = 1 : i64, start = 16 : i64, size = 16 : i64} : (tensor<2x48xf32>) -> tensor<2x16xf32>
  %2 = fresco.slice %e {axis = 1 : i64, start = 32 : i64, size = 16 : i64} : (tensor<2x48xf32>) -> tensor<2x16xf32>
  %3 = fresco.silu %0 : (tensor<2x16xf32>) -> tensor<2x16xf32>
  return %3, %1, %2 : tensor<2x16xf32>, tensor<2x16xf32>, tensor<2x16xf32>
}
