#!/usr/bin/env python3
"""Tiny random StableDiffusionPipeline folders and the real diffusers pipeline as the reference.

Write a folder:
  sd_pipeline_reference.py make --out DIR [--seed 0] [--scheduler DDIMScheduler] [--sd2]
  diffusers' StableDiffusionPipeline(...).save_pretrained: the UNet of
  models/unet/configs/unet-tiny.json (seed S), a tiny AutoencoderKL with 4 latent channels
  (block_out_channels [8, 16]: vae_scale_factor 2; seed S + 1), a tiny CLIPTextModel whose
  hidden size is the UNet's cross_attention_dim with CLIP's real BPE tokenizer (77 tokens, as
  make_flux_pipeline.py builds it; seed S + 2), and the scheduler class named with SD 1.5's
  config (scaled_linear betas 0.00085..0.012, steps_offset 1, set_alpha_to_one false,
  skip_prk_steps true, clip_sample false). No safety checker or feature extractor. --sd2: the UNet
  of unet-tiny-sd2.json (cross_attention_dim 24 as well), prediction_type v_prediction, and the
  text encoder with hidden_act "gelu" (SD 2.x's OpenCLIP ViT-H). --inpaint: a
  StableDiffusionInpaintPipeline folder whose UNet takes 9 channels (latents, mask, masked image
  latents), as SD 1.5 inpainting's. --controlnet: a StableDiffusionControlNetPipeline folder with a
  random ControlNetModel made from the UNet's config (ControlNetModel.from_unet, its conditioning
  embedding [8, 16]: 2x, the tiny VAE's factor; seed S + 3, the zero convolutions random too).
  --controlnets N: a MultiControlNetModel of N such nets (seeds S + 3, S + 13, ...).
  --vae-blocks 4: a VAE of 4 blocks (SD's factor 8; the ControlNet's embedding [8, 8, 16, 16]).

Write initial latents:
  sd_pipeline_reference.py latents --pipeline DIR --out x.npy [--batch 2] [--seed 0]
      [--height 32] [--width 24]
  float32 N(0, 1) [B, 4, H / 2, W / 2] (numpy default_rng(seed)).

Run the pipeline:
  sd_pipeline_reference.py run --pipeline DIR --prompt P [--prompt ...] [--negative-prompt N ...]
      --latents x.npy [--steps 4] [--guidance-scale 7.5] [--height 32] [--width 24]
      [--dtype float32|float64] [--noise-seed S] --out-latents y.npy [--out-images z.npy]
      [--patch P [--fresh-steps W]]
  StableDiffusionPipeline.__call__ unchanged with latents=x and output_type="latent" (the final
  latents, before 1 / scaling_factor); --out-images decodes them as the pipeline does
  (vae.decode(latents / scaling_factor)) and writes the raw [B, 3, H, W] output. An
  EulerAncestralDiscreteScheduler draws Fresco's step noise for seed S (default 0), as
  `fresco-run --seed S` does (fresco_noise.py), instead of torch.randn. --scheduler NAME and
  --scheduler-config K=V (repeatable): the scheduler replaced by NAME.from_config(config, K=V, ...),
  as fresco-run's flags of those names.
  --patch P emulates DistriFusion on P ranks (fresco-compile --parallel patch=P; default off): the
  UNet's self-attentions (attn1; not the cross-attentions) read the other row bands' keys and
  values of the previous step after the first W steps (--fresh-steps, default 1); see
  distrifusion.py. One UNet call a step (CFG is in the batch).

Write an init image:
  sd_pipeline_reference.py image --out in.png [--height 32] [--width 24] [--seed 0] [--alpha]
  a smooth random 8-bit RGB PNG (RGBA with --alpha), as PIL writes it.

Image-to-image:
  sd_pipeline_reference.py img2img --pipeline DIR --prompt P [...] [--negative-prompt N ...]
      --image in.png --strength S --latents noise.npy [--steps 4] [--guidance-scale 7.5]
      [--dtype float32|float64] [--noise-seed S] [--scheduler NAME] --out-latents y.npy
  StableDiffusionImg2ImgPipeline.__call__ (the folder loaded as it; --scheduler: its scheduler
  replaced by NAME.from_config(pipe.scheduler.config), as fresco-run --scheduler NAME) with
  output_type="latent",
  the init image as PIL opens it, and two substitutions so that it matches fresco-run --image:
  the encoded image is the latent distribution's mean (retrieve_latents with
  sample_mode="argmax") instead of a sample, and the noise prepare_latents draws for add_noise is
  noise.npy (fresco-run's --latents) instead of torch.randn. An EulerAncestralDiscreteScheduler
  draws Fresco's step noise for seed S (fresco-run --seed S) at each step's schedule index, from
  the scheduler's begin_index on.

Inpainting:
  sd_pipeline_reference.py inpaint [the img2img flags] --mask mask.png [--height 32] [--width 24]
  StableDiffusionInpaintPipeline.__call__ on the folder's UNet (4 channels: the latents put back to
  the noised init image outside the mask after every step; 9: the mask and the masked image's
  latents as inputs), with img2img's substitutions; --strength defaults to the class's 1.0 (pure
  noise times init_noise_sigma).

ControlNet:
  sd_pipeline_reference.py controlnet [the run flags] --control-image c.png [--control-image ...]
      [--controlnet-scale S[,S...]] [--control-guidance-start F[,F...]] [--control-guidance-end F[,F...]]
  StableDiffusionControlNetPipeline.__call__ with image= the control image as PIL opens it,
  latents=x and output_type="latent" (Euler ancestral: Fresco's step noise, as run). With
  --image in.png [--strength S]: StableDiffusionControlNetImg2ImgPipeline (control_image= the
  control image), with img2img's substitutions (x the noise, the encoder's mean); with --mask
  m.png StableDiffusionControlNetInpaintPipeline the same way (the folder loaded as that class;
  `make --inpaint --controlnet` writes one whose UNet takes 9 channels).

Write a mask:
  sd_pipeline_reference.py mask --out mask.png [--height 32] [--width 24] [--seed 0]
      [--mode L|RGB|RGBA|black]  (fresco_ref_common.write_mask)
"""
import inspect
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "text"))
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import distrifusion  # noqa: E402
from fresco_noise import patch_ancestral_noise, schedule_index_of  # noqa: E402
from fresco_ref_common import (add_control_args, add_latents_args, add_mask_args, control_kwargs, add_pipeline_run_args, arg_parser,  # noqa: E402
                               give_img2img_noise, import_diffusers, load_loras, per_prompt, pipeline_reference_setup, read_json, save_latents,
                               save_pipeline, tiny_vae, write_mask)

