# NumPy's mean of a memory-mapped .npy file.
import sys

import numpy as np

print(np.load(sys.argv[1], mmap_mode="r").mean())
