#!/usr/bin/env python3
"""Image-to-image scheduler parity: Fresco's schedulers driven as diffusers'
StableDiffusionImg2ImgPipeline drives them, against the real classes.

For each noise-predicting scheduler class (DDIM, Euler, Euler ancestral,
DPM-Solver, PNDM) over several configs, step counts and strengths, the
reference does what the pipeline does, with its own code where it can:
set_timesteps, StableDiffusionImg2ImgPipeline.get_timesteps itself (on a
stand-in pipeline holding the scheduler: the slice timesteps[t_start *
order:] and set_begin_index where the class has it), add_noise(x0, noise,
timesteps[:1]), then scale_model_input + step over the kept timesteps with
given model outputs (Euler ancestral: Fresco's step noise at each step's
schedule index, fresco_noise.py). fresco-scheduler-check --strength does the
same in Fresco (imageToImageBegin, setBeginIndex, addNoise, step). Compared:
the begin index (exactly), the whole schedule, the noised start sample and
every intermediate sample (within --rtol of each one's largest magnitude).

PNDM has no set_begin_index: its counter starts at 0 on the sliced
timesteps, so its PLMS warm-up (or PRK's twelve calls) runs on them; the
strengths include ones whose slice starts on the repeated second timestep.

Usage: img2img_parity.py --tool build/bin/fresco-scheduler-check [-v]
"""

import argparse
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time
import types
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from scheduler_cases import (DIT_XL_2_256, PLAYGROUND_V25,  # noqa: E402
                             SD1_PNDM, SD_STYLE, schedule_keys)
from scheduler_parity import (CLASSES, EulerAncestralDiscreteScheduler,  # noqa: E402
                              HarnessError, bit_identical, compare, label_eta,
                              rel_err)
from fresco_noise import patch_ancestral_noise  # noqa: E402

import torch  # noqa: E402
from diffusers import StableDiffusionImg2ImgPipeline  # noqa: E402

SHAPE = (2, 4, 6, 5)
STRENGTHS = [0.3, 0.5, 0.6, 0.75, 0.8, 1.0]


