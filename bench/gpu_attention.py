#!/usr/bin/env python3
"""Attention alone: PyTorch's SDPA backends on the shapes Fresco's attention benchmark times.

  gpu_attention.py [--device cuda] [--shapes flux,flux-dev,dit-xl] [--iters 20]

For each shape (B, heads, tokens, head width) and each backend PyTorch has
(cuDNN, FlashAttention-2, memory-efficient), times --iters calls of
F.scaled_dot_product_attention in bf16 after warm-up, with CUDA events around
all of them, and prints one line per backend:

  <shape>  torch-<backend>  <ms> ms  <TFLOP/s> TFLOP/s

in the format of Fresco's own timing (backend_conformance_test's
CudnnAttentionTest.DISABLED_Speed), so gpu-check.sh puts the two side by side.
FLOPs: 4 B H T^2 Dh (Q K^T and P V, 2 per multiply-add). A backend that
refuses a shape prints "n/a". On --device cpu (the gpu-check dry run) the
shapes shrink to 1/16 of the tokens and the math is done by hand in f32 where
torch has no SDPA (1.13): only the script is checked there.
"""
import argparse
import sys
import time

# name: (B, heads, tokens, head width); as sdpa.txt of the 2026-12-04 H200 run.
SHAPES = {
    "flux": (2, 24, 4096, 128),  # Flux-width DiT at 1024 px
    "flux-dev": (2, 24, 4608, 128),  # FLUX.1-dev's image + text tokens
    "dit-xl": (2, 16, 256, 72),  # DiT-XL/2 at 256 px
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--shapes", default="flux,flux-dev,dit-xl")
    ap.add_argument("--iters", type=int, default=20)
    args = ap.parse_args()
    import torch

    F = torch.nn.functional
    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        sys.exit("gpu_attention.py: torch sees no CUDA device")
    backends = [("math", None)]
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel

        backends = [
            ("cudnn", SDPBackend.CUDNN_ATTENTION),
            ("flash", SDPBackend.FLASH_ATTENTION),
            ("efficient", SDPBackend.EFFICIENT_ATTENTION),
        ]
    except ImportError:  # torch < 2.3: no backend choice
        sdpa_kernel = None
    dtype = torch.bfloat16 if cuda else torch.float32
    for name in args.shapes.split(","):
        B, H, T, Dh = SHAPES[name]
        if not cuda:
            T //= 16
        q, k, v = (torch.randn(B, H, T, Dh, device=args.device, dtype=dtype) for _ in range(3))
        flops = 4.0 * B * H * T * T * Dh

        def attend():
            if hasattr(F, "scaled_dot_product_attention"):
                return F.scaled_dot_product_attention(q, k, v)
            s = torch.matmul(q, k.transpose(-1, -2)) / Dh**0.5
            return torch.matmul(torch.softmax(s, -1), v)

        for label, backend in backends:
            try:
                if backend is not None and sdpa_kernel is not None:
                    with sdpa_kernel([backend]):
                        ms = timed(torch, attend, args.iters, cuda)
                else:
                    ms = timed(torch, attend, args.iters, cuda)
            except RuntimeError as e:  # the backend refuses the shape or dtype
                print(f"{name:<10} torch-{label:<10} n/a ({str(e).splitlines()[0][:60]})")
                continue
            print(f"{name:<10} torch-{label:<10} {ms:8.3f} ms {flops / ms / 1e9:8.1f} TFLOP/s")
        sys.stdout.flush()


def timed(torch, fn, iters: int, cuda: bool) -> float:
    """Milliseconds per call of fn, after 3 warm-up calls."""
    for _ in range(3):
        fn()
    if cuda:
        torch.cuda.synchronize()
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(iters):
            fn()
        b.record()
        b.synchronize()
        return a.elapsed_time(b) / iters
    t = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - t) * 1000 / iters


if __name__ == "__main__":
    main()
