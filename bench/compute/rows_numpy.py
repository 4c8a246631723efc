# NumPy's per-row mean of a memory-mapped .npy file, saved as .npy:
# python3 rows_numpy.py IN OUT (what `dsys compute mean IN --axis 1 --out OUT` does).
import sys

import numpy as np

np.save(sys.argv[2], np.load(sys.argv[1], mmap_mode="r").mean(axis=1))
