// Package compute reduces large N-dimensional arrays chunk by chunk, in
// parallel, in memory bounded by workers × chunk size.
//
// A Source (random, .npy, raw binary, text, CSV) yields chunks of float64
// values; workers turn each chunk into a Partial — count, NaN count,
// compensated sum, mean and M2, min and max — and partials meet in a combine
// tree whose shape depends only on the chunk grid, never on scheduling, so
// the same input gives the same bits with any number of workers.
//
// Summation is pairwise inside blocks of 8192 values (NumPy's algorithm),
// blocks and chunks are merged with Neumaier's compensated sum and Chan et
// al.'s update for the mean and M2 ("Updating Formulae and a Pairwise
// Algorithm for Computing Sample Variances", 1979), which keeps a mean of
// 1e8 values within about one ulp of the exact value.
//
// Options.DaskCompat follows NumPy 1.24's per-chunk summation and Dask
// 2022.12's split_every=4 tree instead, so mean and sum print the very digits
// Dask prints for the same chunks.
package compute
