// A hand-written pipeline without weights and without CFG: the denoiser's
// prediction is silu(latents), the decoder repeats it as RGB. The sampling
// loop drives it as it drives DiT, from the fresco.pipeline attribute.
module attributes {fresco.pipeline = {
    kind = "ToyPipeline", num_images = 2 : i64,
    denoiser = "denoise", decoder = "decode",
    components = [
      {role = "denoiser", function = "denoise",
       inputs = ["latents", "timestep", "class_labels"], outputs = ["prediction"]},
      {role = "decoder", function = "decode", inputs = ["latents"], outputs = ["image"]}],
    conditioning = {kind = "class_label", num_classes = 10 : i64},
    latents = {layout = "image", channels = 1 : i64, height = 2 : i64, width = 2 : i64,
               prediction_channels = 1 : i64, scaling_factor = 2.0 : f64, shift_factor = 0.0 : f64},
    sampler = {scheduler = "DDIMScheduler", scheduler_config = "{\"_class_name\": \"DDIMScheduler\"}",
               guidance = "none"}}} {
  func.func @denoise(%x: tensor<2x1x2x2xf32> {fresco.name = "latents"},
                     %t: tensor<2xf32> {fresco.name = "timestep"},
                     %y: tensor<2xi64> {fresco.name = "class_labels"})
      -> (tensor<2x1x2x2xf32> {fresco.name = "sample"}) {
    %0 = fresco.silu %x : (tensor<2x1x2x2xf32>) -> tensor<2x1x2x2xf32>
    return %0 : tensor<2x1x2x2xf32>
  }
  func.func @decode(%z: tensor<2x1x2x2xf32> {fresco.name = "latents"})
      -> (tensor<2x3x2x2xf32> {fresco.name = "sample"}) {
    %0 = fresco.silu %z : (tensor<2x1x2x2xf32>) -> tensor<2x1x2x2xf32>
    %1 = fresco.concat %0, %0, %0 {axis = 1 : i64} : (tensor<2x1x2x2xf32>, tensor<2x1x2x2xf32>, tensor<2x1x2x2xf32>) -> tensor<2x3x2x2xf32>
    return %1 : tensor<2x3x2x2xf32>
  }
}
