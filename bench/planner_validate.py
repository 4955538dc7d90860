#!/usr/bin/env python3
"""Predicted against measured denoiser step times on CPU ranks.

For each layout of a small DiT pipeline: compile it, predict one call of
the transformer with fresco-inspect --predict (the cpu-loopback topology
and a calibration table), then run the transformer --repeat times on real
rank processes (Gloo over loopback) and take, per run, the slowest rank's
time; the median over the runs after the first is one measurement. The
layouts are measured in turn, --rounds times over (so that a change in the
machine's load falls on all of them), and the median over the rounds is
the measured step. Prints the table, Spearman's rank correlation and the
mean relative error.

  bench/planner_validate.py --bin build/bin --work /tmp/pv \
      --calibration share/calibrations/cpu-dit-small.json
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys

LAYOUTS = [  # ranks, --parallel
    (1, ""), (2, "cfg=2"), (2, "tp=2"), (2, "ulysses=2"), (2, "ring=2"),
    (2, "pipeline=2"), (4, "cfg=2,tp=2"), (4, "tp=4"), (4, "ulysses=2,ring=2"),
    (4, "cfg=2,ulysses=2"), (4, "pipeline=4"), (4, "cfg=2,pipeline=2"),
]


def run(cmd, retry=False):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        print(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-2000:]}",
              file=sys.stderr, flush=True)
        if retry:
            return run(cmd)
        raise SystemExit(1)
    return p


def ranks_of(values):
    order = sorted(range(len(values)), key=lambda i: values[i])
    r = [0.0] * len(values)
    i = 0
    while i < len(order):  # average ranks over ties
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2.0
        i = j + 1
    return r


def spearman(a, b):
    ra, rb = ranks_of(a), ranks_of(b)
    ma, mb = statistics.mean(ra), statistics.mean(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    va = sum((x - ma) ** 2 for x in ra) ** 0.5
    vb = sum((y - mb) ** 2 for y in rb) ** 0.5
    return cov / (va * vb)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--pipeline", default="models/dit/pipelines/dit-small-8heads")
    ap.add_argument("--calibration", required=True,
                    help="the table to predict with; with --fresh, written "
                    "here first by fresco-run --calibrate on the 1-rank plan")
    ap.add_argument("--threads", type=int, default=0,
                    help="OMP_NUM_THREADS for every run (and threads_per_rank "
                    "in a copy of the topology); 0: the launcher's default")
    ap.add_argument("--fresh", action="store_true",
                    help="calibrate now, under the machine's present load")
    ap.add_argument("--topology", default="cpu-loopback")
    ap.add_argument("--repeat", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", help="write the table here too")
    a = ap.parse_args()
    import numpy as np
    os.makedirs(a.work, exist_ok=True)
    b = a.bin
    pipe = os.path.join(a.work, "pipe")
    if not os.path.isdir(pipe):
        run([f"{b}/fresco-random-checkpoint", a.pipeline, "-o", pipe])
    if a.threads:
        # Every rank (and the calibration) with the same thread count: two
        # OpenMP threads spinning on two busy cores stall far more than one.
        os.environ["OMP_NUM_THREADS"] = str(a.threads)
        src = a.topology if a.topology.endswith(".json") else os.path.join(
            os.path.dirname(__file__), "..", "share", "topologies",
            a.topology + ".json")
        topo = json.load(open(src))
        topo["threads_per_rank"] = a.threads
        a.topology = os.path.join(a.work, "topology.json")
        json.dump(topo, open(a.topology, "w"))
    if a.fresh:
        one = os.path.join(a.work, "calibrate.fplan")
        run([f"{b}/fresco-compile", pipe, "-o", one, "--batch", "2",
             "--quiet"])
        run([f"{b}/fresco-run", one, "--weights", pipe, "--calibrate",
             a.calibration, "--repeat", "15", "--quiet"])
    rows = []
    for n, par in LAYOUTS:
        name = par.replace(",", "_").replace("=", "") or "one"
        plan = os.path.join(a.work, name + ".fplan")
        cmd = [f"{b}/fresco-compile", pipe, "-o", plan, "--batch", "2",
               "--ranks", str(n), "--quiet"]
        if par:
            cmd += ["--parallel", par]
        run(cmd)
        pred = json.loads(run([f"{b}/fresco-inspect", plan, "--predict",
                               "--topology", a.topology, "--calibration",
                               a.calibration, "--json"]).stdout)
        sig = run([f"{b}/fresco-run", plan, "--list"]).stdout
        m = re.search(r"transformer\(latents: f32\[([0-9, ]+)\], timestep: "
                      r"f32\[([0-9]+)\]", sig)
        shape = [int(x) for x in m.group(1).split(",")]
        lat, t, y = (os.path.join(a.work, f"{name}-{k}.npy")
                     for k in ("x", "t", "y"))
        np.save(lat, np.random.RandomState(0).randn(*shape).astype(np.float32))
        np.save(t, np.full(shape[0], 500, np.float32))
        np.save(y, np.zeros(shape[0], np.int64))
        rows.append({"layout": par or "1 rank", "ranks": n, "plan": plan,
                     "inputs": [lat, t, y], "predicted": pred["step_seconds"],
                     "rounds": []})
    for k in range(a.rounds):
        for r in rows:
            log = run([f"{b}/fresco-run", r["plan"], "--weights", pipe,
                       "--function", "transformer"] +
                      sum((["--input", "@" + f] for f in r["inputs"]), []) +
                      ["--output", "@" + r["plan"] + ".out.npy", "--repeat",
                       str(a.repeat), "--stats", "--timeout", "120"],
                      retry=True).stderr
            per_rank = [list(map(float, x.split()))
                        for x in re.findall(r"run ([0-9. ]+) s, arena", log)]
            runs = [max(col) for col in zip(*per_rank)][1:]
            r["rounds"].append(statistics.median(runs))
        print(f"round {k + 1} of {a.rounds} done, load average "
              f"{os.getloadavg()[0]:.1f}", flush=True)
    for r in rows:
        r["measured"] = statistics.median(r["rounds"])
        print(f"{r['layout']:>20} {r['ranks']} ranks: predicted "
              f"{r['predicted']*1e3:8.2f} ms, measured {r['measured']*1e3:8.2f}"
              f" ms (rounds " + ", ".join(f"{x*1e3:.1f}" for x in r["rounds"])
              + ")")
        del r["plan"], r["inputs"]
    p = [r["predicted"] for r in rows]
    m = [r["measured"] for r in rows]
    rho = spearman(p, m)
    err = statistics.mean(abs(x - y) / y for x, y in zip(p, m))
    print(f"Spearman rank correlation {rho:.3f}; mean relative error "
          f"{err*100:.1f}% over {len(rows)} layouts")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rows": rows, "spearman": rho, "mean_rel_error": err},
                      f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
