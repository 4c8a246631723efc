package compute

import "fmt"

// Op is a reduction.
type Op int

// The reductions. Stats computes count, mean, std, min and max in one pass.
const (
	Mean Op = iota
	Sum
	Min
	Max
	Var
	Std
	Count
	Stats
)

var opNames = [...]string{"mean", "sum", "min", "max", "var", "std", "count", "stats"}

func (o Op) String() string {
	if o >= 0 && int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// ParseOp returns the Op named s (mean, sum, min, max, var, std, count, stats).
func ParseOp(s string) (Op, error) {
	for i, n := range opNames {
		if n == s {
			return Op(i), nil
		}
	}
	return 0, inputErr("unknown operation %q (want mean, sum, min, max, var, std, count or stats)", s)
}

// needs says which parts of a Partial an op reads, so kernels skip the rest.
type needs struct{ sum, m2, minmax bool }

func (o Op) needs() needs {
	switch o {
	case Mean, Sum:
		return needs{sum: true}
	case Min, Max:
		return needs{minmax: true}
	case Var, Std:
		return needs{sum: true, m2: true}
	case Stats:
		return needs{sum: true, m2: true, minmax: true}
	}
	return needs{} // Count: NaN counting only
}

// emptyIsError reports whether op refuses input with no values.
func (o Op) emptyIsError() bool { return o != Sum && o != Count }
