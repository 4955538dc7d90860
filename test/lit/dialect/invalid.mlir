// RUN: fresco-opt %s -split-input-file -verify-diagnostics

func.func @param_empty_name() -> tensor<4xf32> {
  // expected-error @+1 {{needs a non-empty checkpoint tensor name}}
  %w = fresco.param "" : tensor<4xf32>
  return %w : tensor<4xf32>
}

// -----

func.func @param_component_path() -> tensor<4xf32> {
  // expected-error @+1 {{parameter 'w': component '../unet' must be a plain folder name}}
  %w = fresco.param "w" {component = "../unet"} : tensor<4xf32>
  return %w : tensor<4xf32>
}

// -----

func.func @param_dynamic() -> tensor<?xf32> {
  // expected-error @+1 {{parameter 'w' must have a static shape}}
  %w = fresco.param "w" : tensor<?xf32>
  return %w : tensor<?xf32>
}

// -----

func.func @linear_in_mismatch(%x: tensor<2x8xf32>, %w: tensor<4x7xf32>) -> tensor<2x4xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{input features 8 do not match weight [out, in] = [4, 7]}}
  %0 = fresco.linear %x, %w : (tensor<2x8xf32>, tensor<4x7xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @linear_weight_rank(%x: tensor<2x8xf32>, %w: tensor<8xf32>) -> tensor<2x4xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{weight must be [out, in], got [8]}}
  %0 = fresco.linear %x, %w : (tensor<2x8xf32>, tensor<8xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @linear_bias(%x: tensor<2x8xf32>, %w: tensor<4x8xf32>, %b: tensor<3xf32>) -> tensor<2x4xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{bias must be [4], got [3]}}
  %0 = fresco.linear %x, %w, %b : (tensor<2x8xf32>, tensor<4x8xf32>, tensor<3xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @linear_residual_shape(%x: tensor<2x8xf32>, %w: tensor<4x8xf32>, %r: tensor<4xf32>) -> tensor<2x4xf32> {
  // A residual is summed without broadcast: it has the result's shape.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{residual must be the result's shape [2, 4], got [4]}}
  %0 = fresco.linear %x, %w residual %r : (tensor<2x8xf32>, tensor<4x8xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @linear_residual_activation(%x: tensor<2x8xf32>, %w: tensor<4x8xf32>, %r: tensor<2x4xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{cannot take both an activation and a residual}}
  %0 = fresco.linear %x, %w residual %r {activation = "silu"} : (tensor<2x8xf32>, tensor<4x8xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @linear_gate_tokens(%x: tensor<2x3x8xf32>, %w: tensor<4x8xf32>, %g: tensor<2x3x1xf32>) -> tensor<2x3x4xf32> {
  // A gate is per sample and output feature, not per token.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{gate must be [2, 1, 4] (or 1 in the first dimension) for the result [2, 3, 4], got [2, 3, 1]}}
  %0 = fresco.linear %x, %w gate %g : (tensor<2x3x8xf32>, tensor<4x8xf32>, tensor<2x3x1xf32>) -> tensor<2x3x4xf32>
  return %0 : tensor<2x3x4xf32>
}

// -----

func.func @linear_gate_rank(%x: tensor<2x3x8xf32>, %w: tensor<4x8xf32>, %g: tensor<4xf32>) -> tensor<2x3x4xf32> {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{gate must be [2, 1, 4] (or 1 in the first dimension) for the result [2, 3, 4], got [4]}}
  %0 = fresco.linear %x, %w gate %g : (tensor<2x3x8xf32>, tensor<4x8xf32>, tensor<4xf32>) -> tensor<2x3x4xf32>
  return %0 : tensor<2x3x4xf32>
}

// -----

func.func @linear_gate_batch(%x: tensor<2x3x8xf32>, %w: tensor<4x8xf32>, %g: tensor<3x1x4xf32>) -> tensor<2x3x4xf32> {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{gate must be [2, 1, 4] (or 1 in the first dimension) for the result [2, 3, 4], got [3, 1, 4]}}
  %0 = fresco.linear %x, %w gate %g : (tensor<2x3x8xf32>, tensor<4x8xf32>, tensor<3x1x4xf32>) -> tensor<2x3x4xf32>
  return %0 : tensor<2x3x4xf32>
}

// -----

func.func @linear_gate_activation(%x: tensor<2x3x8xf32>, %w: tensor<4x8xf32>, %g: tensor<2x1x4xf32>) -> tensor<2x3x4xf32> {
  // expected-error @+1 {{cannot take both an activation and a gate}}
  %0 = fresco.linear %x, %w gate %g {activation = "gelu_tanh"} : (tensor<2x3x8xf32>, tensor<4x8xf32>, tensor<2x1x4xf32>) -> tensor<2x3x4xf32>
  return %0 : tensor<2x3x4xf32>
}

// -----

func.func @linear_wrong_result(%x: tensor<2x8xf32>, %w: tensor<4x8xf32>) -> tensor<2x5xf32> {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{inferred type(s) 'tensor<2x4xf32>' are incompatible with return type(s) of operation 'tensor<2x5xf32>'}}
  %0 = fresco.linear %x, %w : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x5xf32>
  return %0 : tensor<2x5xf32>
}

// -----

func.func @linear_dynamic(%x: tensor<?x8xf32>, %w: tensor<4x8xf32>) -> tensor<?x4xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{input must have a static shape, got [?, 8]}}
  %0 = fresco.linear %x, %w : (tensor<?x8xf32>, tensor<4x8xf32>) -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @linear_int(%x: tensor<2x8xi64>, %w: tensor<4x8xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{operand #0 must be ranked tensor of 32-bit float or 16-bit float or bfloat16 type values}}
  %0 = fresco.linear %x, %w : (tensor<2x8xi64>, tensor<4x8xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @linear_activation(%x: tensor<2x8xf32>, %w: tensor<4x8xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{activation must be "gelu_tanh", "gelu" or "silu", got "relu"}}
  %0 = fresco.linear %x, %w {activation = "relu"} : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @linear_activation_type(%x: tensor<2x8xf32>, %w: tensor<4x8xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{attribute 'activation' failed to satisfy constraint: string attribute}}
  %0 = fresco.linear %x, %w {activation = 1 : i64} : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @conv_rank(%x: tensor<4x8x8xf32>, %w: tensor<2x4x3x3xf32>) -> tensor<2x6x6xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{input must be NCHW (rank 4), got [4, 8, 8]}}
  %0 = fresco.conv2d %x, %w : (tensor<4x8x8xf32>, tensor<2x4x3x3xf32>) -> tensor<2x6x6xf32>
  return %0 : tensor<2x6x6xf32>
}

// -----

func.func @conv_weight_rank(%x: tensor<1x4x8x8xf32>, %w: tensor<2x4x3xf32>) -> tensor<1x2x6x6xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{weight must be OIHW (rank 4), got [2, 4, 3]}}
  %0 = fresco.conv2d %x, %w : (tensor<1x4x8x8xf32>, tensor<2x4x3xf32>) -> tensor<1x2x6x6xf32>
  return %0 : tensor<1x2x6x6xf32>
}

