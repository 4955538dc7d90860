"""check-reduce-scatter.py X.npy Y.npy P DIM TOL: Y must be rank 0's block of
the reduce_scatter of silu(X) over P ranks that all hold X (the sum is P
silu(X)) along DIM, within TOL of the largest value."""
import sys

import numpy as np

xpath, ypath, p, dim, tol = sys.argv[1:]
p, dim, tol = int(p), int(dim), float(tol)
x = np.load(xpath).astype(np.float64)
s = p * x / (1 + np.exp(-x))
want = np.split(s, p, axis=dim)[0]
got = np.load(ypath)
if got.shape != want.shape:
    sys.exit("shape %s, expected %s" % (got.shape, want.shape))
err = np.abs(got - want).max() / np.abs(want).max()
print("relative error %.3g" % err)
if not err <= tol:
    sys.exit("relative error %g exceeds %g" % (err, tol))
