package compute

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// partialVersion is the first byte of the binary encoding.
const partialVersion = 2

// partialBinaryLen is the size of a Partial's binary encoding: the version,
// 2 counts, 9 floats, 3 128-bit integers, the flags and the Inf bits.
const partialBinaryLen = 1 + 2*8 + 9*8 + 3*16 + 2

// MarshalBinary encodes p in 139 bytes (a version byte, little-endian
// counts, IEEE 754 floats and two's complement integers, then the flags),
// exactly, NaN and infinities included.
func (p Partial) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, partialBinaryLen)
	b = append(b, partialVersion)
	b = binary.LittleEndian.AppendUint64(b, uint64(p.Count))
	b = binary.LittleEndian.AppendUint64(b, uint64(p.NaN))
	for _, f := range p.floats() {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
	}
	for _, i := range []Int128{p.ISum, p.IMin, p.IMax} {
		b = binary.LittleEndian.AppendUint64(b, uint64(i.Hi))
		b = binary.LittleEndian.AppendUint64(b, i.Lo)
	}
	var flags byte
	if p.HasMM {
		flags |= 1
	}
	if p.Frac {
		flags |= 2
	}
	return append(b, flags, p.Inf), nil
}

func (p *Partial) floats() [9]float64 {
	return [9]float64{p.Sum, p.SumC, p.Big, p.BigC, p.Mean, p.MeanC, p.M2, p.Min, p.Max}
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (p *Partial) UnmarshalBinary(b []byte) error {
	if len(b) != partialBinaryLen || b[0] != partialVersion {
		return fmt.Errorf("compute: a partial state is %d bytes of version %d, got %d bytes", partialBinaryLen, partialVersion, len(b))
	}
	u := func(i int) uint64 { return binary.LittleEndian.Uint64(b[1+8*i:]) }
	f := func(i int) float64 { return math.Float64frombits(u(i)) }
	in := func(i int) Int128 { return Int128{Hi: int64(u(i)), Lo: u(i + 1)} }
	flags := b[partialBinaryLen-2]
	*p = Partial{
		Count: int64(u(0)), NaN: int64(u(1)),
		Sum: f(2), SumC: f(3), Big: f(4), BigC: f(5), Mean: f(6), MeanC: f(7), M2: f(8), Min: f(9), Max: f(10),
		ISum: in(11), IMin: in(13), IMax: in(15),
		HasMM: flags&1 != 0, Frac: flags&2 != 0, Inf: b[partialBinaryLen-1],
	}
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

// jsonInt is an Int128 in JSON: a decimal string, which every JSON reader
// keeps exactly.
type jsonInt Int128

func (i jsonInt) MarshalJSON() ([]byte, error) {
	return strconv.AppendQuote(nil, Int128(i).String()), nil
}

func (i *jsonInt) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err != nil {
		s = string(b)
	}
	v, ok := parseInt128(s)
	if !ok {
		return fmt.Errorf("compute: bad integer %s in a partial state", b)
	}
	*i = jsonInt(v)
	return nil
}

type partialJSON struct {
	Count int64     `json:"count"`
	NaN   int64     `json:"nan"`
	Sum   jsonFloat `json:"sum"`
	SumC  jsonFloat `json:"sum_c"`
	Big   jsonFloat `json:"big"`
	BigC  jsonFloat `json:"big_c"`
	Inf   uint8     `json:"inf"`
	Mean  jsonFloat `json:"mean"`
	MeanC jsonFloat `json:"mean_c"`
	M2    jsonFloat `json:"m2"`
	Min   jsonFloat `json:"min"`
	Max   jsonFloat `json:"max"`
	HasMM bool      `json:"has_minmax"`
	Frac  bool      `json:"frac"`
	ISum  jsonInt   `json:"isum"`
	IMin  jsonInt   `json:"imin"`
	IMax  jsonInt   `json:"imax"`
}

// MarshalJSON writes p as an object; non-finite floats become strings, and
// so do the exact integers.
func (p Partial) MarshalJSON() ([]byte, error) {
	return json.Marshal(partialJSON{
		Count: p.Count, NaN: p.NaN, Sum: jsonFloat(p.Sum), SumC: jsonFloat(p.SumC), Big: jsonFloat(p.Big),
		BigC: jsonFloat(p.BigC), Inf: p.Inf, Mean: jsonFloat(p.Mean), MeanC: jsonFloat(p.MeanC), M2: jsonFloat(p.M2),
		Min: jsonFloat(p.Min), Max: jsonFloat(p.Max), HasMM: p.HasMM, Frac: p.Frac,
		ISum: jsonInt(p.ISum), IMin: jsonInt(p.IMin), IMax: jsonInt(p.IMax),
	})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (p *Partial) UnmarshalJSON(b []byte) error {
	var j partialJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*p = Partial{
		Count: j.Count, NaN: j.NaN, Sum: float64(j.Sum), SumC: float64(j.SumC), Big: float64(j.Big),
		BigC: float64(j.BigC), Inf: j.Inf, Mean: float64(j.Mean), MeanC: float64(j.MeanC), M2: float64(j.M2),
		Min: float64(j.Min), Max: float64(j.Max), HasMM: j.HasMM, Frac: j.Frac,
		ISum: Int128(j.ISum), IMin: Int128(j.IMin), IMax: Int128(j.IMax),
	}
	return nil
}