// -----

func.func @conv_channels(%x: tensor<1x3x8x8xf32>, %w: tensor<2x4x3x3xf32>) -> tensor<1x2x6x6xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{input has 3 channels but the weight expects 4}}
  %0 = fresco.conv2d %x, %w : (tensor<1x3x8x8xf32>, tensor<2x4x3x3xf32>) -> tensor<1x2x6x6xf32>
  return %0 : tensor<1x2x6x6xf32>
}

// -----

func.func @conv_strides(%x: tensor<1x4x8x8xf32>, %w: tensor<2x4x3x3xf32>) -> tensor<1x2x6x6xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{strides and padding need 2 values each}}
  %0 = fresco.conv2d %x, %w {strides = array<i64: 1>} : (tensor<1x4x8x8xf32>, tensor<2x4x3x3xf32>) -> tensor<1x2x6x6xf32>
  return %0 : tensor<1x2x6x6xf32>
}

// -----

func.func @conv_zero_stride(%x: tensor<1x4x8x8xf32>, %w: tensor<2x4x3x3xf32>) -> tensor<1x2x6x6xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{strides must be positive and padding non-negative}}
  %0 = fresco.conv2d %x, %w {strides = array<i64: 0, 1>} : (tensor<1x4x8x8xf32>, tensor<2x4x3x3xf32>) -> tensor<1x2x6x6xf32>
  return %0 : tensor<1x2x6x6xf32>
}

// -----

func.func @conv_kernel_too_big(%x: tensor<1x4x2x2xf32>, %w: tensor<2x4x3x3xf32>) -> tensor<1x2x1x1xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{kernel [2, 4, 3, 3] is larger than the padded input [1, 4, 2, 2]}}
  %0 = fresco.conv2d %x, %w : (tensor<1x4x2x2xf32>, tensor<2x4x3x3xf32>) -> tensor<1x2x1x1xf32>
  return %0 : tensor<1x2x1x1xf32>
}

// -----

func.func @conv_bias(%x: tensor<1x4x8x8xf32>, %w: tensor<2x4x3x3xf32>, %b: tensor<4xf32>) -> tensor<1x2x6x6xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{bias must be [2], got [4]}}
  %0 = fresco.conv2d %x, %w, %b : (tensor<1x4x8x8xf32>, tensor<2x4x3x3xf32>, tensor<4xf32>) -> tensor<1x2x6x6xf32>
  return %0 : tensor<1x2x6x6xf32>
}

// -----

func.func @layer_norm_one_affine(%x: tensor<2x8xf32>, %g: tensor<8xf32>) -> tensor<2x8xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{takes either no affine operands or both weight and bias, got 1}}
  %0 = fresco.layer_norm %x, %g {epsilon = 1.0e-5 : f64} : (tensor<2x8xf32>, tensor<8xf32>) -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

func.func @mul_add_addend_shape(%g: tensor<2x1x8xf32>, %x: tensor<2x3x8xf32>, %c: tensor<1x3x8xf32>) -> tensor<2x3x8xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{c must be a * b's [2, 3, 8], got [1, 3, 8]}}
  %0 = fresco.mul_add %g, %x, %c : (tensor<2x1x8xf32>, tensor<2x3x8xf32>, tensor<1x3x8xf32>) -> tensor<2x3x8xf32>
  return %0 : tensor<2x3x8xf32>
}

// -----

func.func @rope_table_ids_columns(%ids: tensor<7x2xf32>) -> tensor<7x8x2xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{ids must be [T, 3] (one column per axes_dim entry), got [7, 2]}}
  %0 = fresco.rope_table %ids {theta = 1.0e+04 : f64, axes_dim = array<i64: 4, 6, 6>} : (tensor<7x2xf32>) -> tensor<7x8x2xf32>
  return %0 : tensor<7x8x2xf32>
}

// -----

func.func @rope_table_odd_axis(%ids: tensor<7x3xf32>) -> tensor<7x8x2xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{axes_dim entries must be positive and even, got [4, 5, 7]}}
  %0 = fresco.rope_table %ids {theta = 1.0e+04 : f64, axes_dim = array<i64: 4, 5, 7>} : (tensor<7x3xf32>) -> tensor<7x8x2xf32>
  return %0 : tensor<7x8x2xf32>
}

// -----

func.func @rope_table_theta(%ids: tensor<7x3xf32>) -> tensor<7x8x2xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{theta must be positive}}
  %0 = fresco.rope_table %ids {theta = 0.0 : f64, axes_dim = array<i64: 4, 6, 6>} : (tensor<7x3xf32>) -> tensor<7x8x2xf32>
  return %0 : tensor<7x8x2xf32>
}

// -----

