package cmd

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// The JSON schema of dsys zmq: -o json output and --framing json input.

// jsonMessage is one message: {"frames": [...], "identity": ...}. identity
// is a ROUTER's peer: the sender on output, the destination on input.
type jsonMessage struct {
	Identity *jsonFrame  `json:"identity,omitempty"`
	Frames   []jsonFrame `json:"frames"`
}

// jsonFrame is one frame: a string when it is valid UTF-8, else
// {"base64": "..."}.
type jsonFrame []byte

func (f jsonFrame) MarshalJSON() ([]byte, error) {
	if utf8.Valid(f) {
		return json.Marshal(string(f))
	}
	return json.Marshal(struct {
		Base64 string `json:"base64"`
	}{base64.StdEncoding.EncodeToString(f)})
}

func (f *jsonFrame) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = []byte(s)
		return nil
	}
	var o struct {
		Base64 *string `json:"base64"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil || o.Base64 == nil {
		return errors.New(`a frame is a string or {"base64": "..."}`)
	}
	raw, err := base64.StdEncoding.DecodeString(*o.Base64)
	if err != nil {
		return fmt.Errorf("a frame's base64 does not decode: %v", err)
	}
	*f = raw
	return nil
}

// jsonErr shortens encoding/json's errors to what a user can act on.
func jsonErr(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q has the wrong type", te.Field)
	}
	return err.Error()
}

// jsonKeyPair is keygen's output under -o json.
type jsonKeyPair struct {
	Public string `json:"public"`
	Secret string `json:"secret"`
}
