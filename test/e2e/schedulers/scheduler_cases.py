"""The scheduler configs scheduler_parity.py runs, per class: published
configs (FLUX.1, DiT-XL-2-256, Stable Diffusion 1.x), the keys each class
reads, and the step counts of each. A generator yields (label, config, step
counts); a config diffusers runs but Fresco refuses goes in REFUSED there.
"""

import numpy as np

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
    # eta > 0 (the pipelines' eta): fresh noise every step, Fresco's.
    for eta in (0.3, 1.0):
        yield f"sd-style/eta={eta}", SD_STYLE, [1, 4, 10]
    yield "v/trailing/eta=0.5", dict(prediction_type="v_prediction",
                                     timestep_spacing="trailing"), [4, 61]


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


def kdpm2_ancestral_cases():
    """DPM2 a: as DPM2 to sigma_down, then fresh noise times sigma_up on
    every correction call (Fresco's step noise at that call's index)."""
    yield "scaled_linear/epsilon/leading", dict(
        schedule_keys("scaled_linear"), timestep_spacing="leading",
        steps_offset=1), [2, 10]
    yield "linear/v/trailing", dict(prediction_type="v_prediction",
                                    timestep_spacing="trailing"), [1, 4]
    yield "karras/v", dict(schedule_keys("scaled_linear"),
                           use_karras_sigmas=True,
                           prediction_type="v_prediction"), [4, 10]
    yield "SD-1.x (from_config)", SD1_PNDM, [4, 25]


TCD_STEPS = [1, 2, 4, 8]


def tcd_cases():
    """TCD as TCD-LoRA runs: LCM's schedule from SD 1.5's / SDXL-style
    configs or defaults, gamma (the pipelines' eta: 0 unless given, then
    Fresco's step noise), prediction types, original_inference_steps."""
    yield "defaults", {}, TCD_STEPS
    yield "SD-1.x (from_config)", SD1_PNDM, TCD_STEPS
    for eta in (0.3, 0.5, 1.0):
        yield f"eta={eta}", {}, TCD_STEPS
    yield "SD-1.x/eta=0.3", SD1_PNDM, [4, 8]
    for pred in PREDICTIONS:
        yield f"{pred}/eta=0.3", dict(prediction_type=pred), [2, 4, 8]
    for orig in (1, 25, 100):
        yield f"original{orig}/eta=0.3", dict(original_inference_steps=orig), \
            [1, 3, 7]
    yield "zero-snr/v/eta=0.7", dict(rescale_betas_zero_snr=True,
                                     prediction_type="v_prediction"), [4, 8]
    yield "linear/train500/eta=0.3", dict(
        beta_schedule="linear", num_train_timesteps=500,
        original_inference_steps=30), [3, 30, 31]
    # (1 - eta) * t_prev here rounds differently in float32 (torch's) than
    # in float64: floor tells them apart.
    yield "linear/train500/eta=0.8", dict(
        beta_schedule="linear", num_train_timesteps=500,
        original_inference_steps=30), [30]


DDPM_STEPS = [1, 2, 4, 10, 25]


def ddpm_cases():
    """Ancestral DDPM: its variance types, prediction types, spacings
    (trailing with n + 1 timesteps, the last -1), clipping, every beta
    schedule with its own sigmoid; fresh noise (Fresco's step noise) on
    every timestep above 0."""
    yield "defaults", {}, DDPM_STEPS
    yield "sd-style", SD_STYLE, DDPM_STEPS
    for variance in ("fixed_small", "fixed_small_log", "fixed_large"):
        for pred in PREDICTIONS:
            yield f"{variance}/{pred}", dict(
                variance_type=variance, prediction_type=pred), [3, 10]
    yield "sigmoid", dict(beta_schedule="sigmoid"), [4, 10, 50]
    yield "sigmoid/train333", dict(beta_schedule="sigmoid",
                                   num_train_timesteps=333), [4, 17]
    # Large betas, where torch.sigmoid's SLEEF exp (and the scalar tail's
    # glibc one) show through 1 - beta.
    yield "sigmoid/0.05-0.6/train100", dict(
        beta_schedule="sigmoid", beta_start=0.05, beta_end=0.6,
        num_train_timesteps=100), [4, 10, 100]
    yield "scaled_linear/offset1", dict(schedule_keys("scaled_linear"),
                                        steps_offset=1), [4, 10]
    yield "linspace", dict(timestep_spacing="linspace"), [4, 10]
    yield "trailing/n+1", dict(timestep_spacing="trailing"), [61]
    yield "zero-snr/trailing/v", dict(
        rescale_betas_zero_snr=True, timestep_spacing="trailing",
        prediction_type="v_prediction"), [4, 10]
    yield "cosine/clip0.5", dict(beta_schedule="squaredcos_cap_v2",
                                 clip_sample_range=0.5), [4, 10]
    yield "no-clip", dict(clip_sample=False), [4, 10]
    # diffusers fails in step (its learned variance is None here).
    yield "learned", dict(variance_type="learned"), [4]