REPO = os.path.dirname(os.path.dirname(HERE))
SD15_SCHEDULER = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                      beta_schedule="scaled_linear", steps_offset=1, set_alpha_to_one=False,
                      skip_prk_steps=True, clip_sample=False)


def make(out: str, seed: int, scheduler: str, sd2: bool, inpaint: bool = False,
         controlnets: int = 0, vae_blocks: int = 2) -> None:
    import torch
    from make_diffusers_checkpoint import randomize as randomize_diffusers
    from make_flux_pipeline import clip_text_model, clip_tokenizer
    from text_encoder_reference import randomize as randomize_text

    diffusers = import_diffusers(need_accelerate=False)
    torch.manual_seed(seed)
    unet_file = "unet-tiny-sd2.json" if sd2 else "unet-tiny.json"
    uconfig = read_json(os.path.join(REPO, "models", "unet", "configs", unet_file))
    if inpaint:  # SD 1.5 inpainting's UNet: latents, mask, masked image latents
        uconfig.update(in_channels=9, out_channels=4)
    unet = diffusers.UNet2DConditionModel.from_config(uconfig)
    vae = tiny_vae(diffusers, blocks=vae_blocks, scaling_factor=0.18215)
    sched_cls = getattr(diffusers, scheduler)
    accepted = inspect.signature(sched_cls.__init__).parameters
    wanted = dict(SD15_SCHEDULER, prediction_type="v_prediction") if sd2 else SD15_SCHEDULER
    config = {k: v for k, v in wanted.items() if k in accepted}
    sched = sched_cls(**config)
    with tempfile.TemporaryDirectory() as root:
        tokenizer = clip_tokenizer(root, 77)
        text_encoder = clip_text_model(len(tokenizer), uconfig["cross_attention_dim"], 77)
        if sd2:  # OpenCLIP ViT-H's activation (SD 2.x's text encoder)
            from transformers import CLIPTextModel
            config = text_encoder.config
            config.hidden_act = "gelu"
            text_encoder = CLIPTextModel(config)
        randomize_diffusers(unet, seed)
        randomize_diffusers(vae, seed + 1)
        randomize_text(text_encoder, seed + 2)
        cls = diffusers.StableDiffusionInpaintPipeline if inpaint else diffusers.StableDiffusionPipeline
        extra = {}
        if controlnets:
            # With --inpaint: StableDiffusionControlNetInpaintPipeline, whose nets read the 4
            # latent channels alone (made from a 4-channel copy of the UNet's config).
            cls = diffusers.StableDiffusionControlNetInpaintPipeline if inpaint else \
                diffusers.StableDiffusionControlNetPipeline
            base = diffusers.UNet2DConditionModel.from_config(dict(uconfig, in_channels=4)) if inpaint else unet
            # An embedding that shrinks the image as the VAE does: [8, 16] 2x; SD's 4 entries 8x.
            widths = (8, 16) if vae_blocks == 2 else (8, 8, 16, 16)
            nets = []
            for k in range(controlnets):
                net = diffusers.ControlNetModel.from_unet(base, conditioning_embedding_out_channels=widths,
                                                          load_weights_from_unet=False)
                randomize_diffusers(net, seed + 3 + 10 * k)
                nets.append(net)
            extra = dict(controlnet=nets[0] if controlnets == 1 else nets)
        pipe = cls(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=sched,
                   safety_checker=None, feature_extractor=None, requires_safety_checker=False, **extra)
        save_pipeline(pipe, out)
    print(f"wrote {out}: {cls.__name__}, {scheduler}, seed {seed}")


