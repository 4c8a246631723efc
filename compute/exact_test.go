package compute

import (
	"math"
	"math/big"
)

// exactAcc sums float64s exactly: each value is an integer multiple of
// 2^-1074, accumulated in a big.Int of those units.
type exactAcc struct{ sum, tmp big.Int }

func newExactAcc() *exactAcc { return &exactAcc{} }

func (e *exactAcc) add(v float64) {
	mant, exp := math.Frexp(v) // v = mant × 2^exp, 0.5 ≤ |mant| < 1
	m := int64(mant * (1 << 53))
	e.tmp.SetInt64(m)
	e.tmp.Lsh(&e.tmp, uint(exp-53+1074))
	e.sum.Add(&e.sum, &e.tmp)
}

func (e *exactAcc) mean(n float64) float64 {
	f := new(big.Float).SetPrec(4096).SetInt(&e.sum)
	f.SetMantExp(f, -1074)
	f.Quo(f, new(big.Float).SetPrec(4096).SetFloat64(n))
	out, _ := f.Float64()
	return out
}