func.func @rope_heads(%q: tensor<2x7x32xf32>, %t: tensor<7x8x2xf32>) -> tensor<2x7x32xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{width 32 is not divisible by num_heads = 3}}
  %0 = fresco.rope %q, %t {num_heads = 3 : i64} : (tensor<2x7x32xf32>, tensor<7x8x2xf32>) -> tensor<2x7x32xf32>
  return %0 : tensor<2x7x32xf32>
}

// -----

func.func @rope_table_shape(%q: tensor<2x7x32xf32>, %t: tensor<7x8x2xf32>) -> tensor<2x7x32xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{table must be [7, 4, 2] for an input [2, 7, 32] with 4 heads, got [7, 8, 2]}}
  %0 = fresco.rope %q, %t {num_heads = 4 : i64} : (tensor<2x7x32xf32>, tensor<7x8x2xf32>) -> tensor<2x7x32xf32>
  return %0 : tensor<2x7x32xf32>
}

// -----

func.func @rope_norm_without_epsilon(%q: tensor<2x7x32xf32>, %t: tensor<7x8x2xf32>, %w: tensor<16xf32>) -> tensor<2x7x32xf32> {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{norm weight and epsilon must be given together (the fused RMS norm)}}
  %0 = fresco.rope %q, %t norm(%w) {num_heads = 2 : i64} : (tensor<2x7x32xf32>, tensor<7x8x2xf32>, tensor<16xf32>) -> tensor<2x7x32xf32>
  return %0 : tensor<2x7x32xf32>
}

// -----

func.func @rope_epsilon_without_norm(%q: tensor<2x7x32xf32>, %t: tensor<7x8x2xf32>) -> tensor<2x7x32xf32> {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{norm weight and epsilon must be given together (the fused RMS norm)}}
  %0 = fresco.rope %q, %t {epsilon = 1.0e-6 : f64, num_heads = 2 : i64} : (tensor<2x7x32xf32>, tensor<7x8x2xf32>) -> tensor<2x7x32xf32>
  return %0 : tensor<2x7x32xf32>
}

// -----

func.func @rope_norm_weight_size(%q: tensor<2x7x32xf32>, %t: tensor<7x8x2xf32>, %w: tensor<32xf32>) -> tensor<2x7x32xf32> {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{norm weight must be [16] (head_dim of 2 heads), got [32]}}
  %0 = fresco.rope %q, %t norm(%w) {epsilon = 1.0e-6 : f64, num_heads = 2 : i64} : (tensor<2x7x32xf32>, tensor<7x8x2xf32>, tensor<32xf32>) -> tensor<2x7x32xf32>
  return %0 : tensor<2x7x32xf32>
}

// -----

func.func @rope_norm_epsilon(%q: tensor<2x7x32xf32>, %t: tensor<7x8x2xf32>, %w: tensor<16xf32>) -> tensor<2x7x32xf32> {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{epsilon must be positive and finite, got 0}}
  %0 = fresco.rope %q, %t norm(%w) {epsilon = 0.0 : f64, num_heads = 2 : i64} : (tensor<2x7x32xf32>, tensor<7x8x2xf32>, tensor<16xf32>) -> tensor<2x7x32xf32>
  return %0 : tensor<2x7x32xf32>
}

// -----

func.func @rope_odd_head(%q: tensor<2x7x30xf32>, %t: tensor<7x8x2xf32>) -> tensor<2x7x30xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{head_dim 15 is odd: the rotation turns pairs of columns}}
  %0 = fresco.rope %q, %t {num_heads = 2 : i64} : (tensor<2x7x30xf32>, tensor<7x8x2xf32>) -> tensor<2x7x30xf32>
  return %0 : tensor<2x7x30xf32>
}

// -----

func.func @rope_tokens(%q: tensor<2x6x32xf32>, %t: tensor<7x8x2xf32>) -> tensor<2x6x32xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{table must be [6, 8, 2] for an input [2, 6, 32] with 2 heads, got [7, 8, 2]}}
  %0 = fresco.rope %q, %t {num_heads = 2 : i64} : (tensor<2x6x32xf32>, tensor<7x8x2xf32>) -> tensor<2x6x32xf32>
  return %0 : tensor<2x6x32xf32>
}

// -----

func.func @rms_norm_weight_shape(%x: tensor<2x8xf32>, %g: tensor<7xf32>) -> tensor<2x8xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{weight must be [8], got [7]}}
  %0 = fresco.rms_norm %x, %g {epsilon = 1.0e-5 : f64} : (tensor<2x8xf32>, tensor<7xf32>) -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

func.func @rms_norm_epsilon(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{epsilon must be positive}}
  %0 = fresco.rms_norm %x {epsilon = 0.0 : f64} : (tensor<2x8xf32>) -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

func.func @rms_norm_epsilon_nan(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{epsilon must be positive and finite}}
  %0 = fresco.rms_norm %x {epsilon = 0x7FF8000000000000 : f64} : (tensor<2x8xf32>) -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

func.func @rms_norm_epsilon_below_f32(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  // Positive as f64, but 0 as the f32 a plan stores.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{epsilon 1.000000e-50 is outside f32's range (a plan stores it as f32)}}
  %0 = fresco.rms_norm %x {epsilon = 1.0e-50 : f64} : (tensor<2x8xf32>) -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

func.func @group_norm_epsilon_above_f32(%x: tensor<1x4x2x2xf32>) -> tensor<1x4x2x2xf32> {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{epsilon 1.000000e+39 is outside f32's range}}
  %0 = fresco.group_norm %x {num_groups = 2 : i64, epsilon = 1.0e39 : f64} : (tensor<1x4x2x2xf32>) -> tensor<1x4x2x2xf32>
  return %0 : tensor<1x4x2x2xf32>
}

// -----

func.func @layer_norm_affine_shape(%x: tensor<2x8xf32>, %g: tensor<7xf32>) -> tensor<2x8xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{weight and bias must be [8], got [7]}}
  %0 = fresco.layer_norm %x, %g, %g {epsilon = 1.0e-5 : f64} : (tensor<2x8xf32>, tensor<7xf32>, tensor<7xf32>) -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

func.func @layer_norm_eps(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{epsilon must be positive}}
  %0 = fresco.layer_norm %x {epsilon = 0.0 : f64} : (tensor<2x8xf32>) -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

func.func @layer_norm_one_modulation(%x: tensor<2x3x8xf32>, %s: tensor<2x8xf32>) -> tensor<2x3x8xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{takes either no modulation operands or both shift and scale, got 1}}
  %0 = fresco.layer_norm %x modulate(%s) {epsilon = 1.0e-5 : f64} : (tensor<2x3x8xf32>, tensor<2x8xf32>) -> tensor<2x3x8xf32>
  return %0 : tensor<2x3x8xf32>
}

