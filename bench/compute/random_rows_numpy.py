# NumPy's per-row mean of a random (1e7, 2) array, saved as .npy:
# python3 random_rows_numpy.py OUT (what `dsys compute mean --shape 10000000,2
# --axis 1 --out OUT` does).
import sys

import numpy as np

np.save(sys.argv[1], np.random.default_rng(0).random((10_000_000, 2)).mean(axis=1))
