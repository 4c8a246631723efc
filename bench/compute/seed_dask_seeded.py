# The seed job with a fixed seed: what `dsys compute mean --rng dask --dask-compat --seed 0` reproduces.
import dask.array as da

da.random.seed(0)
x = da.random.random((10000, 10000), chunks=(1000, 1000))
print(x.mean().compute())
