#!/usr/bin/env python3
"""Reference text-to-image generation with the real diffusers FluxPipeline, on CPU PyTorch.

Write initial latents:
  flux_pipeline_reference.py --pipeline DIR --make-latents x.npy [--batch 2] [--seed 0]
      [--height 32] [--width 32]
  writes float32 N(0, 1) latents (numpy default_rng(seed)) in FluxPipeline's packed layout
  [B, (h/2)(w/2), 4C], C = transformer in_channels / 4, h = 2 * (H // vae_scale_factor),
  w = 2 * (W // vae_scale_factor), with diffusers 0.31's vae_scale_factor = 2 ** len(VAE
  block_out_channels) (16 for FLUX.1: [B, (H/16)(W/16), 64]). The noise is drawn as [B, C, h, w]
  and packed with FluxPipeline._pack_latents, as prepare_latents does. H and W must be multiples
  of vae_scale_factor (diffusers would floor them and decode a smaller image).

Run the pipeline:
  flux_pipeline_reference.py --pipeline DIR --prompt P [--prompt P2 ...] [--prompt-2 Q ...]
      [--latents x.npy | --seed S] [--steps 4] [--guidance-scale 3.5] [--height 32] [--width 32]
      [--max-sequence-length 16] [--dtype float32|float64|bfloat16]
      [--out-latents y.npy] [--out-images img.npy] [--dump-components OUTDIR]
      [--image in.png [--strength 0.8]] [--patch P [--fresh-steps W]] [--lora FILE[:SCALE] ...]
  DIR is a diffusers FluxPipeline folder (e.g. from make_flux_pipeline.py). One image per --prompt;
  --prompt-2 (the T5 prompt) is given once per --prompt or not at all (then T5 gets --prompt, as
  in FluxPipeline). x.npy is the packed initial latents (a leading '@' is ignored); without it they
  are drawn from --seed as --make-latents does. FluxPipeline.__call__ runs unchanged with
  latents=x, output_type="latent"; guidance_scale only feeds the guidance embedder (dev), there is
  no CFG pass. Outputs:
    --out-latents      float32 [B, tokens, 4C]: the final packed latents (output_type="latent").
    --out-images       float32 [B, 3, H, W]: the VAE decoder's raw output for the final latents,
                       decoded by hand as FluxPipeline does for other output types
                       (_unpack_latents, latents / scaling_factor + shift_factor, vae.decode),
                       BEFORE VaeImageProcessor.postprocess (which would map x to
                       clamp(x / 2 + 0.5, 0, 1) in HWC). Nominally in [-1, 1]; random weights may
                       exceed it, nothing is clamped.
    --dump-components  OUTDIR/*.npy as the pipeline used them, captured by wrapping the text
                       encoders' and the transformer's forward during the call:
                         clip_input_ids      int64 [B, tokenizer max length]
                         clip_pooled         [B, hidden]       CLIPTextModel pooler_output
                         t5_input_ids        int64 [B, L]      L = --max-sequence-length
                         t5_last_hidden      [B, L, d_model]   T5EncoderModel last_hidden_state
                         timesteps           [steps]           scheduler.timesteps (0..1000 units)
                         sigmas              [steps + 1]       scheduler.sigmas (final 0)
                         transformer_timestep [steps, B]       what the transformer got (t / 1000)
                         guidance            [B]               dev only
                         text_ids            [L, 3]            zeros
                         latent_image_ids    [tokens, 3]
                         step0/NAME          the transformer's inputs at step 0, named and laid
                                             out as flux_reference.py --make-inputs writes them
                                             (hidden_states, encoder_hidden_states,
                                             pooled_projections, timestep, img_ids, txt_ids,
                                             guidance for dev), so flux_reference.py --inputs
                                             and fresco-run --function transformer take them
                         step0_noise_pred    [B, tokens, 4C]   the transformer's output at step 0
                       plus meta.json (prompts, mu, scheduler config, vae_scale_factor, shapes).
  --image in.png --strength S runs FluxImg2ImgPipeline.__call__ instead (the folder loaded as it;
  default strength 0.8), with the init image as PIL opens it and two substitutions so that it
  matches fresco-run --image: the encoded image is the latent distribution's mean (retrieve_latents
  with sample_mode="argmax") instead of a sample, and the noise prepare_latents draws for
  scale_noise is x.npy (fresco-run's --latents), unpacked with _unpack_latents, instead of
  torch.randn (the image is noised with it, not replaced by it as latents= would do).
  --mask mask.png (with --image) runs FluxInpaintPipeline.__call__ instead, with the same
  substitutions: the latents are put back to the init image's, noised to the next step, wherever the
  binarized mask is black.
  --control-image c.png (once per ControlNet) [--controlnet-scale S[,S..]]
  [--control-guidance-start F[,F..]] [--control-guidance-end F[,F..]] runs FluxControlNetPipeline.__call__
  instead (a FluxControlNetPipeline folder, from make_flux_pipeline.py --controlnets K; K > 1 loaded
  as FluxMultiControlNetModel of controlnet, controlnet_1, ...; a FluxMultiControlNetModel entry
  with controlnet/ alone: that one union net over the control images), with one substitution: the control
  image's latents are the VAE encoder's mean (diffusers 0.31 samples them from torch's global RNG,
  latent_dist.sample(), not from the pipeline's generator), as fresco-run takes them. With --image:
  FluxControlNetImg2ImgPipeline, and with --mask too FluxControlNetInpaintPipeline, substituted as
  above, and two bugs of 0.31's inpaint class undone as later releases fixed them (a single net's
  control image resized with height and width swapped; several nets failing on
  controlnet.config).
  --patch P emulates DistriFusion on P ranks (fresco-compile --parallel patch=P; default off): the
  joint attentions of the double- and single-stream blocks read the other ranks' keys and values
  (text and image blocks, each stream split on its own) of the previous step after the first W
  steps (--fresh-steps, default 1); see distrifusion.py.
  float64 runs every model in double (the default dtype too, for transformers' CLIP mask), but
  diffusers computes some things in float32 whatever the dtype: FlowMatchEulerDiscreteScheduler's
  sigmas and its step (the sample is upcast to float32 and cast back), the Flux timestep
  sinusoids, RMS norms' mean squares and rotary products. Everything is saved as float32 (ids as
  int64).
"""
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
# CLIPTokenizer cleans text with ftfy when it imports; Fresco replays the path without it.
sys.modules["ftfy"] = None

