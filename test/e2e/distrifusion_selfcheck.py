#!/usr/bin/env python3
"""Self-check of the DistriFusion emulation (distrifusion.py) and its --patch / --fresh-steps
options in dit_pipeline_reference.py, sd_pipeline_reference.py and flux_pipeline_reference.py.

  distrifusion_selfcheck.py [--models dit,sd,flux] [--keep DIR]

Exits 1 on any failure. Checks:
  mixing  stale_attention against a per-query loop written out in full (float64, random q/k/v,
          even and uneven blocks, Flux's two streams, a block with no tokens);
  state   one layer over 3 calls: call n reads call n - 1's keys and values, stale or not;
  layers  the layers replaced on each denoiser: DiT's and the UNet's attn1 only, Flux's joint
          attentions of both block kinds;
then, per model, on a tiny random pipeline (the makers the parity tests use), 4 steps, float32,
the reference run in-process (one child process per model) with its command-line flags:
  (a) --patch 2 --fresh-steps 4 (and --patch 4 --fresh-steps 5): identical to the run without
      --patch (max |diff| / max |exact| <= 1e-6; the fresh path is the model's own arithmetic,
      so expect 0);
  (b) --patch 1 --fresh-steps 1: identical as well;
  (c) --patch 2 and --patch 4, --fresh-steps 1 (plus an uneven split: DiT P=3, Flux P=5): the
      final latents differ from the exact run by more than 1e-6 relative (printed);
  (d) --patch 2 --fresh-steps 1 twice: bit for bit the same;
  DiT also: --fresh-steps 2 leaves the first 2 steps of the trajectory bit for bit exact and
  changes step 3; SD also: --patch 3 (16 latent rows) is refused with a message.
"""
import argparse
import contextlib
import io
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

STEPS = 4
IDENTICAL = 1e-6
failures = []


def check(ok: bool, what: str) -> None:
    print(f"  {'ok  ' if ok else 'FAIL'} {what}")
    if not ok:
        failures.append(what)


def rel(actual, expected) -> float:
    return float(np.abs(actual.astype(np.float64) - expected).max() / np.abs(expected).max())


def call_main(module_name: str, argv, expect_exit: int = 0) -> str:
    """Runs module_name.main() with sys.argv = argv in this process; returns its output."""
    module = __import__(module_name)
    out = io.StringIO()
    code = 0
    saved = sys.argv
    sys.argv = [module_name + ".py"] + [str(a) for a in argv]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            module.main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    finally:
        sys.argv = saved
    if code != expect_exit:
        print(out.getvalue())
        raise SystemExit(f"{module_name} {' '.join(map(str, argv))}: exit {code}, expected {expect_exit}")
    return out.getvalue()


# ---- mixing: stale_attention against the definition, element by element ----

def naive(q, k, v, k_prev, v_prev, blocks, pipefusion=False):
    """Query i reads key j fresh when j is in its block (DistriFusion) or in
    its block or an earlier one (PipeFusion), else the previous call's."""
    import torch

    def fresh(i, j):
        return blocks[j] <= blocks[i] if pipefusion else blocks[j] == blocks[i]

    out = torch.zeros(q.shape[:-1] + v.shape[-1:], dtype=q.dtype)
    for b in range(q.shape[0]):
        for h in range(q.shape[1]):
            for i in range(q.shape[2]):
                keys = torch.stack([k[b, h, j] if fresh(i, j) else k_prev[b, h, j]
                                    for j in range(k.shape[2])])
                values = torch.stack([v[b, h, j] if fresh(i, j) else v_prev[b, h, j]
                                      for j in range(k.shape[2])])
                weights = torch.softmax(keys @ q[b, h, i] / q.shape[-1] ** 0.5, dim=0)
                out[b, h, i] = weights @ values
    return out


def check_mixing() -> None:
    import torch

    import distrifusion

    print("mixing: stale_attention against the per-query definition (float64)")

    def sdpa(q, k, v):
        return torch.softmax(q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5, dim=-1) @ v

    gen = torch.Generator().manual_seed(0)
    layouts = {
        "16 tokens, P=2": distrifusion.token_blocks(16, 2),
        "16 tokens, P=3 (6, 6, 4)": distrifusion.token_blocks(16, 3),
        "16 tokens, P=5 (block 4 empty)": distrifusion.token_blocks(16, 5),
        "Flux 5 text + 9 image, P=4": torch.cat([distrifusion.token_blocks(5, 4), distrifusion.token_blocks(9, 4)]),
    }
    assert distrifusion.token_blocks(16, 5).tolist() == [0] * 4 + [1] * 4 + [2] * 4 + [3] * 4
    for name, blocks in layouts.items():
        patches = int(name.split("P=")[1].split()[0])
        q, k, v, kp, vp = (torch.randn(2, 2, len(blocks), 4, generator=gen, dtype=torch.float64) for _ in range(5))
        for pipefusion in (False, True):
            got = distrifusion.stale_attention(sdpa, q, k, v, kp, vp, blocks, patches, pipefusion)
            err = float((got - naive(q, k, v, kp, vp, blocks, pipefusion)).abs().max())
            plain = float((got - sdpa(q, k, v)).abs().max())
            what = "pipefusion" if pipefusion else "distrifusion"
            check(err < 1e-12 and (patches == 1 or plain > 1e-3),
                  f"{name}, {what}: max |emulation - definition| {err:.3g} (and {plain:.3g} from plain attention)")


