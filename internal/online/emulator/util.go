package emulator

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			// Its text is the syntax error alone, without a prefix.
			return fmt.Errorf("not valid JSON at byte %d: %w", se.Offset, se)
		case errors.Is(err, io.EOF):
			return errors.New("no JSON value: the body is empty")
		case errors.Is(err, io.ErrUnexpectedEOF):
			return errors.New("truncated JSON")
		}
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