// -----

func.func @layer_norm_modulation_shape(%x: tensor<2x3x8xf32>, %g: tensor<8xf32>, %s: tensor<2x8xf32>, %t: tensor<1x8xf32>) -> tensor<2x3x8xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{shift and scale must be [2, 8], got [2, 8] and [1, 8]}}
  %0 = fresco.layer_norm %x, %g, %g modulate(%s, %t) {epsilon = 1.0e-5 : f64} : (tensor<2x3x8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<2x8xf32>, tensor<1x8xf32>) -> tensor<2x3x8xf32>
  return %0 : tensor<2x3x8xf32>
}

// -----

func.func @layer_norm_modulation_width(%x: tensor<2x3x8xf32>, %s: tensor<2x4xf32>) -> tensor<2x3x8xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{shift and scale must be [2, 8], got [2, 4] and [2, 4]}}
  %0 = fresco.layer_norm %x modulate(%s, %s) {epsilon = 1.0e-5 : f64} : (tensor<2x3x8xf32>, tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x3x8xf32>
  return %0 : tensor<2x3x8xf32>
}

// -----

func.func @layer_norm_modulation_rank(%x: tensor<2x8xf32>, %s: tensor<2x8xf32>) -> tensor<2x8xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{a modulated input must be [B, T, D], got [2, 8]}}
  %0 = fresco.layer_norm %x modulate(%s, %s) {epsilon = 1.0e-5 : f64} : (tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

func.func @layer_norm_modulation_dynamic(%x: tensor<2x3x8xf32>, %s: tensor<2x8xf32>, %t: tensor<?x8xf32>) -> tensor<2x3x8xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{scale must have a static shape, got [?, 8]}}
  %0 = fresco.layer_norm %x modulate(%s, %t) {epsilon = 1.0e-5 : f64} : (tensor<2x3x8xf32>, tensor<2x8xf32>, tensor<?x8xf32>) -> tensor<2x3x8xf32>
  return %0 : tensor<2x3x8xf32>
}

// -----

func.func @modulate_rank(%x: tensor<2x8xf32>, %s: tensor<2x8xf32>) -> tensor<2x8xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{input must be [B, T, D], got [2, 8]}}
  %0 = fresco.modulate %x, %s, %s : (tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

func.func @modulate_shift(%x: tensor<2x3x8xf32>, %s: tensor<2x8xf32>, %t: tensor<1x8xf32>) -> tensor<2x3x8xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{shift and scale must be [2, 8], got [2, 8] and [1, 8]}}
  %0 = fresco.modulate %x, %s, %t : (tensor<2x3x8xf32>, tensor<2x8xf32>, tensor<1x8xf32>) -> tensor<2x3x8xf32>
  return %0 : tensor<2x3x8xf32>
}

// -----

func.func @attention_heads(%q: tensor<2x5x8xf32>) -> tensor<2x5x8xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{width 8 is not divisible by num_heads = 3}}
  %0 = fresco.attention %q, %q, %q {num_heads = 3 : i64, scale = 0.5 : f64} : (tensor<2x5x8xf32>, tensor<2x5x8xf32>, tensor<2x5x8xf32>) -> tensor<2x5x8xf32>
  return %0 : tensor<2x5x8xf32>
}

// -----

func.func @attention_zero_heads(%q: tensor<2x5x8xf32>) -> tensor<2x5x8xf32> {
  // expected-error @+1 {{attribute 'num_heads' failed to satisfy constraint}}
  %0 = fresco.attention %q, %q, %q {num_heads = 0 : i64, scale = 0.5 : f64} : (tensor<2x5x8xf32>, tensor<2x5x8xf32>, tensor<2x5x8xf32>) -> tensor<2x5x8xf32>
  return %0 : tensor<2x5x8xf32>
}

// -----

func.func @attention_rank(%q: tensor<10x8xf32>) -> tensor<10x8xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{query, key and value must be [B, T, heads*head_dim], got [10, 8]}}
  %0 = fresco.attention %q, %q, %q {num_heads = 2 : i64, scale = 0.5 : f64} : (tensor<10x8xf32>, tensor<10x8xf32>, tensor<10x8xf32>) -> tensor<10x8xf32>
  return %0 : tensor<10x8xf32>
}

// -----

func.func @attention_kv(%q: tensor<2x5x8xf32>, %k: tensor<2x6x8xf32>, %v: tensor<2x7x8xf32>) -> tensor<2x5x8xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{key [2, 6, 8] and value [2, 7, 8] differ}}
  %0 = fresco.attention %q, %k, %v {num_heads = 2 : i64, scale = 0.5 : f64} : (tensor<2x5x8xf32>, tensor<2x6x8xf32>, tensor<2x7x8xf32>) -> tensor<2x5x8xf32>
  return %0 : tensor<2x5x8xf32>
}

// -----

func.func @attention_qk(%q: tensor<2x5x8xf32>, %k: tensor<3x5x8xf32>) -> tensor<2x5x8xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{query [2, 5, 8] and key [3, 5, 8] must agree in batch and width}}
  %0 = fresco.attention %q, %k, %k {num_heads = 2 : i64, scale = 0.5 : f64} : (tensor<2x5x8xf32>, tensor<3x5x8xf32>, tensor<3x5x8xf32>) -> tensor<2x5x8xf32>
  return %0 : tensor<2x5x8xf32>
}

