package msg

import (
	"encoding/binary"
	"fmt"
)

// Z85 (ZeroMQ RFC 32) is how ZeroMQ prints CURVE keys: 32 bytes as 40
// printable characters, each 4-byte big-endian group as 5 base-85 digits.
const z85Alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"

var z85Value = func() (v [256]byte) {
	for i := range v {
		v[i] = 0xff
	}
	for i := range len(z85Alphabet) {
		v[z85Alphabet[i]] = byte(i)
	}
	return v
}()

// z85Encode encodes b, whose length is a multiple of 4.
func z85Encode(b []byte) string {
	out := make([]byte, 0, len(b)/4*5)
	for i := 0; i+4 <= len(b); i += 4 {
		v := binary.BigEndian.Uint32(b[i:])
		var d [5]byte
		for j := 4; j >= 0; j-- {
			d[j] = z85Alphabet[v%85]
			v /= 85
		}
		out = append(out, d[:]...)
	}
	return string(out)
}

// z85Decode decodes s, whose length is a multiple of 5. Its errors never
// quote s: it may be a secret key.
func z85Decode(s string) ([]byte, error) {
	if len(s)%5 != 0 {
		return nil, fmt.Errorf("Z85 text has %d characters, not a multiple of 5", len(s))
	}
	out := make([]byte, 0, len(s)/5*4)
	for i := 0; i < len(s); i += 5 {
		var v uint64
		for j := range 5 {
			d := z85Value[s[i+j]]
			if d == 0xff {
				return nil, fmt.Errorf("character %d is not Z85", i+j+1)
			}
			v = v*85 + uint64(d)
		}
		if v > 0xffffffff {
			return nil, fmt.Errorf("characters %d-%d are out of Z85's range", i+1, i+5)
		}
		out = binary.BigEndian.AppendUint32(out, uint32(v))
	}
	return out, nil
}
