#!/usr/bin/env python3
"""Reference VAE decode with the real diffusers AutoencoderKL, on CPU PyTorch.

Decode:
  vae_reference.py --vae DIR --latents z.npy --out img.npy [--dtype float32|float64]
      [--scale auto|none|FACTOR]
  DIR is a diffusers AutoencoderKL folder (config.json + diffusion_pytorch_model.safetensors) or a
  pipeline folder with a vae/ subfolder. z.npy is float [B, latent_channels, h, w]. The decode is
  AutoencoderKL.decode(z * s).sample, i.e. post_quant_conv (when the config uses one) then the
  decoder (no tiling, no slicing), where s is
    auto  (default) 1 / config.scaling_factor, exactly as DiTPipeline does
          (`latents = 1 / self.vae.config.scaling_factor * latents`): z is a denoiser latent;
    none  1: z is already in the VAE's own latent scale;
    FACTOR  a number, multiplied as given.
  out is the decoded sample, float32 [B, out_channels, H, W], BEFORE DiTPipeline's
  (x / 2 + 0.5).clamp(0, 1) and NHWC permute. float64 runs the VAE and the latents in double.
  Loading is diffusers' default path (accelerate): a missing or mis-shaped tensor is an error.

Encode:
  vae_reference.py --vae DIR --images x.npy --encode --out mean.npy [--dtype float32|float64]
  x.npy is float [B, in_channels, H, W]; out is AutoencoderKL.encode(x).latent_dist.mean (the
  encoder, then quant_conv when the config uses one), float32 [B, latent_channels, h, w], in the
  VAE's own scale (before scaling_factor).

Write images for an encoder:
  vae_reference.py --vae DIR --make-images x.npy --height H --width W [--batch 2] [--seed 0]
  writes float32 U(-1, 1) images [B, in_channels, H, W].

Check a plan's parameters against diffusers' decoder (or, with --encoder, encoder):
  vae_reference.py --vae DIR --check-params vae.mlir [--encoder]
  vae.mlir is `fresco-compile DIR --emit=mlir`: its fresco.param names and shapes must be exactly
  the keys and shapes of AutoencoderKL's decode path in DIR's safetensors (post_quant_conv.* and
  decoder.*), so a config with use_post_quant_conv false has no post_quant_conv parameter.

Write latents for a VAE:
  vae_reference.py --vae DIR --make-latents z.npy [--batch 2] [--seed 0]
  writes float32 N(0, 1) latents [B, latent_channels, n, n] with
  n = sample_size / 2 ** (len(block_out_channels) - 1) (8 for dit-tiny, 32 for the DiT VAE).
"""
import os
import sys
import time

import numpy as np

from fresco_ref_common import (add_compute_dtype_arg, add_random_input_args, arg_parser, import_diffusers,
                               read_json, save_normal_noise, torch_dtype)


def vae_dir(path: str) -> str:
    if os.path.isfile(os.path.join(path, "config.json")):
        return path
    if os.path.isfile(os.path.join(path, "vae", "config.json")):
        return os.path.join(path, "vae")
    sys.exit(f"{path}: neither a VAE folder (config.json) nor a pipeline folder (vae/config.json)")


def read_config(path: str) -> dict:
    config = read_json(os.path.join(path, "config.json"))
    if config.get("_class_name") != "AutoencoderKL":
        sys.exit(f"{path}: _class_name {config.get('_class_name')!r} is not AutoencoderKL")
    return config


def latent_shape(config: dict, batch: int) -> tuple:
    n = config["sample_size"] // 2 ** (len(config["block_out_channels"]) - 1)
    return (batch, config["latent_channels"], n, n)


def load_vae(path: str):
    return import_diffusers().AutoencoderKL.from_pretrained(path).eval()


def check_params(path: str, mlir: str, encoder: bool = False) -> None:
    """The plan's parameters equal the checkpoint's decode-path (or encode-path) keys and
    shapes."""
    import re

    from safetensors import safe_open

    with open(mlir, encoding="utf-8") as f:
        text = f.read()
    got = {}
    for name, dims in re.findall(r'fresco\.param "([^"]+)" : tensor<((?:[0-9]+x)*)f32>', text):
        got[name] = [int(d) for d in dims.split("x") if d]
    want = {}
    files = [f for f in os.listdir(path) if f.endswith(".safetensors")]
    for file in files:
        with safe_open(os.path.join(path, file), "pt") as st:
            for key in st.keys():
                if key.startswith(("encoder.", "quant_conv.") if encoder else
                                  ("decoder.", "post_quant_conv.")):
                    want[key] = list(st.get_slice(key).get_shape())
    part = "encoder" if encoder else "decoder"
    if not want:
        sys.exit(f"{path}: no {part} tensors in {files}")
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    shapes = sorted(k for k in set(got) & set(want) if got[k] != want[k])
    for label, keys in (("missing from the plan", missing), ("not in the checkpoint", extra),
                        ("with other shapes", shapes)):
        for k in keys:
            print(f"{label}: {k} plan {got.get(k)} checkpoint {want.get(k)}")
    if missing or extra or shapes:
        sys.exit(f"the plan's parameters are not diffusers' {part} keys")
    quant = "quant_conv" if encoder else "post_quant_conv"
    qc = sum(k.startswith(quant + ".") for k in got)
    print(f"{len(got)} parameters, exactly diffusers' {part} keys and shapes ({qc} {quant})")