def check_state() -> None:
    """Call n attends with call n - 1's keys and values, whether call n - 1 was fresh or stale."""
    import torch

    import distrifusion

    def sdpa(q, k, v):
        return torch.softmax(q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5, dim=-1) @ v

    emulation = distrifusion.Emulation(None, "dit", 2, 1)
    layer = distrifusion.StaleAttention(emulation, "test", None, sdpa)
    layer.current_attend = sdpa
    gen = torch.Generator().manual_seed(1)
    calls = [[torch.randn(1, 2, 8, 4, generator=gen, dtype=torch.float64) for _ in range(3)] for _ in range(3)]
    blocks = distrifusion.token_blocks(8, 2)
    errors = []
    for n, (q, k, v) in enumerate(calls):
        emulation.call = n
        got = layer.sdpa(q, k, v)
        want = sdpa(q, k, v) if n == 0 else naive(q, k, v, calls[n - 1][1], calls[n - 1][2], blocks)
        errors.append(float((got - want).abs().max()))
    check(max(errors) < 1e-12, f"state: calls 0 (fresh), 1, 2 (stale) against the definition: {errors}")


# ---- layers: which modules are replaced ----

def check_layers(kind: str, model) -> None:
    import distrifusion
    from diffusers.models.attention_processor import Attention

    before = {n: type(m.processor) for n, m in model.named_modules() if isinstance(m, Attention)}
    emulation = distrifusion.install(model, 2, 1)
    names = sorted(emulation.processors)
    if kind == "flux":
        want = sorted(n for n in before if n.endswith(".attn"))
        ok = names == want and all(n.startswith(("transformer_blocks.", "single_transformer_blocks.")) for n in names)
        ok = ok and any(n.startswith("single_") for n in names) and any(n.startswith("transformer_") for n in names)
    else:
        want = sorted(n for n in before if n.endswith(".attn1"))
        ok = names == want
    untouched = all(type(m.processor) is before[n] for n, m in model.named_modules()
                    if isinstance(m, Attention) and n not in emulation.processors)
    check(ok and untouched and len(names) > 0,
          f"{kind}: replaced {len(names)} of {len(before)} attention layers ({', '.join(names)}); others untouched")


# ---- the pipelines ----

def run_checks(name, run, exact, extra_patches):
    """(a) to (d) for one model; run(out, flags) runs its reference writing final latents to out."""
    ref = np.load(exact)
    for flags in (["--patch", 2, "--fresh-steps", STEPS], ["--patch", 4, "--fresh-steps", STEPS + 1]):
        d = rel(np.load(run(flags)), ref)
        check(d <= IDENTICAL, f"(a) {name} {' '.join(map(str, flags))}: rel diff {d:.3g} (limit {IDENTICAL:g})")
    d = rel(np.load(run(["--patch", 1, "--fresh-steps", 1])), ref)
    check(d <= IDENTICAL, f"(b) {name} --patch 1 --fresh-steps 1: rel diff {d:.3g} (limit {IDENTICAL:g})")
    first = None
    for p in [2, 4] + extra_patches:
        lat = np.load(run(["--patch", p, "--fresh-steps", 1]))
        d = rel(lat, ref)
        check(np.isfinite(lat).all() and d > IDENTICAL,
              f"(c) {name} --patch {p} --fresh-steps 1: rel diff from exact {d:.4g} (must exceed {IDENTICAL:g})")
        if p == 2:
            first = lat
    again = np.load(run(["--patch", 2, "--fresh-steps", 1]))
    check(np.array_equal(first, again), f"(d) {name} --patch 2 --fresh-steps 1 twice: bit for bit equal")
    # PipeFusion: exact when every step is fresh or with one patch; another
    # approximation than DistriFusion's otherwise.
    for flags in (["--pipefusion", 2, "--fresh-steps", STEPS], ["--pipefusion", 1, "--fresh-steps", 1]):
        d = rel(np.load(run(flags)), ref)
        check(d <= IDENTICAL, f"(e) {name} {' '.join(map(str, flags))}: rel diff {d:.3g} (limit {IDENTICAL:g})")
    lat = np.load(run(["--pipefusion", 2, "--fresh-steps", 1]))
    d, dp = rel(lat, ref), rel(lat, first)
    check(np.isfinite(lat).all() and d > IDENTICAL and dp > IDENTICAL,
          f"(f) {name} --pipefusion 2 --fresh-steps 1: rel diff from exact {d:.4g}, from --patch 2 {dp:.4g} "
          f"(both must exceed {IDENTICAL:g})")


