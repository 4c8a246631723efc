// Package rng holds the concrete random number generators of package compute:
// a wyrand generator with a ziggurat normal sampler for the fast default, and
// an MT19937 that reproduces NumPy's legacy RandomState bit for bit.
//
// They are concrete types with small methods so that the compiler inlines
// them into the fill loops; no interface sits in an inner loop.
package rng
