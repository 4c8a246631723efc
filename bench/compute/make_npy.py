# Writes the 800 MB float64 .npy file the benchmark reads.
import sys

import numpy as np

np.save(sys.argv[1], np.random.default_rng(0).random((10000, 10000)))