// -----

func.func @gelu_mode(%x: tensor<4xf32>) -> tensor<4xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{approximate must be "none" or "tanh", got "fast"}}
  %0 = fresco.gelu %x {approximate = "fast"} : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @silu_dynamic(%x: tensor<?xf32>) -> tensor<?xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{input must have a static shape, got [?]}}
  %0 = fresco.silu %x : (tensor<?xf32>) -> tensor<?xf32>
  return %0 : tensor<?xf32>
}

// -----

func.func @add_broadcast(%a: tensor<2x3xf32>, %b: tensor<2x4xf32>) -> tensor<2x4xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{shapes [2, 3] and [2, 4] do not broadcast}}
  %0 = fresco.add %a, %b : (tensor<2x3xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @mul_types(%a: tensor<2xf32>, %b: tensor<2xf16>) -> tensor<2xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand element types differ: 'f32' vs 'f16'}}
  %0 = fresco.mul %a, %b : (tensor<2xf32>, tensor<2xf16>) -> tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

func.func @timestep_rank(%t: tensor<2x1xi64>) -> tensor<2x8xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{timesteps must be [B], got [2, 1]}}
  %0 = fresco.timestep_embedding %t {dim = 8 : i64} : (tensor<2x1xi64>) -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

func.func @timestep_dim(%t: tensor<2xi64>) -> tensor<2x2xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{dim 2 is too small for downscale_freq_shift 1}}
  %0 = fresco.timestep_embedding %t {dim = 2 : i64} : (tensor<2xi64>) -> tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}

// -----

func.func @embedding_table(%t: tensor<8xf32>, %ids: tensor<2xi64>) -> tensor<2x8xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{table must be [num_embeddings, dim], got [8]}}
  %0 = fresco.embedding %t, %ids : (tensor<8xf32>, tensor<2xi64>) -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

func.func @embedding_ids(%t: tensor<4x8xf32>, %ids: tensor<2xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{operand #1 must be ranked tensor of 64-bit signless integer or 32-bit signless integer values}}
  %0 = fresco.embedding %t, %ids : (tensor<4x8xf32>, tensor<2xf32>) -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

func.func @pos_embed_dim() -> tensor<1x4x6xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{dim must be divisible by 4, got 6}}
  %0 = fresco.pos_embed_2d {grid_h = 2 : i64, grid_w = 2 : i64, dim = 6 : i64, base_size = 2.0 : f64} : tensor<1x4x6xf32>
  return %0 : tensor<1x4x6xf32>
}

// -----

func.func @pos_embed_base() -> tensor<1x4x8xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{base_size and interpolation_scale must be positive}}
  %0 = fresco.pos_embed_2d {grid_h = 2 : i64, grid_w = 2 : i64, dim = 8 : i64, base_size = 0.0 : f64} : tensor<1x4x8xf32>
  return %0 : tensor<1x4x8xf32>
}

// -----

func.func @pos_embed_window_past_grid() -> tensor<1x6x8xf32> {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{window of 3 x 2 from (2, 0) passes the 4 x 4 grid}}
  %0 = fresco.pos_embed_2d {grid_h = 4 : i64, grid_w = 4 : i64, dim = 8 : i64, base_size = 2.0 : f64, row_start = 2 : i64, rows = 3 : i64, cols = 2 : i64} : tensor<1x6x8xf32>
  return %0 : tensor<1x6x8xf32>
}

// -----

func.func @pos_embed_window_start() -> tensor<1x4x8xf32> {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{window start (0, 4) is not inside the 4 x 4 grid}}
  %0 = fresco.pos_embed_2d {grid_h = 4 : i64, grid_w = 4 : i64, dim = 8 : i64, base_size = 2.0 : f64, col_start = 4 : i64} : tensor<1x4x8xf32>
  return %0 : tensor<1x4x8xf32>
}

// -----

func.func @reshape_count(%x: tensor<2x4xf32>) -> tensor<9xf32> {
  // expected-error @+1 {{cannot reshape [2, 4] (8 elements) to [9] (9 elements)}}
  %0 = fresco.reshape %x : tensor<2x4xf32> -> tensor<9xf32>
  return %0 : tensor<9xf32>
}

// -----

func.func @reshape_type(%x: tensor<2x4xf32>) -> tensor<8xi64> {
  // expected-error @+1 {{cannot change the element type}}
  %0 = fresco.reshape %x : tensor<2x4xf32> -> tensor<8xi64>
  return %0 : tensor<8xi64>
}

// -----

func.func @reshape_dynamic(%x: tensor<?x4xf32>) -> tensor<8xf32> {
  // expected-error @+1 {{needs static shapes}}
  %0 = fresco.reshape %x : tensor<?x4xf32> -> tensor<8xf32>
  return %0 : tensor<8xf32>
}

// -----

func.func @transpose_perm(%x: tensor<2x4xf32>) -> tensor<4x2xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{permutation [1, 1] is not a permutation of 0..1}}
  %0 = fresco.transpose %x {permutation = array<i64: 1, 1>} : (tensor<2x4xf32>) -> tensor<4x2xf32>
  return %0 : tensor<4x2xf32>
}

// -----

func.func @transpose_size(%x: tensor<2x4xf32>) -> tensor<4x2xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{permutation has 3 entries for an input of rank 2}}
  %0 = fresco.transpose %x {permutation = array<i64: 1, 0, 2>} : (tensor<2x4xf32>) -> tensor<4x2xf32>
  return %0 : tensor<4x2xf32>
}

// -----

