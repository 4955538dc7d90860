"""toy-reference.py X0.npy STEPS OUT.npy: the final latents of
toy-pipeline.mlir (prediction = silu(latents), no guidance) under diffusers'
default DDIMScheduler (linear betas 1e-4..0.02 over 1000 steps, leading
spacing, eta 0, clip_sample to [-1, 1]), in float32 as diffusers computes
it."""
import sys

import numpy as np

x = np.load(sys.argv[1]).astype(np.float32)
steps = int(sys.argv[2])
betas = np.linspace(0.0001, 0.02, 1000, dtype=np.float32)
alphas_cumprod = np.cumprod(1.0 - betas, axis=0)
ratio = 1000 // steps
timesteps = (np.arange(0, steps) * ratio).round()[::-1].astype(np.int64)
for t in timesteps:
    eps = x / (np.float32(1) + np.exp(-x))  # silu
    prev = t - ratio
    a_t = alphas_cumprod[t]
    a_prev = alphas_cumprod[prev] if prev >= 0 else np.float32(1.0)
    x0 = np.clip((x - (1 - a_t) ** 0.5 * eps) / a_t**0.5, -1, 1)
    x = (a_prev**0.5 * x0 + (1 - a_prev) ** 0.5 * eps).astype(np.float32)
np.save(sys.argv[3], x)
