package compute

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// partialBinaryLen is the size of a Partial's binary encoding.
const partialBinaryLen = 2*8 + 6*8 + 1

// MarshalBinary encodes p in 65 bytes (little-endian counts and IEEE 754
// floats, then the min/max flag), exactly, NaN and infinities included.
func (p Partial) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, partialBinaryLen)
	b = binary.LittleEndian.AppendUint64(b, uint64(p.Count))
	b = binary.LittleEndian.AppendUint64(b, uint64(p.NaN))
	for _, f := range []float64{p.Sum, p.SumC, p.Mean, p.M2, p.Min, p.Max} {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
	}
	if p.HasMM {
		return append(b, 1), nil
	}
	return append(b, 0), nil
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (p *Partial) UnmarshalBinary(b []byte) error {
	if len(b) != partialBinaryLen {
		return fmt.Errorf("compute: a partial state is %d bytes, got %d", partialBinaryLen, len(b))
	}
	u := func(i int) uint64 { return binary.LittleEndian.Uint64(b[8*i:]) }
	f := func(i int) float64 { return math.Float64frombits(u(i)) }
	*p = Partial{Count: int64(u(0)), NaN: int64(u(1)), Sum: f(2), SumC: f(3), Mean: f(4), M2: f(5),
		Min: f(6), Max: f(7), HasMM: b[64] == 1}
	return nil
}

// jsonFloat is a float64 in JSON: a number, or "NaN", "+Inf", "-Inf",
// which JSON numbers cannot hold.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(s) >= 2 && s[0] == '"' {
		s = s[1 : len(s)-1]
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("compute: bad number %s in a partial state", b)
	}
	*f = jsonFloat(v)
	return nil
}

type partialJSON struct {
	Count int64     `json:"count"`
	NaN   int64     `json:"nan"`
	Sum   jsonFloat `json:"sum"`
	SumC  jsonFloat `json:"sum_c"`
	Mean  jsonFloat `json:"mean"`
	M2    jsonFloat `json:"m2"`
	Min   jsonFloat `json:"min"`
	Max   jsonFloat `json:"max"`
	HasMM bool      `json:"has_minmax"`
}

// MarshalJSON writes p as an object; non-finite floats become strings.
func (p Partial) MarshalJSON() ([]byte, error) {
	return json.Marshal(partialJSON{p.Count, p.NaN, jsonFloat(p.Sum), jsonFloat(p.SumC), jsonFloat(p.Mean),
		jsonFloat(p.M2), jsonFloat(p.Min), jsonFloat(p.Max), p.HasMM})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (p *Partial) UnmarshalJSON(b []byte) error {
	var j partialJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*p = Partial{j.Count, j.NaN, float64(j.Sum), float64(j.SumC), float64(j.Mean), float64(j.M2),
		float64(j.Min), float64(j.Max), j.HasMM}
	return nil
}