func.func @slice_range(%x: tensor<2x4xf32>) -> tensor<2x3xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{range [2, 5) is outside axis 1 of size 4}}
  %0 = fresco.slice %x {axis = 1 : i64, start = 2 : i64, size = 3 : i64} : (tensor<2x4xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

func.func @slice_axis(%x: tensor<2x4xf32>) -> tensor<2x3xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{axis 2 is out of range for rank 2}}
  %0 = fresco.slice %x {axis = 2 : i64, start = 0 : i64, size = 3 : i64} : (tensor<2x4xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

func.func @concat_shapes(%a: tensor<2x4xf32>, %b: tensor<3x4xf32>) -> tensor<2x8xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{input [3, 4] does not match [2, 4] outside axis 1}}
  %0 = fresco.concat %a, %b {axis = 1 : i64} : (tensor<2x4xf32>, tensor<3x4xf32>) -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

func.func @concat_empty() -> tensor<2x8xf32> {
  // The type-inference interface adds its own note of the failure.
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{needs at least one input}}
  %0 = fresco.concat {axis = 1 : i64} : () -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

func.func @group_norm_groups(%x: tensor<1x6x4x4xf32>) -> tensor<1x6x4x4xf32> {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{channels 6 are not divisible by num_groups = 4}}
  %0 = fresco.group_norm %x {num_groups = 4 : i64, epsilon = 1.0e-6 : f64} : (tensor<1x6x4x4xf32>) -> tensor<1x6x4x4xf32>
  return %0 : tensor<1x6x4x4xf32>
}

// -----

func.func @group_norm_rank(%x: tensor<6xf32>) -> tensor<6xf32> {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{input must be [N, C, ...], got [6]}}
  %0 = fresco.group_norm %x {num_groups = 2 : i64, epsilon = 1.0e-6 : f64} : (tensor<6xf32>) -> tensor<6xf32>
  return %0 : tensor<6xf32>
}

// -----

func.func @group_norm_affine(%x: tensor<1x6x4x4xf32>, %g: tensor<3xf32>) -> tensor<1x6x4x4xf32> {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{weight and bias must be [6], got [3]}}
  %0 = fresco.group_norm %x, %g, %g {num_groups = 3 : i64, epsilon = 1.0e-6 : f64} : (tensor<1x6x4x4xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<1x6x4x4xf32>
  return %0 : tensor<1x6x4x4xf32>
}

// -----

func.func @group_norm_one_affine(%x: tensor<1x6x4x4xf32>, %g: tensor<6xf32>) -> tensor<1x6x4x4xf32> {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{takes either no affine operands or both weight and bias, got 1}}
  %0 = fresco.group_norm %x, %g {num_groups = 3 : i64, epsilon = 1.0e-6 : f64} : (tensor<1x6x4x4xf32>, tensor<6xf32>) -> tensor<1x6x4x4xf32>
  return %0 : tensor<1x6x4x4xf32>
}

// -----

func.func @group_norm_eps(%x: tensor<1x6x4x4xf32>) -> tensor<1x6x4x4xf32> {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{epsilon must be positive}}
  %0 = fresco.group_norm %x {num_groups = 3 : i64, epsilon = 0.0 : f64} : (tensor<1x6x4x4xf32>) -> tensor<1x6x4x4xf32>
  return %0 : tensor<1x6x4x4xf32>
}

// -----

func.func @upsample_rank(%x: tensor<8x4x4xf32>) -> tensor<8x8x8xf32> {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{input must be NCHW, got [8, 4, 4]}}
  %0 = fresco.upsample_nearest %x : (tensor<8x4x4xf32>) -> tensor<8x8x8xf32>
  return %0 : tensor<8x8x8xf32>
}

// -----

func.func @upsample_scale(%x: tensor<1x8x4x4xf32>) -> tensor<1x8x4x4xf32> {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{scale needs two positive integer factors}}
  %0 = fresco.upsample_nearest %x {scale = array<i64: 0, 2>} : (tensor<1x8x4x4xf32>) -> tensor<1x8x4x4xf32>
  return %0 : tensor<1x8x4x4xf32>
}

// -----

func.func @sub_broadcast(%a: tensor<3x2xf32>, %b: tensor<2x3xf32>) -> tensor<3x3xf32> {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{shapes [3, 2] and [2, 3] do not broadcast}}
  %0 = fresco.sub %a, %b : (tensor<3x2xf32>, tensor<2x3xf32>) -> tensor<3x3xf32>
  return %0 : tensor<3x3xf32>
}

// -----

func.func @div_types(%a: tensor<2xbf16>, %b: tensor<2xf32>) -> tensor<2xbf16> {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand element types differ: 'bf16' vs 'f32'}}
  %0 = fresco.div %a, %b : (tensor<2xbf16>, tensor<2xf32>) -> tensor<2xbf16>
  return %0 : tensor<2xbf16>
}

// -----

func.func @modulate_dynamic(%x: tensor<?x3x8xf32>, %s: tensor<2x8xf32>) -> tensor<?x3x8xf32> {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{input must have a static shape, got [?, 3, 8]}}
  %0 = fresco.modulate %x, %s, %s : (tensor<?x3x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<?x3x8xf32>
  return %0 : tensor<?x3x8xf32>
}

// -----

func.func @wait_not_a_collective(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{waits for the result of a shard.all_to_all, shard.all_gather or shard.all_reduce marked fresco.async}}
  %0 = fresco.wait %x : tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

shard.grid @grid(shape = 2)
func.func @wait_not_only_reader(%x: tensor<2x4xf32>) -> (tensor<4x4xf32>, tensor<4x4xf32>) {
  %g = shard.all_gather %x on @grid grid_axes = [0] gather_axis = 0 {fresco.async} : tensor<2x4xf32> -> tensor<4x4xf32>
  // expected-error @+1 {{must be the only reader of the collective's result}}
  %0 = fresco.wait %g : tensor<4x4xf32>
  return %0, %g : tensor<4x4xf32>, tensor<4x4xf32>
}

// -----

func.func @key_valid_segments(%q: tensor<1x6x8xf32>) -> tensor<1x6x8xf32> {
  // expected-error @+1 {{key_valid has 4 segments, which do not divide the 6 keys}}
  %0 = fresco.attention %q, %q, %q {num_heads = 2 : i64, scale = 0.5 : f64, key_valid = array<i64: 1, 1, 1, 1>} : (tensor<1x6x8xf32>, tensor<1x6x8xf32>, tensor<1x6x8xf32>) -> tensor<1x6x8xf32>
  return %0 : tensor<1x6x8xf32>
}

