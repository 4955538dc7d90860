#!/usr/bin/env python3
"""FluxTransformer2DModel in plain PyTorch (no diffusers): weights, inputs and the baseline for GPUs.

The lent GPU machines have PyTorch but neither diffusers nor network access. This file holds a
self-contained Flux transformer written from the model's math, op for op as diffusers 0.31 runs
it (including where diffusers computes in float32 whatever the model's dtype: the timestep
sinusoids, the RMS norms' mean squares, the rotary products), with parameters under diffusers'
state_dict names, so the folder it writes loads in diffusers and in Fresco alike
(test/e2e/torch_flux_parity.sh checks it against the real class in float64 on a tiny config).

  torch_flux.py make --config C.json --out DIR [--num-layers N] [--num-single-layers M]
      [--height 1024] [--width 1024] [--max-sequence-length 512] [--batch 1] [--seed 0]
      [--device cuda] [--dtype bfloat16]
      DIR/model: config.json (the block counts overridden where given) and
      diffusion_pytorch_model.safetensors, random weights drawn on --device and streamed to disk
      one tensor at a time (FLUX.1-dev's 11.9 G parameters are 23.8 GB in bf16): weights
      U(+-1/sqrt(fan_in)), biases U(+-0.1), norm gains 1 + U(+-0.1), as fresco-random-checkpoint
      draws them. DIR/in: the inputs of FluxTransformer2DModel.forward in its argument order
      (hidden_states [B, (H/16)(W/16), in_channels], encoder_hidden_states, pooled_projections,
      timestep in [0, 1], img_ids and txt_ids as FluxPipeline makes them, guidance for a model
      with guidance_embeds), float32 .npy files.
  torch_flux.py time --model DIR/model --inputs DIR/in [--device cuda] [--dtype bfloat16]
      [--warmup 3] [--runs 10] [--out y.npy] [--compile model|blocks]
      loads the folder, times --runs forwards after warm-up (CUDA events around each) and prints
      one JSON line (impl, median_s, runs, peak memory); --out saves the output (float32, or
      float64 for --dtype float64).
      --compile model wraps the whole model in torch.compile; blocks compiles each block (one
      graph per block kind where Dynamo inlines module instances, PyTorch 2.5 and later:
      minutes less compilation at full depth). Exit 4 without torch.compile.
  torch_flux.py flops --config C.json [--height ...] [--width ...] [--max-sequence-length ...]
      [--batch 1] [--num-layers N] [--num-single-layers M]
      prints the forward's FLOPs (2 per multiply-add; GEMMs and attention) as JSON.

Attention is F.scaled_dot_product_attention where torch has it (what diffusers'
FluxAttnProcessor2_0 calls), else softmax(q k^T / sqrt(d)) v. Matmuls in f32 run with TF32 off,
as Fresco's CUDA backend computes.
"""
import argparse
import json
import math
import os
import statistics
import struct
import sys
import time

import numpy as np

# FluxTransformer2DModel.forward's tensor arguments, in order.
INPUTS = ("hidden_states", "encoder_hidden_states", "pooled_projections", "timestep", "img_ids",
          "txt_ids", "guidance")


def with_depth(config: dict, num_layers, num_single_layers) -> dict:
    config = dict(config)
    if num_layers is not None:
        config["num_layers"] = num_layers
    if num_single_layers is not None:
        config["num_single_layers"] = num_single_layers
    return config