def run(args) -> None:
    import torch

    diffusers, dt = pipeline_reference_setup(args.dtype)
    pipe = diffusers.StableDiffusionPipeline.from_pretrained(args.pipeline, torch_dtype=dt,
                                                             safety_checker=None)
    pipe.set_progress_bar_config(disable=True)
    if args.scheduler or args.scheduler_config:
        pipe.scheduler = getattr(diffusers, args.scheduler or type(pipe.scheduler).__name__).from_config(
            pipe.scheduler.config, **scheduler_kwargs(args.scheduler_config))
    unipc_steps_in_float32(pipe.scheduler)
    load_loras(pipe, args.lora)
    x = torch.from_numpy(np.load(args.latents.lstrip("@"))).to(dt)
    negative = per_prompt(args.negative_prompt, len(args.prompt))
    emulation = distrifusion.from_args(args, pipe.unet)
    with torch.no_grad(), patch_ancestral_noise(
            args.noise_seed, step_of=schedule_index_of(pipe.scheduler)) as noise_calls:
        extra = {} if args.guidance_rescale is None else dict(guidance_rescale=args.guidance_rescale)
        if args.eta is not None:
            extra["eta"] = args.eta
        if args.clip_skip is not None:
            extra["clip_skip"] = args.clip_skip
        out = pipe(prompt=args.prompt, negative_prompt=negative, latents=x, num_inference_steps=args.steps,
                   guidance_scale=args.guidance_scale, height=args.height, width=args.width,
                   output_type="latent", **extra).images
        if emulation:
            emulation.check_calls(args.steps)
            print(emulation.summary())
        if isinstance(pipe.scheduler, diffusers.EulerAncestralDiscreteScheduler):
            assert len(noise_calls) == args.steps, "the step noise patch was bypassed"
        if isinstance(pipe.scheduler, diffusers.DDPMScheduler):  # on timesteps above 0
            assert len(noise_calls) == int((pipe.scheduler.timesteps > 0).sum()), \
                "the step noise patch was bypassed"
        if args.eta and isinstance(pipe.scheduler, diffusers.DDIMScheduler):
            assert len(noise_calls) == args.steps, "the step noise patch was bypassed"
        if args.eta and isinstance(pipe.scheduler, diffusers.TCDScheduler):  # not on the last step
            assert len(noise_calls) == args.steps - 1, "the step noise patch was bypassed"
        np.save(args.out_latents, out.float().numpy())
        if args.out_images:
            img = pipe.vae.decode(out / pipe.vae.config.scaling_factor, return_dict=False)[0]
            np.save(args.out_images, img.float().numpy())
    print(f"wrote {args.out_latents} {list(out.shape)}")


def unipc_steps_in_float32(scheduler) -> None:
    """diffusers 0.31's UniPCMultistepScheduler cannot step under torch's float64 default dtype (its
    corrector hands torch.linalg.solve a float64 R next to a float32 b): its steps run with the
    float32 default and float32 latents, as Fresco's do; the float64 pipeline around them is
    unchanged."""
    import diffusers
    import torch

    if not isinstance(scheduler, diffusers.UniPCMultistepScheduler):
        return
    step = scheduler.step

    def float32_step(model_output, timestep, sample, *args, **kwargs):
        default = torch.get_default_dtype()
        torch.set_default_dtype(torch.float32)
        try:
            out = step(model_output.float(), timestep, sample.float(), *args, **kwargs)
        finally:
            torch.set_default_dtype(default)
        if isinstance(out, tuple):
            return (out[0].to(sample.dtype),) + out[1:]
        out.prev_sample = out.prev_sample.to(sample.dtype)
        return out

    scheduler.step = float32_step