# An EDMDPMSolverMultistepScheduler config as playgroundai/playground-v2.5-
# 1024px-aesthetic's folder ships one (DPM++ 2M, sigmas 0.002-80, sigma_data
# 0.5, rho 7, final sigma 0), written from memory, not copied: every key the
# class reads, at the values that folder is known to use.
PLAYGROUND_V25 = {
    "_class_name": "EDMDPMSolverMultistepScheduler",
    "algorithm_type": "dpmsolver++",
    "dynamic_thresholding_ratio": 0.995,
    "euler_at_final": False,
    "final_sigmas_type": "zero",
    "lower_order_final": True,
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "rho": 7.0,
    "sample_max_value": 1.0,
    "sigma_data": 0.5,
    "sigma_max": 80.0,
    "sigma_min": 0.002,
    "solver_order": 2,
    "solver_type": "midpoint",
    "thresholding": False,
}

# Step counts that put the Karras power on SLEEF's lanes, its scalar tail,
# or both (16 values per vector pair).
EDM_STEPS = [1, 2, 4, 10, 16, 17, 25, 33, 50]


def edm_euler_cases():
    """The EDM grid (Karras' rho ramp at several rho, whose powers take
    different torch kernels; the exponential grid), both predictions,
    sigma_data."""
    yield "defaults", {}, EDM_STEPS
    yield "exponential", dict(sigma_schedule="exponential"), EDM_STEPS
    yield "v", dict(prediction_type="v_prediction"), [4, 25]
    yield "exponential/v/data1", dict(
        sigma_schedule="exponential", prediction_type="v_prediction",
        sigma_data=1.0, sigma_min=0.001, sigma_max=120.0), [4, 17, 40]
    for rho in (1.0, 2.0, 3.0, 4.5, 7.3):
        yield f"rho{rho}", dict(rho=rho), [3, 17, 34]
    # rho 0.5 from sigma_min 0.002 cancels to a last sigma of 0 in float32
    # (diffusers then divides by it; Fresco refuses, unit-tested); from 0.5
    # it runs.
    yield "rho0.5/sigma_min0.5", dict(rho=0.5, sigma_min=0.5), [3, 17, 34]
    yield "sigma0.6-20/data0.6", dict(sigma_min=0.6, sigma_max=20.0,
                                      sigma_data=0.6), [5, 20]
    # diffusers raises ValueError (in __init__, in step), TypeError (None **).
    yield "schedule-linear", dict(sigma_schedule="linear"), [4]
    yield "sigma_min-null", dict(sigma_min=None), [4]
    yield "sample", dict(prediction_type="sample"), [4]


def edm_dpm_cases():
    """Playground v2.5's config, the solver orders and updates, the SDE
    variant (Fresco's step noise), the final-step keys, v prediction and the
    exponential grid."""
    yield "Playground-v2.5 (from_config)", PLAYGROUND_V25, EDM_STEPS
    for order in (1, 2, 3):
        for solver in ("midpoint", "heun"):
            yield f"order{order}/{solver}", dict(
                solver_order=order, solver_type=solver), [1, 3, 10, 17, 25]
    yield "sde/order1", dict(algorithm_type="sde-dpmsolver++",
                             solver_order=1), [4, 20]
    yield "sde/order2/heun", dict(algorithm_type="sde-dpmsolver++",
                                  solver_type="heun"), [4, 20]
    # diffusers fails at the first third-order SDE step (x_t unbound).
    yield "sde/order3", dict(algorithm_type="sde-dpmsolver++",
                             solver_order=3), [10]
    # diffusers raises: NotImplementedError, ValueError in step, ValueError.
    yield "dpmsolver", dict(algorithm_type="dpmsolver",
                            final_sigmas_type="sigma_min"), [4]
    yield "sample", dict(prediction_type="sample"), [4]
    yield "deis/zero-final", dict(algorithm_type="deis"), [4]
    yield "sigma_min-final", dict(final_sigmas_type="sigma_min"), [4, 20]
    yield "euler_at_final/no-lower-final", dict(
        euler_at_final=True, lower_order_final=False,
        final_sigmas_type="sigma_min"), [4, 20]
    yield "order3/no-lower-final", dict(
        solver_order=3, lower_order_final=False,
        final_sigmas_type="sigma_min"), [10, 20]
    yield "deis/bh2", dict(algorithm_type="deis", solver_type="bh2",
                           final_sigmas_type="sigma_min"), [4, 10]
    yield "v/exponential", dict(prediction_type="v_prediction",
                                sigma_schedule="exponential"), [4, 25]
    yield "rho3/data0.75", dict(rho=3.0, sigma_data=0.75), [7, 33]


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
    "DDPMScheduler": ddpm_cases,
    "TCDScheduler": tcd_cases,
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
    "KDPM2AncestralDiscreteScheduler": kdpm2_ancestral_cases,
    "EDMEulerScheduler": edm_euler_cases,
    "EDMDPMSolverMultistepScheduler": edm_dpm_cases,
}