def build(torch, config: dict, device=None, dtype=None):
    """The transformer with its parameters on `device` in `dtype` (uninitialised on "meta")."""
    nn, F = torch.nn, torch.nn.functional
    fk = {"device": device, "dtype": dtype}
    H, Dh = config["num_attention_heads"], config["attention_head_dim"]
    d = H * Dh
    cin = config["in_channels"]
    p = config.get("patch_size", 1)
    axes = list(config.get("axes_dims_rope", [16, 56, 56]))
    if sum(axes) != Dh:
        sys.exit(f"axes_dims_rope {axes} does not add up to attention_head_dim {Dh}")
    sdpa = getattr(F, "scaled_dot_product_attention", None)

    def lin(i, o):
        return nn.Linear(i, o, **fk)

    def mlp(i, o):  # TimestepEmbedding / PixArtAlphaTextProjection (silu): linear_1, linear_2
        m = nn.Module()
        m.linear_1, m.linear_2 = lin(i, o), lin(o, o)
        return m

    def run_mlp(m, x):
        return m.linear_2(F.silu(m.linear_1(x)))

    def layer_norm(x):  # LayerNorm without affine, eps 1e-6 (every norm of the model)
        return F.layer_norm(x, (d,), eps=1e-6)

    class RMSNorm(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.empty(Dh, **fk))

        def forward(self, x):
            # The mean square in float32 whatever x's dtype; the weight's 16-bit dtype rounds.
            var = x.to(torch.float32).pow(2).mean(-1, keepdim=True)
            x = x * torch.rsqrt(var + 1e-6)
            if self.weight.dtype in (torch.float16, torch.bfloat16):
                x = x.to(self.weight.dtype)
            return x * self.weight

    def rotate(x, cos, sin):
        """apply_rotary_emb (interleaved pairs), its products in float32."""
        re, im = x.reshape(*x.shape[:-1], -1, 2).unbind(-1)
        rot = torch.stack([-im, re], dim=-1).flatten(3)
        return (x.float() * cos + rot.float() * sin).to(x.dtype)

    def attention(q, k, v):
        if sdpa is not None:
            return sdpa(q, k, v)
        return torch.softmax(q @ k.transpose(-2, -1) * Dh ** -0.5, dim=-1) @ v

    def heads(x, B):
        return x.view(B, -1, H, Dh).transpose(1, 2)

    class FeedForward(nn.Module):  # diffusers' FeedForward(gelu-approximate): net.0.proj, net.2
        def __init__(self):
            super().__init__()
            self.net = nn.ModuleList([nn.Module(), nn.Identity(), lin(4 * d, d)])
            self.net[0].proj = lin(d, 4 * d)

        def forward(self, x):
            return self.net[2](F.gelu(self.net[0].proj(x), approximate="tanh"))

    class JointAttention(nn.Module):
        def __init__(self, joint: bool):
            super().__init__()
            self.to_q, self.to_k, self.to_v = lin(d, d), lin(d, d), lin(d, d)
            self.norm_q, self.norm_k = RMSNorm(), RMSNorm()
            if joint:
                self.add_q_proj, self.add_k_proj, self.add_v_proj = lin(d, d), lin(d, d), lin(d, d)
                self.norm_added_q, self.norm_added_k = RMSNorm(), RMSNorm()
                self.to_out = nn.ModuleList([lin(d, d)])
                self.to_add_out = lin(d, d)

        def forward(self, x, rope, ctx=None):
            B = x.shape[0]
            q = self.norm_q(heads(self.to_q(x), B))
            k = self.norm_k(heads(self.to_k(x), B))
            v = heads(self.to_v(x), B)
            if ctx is not None:  # text tokens first in the joint sequence
                q = torch.cat([self.norm_added_q(heads(self.add_q_proj(ctx), B)), q], dim=2)
                k = torch.cat([self.norm_added_k(heads(self.add_k_proj(ctx), B)), k], dim=2)
                v = torch.cat([heads(self.add_v_proj(ctx), B), v], dim=2)
            cos, sin = rope
            q, k = rotate(q, cos, sin), rotate(k, cos, sin)
            a = attention(q, k, v).transpose(1, 2).reshape(B, -1, d).to(q.dtype)
            if ctx is None:
                return a
            L = ctx.shape[1]
            return self.to_out[0](a[:, L:]), self.to_add_out(a[:, :L])

    class AdaNorm(nn.Module):  # AdaLayerNormZero(Single): linear over silu(temb)
        def __init__(self, chunks: int):
            super().__init__()
            self.linear = lin(d, chunks * d)
            self.chunks = chunks

        def forward(self, temb):
            return self.linear(F.silu(temb)).chunk(self.chunks, dim=1)

    def clip16(x):
        return x.clip(-65504, 65504) if x.dtype == torch.float16 else x

    class DoubleBlock(nn.Module):  # FluxTransformerBlock
        def __init__(self):
            super().__init__()
            self.norm1, self.norm1_context = AdaNorm(6), AdaNorm(6)
            self.attn = JointAttention(True)
            self.ff, self.ff_context = FeedForward(), FeedForward()

        def forward(self, h, e, temb, rope):
            sh, sc, g, sh2, sc2, g2 = self.norm1(temb)
            csh, csc, cg, csh2, csc2, cg2 = self.norm1_context(temb)
            nh = layer_norm(h) * (1 + sc[:, None]) + sh[:, None]
            ne = layer_norm(e) * (1 + csc[:, None]) + csh[:, None]
            ah, ae = self.attn(nh, rope, ne)
            h = h + g.unsqueeze(1) * ah
            nh = layer_norm(h) * (1 + sc2[:, None]) + sh2[:, None]
            h = h + g2.unsqueeze(1) * self.ff(nh)
            e = e + cg.unsqueeze(1) * ae
            ne = layer_norm(e) * (1 + csc2[:, None]) + csh2[:, None]
            e = e + cg2.unsqueeze(1) * self.ff_context(ne)
            return clip16(e), h

    class SingleBlock(nn.Module):  # FluxSingleTransformerBlock
        def __init__(self):
            super().__init__()
            self.norm = AdaNorm(3)
            self.proj_mlp = lin(d, 4 * d)
            self.proj_out = lin(5 * d, d)
            self.attn = JointAttention(False)

        def forward(self, x, temb, rope):
            sh, sc, g = self.norm(temb)
            nx = layer_norm(x) * (1 + sc[:, None]) + sh[:, None]
            m = F.gelu(self.proj_mlp(nx), approximate="tanh")
            a = self.attn(nx, rope)
            return clip16(x + g.unsqueeze(1) * self.proj_out(torch.cat([a, m], dim=2)))

    def sinusoids(t):
        """Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=0), in float32."""
        half = 128
        freq = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
        arg = t[:, None].float() * freq[None]
        return torch.cat([torch.cos(arg), torch.sin(arg)], dim=-1)

    def rope_table(ids):
        """FluxPosEmbed(theta 10000): per axis, angles in float64, cos/sin repeated per pair."""
        pos = ids.float()
        cos, sin = [], []
        for i, dim in enumerate(axes):
            freqs = 1.0 / (10000 ** (torch.arange(0, dim, 2, dtype=torch.float64, device=ids.device)[: dim // 2]
                                     / dim))
            angles = torch.outer(pos[:, i], freqs)
            cos.append(angles.cos().repeat_interleave(2, dim=1).float())
            sin.append(angles.sin().repeat_interleave(2, dim=1).float())
        return torch.cat(cos, dim=-1), torch.cat(sin, dim=-1)

    class Flux(nn.Module):
        def __init__(self):
            super().__init__()
            self.time_text_embed = nn.Module()
            self.time_text_embed.timestep_embedder = mlp(256, d)
            if config.get("guidance_embeds", False):
                self.time_text_embed.guidance_embedder = mlp(256, d)
            self.time_text_embed.text_embedder = mlp(config["pooled_projection_dim"], d)
            self.context_embedder = lin(config["joint_attention_dim"], d)
            self.x_embedder = lin(cin, d)
            self.transformer_blocks = nn.ModuleList([DoubleBlock() for _ in range(config["num_layers"])])
            self.single_transformer_blocks = nn.ModuleList(
                [SingleBlock() for _ in range(config["num_single_layers"])])
            self.norm_out = nn.Module()
            self.norm_out.linear = lin(d, 2 * d)
            self.proj_out = lin(d, p * p * cin)

        def forward(self, hidden_states, encoder_hidden_states, pooled_projections, timestep, img_ids,
                    txt_ids, guidance=None):
            tte = self.time_text_embed
            h = self.x_embedder(hidden_states)
            dt = pooled_projections.dtype
            temb = run_mlp(tte.timestep_embedder, sinusoids(timestep.to(h.dtype) * 1000).to(dt))
            if guidance is not None:
                temb = temb + run_mlp(tte.guidance_embedder, sinusoids(guidance.to(h.dtype) * 1000).to(dt))
            temb = temb + run_mlp(tte.text_embedder, pooled_projections)
            e = self.context_embedder(encoder_hidden_states)
            rope = rope_table(torch.cat((txt_ids, img_ids), dim=0))
            for blk in self.transformer_blocks:
                e, h = blk(h, e, temb, rope)
            x = torch.cat([e, h], dim=1)
            for blk in self.single_transformer_blocks:
                x = blk(x, temb, rope)
            h = x[:, e.shape[1]:]
            # AdaLayerNormContinuous: scale first, then shift.
            scale, shift = self.norm_out.linear(F.silu(temb).to(h.dtype)).chunk(2, dim=1)
            h = layer_norm(h) * (1 + scale)[:, None, :] + shift[:, None, :]
            return self.proj_out(h)

    return Flux()


SAFETENSORS_DTYPES = {"float32": "F32", "bfloat16": "BF16", "float16": "F16", "float64": "F64"}


def write_safetensors(torch, path: str, specs, make_tensor, dtype_name: str) -> int:
    """Writes `specs` [(name, shape)] to `path` in the safetensors layout, one tensor at a time
    (safetensors' save_file holds every tensor and a serialised copy in memory: twice FLUX.1-dev's
    24 GB). make_tensor(name, shape) gives the tensor; returns the bytes written."""
    size = {"float32": 4, "bfloat16": 2, "float16": 2, "float64": 8}[dtype_name]
    header, offset = {}, 0
    for name, shape in specs:
        n = size * math.prod(shape)
        header[name] = {"dtype": SAFETENSORS_DTYPES[dtype_name], "shape": list(shape),
                        "data_offsets": [offset, offset + n]}
        offset += n
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned
    raw_view = {2: torch.int16, 4: torch.int32, 8: torch.int64}[size]  # numpy has no bfloat16
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for name, shape in specs:
            t = make_tensor(name, shape).contiguous()
            assert tuple(t.shape) == tuple(shape), name
            f.write(t.view(raw_view).cpu().numpy().data)
    return 8 + len(text) + offset


def make_inputs(config: dict, args) -> dict:
    """FluxTransformer2DModel.forward's inputs as FluxPipeline makes them (float32)."""
    if args.height % 16 or args.width % 16:
        sys.exit(f"--height and --width must be multiples of 16, got {args.height} x {args.width}")
    rng = np.random.default_rng(args.seed)
    b, length = args.batch, args.max_sequence_length
    rows, cols = args.height // 16, args.width // 16
    img_ids = np.zeros((rows, cols, 3))
    img_ids[..., 1] = np.arange(rows)[:, None]
    img_ids[..., 2] = np.arange(cols)[None, :]
    inputs = {
        "hidden_states": rng.standard_normal((b, rows * cols, config["in_channels"])),
        "encoder_hidden_states": rng.standard_normal((b, length, config["joint_attention_dim"])),
        "pooled_projections": rng.standard_normal((b, config["pooled_projection_dim"])),
        "timestep": rng.uniform(0.0, 1.0, size=b),
        "img_ids": img_ids.reshape(rows * cols, 3),
        "txt_ids": np.zeros((length, 3)),
    }
    if config.get("guidance_embeds", False):
        inputs["guidance"] = rng.uniform(1.0, 5.0, size=b)
    return {n: a.astype(np.float32) for n, a in inputs.items()}


def cmd_make(args) -> None:
    import torch

    with open(args.config) as f:
        config = with_depth(json.load(f), args.num_layers, args.num_single_layers)
    dev = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    specs = [(n, tuple(t.shape)) for n, t in build(torch, config, device="meta").state_dict().items()]
    gen = torch.Generator(device=dev).manual_seed(args.seed)

    def draw(name, shape):
        u = torch.rand(shape, generator=gen, device=dev, dtype=torch.float32) * 2 - 1
        if len(shape) >= 2:
            u = u / math.sqrt(math.prod(shape[1:]))
        elif name.endswith(".bias"):
            u = u * 0.1
        else:  # an RMS norm gain
            u = 1 + u * 0.1
        return u.to(dtype)

    t0 = time.perf_counter()
    model_dir = os.path.join(args.out, "model")
    os.makedirs(model_dir, exist_ok=True)
    with open(os.path.join(model_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    nbytes = write_safetensors(torch, os.path.join(model_dir, "diffusion_pytorch_model.safetensors"), specs,
                               draw, args.dtype)
    in_dir = os.path.join(args.out, "in")
    os.makedirs(in_dir, exist_ok=True)
    for name, array in make_inputs(config, args).items():
        np.save(os.path.join(in_dir, f"{name}.npy"), array)
    params = sum(math.prod(s) for _, s in specs)
    print(f"wrote {model_dir} ({params / 1e6:.1f} M parameters, {nbytes / 1e9:.2f} GB {args.dtype}, "
          f"{config['num_layers']} double + {config['num_single_layers']} single blocks) and {in_dir} "
          f"in {time.perf_counter() - t0:.1f} s")


def load_model(torch, model_dir: str, dev, dtype):
    from safetensors.torch import load_file

    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    if config.get("_class_name", "FluxTransformer2DModel") != "FluxTransformer2DModel":
        sys.exit(f"{model_dir}: _class_name {config.get('_class_name')!r} is not FluxTransformer2DModel")
    # Built without initialising (every parameter is loaded next).
    model = build(torch, config, device="meta", dtype=dtype).to_empty(device=dev).eval()
    state = load_file(os.path.join(model_dir, "diffusion_pytorch_model.safetensors"), device=str(dev))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        sys.exit(f"weights do not match the model: missing {missing[:3]}, unexpected {unexpected[:3]}")
    del state
    return config, model


def cmd_time(args) -> None:
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    config, model = load_model(torch, args.model, dev, dtype)
    impl = "pytorch-eager"
    if args.compile:
        if not hasattr(torch, "compile"):
            print(f"torch {torch.__version__} has no torch.compile", file=sys.stderr)
            sys.exit(4)
        if args.compile == "model":
            model = torch.compile(model)
        else:  # one graph per block kind, reused across the blocks
            for blocks in (model.transformer_blocks, model.single_transformer_blocks):
                for i, blk in enumerate(blocks):
                    blocks[i] = torch.compile(blk)
        impl = f"pytorch-compile-{args.compile}"
    tensors = {}
    for name in INPUTS:
        path = os.path.join(args.inputs, f"{name}.npy")
        if os.path.exists(path):
            t = torch.from_numpy(np.load(path)).to(dev)
            tensors[name] = t if name.endswith("_ids") else t.to(dtype)
    if config.get("guidance_embeds", False) != ("guidance" in tensors):
        sys.exit(f"guidance_embeds is {config.get('guidance_embeds', False)} but guidance.npy is "
                 f"{'present' if 'guidance' in tensors else 'missing'} in {args.inputs}")
    cuda = dev.type == "cuda"
    runs = []
    with torch.no_grad():
        for i in range(args.warmup + args.runs):
            if cuda:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
            t0 = time.perf_counter()
            out = model(**tensors)
            if cuda:
                end.record()
                end.synchronize()
                seconds = start.elapsed_time(end) / 1000.0
            else:
                seconds = time.perf_counter() - t0
            if i >= args.warmup:
                runs.append(seconds)
    if args.out:  # float64 stays float64 (the parity test's 1e-10 is below f32's rounding)
        np.save(args.out, out.to(torch.float64 if dtype == torch.float64 else torch.float32).cpu().numpy())
    print(json.dumps({"impl": f"{impl}-{dev.type}", "dtype": args.dtype,
                      "blocks": [config["num_layers"], config["num_single_layers"]],
                      "tokens": [int(tensors["hidden_states"].shape[1]), int(tensors["txt_ids"].shape[0])],
                      "batch": int(tensors["hidden_states"].shape[0]),
                      "median_s": round(statistics.median(runs), 6) if runs else None,
                      "runs": [round(r, 6) for r in runs], "torch": torch.__version__,
                      "sdpa": hasattr(torch.nn.functional, "scaled_dot_product_attention"),
                      "peak_gib": round(torch.cuda.max_memory_allocated() / 2 ** 30, 2) if cuda else None,
                      "device": torch.cuda.get_device_name() if cuda else "cpu"}))


def forward_flops(config: dict, batch: int, height: int, width: int, text: int) -> dict:
    """FLOPs of one forward (2 per multiply-add): every linear and the attention products."""
    d = config["num_attention_heads"] * config["attention_head_dim"]
    T, L = (height // 16) * (width // 16), text
    S = T + L
    double, single = config["num_layers"], config["num_single_layers"]
    cin = config["in_channels"]
    emb = 256 * d + d * d
    per_sample = (emb * (2 if config.get("guidance_embeds", False) else 1)
                  + config["pooled_projection_dim"] * d + d * d
                  + double * 2 * 6 * d * d + single * 3 * d * d + 2 * d * d)  # the adaLN linears
    # qkv + out + 4x MLP = 12 d^2 per token per double block (each stream its own weights);
    # qkv + proj_mlp + proj_out = 3 + 4 + 5 = 12 d^2 per token per single block.
    per_token = double * 12 * d * d * S + single * 12 * d * d * S
    gemm = 2 * batch * (per_sample + per_token + T * cin * d + L * config["joint_attention_dim"] * d
                        + T * d * cin)
    attention = (double + single) * batch * 4 * S * S * d
    return {"gemm": gemm, "attention": attention, "total": gemm + attention, "tokens": [T, L]}


def cmd_flops(args) -> None:
    with open(args.config) as f:
        config = with_depth(json.load(f), args.num_layers, args.num_single_layers)
    print(json.dumps(forward_flops(config, args.batch, args.height, args.width, args.max_sequence_length)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    def shape_args(p):
        p.add_argument("--config", required=True, help="FluxTransformer2DModel config.json")
        p.add_argument("--num-layers", type=int, help="double-stream blocks (default: the config's)")
        p.add_argument("--num-single-layers", type=int, help="single-stream blocks (default: the config's)")
        p.add_argument("--batch", type=int, default=1)
        p.add_argument("--height", type=int, default=1024, help="image height in pixels")
        p.add_argument("--width", type=int, default=1024, help="image width in pixels")
        p.add_argument("--max-sequence-length", type=int, default=512, help="text tokens")

    m = sub.add_parser("make")
    shape_args(m)
    m.add_argument("--out", required=True)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--device", default="cpu", help="where the weights are drawn")
    m.add_argument("--dtype", default="bfloat16", choices=sorted(SAFETENSORS_DTYPES),
                   help="storage dtype of the written weights")
    t = sub.add_parser("time")
    t.add_argument("--model", required=True)
    t.add_argument("--inputs", required=True)
    t.add_argument("--device", default="cuda")
    t.add_argument("--dtype", default="bfloat16", choices=sorted(SAFETENSORS_DTYPES),
                   help="parameters and activations")
    t.add_argument("--warmup", type=int, default=3)
    t.add_argument("--runs", type=int, default=10)
    t.add_argument("--out")
    t.add_argument("--compile", choices=["model", "blocks"])
    fl = sub.add_parser("flops")
    shape_args(fl)
    args = ap.parse_args()
    {"make": cmd_make, "time": cmd_time, "flops": cmd_flops}[args.cmd](args)


if __name__ == "__main__":
    main()