def cases():
    """(class, label, config, step counts)."""
    sd = dict(SD_STYLE, timestep_spacing="leading")
    yield "DDIMScheduler", "sd-style", SD_STYLE, [4, 10, 25]
    yield "DDIMScheduler", "DiT-XL-2-256", DIT_XL_2_256, [4, 10]
    yield "DDIMScheduler", "v/trailing", dict(
        schedule_keys("scaled_linear"), prediction_type="v_prediction",
        timestep_spacing="trailing"), [4, 10]
    yield "EulerDiscreteScheduler", "sd-style", sd, [4, 10, 25]
    yield "EulerDiscreteScheduler", "karras/v", dict(
        sd, use_karras_sigmas=True, prediction_type="v_prediction"), [4, 10]
    yield "EulerDiscreteScheduler", "linspace/final-sigma-min", dict(
        final_sigmas_type="sigma_min"), [4, 10]
    yield "EulerAncestralDiscreteScheduler", "sd-style", sd, [4, 10, 25]
    yield "EulerAncestralDiscreteScheduler", "v/trailing", dict(
        schedule_keys("scaled_linear"), prediction_type="v_prediction",
        timestep_spacing="trailing"), [4, 10]
    yield "EulerAncestralDiscreteScheduler", "linspace", {}, [4, 10]
    dpm = [4, 10, 15, 25]
    yield "DPMSolverMultistepScheduler", "sd-style/2M", SD_STYLE, dpm
    yield "DPMSolverMultistepScheduler", "order3", dict(
        SD_STYLE, solver_order=3), dpm
    yield "DPMSolverMultistepScheduler", "order1", dict(solver_order=1), \
        [4, 10]
    yield "DPMSolverMultistepScheduler", "heun/order3/v", dict(
        solver_type="heun", solver_order=3,
        prediction_type="v_prediction"), dpm
    yield "DPMSolverMultistepScheduler", "karras/leading", dict(
        SD_STYLE, use_karras_sigmas=True, timestep_spacing="leading"), dpm
    yield "DPMSolverMultistepScheduler", "dpmsolver/sigma-min/sample", dict(
        algorithm_type="dpmsolver", final_sigmas_type="sigma_min",
        prediction_type="sample"), [4, 10]
    yield "DPMSolverMultistepScheduler", "no-lower-order-final/order3", dict(
        lower_order_final=False, solver_order=3), [4, 10]
    yield "DPMSolverMultistepScheduler", "sde++/karras", dict(
        SD_STYLE, algorithm_type="sde-dpmsolver++", use_karras_sigmas=True,
        timestep_spacing="leading"), dpm
    yield "DPMSolverMultistepScheduler", "sde/heun/sigma-min", dict(
        algorithm_type="sde-dpmsolver", solver_type="heun",
        final_sigmas_type="sigma_min"), [4, 10]
    yield "DPMSolverMultistepScheduler", "euler-at-final", dict(
        euler_at_final=True), [10, 25]
    yield "DPMSolverMultistepScheduler", "lambda-min-clipped", dict(
        lambda_min_clipped=-3.0, timestep_spacing="trailing"), [4, 10]
    yield "UniPCMultistepScheduler", "sd-style/bh2", SD_STYLE, dpm
    yield "UniPCMultistepScheduler", "order3/v", dict(
        solver_order=3, prediction_type="v_prediction"), dpm
    yield "UniPCMultistepScheduler", "bh1/karras/sigma-min", dict(
        SD_STYLE, solver_type="bh1", use_karras_sigmas=True,
        final_sigmas_type="sigma_min", timestep_spacing="leading"), dpm
    yield "UniPCMultistepScheduler", "noise-prediction/disable-corrector", \
        dict(predict_x0=False, final_sigmas_type="sigma_min",
             disable_corrector=[0, 4, 7]), [10, 25]
    yield "HeunDiscreteScheduler", "sd-style", dict(
        SD_STYLE, timestep_spacing="leading"), [2, 4, 10]
    yield "HeunDiscreteScheduler", "karras/v", dict(
        use_karras_sigmas=True, prediction_type="v_prediction"), [4, 10]
    yield "LMSDiscreteScheduler", "sd-style", dict(
        SD_STYLE, timestep_spacing="leading"), [4, 10, 25]
    yield "LMSDiscreteScheduler", "karras/v", dict(
        use_karras_sigmas=True, prediction_type="v_prediction"), [4, 10]
    yield "DPMSolverSinglestepScheduler", "sd-style/order2", SD_STYLE, dpm
    yield "DPMSolverSinglestepScheduler", "order3/sigma-min/heun", dict(
        solver_order=3, final_sigmas_type="sigma_min", solver_type="heun"), \
        [6, 9, 10, 25]
    yield "DPMSolverSinglestepScheduler", "sde++", dict(
        algorithm_type="sde-dpmsolver++"), [4, 10]
    yield "KDPM2DiscreteScheduler", "sd-style/karras", dict(
        SD_STYLE, timestep_spacing="leading", use_karras_sigmas=True), [4]
    yield "KDPM2AncestralDiscreteScheduler", "sd-style", dict(
        SD_STYLE, timestep_spacing="leading"), [4]
    yield "LCMScheduler", "SD-1.x", SD1_PNDM, [2, 4, 8]
    yield "LCMScheduler", "defaults/v/clip", dict(
        prediction_type="v_prediction", clip_sample=True), [4, 8]
    yield "DDPMScheduler", "sd-style", SD_STYLE, [4, 10, 25]
    yield "TCDScheduler", "SD-1.x", SD1_PNDM, [2, 4, 8]
    yield "TCDScheduler", "SD-1.x/eta=0.3", SD1_PNDM, [4, 8]
    yield "DDIMScheduler", "sd-style/eta=0.5", SD_STYLE, [4, 10]
    yield "TCDScheduler", "defaults/v", dict(prediction_type="v_prediction"), \
        [4, 8]
    yield "DDPMScheduler", "fixed_small_log/v/trailing", dict(
        variance_type="fixed_small_log", prediction_type="v_prediction",
        timestep_spacing="trailing"), [4, 10]
    yield "EDMEulerScheduler", "defaults", {}, [4, 10, 25]
    yield "EDMEulerScheduler", "exponential/v", dict(
        sigma_schedule="exponential", prediction_type="v_prediction"), [4, 10]
    yield "EDMDPMSolverMultistepScheduler", "Playground-v2.5", \
        PLAYGROUND_V25, dpm
    yield "EDMDPMSolverMultistepScheduler", "order3/heun/sigma-min", dict(
        solver_order=3, solver_type="heun", final_sigmas_type="sigma_min"), \
        [4, 10, 25]
    yield "EDMDPMSolverMultistepScheduler", "sde", dict(
        algorithm_type="sde-dpmsolver++"), [4, 10]
    pndm = [2, 3, 4, 5, 8, 10, 25]
    yield "PNDMScheduler", "SD-1.x", SD1_PNDM, pndm
    yield "PNDMScheduler", "SD-1.x/v/trailing", dict(
        SD1_PNDM, prediction_type="v_prediction",
        timestep_spacing="trailing"), pndm
    yield "PNDMScheduler", "linspace/one1", dict(
        SD1_PNDM, timestep_spacing="linspace", set_alpha_to_one=True), pndm
    yield "PNDMScheduler", "prk", dict(SD1_PNDM, skip_prk_steps=False), \
        [4, 5, 8, 10, 25]
    yield "PNDMScheduler", "prk/defaults", {}, [4, 10, 25]
    yield "PNDMScheduler", "trailing/n+1", dict(
        SD1_PNDM, timestep_spacing="trailing"), [61]


