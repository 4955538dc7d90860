#!/usr/bin/env python3
"""Time the diffusers DiT forward on CPU PyTorch: the baseline for Fresco's CPU backend.

Builds the model from a diffusers config.json with diffusers' own random init (timing does not
depend on the values), runs warmup forwards then --runs timed ones under torch.no_grad(), and
prints one JSON line: impl, config, batch, threads, median_s, runs, versions, the OpenMP wait
policy, and blas (torch's build setting, the BLAS libraries mapped into the process after a
matmul, and OpenBLAS's thread count).

Debian's torch calls whatever libblas.so.3 the alternatives system selects (OpenBLAS-pthread
here), whose thread pool is separate from torch's OpenMP one. Both get --threads, and OpenMP
threads wait passively unless OMP_WAIT_POLICY says otherwise: spinning OpenMP threads fight
OpenBLAS's threads for the cores, which made this 2-4x slower and erratic on 2 cores.
"""
import argparse
import ctypes
import json
import os
import re
import statistics
import time

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models", "dit",
                              "configs", "dit-s-2-256.json")


def blas_info(torch) -> dict:
    built = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    torch.ones(64, 64) @ torch.ones(64, 64)  # make sure the BLAS library is loaded
    with open("/proc/self/maps") as f:
        loaded = sorted({line.split()[-1] for line in f if "blas" in line.rsplit("/", 1)[-1].lower()})
    threads = None
    for path in loaded:
        lib = ctypes.CDLL(path)
        if hasattr(lib, "openblas_get_num_threads"):
            threads = lib.openblas_get_num_threads()
    return {"built_with": built.group(1) if built else "unknown", "loaded": loaded,
            "openblas_threads": threads}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=os.path.normpath(DEFAULT_CONFIG),
                    help="diffusers config.json (default models/dit/configs/dit-s-2-256.json)")
    ap.add_argument("--batch", type=int, default=2, help="batch size (default 2)")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                    help="torch and OpenBLAS threads (default: all usable cores)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed forwards first (default 1)")
    ap.add_argument("--runs", type=int, default=5, help="timed forwards (default 5)")
    ap.add_argument("--seed", type=int, default=0, help="seed for weights and inputs (default 0)")
    args = ap.parse_args()

    # Read when torch and its BLAS load, so set before the import.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    import diffusers
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    with open(args.config) as f:
        config = json.load(f)
    model = getattr(diffusers, config["_class_name"]).from_config(config).eval()
    size = config["sample_size"]
    latents = torch.randn(args.batch, config["in_channels"], size, size)
    timestep = torch.randint(0, 1000, (args.batch,))
    class_labels = torch.randint(0, config["num_embeds_ada_norm"], (args.batch,))

    runs = []
    with torch.no_grad():
        for i in range(args.warmup + args.runs):
            start = time.perf_counter()
            model(latents, timestep=timestep, class_labels=class_labels)
            if i >= args.warmup:
                runs.append(time.perf_counter() - start)

    print(json.dumps({
        "impl": "pytorch-diffusers",
        "config": os.path.basename(args.config),
        "batch": args.batch,
        "threads": torch.get_num_threads(),
        "median_s": round(statistics.median(runs), 6),
        "runs": [round(r, 6) for r in runs],
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "omp_wait_policy": os.environ["OMP_WAIT_POLICY"],
        "blas": blas_info(torch),
    }))


if __name__ == "__main__":
    main()
