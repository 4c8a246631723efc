# Writes a float64 .npy file of uniform values the benchmark reads:
# python3 make_npy.py PATH [ROWS,COLS] (default 10000,10000: 800 MB).
import sys

import numpy as np

shape = tuple(int(s) for s in (sys.argv[2] if len(sys.argv) > 2 else "10000,10000").split(","))
np.save(sys.argv[1], np.random.default_rng(0).random(shape))
