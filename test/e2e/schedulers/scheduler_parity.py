#!/usr/bin/env python3
"""Scheduler parity: Fresco's schedulers against the real diffusers classes.

For every scheduler class Fresco implements, runs many scheduler configs
(scheduler_cases.py: beta schedules, prediction types, timestep spacings,
steps_offset, set_alpha_to_one, clipping, Karras sigmas, solver orders,
final-step options, published configs such as facebook/DiT-XL-2-256's) at
several step counts. Each run compares, against diffusers on CPU:

  * the timesteps: exactly for DDIM / DPM-Solver (integers), within
    --timestep-ulps float32 ulps for Euler (fractional; 0 seen where numpy's
    float32 log is its AVX2/AVX512F kernel, which Fresco replays);
  * init_noise_sigma;
  * a whole trajectory: the same initial sample and per-step model outputs
    go through scale_model_input + step for every step of the schedule (up
    to --max-trajectory steps), and every intermediate sample must be
    bit-identical (UniPC from order 3: within --rtol of that step's largest
    magnitude; any class whose float timesteps already differ: likewise).
    For the stochastic steps (Euler ancestral, LCM, the SDE DPM-Solvers),
    diffusers' randn_tensor is replaced by Fresco's step noise
    (fresco_noise.py, from Noise.h) for the run's seed, which the tool gets
    as --noise-seed.

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
from scheduler_cases import (CASES, SHAPE, calculate_shift,  # noqa: E402
                             flow_call)

warnings.filterwarnings("ignore")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")

import torch  # noqa: E402
import diffusers  # noqa: E402
from diffusers import (  # noqa: E402
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    DPMSolverSinglestepScheduler,
    EDMDPMSolverMultistepScheduler,
    EDMEulerScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    FlowMatchEulerDiscreteScheduler,
    HeunDiscreteScheduler,
    KDPM2AncestralDiscreteScheduler,
    KDPM2DiscreteScheduler,
    LCMScheduler,
    LMSDiscreteScheduler,
    PNDMScheduler,
    TCDScheduler,
    UniPCMultistepScheduler,
)

diffusers.utils.logging.set_verbosity_error()
torch.set_num_threads(1)

CLASSES = {
    "DDIMScheduler": DDIMScheduler,
    "DDPMScheduler": DDPMScheduler,
    "TCDScheduler": TCDScheduler,
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
    "KDPM2AncestralDiscreteScheduler": KDPM2AncestralDiscreteScheduler,
    "EDMEulerScheduler": EDMEulerScheduler,
    "EDMDPMSolverMultistepScheduler": EDMDPMSolverMultistepScheduler,
}

# Classes whose timesteps are floats, compared as float32 bit patterns; those
# whose Karras timesteps take numpy's SIMD float32 log may differ by
# --timestep-ulps.
FLOAT_TIMESTEPS = ("EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler",
                   "FlowMatchEulerDiscreteScheduler", "HeunDiscreteScheduler",
                   "LMSDiscreteScheduler", "KDPM2DiscreteScheduler",
                   "KDPM2AncestralDiscreteScheduler", "EDMEulerScheduler",
                   "EDMDPMSolverMultistepScheduler")
SIMD_LOG_TIMESTEPS = ("EulerDiscreteScheduler", "HeunDiscreteScheduler",
                      "LMSDiscreteScheduler", "KDPM2DiscreteScheduler",
                      "KDPM2AncestralDiscreteScheduler")

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
    ("EDMDPMSolverMultistepScheduler", {"thresholding": True},
     "thresholding"),
    ("DDPMScheduler", {"thresholding": True}, "thresholding"),
    # diffusers' step takes the square root of a negative log: NaN latents.
    ("DDPMScheduler", {"variance_type": "fixed_large_log"}, "variance_type"),
    ("LCMScheduler", {"thresholding": True}, "thresholding"),
    # diffusers raises NotImplementedError in step.
    ("KDPM2DiscreteScheduler", {"prediction_type": "sample"},
     "prediction_type"),
    ("KDPM2AncestralDiscreteScheduler", {"prediction_type": "sample"},
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


class HarnessError(Exception):
    """A fault of this test, never taken for diffusers refusing a config."""


def label_eta(label):
    """The eta a label asks for ("eta=0.3"), else None: the pipelines'
    default 0 for the classes that take it."""
    for part in label.split("/"):
        if part.startswith("eta="):
            return float(part[4:])
    return None


def reference(cls, cfg, steps, max_traj, seed, eta=None):
    """diffusers' schedule and trajectory for one config and step count; eta
    as the Stable Diffusion pipelines pass it to DDIM's and TCD's step (0
    unless given; TCD's own default, 0.3, is not what they pass)."""
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
    current = [0]  # DDPM and DDIM have no step_index: the loop's index
    step_of = (lambda: current[0]) if not hasattr(sched, "step_index") \
        else (lambda: sched.step_index)
    with patch_ancestral_noise(seed, step_of=step_of) as noise_calls:
        for i in range(n_traj):
            current[0] = i
            t = sched.timesteps[i]
            scaled.append(sched.scale_model_input(x, t).numpy().copy())
            kw = dict(eta=eta or 0.0) if cls in (DDIMScheduler,
                                                 TCDScheduler) else {}
            x = sched.step(torch.from_numpy(model_out[i].copy()), t,
                           x, **kw).prev_sample
            outs.append(x.numpy().copy())
    expected = None  # the draws diffusers' step made with Fresco's noise
    if cls is EulerAncestralDiscreteScheduler:
        expected = n_traj
    if cls in (DPMSolverMultistepScheduler, DPMSolverSinglestepScheduler,
               EDMDPMSolverMultistepScheduler) \
            and "sde" in cfg.get("algorithm_type", ""):
        expected = n_traj
    if cls is KDPM2AncestralDiscreteScheduler:  # on correction calls only
        expected = n_traj // 2
    if cls is LCMScheduler:  # no noise after the last step
        expected = min(n_traj, len(ts) - 1)
    if cls is DDPMScheduler:  # on every timestep above 0
        expected = int(np.sum(ts[:n_traj] > 0))
    if cls is DDIMScheduler and eta:
        expected = n_traj
    if cls is TCDScheduler and eta:  # no noise after the last step
        expected = min(n_traj, len(ts) - 1)
    if expected is not None and len(noise_calls) != expected:
        # Not an AssertionError: main() takes those for diffusers' own.
        raise HarnessError(f"the noise patch was bypassed: {len(noise_calls)} "
                           f"draws, {expected} expected")
    ref = dict(timesteps=ts, init_sigma=init_sigma, model_out=model_out,
               sample0=sample0, outs=np.stack(outs), scaled=np.stack(scaled),
               noise_seed=seed)
    if cls in (EDMEulerScheduler, EDMDPMSolverMultistepScheduler):
        ref["sigmas"] = sched.sigmas.numpy().copy()  # torch float32 grid
    return ref


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
    if label_eta(label) is not None:
        cmd += ["--eta", repr(label_eta(label))]
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
                                        args.max_trajectory, seed,
                                        label_eta(label))
                except (IndexError, ValueError, AssertionError,
                        UnboundLocalError, RuntimeError, TypeError) as e:
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