// -----

func.func @key_valid_segment_overflow(%q: tensor<1x6x8xf32>) -> tensor<1x6x8xf32> {
  // expected-error @+1 {{key_valid [4, 1] counts more keys than a segment of 3 holds}}
  %0 = fresco.attention %q, %q, %q {num_heads = 2 : i64, scale = 0.5 : f64, key_valid = array<i64: 4, 1>} : (tensor<1x6x8xf32>, tensor<1x6x8xf32>, tensor<1x6x8xf32>) -> tensor<1x6x8xf32>
  return %0 : tensor<1x6x8xf32>
}

// -----

func.func @key_valid_empty_softmax(%q: tensor<1x6x8xf32>) -> tensor<1x6x8xf32> {
  // expected-error @+1 {{key_valid leaves no key to attend to}}
  %0 = fresco.attention %q, %q, %q {num_heads = 2 : i64, scale = 0.5 : f64, key_valid = array<i64: 0, 0>} : (tensor<1x6x8xf32>, tensor<1x6x8xf32>, tensor<1x6x8xf32>) -> tensor<1x6x8xf32>
  return %0 : tensor<1x6x8xf32>
}

// -----

func.func @checkpoint_shape_rank() -> tensor<16x12xf32> {
  // expected-error @+1 {{parameter 'q.weight': checkpoint_shape [12] must be positive sizes, one per dimension of [16, 12]}}
  %0 = fresco.param "q.weight" {checkpoint_shape = array<i64: 12>} : tensor<16x12xf32>
  return %0 : tensor<16x12xf32>
}

// -----

func.func @checkpoint_shape_larger() -> tensor<16x12xf32> {
  // expected-error @+1 {{parameter 'q.weight': checkpoint_shape [20, 12] is larger than its padded shape [16, 12]}}
  %0 = fresco.param "q.weight" {checkpoint_shape = array<i64: 20, 12>} : tensor<16x12xf32>
  return %0 : tensor<16x12xf32>
}

// -----

func.func @pad_too_small(%x: tensor<2x5xf32>) -> tensor<2x4xf32> {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{input of 5 elements at 0 does not fit in 4 along axis 1}}
  %0 = fresco.pad %x {axis = 1 : i64, start = 0 : i64, size = 4 : i64} : (tensor<2x5xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @attention_bias_shape(%q: tensor<2x5x8xf32>, %b: tensor<2x5x4xf32>) -> tensor<2x5x8xf32> {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{bias must be [heads, Tq, Tk] = [2, 5, 5], got [2, 5, 4]}}
  %0 = fresco.attention %q, %q, %q, %b {num_heads = 2 : i64, scale = 1.0 : f64} : (tensor<2x5x8xf32>, tensor<2x5x8xf32>, tensor<2x5x8xf32>, tensor<2x5x4xf32>) -> tensor<2x5x8xf32>
  return %0 : tensor<2x5x8xf32>
}

// -----

func.func @attention_causal_lengths(%q: tensor<2x5x8xf32>, %kv: tensor<2x7x8xf32>) -> tensor<2x5x8xf32> {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{causal attention needs as many queries as keys, got 5 and 7}}
  %0 = fresco.attention %q, %kv, %kv {num_heads = 2 : i64, scale = 0.5 : f64, causal} : (tensor<2x5x8xf32>, tensor<2x7x8xf32>, tensor<2x7x8xf32>) -> tensor<2x5x8xf32>
  return %0 : tensor<2x5x8xf32>
}

// -----

func.func @attention_causal_key_valid(%q: tensor<2x5x8xf32>) -> tensor<2x5x8xf32> {
  // expected-error @+1 {{a causal mask or score bias cannot be combined with ring_axes or key_valid}}
  %0 = fresco.attention %q, %q, %q {num_heads = 2 : i64, scale = 0.5 : f64, causal, key_valid = array<i64: 4>} : (tensor<2x5x8xf32>, tensor<2x5x8xf32>, tensor<2x5x8xf32>) -> tensor<2x5x8xf32>
  return %0 : tensor<2x5x8xf32>
}

// -----

func.func @eos_pool_ids(%x: tensor<2x5x8xf32>, %ids: tensor<2x4xi64>) -> tensor<2x8xf32> {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{ids must be [B, T] = [2, 5], got [2, 4]}}
  %0 = fresco.eos_pool %x, %ids {token_id = 7 : i64} : (tensor<2x5x8xf32>, tensor<2x4xi64>) -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

func.func @eos_pool_rank(%x: tensor<10x8xf32>, %ids: tensor<10xi64>) -> tensor<8xf32> {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{input must be [B, T, D], got [10, 8]}}
  %0 = fresco.eos_pool %x, %ids {token_id = 7 : i64} : (tensor<10x8xf32>, tensor<10xi64>) -> tensor<8xf32>
  return %0 : tensor<8xf32>
}

// -----

func.func @relative_position_bias_table(%t: tensor<16x2xf32>) -> tensor<2x5x5xf32> {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{table must be [32, heads], got [16, 2]}}
  %0 = fresco.relative_position_bias %t {num_buckets = 32 : i64, max_distance = 20 : i64, bidirectional, query_length = 5 : i64, key_length = 5 : i64} : (tensor<16x2xf32>) -> tensor<2x5x5xf32>
  return %0 : tensor<2x5x5xf32>
}

// -----

func.func @relative_position_bias_distance(%t: tensor<32x2xf32>) -> tensor<2x5x5xf32> {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{max_distance 8 must exceed the 8 exact buckets}}
  %0 = fresco.relative_position_bias %t {num_buckets = 32 : i64, max_distance = 8 : i64, bidirectional, query_length = 5 : i64, key_length = 5 : i64} : (tensor<32x2xf32>) -> tensor<2x5x5xf32>
  return %0 : tensor<2x5x5xf32>
}

