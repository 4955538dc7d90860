"""same-npy.py A.npy B.npy [--index-a I] [--index-b J]: exits 0 when A[I] and
B[J] (whole arrays without indices) are bit-identical, prints the verdict."""
import argparse
import sys

import numpy as np

p = argparse.ArgumentParser()
p.add_argument("a")
p.add_argument("b")
p.add_argument("--index-a", type=int)
p.add_argument("--index-b", type=int)
p.add_argument("--expect-different", action="store_true")
args = p.parse_args()
a, b = np.load(args.a), np.load(args.b)
if args.index_a is not None:
    a = a[args.index_a]
if args.index_b is not None:
    b = b[args.index_b]
same = a.shape == b.shape and np.array_equal(a, b)
print("identical" if same else "different")
sys.exit(0 if same != args.expect_different else 1)
