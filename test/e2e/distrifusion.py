"""One-process emulation of DistriFusion (Li et al., CVPR 2024) on the real diffusers models: what
P ranks running `fresco-compile --parallel patch=P` compute, as a reference for Fresco's runs.

    emulation = distrifusion.install(denoiser, patches=P, fresh_steps=W)
    emulation.reset()                 # before each pipeline call (one image batch)
    ... run the pipeline ...
    emulation.check_calls(steps)      # one denoiser call per step, as the contract assumes

What P ranks compute. Each token of the denoiser's sequence belongs to one block r in 0..P-1 (the
rank that holds it): a sequence of T tokens has c = ceil(T / P) tokens a block (Fresco's split,
its padding trailing), token j in block j // c. Every op but self-attention works per token, so
running the whole sequence at once gives every rank's rows. Self-attention: q, k and v are
computed for all tokens from the current hidden states by the model's own code (projections,
q/k norms, rotary embeddings); the queries of block r attend to K_mix_r, V_mix_r, which hold the
fresh key and value of each token in block r and, for every other token, the one this layer
computed in the previous call of the model (what that token's rank sent one step ago). Every call
saves its fresh k and v for the next. The first W calls after reset() (the first W denoising
steps: one call a step) are fresh: plain attention. Attention does not depend on the order of
its keys, so nothing is reordered; there is no padding to mask.

The layers and their tokens:
  DiTTransformer2DModel   transformer_blocks.*.attn1: the (H/p)(W/p) patches, row-major.
  UNet2DConditionModel    every transformer block's attn1 (self-attention; attn2, the
                          cross-attention to the text, is untouched): the h*w positions of its
                          level, row-major. Fresco splits rows, so P must divide h at every level
                          with attention (then the blocks are row bands); otherwise refused.
  FluxTransformer2DModel  the joint attention of transformer_blocks.*.attn and
                          single_transformer_blocks.*.attn over [text; image]: each stream is
                          split on its own (text token j in block j // ceil(T_txt / P), image
                          token i in block i // ceil(T_img / P)); rank r holds both its blocks.
  SD3Transformer2DModel   transformer_blocks.*.attn over [image; context] (each stream split on its
                          own, as Flux's) and SD3.5's image-only transformer_blocks.*.attn2.

PIPEFUSION (install(..., pipefusion=True); fresco-compile --parallel pipefusion=S
--pipefusion-patches M): the tokens are M patches (blocks as above, M for P), and a rank runs them
one after the other through its pipeline stage's layers, each self-attention reading the keys and
values its rank caches for every token. So the queries of patch r read this call's keys and values
for patches 0..r (those patches passed this layer already) and the previous call's for patches
r+1..M-1. Every op but attention is per token, so running the whole sequence layer by layer, each
patch's rows attending to its own mix, gives each patch's rows exactly; the stage count does not
enter.

How. Each such Attention module gets a StaleAttention processor wrapping diffusers' own
processor (AttnProcessor2_0, FluxAttnProcessor2_0). While it runs, the processor's call of
F.scaled_dot_product_attention is redirected to the mixing above, which attends with the
module's original attention arithmetic: the sdpa in place before (torch 2's, or the torch-1 shim
of fresco_ref_common), or, for a module that had diffusers' classic AttnProcessor (DiT's on
torch 1), the classic attn.get_attention_scores + bmm on the [B * heads, T, d] layout, so that
fresh calls give the bits of the unpatched model. The batch (CFG halves included) is carried
as it is: the mixing is per sample.
"""
import contextlib
import math


class EmulationError(ValueError):
    """A case the emulation refuses (as Fresco would): the scripts exit with its message."""


MODEL_KINDS = {"DiTTransformer2DModel": "dit", "UNet2DConditionModel": "unet", "FluxTransformer2DModel": "flux",
               "SD3Transformer2DModel": "sd3"}


def token_blocks(tokens: int, patches: int):
    """Block (rank) of each of `tokens` tokens split over `patches` ranks: j // ceil(T / P)."""
    import torch

    return torch.arange(tokens) // math.ceil(tokens / patches)


def stale_attention(attend, q, k, v, k_prev, v_prev, blocks, patches: int, pipefusion: bool = False):
    """Rows of block r of attend(q_r, K_mix_r, V_mix_r) for each r; q, k, v: [B, heads, T, d];
    blocks: [T], the block of each token (queries and keys are the same tokens). K_mix_r is fresh
    in block r (DistriFusion) or in blocks 0..r (PipeFusion: the patches before r ran earlier in
    this step), stale elsewhere."""
    import torch

    out = torch.empty(q.shape[:-1] + v.shape[-1:], dtype=q.dtype, device=q.device)
    for r in range(patches):
        rows = (blocks == r).nonzero().flatten()
        if rows.numel() == 0:
            continue
        own = ((blocks <= r) if pipefusion else (blocks == r)).to(q.device)[None, None, :, None]
        k_mix = torch.where(own, k, k_prev)
        v_mix = torch.where(own, v, v_prev)
        out[:, :, rows] = attend(q[:, :, rows], k_mix, v_mix)
    return out


