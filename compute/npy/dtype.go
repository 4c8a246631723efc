package npy

import (
	"encoding/binary"
	"math"
	"strconv"
	"unsafe"
)

// DType is a numeric dtype: kind 'f' (float), 'i' (signed), 'u' (unsigned)
// or 'b' (bool), its size in bytes and its byte order.
type DType struct {
	Kind      byte
	Size      int
	BigEndian bool
}

// Float64 is '<f8', the dtype this package writes.
var Float64 = DType{Kind: 'f', Size: 8}

// Supported lists the dtypes DecodeFunc handles.
const Supported = "f8 f4 f2 i8 i4 i2 i1 u8 u4 u2 u1 b1"

// ParseDescr reads a descr string such as '<f8', '>i4', '|u1', '=f2' or
// '?'. Other dtypes (object, strings, datetimes, complex, void) are refused
// by name.
func ParseDescr(s string) (DType, error) {
	if s == "?" || s == "|b1" || s == "b1" || s == "bool" {
		return DType{Kind: 'b', Size: 1}, nil
	}
	d := s
	var order byte = '='
	if len(d) > 0 && (d[0] == '<' || d[0] == '>' || d[0] == '|' || d[0] == '=') {
		order, d = d[0], d[1:]
	}
	if len(d) < 1 {
		return DType{}, errorf("empty dtype %q", s)
	}
	kind := d[0]
	size, err := strconv.Atoi(d[1:])
	switch kind {
	case 'O':
		return DType{}, errorf("dtype %q (Python objects) is not supported: want one of %s", s, Supported)
	case 'U', 'S', 'a':
		return DType{}, errorf("dtype %q (strings) is not supported: want one of %s", s, Supported)
	case 'V':
		return DType{}, errorf("dtype %q (void/structured) is not supported: want one of %s", s, Supported)
	case 'M', 'm':
		return DType{}, errorf("dtype %q (datetime) is not supported: want one of %s", s, Supported)
	case 'c':
		return DType{}, errorf("dtype %q (complex) is not supported: want one of %s", s, Supported)
	}
	ok := err == nil
	switch kind {
	case 'f':
		ok = ok && (size == 2 || size == 4 || size == 8)
	case 'i', 'u':
		ok = ok && (size == 1 || size == 2 || size == 4 || size == 8)
	case 'b':
		ok = ok && size == 1
	default:
		ok = false
	}
	if !ok {
		return DType{}, errorf("dtype %q is not supported: want one of %s", s, Supported)
	}
	return DType{Kind: kind, Size: size, BigEndian: order == '>' && size > 1}, nil
}

// String is the descr of t: '<f8', '>i2', '|u1', '|b1'.
func (t DType) String() string {
	o := "<"
	if t.Size == 1 {
		o = "|"
	} else if t.BigEndian {
		o = ">"
	}
	return o + string(t.Kind) + strconv.Itoa(t.Size)
}

// Integer reports whether values of t are whole numbers.
func (t DType) Integer() bool { return t.Kind != 'f' }

// Native reports whether t is little-endian float64, which this (little-
// endian) machine can read in place.
func (t DType) Native() bool { return t.Kind == 'f' && t.Size == 8 && !t.BigEndian && littleEndian }

var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// DecodeFunc returns a function that converts len(dst) values of t from
// src (len(dst)*t.Size bytes) into dst.
func (t DType) DecodeFunc() func(dst []float64, src []byte) {
	var bo binary.ByteOrder = binary.LittleEndian
	if t.BigEndian {
		bo = binary.BigEndian
	}
	switch {
	case t.Kind == 'f' && t.Size == 8:
		if t.Native() {
			return func(dst []float64, src []byte) { copy(dst, AsFloat64s(src[:len(dst)*8])) }
		}
		return func(dst []float64, src []byte) {
			for i := range dst {
				dst[i] = math.Float64frombits(bo.Uint64(src[8*i:]))
			}
		}
	case t.Kind == 'f' && t.Size == 4:
		return func(dst []float64, src []byte) {
			for i := range dst {
				dst[i] = float64(math.Float32frombits(bo.Uint32(src[4*i:])))
			}
		}
	case t.Kind == 'f' && t.Size == 2:
		return func(dst []float64, src []byte) {
			for i := range dst {
				dst[i] = HalfToFloat64(bo.Uint16(src[2*i:]))
			}
		}
	case t.Integer():
		// Exactly through the integer decoder, then rounded to float64.
		di, unsigned := t.DecodeIntFunc(), t.Unsigned64()
		return func(dst []float64, src []byte) {
			var tmp [256]int64
			for len(dst) > 0 {
				n := min(len(dst), len(tmp))
				di(tmp[:n], src[:n*t.Size])
				for i, v := range tmp[:n] {
					if unsigned {
						dst[i] = float64(uint64(v))
					} else {
						dst[i] = float64(v)
					}
				}
				dst, src = dst[n:], src[n*t.Size:]
			}
		}
	}
	panic("npy: DecodeFunc of unsupported dtype " + t.String())
}

