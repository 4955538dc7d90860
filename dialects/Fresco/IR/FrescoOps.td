//===- FrescoOps.td - fresco dialect ops -------------------*- tablegen -*-===//
#ifndef FRESCO_OPS_TD
#define FRESCO_OPS_TD

include "dialects/Fresco/IR/FrescoAttributes.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

// An op whose single result type is inferred from its operands and
// attributes; the printed form keeps every type visible.
class Fresco_InferredOp<string mnemonic, list<Trait> traits = []>
    : Fresco_Op<mnemonic, !listconcat(traits, [Pure, InferTypeOpAdaptor])> {
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Parameters
//===----------------------------------------------------------------------===//

def Fresco_ParamOp : Fresco_Op<"param", [Pure]> {
  let summary = "a model parameter loaded from the checkpoint";
  let description = [{
    `name` is the checkpoint tensor name exactly as in the diffusers
    state_dict (e.g. `transformer_blocks.0.attn1.to_q.weight`).

    With `checkpoint_shape` (set by fresco-pad-uneven), the checkpoint
    tensor has that shape and the parameter is it zero-padded at the end of
    each dimension to the declared (global) shape: padded heads and MLP
    features contribute exact zeros.

    With `offsets` (set by fresco-specialize-ranks, in place of a
    `fresco.sharding`), the parameter is the slice [offsets, offsets +
    shape) of that (padded) tensor, which one rank loads.

    With `component`, the tensor is read from that component's checkpoint
    (the subfolder of a pipeline folder) instead of the function's
    `fresco.component`: a function that runs two models as one, such as a
    UNet with its ControlNet, names each parameter's folder.

    ```mlir
    %w = fresco.param "proj_out_2.weight" : tensor<32x64xf32>
    %c = fresco.param "conv_in.weight" {component = "controlnet"}
        : tensor<32x4x3x3xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name,
                       OptionalAttr<DenseI64ArrayAttr>:$checkpoint_shape,
                       OptionalAttr<DenseI64ArrayAttr>:$offsets,
                       OptionalAttr<StrAttr>:$component);
  let results = (outs Fresco_FloatTensor:$result);
  let assemblyFormat = "$name attr-dict `:` type($result)";
  let builders = [
    // A parameter that is the checkpoint tensor as it is.
    OpBuilder<(ins "::mlir::Type":$type, "::mlir::StringAttr":$name), [{
      build($_builder, $_state, type, name, ::mlir::DenseI64ArrayAttr(),
            ::mlir::DenseI64ArrayAttr(), ::mlir::StringAttr());
    }]>
  ];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Linear algebra
//===----------------------------------------------------------------------===//

def Fresco_LinearOp
    : Fresco_InferredOp<"linear", [AttrSizedOperandSegments]> {
  let summary = "y = x w^T + b with diffusers' weight layout [out, in]";
  let description = [{
    `input` is [..., in], `weight` is [out, in], the optional `bias` is
    [out]; the result is [..., out].

    The optional `activation` applies an activation to the result in the
    same kernel (a GEMM epilogue): `"gelu_tanh"` (GELU, tanh
    approximation), `"gelu"` (exact, erf) or `"silu"`. Absent means none.
    Models do not build it; `fresco-fuse-epilogues` sets it.

    The optional `residual` (the result's shape) is added to the result in
    the same kernel: `x w^T + b + residual`, a residual connection (or the
    other part of a split linear) without a pass of its own over memory.
    Not with an activation (the
    GEMM epilogue would apply it after the sum). Models do not build it;
    `fresco-fuse-epilogues` sets it.

    The optional `gate` scales the linear's result before the residual is
    added: `residual + gate * (x w^T + b)` (without a residual,
    `gate * (x w^T + b)`), the gated residual of DiT, SD3 and Flux blocks
    in one kernel. It has the result's rank, the result's last dimension
    (the output features), 1 in every middle dimension, and the result's
    first dimension or 1 first: one gate per sample and channel, broadcast
    over the tokens. Not with an activation. Set by
    `fresco-fuse-epilogues`.

    ```mlir
    %y = fresco.linear %x, %w, %b {activation = "gelu_tanh"}
        : (tensor<2x8xf32>, tensor<16x8xf32>, tensor<16xf32>) -> tensor<2x16xf32>
    %z = fresco.linear %x, %w, %b residual %r
        : (tensor<2x8xf32>, tensor<16x8xf32>, tensor<16xf32>, tensor<2x16xf32>)
          -> tensor<2x16xf32>
    %g = fresco.linear %t, %w, %b gate %gate residual %r
        : (tensor<2x4x8xf32>, tensor<16x8xf32>, tensor<16xf32>,
           tensor<2x1x16xf32>, tensor<2x4x16xf32>) -> tensor<2x4x16xf32>
    ```
  }];
  let arguments = (ins Fresco_FloatTensor:$input, Fresco_FloatTensor:$weight,
                       Optional<Fresco_FloatTensor>:$bias,
                       Optional<Fresco_FloatTensor>:$gate,
                       Optional<Fresco_FloatTensor>:$residual,
                       OptionalAttr<StrAttr>:$activation);
  let results = (outs Fresco_FloatTensor:$result);
  // Without a gate or residual it prints as before the operands existed.
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? (`gate` $gate^)? (`residual` $residual^)?
    attr-dict `:`
    functional-type(operands, results)
  }];
  // Model builders create plain linears (bias may be null).
  let builders = [
    OpBuilder<(ins "Value":$input, "Value":$weight, "Value":$bias), [{
      build($_builder, $_state, input, weight, bias, Value(), Value(),
            StringAttr());
    }]>
  ];
  let hasVerifier = 1;
}

def Fresco_Conv2dOp : Fresco_InferredOp<"conv2d"> {
  let summary = "2-D convolution, NCHW input, OIHW weight, optional bias [O]";
  let description = [{
    With `valid_rows` (set by fresco-pad-uneven on a UNet whose rows it
    padded so that a sequence split divides every level), the input's rows
    from `valid_rows` on are padding that the convolution reads as zeros,
    as its own padding. A sequence split of the rows hands it to the halo
    exchange (which zeroes those rows); the plan has no convolution that
    takes it, so the emitter refuses one that still carries it.
  }];
  let arguments = (ins Fresco_FloatTensor:$input, Fresco_FloatTensor:$weight,
                       Optional<Fresco_FloatTensor>:$bias,
                       DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$strides,
                       DefaultValuedAttr<DenseI64ArrayAttr, "{0, 0}">:$padding,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$valid_rows);
  let results = (outs Fresco_FloatTensor:$result);
}

//===----------------------------------------------------------------------===//
// Normalisation and attention
//===----------------------------------------------------------------------===//

def Fresco_LayerNormOp
    : Fresco_InferredOp<"layer_norm", [AttrSizedOperandSegments]> {
  let summary = "layer norm over the last dimension, optionally modulated";
  let description = [{
    Without `affine` operands this is diffusers' `elementwise_affine=False`;
    with two (`weight`, `bias`, each [D]) they scale and shift.

    The optional `modulation` operands (`shift`, `scale`, each [B, D] for an
    input [B, T, D]) apply adaLN modulation to the (affine) result in the
    same kernel: `y * (1 + scale[:, None]) + shift[:, None]`, as a following
    `fresco.modulate` would. Models do not build it;
    `fresco-fuse-modulation` sets it.

    ```mlir
    %y = fresco.layer_norm %x modulate(%shift, %scale) {epsilon = 1.0e-6 : f64}
        : (tensor<2x3x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x3x8xf32>
    ```
  }];
  let arguments = (ins Fresco_FloatTensor:$input,
                       Variadic<Fresco_FloatTensor>:$affine,
                       Variadic<Fresco_FloatTensor>:$modulation,
                       F64Attr:$epsilon);
  let results = (outs Fresco_FloatTensor:$result);
  // The unmodulated form prints as before this operand group existed.
  let assemblyFormat = [{
    $input (`,` $affine^)? (`modulate` `(` $modulation^ `)`)? attr-dict `:`
    functional-type(operands, results)
  }];
  // Model builders create plain norms.
  let builders = [
    OpBuilder<(ins "Value":$input, "ValueRange":$affine,
                   "FloatAttr":$epsilon), [{
      build($_builder, $_state, input, affine, ValueRange(), epsilon);
    }]>
  ];
  let extraClassDeclaration = [{
    /// The modulation's shift and scale [B, D], or null when unmodulated.
    Value getShift() {
      return getModulation().size() == 2 ? getModulation()[0] : Value();
    }
    Value getScale() {
      return getModulation().size() == 2 ? getModulation()[1] : Value();
    }
  }];
}

def Fresco_RmsNormOp : Fresco_InferredOp<"rms_norm"> {
  let summary = "RMS norm over the last dimension, optionally scaled";
  let description = [{
    `x * rsqrt(mean(x^2) + epsilon)` over the last dimension, times the
    optional `weight` [D], as diffusers' RMSNorm (Flux's and SD3's q/k
    norms): no mean is subtracted and there is no bias.

    ```mlir
    %y = fresco.rms_norm %x, %w {epsilon = 1.0e-6 : f64}
        : (tensor<2x3x8xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
    ```
  }];
  let arguments = (ins Fresco_FloatTensor:$input,
                       Optional<Fresco_FloatTensor>:$weight,
                       F64Attr:$epsilon);
  let results = (outs Fresco_FloatTensor:$result);
  let assemblyFormat = [{
    $input (`,` $weight^)? attr-dict `:` functional-type(operands, results)
  }];
}

def Fresco_GroupNormOp : Fresco_InferredOp<"group_norm"> {
  let summary = "group norm over channel groups of an [N, C, ...] tensor";
  let description = [{
    Statistics over each of `num_groups` groups of C / num_groups channels
    and all spatial positions; the optional `affine` operands (`weight`,
    `bias`, each [C]) scale and shift per channel, as torch.nn.GroupNorm.

    With `stats_axes` (set when a sequence split cuts a UNet's rows), the
    input is this rank's block of positions, equal blocks on every rank
    along those axes of the module's `@grid`: the statistics are taken
    over all the blocks (the runtime gathers each block's mean and squared
    deviations), so the result is this rank's block of the whole norm.

    With `valid_rows` (an [N, C, H, W] input whose rows fresco-pad-uneven
    padded), the whole tensor's rows from `valid_rows` on are padding, left
    out of the statistics; the result's padding rows are finite and
    unspecified. Under `stats_axes` it counts the whole tensor's rows, the
    blocks being its bands in order.
  }];
  let arguments = (ins Fresco_FloatTensor:$input,
                       Variadic<Fresco_FloatTensor>:$affine,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_groups,
                       F64Attr:$epsilon,
                       OptionalAttr<Fresco_GridAxesAttr>:$stats_axes,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$valid_rows);
  let results = (outs Fresco_FloatTensor:$result);
}

def Fresco_ModulateOp : Fresco_InferredOp<"modulate"> {
  let summary = "adaLN modulation: x * (1 + scale[:, None]) + shift[:, None]";
  let description = [{
    `input` is [B, T, D]; `shift` and `scale` are [B, D].
  }];
  let arguments = (ins Fresco_FloatTensor:$input, Fresco_FloatTensor:$shift,
                       Fresco_FloatTensor:$scale);
  let results = (outs Fresco_FloatTensor:$result);
}

def Fresco_AttentionOp : Fresco_InferredOp<"attention"> {
  let summary = "multi-head scaled dot-product attention";
  let description = [{
    `query` is [B, Tq, H*Dh], `key` and `value` are [B, Tk, H*Dh] with head
    h in columns [h*Dh, (h+1)*Dh) as diffusers' Attention lays them out.
    `num_heads` is H; `scale` multiplies q k^T (1/sqrt(Dh) in diffusers).

    With `ring_axes` (set by fresco-ring-parallel), `key` and `value` are
    this rank's block of the sequence along those axes of the module's
    `@grid`: the op attends to the whole sequence by passing the blocks
    around the ring of ranks on those axes (ring attention). Tk is then the
    local block's length.

    With `key_valid` (set by fresco-pad-uneven and the sequence passes), some
    keys are padding to ignore: the key block is S equal segments of Tk / S
    tokens, and segment s holds real keys in its first `key_valid[s]`
    tokens. With `ring_axes` over R ranks it has R * S entries, row m for
    the block that starts on the ring's m-th rank.

    The optional `bias` [H, Tq, Tk] is added to the scaled scores of every
    batch row before the softmax (T5's relative position bias). With
    `causal`, query i attends to keys 0..i only (CLIP's text encoder; Tq ==
    Tk). Neither combines with `ring_axes` or `key_valid`: both index the
    whole key sequence.

    ```mlir
    %o = fresco.attention %q, %k, %v, %bias {num_heads = 2 : i64, scale = 1.0 : f64}
        : (tensor<1x5x16xf32>, tensor<1x5x16xf32>, tensor<1x5x16xf32>, tensor<2x5x5xf32>) -> tensor<1x5x16xf32>
    ```
  }];
  let arguments = (ins Fresco_FloatTensor:$query, Fresco_FloatTensor:$key,
                       Fresco_FloatTensor:$value,
                       Optional<Fresco_FloatTensor>:$bias,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_heads,
                       F64Attr:$scale,
                       OptionalAttr<Fresco_GridAxesAttr>:$ring_axes,
                       OptionalAttr<DenseI64ArrayAttr>:$key_valid,
                       UnitAttr:$causal);
  let results = (outs Fresco_FloatTensor:$result);
  let hasVerifier = 1;
  let builders = [
    // Every key real.
    OpBuilder<(ins "::mlir::Value":$query, "::mlir::Value":$key,
                   "::mlir::Value":$value, "::mlir::IntegerAttr":$num_heads,
                   "::mlir::FloatAttr":$scale,
                   "::mlir::fresco::GridAxesAttr":$ring_axes), [{
      build($_builder, $_state, query, key, value, ::mlir::Value(),
            num_heads, scale, ring_axes, ::mlir::DenseI64ArrayAttr(),
            ::mlir::UnitAttr());
    }]>
  ];
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

def Fresco_GeluOp : Fresco_InferredOp<"gelu"> {
  let summary = "GELU, exact (`none`) or tanh approximation (`tanh`)";
  let arguments = (ins Fresco_FloatTensor:$input,
                       DefaultValuedAttr<StrAttr, "\"none\"">:$approximate);
  let results = (outs Fresco_FloatTensor:$result);
}

def Fresco_SiluOp : Fresco_InferredOp<"silu"> {
  let summary = "x * sigmoid(x)";
  let arguments = (ins Fresco_FloatTensor:$input);
  let results = (outs Fresco_FloatTensor:$result);
}

def Fresco_QuickGeluOp : Fresco_InferredOp<"quick_gelu"> {
  let summary = "x * sigmoid(1.702 x) (CLIP's quick_gelu)";
  let arguments = (ins Fresco_FloatTensor:$input);
  let results = (outs Fresco_FloatTensor:$result);
}

class Fresco_BinaryOp<string mnemonic, string what>
    : Fresco_InferredOp<mnemonic> {
  let summary = what # " with NumPy broadcasting";
  let arguments = (ins Fresco_FloatTensor:$lhs, Fresco_FloatTensor:$rhs);
  let results = (outs Fresco_FloatTensor:$result);
}

def Fresco_MulAddOp : Fresco_InferredOp<"mul_add"> {
  let summary = "a * b + c in one pass: a and b broadcast, c the result's shape";
  let description = [{
    DiT's gated residual `hidden + gate * attn_output` as one kernel (one
    read of each operand, one rounding under bf16 storage). `a` and `b`
    broadcast as NumPy does; `c` has exactly their broadcast shape. Models
    do not build it: `fresco-fuse-elementwise` forms it from a `mul` whose
    only use is an `add`.

    ```mlir
    %y = fresco.mul_add %gate, %attn, %hidden
        : (tensor<2x1x8xf32>, tensor<2x3x8xf32>, tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
    ```
  }];
  let arguments = (ins Fresco_FloatTensor:$a, Fresco_FloatTensor:$b,
                       Fresco_FloatTensor:$c);
  let results = (outs Fresco_FloatTensor:$result);
}

def Fresco_AddOp : Fresco_BinaryOp<"add", "elementwise sum">;
def Fresco_SubOp : Fresco_BinaryOp<"sub", "elementwise difference">;
def Fresco_MulOp : Fresco_BinaryOp<"mul", "elementwise product">;
def Fresco_DivOp : Fresco_BinaryOp<"div", "elementwise quotient">;

//===----------------------------------------------------------------------===//
// Embeddings
//===----------------------------------------------------------------------===//

def Fresco_TimestepEmbeddingOp : Fresco_InferredOp<"timestep_embedding"> {
  let summary = "sinusoidal timestep embedding (diffusers' get_timestep_embedding)";
  let description = [{
    `timesteps` is [B], integer or float; the result is [B, dim] f32.
  }];
  let arguments = (ins RankedTensorOf<[F32, I64, I32]>:$timesteps,
                       ConfinedAttr<I64Attr, [IntPositive]>:$dim,
                       DefaultValuedAttr<BoolAttr, "false">:$flip_sin_to_cos,
                       DefaultValuedAttr<F64Attr, "1.0">:$downscale_freq_shift,
                       DefaultValuedAttr<F64Attr, "1.0">:$scale,
                       DefaultValuedAttr<F64Attr, "10000.0">:$max_period);
  let results = (outs RankedTensorOf<[F32]>:$result);
}

def Fresco_EmbeddingOp : Fresco_InferredOp<"embedding"> {
  let summary = "table lookup: result[..., :] = table[ids[...], :]";
  let arguments = (ins Fresco_FloatTensor:$table, Fresco_IndexTensor:$ids);
  let results = (outs Fresco_FloatTensor:$result);
}

def Fresco_EosPoolOp : Fresco_InferredOp<"eos_pool"> {
  let summary = "the hidden state at each row's end-of-text token";
  let description = [{
    CLIPTextModel's pooled output: `input` [B, T, D], `ids` [B, T] ->
    [B, D], row b taken at the first position whose id is `token_id`
    (position 0 when none is), or with `argmax` at the first position of the
    row's largest id (transformers' rule for the legacy eos_token_id 2,
    where the end-of-text token has the largest id).

    ```mlir
    %p = fresco.eos_pool %h, %ids {token_id = 999 : i64}
        : (tensor<2x77x32xf32>, tensor<2x77xi64>) -> tensor<2x32xf32>
    ```
  }];
  let arguments = (ins Fresco_FloatTensor:$input, RankedTensorOf<[I64]>:$ids,
                       I64Attr:$token_id, UnitAttr:$argmax);
  let results = (outs Fresco_FloatTensor:$result);
}

def Fresco_RelativePositionBiasOp
    : Fresco_InferredOp<"relative_position_bias"> {
  let summary = "T5's relative position bias [H, Tq, Tk] from its bucket table";
  let description = [{
    `table` is [num_buckets, H] (T5's `relative_attention_bias.weight`);
    `result[h, i, j] = table[bucket(j - i), h]` with transformers'
    `T5Attention._relative_position_bucket` (log-spaced buckets up to
    `max_distance`; `bidirectional` for an encoder).

    ```mlir
    %b = fresco.relative_position_bias %t {num_buckets = 32 : i64, max_distance = 128 : i64,
        bidirectional, query_length = 8 : i64, key_length = 8 : i64}
        : (tensor<32x2xf32>) -> tensor<2x8x8xf32>
    ```
  }];
  let arguments = (ins Fresco_FloatTensor:$table,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_buckets,
                       ConfinedAttr<I64Attr, [IntPositive]>:$max_distance,
                       UnitAttr:$bidirectional,
                       ConfinedAttr<I64Attr, [IntPositive]>:$query_length,
                       ConfinedAttr<I64Attr, [IntPositive]>:$key_length);
  let results = (outs Fresco_FloatTensor:$result);
}

def Fresco_PosEmbed2dOp : Fresco_InferredOp<"pos_embed_2d"> {
  let summary = "2-D sin-cos position embedding (diffusers' get_2d_sincos_pos_embed)";
  let description = [{
    The table of a grid_h x grid_w grid: positions are scaled by
    base_size / grid and 1 / interpolation_scale as diffusers' PatchEmbed
    does. The result is its `rows` x `cols` window from (`row_start`,
    `col_start`), [1, rows * cols, dim]; rows or cols 0 (the default)
    reach the grid's end. SD3's cropped_pos_embed is such a window of its
    pos_embed_max_size table, computed without the table.
  }];
  let arguments = (ins ConfinedAttr<I64Attr, [IntPositive]>:$grid_h,
                       ConfinedAttr<I64Attr, [IntPositive]>:$grid_w,
                       ConfinedAttr<I64Attr, [IntPositive]>:$dim,
                       F64Attr:$base_size,
                       DefaultValuedAttr<F64Attr, "1.0">:$interpolation_scale,
                       DefaultValuedAttr<I64Attr, "0">:$row_start,
                       DefaultValuedAttr<I64Attr, "0">:$col_start,
                       DefaultValuedAttr<I64Attr, "0">:$rows,
                       DefaultValuedAttr<I64Attr, "0">:$cols);
  let results = (outs RankedTensorOf<[F32]>:$result);
  let assemblyFormat = "attr-dict `:` type($result)";
}

def Fresco_RopeTableOp : Fresco_InferredOp<"rope_table"> {
  let summary = "rotary position table from per-token ids (Flux's FluxPosEmbed)";
  let description = [{
    `ids` is [T, A]: one position per token and axis (Flux: A = 3, text
    tokens all zero, image tokens (0, row, column)). `axes_dim` gives each
    axis's share of the head dimension Dh = sum(axes_dim), each even. For
    the j-th pair of axis a's columns, the angle is
    `ids[t, a] * theta^(-2j / axes_dim[a])`, computed in float64 as
    diffusers does. The result is [T, Dh / 2, 2]: per token and pair, the
    cosine then the sine of its angle, each rounded once (diffusers keeps
    the same values twice, repeat-interleaved, in two [T, Dh] tables).

    ```mlir
    %t = fresco.rope_table %ids {theta = 1.0e+04 : f64, axes_dim = array<i64: 4, 6, 6>}
        : (tensor<24x3xf32>) -> tensor<24x8x2xf32>
    ```
  }];
  let arguments = (ins Fresco_FloatTensor:$ids, F64Attr:$theta,
                       DenseI64ArrayAttr:$axes_dim);
  let results = (outs Fresco_FloatTensor:$result);
}

def Fresco_RopeOp : Fresco_InferredOp<"rope"> {
  let summary = "rotate query/key pairs by a rotary table (interleaved pairs)";
  let description = [{
    `input` is [B, T, H*Dh] (head h in columns [h*Dh, (h+1)*Dh), as
    diffusers' Attention lays them out), `table` is a `fresco.rope_table`
    result [T, Dh / 2, 2]. Each head's adjacent pair (x0, x1) = columns
    (2j, 2j+1) becomes (x0 c - x1 s, x1 c + x0 s) with (c, s) =
    table[t, j], as diffusers' apply_rotary_emb with use_real=True and
    use_real_unbind_dim=-1 (Flux).

    With `norm(%w)` and `epsilon` (both or neither), each head's row of Dh
    columns is first RMS-normalised as a `fresco.rms_norm` over [..., Dh]
    with weight `w` [Dh] would do, `x * rsqrt(mean(x^2) + epsilon) * w`,
    and the normalised row is rotated without being rounded to the float
    storage in between: Flux's q/k norms and the rotation in one pass over
    q or k. Models do not build it; `fresco-fuse-rope-norm` sets it.

    ```mlir
    %r = fresco.rope %q, %t {num_heads = 2 : i64}
        : (tensor<1x24x32xf32>, tensor<24x8x2xf32>) -> tensor<1x24x32xf32>
    %n = fresco.rope %q, %t norm(%w) {epsilon = 1.0e-6 : f64, num_heads = 2 : i64}
        : (tensor<1x24x32xf32>, tensor<24x8x2xf32>, tensor<16xf32>)
        -> tensor<1x24x32xf32>
    ```
  }];
  let arguments = (ins Fresco_FloatTensor:$input, Fresco_FloatTensor:$table,
                       Optional<Fresco_FloatTensor>:$norm_weight,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_heads,
                       OptionalAttr<F64Attr>:$epsilon);
  let results = (outs Fresco_FloatTensor:$result);
  // The unnormalised form prints as before the norm existed.
  let assemblyFormat = [{
    $input `,` $table (`norm` `(` $norm_weight^ `)`)? attr-dict `:`
    functional-type(operands, results)
  }];
  // Model builders create plain rotations.
  let builders = [
    OpBuilder<(ins "Value":$input, "Value":$table,
                   "IntegerAttr":$num_heads), [{
      build($_builder, $_state, input, table, Value(), num_heads,
            FloatAttr());
    }]>
  ];
}

//===----------------------------------------------------------------------===//
// Layout
//===----------------------------------------------------------------------===//

def Fresco_UpsampleNearestOp : Fresco_InferredOp<"upsample_nearest"> {
  let summary = "nearest-neighbour upsampling of an NCHW tensor by integer factors";
  let arguments = (ins Fresco_FloatTensor:$input,
                       DefaultValuedAttr<DenseI64ArrayAttr, "{2, 2}">:$scale);
  let results = (outs Fresco_FloatTensor:$result);
}

//===----------------------------------------------------------------------===//
// Pipeline stages (fresco-pipeline-parallel)
//===----------------------------------------------------------------------===//

def Fresco_StageTransferOp : Fresco_Op<"stage_transfer",
    [AllTypesMatch<["input", "result"]>]> {
  let summary = "a value passed from one pipeline stage to a later one";
  let description = [{
    In a function split into pipeline stages (every op carries
    `fresco.stage`), the ranks of stage `from_stage` send `input` to the
    ranks of stage `to_stage` with the same coordinates on the other axes
    of `@grid` (along grid axis `axis`), where it becomes `result`.
  }];
  let arguments = (ins AnyRankedTensor:$input, I16Attr:$axis,
                       I64Attr:$from_stage, I64Attr:$to_stage);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def Fresco_StageBroadcastOp : Fresco_Op<"stage_broadcast",
    [AllTypesMatch<["input", "result"]>]> {
  let summary = "a value of one pipeline stage given to every stage";
  let description = [{
    `input`, computed by stage `from_stage`, becomes `result` on every
    stage of grid axis `axis` (a broadcast rooted at that stage): the
    denoiser's outputs, which every rank's sampling loop needs.
  }];
  let arguments = (ins AnyRankedTensor:$input, I16Attr:$axis,
                       I64Attr:$from_stage);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

//===----------------------------------------------------------------------===//
// One rank's transfers (fresco-specialize-ranks)
//===----------------------------------------------------------------------===//

def Fresco_SendOp : Fresco_Op<"send"> {
  let summary = "send a value to one member of a group of ranks";
  let description = [{
    In a function specialised for one rank: `input` goes to member `peer`
    (an index into `members`, world ranks in group order), matched by the
    `fresco.recv` with the same `tag` there. A pipeline stage transfer.

    ```mlir
    fresco.send %x {members = array<i32: 0, 1>, peer = 1 : i64, tag = 0 : i32} : tensor<2x8xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, DenseI32ArrayAttr:$members,
                       I64Attr:$peer, I32Attr:$tag);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let hasVerifier = 1;
}

def Fresco_RecvOp : Fresco_Op<"recv"> {
  let summary = "receive a value from one member of a group of ranks";
  let description = [{
    The counterpart of `fresco.send`: `result` comes from member `peer` of
    `members`, sent with the same `tag`.
  }];
  let arguments = (ins DenseI32ArrayAttr:$members, I64Attr:$peer,
                       I32Attr:$tag);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Fresco_BroadcastOp : Fresco_Op<"broadcast"> {
  let summary = "a value of one member given to every member of a group";
  let description = [{
    Member `root` of `members` has the value as its `input`; every member,
    the root too, gets it as `result`. The other members have no input.
  }];
  let arguments = (ins Optional<AnyRankedTensor>:$input,
                       DenseI32ArrayAttr:$members, I64Attr:$root);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "($input^ `:` type($input))? attr-dict `->` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Displaced patches (fresco-patch-parallel, DistriFusion)
//===----------------------------------------------------------------------===//

def Fresco_StaleGatherOp : Fresco_Op<"stale_gather"> {
  let summary = "a split tensor whole: this rank's block fresh, the others' "
                "from the previous run";
  let description = [{
    `input` is this rank's block of a tensor split along `dim` over `axes`
    of `@grid`; `result` is the whole tensor, the blocks in group order.
    This rank's block is `input`; every other block is the one its rank
    had in its previous run of the function (a denoising step earlier),
    except in the runs the pipeline marks fresh (its first steps), where
    all are this run's. So the exchange of this run's blocks can travel
    while the rest of the run computes. The op keeps state between runs:
    it is not pure, never merged or moved across another stale_gather.
    `segments` (optional), the sizes of the whole tensor's token segments
    along `dim` when it joins several (Flux's text and image tokens): each
    block then holds its share of every segment, so the whole tensor is in
    block order, not the segments' (attention does not mind).

    ```mlir
    %k = fresco.stale_gather %kb {axes = #fresco.axes<[0]>, dim = 1 : i64}
        : tensor<2x8x64xf32> -> tensor<2x16x64xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, Fresco_GridAxesAttr:$axes,
                       I64Attr:$dim,
                       OptionalAttr<DenseI64ArrayAttr>:$segments);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Fresco_PatchCacheOp : Fresco_Op<"patch_cache"> {
  let summary = "a tensor whole from a cache of its blocks, one block "
                "written now";
  let description = [{
    PipeFusion: a rank runs the patches of its tokens one after the other.
    The rank keeps, for each `cache` id, a tensor of `parts` blocks along
    `dim` that lives across runs and functions. The op writes `input` as
    block `index` and returns the whole cached tensor: blocks written
    earlier in this run are this run's, the others are those of the
    previous run (a denoising step earlier). With `parts = 1` the input is
    the whole tensor (the warm-up function writes every block at once).
    The op keeps state: it is not pure, never merged or moved.

    ```mlir
    %k = fresco.patch_cache %kb {cache = 0 : i64, index = 1 : i64,
                                 parts = 2 : i64, dim = 1 : i64}
        : tensor<2x8x64xf32> -> tensor<2x16x64xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, I64Attr:$cache, I64Attr:$index,
                       I64Attr:$parts, I64Attr:$dim);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Asynchronous collectives (fresco-place-waits)
//===----------------------------------------------------------------------===//

def Fresco_WaitOp : Fresco_Op<"wait", [AllTypesMatch<["input", "result"]>]> {
  let summary = "the completed result of a collective started earlier";
  let description = [{
    `input` is the result of a `shard.all_to_all`, `shard.all_gather` or
    `shard.all_reduce` marked `fresco.async`: it is started where it stands and runs while the
    ops up to this wait do; `result` is its value once complete, and every
    reader reads `result`. The wait is not pure: it stays where
    fresco-place-waits put it. In the plan it is a `Wait` instruction, and
    `result` shares `input`'s storage.
  }];
  let arguments = (ins AnyRankedTensor:$input);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let hasVerifier = 1;
}

def Fresco_ReshapeOp : Fresco_Op<"reshape", [Pure]> {
  let summary = "reinterpret a tensor with the same number of elements";
  let arguments = (ins AnyRankedTensor:$input);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Fresco_TransposeOp : Fresco_InferredOp<"transpose"> {
  let summary = "permute dimensions: result dim i is input dim permutation[i]";
  let arguments = (ins AnyRankedTensor:$input, DenseI64ArrayAttr:$permutation);
  let results = (outs AnyRankedTensor:$result);
}

def Fresco_SliceOp : Fresco_InferredOp<"slice"> {
  let summary = "elements [start, start + size) along one axis";
  let arguments = (ins AnyRankedTensor:$input, I64Attr:$axis, I64Attr:$start,
                       I64Attr:$size);
  let results = (outs AnyRankedTensor:$result);
}

def Fresco_PadOp : Fresco_InferredOp<"pad"> {
  let summary = "zeros around a tensor along one axis (the inverse of slice)";
  let description = [{
    The result has `size` elements along `axis`; the input fills
    [start, start + input size), every other element is zero.
    fresco-pad-uneven pads tokens to a multiple of the sequence degree.

    ```mlir
    %p = fresco.pad %x {axis = 1 : i64, start = 0 : i64, size = 28 : i64}
        : (tensor<2x25x48xf32>) -> tensor<2x28x48xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, I64Attr:$axis, I64Attr:$start,
                       I64Attr:$size);
  let results = (outs AnyRankedTensor:$result);
}

def Fresco_ConcatOp : Fresco_InferredOp<"concat"> {
  let summary = "join tensors along one axis";
  let arguments = (ins Variadic<AnyRankedTensor>:$inputs, I64Attr:$axis);
  let results = (outs AnyRankedTensor:$result);
}

#endif // FRESCO_OPS_TD
