"""Helpers shared by the e2e reference scripts (dit_reference.py, flux_reference.py,
sd3_reference.py, vae_reference.py, the *_pipeline_reference.py and sdxl_sd3_reference.py) and
the diffusers folder writers (make_diffusers_*.py, make_flux_pipeline.py).

Imported by scripts run as `python test/e2e/NAME.py`, whose folder is then on sys.path.
torch and diffusers are imported only when a helper needs them.
"""
import argparse
import json
import os
import sys

import numpy as np

# --dtype of the references: the dtype the model runs in.
COMPUTE_DTYPES = ("float32", "float64", "bfloat16", "float16")
# --dtype of the writers: the dtype the weights are stored in.
STORAGE_DTYPES = ("float32", "float16", "bfloat16")


def arg_parser(doc: str) -> argparse.ArgumentParser:
    """A parser whose --help shows the script's docstring as written."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def add_compute_dtype_arg(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--dtype", choices=COMPUTE_DTYPES, default="float32", help="compute dtype (default float32)")


def add_storage_dtype_arg(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--dtype", choices=STORAGE_DTYPES, default="float32", help="stored dtype (default float32)")


def add_random_input_args(ap: argparse.ArgumentParser, flag: str) -> None:
    """--batch and --seed of the random inputs the script writes under `flag`."""
    ap.add_argument("--batch", type=int, default=2, help=f"batch for {flag} (default 2)")
    ap.add_argument("--seed", type=int, default=0, help=f"seed for {flag} (default 0)")


def torch_dtype(name: str):
    """The torch dtype named by a --dtype value."""
    import torch

    return getattr(torch, name)


def read_json(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def read_model_config(model_dir: str, class_name: str) -> dict:
    """config.json of a diffusers model folder; exits unless its _class_name is `class_name`."""
    config = read_json(os.path.join(model_dir, "config.json"))
    if config.get("_class_name") != class_name:
        sys.exit(f"{model_dir}: _class_name {config.get('_class_name')!r} is not {class_name}")
    return config


def save_arrays(out_dir: str, arrays: dict) -> None:
    """Writes each array of `arrays` to out_dir/NAME.npy as it is, saying so."""
    os.makedirs(out_dir, exist_ok=True)
    for name, array in arrays.items():
        np.save(os.path.join(out_dir, f"{name}.npy"), array)
        print(f"wrote {os.path.join(out_dir, name)}.npy {array.dtype} {list(array.shape)}")


def load_tensors(folder: str, names, dtype, optional: bool = False) -> dict:
    """The torch tensors folder/NAME.npy, in `dtype`, keyed by name; with `optional`, the names
    whose file is missing are left out."""
    import torch

    paths = {name: os.path.join(folder, f"{name}.npy") for name in names}
    return {name: torch.from_numpy(np.load(path)).to(dtype) for name, path in paths.items()
            if not optional or os.path.exists(path)}


def save_output(path: str, sample, dtype: str) -> None:
    """Saves a model's output tensor as float32, saying what it was computed in."""
    out = sample.float().numpy()
    np.save(path, out)
    print(f"wrote {path} float32 {list(out.shape)} (computed in {dtype}), max |out| {np.abs(out).max():.6g}")


def transformer_reference_parser(doc: str, class_name: str, out_help: str) -> argparse.ArgumentParser:
    """The arguments flux_reference.py and sd3_reference.py share: --model, --inputs, --out,
    --dtype, and --make-inputs with its --batch and --seed; the caller adds the input sizes."""
    ap = arg_parser(doc)
    ap.add_argument("--model", required=True, help=f"diffusers {class_name} folder")
    ap.add_argument("--inputs", help="folder of input .npy files (as --make-inputs writes them)")
    ap.add_argument("--out", help=out_help)
    add_compute_dtype_arg(ap)
    ap.add_argument("--make-inputs", metavar="DIR", help="write random inputs for --model into DIR instead")
    add_random_input_args(ap, "--make-inputs")
    return ap


