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

// vectorVersion is the first byte of AppendPartials' encoding.
const vectorVersion = 3

// The fields of a partial in AppendPartials' encoding, in order; a 16-bit
// mask says which are present (not zero). Counts are uvarints, floats their
// 8 IEEE 754 bytes (little-endian), integers 16 bytes, the flags one byte.
const (
	fieldCount = iota
	fieldNaN
	fieldFloats // the 9 floats of Partial.floats, fieldFloats..fieldFloats+8
	fieldISum   = fieldFloats + 9
	fieldIMin   = fieldISum + 1
	fieldIMax   = fieldIMin + 1
	fieldFlags  = fieldIMax + 1
	numFields   = fieldFlags + 1
)

// AppendPartials appends ps to b in a compact encoding that keeps every
// bit (NaN payloads, signed zeros and infinities included): a version byte,
// the number of partials, then each partial as a mask of its non-zero
// fields and those fields. A chunk's vector travels between processes so:
// a partial of a mean is about 20 bytes instead of MarshalBinary's 139.
func AppendPartials(b []byte, ps []Partial) []byte {
	b = append(b, vectorVersion)
	b = binary.AppendUvarint(b, uint64(len(ps)))
	for i := range ps {
		b = ps[i].appendSparse(b)
	}
	return b
}

func (p *Partial) appendSparse(b []byte) []byte {
	at := len(b)
	b = append(b, 0, 0)
	var mask uint16
	if p.Count != 0 {
		mask |= 1 << fieldCount
		b = binary.AppendUvarint(b, uint64(p.Count))
	}
	if p.NaN != 0 {
		mask |= 1 << fieldNaN
		b = binary.AppendUvarint(b, uint64(p.NaN))
	}
	for i, f := range p.floats() {
		if u := math.Float64bits(f); u != 0 {
			mask |= 1 << (fieldFloats + i)
			b = binary.LittleEndian.AppendUint64(b, u)
		}
	}
	for i, v := range []Int128{p.ISum, p.IMin, p.IMax} {
		if v != (Int128{}) {
			mask |= 1 << (fieldISum + i)
			b = binary.LittleEndian.AppendUint64(b, uint64(v.Hi))
			b = binary.LittleEndian.AppendUint64(b, v.Lo)
		}
	}
	if f := p.flags(); f != 0 {
		mask |= 1 << fieldFlags
		b = append(b, f)
	}
	binary.LittleEndian.PutUint16(b[at:], mask)
	return b
}

// flags packs HasMM, Frac and the Inf bits in a byte.
func (p *Partial) flags() byte {
	f := p.Inf << 2
	if p.HasMM {
		f |= 1
	}
	if p.Frac {
		f |= 2
	}
	return f
}

// DecodePartials decodes what AppendPartials wrote.
func DecodePartials(b []byte) ([]Partial, error) {
	bad := func(what string) ([]Partial, error) {
		return nil, fmt.Errorf("compute: a vector of partial states: %s", what)
	}
	if len(b) == 0 || b[0] != vectorVersion {
		return bad(fmt.Sprintf("want version %d", vectorVersion))
	}
	n, k := binary.Uvarint(b[1:])
	if k <= 0 || n > uint64(len(b)) {
		return bad("bad length")
	}
	b = b[1+k:]
	ps := make([]Partial, n)
	for i := range ps {
		var ok bool
		if b, ok = ps[i].decodeSparse(b); !ok {
			return bad(fmt.Sprintf("partial %d is malformed", i))
		}
	}
	if len(b) != 0 {
		return bad(fmt.Sprintf("%d bytes after the last partial", len(b)))
	}
	return ps, nil
}

// decodeSparse reads one partial of AppendPartials' encoding from b and
// returns the rest.
func (p *Partial) decodeSparse(b []byte) ([]byte, bool) {
	if len(b) < 2 {
		return nil, false
	}
	mask := binary.LittleEndian.Uint16(b)
	b = b[2:]
	if mask>>numFields != 0 {
		return nil, false
	}
	has := func(f int) bool { return mask&(1<<f) != 0 }
	uv := func(dst *int64) bool {
		v, k := binary.Uvarint(b)
		if k <= 0 {
			return false
		}
		*dst, b = int64(v), b[k:]
		return true
	}
	if has(fieldCount) && !uv(&p.Count) || has(fieldNaN) && !uv(&p.NaN) {
		return nil, false
	}
	for i, f := range []*float64{&p.Sum, &p.SumC, &p.Big, &p.BigC, &p.Mean, &p.MeanC, &p.M2, &p.Min, &p.Max} {
		if has(fieldFloats + i) {
			if len(b) < 8 {
				return nil, false
			}
			*f, b = math.Float64frombits(binary.LittleEndian.Uint64(b)), b[8:]
		}
	}
	for i, v := range []*Int128{&p.ISum, &p.IMin, &p.IMax} {
		if has(fieldISum + i) {
			if len(b) < 16 {
				return nil, false
			}
			*v, b = Int128{Hi: int64(binary.LittleEndian.Uint64(b)), Lo: binary.LittleEndian.Uint64(b[8:])}, b[16:]
		}
	}
	if has(fieldFlags) {
		if len(b) < 1 || b[0]>>4 != 0 {
			return nil, false
		}
		f := b[0]
		p.HasMM, p.Frac, p.Inf, b = f&1 != 0, f&2 != 0, f>>2, b[1:]
	}
	return b, true
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