import distrifusion  # noqa: E402
from fresco_ref_common import (add_control_args, add_lora_arg, arg_parser, control_kwargs, import_diffusers,  # noqa: E402
                               install_sdpa_for_torch1, load_loras, read_json)


def packing(pipeline: str, height: int, width: int):
    """(vae_scale_factor, C, h, w) of FluxPipeline.prepare_latents for an H x W image."""
    vae = read_json(os.path.join(pipeline, "vae", "config.json"))
    transformer = read_json(os.path.join(pipeline, "transformer", "config.json"))
    vsf = 2 ** len(vae["block_out_channels"])  # diffusers 0.31's FluxPipeline.vae_scale_factor
    if height <= 0 or width <= 0 or height % vsf or width % vsf:
        sys.exit(f"--height and --width must be positive multiples of the pipeline's vae_scale_factor {vsf} "
                 f"(the VAE's {vsf // 2} times the 2x2 packing), got {height} x {width}")
    if transformer["in_channels"] % 4:
        sys.exit(f"transformer in_channels {transformer['in_channels']} is not a multiple of 4 (2x2 packing)")
    return vsf, transformer["in_channels"] // 4, 2 * (height // vsf), 2 * (width // vsf)


def make_latents(pipeline: str, batch: int, height: int, width: int, seed: int) -> np.ndarray:
    import torch

    diffusers = import_diffusers(need_accelerate=False)
    _, c, h, w = packing(pipeline, height, width)
    noise = np.random.default_rng(seed).standard_normal((batch, c, h, w)).astype(np.float32)
    packed = diffusers.FluxPipeline._pack_latents(torch.from_numpy(noise), batch, c, h, w)
    return packed.numpy()


def load_latents(path: str) -> np.ndarray:
    return np.load(path[1:] if path.startswith("@") else path).astype(np.float32)