def reference(cls, cfg, steps, strength, seed, eta=None):
    """What StableDiffusionImg2ImgPipeline does with the scheduler."""
    sched = cls.from_config(cfg)
    sched.set_timesteps(steps)
    full = sched.timesteps.clone()
    pipe = types.SimpleNamespace(scheduler=sched)
    ts, _ = StableDiffusionImg2ImgPipeline.get_timesteps(
        pipe, steps, strength, "cpu")
    begin = len(full) - len(ts)
    if hasattr(sched, "set_begin_index"):
        assert sched.begin_index == begin, (sched.begin_index, begin)
    rng = np.random.default_rng(seed)
    x0 = rng.standard_normal(SHAPE).astype(np.float32)
    noise = rng.standard_normal(SHAPE).astype(np.float32)
    model_out = rng.standard_normal((len(ts),) + SHAPE).astype(np.float32)
    x = sched.add_noise(torch.from_numpy(x0.copy()),
                        torch.from_numpy(noise.copy()),
                        ts[:1].repeat(SHAPE[0]))
    start = x.numpy().copy()
    outs, scaled = [], []
    current = [begin]  # DDPM has no step_index: the schedule's index
    step_of = (lambda: current[0]) if not hasattr(sched, "step_index") \
        else (lambda: sched.step_index)
    with patch_ancestral_noise(seed, step_of=step_of) as noise_calls:
        for i, t in enumerate(ts):
            current[0] = begin + i
            scaled.append(sched.scale_model_input(x, t).numpy().copy())
            # The pipelines' eta (0) to the classes that take it (TCD's
            # own default is 0.3).
            kw = dict(eta=eta or 0.0) if "eta" in inspect.signature(
                sched.step).parameters else {}
            x = sched.step(torch.from_numpy(model_out[i].copy()), t,
                           x, **kw).prev_sample
            outs.append(x.numpy().copy())
    if cls is EulerAncestralDiscreteScheduler:
        if len(noise_calls) != len(ts):
            raise HarnessError("the noise patch was bypassed")
    init_sigma = float(sched.init_noise_sigma)
    return dict(timesteps=full.numpy().copy(), init_sigma=init_sigma,
                begin=begin, x0=x0, noise=noise, start=start,
                model_out=model_out, outs=np.stack(outs),
                scaled=np.stack(scaled), noise_seed=seed)


