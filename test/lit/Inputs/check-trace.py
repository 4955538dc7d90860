#!/usr/bin/env python3
"""Checks a fresco-run --profile-trace file against the plan and the table.

check-trace.py TRACE --inspect INSPECT.json --rank R --runs F=N[,F=N]
               [--table STDERR]

The trace must parse as Chrome trace event JSON; hold, for every function F,
runs 0..N-1, each with one "X" event per instruction of F on rank R (as
fresco-inspect --json counts them) carrying its instruction index, shape
and dtype, run 0 flagged as the warm-up; non-negative durations; steps in
time order on each lane, none overlapping the next, each inside its run's
event. With --table, fresco-run's --profile rows (this rank's lines of
STDERR) must match the trace: per op and shape, the calls and total time of
the runs after the first in the first section and of the first runs in the
warm-up section, sorted by total.
"""
import argparse
import decimal
import json
import re
import sys
from collections import defaultdict


def fail(msg):
    sys.exit("check-trace: " + msg)


def parse_runs(text):
    runs = {}
    for item in text.split(","):
        name, n = item.split("=")
        runs[name] = int(n)
    return runs


def table_sections(path, rank):
    """{'steady': {key: (calls, total_ms)}, 'warm': ...} and row orders."""
    prefix = "[rank %d] " % rank
    sections, orders, current = {}, {}, None
    row = re.compile(r"^\s+(\d+\.\d+)\s+(\d+\.\d+)%\s+(\d+)\s+(\d+\.\d+)\s+(.*)$")
    for line in open(path):
        line = line.rstrip("\n")
        if line.startswith("[rank "):
            if not line.startswith(prefix):
                continue
            line = line[len(prefix):]
        if line.startswith("fresco-run: profile over "):
            current = "steady"
        elif line.startswith("fresco-run: profile of the warm-up"):
            current = "warm"
        elif line.startswith("fresco-run: profile:"):
            current = None
        elif current:
            m = row.match(line)
            if m and " -> " in m.group(5):
                sections.setdefault(current, {})[m.group(5)] = (
                    int(m.group(3)), float(m.group(1)))
                orders.setdefault(current, []).append(float(m.group(1)))
    return sections, orders


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("--inspect", required=True)
    ap.add_argument("--rank", type=int, required=True)
    ap.add_argument("--runs", required=True)
    ap.add_argument("--table")
    a = ap.parse_args()

    # Decimal: the file's microseconds have three exact decimals.
    with open(a.trace) as f:
        doc = json.load(f, parse_float=decimal.Decimal)
    if not isinstance(doc, dict) or not isinstance(doc.get("traceEvents"), list):
        fail("no traceEvents list")
    with open(a.inspect) as f:
        inspect = json.load(f)
    rank_info = [r for r in inspect["ranks"] if r["rank"] == a.rank]
    if not rank_info:
        fail("rank %d is not in %s" % (a.rank, a.inspect))
    instructions = rank_info[0]["instructions"]
    want_runs = parse_runs(a.runs)

    steps = defaultdict(list)  # (function, run) -> events
    run_events = {}
    last_end = {}  # lane -> end of the previous step
    for e in doc["traceEvents"]:
        if e.get("ph") == "M":
            continue
        if e.get("ph") != "X":
            fail("unexpected event phase %r" % e.get("ph"))
        for field in ("name", "cat", "ts", "dur", "pid", "tid", "args"):
            if field not in e:
                fail("an X event without %r: %r" % (field, e))
        if e["pid"] != a.rank:
            fail("pid %r in rank %d's trace" % (e["pid"], a.rank))
        if e["dur"] < 0:
            fail("negative duration: %r" % e)
        args = e["args"]
        key = (args["function"], args["run"])
        if args["warm_up"] != (args["run"] == 0):
            fail("warm_up flag wrong: %r" % e)
        if e["cat"] == "run":
            if key in run_events:
                fail("two run events for %r" % (key,))
            run_events[key] = e
            continue
        for field in ("instr", "shape", "dtype"):
            if field not in args:
                fail("a step without args.%s: %r" % (field, e))
        if not re.match(r"^(\[[\d,]*\]( \[[\d,]*\])*|\(\)) -> "
                        r"(\[[\d,]*\]( \[[\d,]*\])*|\(\))$", args["shape"]):
            fail("shape %r" % args["shape"])
        lane = (e["pid"], e["tid"])
        if lane in last_end and e["ts"] < last_end[lane]:
            fail("step at ts %s starts before the previous one ends (%s)" %
                 (e["ts"], last_end[lane]))
        last_end[lane] = e["ts"] + e["dur"]
        steps[key].append(e)

    functions = defaultdict(set)
    for f, r in steps:
        functions[f].add(r)
    if set(functions) != set(want_runs):
        fail("functions %s, expected %s" % (sorted(functions), sorted(want_runs)))
    for f, n in want_runs.items():
        if functions[f] != set(range(n)):
            fail("%s: runs %s, expected 0..%d" % (f, sorted(functions[f]), n - 1))
        for r in range(n):
            got = sorted(e["args"]["instr"] for e in steps[(f, r)])
            if got != list(range(instructions[f])):
                fail("%s run %d: instructions %s, expected the plan's %d" %
                     (f, r, got, instructions[f]))
            run = run_events.get((f, r))
            if run is None:
                fail("%s run %d has no run event" % (f, r))
            for e in steps[(f, r)]:
                if e["ts"] < run["ts"] or e["ts"] + e["dur"] > run["ts"] + run["dur"]:
                    fail("%s run %d: a step outside its run event" % (f, r))

    if a.table:
        sections, orders = table_sections(a.table, a.rank)
        want = {"steady": defaultdict(lambda: [0, 0]),
                "warm": defaultdict(lambda: [0, 0])}
        for (f, r), evs in steps.items():
            for e in evs:
                s = want["warm" if r == 0 else "steady"][
                    "%s %s %s %s" % (e["name"], e["args"]["shape"],
                                     e["args"]["dtype"], e["cat"])]
                s[0] += 1
                s[1] += float(e["dur"]) / 1000.0
        for name, rows in want.items():
            got = sections.get(name, {})
            if set(got) != set(rows):
                fail("%s table rows %s, expected %s" %
                     (name, sorted(got), sorted(rows)))
            for k, (calls, total) in rows.items():
                if got[k][0] != calls or abs(got[k][1] - total) > 0.0015:
                    fail("%s row %r: %s, the trace says %d calls, %.4f ms" %
                         (name, k, got[k], calls, total))
            if orders.get(name, []) != sorted(orders.get(name, []), reverse=True):
                fail("%s rows are not sorted by total" % name)
    print("check-trace: %s: %d functions, %d steps" %
          (a.trace, len(want_runs), sum(len(v) for v in steps.values())))


if __name__ == "__main__":
    main()
