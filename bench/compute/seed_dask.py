# The seed job, as Dask users write it (Dask 2022.12, threaded scheduler).
import dask.array as da

x = da.random.random((10000, 10000), chunks=(1000, 1000))
print(x.mean().compute())