def run_tool(tool, wd, cls_name, cfg, steps, strength, ref, eta=None):
    paths = {k: os.path.join(wd, k + ".npy")
             for k in ("mo", "x0", "noise", "start", "prev", "scaled")}
    cfg_path = os.path.join(wd, "scheduler_config.json")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    np.save(paths["mo"], ref["model_out"])
    np.save(paths["x0"], ref["x0"])
    np.save(paths["noise"], ref["noise"])
    cmd = [tool, "--class", cls_name, "--config", cfg_path, "--steps",
           str(steps), "--strength", repr(strength),
           "--original", "@" + paths["x0"], "--sample", "@" + paths["noise"],
           "--model-output", "@" + paths["mo"], "--out", "@" + paths["prev"],
           "--scaled-out", "@" + paths["scaled"],
           "--noised-out", "@" + paths["start"],
           "--noise-seed", str(ref["noise_seed"])]
    if eta is not None:
        cmd += ["--eta", repr(eta)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        return dict(error=p.stderr.strip() or f"exit {p.returncode}")
    lines = p.stdout.split("\n")
    count = int(lines[1].split(":")[1])
    got = dict(init_sigma=float(lines[0].split(":")[1]),
               timesteps=np.array([float(v) for v in lines[2:2 + count]]),
               outs=np.load(paths["prev"]), scaled=np.load(paths["scaled"]),
               start=np.load(paths["start"]))
    for line in lines[2 + count:]:
        if line.startswith("begin_index:"):
            got["begin"] = int(line.split(":")[1])
    return got


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tool", required=True,
                    help="path to fresco-scheduler-check")
    ap.add_argument("--rtol", type=float, default=1e-5,
                    help="tolerance relative to each sample's largest "
                         "magnitude")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()

    start = time.time()
    runs, seed = [], 100
    for cls_name, label, cfg, steps_list in cases():
        for steps in steps_list:
            for strength in STRENGTHS:
                if int(steps * strength) == 0:
                    continue  # keeps no step: fresco-run refuses it
                seed += 1
                ref = reference(CLASSES[cls_name], dict(cfg), steps, strength,
                                seed, label_eta(label))
                runs.append((cls_name, label, cfg, steps, strength, ref))
    ref_time = time.time() - start
    tmp = tempfile.TemporaryDirectory(prefix="img2img-parity-")

    def work(item):
        idx, (cls_name, label, cfg, steps, strength, ref) = item
        wd = os.path.join(tmp.name, str(idx))
        os.makedirs(wd)
        return run_tool(args.tool, wd, cls_name, cfg, steps, strength, ref,
                        label_eta(label))

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(work, enumerate(runs)))

    failures = 0
    worst = {}
    midwarm = 0
    for (cls_name, label, cfg, steps, strength, ref), got in zip(runs,
                                                                 results):
        where = f"{cls_name} [{label}] steps={steps} strength={strength}"
        problems, err = [], float("inf")
        if "error" in got:
            problems.append(f"tool failed: {got['error']}")
        else:
            exact = bit_identical(cls_name, cfg)
            problems, err, _ = compare(cls_name, ref, got, args.rtol, 4,
                                       exact)
            if got.get("begin") != ref["begin"]:
                problems.append(f"begin index {got.get('begin')} vs "
                                f"{ref['begin']}")
            start_err = rel_err([got["start"]], [ref["start"]])
            if not start_err <= (0.0 if exact else args.rtol):
                problems.append(f"add_noise relative error {start_err:.3g}")
            err = max(err, start_err)
        if cls_name == "PNDMScheduler" and ref["begin"] == 1 and \
                cfg.get("skip_prk_steps", False):
            midwarm += 1
        prev = worst.get(cls_name, (0.0, ""))
        if err >= prev[0]:
            worst[cls_name] = (err, f"{label} steps={steps} "
                                    f"strength={strength}")
        if problems:
            failures += 1
            print(f"FAIL {where}: " + "; ".join(problems))
        elif args.verbose:
            print(f"ok   {where}: begin {ref['begin']} of "
                  f"{len(ref['timesteps'])}, err {err:.2e}")
    assert midwarm > 0, "no PNDM run started on the repeated second timestep"
    for cls_name, (err, where) in worst.items():
        print(f"{cls_name}: worst relative error {err:.3g} ({where})")
    print(f"{len(runs)} runs in {time.time() - start:.1f}s "
          f"(diffusers {ref_time:.1f}s); "
          + ("all match" if failures == 0 else f"{failures} FAILED"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