def classic_attention(attn):
    """diffusers' AttnProcessor arithmetic (get_attention_scores, bmm) on [B, heads, T, d]."""
    import torch

    def attend(q, k, v):
        b, h = q.shape[:2]
        qb, kb, vb = (x.reshape(b * h, x.shape[2], x.shape[3]) for x in (q, k, v))
        out = torch.bmm(attn.get_attention_scores(qb, kb, None), vb)
        return out.reshape(b, h, out.shape[1], out.shape[2])

    return attend


def sdpa_in_place(name: str):
    import torch.nn.functional as F

    sdpa = getattr(F, "scaled_dot_product_attention", None)
    if sdpa is None:
        raise RuntimeError(f"distrifusion: {name}: no F.scaled_dot_product_attention to attend with")
    return sdpa


@contextlib.contextmanager
def replaced_sdpa(function):
    """torch.nn.functional.scaled_dot_product_attention is `function` inside (diffusers' processors
    call it through the module); restored, or removed again on torch 1, on exit."""
    import torch.nn.functional as F

    missing = object()
    original = getattr(F, "scaled_dot_product_attention", missing)
    F.scaled_dot_product_attention = function
    try:
        yield
    finally:
        if original is missing:
            del F.scaled_dot_product_attention
        else:
            F.scaled_dot_product_attention = original


