// RUN: fresco-opt %s --fresco-create-grid="parallel=ring=4" --fresco-pad-uneven | FileCheck %s --check-prefix=PAD
// RUN: fresco-opt %s --fresco-create-grid="parallel=ring=4" --fresco-pad-uneven --fresco-ring-parallel --fresco-propagate-shardings | FileCheck %s --check-prefix=RING
// RUN: fresco-opt %s --fresco-create-grid="parallel=ring=3" --fresco-pad-uneven | FileCheck %s --check-prefix=EVEN

// SD3 with a ControlNet: the latents feed two patch embeddings (the
// transformer's and the net's), the control latents a third, all marked on
// their rows (3x3 patches). ring=4 divides no patch rows: each embedding's
// 9 tokens are padded to 12, once, and the split seeds all three.
// PAD-COUNT-3: fresco.pad {{.*}}fresco.sequence_seed, size = 12 : i64{{.*}} : (tensor<1x9x8xf32>) -> tensor<1x12x8xf32>
// PAD-NOT: fresco.pad
// RING-COUNT-3: shard.all_slice {{.*}} slice_axis = 1 : tensor<1x12x8xf32> -> tensor<1x3x8xf32>
// ring=3 divides the 3 patch rows: nothing to pad.
// EVEN-NOT: fresco.pad
func.func @sd3cn(%x: tensor<1x4x6x6xf32> {fresco.sequence_dim = 2 : i64}, %cond: tensor<1x4x6x6xf32> {fresco.sequence_dim = 2 : i64}) -> tensor<1x9x8xf32> {
  %w = fresco.param "pos_embed.proj.weight" : tensor<8x4x2x2xf32>
  %b = fresco.param "pos_embed.proj.bias" : tensor<8xf32>
  %wn = fresco.param "pos_embed.proj.weight" {component = "controlnet"} : tensor<8x4x2x2xf32>
  %bn = fresco.param "pos_embed.proj.bias" {component = "controlnet"} : tensor<8xf32>
  %wi = fresco.param "pos_embed_input.proj.weight" {component = "controlnet"} : tensor<8x4x2x2xf32>
  %bi = fresco.param "pos_embed_input.proj.bias" {component = "controlnet"} : tensor<8xf32>
  // The net: its embedding of the latents plus that of the control latents.
  %cn = fresco.conv2d %x, %wn, %bn {strides = array<i64: 2, 2>} : (tensor<1x4x6x6xf32>, tensor<8x4x2x2xf32>, tensor<8xf32>) -> tensor<1x8x3x3xf32>
  %fn = fresco.reshape %cn : tensor<1x8x3x3xf32> -> tensor<1x8x9xf32>
  %tn = fresco.transpose %fn {permutation = array<i64: 0, 2, 1>} : (tensor<1x8x9xf32>) -> tensor<1x9x8xf32>
  %ci = fresco.conv2d %cond, %wi, %bi {strides = array<i64: 2, 2>} : (tensor<1x4x6x6xf32>, tensor<8x4x2x2xf32>, tensor<8xf32>) -> tensor<1x8x3x3xf32>
  %fi = fresco.reshape %ci : tensor<1x8x3x3xf32> -> tensor<1x8x9xf32>
  %ti = fresco.transpose %fi {permutation = array<i64: 0, 2, 1>} : (tensor<1x8x9xf32>) -> tensor<1x9x8xf32>
  %net = fresco.add %tn, %ti : (tensor<1x9x8xf32>, tensor<1x9x8xf32>) -> tensor<1x9x8xf32>
  %an = fresco.attention %net, %net, %net {num_heads = 2 : i64, scale = 0.5 : f64} : (tensor<1x9x8xf32>, tensor<1x9x8xf32>, tensor<1x9x8xf32>) -> tensor<1x9x8xf32>
  // The transformer: its embedding of the latents plus the net's sample.
  %c = fresco.conv2d %x, %w, %b {strides = array<i64: 2, 2>} : (tensor<1x4x6x6xf32>, tensor<8x4x2x2xf32>, tensor<8xf32>) -> tensor<1x8x3x3xf32>
  %f = fresco.reshape %c : tensor<1x8x3x3xf32> -> tensor<1x8x9xf32>
  %t = fresco.transpose %f {permutation = array<i64: 0, 2, 1>} : (tensor<1x8x9xf32>) -> tensor<1x9x8xf32>
  %a = fresco.attention %t, %t, %t {num_heads = 2 : i64, scale = 0.5 : f64} : (tensor<1x9x8xf32>, tensor<1x9x8xf32>, tensor<1x9x8xf32>) -> tensor<1x9x8xf32>
  %r = fresco.add %a, %an : (tensor<1x9x8xf32>, tensor<1x9x8xf32>) -> tensor<1x9x8xf32>
  return %r : tensor<1x9x8xf32>
}
