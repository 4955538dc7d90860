// RUN: fresco-opt %s --fresco-create-grid="parallel=pipefusion=2" --fresco-pipefusion-warmup -split-input-file -verify-diagnostics | FileCheck %s

// The denoiser's twin, named in the pipeline: the same body, before any
// strategy splits either.
// CHECK: fresco.pipeline = {decoder = "vae", denoiser = "dit", denoiser_warmup = "dit_warmup"}
// CHECK: func.func @dit(%{{.*}}: tensor<2x4xf32>) -> tensor<2x4xf32>
// CHECK-NEXT: fresco.param "w"
// CHECK: func.func @dit_warmup(%{{.*}}: tensor<2x4xf32>) -> tensor<2x4xf32>
// CHECK-NEXT: fresco.param "w"
// CHECK: func.func @vae
module attributes {fresco.pipeline = {denoiser = "dit", decoder = "vae"}} {
  func.func @dit(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
    %w = fresco.param "w" : tensor<4x4xf32>
    %y = fresco.linear %x, %w : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
    return %y : tensor<2x4xf32>
  }
  func.func @vae(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
    return %x : tensor<2x4xf32>
  }
}

// -----

// A bare model has no sampling loop to run the warm-up steps.
// expected-error @below {{pipefusion needs a pipeline (its first steps run a warm-up function that the sampling loop picks); a bare model cannot run it: use pipeline=}}
module {
  func.func @dit(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
    return %x : tensor<2x4xf32>
  }
}

// -----

// expected-error @below {{cannot name the warm-up function 'dit_warmup': the module has a symbol of that name}}
module attributes {fresco.pipeline = {denoiser = "dit", decoder = "vae"}} {
  func.func @dit(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
    return %x : tensor<2x4xf32>
  }
  func.func @dit_warmup(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
    return %x : tensor<2x4xf32>
  }
}
