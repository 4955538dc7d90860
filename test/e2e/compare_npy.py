#!/usr/bin/env python3
"""Compare two .npy arrays: max |actual - expected| relative to max |expected|.

Exits 0 when the shapes match, both arrays are finite and the ratio is within --rtol-max;
exits 1 otherwise, saying why.
"""
import argparse
import sys

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("actual", help="array under test (.npy)")
    ap.add_argument("expected", help="reference array (.npy)")
    ap.add_argument("--rtol-max", type=float, default=1e-4,
                    help="largest allowed max|actual - expected| / max|expected| (default 1e-4)")
    args = ap.parse_args()

    actual = np.load(args.actual).astype(np.float64)
    expected = np.load(args.expected).astype(np.float64)
    print(f"shapes: actual {list(actual.shape)}, expected {list(expected.shape)}")
    if actual.shape != expected.shape:
        print("FAIL: shapes differ")
        return 1
    for name, array in (("actual", actual), ("expected", expected)):
        bad = np.count_nonzero(~np.isfinite(array))
        if bad:
            print(f"FAIL: {name} has {bad} non-finite values")
            return 1

    max_abs = float(np.abs(actual - expected).max(initial=0.0))
    max_ref = float(np.abs(expected).max(initial=0.0))
    ratio = max_abs / max_ref if max_ref > 0 else (0.0 if max_abs == 0 else float("inf"))
    print(f"max abs error {max_abs:.6g}, max |expected| {max_ref:.6g}, ratio {ratio:.6g} "
          f"(limit {args.rtol_max:g})")
    if ratio > args.rtol_max:
        print(f"FAIL: ratio {ratio:.6g} exceeds --rtol-max {args.rtol_max:g}")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