// -----

func.func @stale_gather_blocks(%k: tensor<2x8x16xf32>) -> tensor<2x12x16xf32> {
  // expected-error @+1 {{result [2, 12, 16] is not blocks of [2, 8, 16] along dimension 1}}
  %0 = fresco.stale_gather %k {axes = #fresco.axes<[0]>, dim = 1 : i64} : tensor<2x8x16xf32> -> tensor<2x12x16xf32>
  return %0 : tensor<2x12x16xf32>
}

// -----

func.func @stale_gather_other_dim(%k: tensor<2x8x16xf32>) -> tensor<2x16x32xf32> {
  // expected-error @+1 {{result [2, 16, 32] is not blocks of [2, 8, 16] along dimension 1}}
  %0 = fresco.stale_gather %k {axes = #fresco.axes<[0]>, dim = 1 : i64} : tensor<2x8x16xf32> -> tensor<2x16x32xf32>
  return %0 : tensor<2x16x32xf32>
}

// -----

func.func @stale_gather_dim(%k: tensor<2x8x16xf32>) -> tensor<2x8x16xf32> {
  // expected-error @+1 {{dim 3 is out of range for rank 3}}
  %0 = fresco.stale_gather %k {axes = #fresco.axes<[0]>, dim = 3 : i64} : tensor<2x8x16xf32> -> tensor<2x8x16xf32>
  return %0 : tensor<2x8x16xf32>
}

// -----

func.func @stale_gather_type(%k: tensor<2x8x16xf32>) -> tensor<2x16x16xf16> {
  // expected-error @+1 {{cannot change the element type}}
  %0 = fresco.stale_gather %k {axes = #fresco.axes<[0]>, dim = 1 : i64} : tensor<2x8x16xf32> -> tensor<2x16x16xf16>
  return %0 : tensor<2x16x16xf16>
}

// -----

func.func @patch_cache_blocks(%k: tensor<2x8x16xf32>) -> tensor<2x12x16xf32> {
  // expected-error @+1 {{result [2, 12, 16] is not 2 blocks of [2, 8, 16] along dimension 1}}
  %0 = fresco.patch_cache %k {cache = 0 : i64, dim = 1 : i64, index = 0 : i64, parts = 2 : i64} : tensor<2x8x16xf32> -> tensor<2x12x16xf32>
  return %0 : tensor<2x12x16xf32>
}

// -----

func.func @patch_cache_index(%k: tensor<2x8x16xf32>) -> tensor<2x16x16xf32> {
  // expected-error @+1 {{block 2 of 2 parts is out of range}}
  %0 = fresco.patch_cache %k {cache = 0 : i64, dim = 1 : i64, index = 2 : i64, parts = 2 : i64} : tensor<2x8x16xf32> -> tensor<2x16x16xf32>
  return %0 : tensor<2x16x16xf32>
}

// -----

func.func @patch_cache_id(%k: tensor<2x8x16xf32>) -> tensor<2x16x16xf32> {
  // expected-error @+1 {{cache id -1 is negative}}
  %0 = fresco.patch_cache %k {cache = -1 : i64, dim = 1 : i64, index = 0 : i64, parts = 2 : i64} : tensor<2x8x16xf32> -> tensor<2x16x16xf32>
  return %0 : tensor<2x16x16xf32>
}

// -----

func.func @patch_cache_dim(%k: tensor<2x8x16xf32>) -> tensor<2x8x16xf32> {
  // expected-error @+1 {{dim 3 is out of range for rank 3}}
  %0 = fresco.patch_cache %k {cache = 0 : i64, dim = 3 : i64, index = 0 : i64, parts = 1 : i64} : tensor<2x8x16xf32> -> tensor<2x8x16xf32>
  return %0 : tensor<2x8x16xf32>
}

// -----

func.func @conv2d_valid_rows_beyond_input(%x: tensor<1x4x6x4xf32>, %w: tensor<4x4x3x3xf32>) -> tensor<1x4x6x4xf32> {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{valid_rows 7 exceeds the input's 6 rows}}
  %0 = fresco.conv2d %x, %w {padding = array<i64: 1, 1>, valid_rows = 7 : i64} : (tensor<1x4x6x4xf32>, tensor<4x4x3x3xf32>) -> tensor<1x4x6x4xf32>
  return %0 : tensor<1x4x6x4xf32>
}

// -----

func.func @group_norm_valid_rows_rank(%x: tensor<1x4x6xf32>) -> tensor<1x4x6xf32> {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{valid_rows needs an [N, C, H, W] input, got [1, 4, 6]}}
  %0 = fresco.group_norm %x {num_groups = 2 : i64, epsilon = 1.0e-6 : f64, valid_rows = 3 : i64} : (tensor<1x4x6xf32>) -> tensor<1x4x6xf32>
  return %0 : tensor<1x4x6xf32>
}

// -----

func.func @group_norm_valid_rows_beyond_input(%x: tensor<1x4x6x2xf32>) -> tensor<1x4x6x2xf32> {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{valid_rows 9 exceeds the input's 6 rows}}
  %0 = fresco.group_norm %x {num_groups = 2 : i64, epsilon = 1.0e-6 : f64, valid_rows = 9 : i64} : (tensor<1x4x6x2xf32>) -> tensor<1x4x6x2xf32>
  return %0 : tensor<1x4x6x2xf32>
}

// -----

func.func @group_norm_valid_rows_zero(%x: tensor<1x4x6x2xf32>) -> tensor<1x4x6x2xf32> {
  // expected-error @+1 {{attribute 'valid_rows' failed to satisfy constraint}}
  %0 = fresco.group_norm %x {num_groups = 2 : i64, epsilon = 1.0e-6 : f64, valid_rows = 0 : i64} : (tensor<1x4x6x2xf32>) -> tensor<1x4x6x2xf32>
  return %0 : tensor<1x4x6x2xf32>
}
