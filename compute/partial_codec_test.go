package compute

import (
	"encoding/json"
	"math"
	"testing"
)

// Partials travel between machines: both encodings keep every bit, and
// merging decoded partials gives what merging the originals gives.
func TestPartialRoundTrips(t *testing.T) {
	data := append(randData(6, 5000, 0.01), math.Inf(-1))
	s := make([]float64, npBlock)
	a := reduceBlock(data[:2500], Stats.needs(), s)
	b := reduceBlock(data[2500:], Stats.needs(), s)
	for _, p := range []Partial{a, b, {}} {
		bin, _ := p.MarshalBinary()
		var q Partial
		if err := q.UnmarshalBinary(bin); err != nil || !samePartial(p, q) {
			t.Fatalf("binary: %+v -> %+v (%v)", p, q, err)
		}
		js, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var r Partial
		if err := json.Unmarshal(js, &r); err != nil || !samePartial(p, r) {
			t.Fatalf("json %s: %+v -> %+v (%v)", js, p, r, err)
		}
	}
	js, _ := json.Marshal(b)
	var b2 Partial
	_ = json.Unmarshal(js, &b2)
	m1, m2 := a, a
	m1.Merge(&b)
	m2.Merge(&b2)
	if !samePartial(m1, m2) {
		t.Fatalf("merge after a round trip differs: %+v vs %+v", m1, m2)
	}
}

func samePartial(p, q Partial) bool {
	pf, qf := p.floats(), q.floats()
	return p.Count == q.Count && p.NaN == q.NaN && p.HasMM == q.HasMM && p.Frac == q.Frac && p.Inf == q.Inf &&
		p.ISum == q.ISum && p.IMin == q.IMin && p.IMax == q.IMax && sameBits(pf[:], qf[:])
}