def encode_mean(vae, images):
    """AutoencoderKL.encode(x).latent_dist.mean."""
    import torch

    with torch.no_grad():
        return vae.encode(images).latent_dist.mean


def decode(vae, latents, scale):
    """DiTPipeline's decode, minus the final (x / 2 + 0.5).clamp(0, 1)."""
    import torch

    with torch.no_grad():
        if scale is None:  # auto: the same expression as DiTPipeline.__call__
            latents = 1 / vae.config.scaling_factor * latents
        elif scale != 1.0:
            latents = scale * latents
        return vae.decode(latents).sample


def main() -> None:
    ap = arg_parser(__doc__)
    ap.add_argument("--vae", required=True, help="AutoencoderKL folder, or a pipeline folder with vae/")
    ap.add_argument("--latents", help="float latents .npy [B, C, h, w]")
    ap.add_argument("--out", help="output .npy (float32 [B, 3, H, W], before /2+0.5 and clamp)")
    add_compute_dtype_arg(ap)
    ap.add_argument("--scale", default="auto",
                    help="latent multiplier: auto = 1/scaling_factor (default), none = 1, or a number")
    ap.add_argument("--make-latents", metavar="FILE", help="write random latents for --vae to FILE instead")
    ap.add_argument("--check-params", metavar="MLIR",
                    help="check fresco-compile --emit=mlir's parameters against --vae's checkpoint instead")
    ap.add_argument("--encoder", action="store_true", help="--check-params: the encoder's keys")
    ap.add_argument("--encode", action="store_true", help="encode --images instead of decoding")
    ap.add_argument("--images", help="--encode: float images .npy [B, C, H, W] in [-1, 1]")
    ap.add_argument("--make-images", metavar="FILE", help="write random images (--height, --width)")
    ap.add_argument("--height", type=int, default=32)
    ap.add_argument("--width", type=int, default=32)
    add_random_input_args(ap, "--make-latents / --make-images")
    args = ap.parse_args()

    path = vae_dir(args.vae)
    config = read_config(path)
    if args.check_params:
        check_params(path, args.check_params, args.encoder)
        return
    if args.make_images:
        rng = np.random.default_rng(args.seed)
        shape = (args.batch, config["in_channels"], args.height, args.width)
        np.save(args.make_images, rng.uniform(-1, 1, shape).astype(np.float32))
        print(f"wrote {args.make_images} float32 {list(shape)}")
        return
    if args.encode:
        import torch

        if args.images is None or args.out is None:
            ap.error("--encode needs --images and --out")
        x = torch.from_numpy(np.load(args.images)).to(torch_dtype(args.dtype))
        mean = encode_mean(load_vae(path).to(x.dtype), x).float().numpy()
        np.save(args.out, mean)
        print(f"wrote {args.out} float32 {list(mean.shape)} (computed in {args.dtype})")
        return
    if args.make_latents:
        save_normal_noise(args.make_latents, latent_shape(config, args.batch), args.seed)
        return
    if args.latents is None or args.out is None:
        ap.error("need --latents and --out (or --make-latents)")
    scale = {"auto": None, "none": 1.0}.get(args.scale)
    if scale is None and args.scale != "auto":
        try:
            scale = float(args.scale)
        except ValueError:
            ap.error(f"--scale {args.scale!r}: want auto, none or a number")

    import torch

    dtype = torch_dtype(args.dtype)
    z = torch.from_numpy(np.load(args.latents)).to(dtype)
    if z.dim() != 4 or z.shape[1] != config["latent_channels"]:
        sys.exit(f"want latents [B, {config['latent_channels']}, h, w]; got {list(z.shape)}")
    vae = load_vae(path).to(dtype)
    start = time.perf_counter()
    sample = decode(vae, z, scale)
    seconds = time.perf_counter() - start
    out = sample.float().numpy()
    np.save(args.out, out)
    applied = f"1/{vae.config.scaling_factor}" if scale is None else f"{scale}"
    print(f"wrote {args.out} float32 {list(out.shape)} (computed in {args.dtype}, latents x {applied}, "
          f"decode {seconds:.3f} s), range [{out.min():.4g}, {out.max():.4g}]")


if __name__ == "__main__":
    main()
