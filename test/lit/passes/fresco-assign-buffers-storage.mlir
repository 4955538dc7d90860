// RUN: fresco-opt %s --pass-pipeline='builtin.module(func.func(fresco-assign-buffers))' | FileCheck %s

// Under bf16 storage every float takes 2 bytes but for the timesteps and
// what only moves them (the slice), which stay f32: x and its silu (2048
// floats of 2 bytes each), the 64 timesteps and their 32-long slice at 4
// bytes (256 + 128), the 32x8 embedding at 2 bytes (512): 9088 bytes, where
// halved timesteps would make 8896 and f32 storage 17408.
// CHECK-LABEL: func.func @bf16
// CHECK-SAME: fresco.intermediate_bytes = 9088 : i64
module attributes {fresco.float_storage = "bf16"} {
  func.func @bf16(%x: tensor<2x1024xf32>, %t: tensor<64xf32>) -> (tensor<2x1024xf32>, tensor<32x8xf32>) {
    %0 = fresco.silu %x : (tensor<2x1024xf32>) -> tensor<2x1024xf32>
    %s = fresco.slice %t {axis = 0 : i64, start = 0 : i64, size = 32 : i64} : (tensor<64xf32>) -> tensor<32xf32>
    %e = fresco.timestep_embedding %s {dim = 8 : i64} : (tensor<32xf32>) -> tensor<32x8xf32>
    return %0, %e : tensor<2x1024xf32>, tensor<32x8xf32>
  }
}