class StaleAttention:
    """Processor of one self-attention layer: diffusers' `inner` processor with its attention
    replaced by DistriFusion's mix of fresh and stale keys and values (module docstring)."""

    def __init__(self, emulation, name: str, inner, attend=None):
        # attend(q, k, v): the layer's attention arithmetic; None: the sdpa in place at each call.
        self.emulation, self.name, self.inner, self.attend = emulation, name, inner, attend
        self.k_prev = self.v_prev = None
        self.sdpa_calls = 0
        self.current_attend = None

    # Named parameters: Attention.forward drops keyword arguments the processor does not name.
    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None,
                 image_rotary_emb=None):
        emulation = self.emulation
        joint = emulation.kind in ("flux", "sd3")
        if emulation.call is None:
            raise RuntimeError(f"distrifusion: {self.name} ran outside a call of the installed denoiser")
        if not joint and encoder_hidden_states is not None:
            raise RuntimeError(f"distrifusion: {self.name} got encoder_hidden_states: not a self-attention")
        if attention_mask is not None:
            raise NotImplementedError(f"distrifusion: {self.name}: attention masks are not emulated")
        extra = {}
        if temb is not None:
            extra["temb"] = temb
        if image_rotary_emb is not None:
            extra["image_rotary_emb"] = image_rotary_emb
        self.sdpa_calls = 0
        self.current_attend = self.attend or sdpa_in_place(self.name)
        with replaced_sdpa(self.sdpa):
            out = self.inner(attn, hidden_states, encoder_hidden_states=encoder_hidden_states, **extra)
        if self.sdpa_calls != 1:
            raise RuntimeError(f"distrifusion: {self.name}: {type(self.inner).__name__} attended "
                               f"{self.sdpa_calls} times, expected once")
        return out

    def sdpa(self, query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
        if attn_mask is not None or dropout_p != 0.0 or is_causal or scale is not None:
            raise NotImplementedError(f"distrifusion: {self.name}: only unmasked, dropout-free, non-causal "
                                      "attention at the default scale is emulated")
        self.sdpa_calls += 1
        emulation = self.emulation
        if key.shape[2] != query.shape[2]:
            raise RuntimeError(f"distrifusion: {self.name}: {query.shape[2]} queries, {key.shape[2]} keys: "
                               "not a self-attention")
        fresh = emulation.call < emulation.fresh_steps
        if not fresh:
            if self.k_prev is None or self.k_prev.shape != key.shape or self.v_prev.shape != value.shape:
                raise RuntimeError(f"distrifusion: {self.name}: no saved keys/values of shape {list(key.shape)} "
                                   "from the previous call")
            blocks = emulation.blocks(self.name, key.shape[2])
            out = stale_attention(self.current_attend, query, key, value, self.k_prev, self.v_prev, blocks,
                                  emulation.patches, emulation.pipefusion)
        else:
            out = self.current_attend(query, key, value)
        # Every call, fresh or stale, leaves its keys and values for the next one's other blocks.
        self.k_prev, self.v_prev = key.detach().clone(), value.detach().clone()
        return out


class Emulation:
    """The installed emulation on one denoiser: call counter, token layout, processors."""

    def __init__(self, model, kind: str, patches: int, fresh_steps: int, pipefusion: bool = False):
        self.model, self.kind, self.patches, self.fresh_steps = model, kind, patches, fresh_steps
        self.pipefusion = pipefusion
        self.processors = {}
        self.calls = 0  # denoiser calls since reset()
        self.call = None  # index of the call in progress
        self.sample_hw = None  # UNet: the sample's (h, w)
        self.text_tokens = None  # Flux: T_txt of the call in progress
        self.image_tokens = None

    def reset(self) -> None:
        """A new pipeline call: the next denoiser call is call 0 (fresh), no saved keys/values."""
        self.calls, self.call = 0, None
        for processor in self.processors.values():
            processor.k_prev = processor.v_prev = None

    def check_calls(self, steps: int) -> None:
        # A scheduler with more calls than steps (PNDM's warm-up) would make "the first W steps"
        # ambiguous: refused rather than guessed.
        if self.calls != steps:
            raise EmulationError(f"distrifusion: the denoiser was called {self.calls} times for {steps} steps; "
                                 "the emulation needs one call a step (fresh steps are counted in calls)")

    def summary(self) -> str:
        fresh = min(self.calls, self.fresh_steps)
        what = f"pipefusion with {self.patches} patches" if self.pipefusion else f"patch={self.patches}"
        return (f"distrifusion emulation: {what}, {len(self.processors)} self-attention layers, "
                f"{fresh} fresh and {self.calls - fresh} stale calls")

    def blocks(self, name: str, tokens: int):
        """Block of each key token of layer `name` (the module docstring's layout)."""
        import torch

        if self.kind == "dit":
            return token_blocks(tokens, self.patches)
        if self.kind == "unet":
            h, w = self.sample_hw
            while h * w > tokens and (h > 1 or w > 1):
                h, w = -(-h // 2), -(-w // 2)  # the stride-2, padding-1 downsampler's size
            if h * w != tokens:
                raise RuntimeError(f"distrifusion: {name}: {tokens} tokens are no level of a "
                                   f"{self.sample_hw[0]}x{self.sample_hw[1]} sample")
            if h % self.patches:
                raise EmulationError(f"distrifusion: {name}: cannot split the {h} rows of this level over "
                                 f"{self.patches} ranks (Fresco refuses it too)")
            return token_blocks(tokens, self.patches)
        text, image = self.text_tokens, self.image_tokens
        if self.kind == "sd3":
            # [image; context] (JointAttnProcessor2_0), or the image alone
            # (SD3.5's attn2).
            if tokens == image:
                return token_blocks(image, self.patches)
            if text + image != tokens:
                raise RuntimeError(f"distrifusion: {name}: {tokens} tokens, expected {image} image + {text} text")
            return torch.cat([token_blocks(image, self.patches), token_blocks(text, self.patches)])
        if text + image != tokens:
            raise RuntimeError(f"distrifusion: {name}: {tokens} tokens, expected {text} text + {image} image")
        return torch.cat([token_blocks(text, self.patches), token_blocks(image, self.patches)])

    def wrap_forward(self) -> None:
        forward = self.model.forward

        def counted(*args, **kwargs):
            if self.kind == "unet":
                sample = args[0] if args else kwargs["sample"]
                self.sample_hw = tuple(sample.shape[-2:])
            elif self.kind == "flux":
                image = args[0] if args else kwargs["hidden_states"]
                text = args[1] if len(args) > 1 else kwargs["encoder_hidden_states"]
                self.image_tokens, self.text_tokens = image.shape[1], text.shape[1]
            elif self.kind == "sd3":
                image = args[0] if args else kwargs["hidden_states"]
                text = args[1] if len(args) > 1 else kwargs["encoder_hidden_states"]
                p = self.model.config.patch_size
                self.image_tokens = image.shape[-2] * image.shape[-1] // (p * p)
                self.text_tokens = text.shape[1]
            self.call = self.calls
            try:
                return forward(*args, **kwargs)
            finally:
                self.call = None
                self.calls += 1

        self.model.forward = counted


def self_attention_modules(model, kind: str):
    """(name, Attention) of the layers the emulation replaces, in module order."""
    from diffusers.models.attention_processor import Attention

    found = []
    for name, module in model.named_modules():
        if not isinstance(module, Attention):
            continue
        last = name.rsplit(".", 1)[-1]
        if kind in ("dit", "unet") and last == "attn1" and not module.is_cross_attention:
            found.append((name, module))
        elif kind == "flux" and last == "attn" and name.split(".")[0] in ("transformer_blocks",
                                                                          "single_transformer_blocks"):
            found.append((name, module))
        elif kind == "sd3" and last in ("attn", "attn2") and name.split(".")[0] == "transformer_blocks":
            # The joint attention over [image; context], and SD3.5's
            # image-only attn2.
            found.append((name, module))
    return found


def install(model, patches: int, fresh_steps: int, pipefusion: bool = False) -> Emulation:
    """Installs the emulation on `model` (a DiT, UNet or Flux denoiser) for good; see the module
    docstring. patches >= 1, fresh_steps >= 1 (the first call has no stale keys to read).
    pipefusion: PipeFusion's patches instead of DistriFusion's ranks (the queries of patch r read
    this call's keys and values of patches 0..r, as patch r runs after them; see PIPEFUSION)."""
    from diffusers.models.attention_processor import (AttnProcessor, AttnProcessor2_0, FluxAttnProcessor2_0,
                                                      JointAttnProcessor2_0)

    kind = MODEL_KINDS.get(type(model).__name__)
    if kind is None:
        raise EmulationError(f"distrifusion: no emulation for {type(model).__name__} (only {', '.join(MODEL_KINDS)})")
    if patches < 1:
        raise EmulationError(f"distrifusion: --patch must be at least 1, got {patches}")
    if fresh_steps < 1:
        raise EmulationError(f"distrifusion: --fresh-steps must be at least 1 (the first step has no stale keys and "
                         f"values to read), got {fresh_steps}")
    emulation = Emulation(model, kind, patches, fresh_steps, pipefusion)
    modules = self_attention_modules(model, kind)
    if not modules:
        raise EmulationError(f"distrifusion: {type(model).__name__} has no self-attention layer to emulate")
    for name, module in modules:
        original = module.processor
        if type(original) in (AttnProcessor2_0, FluxAttnProcessor2_0, JointAttnProcessor2_0):
            inner, attend = original, None  # attends with the sdpa in place at each call
        elif type(original) is AttnProcessor and kind != "flux":
            # Its 2.0 sibling does the same projections; it refuses to build without an sdpa.
            with replaced_sdpa(None):
                inner = AttnProcessor2_0()
            attend = classic_attention(module)
        else:
            raise NotImplementedError(f"distrifusion: {name}: processor {type(original).__name__} is not emulated")
        processor = StaleAttention(emulation, name, inner, attend)
        module.set_processor(processor)
        emulation.processors[name] = processor
    emulation.wrap_forward()
    return emulation



def add_args(ap) -> None:
    """--patch P and --fresh-steps W of the pipeline references (off by default)."""
    ap.add_argument("--patch", type=int, metavar="P",
                    help="emulate DistriFusion on P ranks (fresco-compile --parallel patch=P): self-attention "
                         "reads the other ranks' keys and values of the previous step (default: off)")
    ap.add_argument("--pipefusion", type=int, metavar="M",
                    help="emulate PipeFusion with M patches (fresco-compile --parallel pipefusion=S "
                         "--pipefusion-patches M, any S): patch r's queries read this step's keys and values "
                         "of patches 0..r and the previous step's of the others (default: off)")
    ap.add_argument("--fresh-steps", type=int, metavar="W",
                    help="with --patch or --pipefusion: the first W steps attend to fresh keys and values "
                         "(default 1)")


def check_args(ap, args) -> None:
    """Refuses bad --patch / --fresh-steps values before anything is loaded."""
    if args.patch is not None and args.pipefusion is not None:
        ap.error("--patch and --pipefusion: one of them")
    count = args.patch if args.patch is not None else args.pipefusion
    if count is None:
        if args.fresh_steps is not None:
            ap.error("--fresh-steps needs --patch or --pipefusion")
        return
    if count < 1:
        ap.error(f"--{'patch' if args.patch is not None else 'pipefusion'} must be at least 1, got {count}")
    if args.fresh_steps is not None and args.fresh_steps < 1:
        ap.error(f"--fresh-steps must be at least 1 (the first step has no stale keys and values to read), "
                 f"got {args.fresh_steps}")


def from_args(args, model):
    """The emulation that --patch / --fresh-steps ask for (check_args first), installed on `model`
    and reset, or None without --patch."""
    if args.patch is None and args.pipefusion is None:
        return None
    pipefusion = args.pipefusion is not None
    emulation = install(model, args.pipefusion if pipefusion else args.patch,
                        1 if args.fresh_steps is None else args.fresh_steps, pipefusion)
    emulation.reset()
    return emulation


@contextlib.contextmanager
def exit_on_refusal():
    """Turns an EmulationError into exit status 1 with its message (no traceback)."""
    import sys

    try:
        yield
    except EmulationError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