def scheduler_kwargs(pairs) -> dict:
    """fresco-run --scheduler-config K=V as from_config's keyword arguments: V as JSON, else a string."""
    import json

    out = {}
    for pair in pairs or []:
        key, _, text = pair.partition("=")
        try:
            out[key] = json.loads(text)
        except ValueError:
            out[key] = text
    return out


def write_image(out: str, height: int, width: int, seed: int, alpha: bool) -> None:
    """Bilinearly upsampled 4x4 random colours: smooth, as images are, with every value used."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 256, (4, 4, 4 if alpha else 3), dtype=np.uint8))
    small.resize((width, height), Image.BILINEAR).save(out)
    print(f"wrote {out} {width}x{height}")


def img2img(args) -> None:
    import torch
    from PIL import Image

    diffusers, dt = pipeline_reference_setup(args.dtype)
    cls = diffusers.StableDiffusionInpaintPipeline if args.cmd == "inpaint" else \
        diffusers.StableDiffusionImg2ImgPipeline
    module = sys.modules[cls.__module__]
    pipe = cls.from_pretrained(args.pipeline, torch_dtype=dt, safety_checker=None)
    pipe.set_progress_bar_config(disable=True)
    if args.scheduler:
        pipe.scheduler = getattr(diffusers, args.scheduler).from_config(pipe.scheduler.config)
    unipc_steps_in_float32(pipe.scheduler)
    noise = torch.from_numpy(np.load(args.latents.lstrip("@"))).to(dt)
    calls = give_img2img_noise(module, noise)
    negative = per_prompt(args.negative_prompt, len(args.prompt))
    # Fresco keys step noise by schedule index (patch_ancestral_noise's step_of below).
    extra = {} if args.clip_skip is None else dict(clip_skip=args.clip_skip)
    if args.cmd == "inpaint":
        extra.update(mask_image=Image.open(args.mask), height=args.height, width=args.width)
    with torch.no_grad(), patch_ancestral_noise(
            args.noise_seed, step_of=schedule_index_of(pipe.scheduler)) as noise_calls:
        out = pipe(prompt=args.prompt, negative_prompt=negative, image=Image.open(args.image),
                   strength=args.strength, num_inference_steps=args.steps,
                   guidance_scale=args.guidance_scale, output_type="latent", **extra).images
    assert len(calls) == 1, "prepare_latents did not draw its noise through randn_tensor"
    if isinstance(pipe.scheduler, diffusers.EulerAncestralDiscreteScheduler):
        kept = min(int(args.steps * args.strength), args.steps)
        assert len(noise_calls) == kept, "the step noise patch was bypassed"
    np.save(args.out_latents, out.float().numpy())
    print(f"wrote {args.out_latents} {list(out.shape)}")


def controlnet(args) -> None:
    import torch

    diffusers, dt = pipeline_reference_setup(args.dtype)
    i2i = args.image is not None
    cls = diffusers.StableDiffusionControlNetImg2ImgPipeline if i2i else \
        diffusers.StableDiffusionControlNetPipeline
    if args.mask:
        cls = diffusers.StableDiffusionControlNetInpaintPipeline
    control = control_kwargs(args, "control_image" if i2i else "image")
    pipe = cls.from_pretrained(args.pipeline, torch_dtype=dt, safety_checker=None)
    pipe.set_progress_bar_config(disable=True)
    if args.scheduler:
        pipe.scheduler = getattr(diffusers, args.scheduler).from_config(pipe.scheduler.config)
    x = torch.from_numpy(np.load(args.latents.lstrip("@"))).to(dt)
    negative = per_prompt(args.negative_prompt, len(args.prompt))
    extra = dict(latents=x, height=args.height, width=args.width)
    if args.clip_skip is not None:
        control["clip_skip"] = args.clip_skip
    calls = []
    if i2i:  # img2img's substitutions (see img2img): the encoder's mean, x as the noise
        from PIL import Image
        calls = give_img2img_noise(sys.modules[cls.__module__], x)
        extra = dict(image=Image.open(args.image))
        if args.mask:
            extra.update(mask_image=Image.open(args.mask), height=args.height, width=args.width)
        if args.strength is not None:
            extra["strength"] = args.strength
    with torch.no_grad(), patch_ancestral_noise(
            args.noise_seed, step_of=schedule_index_of(pipe.scheduler)) as noise_calls:
        out = pipe(prompt=args.prompt, negative_prompt=negative, num_inference_steps=args.steps,
                   guidance_scale=args.guidance_scale, output_type="latent", **extra, **control).images
    assert not i2i or len(calls) == 1, "prepare_latents did not draw its noise through randn_tensor"
    if isinstance(pipe.scheduler, diffusers.EulerAncestralDiscreteScheduler) and not i2i:
        assert len(noise_calls) == args.steps, "the step noise patch was bypassed"
    np.save(args.out_latents, out.float().numpy())
    print(f"wrote {args.out_latents} {list(out.shape)}")


def main() -> None:
    ap = arg_parser(__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--out", required=True)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--scheduler", default="DDIMScheduler")
    m.add_argument("--inpaint", action="store_true",
                   help="a StableDiffusionInpaintPipeline folder with an inpainting UNet (9 input channels)")
    m.add_argument("--controlnet", action="store_true",
                   help="a StableDiffusionControlNetPipeline folder with a random ControlNetModel")
    m.add_argument("--controlnets", type=int, default=0,
                   help="N > 1: a MultiControlNetModel of N random nets (controlnet, controlnet_1, ...)")
    m.add_argument("--vae-blocks", type=int, choices=(2, 4), default=2,
                   help="4: a VAE of SD's factor 8 (and, with --controlnet, an embedding of 4 widths)")
    m.add_argument("--sd2", action="store_true",
                   help="SD 2.x-like: unet-tiny-sd2.json (linear projections, per-block heads, 2 transformer "
                        "layers), v_prediction, a CLIP text encoder with exact GELU")
    la = sub.add_parser("latents")
    la.add_argument("--pipeline", required=True)
    add_latents_args(la)
    r = sub.add_parser("run")
    add_pipeline_run_args(r, guidance_default=7.5)
    r.add_argument("--eta", type=float, help="eta (fresco-run's flag), to DDIM's and TCD's step")
    r.add_argument("--noise-seed", type=int, default=0,
                   help="fresco-run's --seed, for the step noise of ancestral schedulers")
    r.add_argument("--scheduler", help="fresco-run's --scheduler: this class from the folder's config")
    r.add_argument("--scheduler-config", action="append", metavar="K=V",
                   help="fresco-run's --scheduler-config: from_config's keyword arguments")
    distrifusion.add_args(r)
    im = sub.add_parser("image")
    im.add_argument("--out", required=True)
    im.add_argument("--height", type=int, default=32)
    im.add_argument("--width", type=int, default=24)
    im.add_argument("--seed", type=int, default=0)
    im.add_argument("--alpha", action="store_true")
    for cmd, strength in (("img2img", 0.8), ("inpaint", 1.0)):
        i2i = sub.add_parser(cmd)
        add_pipeline_run_args(i2i, guidance_default=7.5)
        i2i.add_argument("--image", required=True)
        i2i.add_argument("--strength", type=float, default=strength)
        i2i.add_argument("--noise-seed", type=int, default=0,
                         help="fresco-run's --seed, for the step noise of ancestral schedulers")
        i2i.add_argument("--scheduler", help="fresco-run's --scheduler: this class from the folder's config")
        if cmd == "inpaint":
            i2i.add_argument("--mask", required=True)
    cn = sub.add_parser("controlnet")
    add_pipeline_run_args(cn, guidance_default=7.5)
    add_control_args(cn, required=True)
    cn.add_argument("--image", help="StableDiffusionControlNetImg2ImgPipeline's init image")
    cn.add_argument("--mask", help="with --image: StableDiffusionControlNetInpaintPipeline (white repainted)")
    cn.add_argument("--strength", type=float)
    cn.add_argument("--noise-seed", type=int, default=0,
                    help="fresco-run's --seed, for the step noise of ancestral schedulers")
    cn.add_argument("--scheduler", help="fresco-run's --scheduler: this class from the folder's config")
    add_mask_args(sub)
    args = ap.parse_args()
    if args.cmd == "image":
        write_image(args.out, args.height, args.width, args.seed, args.alpha)
    elif args.cmd == "mask":
        write_mask(args.out, args.height, args.width, args.seed, args.mode)
    elif args.cmd in ("img2img", "inpaint"):
        img2img(args)
    elif args.cmd == "controlnet":
        controlnet(args)
    elif args.cmd == "make":
        make(args.out, args.seed, args.scheduler, args.sd2, args.inpaint,
             args.controlnets or int(args.controlnet), args.vae_blocks)
    elif args.cmd == "latents":
        save_latents(args)
    else:
        distrifusion.check_args(r, args)
        with distrifusion.exit_on_refusal():
            run(args)


if __name__ == "__main__":
    main()
