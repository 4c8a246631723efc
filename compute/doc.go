// Package compute reduces large N-dimensional arrays chunk by chunk, in
// parallel, in memory bounded by workers × chunk size plus the result.
//
// A Source (random, .npy, raw binary, text, CSV) yields chunks of values;
// workers turn each chunk into Partial states — count, NaN count, a
// compensated sum that cannot overflow, a double-double mean and M2, min and
// max, and for integers their exact sum and extremes — and partials meet in
// a combine tree whose shape depends only on the chunk grid, never on
// scheduling, so the same input gives the same bits with any number of
// workers. Each result element keeps only its final value.
//
// Summation is pairwise inside blocks of 8192 values (NumPy's algorithm),
// blocks and chunks are merged with Neumaier's compensated sum and Chan et
// al.'s update for the mean and M2 ("Updating Formulae and a Pairwise
// Algorithm for Computing Sample Variances", 1979), with the means kept to
// about twice float64's precision, which keeps a mean of 1e8 values within
// about one ulp of the exact value and a variance never worse than NumPy's.
// Integers (integer dtypes, and text written as integers) are summed in
// 128-bit integers: exact, where NumPy wraps around.
//
// Options.DaskCompat follows NumPy 1.24's per-chunk summation and Dask
// 2022.12's split_every=4 tree instead, so mean and sum print the very digits
// Dask prints for the same chunks.
package compute
