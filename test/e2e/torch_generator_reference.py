"""diffusers' pipelines with generator=torch.Generator("cpu").manual_seed(SEED), for
fresco-run --generator torch.

  torch_generator_reference.py --pipeline DIR --class NAME [--prompt P ...] [--class-labels 3,7]
      [--num-images-per-prompt N] [--steps 4] [--guidance-scale G] [--height H --width W]
      [--max-sequence-length L] [--scheduler NAME] [--scheduler-config K=V ...]
      [--image in.png [--mask m.png] [--strength S]]
      [--image-latents x.npy] [--denoising-start F] [--control-image c.png ...
      [--controlnet-scale S[,S...]]]
      --seed S[,S2,...] [--dtype float64] [--noise-dtype float32|bfloat16|float16] --out-latents y.npy

Runs NAME.__call__ (StableDiffusionPipeline, StableDiffusionXLPipeline, StableDiffusion3Pipeline,
FluxPipeline, DiTPipeline, and their Img2Img and Inpaint classes with --image and --mask, given as
PIL images; the ControlNet classes with --control-image) unchanged but for one thing: every randn_tensor call draws float32 (--noise-dtype:
what a pipeline run in that dtype draws) from the generator and casts to the run's dtype, which
is what fresco-run --generator torch (torch-bf16, torch-f16) reproduces (a float64 draw would be
another stream). Several seeds give a list of generators, one per image. Writes the final latents (output_type
"latent"; DiT: the latents its VAE decode receives, times scaling_factor) and prints the
randn_tensor calls' shapes, so that the test sees the draws happened.
"""
import sys

import numpy as np

from fresco_ref_common import COMPUTE_DTYPES, add_control_args, arg_parser, control_kwargs, pipeline_reference_setup


def patch_randn(diffusers_module, calls: list, noise_dtype) -> None:
    """randn_tensor in `noise_dtype` then cast, in every diffusers module that imported it."""
    import torch

    original = diffusers_module.utils.torch_utils.randn_tensor

    def drawn_randn(shape, generator=None, device=None, dtype=None, layout=None):
        gens = generator if isinstance(generator, list) else [generator]
        assert all(isinstance(g, torch.Generator) for g in gens), "a draw without the seeded generator"
        calls.append(tuple(shape))
        # The pipeline runs in float64 here: a float32 request is a class fixing the dtype
        # (DPM-Solver's SDE step noise), which a pipeline in any dtype draws in float32.
        draw = torch.float32 if dtype == torch.float32 else noise_dtype
        return original(shape, generator=generator, device=device, dtype=draw,
                        layout=layout).to(dtype)

    for name, module in list(sys.modules.items()):
        if name.startswith("diffusers") and getattr(module, "randn_tensor", None) is original:
            module.randn_tensor = drawn_randn


def main() -> None:
    import torch

    ap = arg_parser(__doc__)
    ap.add_argument("--pipeline", required=True)
    ap.add_argument("--class", dest="cls", required=True)
    ap.add_argument("--prompt", action="append", default=[])
    ap.add_argument("--class-labels")
    ap.add_argument("--num-images-per-prompt", type=int, default=1)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--guidance-scale", type=float)
    ap.add_argument("--height", type=int)
    ap.add_argument("--width", type=int)
    ap.add_argument("--max-sequence-length", type=int)
    ap.add_argument("--scheduler")
    ap.add_argument("--scheduler-config", action="append", default=[], metavar="K=V",
                    help="a scheduler config key, as fresco-run's (from_config keyword arguments)")
    ap.add_argument("--image")
    ap.add_argument("--mask")
    ap.add_argument("--strength", type=float)
    ap.add_argument("--image-latents", help="an .npy [1, C, h, w]: the init image as latents (SDXL)")
    ap.add_argument("--denoising-start", type=float)
    ap.add_argument("--seed", required=True, help="S, or S1,S2,...: a generator per image")
    ap.add_argument("--dtype", choices=COMPUTE_DTYPES, default="float64")
    ap.add_argument("--noise-dtype", choices=("float32", "bfloat16", "float16"), default="float32")
    ap.add_argument("--out-latents", required=True)
    add_control_args(ap, required=False)
    args = ap.parse_args()

    diffusers, dt = pipeline_reference_setup(args.dtype)
    extra = dict(safety_checker=None) if args.cls.startswith("StableDiffusion") and "XL" not in args.cls \
        and "3" not in args.cls else {}
    pipe = getattr(diffusers, args.cls).from_pretrained(args.pipeline, torch_dtype=dt, **extra)
    pipe.set_progress_bar_config(disable=True)
    if args.scheduler or args.scheduler_config:
        from sd_pipeline_reference import scheduler_kwargs

        pipe.scheduler = getattr(diffusers, args.scheduler or type(pipe.scheduler).__name__).from_config(
            pipe.scheduler.config, **scheduler_kwargs(args.scheduler_config))
    calls = []
    patch_randn(diffusers, calls, getattr(torch, args.noise_dtype))
    seeds = [int(x) for x in args.seed.split(",")]
    generator = [torch.Generator("cpu").manual_seed(x) for x in seeds]
    generator = generator[0] if len(generator) == 1 else generator
    kw = dict(num_inference_steps=args.steps, generator=generator)
    if args.guidance_scale is not None:
        kw.update(guidance_scale=args.guidance_scale)
    with torch.no_grad():
        if args.cls == "DiTPipeline":
            decoded = []
            decode = pipe.vae.decode

            def recording_decode(z, *a, **k):
                decoded.append(z * pipe.vae.config.scaling_factor)
                return decode(z, *a, **k)

            pipe.vae.decode = recording_decode
            labels = [int(x) for x in args.class_labels.split(",")]
            pipe(class_labels=labels, output_type="np", **kw)
            out = decoded[0]
        else:
            kw.update(prompt=args.prompt, num_images_per_prompt=args.num_images_per_prompt,
                      height=args.height, width=args.width, output_type="latent")
            if args.max_sequence_length:
                kw.update(max_sequence_length=args.max_sequence_length)
            from PIL import Image
            if args.image:
                kw.update(image=Image.open(args.image).convert("RGB"))
            if args.mask:
                kw.update(mask_image=Image.open(args.mask))
            if args.image_latents:
                kw.update(image=torch.from_numpy(np.load(args.image_latents.lstrip("@"))).to(dt))
            if args.strength is not None:
                kw.update(strength=args.strength)
            if args.denoising_start is not None:
                kw.update(denoising_start=args.denoising_start)
            if args.control_image:  # the Img2Img classes take it as control_image
                kw.update(control_kwargs(args, "control_image" if args.image else "image"))
            import inspect
            if "height" not in inspect.signature(pipe.__call__).parameters:
                kw.pop("height"), kw.pop("width")  # SD3's img2img: the image's size
            out = pipe(**kw).images
    np.save(args.out_latents, out.float().numpy())
    print(f"randn_tensor calls: {calls}")
    print(f"wrote {args.out_latents} {list(out.shape)}")


if __name__ == "__main__":
    main()
