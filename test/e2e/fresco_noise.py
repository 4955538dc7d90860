"""Fresco's noise streams in NumPy, for references that must draw what Fresco draws.

The code is the NumPy transcription in the header comment of runtime/pipeline/Noise.h, read from
that file (the block from "import numpy as np" to "Using 32-bit uniforms"), so that the tests use
exactly what the header documents; NoiseTest checks that block against the C++ generator.

  fresco_noise(seed, i, n)          image i's initial noise (gaussianNoise), float32 [n]
  fresco_step_noise(seed, i, s, n)  image i's noise at step s (stepNoise), float32 [n]
  patch_ancestral_noise(seed[, first_step])
                                    a context manager: diffusers' EulerAncestralDiscreteScheduler,
                                    LCMScheduler and the SDE DPMSolverMultistepScheduler draw
                                    Fresco's step noise instead of torch.randn
"""
import contextlib
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _numpy_block() -> str:
    lines, inside = [], False
    with open(os.path.join(REPO, "runtime", "pipeline", "Noise.h")) as f:
        for line in f:
            if line.startswith("//   import numpy as np"):
                inside = True
            elif inside and line.startswith("// Using 32-bit uniforms"):
                break
            if inside:
                lines.append(line[5:] if len(line) > 5 else "\n")
    if not lines:
        raise RuntimeError("no NumPy block in runtime/pipeline/Noise.h")
    return "".join(lines)


_ns: dict = {}
exec(compile(_numpy_block(), "Noise.h (NumPy block)", "exec"), _ns)
fresco_noise = _ns["fresco_noise"]
fresco_step_noise = _ns["fresco_step_noise"]


def schedule_index_of(scheduler):
    """A step_of for patch_ancestral_noise: the scheduler's step_index, or, for a class that has
    none (DDPMScheduler, whose steps read the timestep they get), the schedule index of the
    timestep its running step() was given (its step is wrapped to record it)."""
    if hasattr(scheduler, "step_index"):
        return lambda: scheduler.step_index
    import functools

    current = [None]
    step = scheduler.step

    # wraps keeps step's signature: the pipelines pass eta only to a step
    # whose signature takes it.
    @functools.wraps(step)
    def recording_step(model_output, timestep, *args, **kwargs):
        current[0] = int((scheduler.timesteps == timestep).nonzero()[0][0])
        return step(model_output, timestep, *args, **kwargs)
    scheduler.step = recording_step
    return lambda: current[0]


@contextlib.contextmanager
def patch_ancestral_noise(seed: int, first_step=0, step_of=None):
    """Within the block, the n-th call of randn_tensor in diffusers' stochastic scheduler modules
    (DDPM, DDIM and TCD with eta, Euler ancestral, LCM, KDPM2 ancestral, the DPM-Solvers' SDE
    variants, EDM's included) returns, for a
    [B, ...] shape, row i = fresco_step_noise(seed, i, s, prod(...)), in the dtype asked for,
    where s is the draw's schedule index: step_of() when given (the scheduler's step_index:
    KDPM2 ancestral draws on every second call only), else first_step + n. first_step: an int
    or a callable giving it at the first call (image-to-image starts at the scheduler's
    begin_index, and Fresco keys step noise by schedule index). Yields a list that receives one
    entry per call (the shape)."""
    import numpy as np
    import torch
    from diffusers.schedulers import (scheduling_ddim, scheduling_ddpm, scheduling_tcd,
                                      scheduling_dpmsolver_multistep,
                                      scheduling_dpmsolver_singlestep,
                                      scheduling_edm_dpmsolver_multistep,
                                      scheduling_euler_ancestral_discrete,
                                      scheduling_k_dpm_2_ancestral_discrete, scheduling_lcm)

    calls = []

    def randn_tensor(shape, generator=None, device=None, dtype=None, layout=None):
        shape = tuple(shape)
        per_image = int(np.prod(shape[1:]))
        if step_of is not None:
            step = int(step_of())
        else:
            first = first_step() if callable(first_step) else first_step
            step = int(first or 0) + len(calls)
        rows = [fresco_step_noise(seed, i, step, per_image) for i in range(shape[0])]
        calls.append(shape)
        return torch.from_numpy(np.stack(rows).reshape(shape)).to(dtype=dtype)

    modules = [scheduling_euler_ancestral_discrete, scheduling_lcm, scheduling_dpmsolver_multistep,
               scheduling_dpmsolver_singlestep, scheduling_k_dpm_2_ancestral_discrete,
               scheduling_edm_dpmsolver_multistep, scheduling_ddpm, scheduling_ddim,
               scheduling_tcd]
    originals = [module.randn_tensor for module in modules]
    for module in modules:
        module.randn_tensor = randn_tensor
    try:
        yield calls
    finally:
        for module, original in zip(modules, originals):
            module.randn_tensor = original
