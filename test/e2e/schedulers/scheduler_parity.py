#!/usr/bin/env python3
"""Scheduler parity: Fresco's schedulers against the real diffusers classes.

For every scheduler class Fresco implements, runs many scheduler configs
(beta schedules, prediction types, timestep spacings, steps_offset,
set_alpha_to_one, clipping, Karras sigmas, solver orders, final-step options,
published configs such as facebook/DiT-XL-2-256's) at several step counts.
Each run compares, against diffusers on CPU:

  * the timesteps: exactly for DDIM / DPM-Solver (integers), within
    --timestep-ulps float32 ulps for Euler (fractional; 0 seen where numpy's
    float32 log is its AVX2/AVX512F kernel, which Fresco replays);
  * init_noise_sigma;
  * a whole trajectory: the same initial sample and per-step model outputs
    go through scale_model_input + step for every step of the schedule (up
    to --max-trajectory steps), and every intermediate sample must agree
    within --rtol of that step's largest magnitude. For the stochastic
    EulerAncestralDiscreteScheduler, diffusers' randn_tensor is replaced by
    Fresco's step noise (fresco_noise.py, from Noise.h) for the run's seed,
    which the tool gets as --noise-seed.

Usage: scheduler_parity.py --tool build/bin/fresco-scheduler-check [-v]
Prints the worst relative error per class; exits 1 on any mismatch.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from fresco_noise import patch_ancestral_noise  # noqa: E402

warnings.filterwarnings("ignore")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")

import torch  # noqa: E402
import diffusers  # noqa: E402
from diffusers import (  # noqa: E402
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    DPMSolverSinglestepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    FlowMatchEulerDiscreteScheduler,
    HeunDiscreteScheduler,
    KDPM2DiscreteScheduler,
    LCMScheduler,
    LMSDiscreteScheduler,
    PNDMScheduler,
    UniPCMultistepScheduler,
)

diffusers.utils.logging.set_verbosity_error()
torch.set_num_threads(1)

CLASSES = {
    "DDIMScheduler": DDIMScheduler,
    "EulerDiscreteScheduler": EulerDiscreteScheduler,
    "EulerAncestralDiscreteScheduler": EulerAncestralDiscreteScheduler,
    "DPMSolverMultistepScheduler": DPMSolverMultistepScheduler,
    "FlowMatchEulerDiscreteScheduler": FlowMatchEulerDiscreteScheduler,
    "PNDMScheduler": PNDMScheduler,
    "UniPCMultistepScheduler": UniPCMultistepScheduler,
    "LCMScheduler": LCMScheduler,
    "HeunDiscreteScheduler": HeunDiscreteScheduler,
    "LMSDiscreteScheduler": LMSDiscreteScheduler,
    "DPMSolverSinglestepScheduler": DPMSolverSinglestepScheduler,
    "KDPM2DiscreteScheduler": KDPM2DiscreteScheduler,
}

# black-forest-labs/FLUX.1-dev, scheduler/scheduler_config.json, verbatim
# (schnell's differs only in use_dynamic_shifting false).
FLUX_DEV = {
    "_class_name": "FlowMatchEulerDiscreteScheduler",
    "_diffusers_version": "0.30.0.dev0",
    "base_image_seq_len": 256,
    "base_shift": 0.5,
    "max_image_seq_len": 4096,
    "max_shift": 1.15,
    "num_train_timesteps": 1000,
    "shift": 3.0,
    "use_dynamic_shifting": True,
}
FLUX_SCHNELL = dict(FLUX_DEV, use_dynamic_shifting=False, shift=1.0)

# facebook/DiT-XL-2-256, scheduler/scheduler_config.json, verbatim (written by
# diffusers 0.12.0.dev0; every key kept, timestep_spacing absent -> leading).
DIT_XL_2_256 = {
    "_class_name": "DDIMScheduler",
    "_diffusers_version": "0.12.0.dev0",
    "beta_end": 0.02,
    "beta_schedule": "linear",
    "beta_start": 0.0001,
    "clip_sample": False,
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "set_alpha_to_one": True,
    "steps_offset": 0,
    "trained_betas": None,
}

# Stable Diffusion 1.x style keys (scaled_linear betas, steps_offset 1).
SD_STYLE = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "clip_sample": False,
    "set_alpha_to_one": False,
    "steps_offset": 1,
}

# The keys of Stable Diffusion 1.x's scheduler/scheduler_config.json
# (PNDM with PLMS steps only; clip_sample is not a PNDM key, ignored).
SD1_PNDM = {
    "_class_name": "PNDMScheduler",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "trained_betas": None,
}

SCHEDULES = ["linear", "scaled_linear", "squaredcos_cap_v2"]
PREDICTIONS = ["epsilon", "v_prediction", "sample"]
SPACINGS = ["leading", "trailing", "linspace"]
STEPS = [1, 4, 10, 25, 50]
DPM_STEPS = [1, 2, 4, 10, 15, 25, 50]

# The shape of the latents the trajectories run on (DiT-like, small).
SHAPE = (2, 4, 8, 8)


def schedule_keys(schedule):
    """beta_start/end per schedule: diffusers' defaults, SD's for scaled."""
    if schedule == "scaled_linear":
        return {"beta_schedule": schedule, "beta_start": 0.00085,
                "beta_end": 0.012}
    return {"beta_schedule": schedule}


def ddim_cases():
    combos = [(o, a, c) for o in (0, 1) for a in (True, False)
              for c in (True, False)]
    k = 0
    for sch in SCHEDULES:
        for pred in PREDICTIONS:
            for sp in SPACINGS:
                for pick in (k * 3 % 8, (k * 3 + 5) % 8):
                    off, one, clip = combos[pick]
                    cfg = dict(schedule_keys(sch), prediction_type=pred,
                               timestep_spacing=sp, steps_offset=off,
                               set_alpha_to_one=one, clip_sample=clip)
                    yield f"{sch}/{pred}/{sp}/off{off}/one{int(one)}/" \
                          f"clip{int(clip)}", cfg, STEPS
                k += 1
    yield "DiT-XL-2-256", DIT_XL_2_256, STEPS + [100, 250, 1000]
    yield "DiT-XL-2-256/trailing", dict(
        DIT_XL_2_256, timestep_spacing="trailing"), [7, 61, 103]
    yield "DiT-XL-2-256/linspace", dict(
        DIT_XL_2_256, timestep_spacing="linspace"), [3, 7, 1000]
    yield "sd-style", dict(SD_STYLE), STEPS
    yield "zero-snr/v/trailing", dict(
        schedule_keys("scaled_linear"), prediction_type="v_prediction",
        rescale_betas_zero_snr=True, timestep_spacing="trailing",
        clip_sample=False), STEPS
    yield "zero-snr/v/leading-one0", dict(
        prediction_type="v_prediction", rescale_betas_zero_snr=True,
        set_alpha_to_one=False), [4, 10]
    yield "sample/clip-range-0.5", dict(
        prediction_type="sample", clip_sample=True,
        clip_sample_range=0.5), [4, 10]
    yield "eps/clip-range-3", dict(clip_sample=True,
                                   clip_sample_range=3.0), [4, 10]
    yield "train500/off1", dict(num_train_timesteps=500, steps_offset=1,
                                beta_end=0.03), [4, 10, 33]
    betas = np.linspace(1e-4, 0.025, 1000) ** 1.1  # float64, not float32-exact
    yield "trained_betas", dict(trained_betas=betas.tolist(),
                                clip_sample=False), [4, 10]


def euler_cases():
    k = 0
    for sch in SCHEDULES:
        for pred in PREDICTIONS:
            for sp in SPACINGS:
                cfg = dict(schedule_keys(sch), prediction_type=pred,
                           timestep_spacing=sp, steps_offset=k % 2)
                yield f"{sch}/{pred}/{sp}/off{k % 2}", cfg, STEPS
                k += 1
    for sch in SCHEDULES:
        for sp in SPACINGS:
            pred = PREDICTIONS[k % 2]
            k += 1
            yield f"karras/{sch}/{sp}/{pred}", dict(
                schedule_keys(sch), use_karras_sigmas=True,
                timestep_spacing=sp, prediction_type=pred), STEPS
    yield "karras/sigma-min-max", dict(
        schedule_keys("scaled_linear"), use_karras_sigmas=True,
        sigma_min=0.0292, sigma_max=14.6146), STEPS
    yield "final-sigma-min", dict(final_sigmas_type="sigma_min"), STEPS
    yield "final-sigma-min/karras", dict(
        final_sigmas_type="sigma_min", use_karras_sigmas=True,
        timestep_spacing="leading"), STEPS
    yield "zero-snr/v/trailing", dict(
        schedule_keys("scaled_linear"), prediction_type="v_prediction",
        rescale_betas_zero_snr=True, timestep_spacing="trailing"), STEPS
    yield "continuous/v", dict(timestep_type="continuous",
                               prediction_type="v_prediction"), [4, 10]
    yield "sdxl-style", dict(SD_STYLE, timestep_spacing="leading",
                             interpolation_type="linear",
                             use_karras_sigmas=False), STEPS
    # np.arange yields n + 1 trailing timesteps for these n (the last -1).
    yield "trailing/n+1", dict(timestep_spacing="trailing"), [61, 103]
    yield "DiT-XL-2-256 (from_config)", DIT_XL_2_256, STEPS


def euler_ancestral_cases():
    """epsilon and v_prediction (diffusers raises in step for sample: see
    REFUSED) over every beta schedule and spacing."""
    k = 0
    for sch in SCHEDULES:
        for pred in ("epsilon", "v_prediction"):
            for sp in SPACINGS:
                cfg = dict(schedule_keys(sch), prediction_type=pred,
                           timestep_spacing=sp, steps_offset=k % 2)
                yield f"{sch}/{pred}/{sp}/off{k % 2}", cfg, STEPS
                k += 1
    yield "sd-style/leading", dict(SD_STYLE, timestep_spacing="leading"), \
        STEPS
    yield "zero-snr/v/trailing", dict(
        schedule_keys("scaled_linear"), prediction_type="v_prediction",
        rescale_betas_zero_snr=True, timestep_spacing="trailing"), STEPS
    yield "trailing/n+1", dict(timestep_spacing="trailing"), [61, 103]
    yield "train500/off1/leading", dict(
        num_train_timesteps=500, steps_offset=1, beta_end=0.03,
        timestep_spacing="leading"), [4, 10, 33]
    # EulerDiscreteScheduler's keys: not this class's, ignored by diffusers
    # and so by Fresco.
    yield "euler keys (ignored)", dict(
        SD_STYLE, use_karras_sigmas=True, final_sigmas_type="sigma_min",
        timestep_type="continuous", interpolation_type="log_linear"), [4, 10]
    yield "DiT-XL-2-256 (from_config)", DIT_XL_2_256, STEPS


def dpm_cases():
    k = 0
    for sch in SCHEDULES:
        for pred in PREDICTIONS:
            for sp in SPACINGS:
                cfg = dict(schedule_keys(sch), prediction_type=pred,
                           timestep_spacing=sp, steps_offset=k % 2)
                yield f"2M/{sch}/{pred}/{sp}/off{k % 2}", cfg, DPM_STEPS
                k += 1
    for order in (1, 3):
        for pred in PREDICTIONS:
            sch, sp = SCHEDULES[k % 3], SPACINGS[(k // 3) % 3]
            k += 1
            yield f"order{order}/{sch}/{pred}/{sp}", dict(
                schedule_keys(sch), solver_order=order,
                prediction_type=pred, timestep_spacing=sp), DPM_STEPS
    for order in (2, 3):
        yield f"heun/order{order}", dict(solver_type="heun",
                                         solver_order=order), DPM_STEPS
    yield "order4 (runs as 3)", dict(solver_order=4), [10, 25]
    yield "no-lower-order-final", dict(lower_order_final=False), DPM_STEPS
    yield "no-lower-order-final/order3", dict(
        lower_order_final=False, solver_order=3), DPM_STEPS
    yield "euler-at-final", dict(euler_at_final=True), DPM_STEPS
    yield "final-sigma-min", dict(final_sigmas_type="sigma_min"), DPM_STEPS
    yield "final-sigma-min/no-lof", dict(
        final_sigmas_type="sigma_min", lower_order_final=False), DPM_STEPS
    for sch in SCHEDULES:
        for sp in SPACINGS:
            pred = PREDICTIONS[k % 2]
            k += 1
            yield f"karras/{sch}/{sp}/{pred}", dict(
                schedule_keys(sch), use_karras_sigmas=True,
                timestep_spacing=sp, prediction_type=pred), DPM_STEPS
    for pred in PREDICTIONS:
        for order in (1, 2, 3):
            solver = ("midpoint", "heun")[k % 2]
            k += 1
            yield f"dpmsolver/{pred}/order{order}/{solver}", dict(
                algorithm_type="dpmsolver", final_sigmas_type="sigma_min",
                prediction_type=pred, solver_order=order,
                solver_type=solver), DPM_STEPS
    yield "lambda-min-clipped/cosine/v", dict(
        schedule_keys("squaredcos_cap_v2"), lambda_min_clipped=-5.1,
        prediction_type="v_prediction"), DPM_STEPS
    yield "lambda-min-clipped/trailing", dict(
        lambda_min_clipped=-3.0, timestep_spacing="trailing"), [4, 10, 25]
    yield "zero-snr/v/trailing", dict(
        schedule_keys("scaled_linear"), prediction_type="v_prediction",
        rescale_betas_zero_snr=True, timestep_spacing="trailing"), DPM_STEPS
    # The SDE variants: fresh noise every step (Fresco's step noise).
    for sch in SCHEDULES:
        for pred in PREDICTIONS:
            sp = SPACINGS[k % 3]
            solver = ("midpoint", "heun")[k % 2]
            k += 1
            yield f"sde++/{sch}/{pred}/{sp}/{solver}", dict(
                schedule_keys(sch), algorithm_type="sde-dpmsolver++",
                prediction_type=pred, timestep_spacing=sp,
                solver_type=solver), DPM_STEPS
    for order in (1, 2):
        for solver in ("midpoint", "heun"):
            pred = PREDICTIONS[k % 3]
            k += 1
            yield f"sde/order{order}/{solver}/{pred}", dict(
                algorithm_type="sde-dpmsolver", solver_order=order,
                solver_type=solver, prediction_type=pred,
                final_sigmas_type="sigma_min"), DPM_STEPS
    yield "sde++/karras (DPM++ 2M SDE Karras)", dict(
        SD_STYLE, algorithm_type="sde-dpmsolver++", use_karras_sigmas=True,
        timestep_spacing="leading"), DPM_STEPS
    yield "sde++/order1/sigma-min/euler-at-final", dict(
        algorithm_type="sde-dpmsolver++", solver_order=1,
        final_sigmas_type="sigma_min", euler_at_final=True), DPM_STEPS
    yield "sde++/no-lower-order-final", dict(
        algorithm_type="sde-dpmsolver++", lower_order_final=False), \
        DPM_STEPS
    yield "sde++/zero-snr/v/trailing", dict(
        schedule_keys("scaled_linear"), algorithm_type="sde-dpmsolver++",
        prediction_type="v_prediction", rescale_betas_zero_snr=True,
        timestep_spacing="trailing"), DPM_STEPS
    # No third-order SDE update in diffusers: runs up to 4 steps, then both
    # fail (diffusers with UnboundLocalError).
    yield "sde++/order3", dict(algorithm_type="sde-dpmsolver++",
                               solver_order=3), [1, 2, 3, 4, 5, 10]
    yield "sde/final-zero (refused by both)", dict(
        algorithm_type="sde-dpmsolver"), [4]
    yield "deis->dpmsolver++", dict(algorithm_type="deis",
                                    solver_type="logrho",
                                    final_sigmas_type="sigma_min"), [4, 10]
    # Both refuse: diffusers rejects final_sigmas_type zero for deis.
    yield "deis/final-zero", dict(algorithm_type="deis"), [4]
    yield "sd-style/karras", dict(SD_STYLE, use_karras_sigmas=True,
                                  timestep_spacing="leading"), DPM_STEPS
    yield "trailing/n+1", dict(timestep_spacing="trailing"), [61, 103]
    yield "DiT-XL-2-256 (from_config)", DIT_XL_2_256, DPM_STEPS


PNDM_STEPS = [1, 2, 3, 4, 5, 10, 25, 50]


def pndm_cases():
    """skip_prk_steps true (PLMS only, n + 1 model calls) and false (12
    Runge-Kutta calls first, n + 9 in all; fewer than 4 steps refused by
    both)."""
    yield "SD-1.x", SD1_PNDM, PNDM_STEPS + [61, 100, 999]
    k = 0
    for skip in (True, False):
        for pred in ("epsilon", "v_prediction"):
            for sp in SPACINGS:
                sch = SCHEDULES[k % 3]
                off, one = k % 2, (k // 2) % 2 == 1
                k += 1
                yield f"skip{int(skip)}/{pred}/{sp}/{sch}/off{off}/" \
                      f"one{int(one)}", dict(
                          schedule_keys(sch), skip_prk_steps=skip,
                          prediction_type=pred, timestep_spacing=sp,
                          steps_offset=off, set_alpha_to_one=one), PNDM_STEPS
    yield "SD-1.x/prk", dict(SD1_PNDM, skip_prk_steps=False), PNDM_STEPS
    yield "SD-1.x/v/trailing", dict(SD1_PNDM, prediction_type="v_prediction",
                                    timestep_spacing="trailing"), PNDM_STEPS
    yield "defaults", {}, PNDM_STEPS
    # np.arange yields n + 1 trailing timesteps (the lowest -1).
    for skip in (True, False):
        yield f"trailing/n+1/skip{int(skip)}", dict(
            timestep_spacing="trailing", skip_prk_steps=skip), [61, 103]
    yield "train500/off1", dict(num_train_timesteps=500, steps_offset=1,
                                beta_end=0.03), [4, 10, 33]
    # Not a PNDM key: diffusers ignores it, and so must Fresco.
    yield "rescale_betas_zero_snr (ignored)", dict(
        SD1_PNDM, rescale_betas_zero_snr=True), [4, 25]
    betas = np.linspace(1e-4, 0.025, 1000) ** 1.1
    yield "trained_betas/prk", dict(trained_betas=betas.tolist()), [4, 10]
    # Both refuse: steps_offset 1 at 1000 leading steps reads timestep 1000
    # (IndexError); diffusers raises ValueError in step for "sample".
    yield "leading/off1/1000", dict(steps_offset=1), [1000]
    yield "sample (refused)", dict(prediction_type="sample"), [4]


def unipc_cases():
    """bh2 (the default) and bh1, orders 1 to 4, the data or the noise
    prediction, with and without the corrector on chosen steps."""
    k = 0
    for sch in SCHEDULES:
        for pred in PREDICTIONS:
            for sp in SPACINGS:
                cfg = dict(schedule_keys(sch), prediction_type=pred,
                           timestep_spacing=sp, steps_offset=k % 2)
                yield f"bh2/{sch}/{pred}/{sp}/off{k % 2}", cfg, DPM_STEPS
                k += 1
    for order in (1, 3, 4):
        for solver in ("bh1", "bh2"):
            pred = PREDICTIONS[k % 3]
            k += 1
            # bh1 ends on sigma_min: see REFUSED.
            yield f"order{order}/{solver}/{pred}", dict(
                solver_order=order, solver_type=solver,
                prediction_type=pred,
                final_sigmas_type="sigma_min" if solver == "bh1"
                else "zero"), DPM_STEPS
    for pred in PREDICTIONS:
        for order in (1, 2, 3):
            solver = ("bh1", "bh2")[k % 2]
            k += 1
            yield f"noise-prediction/{pred}/order{order}/{solver}", dict(
                predict_x0=False, final_sigmas_type="sigma_min",
                prediction_type=pred, solver_order=order,
                solver_type=solver), DPM_STEPS
    yield "no-lower-order-final/sigma-min", dict(
        lower_order_final=False, final_sigmas_type="sigma_min"), DPM_STEPS
    yield "no-lower-order-final/order3/sigma-min", dict(
        lower_order_final=False, solver_order=3,
        final_sigmas_type="sigma_min"), DPM_STEPS
    yield "final-sigma-min", dict(final_sigmas_type="sigma_min"), DPM_STEPS
    yield "no-lower-order-final/order1", dict(
        lower_order_final=False, solver_order=1), [4, 10]
    # inf latents (order 2) or a singular system (order 3) at the last step
    # from 2 steps on: both refuse (diffusers raises for the singular one).
    yield "no-lower-order-final/order2 (1 step only)", dict(
        lower_order_final=False), [1]
    yield "no-lower-order-final/order3 (singular)", dict(
        lower_order_final=False, solver_order=3), [1, 4]
    yield "disable-corrector", dict(disable_corrector=[0, 2, 3]), \
        [4, 10, 25]
    yield "disable-corrector/order3", dict(
        disable_corrector=[1, 5, 8], solver_order=3), [10, 25]
    yield "midpoint->bh2", dict(solver_type="midpoint"), [4, 10]
    for sch in SCHEDULES:
        for sp in SPACINGS:
            pred = PREDICTIONS[k % 2]
            k += 1
            yield f"karras/{sch}/{sp}/{pred}", dict(
                schedule_keys(sch), use_karras_sigmas=True,
                timestep_spacing=sp, prediction_type=pred), DPM_STEPS
    yield "karras/final-sigma-min", dict(
        use_karras_sigmas=True, final_sigmas_type="sigma_min"), DPM_STEPS
    yield "karras/sigma-min-max", dict(
        schedule_keys("scaled_linear"), use_karras_sigmas=True,
        sigma_min=0.0292, sigma_max=14.6146), [4, 10, 25]
    yield "zero-snr/v/trailing", dict(
        schedule_keys("scaled_linear"), prediction_type="v_prediction",
        rescale_betas_zero_snr=True, timestep_spacing="trailing"), DPM_STEPS
    yield "sd-style/leading", dict(SD_STYLE, timestep_spacing="leading"), \
        DPM_STEPS
    yield "trailing/n+1", dict(timestep_spacing="trailing"), [61, 103]
    yield "train500/off1", dict(num_train_timesteps=500, steps_offset=1,
                                beta_end=0.03), [4, 10, 33]
    yield "SD-1.x (from_config)", SD1_PNDM, DPM_STEPS
    yield "DiT-XL-2-256 (from_config)", DIT_XL_2_256, DPM_STEPS


LCM_STEPS = [1, 2, 3, 4, 6, 8, 13, 50]


def lcm_cases():
    """As LCM-LoRA runs: from SD 1.5's and SDXL's configs, or defaults;
    prediction types, original_inference_steps, clipping, timestep_scaling.
    Stochastic: diffusers' randn_tensor is replaced by Fresco's step noise."""
    yield "defaults", {}, LCM_STEPS
    yield "SD-1.x (from_config)", SD1_PNDM, LCM_STEPS
    yield "sdxl-style (from_config)", dict(
        SD_STYLE, timestep_spacing="leading", interpolation_type="linear",
        use_karras_sigmas=False), LCM_STEPS
    for pred in PREDICTIONS:
        yield f"{pred}/clip", dict(prediction_type=pred, clip_sample=True,
                                   clip_sample_range=1.5), [1, 4, 8]
    for orig in (1, 7, 25, 100, 999, 1000):
        yield f"original{orig}", dict(original_inference_steps=orig), \
            [1, 2, 4, 7, 13]
    yield "scaling3.5/linear", dict(timestep_scaling=3.5,
                                    beta_schedule="linear"), [2, 4, 8]
    yield "cosine/v", dict(beta_schedule="squaredcos_cap_v2",
                           prediction_type="v_prediction"), [2, 4, 8]
    yield "zero-snr/v", dict(rescale_betas_zero_snr=True,
                             prediction_type="v_prediction"), [2, 4, 8]
    yield "train500", dict(num_train_timesteps=500,
                           original_inference_steps=30), [3, 4, 30, 31]
    betas = np.linspace(1e-4, 0.025, 1000) ** 1.1
    yield "trained_betas", dict(trained_betas=betas.tolist()), [4, 8]


HEUN_STEPS = [1, 2, 4, 10, 25]


def heun_cases():
    """Two model calls per step (2n - 1 timesteps): every beta schedule
    (with Heun's own exp), prediction type and spacing, Karras sigmas,
    clipping."""
    k = 0
    for sch in SCHEDULES + ["exp"]:
        for pred in PREDICTIONS:
            sp = SPACINGS[k % 3]
            k += 1
            keys = schedule_keys(sch) if sch != "exp" else dict(
                beta_schedule="exp")
            yield f"{sch}/{pred}/{sp}/off{k % 2}", dict(
                keys, prediction_type=pred, timestep_spacing=sp,
                steps_offset=k % 2), HEUN_STEPS
    for sp in SPACINGS:
        pred = PREDICTIONS[k % 2]
        k += 1
        yield f"karras/{sp}/{pred}", dict(
            schedule_keys("scaled_linear"), use_karras_sigmas=True,
            timestep_spacing=sp, prediction_type=pred), HEUN_STEPS
    # Not Heun's __init__ keys, but from_config keeps them and the Karras
    # conversion reads them.
    yield "karras/sigma-min-max", dict(
        use_karras_sigmas=True, sigma_min=0.1, sigma_max=10.0), [4, 10]
    yield "sample/clip", dict(prediction_type="sample", clip_sample=True,
                              clip_sample_range=0.5), [4, 10]
    yield "defaults", {}, HEUN_STEPS
    yield "sd-style/leading", dict(SD_STYLE, timestep_spacing="leading"), \
        HEUN_STEPS
    yield "trailing/n+1", dict(timestep_spacing="trailing"), [61]
    yield "SD-1.x (from_config)", SD1_PNDM, [4, 10]
    yield "DiT-XL-2-256 (from_config)", DIT_XL_2_256, [4, 10]


def lms_cases():
    """k-LMS: up to 4 derivatives, their coefficients integrated as
    scipy.integrate.quad does."""
    k = 0
    for sch in SCHEDULES:
        for pred in PREDICTIONS:
            sp = SPACINGS[k % 3]
            k += 1
            yield f"{sch}/{pred}/{sp}/off{k % 2}", dict(
                schedule_keys(sch), prediction_type=pred, timestep_spacing=sp,
                steps_offset=k % 2), STEPS
    for sp in SPACINGS:
        pred = PREDICTIONS[k % 2]
        k += 1
        yield f"karras/{sp}/{pred}", dict(
            schedule_keys("scaled_linear"), use_karras_sigmas=True,
            timestep_spacing=sp, prediction_type=pred), STEPS
    # Not LMS keys: its Karras range is the schedule's own.
    yield "karras/sigma-min-max (ignored)", dict(
        use_karras_sigmas=True, sigma_min=0.1, sigma_max=10.0), [4, 10]
    yield "SD-1.x (from_config)", SD1_PNDM, STEPS
    yield "trailing/n+1", dict(timestep_spacing="trailing"), [61]
    yield "DiT-XL-2-256 (from_config)", DIT_XL_2_256, [4, 10]


def singlestep_cases():
    """Groups of 1-3 model calls (get_order_list), DPM-Solver(++) and
    sde-dpmsolver++, with lower_order_final as diffusers forces it."""
    k = 0
    for sch in SCHEDULES:
        for pred in PREDICTIONS:
            order = 1 + k % 3
            solver = ("midpoint", "heun")[k % 2]
            k += 1
            yield f"{sch}/{pred}/order{order}/{solver}", dict(
                schedule_keys(sch), prediction_type=pred, solver_order=order,
                solver_type=solver), DPM_STEPS
    for order in (1, 2, 3):
        for solver in ("midpoint", "heun"):
            pred = PREDICTIONS[k % 3]
            k += 1
            yield f"dpmsolver/order{order}/{solver}/{pred}", dict(
                algorithm_type="dpmsolver", final_sigmas_type="sigma_min",
                solver_order=order, solver_type=solver,
                prediction_type=pred), DPM_STEPS
    for order in (2, 3):
        yield f"sigma-min/no-lower-order-final/order{order}", dict(
            final_sigmas_type="sigma_min", solver_order=order), \
            [2, 3, 4, 6, 9, 12, 24]
        yield f"sigma-min/lower-order-final/order{order}", dict(
            final_sigmas_type="sigma_min", solver_order=order,
            lower_order_final=True), [4, 9, 25]
    for order in (1, 2):
        yield f"sde++/order{order}", dict(
            algorithm_type="sde-dpmsolver++", solver_order=order), DPM_STEPS
    yield "sde++/heun/sigma-min", dict(
        algorithm_type="sde-dpmsolver++", solver_type="heun",
        final_sigmas_type="sigma_min"), [4, 6, 25]
    yield "sde++/order3 (third-order groups fail in both)", dict(
        algorithm_type="sde-dpmsolver++", solver_order=3), [1, 2, 3, 6]
    for order in (2, 3):
        yield f"karras/order{order}", dict(
            schedule_keys("scaled_linear"), use_karras_sigmas=True,
            solver_order=order), DPM_STEPS
    yield "lambda-min-clipped/cosine/v", dict(
        schedule_keys("squaredcos_cap_v2"), lambda_min_clipped=-5.1,
        prediction_type="v_prediction"), DPM_STEPS
    yield "deis->dpmsolver++", dict(algorithm_type="deis",
                                    solver_type="logrho",
                                    final_sigmas_type="sigma_min"), [4, 10]
    yield "SD-1.x (from_config)", SD1_PNDM, DPM_STEPS
    yield "DiT-XL-2-256 (from_config)", DIT_XL_2_256, [4, 10]


def kdpm2_cases():
    """DPM2: two model calls per step, the second at the geometric mean of
    the step's sigmas (its timestep interleaved). Few runs: diffusers builds
    every instance with a 1000-step schedule, about a second each."""
    yield "scaled_linear/epsilon/leading", dict(
        schedule_keys("scaled_linear"), timestep_spacing="leading",
        steps_offset=1), [2, 10]
    yield "linear/v/trailing", dict(prediction_type="v_prediction",
                                    timestep_spacing="trailing"), [2, 10]
    yield "cosine/epsilon/linspace", dict(
        schedule_keys("squaredcos_cap_v2")), [1, 4]
    yield "karras/v", dict(schedule_keys("scaled_linear"),
                           use_karras_sigmas=True,
                           prediction_type="v_prediction"), [4, 10]
    yield "karras/sigma-min-max", dict(
        use_karras_sigmas=True, sigma_min=0.1, sigma_max=10.0), [4]
    yield "trailing/n+1", dict(timestep_spacing="trailing"), [61]
    yield "SD-1.x (from_config)", SD1_PNDM, [4, 25]


def calculate_shift(image_seq_len, base_seq_len=256, max_seq_len=4096,
                    base_shift=0.5, max_shift=1.16):
    """diffusers 0.31 pipelines/flux/pipeline_flux.py, verbatim (importing
    that module needs transformers, which the test does not)."""
    m = (max_shift - base_shift) / (max_seq_len - base_seq_len)
    b = base_shift - m * base_seq_len
    mu = image_seq_len * m + b
    return mu


FLOW_STEPS = [1, 2, 4, 10, 28, 50]


def flow_cases():
    """Labels carry how set_timesteps is called: mu=X passes mu; flux=L
    calls it as FluxPipeline does for L image tokens (sigmas and mu)."""
    for shift in (1.0, 3.0, 0.5, 7.25):
        yield f"shift{shift}", dict(shift=shift), FLOW_STEPS
    yield "defaults", {}, FLOW_STEPS
    yield "train500/shift3", dict(num_train_timesteps=500, shift=3.0), \
        [4, 10, 33]
    for mu in (0.5, 1.15, 0.8171875, -0.3, 2.75):
        yield f"dynamic/mu={mu!r}", dict(use_dynamic_shifting=True), \
            FLOW_STEPS
    yield "dynamic/train100/mu=1.0", dict(use_dynamic_shifting=True,
                                          num_train_timesteps=100), [4, 25]
    # FLUX.1 at 256, 512, 768, 1024 and 1024x768 px (packed tokens), and a
    # length past max_image_seq_len.
    for seq in (256, 1024, 2304, 4096, 3072, 6000):
        yield f"FLUX.1-dev/flux={seq}", FLUX_DEV, [1, 4, 28, 50]
    yield "FLUX.1-schnell/flux=4096", FLUX_SCHNELL, [1, 2, 4]
    yield "static-shift3/flux=1024", dict(shift=3.0), [4, 28]


def flow_call(label):
    """(mu, flux image seq len) from a flow_cases label."""
    mu = seq = None
    for part in label.split("/"):
        if part.startswith("mu="):
            mu = float(part[3:])
        elif part.startswith("flux="):
            seq = int(part[5:])
    return mu, seq


CASES = {
    "DDIMScheduler": ddim_cases,
    "EulerDiscreteScheduler": euler_cases,
    "EulerAncestralDiscreteScheduler": euler_ancestral_cases,
    "DPMSolverMultistepScheduler": dpm_cases,
    "FlowMatchEulerDiscreteScheduler": flow_cases,
    "PNDMScheduler": pndm_cases,
    "UniPCMultistepScheduler": unipc_cases,
    "LCMScheduler": lcm_cases,
    "HeunDiscreteScheduler": heun_cases,
    "LMSDiscreteScheduler": lms_cases,
    "DPMSolverSinglestepScheduler": singlestep_cases,
    "KDPM2DiscreteScheduler": kdpm2_cases,
}

# Classes whose timesteps are floats, compared as float32 bit patterns; those
# whose Karras timesteps take numpy's SIMD float32 log may differ by
# --timestep-ulps.
FLOAT_TIMESTEPS = ("EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler",
                   "FlowMatchEulerDiscreteScheduler", "HeunDiscreteScheduler",
                   "LMSDiscreteScheduler", "KDPM2DiscreteScheduler")
SIMD_LOG_TIMESTEPS = ("EulerDiscreteScheduler", "HeunDiscreteScheduler",
                      "LMSDiscreteScheduler", "KDPM2DiscreteScheduler")

# Configs diffusers accepts that Fresco must refuse with a message naming
# the key (class, config, the key expected in the message).
REFUSED = [
    ("DDIMScheduler", {"thresholding": True}, "thresholding"),
    ("DPMSolverMultistepScheduler", {"thresholding": True}, "thresholding"),
    ("EulerDiscreteScheduler", {"interpolation_type": "log_linear"},
     "interpolation_type"),
    # diffusers raises NotImplementedError in step.
    ("EulerAncestralDiscreteScheduler", {"prediction_type": "sample"},
     "prediction_type"),
    ("DPMSolverMultistepScheduler",
     {"algorithm_type": "dpmsolver", "final_sigmas_type": "zero"},
     "final_sigmas_type"),
    # Keys of later diffusers that 0.31 ignores but that change the schedule.
    ("FlowMatchEulerDiscreteScheduler", {"use_karras_sigmas": True},
     "use_karras_sigmas"),
    ("FlowMatchEulerDiscreteScheduler", {"shift_terminal": 0.1},
     "shift_terminal"),
    ("FlowMatchEulerDiscreteScheduler", {"invert_sigmas": True},
     "invert_sigmas"),
    ("FlowMatchEulerDiscreteScheduler", {"time_shift_type": "linear"},
     "time_shift_type"),
    ("UniPCMultistepScheduler", {"thresholding": True}, "thresholding"),
    ("LCMScheduler", {"thresholding": True}, "thresholding"),
    # diffusers raises NotImplementedError in step.
    ("KDPM2DiscreteScheduler", {"prediction_type": "sample"},
     "prediction_type"),
    # diffusers returns NaN latents at the last step.
    ("UniPCMultistepScheduler", {"predict_x0": False}, "predict_x0"),
    ("UniPCMultistepScheduler", {"solver_type": "bh1"}, "solver_type"),
    ("UniPCMultistepScheduler", {"use_exponential_sigmas": True},
     "use_exponential_sigmas"),
    # diffusers raises at set_timesteps without mu; so must Fresco.
    ("FlowMatchEulerDiscreteScheduler", {"use_dynamic_shifting": True},
     "use_dynamic_shifting"),
]


def reference(cls, cfg, steps, max_traj, seed):
    """diffusers' schedule and trajectory for one config and step count."""
    sched = cls.from_config(cfg)
    sched.set_timesteps(steps)
    ts = sched.timesteps.numpy().copy()
    init_sigma = float(sched.init_noise_sigma)
    n_traj = min(len(ts), max_traj)
    rng = np.random.default_rng(seed)
    model_out = rng.standard_normal((n_traj,) + SHAPE).astype(np.float32)
    sample0 = (rng.standard_normal(SHAPE) * init_sigma).astype(np.float32)
    x = torch.from_numpy(sample0.copy())
    outs, scaled = [], []
    with patch_ancestral_noise(
            seed, step_of=lambda: sched.step_index) as noise_calls:
        for i in range(n_traj):
            t = sched.timesteps[i]
            scaled.append(sched.scale_model_input(x, t).numpy().copy())
            x = sched.step(torch.from_numpy(model_out[i].copy()), t,
                           x).prev_sample
            outs.append(x.numpy().copy())
    if cls is EulerAncestralDiscreteScheduler:
        assert len(noise_calls) == n_traj, "the noise patch was bypassed"
    if cls in (DPMSolverMultistepScheduler, DPMSolverSinglestepScheduler) \
            and "sde" in cfg.get("algorithm_type", ""):
        assert len(noise_calls) == n_traj, "the noise patch was bypassed"
    if cls is LCMScheduler:  # no noise after the last step
        assert len(noise_calls) == min(n_traj, len(ts) - 1), \
            "the noise patch was bypassed"
    return dict(timesteps=ts, init_sigma=init_sigma, model_out=model_out,
                sample0=sample0, outs=np.stack(outs), scaled=np.stack(scaled),
                noise_seed=seed)


def reference_flow(cfg, steps, label, max_traj, seed):
    """As reference(), for FlowMatchEulerDiscreteScheduler: set_timesteps
    with mu, or as FluxPipeline calls it; it has no scale_model_input nor
    init_noise_sigma (1), so "scaled" is the sample entering each step."""
    sched = FlowMatchEulerDiscreteScheduler.from_config(cfg)
    mu, seq = flow_call(label)
    if seq is not None:
        # FluxPipeline.__call__ and retrieve_timesteps, verbatim.
        sigmas = np.linspace(1.0, 1 / steps, steps)
        mu = calculate_shift(seq, sched.config.base_image_seq_len,
                             sched.config.max_image_seq_len,
                             sched.config.base_shift,
                             sched.config.max_shift)
        sched.set_timesteps(sigmas=sigmas, mu=mu)
    else:
        sched.set_timesteps(steps, mu=mu)
    ts = sched.timesteps.numpy().copy()
    n_traj = min(len(ts), max_traj)
    rng = np.random.default_rng(seed)
    model_out = rng.standard_normal((n_traj,) + SHAPE).astype(np.float32)
    sample0 = rng.standard_normal(SHAPE).astype(np.float32)
    x = torch.from_numpy(sample0.copy())
    outs, scaled = [], []
    for i in range(n_traj):
        scaled.append(x.numpy().copy())
        x = sched.step(torch.from_numpy(model_out[i].copy()),
                       sched.timesteps[i], x).prev_sample
        outs.append(x.numpy().copy())
    return dict(timesteps=ts, sigmas=sched.sigmas.numpy().copy(),
                init_sigma=1.0, model_out=model_out, sample0=sample0,
                outs=np.stack(outs), scaled=np.stack(scaled))


def run_tool(tool, workdir, cls_name, cfg, steps, ref, label=""):
    cfg_path = os.path.join(workdir, "scheduler_config.json")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    mo, x0 = os.path.join(workdir, "mo.npy"), os.path.join(workdir, "x.npy")
    out, scaled = (os.path.join(workdir, "prev.npy"),
                   os.path.join(workdir, "scaled.npy"))
    np.save(mo, ref["model_out"])
    np.save(x0, ref["sample0"])
    cmd = [tool, "--class", cls_name, "--config", cfg_path, "--steps",
           str(steps), "--model-output", "@" + mo, "--sample", "@" + x0,
           "--step-index", str(len(ref["model_out"]) - 1), "--out",
           "@" + out, "--scaled-out", "@" + scaled,
           "--noise-seed", str(ref.get("noise_seed", 0))]
    if cls_name == "FlowMatchEulerDiscreteScheduler":
        mu, seq = flow_call(label)
        if seq is not None:
            cmd += ["--flux-image-seq-len", str(seq)]
        elif mu is not None:
            cmd += ["--mu", repr(mu)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        return dict(error=p.stderr.strip() or f"exit {p.returncode}")
    lines = p.stdout.split("\n")
    init_sigma = float(lines[0].split(":")[1])
    count = int(lines[1].split(":")[1])
    ts = np.array([float(v) for v in lines[2:2 + count]])
    got = dict(timesteps=ts, init_sigma=init_sigma, outs=np.load(out),
               scaled=np.load(scaled))
    rest = lines[2 + count:]
    if rest and rest[0].startswith("sigmas:"):
        n = int(rest[0].split(":")[1])
        got["sigmas"] = np.array([float(v) for v in rest[1:1 + n]])
    return got


def rel_err(got, want):
    """Per-row max |got - want| / max |want| (rows are steps); the worst."""
    worst = 0.0
    for g, w in zip(got, want):
        scale = float(np.max(np.abs(w)))
        diff = float(np.max(np.abs(g.astype(np.float64) - w)))
        if not np.isfinite(diff):
            same = np.array_equal(np.isnan(g), np.isnan(w)) and \
                np.array_equal(g[~np.isnan(g)], w[~np.isnan(w)])
            diff = 0.0 if same else float("inf")
        worst = max(worst, diff / scale if scale > 0 else diff)
    return worst


def bit_identical(cls_name, cfg):
    """Whether Fresco replays every operation of this class and config, so
    that its trajectory must equal diffusers' bit for bit: all but UniPC
    from order 3, whose einsum (a GEMM) sums in an order not replayed."""
    return not (cls_name == "UniPCMultistepScheduler"
                and cfg.get("solver_order", 2) >= 3)


def compare(cls_name, ref, got, rtol, max_ulps, bit_exact=False):
    """Returns (problems, worst trajectory error, worst timestep ulps).
    bit_exact: the trajectory must be bit-identical (rtol 0) unless the
    float timesteps already differ (numpy's SIMD log on another CPU)."""
    problems = []
    if "diffusers_error" in ref:
        if "error" not in got:
            problems.append("diffusers fails (" + ref["diffusers_error"]
                            + ") but Fresco ran it")
        return problems, 0.0, 0
    if "error" in got:
        return [f"tool failed: {got['error']}"], float("inf"), 0
    ts_ref, ts_got = ref["timesteps"], got["timesteps"]
    ulps = 0
    if len(ts_ref) != len(ts_got):
        problems.append(f"{len(ts_got)} timesteps, diffusers has "
                        f"{len(ts_ref)}")
    else:
        if cls_name in FLOAT_TIMESTEPS:
            # Float timesteps: compare as float32 bit patterns (ulps).
            a = ts_ref.astype(np.float32).view(np.int32).astype(np.int64)
            b = ts_got.astype(np.float32).view(np.int32).astype(np.int64)
            ulps = int(np.max(np.abs(a - b))) if len(a) else 0
            # Flow matching and Euler ancestral (no Karras, no continuous
            # timesteps) need no SIMD log: exact.
            exact = ulps <= (max_ulps if cls_name in SIMD_LOG_TIMESTEPS
                             else 0)
        else:
            exact = np.array_equal(ts_ref.astype(np.float64), ts_got)
        if not exact:
            bad = np.nonzero(ts_ref.astype(np.float64) != ts_got)[0][:3]
            problems.append("timesteps differ at " + ", ".join(
                f"[{i}] {ts_got[i]!r} vs {ts_ref[i]!r}" for i in bad))
    if "sigmas" in ref:
        # Bit patterns of the float32 sigmas, the final 0 included.
        want = ref["sigmas"].astype(np.float32)
        have = got.get("sigmas", np.array([])).astype(np.float32)
        if want.shape != have.shape or not np.array_equal(
                want.view(np.int32), have.view(np.int32)):
            problems.append(f"sigmas differ: {have[:4]!r}... vs "
                            f"{want[:4]!r}...")
    if not np.isclose(got["init_sigma"], ref["init_sigma"], rtol=1e-6,
                      atol=0):
        problems.append(f"init_noise_sigma {got['init_sigma']!r} vs "
                        f"{ref['init_sigma']!r}")
    err = 0.0
    if got["outs"].shape != ref["outs"].shape:
        problems.append(f"trajectory shape {got['outs'].shape} vs "
                        f"{ref['outs'].shape}")
        err = float("inf")
    else:
        err = max(rel_err(got["outs"], ref["outs"]),
                  rel_err(got["scaled"], ref["scaled"]))
        if bit_exact and ulps == 0:
            rtol = 0.0  # bit-identical trajectories, not just close
        if not err <= rtol:
            problems.append(f"trajectory relative error {err:.3g} > {rtol}")
    return problems, err, ulps


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tool", required=True,
                    help="path to fresco-scheduler-check")
    ap.add_argument("--rtol", type=float, default=1e-5,
                    help="trajectory tolerance, relative to each step's "
                         "largest magnitude")
    ap.add_argument("--max-trajectory", type=int, default=50,
                    help="steps of each schedule run as a trajectory")
    ap.add_argument("--timestep-ulps", type=int, default=4,
                    help="float32 ulps Euler's float timesteps may differ by "
                         "(numpy's SIMD log varies across CPUs and builds)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--class", dest="only", choices=sorted(CLASSES))
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()

    start = time.time()
    runs = []
    seed = 0
    for cls_name, gen in CASES.items():
        if args.only and cls_name != args.only:
            continue
        for label, cfg, steps_list in gen():
            for steps in steps_list:
                seed += 1
                try:
                    if cls_name == "FlowMatchEulerDiscreteScheduler":
                        ref = reference_flow(dict(cfg), steps, label,
                                             args.max_trajectory, seed)
                    else:
                        ref = reference(CLASSES[cls_name], dict(cfg), steps,
                                        args.max_trajectory, seed)
                except (IndexError, ValueError, AssertionError,
                        UnboundLocalError, RuntimeError) as e:
                    # Schedules diffusers cannot run (e.g. a repeated first
                    # timestep): Fresco must refuse them too.
                    # A model output per step, so that a refusal at a late
                    # step (a third-order SDE update) is reached.
                    ref = dict(diffusers_error=f"{type(e).__name__}: {e}",
                               model_out=np.zeros((steps,) + SHAPE,
                                                  np.float32),
                               sample0=np.zeros(SHAPE, np.float32))
                runs.append((cls_name, label, cfg, steps, ref))
    ref_time = time.time() - start

    tmp = tempfile.TemporaryDirectory(prefix="scheduler-parity-")

    def work(item):
        idx, (cls_name, label, cfg, steps, ref) = item
        wd = os.path.join(tmp.name, str(idx))
        os.makedirs(wd)
        return run_tool(args.tool, wd, cls_name, cfg, steps, ref, label)

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(work, enumerate(runs)))

    failures = 0
    worst = {c: (0.0, "") for c in CLASSES}
    worst_ulps = {c: 0 for c in CLASSES}
    counts = {c: [0, 0] for c in CLASSES}  # configs, runs
    seen = set()
    for (cls_name, label, cfg, steps, ref), got in zip(runs, results):
        problems, err, ulps = compare(cls_name, ref, got, args.rtol,
                                      args.timestep_ulps,
                                      bit_identical(cls_name, cfg))
        counts[cls_name][1] += 1
        if (cls_name, label) not in seen:
            seen.add((cls_name, label))
            counts[cls_name][0] += 1
        if err > worst[cls_name][0]:
            worst[cls_name] = (err, f"{label} steps={steps}")
        worst_ulps[cls_name] = max(worst_ulps[cls_name], ulps)
        if problems:
            failures += 1
            print(f"FAIL {cls_name} [{label}] steps={steps}: "
                  + "; ".join(problems))
        elif args.verbose:
            print(f"ok   {cls_name} [{label}] steps={steps}: "
                  + (f"both refuse: {got.get('error')}"
                     if "diffusers_error" in ref else
                     f"{len(ref['timesteps'])} timesteps, err {err:.2e}"))

    # Configs diffusers runs but Fresco refuses: the error must name the key.
    for cls_name, cfg, key in REFUSED:
        if args.only and cls_name != args.only:
            continue
        path = os.path.join(tmp.name, "refused.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        p = subprocess.run([args.tool, "--class", cls_name, "--config", path,
                            "--steps", "10"], capture_output=True, text=True)
        if p.returncode != 1 or f"'{key}'" not in p.stderr:
            failures += 1
            print(f"FAIL {cls_name} {cfg}: expected an error naming '{key}',"
                  f" got exit {p.returncode}: {p.stderr.strip()}")

    for cls_name in CLASSES:
        if counts[cls_name][1] == 0:
            continue
        err, where = worst[cls_name]
        extra = (f", timesteps within {worst_ulps[cls_name]} float32 ulp"
                 if cls_name in FLOAT_TIMESTEPS else "")
        worst_text = (f"{err:.3g} ({where})" if err > 0 else
                      "0 (bit-identical in every run)")
        print(f"{cls_name}: {counts[cls_name][0]} configs, "
              f"{counts[cls_name][1]} runs, worst relative error "
              f"{worst_text}{extra}")
    print(f"{len(runs)} runs in {time.time() - start:.1f}s "
          f"(diffusers {ref_time:.1f}s); "
          + ("all match" if failures == 0 else f"{failures} FAILED"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