def transformer_reference_main(ap: argparse.ArgumentParser, class_name: str, make_inputs, run) -> None:
    """Parses `ap` (transformer_reference_parser's), checks --model's class, then calls
    make_inputs(config, args) for --make-inputs, else run(args)."""
    args = ap.parse_args()
    config = read_model_config(args.model, class_name)
    if args.make_inputs:
        make_inputs(config, args)
        return
    if args.inputs is None or args.out is None:
        ap.error("missing --inputs and --out (or use --make-inputs)")
    run(args)


def run_transformer(class_name: str, args, names, optional: bool = False, check=None) -> None:
    """The real diffusers `class_name` from args.model, in args.dtype, on the inputs args.inputs
    holds (load_tensors of `names`), keyword arguments of its forward; saves the output to
    args.out (save_output). `check(model, tensors)` may refuse the inputs first."""
    import torch

    install_sdpa_for_torch1()
    diffusers = import_diffusers()
    dtype = torch_dtype(args.dtype)
    model = getattr(diffusers, class_name).from_pretrained(args.model).to(dtype).eval()
    tensors = load_tensors(args.inputs, names, dtype, optional=optional)
    if check is not None:
        check(model, tensors)
    with torch.no_grad():
        sample = model(**tensors, return_dict=False)[0]
    save_output(args.out, sample, args.dtype)


def tiny_vae(diffusers, latent_channels: int = 4, blocks: int = 2, **kwargs):
    """The AutoencoderKL of the tiny SD / SDXL / SD3 pipeline folders (block_out_channels [8, 16]:
    vae_scale_factor 2; 4 latent channels unless told; `blocks` 4: [8, 16, 16, 16], SD's factor 8);
    `kwargs` adds scaling and shift factors."""
    return diffusers.AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * blocks,
        up_block_types=("UpDecoderBlock2D",) * blocks, block_out_channels=(8,) + (16,) * (blocks - 1),
        layers_per_block=1, act_fn="silu", latent_channels=latent_channels, norm_num_groups=4,
        sample_size=16, **kwargs)


def save_pipeline(pipe, out: str) -> None:
    """pipe.save_pretrained(out) in safetensors, into a fresh folder (no stale shards or files from
    another layout)."""
    import shutil

    if os.path.exists(out):
        shutil.rmtree(out)
    pipe.save_pretrained(out, safe_serialization=True)


def print_files(folder: str) -> None:
    """Lists every file below `folder`, sorted, with its size."""
    for root, _, files in sorted(os.walk(folder)):
        for name in sorted(files):
            path = os.path.join(root, name)
            print(f"  {os.path.relpath(path, folder)} ({os.path.getsize(path)} bytes)")


def add_latents_args(ap: argparse.ArgumentParser) -> None:
    """The `latents` command of the SD / SDXL / SD3 references: --out, --batch, --seed and the
    image size (save_latents)."""
    ap.add_argument("--out", required=True)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--height", type=int, default=32)
    ap.add_argument("--width", type=int, default=24)
    ap.add_argument("--channels", type=int, default=4)