class Recorder:
    """Wraps forward of the pipeline's text encoders and transformer to keep what they saw."""

    def __init__(self, pipe):
        self.calls = {"clip": [], "t5": [], "transformer": []}
        self._wrap(pipe.text_encoder, "clip")
        self._wrap(pipe.text_encoder_2, "t5")
        self._wrap(pipe.transformer, "transformer")

    def _wrap(self, module, key):
        forward = module.forward

        def recorded(*args, **kwargs):
            out = forward(*args, **kwargs)
            self.calls[key].append((args, kwargs, out))
            return out

        module.forward = recorded

    def one(self, key):
        if len(self.calls[key]) != 1:
            sys.exit(f"expected one {key} call, got {len(self.calls[key])}")
        return self.calls[key][0]


def dump(outdir: str, pipe, recorder: Recorder, args, prompts, prompts_2, mu) -> None:
    def f32(t):
        return t.detach().float().numpy()

    arrays = {}
    clip_args, _, clip_out = recorder.one("clip")
    arrays["clip_input_ids"] = clip_args[0].numpy().astype(np.int64)
    arrays["clip_pooled"] = f32(clip_out.pooler_output)
    t5_args, _, t5_out = recorder.one("t5")
    arrays["t5_input_ids"] = t5_args[0].numpy().astype(np.int64)
    arrays["t5_last_hidden"] = f32(t5_out[0])
    arrays["timesteps"] = f32(pipe.scheduler.timesteps)
    arrays["sigmas"] = f32(pipe.scheduler.sigmas)
    steps = recorder.calls["transformer"]
    arrays["transformer_timestep"] = np.stack([f32(kw["timestep"]) for _, kw, _ in steps])
    first_kw, first_out = steps[0][1], steps[0][2]
    if first_kw["guidance"] is not None:
        arrays["guidance"] = f32(first_kw["guidance"])
    arrays["text_ids"] = f32(first_kw["txt_ids"])
    arrays["latent_image_ids"] = f32(first_kw["img_ids"])
    arrays["step0_noise_pred"] = f32(first_out[0])
    for name in ("hidden_states", "encoder_hidden_states", "pooled_projections", "timestep", "img_ids", "txt_ids",
                 "guidance"):
        if first_kw[name] is not None:
            arrays[f"step0/{name}"] = f32(first_kw[name])
    os.makedirs(os.path.join(outdir, "step0"), exist_ok=True)
    for name, array in arrays.items():
        np.save(os.path.join(outdir, f"{name}.npy"), array)
    meta = {
        "prompts": prompts, "prompts_2": prompts_2, "steps": args.steps, "guidance_scale": args.guidance_scale,
        "height": args.height, "width": args.width, "max_sequence_length": args.max_sequence_length,
        "dtype": args.dtype, "mu": mu, "vae_scale_factor": pipe.vae_scale_factor,
        "tokenizer_max_length": pipe.tokenizer_max_length, "scheduler": dict(pipe.scheduler.config),
        "shapes": {name: list(a.shape) for name, a in arrays.items()},
    }
    with open(os.path.join(outdir, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1, default=str)
    print(f"wrote {len(arrays)} component tensors and meta.json to {outdir}")


def img2img(diffusers, pipe, args, prompts, prompts_2, noise):
    """FluxImg2ImgPipeline.__call__ (FluxInpaintPipeline's with --mask) as fresco-run --image runs it:
    the encoder's mean, the noise given."""
    import torch
    from PIL import Image

    module = sys.modules[type(pipe).__module__]
    unpacked = pipe._unpack_latents(noise, args.height, args.width, pipe.vae_scale_factor)
    calls = []

    def given_noise(shape, generator=None, device=None, dtype=None, layout=None):
        assert tuple(shape) == tuple(unpacked.shape), f"noise {list(unpacked.shape)} for {list(shape)}"
        calls.append(shape)
        return unpacked.to(dtype)

    original_retrieve, original_randn = module.retrieve_latents, module.randn_tensor

    def mean_latents(encoder_output, generator=None, sample_mode="sample"):
        return original_retrieve(encoder_output, generator, sample_mode="argmax")

    module.randn_tensor, module.retrieve_latents = given_noise, mean_latents
    extra = dict(mask_image=Image.open(args.mask)) if args.mask else {}
    dist = diffusers.models.autoencoders.vae.DiagonalGaussianDistribution
    original_sample = dist.sample
    if args.control_image:  # FluxControlNetImg2Img/InpaintPipeline: the control image's latent mean too
        extra.update(control_arguments(diffusers, pipe, args))
        dist.sample = lambda self, generator=None: self.mode()
    try:
        out = pipe(prompt=prompts, prompt_2=prompts_2, image=Image.open(args.image), strength=args.strength, **extra,
                   height=args.height, width=args.width, num_inference_steps=args.steps,
                   guidance_scale=args.guidance_scale, max_sequence_length=args.max_sequence_length,
                   output_type="latent", return_dict=False)[0]
    finally:
        module.randn_tensor, module.retrieve_latents = original_randn, original_retrieve
        dist.sample = original_sample
    assert len(calls) == 1, "prepare_latents did not draw its noise through randn_tensor"
    return out


def control_arguments(diffusers, pipe, args) -> dict:
    """The FluxControlNet classes' control arguments for the run's flags (a list of scales and
    images for a FluxMultiControlNetModel, whose __call__ zips them with the nets)."""
    extra = control_kwargs(args, "control_image")
    if args.control_mode is not None:
        extra["control_mode"] = args.control_mode[0] if len(args.control_mode) == 1 else args.control_mode
    if isinstance(pipe.controlnet, diffusers.FluxMultiControlNetModel):
        if not isinstance(extra["control_image"], list):
            extra["control_image"] = [extra["control_image"]]
        # One scale per image (one union net may read several).
        scale = extra.get("controlnet_conditioning_scale", 1.0)
        extra["controlnet_conditioning_scale"] = scale if isinstance(scale, list) else [scale] * len(
            extra["control_image"])
        # The inpaint class zips the nets with a mode list (None for a plain net): without one it
        # runs none of them.
        if isinstance(pipe, diffusers.FluxControlNetInpaintPipeline) and "control_mode" not in extra:
            extra["control_mode"] = [None] * len(pipe.controlnet.nets)
    return extra


def controlnet_pipeline(diffusers, folder: str, dtype, cls=None):
    """FluxControlNetPipeline of `folder` with its nets: one FluxControlNetModel, or a
    FluxMultiControlNetModel of controlnet, controlnet_1, ... (which diffusers cannot load itself)."""
    multi = read_json(os.path.join(folder, "model_index.json"))["controlnet"][1] == "FluxMultiControlNetModel"
    nets, k = [], 0
    while os.path.isdir(os.path.join(folder, f"controlnet_{k}" if k else "controlnet")):
        nets.append(diffusers.FluxControlNetModel.from_pretrained(
            os.path.join(folder, f"controlnet_{k}" if k else "controlnet"), torch_dtype=dtype))
        k += 1
        if not multi:
            break
    # A FluxMultiControlNetModel entry with one union net: that net over several images.
    controlnet = diffusers.FluxMultiControlNetModel(nets) if multi else nets[0]
    pipe = (cls or diffusers.FluxControlNetPipeline).from_pretrained(folder, controlnet=controlnet,
                                                                     torch_dtype=dtype)
    if cls is diffusers.FluxControlNetInpaintPipeline:
        # Two bugs of 0.31's inpaint class that later releases fixed, undone here: it resizes a
        # single net's control image to width=height, height=width (the multi-net branch does
        # not), and reads controlnet.config.guidance_embeds, which a FluxMultiControlNetModel
        # lacks (later releases read nets[0]'s).
        if not multi:
            prepare = pipe.prepare_image

            def unswapped(**kw):
                kw["width"], kw["height"] = kw["height"], kw["width"]
                return prepare(**kw)
            pipe.prepare_image = unswapped
        else:
            controlnet.config = nets[0].config
    return pipe


def controlnet_run(diffusers, pipe, args, prompts, prompts_2, latents):
    """FluxControlNetPipeline.__call__ with the control image's latent mean."""
    dist = diffusers.models.autoencoders.vae.DiagonalGaussianDistribution
    original = dist.sample
    dist.sample = lambda self, generator=None: self.mode()
    extra = control_arguments(diffusers, pipe, args)
    try:
        return pipe(prompt=prompts, prompt_2=prompts_2, height=args.height, width=args.width,
                    num_inference_steps=args.steps, guidance_scale=args.guidance_scale, latents=latents,
                    max_sequence_length=args.max_sequence_length, output_type="latent", return_dict=False,
                    **extra)[0]
    finally:
        dist.sample = original


def run(args) -> None:
    import torch

    prompts = args.prompt
    prompts_2 = args.prompt_2
    if prompts_2 is not None and len(prompts_2) != len(prompts):
        sys.exit(f"--prompt-2 is given {len(prompts_2)} times for {len(prompts)} --prompt; give it once per "
                 "--prompt or not at all")
    vsf, c, h, w = packing(args.pipeline, args.height, args.width)
    if args.latents:
        latents = load_latents(args.latents)
    else:
        latents = make_latents(args.pipeline, len(prompts), args.height, args.width, args.seed)
    want = (len(prompts), (h // 2) * (w // 2), 4 * c)
    if latents.shape != want:
        sys.exit(f"latents have shape {list(latents.shape)}, expected {list(want)} for {len(prompts)} prompt(s) "
                 f"at {args.height} x {args.width} (vae_scale_factor {vsf})")

    install_sdpa_for_torch1()
    diffusers = import_diffusers()
    dtype = getattr(torch, args.dtype)
    # transformers' CLIP builds its causal mask in the default dtype (which
    # cannot be bfloat16: then float32, as in a bfloat16 pipeline).
    torch.set_default_dtype(dtype if dtype != torch.bfloat16 else torch.float32)
    cls = diffusers.FluxPipeline
    if args.image:
        cls = diffusers.FluxInpaintPipeline if args.mask else diffusers.FluxImg2ImgPipeline
    if args.control_image:
        pipe = controlnet_pipeline(diffusers, args.pipeline, dtype,
                                   diffusers.FluxControlNetInpaintPipeline if args.mask else
                                   diffusers.FluxControlNetImg2ImgPipeline if args.image else None)
    else:
        pipe = cls.from_pretrained(args.pipeline, torch_dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    assert pipe.vae_scale_factor == vsf, (pipe.vae_scale_factor, vsf)
    load_loras(pipe, args.lora)
    recorder = Recorder(pipe)
    emulation = distrifusion.from_args(args, pipe.transformer)
    with torch.no_grad():
        if args.image:  # FluxControlNetImg2ImgPipeline with --control-image
            out = img2img(diffusers, pipe, args, prompts, prompts_2, torch.from_numpy(latents).to(dtype))
        elif args.control_image:
            out = controlnet_run(diffusers, pipe, args, prompts, prompts_2, torch.from_numpy(latents).to(dtype))
        else:
            out = pipe(prompt=prompts, prompt_2=prompts_2, height=args.height, width=args.width,
                       num_inference_steps=args.steps, guidance_scale=args.guidance_scale,
                       latents=torch.from_numpy(latents).to(dtype), max_sequence_length=args.max_sequence_length,
                       output_type="latent", return_dict=False)[0]
        final = out.detach()
        if emulation:
            emulation.check_calls(args.steps)
            print(emulation.summary())
        images = None
        if args.out_images:
            z = pipe._unpack_latents(final, args.height, args.width, pipe.vae_scale_factor)
            z = z / pipe.vae.config.scaling_factor + pipe.vae.config.shift_factor
            images = pipe.vae.decode(z, return_dict=False)[0]
    mu = diffusers.pipelines.flux.pipeline_flux.calculate_shift(
        latents.shape[1], pipe.scheduler.config.base_image_seq_len, pipe.scheduler.config.max_image_seq_len,
        pipe.scheduler.config.base_shift, pipe.scheduler.config.max_shift)

    final = final.float().numpy()
    print(f"FluxPipeline: {len(prompts)} prompt(s), {args.steps} steps, guidance {args.guidance_scale}, "
          f"{args.height} x {args.width}, {args.dtype}; final latents {list(final.shape)}, "
          f"max |latents| {np.abs(final).max():.6g}")
    if args.out_latents:
        np.save(args.out_latents, final)
        print(f"wrote {args.out_latents} float32 {list(final.shape)}")
    if images is not None:
        images = images.float().numpy()
        np.save(args.out_images, images)
        print(f"wrote {args.out_images} float32 {list(images.shape)} (raw VAE output, range "
              f"[{images.min():.4g}, {images.max():.4g}])")
    if args.dump_components:
        dump(args.dump_components, pipe, recorder, args, prompts, prompts_2, mu)


def main() -> None:
    ap = arg_parser(__doc__)
    ap.add_argument("--pipeline", required=True, help="diffusers FluxPipeline folder")
    ap.add_argument("--make-latents", metavar="OUT", help="write initial packed latents to OUT and exit")
    ap.add_argument("--batch", type=int, default=2, help="images for --make-latents (default 2)")
    ap.add_argument("--seed", type=int, default=0, help="latent seed (default 0)")
    ap.add_argument("--height", type=int, default=32, help="image height in pixels (default 32)")
    ap.add_argument("--width", type=int, default=32, help="image width in pixels (default 32)")
    ap.add_argument("--prompt", action="append", help="a prompt (repeat for more images)")
    ap.add_argument("--prompt-2", action="append", help="the T5 prompt, once per --prompt")
    ap.add_argument("--latents", help="initial packed latents .npy (default: drawn from --seed)")
    ap.add_argument("--steps", type=int, default=4, help="num_inference_steps (default 4)")
    ap.add_argument("--guidance-scale", type=float, default=3.5, help="guidance_scale (default 3.5)")
    ap.add_argument("--max-sequence-length", type=int, default=16, help="T5 tokens (default 16)")
    ap.add_argument("--dtype", choices=("float32", "float64", "bfloat16"), default="float32",
                    help="compute dtype (bfloat16: diffusers' own error in 2-byte floats, for bounds)")
    ap.add_argument("--out-latents", help="final packed latents .npy")
    ap.add_argument("--out-images", help="decoded images .npy, [B, 3, H, W] raw VAE output")
    ap.add_argument("--dump-components", metavar="OUTDIR", help="write intermediate tensors here")
    ap.add_argument("--image", help="init image PNG: image-to-image with FluxImg2ImgPipeline")
    ap.add_argument("--mask", help="with --image: inpainting with FluxInpaintPipeline (white repainted)")
    add_lora_arg(ap)
    add_control_args(ap, required=False)
    ap.add_argument("--control-mode", type=lambda v: [int(x) for x in v.split(",")],
                    help="ControlNet-Union's control_mode, M or M1,M2,...")
    ap.add_argument("--strength", type=float, default=0.8, help="image-to-image strength (default 0.8)")
    distrifusion.add_args(ap)
    args = ap.parse_args()
    distrifusion.check_args(ap, args)
    if args.mask and not args.image:
        ap.error("--mask needs --image")
    if args.image and (args.patch or args.pipefusion):
        ap.error("--image and --patch or --pipefusion: the emulation counts a text-to-image run's steps; not both")

    cls = read_json(os.path.join(args.pipeline, "model_index.json")).get("_class_name")
    if cls not in ("FluxPipeline", "FluxControlNetPipeline"):
        sys.exit(f"{args.pipeline}: model_index.json's _class_name is not FluxPipeline or FluxControlNetPipeline")
    if (cls == "FluxControlNetPipeline") != bool(args.control_image) and not args.make_latents:
        ap.error("--control-image goes with a FluxControlNetPipeline folder, and that folder needs it")
    if args.control_image and (args.patch or args.pipefusion):
        ap.error("--control-image with --patch or --pipefusion is not emulated")
    if args.make_latents:
        if args.batch <= 0:
            sys.exit(f"--batch must be positive, got {args.batch}")
        latents = make_latents(args.pipeline, args.batch, args.height, args.width, args.seed)
        np.save(args.make_latents, latents)
        print(f"wrote {args.make_latents} float32 {list(latents.shape)}")
        return
    if not args.prompt:
        ap.error("give at least one --prompt (or --make-latents)")
    if args.steps <= 0 or args.max_sequence_length <= 0:
        sys.exit("--steps and --max-sequence-length must be positive")
    with distrifusion.exit_on_refusal():
        run(args)


if __name__ == "__main__":
    main()