// DecodeIntFunc returns a function that converts len(dst) values of an
// integer or boolean t from src into dst exactly: signed values and
// unsigned ones below 64 bits as int64, u8 values as their uint64 bits.
func (t DType) DecodeIntFunc() func(dst []int64, src []byte) {
	var bo binary.ByteOrder = binary.LittleEndian
	if t.BigEndian {
		bo = binary.BigEndian
	}
	switch {
	case t.Kind == 'i' && t.Size == 8, t.Kind == 'u' && t.Size == 8:
		return func(dst []int64, src []byte) {
			for i := range dst {
				dst[i] = int64(bo.Uint64(src[8*i:]))
			}
		}
	case t.Kind == 'i' && t.Size == 4:
		return func(dst []int64, src []byte) {
			for i := range dst {
				dst[i] = int64(int32(bo.Uint32(src[4*i:])))
			}
		}
	case t.Kind == 'i' && t.Size == 2:
		return func(dst []int64, src []byte) {
			for i := range dst {
				dst[i] = int64(int16(bo.Uint16(src[2*i:])))
			}
		}
	case t.Kind == 'i' && t.Size == 1:
		return func(dst []int64, src []byte) {
			for i := range dst {
				dst[i] = int64(int8(src[i]))
			}
		}
	case t.Kind == 'u' && t.Size == 4:
		return func(dst []int64, src []byte) {
			for i := range dst {
				dst[i] = int64(bo.Uint32(src[4*i:]))
			}
		}
	case t.Kind == 'u' && t.Size == 2:
		return func(dst []int64, src []byte) {
			for i := range dst {
				dst[i] = int64(bo.Uint16(src[2*i:]))
			}
		}
	case t.Kind == 'u' && t.Size == 1:
		return func(dst []int64, src []byte) {
			for i := range dst {
				dst[i] = int64(src[i])
			}
		}
	case t.Kind == 'b':
		return func(dst []int64, src []byte) {
			for i := range dst {
				if src[i] != 0 {
					dst[i] = 1
				} else {
					dst[i] = 0
				}
			}
		}
	}
	panic("npy: DecodeIntFunc of non-integer dtype " + t.String())
}

// Unsigned64 reports whether t is u8, whose values DecodeIntFunc gives as
// uint64 bits.
func (t DType) Unsigned64() bool { return t.Kind == 'u' && t.Size == 8 }

// AsFloat64s views b (8-byte aligned, little-endian float64 data on a
// little-endian machine) as []float64 without copying.
func AsFloat64s(b []byte) []float64 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*float64)(unsafe.Pointer(&b[0])), len(b)/8)
}

// Aligned8 reports whether b starts on an 8-byte boundary.
func Aligned8(b []byte) bool {
	return len(b) == 0 || uintptr(unsafe.Pointer(&b[0]))%8 == 0
}

// HalfToFloat64 converts an IEEE 754 binary16 value.
func HalfToFloat64(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	frac := float64(h & 0x3ff)
	switch exp {
	case 0:
		return sign * frac * 0x1p-24
	case 0x1f:
		if frac == 0 {
			return math.Inf(int(sign))
		}
		return math.NaN()
	}
	return sign * (1 + frac/1024) * math.Ldexp(1, exp-15)
}