def child(model: str, work: str) -> None:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    counter = iter(range(1000))

    def out_path():
        return os.path.join(work, f"{model}-{next(counter)}.npy")

    if model == "dit":
        pipe = os.path.join(work, "dit-pipe")
        call_main("make_diffusers_pipeline", ["--template", os.path.join(REPO, "models/dit/pipelines/dit-tiny"),
                                              "--out", pipe, "--seed", 2])
        x = os.path.join(work, "dit-x.npy")
        call_main("dit_pipeline_reference", ["--pipeline", pipe, "--make-latents", x, "--batch", 2, "--seed", 4])
        base = ["--pipeline", pipe, "--class-labels", "3,7", "--latents", x, "--steps", STEPS, "--guidance-scale", 4]

        def run(flags, trajectory=None):
            out = out_path()
            extra = ["--out-trajectory", trajectory] if trajectory else []
            call_main("dit_pipeline_reference", base + ["--out-latents", out] + extra + flags)
            return out

        import diffusers
        check_layers("dit", diffusers.DiTTransformer2DModel.from_pretrained(os.path.join(pipe, "transformer")))
        exact_traj = os.path.join(work, "dit-exact-traj.npy")
        exact = run([], exact_traj)
        run_checks("DiT", run, exact, [3])
        w2_traj = os.path.join(work, "dit-w2-traj.npy")
        run(["--patch", 2, "--fresh-steps", 2], w2_traj)
        a, b = np.load(w2_traj), np.load(exact_traj)
        same = [bool(np.array_equal(a[i], b[i])) for i in range(STEPS)]
        check(same == [True, True, False, False],
              f"DiT --fresh-steps 2: trajectory steps equal to exact {same} (want [True, True, False, False])")
    elif model == "sd":
        pipe = os.path.join(work, "sd-pipe")
        call_main("sd_pipeline_reference", ["make", "--out", pipe, "--seed", 3])
        x = os.path.join(work, "sd-x.npy")
        call_main("sd_pipeline_reference", ["latents", "--pipeline", pipe, "--out", x, "--batch", 2, "--seed", 5,
                                            "--height", 32, "--width", 24])
        base = ["run", "--pipeline", pipe, "--prompt", "a red fox in the snow", "--prompt", "Two cats, one dog!",
                "--negative-prompt", "blurry, low quality", "--latents", x, "--steps", STEPS, "--height", 32,
                "--width", 24]

        def run(flags):
            out = out_path()
            call_main("sd_pipeline_reference", base + ["--out-latents", out] + flags)
            return out

        import diffusers
        check_layers("unet", diffusers.UNet2DConditionModel.from_pretrained(os.path.join(pipe, "unet")))
        run_checks("SD 1.x tiny", run, run([]), [])
        text = call_main("sd_pipeline_reference", base + ["--out-latents", out_path(), "--patch", 3], expect_exit=1)
        check("cannot split the 16 rows of this level over 3 ranks" in text,
              "SD --patch 3 on 16 latent rows refused: " + text.strip().splitlines()[-1])
    elif model == "flux":
        pipe = os.path.join(work, "flux-pipe")
        call_main("make_flux_pipeline", ["--out", pipe, "--seed", 3])
        x = os.path.join(work, "flux-x.npy")
        size = ["--height", 32, "--width", 48]
        call_main("flux_pipeline_reference",
                  ["--pipeline", pipe, "--make-latents", x, "--batch", 2, "--seed", 5] + size)
        base = ["--pipeline", pipe, "--prompt", "a red fox in the snow", "--prompt", "Two cats, one dog!",
                "--latents", x, "--steps", STEPS, "--max-sequence-length", 16] + size

        def run(flags):
            out = out_path()
            call_main("flux_pipeline_reference", base + ["--out-latents", out] + flags)
            return out

        import diffusers
        check_layers("flux", diffusers.FluxTransformer2DModel.from_pretrained(os.path.join(pipe, "transformer")))
        # 96 image + 16 text tokens: P=5 gives blocks of 20 image and 4 text tokens (the last: 16 and 0).
        run_checks("Flux (dev) tiny", run, run([]), [5])
    else:
        raise SystemExit(f"unknown model {model!r}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="dit,sd,flux", help="comma-separated: dit, sd, flux (default all)")
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (default: a temporary folder)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.work)
        return 1 if failures else 0

    check_mixing()
    check_state()
    rc = 1 if failures else 0
    with contextlib.ExitStack() as stack:
        work = args.keep or stack.enter_context(tempfile.TemporaryDirectory())
        os.makedirs(work, exist_ok=True)
        for model in args.models.split(","):
            # One process per model: the references set process-wide state (default dtype, sdpa shim).
            print(f"{model}:", flush=True)
            r = subprocess.call([sys.executable, os.path.abspath(__file__), "--child", model, "--work", work])
            rc = rc or (1 if r else 0)
    print("distrifusion self-check: " + ("FAILED" if rc else "OK"))
    return rc


if __name__ == "__main__":
    sys.exit(main())
