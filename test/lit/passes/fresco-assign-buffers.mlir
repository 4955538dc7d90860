// RUN: fresco-opt %s --pass-pipeline='builtin.module(func.func(fresco-assign-buffers))' -split-input-file | FileCheck %s

// A chain: each buffer dies after its consumer, so two slots alternate and
// the arena holds two 4 KiB buffers while the function allocates four.
// CHECK-LABEL: func.func @chain
// CHECK-SAME: %arg0: tensor<1024xf32> {fresco.offset = 0 : i64}
// CHECK-SAME: fresco.arena_bytes = 8192 : i64
// CHECK-SAME: fresco.intermediate_bytes = 16384 : i64
func.func @chain(%x: tensor<1024xf32>) -> tensor<1024xf32> {
  // CHECK: fresco.silu %arg0 {fresco.offset = 4096 : i64}
  %0 = fresco.silu %x : (tensor<1024xf32>) -> tensor<1024xf32>
  // CHECK: fresco.silu %{{.*}} {fresco.offset = 0 : i64}
  %1 = fresco.silu %0 : (tensor<1024xf32>) -> tensor<1024xf32>
  // CHECK: fresco.silu %{{.*}} {fresco.offset = 4096 : i64}
  %2 = fresco.silu %1 : (tensor<1024xf32>) -> tensor<1024xf32>
  return %2 : tensor<1024xf32>
}

// -----

// Parameters live outside the arena; a reshape shares its operand's bytes
// and keeps them alive until the reshaped value's last use.
// CHECK-LABEL: func.func @params_and_views
// CHECK-SAME: fresco.arena_bytes = 128 : i64
func.func @params_and_views(%x: tensor<2x8xf32>) -> tensor<16xf32> {
  // CHECK: fresco.param "w" : tensor<8x8xf32>
  %w = fresco.param "w" : tensor<8x8xf32>
  // CHECK: fresco.linear %arg0, %{{.*}} {fresco.offset = 64 : i64}
  %0 = fresco.linear %x, %w : (tensor<2x8xf32>, tensor<8x8xf32>) -> tensor<2x8xf32>
  // CHECK: fresco.reshape %{{.*}} {fresco.offset = 64 : i64}
  %1 = fresco.reshape %0 : tensor<2x8xf32> -> tensor<16xf32>
  // CHECK: fresco.silu %{{.*}} {fresco.offset = 0 : i64}
  %2 = fresco.silu %1 : (tensor<16xf32>) -> tensor<16xf32>
  return %2 : tensor<16xf32>
}

// -----

// A value used late stays live: the residual %x must not share bytes with
// anything computed before its last use.
// CHECK-LABEL: func.func @residual
// CHECK-SAME: %arg0: tensor<256xf32> {fresco.offset = [[X:[0-9]+]] : i64}
func.func @residual(%x: tensor<256xf32>) -> tensor<256xf32> {
  // CHECK: fresco.silu %arg0 {fresco.offset = [[A:[0-9]+]] : i64}
  %0 = fresco.silu %x : (tensor<256xf32>) -> tensor<256xf32>
  // CHECK-NOT: fresco.offset = [[X]] :
  // CHECK: fresco.silu %{{.*}} {fresco.offset
  %1 = fresco.silu %0 : (tensor<256xf32>) -> tensor<256xf32>
  // CHECK: fresco.add %{{.*}}, %arg0 {fresco.offset = [[A]] : i64}
  %2 = fresco.add %1, %x : (tensor<256xf32>, tensor<256xf32>) -> tensor<256xf32>
  return %2 : tensor<256xf32>
}

// -----

// The alignment option rounds every buffer up.
// RUN: fresco-opt %s --pass-pipeline='builtin.module(func.func(fresco-assign-buffers{alignment=256}))' -split-input-file | FileCheck %s --check-prefix=ALIGN
// ALIGN-LABEL: func.func @aligned
// ALIGN-SAME: fresco.arena_bytes = 512 : i64
func.func @aligned(%x: tensor<3xf32>) -> tensor<3xf32> {
  %0 = fresco.silu %x : (tensor<3xf32>) -> tensor<3xf32>
  return %0 : tensor<3xf32>
}
