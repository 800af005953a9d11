package emulator

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// strictUnmarshal decodes exactly one JSON value into v: no data after it,
// and type errors reported with the field's name.
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			f := te.Field
			if f == "" {
				f = "the body"
			}
			return fmt.Errorf("%s is a JSON %s; expected %s", f, te.Value, te.Type.String())
		}
		return errors.New(strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
