#!/usr/bin/env python3
"""DiT forward in plain PyTorch (no diffusers): weights, inputs and the eager baseline for GPUs.

The lent GPU machines have PyTorch but neither diffusers nor network access, so this file holds
a self-contained DiT (DiTTransformer2DModel with ada_norm_zero, op for op as diffusers 0.31 runs
it, parameters under diffusers' state_dict names) and three commands:

  gpu_dit.py make --config C.json --out DIR [--batch 2] [--seed 0] [--device cuda]
      DIR/model: config.json + diffusion_pytorch_model.safetensors with random weights scaled
      like a trained model's (std 1/sqrt(fan_in)); DIR/in: latents.npy (f32), timestep.npy and
      class_labels.npy (i64), the inputs of fresco-run --function transformer.
  gpu_dit.py time --model DIR/model --inputs DIR/in [--device cuda] [--runs 10] [--out y.npy]
      loads the same weights, times --runs forwards after warm-up (CUDA events around each) and
      prints one JSON line (impl, median_s, runs); --out saves the output for comparison.
      --compile wraps the model in torch.compile first (exit 4 where torch has none).
  gpu_dit.py compare A.npy B.npy [--tol 1e-4]
      prints max|A - B| / max|B|; exit 1 above --tol.
  gpu_dit.py flops --config C.json [--batch 2]
      prints the forward's FLOPs (GEMMs and attention, 2 per multiply-add) as JSON.
  gpu_dit.py peak [--device cuda] [--size 8192]
      measures the f32 (TF32 off) and bf16 GEMM rates of the device (torch.mm): the "peaks"
      the TFLOP/s are held to.

Attention is F.scaled_dot_product_attention where torch has it (what diffusers' AttnProcessor2_0
calls), f32 with TF32 off for matmuls and convolutions, as Fresco's CUDA backend computes.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import numpy as np


def sincos_2d(dim: int, grid: int, base: float) -> np.ndarray:
    """diffusers' get_2d_sincos_pos_embed (interpolation_scale 1): [grid*grid, dim], float64."""
    g = np.arange(grid, dtype=np.float32) / (grid / base)
    gw, gh = np.meshgrid(g, g)  # meshgrid(grid_w, grid_h): w varies along columns

    def one(pos, d):
        omega = 1.0 / 10000 ** (np.arange(d // 2, dtype=np.float64) / (d / 2.0))
        out = np.einsum("m,d->md", pos.reshape(-1).astype(np.float64), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    return np.concatenate([one(gw, dim // 2), one(gh, dim // 2)], axis=1)


def build(torch, config: dict, device=None, dtype=None):
    """The DiT with its parameters made on `device` in `dtype`: initialising the Flux-width
    model's 3.5 G parameters on the CPU takes tens of seconds, each time, of a GPU check that
    has 8 minutes."""
    nn, F = torch.nn, torch.nn.functional
    fk = {"device": device, "dtype": dtype}
    H, Dh = config["num_attention_heads"], config["attention_head_dim"]
    d, p, cin = H * Dh, config["patch_size"], config["in_channels"]
    cout, layers = config.get("out_channels") or cin, config["num_layers"]
    affine, eps = config.get("norm_elementwise_affine", False), config.get("norm_eps", 1e-5)
    tanh = config.get("activation_fn", "gelu-approximate") == "gelu-approximate"
    sdpa = getattr(F, "scaled_dot_product_attention", None)

    def lin(i, o, bias=True):
        return nn.Linear(i, o, bias=bias, **fk)

    class Emb(nn.Module):  # CombinedTimestepLabelEmbeddings
        def __init__(self):
            super().__init__()
            self.timestep_embedder = nn.Module()
            self.timestep_embedder.linear_1 = lin(256, d)
            self.timestep_embedder.linear_2 = lin(d, d)
            self.class_embedder = nn.Module()
            self.class_embedder.embedding_table = nn.Embedding(config["num_embeds_ada_norm"] + 1, d, **fk)

        def forward(self, tproj, labels):
            t = self.timestep_embedder.linear_2(F.silu(self.timestep_embedder.linear_1(tproj)))
            return t + self.class_embedder.embedding_table(labels)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm1 = nn.Module()
            self.norm1.emb = Emb()
            self.norm1.linear = lin(d, 6 * d)
            self.attn1 = nn.Module()
            for n in ("to_q", "to_k", "to_v"):
                setattr(self.attn1, n, lin(d, d, config.get("attention_bias", True)))
            self.attn1.to_out = nn.ModuleList([lin(d, d)])
            self.norm3 = nn.LayerNorm(d, eps=eps, elementwise_affine=affine, **fk)
            self.ff = nn.Module()
            self.ff.net = nn.ModuleList([nn.Module(), nn.Identity(), lin(4 * d, d)])
            self.ff.net[0].proj = lin(d, 4 * d)

        def forward(self, h, tproj, labels):
            e = self.norm1.linear(F.silu(self.norm1.emb(tproj, labels)))
            sm, cm, gm, sf, cf, gf = e[:, None].chunk(6, dim=-1)
            n = F.layer_norm(h, (d,), eps=1e-6) * (1 + cm) + sm
            B, T, _ = n.shape
            # A list, not a generator: older Dynamo versions break the graph at a generator.
            q, k, v = [getattr(self.attn1, x)(n).view(B, T, H, Dh).transpose(1, 2)
                       for x in ("to_q", "to_k", "to_v")]
            if sdpa is not None:
                a = sdpa(q, k, v)
            else:
                a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(Dh), dim=-1) @ v
            a = self.attn1.to_out[0](a.transpose(1, 2).reshape(B, T, d))
            h = h + gm * a
            n = self.norm3(h) * (1 + cf) + sf
            f = F.gelu(self.ff.net[0].proj(n), approximate="tanh" if tanh else "none")
            return h + gf * self.ff.net[2](f)

    class DiT(nn.Module):
        def __init__(self):
            super().__init__()
            self.pos_embed = nn.Module()
            self.pos_embed.proj = nn.Conv2d(cin, d, p, stride=p, **fk)
            grid = config["sample_size"] // p
            self.register_buffer("table", torch.from_numpy(
                sincos_2d(d, grid, grid).astype(np.float32))[None], persistent=False)
            self.transformer_blocks = nn.ModuleList([Block() for _ in range(layers)])
            self.proj_out_1 = lin(d, 2 * d)
            self.proj_out_2 = lin(d, p * p * cout)

        def forward(self, x, t, labels):
            B, _, S, _ = x.shape
            g = S // p
            h = self.pos_embed.proj(x).flatten(2).transpose(1, 2) + self.table
            # Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=1)
            half = 128
            freq = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32,
                                                             device=x.device) / (half - 1))
            arg = t.float()[:, None] * freq[None]
            tproj = torch.cat([torch.cos(arg), torch.sin(arg)], dim=-1).to(x.dtype)
            for blk in self.transformer_blocks:
                h = blk(h, tproj, labels)
            cond = self.transformer_blocks[0].norm1.emb(tproj, labels)
            shift, scale = self.proj_out_1(F.silu(cond))[:, None].chunk(2, dim=-1)
            h = F.layer_norm(h, (d,), eps=1e-6) * (1 + scale) + shift
            h = self.proj_out_2(h).reshape(B, g, g, p, p, cout)
            return torch.einsum("nhwpqc->nchpwq", h).reshape(B, cout, g * p, g * p)

    return DiT()


def cmd_make(args) -> None:
    import torch
    from safetensors.torch import save_file

    with open(args.config) as f:
        config = json.load(f)
    model = build(torch, config, device=args.device)
    torch.manual_seed(args.seed)  # after the (overwritten) initialisation, which draws numbers too
    state = {}
    for name, t in model.state_dict().items():
        fan_in = t[0].numel() if t.dim() >= 2 else 0
        std = 1.0 / math.sqrt(fan_in) if fan_in else 0.02
        if name.endswith("embedding_table.weight"):
            std = 1.0
        w = torch.randn(t.shape, device=args.device) * std
        state[name] = w.to(getattr(torch, args.dtype)).cpu().contiguous()
    os.makedirs(os.path.join(args.out, "model"), exist_ok=True)
    save_file(state, os.path.join(args.out, "model", "diffusion_pytorch_model.safetensors"))
    with open(os.path.join(args.out, "model", "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    rng = np.random.default_rng(args.seed)
    s = config["sample_size"]
    os.makedirs(os.path.join(args.out, "in"), exist_ok=True)
    arrays = {
        "latents": rng.standard_normal((args.batch, config["in_channels"], s, s)).astype(np.float32),
        "timestep": rng.integers(0, 1000, size=args.batch, dtype=np.int64),
        "class_labels": rng.integers(0, config["num_embeds_ada_norm"], size=args.batch,
                                     dtype=np.int64),
    }
    for n, a in arrays.items():
        np.save(os.path.join(args.out, "in", n + ".npy"), a)
    params = sum(t.numel() for t in state.values())
    print(f"wrote {args.out}/model ({params / 1e6:.1f} M parameters) and {args.out}/in")


def cmd_time(args) -> None:
    import torch
    from safetensors.torch import load_file

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    with open(os.path.join(args.model, "config.json")) as f:
        config = json.load(f)
    dev = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    model = build(torch, config, device=dev, dtype=dtype).eval()
    missing, unexpected = model.load_state_dict(
        load_file(os.path.join(args.model, "diffusion_pytorch_model.safetensors")), strict=False)
    if missing or unexpected:
        sys.exit(f"weights do not match the model: missing {missing[:3]}, unexpected {unexpected[:3]}")
    model.to(dev, dtype)  # the position table, made on the host
    impl = "pytorch-eager"
    if args.compile:
        if not hasattr(torch, "compile"):
            print(f"torch {torch.__version__} has no torch.compile", file=sys.stderr)
            sys.exit(4)
        model = torch.compile(model)
        impl = "pytorch-compile"
    x, t, y = (torch.from_numpy(np.load(os.path.join(args.inputs, n + ".npy"))).to(dev)
               for n in ("latents", "timestep", "class_labels"))
    x = x.to(dtype)
    cuda = dev.type == "cuda"
    runs = []
    with torch.no_grad():
        for i in range(args.warmup + args.runs):
            if cuda:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
            t0 = time.perf_counter()
            out = model(x, t, y)
            if cuda:
                end.record()
                end.synchronize()
                seconds = start.elapsed_time(end) / 1000.0
            else:
                seconds = time.perf_counter() - t0
            if i >= args.warmup:
                runs.append(seconds)
    if args.out:
        np.save(args.out, out.float().cpu().numpy())
    print(json.dumps({"impl": f"{impl}-{dev.type}", "dtype": args.dtype, "config": config.get("_name", ""),
                      "batch": int(x.shape[0]), "median_s": round(statistics.median(runs), 6),
                      "runs": [round(r, 6) for r in runs], "torch": torch.__version__,
                      "sdpa": hasattr(torch.nn.functional, "scaled_dot_product_attention"),
                      "device": torch.cuda.get_device_name() if cuda else "cpu"}))


def cmd_compare(args) -> None:
    a, b = np.load(args.a).astype(np.float64), np.load(args.b).astype(np.float64)
    if a.shape != b.shape:
        sys.exit(f"shapes differ: {a.shape} vs {b.shape}")
    err = float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))
    ok = np.isfinite(a).all() and err <= args.tol
    print(f"relative error {err:.3g} ({'ok' if ok else 'FAIL'}, tolerance {args.tol:g})")
    sys.exit(0 if ok else 1)


def cmd_compare_ref(args) -> None:
    """Two low-precision results against a higher-precision reference: `ours`
    must be within `--factor` times `theirs`'s distance (plus `--slack` of
    max|ref|), i.e. about as accurate as PyTorch in the same precision."""
    ours, theirs, ref = (np.load(p).astype(np.float64) for p in (args.ours, args.theirs, args.ref))
    if not ours.shape == theirs.shape == ref.shape:
        sys.exit(f"shapes differ: {ours.shape}, {theirs.shape}, {ref.shape}")
    scale = max(np.abs(ref).max(), 1e-30)
    e_ours = float(np.abs(ours - ref).max() / scale)
    e_theirs = float(np.abs(theirs - ref).max() / scale)
    limit = args.factor * e_theirs + args.slack
    ok = np.isfinite(ours).all() and e_ours <= limit
    a, b = args.labels.split(",", 1)
    print(f"from f32: {a} {e_ours:.3g}, {b} {e_theirs:.3g} ({'ok' if ok else 'FAIL'}, "
          f"limit {limit:.3g})")
    sys.exit(0 if ok else 1)


def forward_flops(config: dict, batch: int) -> dict:
    """FLOPs of one forward (2 per multiply-add): every linear, the patch conv and attention."""
    H, Dh = config["num_attention_heads"], config["attention_head_dim"]
    d, p, cin = H * Dh, config["patch_size"], config["in_channels"]
    cout, layers = config.get("out_channels") or cin, config["num_layers"]
    T = (config["sample_size"] // p) ** 2
    ff = 4 * d
    per_token = (cin * p * p * d                      # patch embedding
                 + layers * (4 * d * d + 2 * d * ff)  # q, k, v, out; fc1, fc2
                 + d * p * p * cout)                  # proj_out_2
    per_sample = (256 * d + d * d                     # timestep MLP
                  + layers * d * 6 * d                # adaLN
                  + d * 2 * d)                        # proj_out_1
    gemm = 2 * batch * (T * per_token + per_sample)
    attention = layers * batch * H * 4 * T * T * Dh
    return {"gemm": gemm, "attention": attention, "total": gemm + attention, "tokens": T}


def cmd_flops(args) -> None:
    with open(args.config) as f:
        config = json.load(f)
    print(json.dumps(forward_flops(config, args.batch)))


def cmd_peak(args) -> None:
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    dev = torch.device(args.device)
    n = args.size
    cuda = dev.type == "cuda"

    def rate(dtype) -> float:
        """TFLOP/s of the fastest of five n^3 products after a warm-up."""
        a = torch.randn(n, n, device=dev).to(dtype)
        b = torch.randn(n, n, device=dev).to(dtype)
        best = float("inf")
        for i in range(6):
            if cuda:
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            torch.mm(a, b)
            if cuda:
                torch.cuda.synchronize()
            if i:
                best = min(best, time.perf_counter() - t0)
        return round(2 * n ** 3 / best / 1e12, 3)

    print(json.dumps({"device": torch.cuda.get_device_name() if cuda else "cpu", "n": n,
                      "f32_tflops": rate(torch.float32),
                      "bf16_tflops": rate(torch.bfloat16)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--config", required=True)
    m.add_argument("--out", required=True)
    m.add_argument("--batch", type=int, default=2)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--device", default="cpu")
    m.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"],
                   help="storage dtype of the written weights")
    t = sub.add_parser("time")
    t.add_argument("--model", required=True)
    t.add_argument("--inputs", required=True)
    t.add_argument("--device", default="cuda")
    t.add_argument("--warmup", type=int, default=3)
    t.add_argument("--runs", type=int, default=10)
    t.add_argument("--out")
    t.add_argument("--compile", action="store_true")
    t.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"],
                   help="parameters and activations (the GEMMs accumulate in f32 either way)")
    fl = sub.add_parser("flops")
    fl.add_argument("--config", required=True)
    fl.add_argument("--batch", type=int, default=2)
    pk = sub.add_parser("peak")
    pk.add_argument("--device", default="cuda")
    pk.add_argument("--size", type=int, default=8192)
    c = sub.add_parser("compare")
    c.add_argument("a")
    c.add_argument("b")
    c.add_argument("--tol", type=float, default=1e-4)
    r = sub.add_parser("compare-ref")
    r.add_argument("ours")
    r.add_argument("theirs")
    r.add_argument("ref")
    r.add_argument("--factor", type=float, default=2.0)
    r.add_argument("--slack", type=float, default=1e-3)
    r.add_argument("--labels", default="fresco,torch", help="names of ours and theirs in the message")
    args = ap.parse_args()
    {"make": cmd_make, "time": cmd_time, "compare": cmd_compare, "flops": cmd_flops,
     "peak": cmd_peak, "compare-ref": cmd_compare_ref}[args.cmd](args)


if __name__ == "__main__":
    main()
