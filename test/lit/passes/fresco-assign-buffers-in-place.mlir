// RUN: fresco-opt %s --pass-pipeline='builtin.module(func.func(fresco-assign-buffers))' -split-input-file | FileCheck %s

// A slice of contiguous rows (every dimension before the axis is 1) at an
// aligned offset is a window of its input: no bytes of its own, marked
// in_place, its offset the input's plus 2 rows of 16 floats.
// CHECK-LABEL: func.func @slice_window
// The window keeps the silu's buffer alive while it is read: with %x live
// to the end, the arena holds all three (256 + 256 + 128 bytes).
// CHECK-SAME: fresco.arena_bytes = 640 : i64
// CHECK-SAME: fresco.intermediate_bytes = 640 : i64
func.func @slice_window(%x: tensor<1x4x16xf32>) -> (tensor<1x2x16xf32>, tensor<1x4x16xf32>) {
  // CHECK: fresco.silu %arg0 {fresco.offset = [[#S:]] : i64}
  %0 = fresco.silu %x : (tensor<1x4x16xf32>) -> tensor<1x4x16xf32>
  // CHECK: fresco.slice %{{.*}} {axis = 1 : i64, fresco.in_place, fresco.offset = [[#S+128]] : i64
  %1 = fresco.slice %0 {axis = 1 : i64, start = 2 : i64, size = 2 : i64} : (tensor<1x4x16xf32>) -> tensor<1x2x16xf32>
  %2 = fresco.silu %1 : (tensor<1x2x16xf32>) -> tensor<1x2x16xf32>
  return %2, %x : tensor<1x2x16xf32>, tensor<1x4x16xf32>
}

// -----

// Rows of a batch of 2 are not contiguous, and a window 12 bytes in is not
// aligned: both slices copy into buffers of their own.
// CHECK-LABEL: func.func @slices_that_copy
// CHECK-NOT: in_place
func.func @slices_that_copy(%x: tensor<2x4x16xf32>, %y: tensor<1x4x3xf32>) -> (tensor<2x2x16xf32>, tensor<1x1x3xf32>) {
  %0 = fresco.silu %x : (tensor<2x4x16xf32>) -> tensor<2x4x16xf32>
  %1 = fresco.slice %0 {axis = 1 : i64, start = 2 : i64, size = 2 : i64} : (tensor<2x4x16xf32>) -> tensor<2x2x16xf32>
  %2 = fresco.silu %y : (tensor<1x4x3xf32>) -> tensor<1x4x3xf32>
  %3 = fresco.slice %2 {axis = 1 : i64, start = 1 : i64, size = 1 : i64} : (tensor<1x4x3xf32>) -> tensor<1x1x3xf32>
  return %1, %3 : tensor<2x2x16xf32>, tensor<1x1x3xf32>
}

// -----

// Each operand of a contiguous concatenation, computed for it alone, is
// written where it belongs in the result: the concatenation's buffer starts
// with the first of them and holds both (no 768 bytes of operands apart).
// CHECK-LABEL: func.func @concat_in_place
// CHECK-SAME: fresco.arena_bytes = 768 : i64
// CHECK-SAME: fresco.intermediate_bytes = 768 : i64
func.func @concat_in_place(%x: tensor<1x2x16xf32>, %y: tensor<1x4x16xf32>) -> tensor<1x6x16xf32> {
  // CHECK: fresco.silu %arg0 {fresco.offset = [[#C:]] : i64}
  %0 = fresco.silu %x : (tensor<1x2x16xf32>) -> tensor<1x2x16xf32>
  // Through a reshape used by the concatenation alone; 2 rows of 16 in.
  // CHECK: fresco.silu %arg1 {fresco.offset = [[#C+128]] : i64}
  %1 = fresco.silu %y : (tensor<1x4x16xf32>) -> tensor<1x4x16xf32>
  %2 = fresco.reshape %1 : tensor<1x4x16xf32> -> tensor<1x4x16xf32>
  // CHECK: fresco.concat %{{.*}}, %{{.*}} {axis = 1 : i64, fresco.in_place, fresco.offset = [[#C]] : i64}
  %3 = fresco.concat %0, %2 {axis = 1 : i64} : (tensor<1x2x16xf32>, tensor<1x4x16xf32>) -> tensor<1x6x16xf32>
  return %3 : tensor<1x6x16xf32>
}

// -----

// An operand read again after the concatenation keeps a buffer of its own
// and is copied; a function argument too; the other operand is in place.
// CHECK-LABEL: func.func @concat_partly
// (args 128 + 256, the silu kept apart 128, the concatenation 512 bytes).
// CHECK-SAME: fresco.intermediate_bytes = 1024 : i64
func.func @concat_partly(%x: tensor<1x2x16xf32>, %y: tensor<1x4x16xf32>) -> (tensor<1x8x16xf32>, tensor<1x2x16xf32>) {
  // CHECK: fresco.silu %arg0 {fresco.offset = [[#X:]] : i64}
  %0 = fresco.silu %x : (tensor<1x2x16xf32>) -> tensor<1x2x16xf32>
  // CHECK: fresco.silu %arg1 {fresco.offset = [[#Y:]] : i64}
  %1 = fresco.silu %y : (tensor<1x4x16xf32>) -> tensor<1x4x16xf32>
  // CHECK: fresco.concat {{.*}} fresco.in_place, fresco.offset = [[#Y-128]] : i64
  %2 = fresco.concat %0, %1, %x {axis = 1 : i64} : (tensor<1x2x16xf32>, tensor<1x4x16xf32>, tensor<1x2x16xf32>) -> tensor<1x8x16xf32>
  return %2, %0 : tensor<1x8x16xf32>, tensor<1x2x16xf32>
}

// -----

// A concatenation along a dimension after a non-unit one (columns of a
// batch of rows) copies.
// CHECK-LABEL: func.func @concat_columns
// CHECK-NOT: in_place
func.func @concat_columns(%x: tensor<2x16xf32>, %y: tensor<2x16xf32>) -> tensor<2x32xf32> {
  %0 = fresco.silu %x : (tensor<2x16xf32>) -> tensor<2x16xf32>
  %1 = fresco.silu %y : (tensor<2x16xf32>) -> tensor<2x16xf32>
  %2 = fresco.concat %0, %1 {axis = 1 : i64} : (tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x32xf32>
  return %2 : tensor<2x32xf32>
}

// -----

// Under bf16 storage the offsets count 2-byte floats: the window is 2 rows
// of 32 floats (128 bytes) into the silu's buffer.
// CHECK-LABEL: func.func @bf16_window
module attributes {fresco.float_storage = "bf16"} {
  func.func @bf16_window(%x: tensor<1x4x32xf32>) -> tensor<1x2x32xf32> {
    // CHECK: fresco.silu %arg0 {fresco.offset = [[#S:]] : i64}
    %0 = fresco.silu %x : (tensor<1x4x32xf32>) -> tensor<1x4x32xf32>
    // CHECK: fresco.slice %{{.*}} {axis = 1 : i64, fresco.in_place, fresco.offset = [[#S+128]] : i64
    %1 = fresco.slice %0 {axis = 1 : i64, start = 2 : i64, size = 2 : i64} : (tensor<1x4x32xf32>) -> tensor<1x2x32xf32>
    %2 = fresco.silu %1 : (tensor<1x2x32xf32>) -> tensor<1x2x32xf32>
    return %2 : tensor<1x2x32xf32>
  }
}