def save_latents(args) -> None:
    """Initial latents of a tiny_vae pipeline (vae_scale_factor 2) for add_latents_args."""
    save_normal_noise(args.out, (args.batch, args.channels, args.height // 2, args.width // 2), args.seed)


def add_pipeline_run_args(ap: argparse.ArgumentParser, guidance_default) -> None:
    """The `run` arguments the SD and SDXL / SD3 references share."""
    ap.add_argument("--pipeline", required=True)
    ap.add_argument("--prompt", action="append", required=True)
    ap.add_argument("--negative-prompt", action="append")
    ap.add_argument("--latents", required=True)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--guidance-scale", type=float, default=guidance_default)
    ap.add_argument("--height", type=int, default=32)
    ap.add_argument("--width", type=int, default=24)
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--out-latents", required=True)
    ap.add_argument("--out-images")
    ap.add_argument("--guidance-rescale", type=float, help="guidance_rescale (fresco-run's flag)")
    ap.add_argument("--clip-skip", type=int, help="clip_skip (fresco-compile's flag)")
    add_lora_arg(ap)


def add_lora_arg(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--lora", action="append",
                    help="FILE[:SCALE]: a LoRA file (PEFT or kohya format), loaded with "
                         "load_lora_weights (needs peft); repeat for more")


def load_loras(pipe, specs) -> None:
    """--lora FILE[:SCALE]: diffusers' load_lora_weights (with PEFT) and
    set_adapters, the LoRA kept as separate layers as diffusers runs it."""
    if not specs:
        return
    from safetensors.torch import load_file

    names, weights = [], []
    for i, spec in enumerate(specs):
        path, scale = spec, 1.0
        if ":" in spec:
            head, tail = spec.rsplit(":", 1)
            try:
                path, scale = head, float(tail)
            except ValueError:
                pass
        # A state dict rather than the path: offline, diffusers wants a
        # weight_name for a path.
        pipe.load_lora_weights(load_file(path), adapter_name=f"lora{i}")
        names.append(f"lora{i}")
        weights.append(scale)
    pipe.set_adapters(names, adapter_weights=weights)


def per_prompt(values, n: int):
    """One value for each of n prompts: a single value is repeated, none gives None."""
    if values and len(values) == 1 and n > 1:
        return values * n
    return values or None


def pipeline_reference_setup(dtype: str):
    """diffusers and the torch dtype for a pipeline reference run in `dtype`, with the attention
    shim installed (diffusers' torch-1 attention gave NaN in about half the float64 runs; the
    shim is deterministic) and `dtype` the default (transformers' CLIP builds its causal mask in
    the default dtype)."""
    import torch

    diffusers = import_diffusers(need_accelerate=False)
    install_sdpa_for_torch1()
    dt = getattr(torch, dtype)
    torch.set_default_dtype(dt)
    return diffusers, dt


def import_diffusers(need_accelerate: bool = True):
    """The diffusers module, with safetensors.torch imported (diffusers 0.31 calls it without
    importing it). `need_accelerate`: exit unless accelerate is installed, without which
    diffusers 0.31's from_pretrained cannot load sharded checkpoints at all and only warns
    about missing tensors (leaving them randomly initialised)."""
    import diffusers
    import safetensors.torch  # noqa: F401

    if need_accelerate and not diffusers.utils.is_accelerate_available():
        sys.exit("accelerate is not installed: run scripts/setup-venv.sh and use .venv/bin/python")
    return diffusers


def install_sdpa_for_torch1() -> None:
    """torch 1.13 (the venv's) has no F.scaled_dot_product_attention, which diffusers' Flux
    attention processor requires (FluxTransformerBlock refuses to build without it). Installs its
    definition for the case diffusers uses (no mask, no dropout, not causal): softmax(q k^T /
    sqrt(d)) v, in the inputs' dtype (float64 for the references). No-op on torch 2."""
    import torch
    import torch.nn.functional as F

    if hasattr(F, "scaled_dot_product_attention"):
        return

    def sdpa(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
        if attn_mask is not None or dropout_p != 0.0 or is_causal:
            raise NotImplementedError("the test shim implements unmasked, dropout-free attention only")
        s = scale if scale is not None else query.shape[-1] ** -0.5
        return torch.softmax(query @ key.transpose(-2, -1) * s, dim=-1) @ value

    F.scaled_dot_product_attention = sdpa


def add_control_args(ap: argparse.ArgumentParser, required: bool) -> None:
    """fresco-run's ControlNet flags: --control-image once per net, the others F or F1,F2,..."""
    floats = lambda v: [float(x) for x in v.split(",")]  # noqa: E731
    ap.add_argument("--control-image", required=required, action="append")
    ap.add_argument("--controlnet-scale", type=floats)
    ap.add_argument("--control-guidance-start", type=floats, default=[0.0])
    ap.add_argument("--control-guidance-end", type=floats, default=[1.0])
    ap.add_argument("--guess-mode", action="store_true", help="guess_mode (SD and SDXL classes)")


def control_kwargs(args, image_key: str = "image") -> dict:
    """The ControlNet classes' __call__ arguments for add_control_args' flags (the control image as
    `image_key`: "control_image" for the Img2Img classes; the scale left to the class's default
    unless given); installs the torch._dynamo stand-in their check_inputs reads (torch 2's compile
    wrapper) on torch 1."""
    import torch
    from PIL import Image

    if not hasattr(torch, "_dynamo"):
        import types
        wrapper = type("OptimizedModule", (), {})
        torch._dynamo = types.SimpleNamespace(eval_frame=types.SimpleNamespace(OptimizedModule=wrapper))
    one = lambda v: v[0] if len(v) == 1 else v  # noqa: E731  (a float applies to every net)
    images = [Image.open(p) for p in args.control_image]
    out = {image_key: one(images), "control_guidance_start": one(args.control_guidance_start),
           "control_guidance_end": one(args.control_guidance_end)}
    if args.controlnet_scale is not None:
        out["controlnet_conditioning_scale"] = one(args.controlnet_scale)
    if args.guess_mode:
        out["guess_mode"] = True
    return out


def save_normal_noise(path: str, shape: tuple, seed: int) -> None:
    """Writes float32 N(0, 1) values of `shape` from numpy's default_rng(seed) to `path`."""
    noise = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    np.save(path, noise)
    print(f"wrote {path} float32 {list(noise.shape)}")


def give_img2img_noise(module, noise) -> list:
    """Makes an img2img pipeline module draw `noise` (a tensor) where it calls randn_tensor and take
    the VAE encoder's mean (retrieve_latents in "argmax" mode) instead of a sample, as fresco-run
    --image does. Returns the list of the noise draws' shapes (one per randn_tensor call)."""
    calls = []

    def given_noise(shape, generator=None, device=None, dtype=None, layout=None):
        assert tuple(shape) == tuple(noise.shape), f"noise {list(noise.shape)} for {list(shape)}"
        calls.append(shape)
        return noise.to(dtype)

    original_retrieve = module.retrieve_latents

    def mean_latents(encoder_output, generator=None, sample_mode="sample"):
        return original_retrieve(encoder_output, generator, sample_mode="argmax")

    module.randn_tensor, module.retrieve_latents = given_noise, mean_latents
    return calls


def write_mask(out: str, height: int, width: int, seed: int, mode: str) -> None:
    """An inpainting mask PNG as PIL writes it: 4x4 blocks each white, black or one of the gray levels
    around diffusers' threshold (127 keeps, 128 repaints), so that the binarization and the nearest
    sampling onto the latent grid are both exercised. mode "L" (gray), "RGB" (every block a colour
    of that PIL "L" side: (0, 255, 0) is 150, repainted, (255, 0, 255) 105, kept, where a plain
    mean would say the opposite), "RGBA", or "black" (all zeros, gray)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    levels = np.array([0, 255, 127, 128, 200, 40], dtype=np.uint8)
    blocks = levels[rng.integers(0, len(levels), ((height + 3) // 4, (width + 3) // 4))]
    gray = np.kron(blocks, np.ones((4, 4), dtype=np.uint8))[:height, :width]
    # A few single pixels flipped: nearest sampling must pick the right ones.
    flips = rng.integers(0, height * width, max(1, height * width // 16))
    gray.reshape(-1)[flips] = 255 - gray.reshape(-1)[flips]
    if mode == "black":
        Image.fromarray(np.zeros((height, width), dtype=np.uint8), "L").save(out)
    elif mode == "L":
        Image.fromarray(gray, "L").save(out)
    else:
        palette = {0: (0, 0, 0), 255: (255, 255, 255), 127: (127, 127, 127), 128: (128, 128, 128),
                   200: (0, 255, 0), 40: (255, 0, 255)}
        rgb = np.array([palette[int(v)] if int(v) in palette else (v, v, v) for v in gray.reshape(-1)],
                       dtype=np.uint8).reshape(height, width, 3)
        img = Image.fromarray(rgb, "RGB")
        if mode == "RGBA":
            img.putalpha(255)
        img.save(out)
    print(f"wrote {out} {width}x{height} {mode}")


def add_mask_args(sub) -> None:
    """The `mask` command of the pipeline references (write_mask)."""
    mk = sub.add_parser("mask")
    mk.add_argument("--out", required=True)
    mk.add_argument("--height", type=int, default=32)
    mk.add_argument("--width", type=int, default=24)
    mk.add_argument("--seed", type=int, default=0)
    mk.add_argument("--mode", choices=["L", "RGB", "RGBA", "black"], default="L")
