package byok

import (
	"bytes"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
)

// canonicalBlob returns a canonical .byok file from the vectors and its parts.
func canonicalBlob(t testing.TB) ([]byte, *Blob) {
	data := vec(t, "ec-p521.kek-rsa2048.byok") // 512 bytes: base64 needs padding
	b, err := ParseBlob(data)
	if err != nil {
		t.Fatal(err)
	}
	return data, b
}

func TestBlobMarshalExact(t *testing.T) {
	kek := kekFromFile(t, vectorsDir+"/kek-rsa2048.json")
	ct := bytes.Repeat([]byte{0xfb, 0xff}, (256+152)/2) // base64 of 0xfbff has - and _
	got := string(NewBlob(kek, ct, `keyrite v1 "<&>"; SoftHSM 2.6.1`).Marshal())
	want := `{"schema_version":"1.0.0","header":{"kid":"` + kek.Kid + `","alg":"dir","enc":"CKM_RSA_AES_KEY_WRAP"},"ciphertext":"` +
		base64.RawURLEncoding.EncodeToString(ct) + `","generator":"keyrite v1 \"<&>\"; SoftHSM 2.6.1"}` + "\n"
	if got != want {
		t.Fatalf("Marshal =\n%s\nwant\n%s", got, want)
	}
	if strings.ContainsAny(got[:len(got)-1], "=+/\n ") && !strings.Contains(got, "SoftHSM 2.6.1") {
		t.Error("padding, standard alphabet or whitespace in output")
	}
	// Without a generator the member is left out, and that round-trips.
	b := NewBlob(kek, ct, "")
	if m := b.Marshal(); bytes.Contains(m, []byte("generator")) {
		t.Error("empty generator written")
	} else if b2, err := ParseBlob(m); err != nil || !bytes.Equal(b2.Marshal(), m) {
		t.Errorf("no-generator round trip: %v", err)
	}
}

func TestParseBlobAccepts(t *testing.T) {
	data, b := canonicalBlob(t)
	ctB64 := base64.RawURLEncoding.EncodeToString(b.Ciphertext)
	padded := base64.URLEncoding.EncodeToString(b.Ciphertext)
	if ctB64 == padded {
		t.Fatal("test needs a ciphertext whose base64 is padded")
	}
	for name, in := range map[string]string{
		"padding":      strings.Replace(string(data), ctB64, padded, 1),
		"reordered":    `{"ciphertext":"` + ctB64 + `","generator":"g","header":{"enc":"CKM_RSA_AES_KEY_WRAP","alg":"dir","kid":"` + b.Kid + `"},"schema_version":"1.0.0"}`,
		"whitespace":   " \r\n\t" + strings.ReplaceAll(string(data), ",", " ,\n ") + "\n\n",
		"no generator": strings.Replace(string(data), `,"generator":"keyrite test vectors; software wrap"`, "", 1),
		"no newline":   strings.TrimSuffix(string(data), "\n"),
		"escapes":      strings.Replace(string(data), `"dir"`, `"\u0064ir"`, 1),
	} {
		t.Run(name, func(t *testing.T) {
			b2, err := ParseBlob([]byte(in))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b2.Ciphertext, b.Ciphertext) || b2.Kid != b.Kid {
				t.Error("different content")
			}
			if !bytes.Equal(b2.Raw(), []byte(in)) {
				t.Error("Raw is not the input")
			}
		})
	}
}

func TestParseBlobDeviations(t *testing.T) {
	data, b := canonicalBlob(t)
	s := string(data)
	ctB64 := base64.RawURLEncoding.EncodeToString(b.Ciphertext)
	rep := func(old, new string) []byte {
		if !strings.Contains(s, old) {
			t.Fatalf("%q not in blob", old)
		}
		return []byte(strings.Replace(s, old, new, 1))
	}
	withCT := func(ct string) []byte { return rep(ctB64, ct) }
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"empty":              {nil, "file is empty"},
		"not JSON":           {[]byte("hello"), "not a JSON object"},
		"array":              {[]byte("[1]"), "not a JSON object"},
		"truncated":          {data[:len(data)/2], "truncated JSON"},
		"trailing":           {append(bytes.Clone(data), "{}"...), "data after the JSON value"},
		"syntax":             {rep(`"alg":"dir"`, `"alg":dir`), "not valid JSON"},
		"bad UTF-8":          {rep("software", "soft\xffware"), "not valid UTF-8"},
		"unknown member":     {rep(`"generator"`, `"extra":1,"generator"`), `unknown member "extra"`},
		"unknown header":     {rep(`"alg":"dir"`, `"alg":"dir","cty":"x"`), `unknown member "cty" in header`},
		"duplicate member":   {rep(`"generator"`, `"schema_version":"1.0.0","generator"`), `member "schema_version" appears twice`},
		"duplicate header":   {rep(`"alg":"dir"`, `"alg":"dir","alg":"dir"`), `member "alg" appears twice in $.header`},
		"schema 2.0":         {rep(`"1.0.0"`, `"2.0.0"`), `schema_version is "2.0.0"; expected "1.0.0"`},
		"schema number":      {rep(`"1.0.0"`, `1`), "schema_version is a number; expected a string"},
		"no schema":          {rep(`"schema_version":"1.0.0",`, ``), `no "schema_version" member`},
		"no header":          {[]byte(`{"schema_version":"1.0.0","ciphertext":"` + ctB64 + `"}`), `no "header" member`},
		"header string":      {[]byte(`{"schema_version":"1.0.0","header":"x","ciphertext":"` + ctB64 + `"}`), `"header" is not a JSON object`},
		"header null":        {[]byte(`{"schema_version":"1.0.0","header":null,"ciphertext":"` + ctB64 + `"}`), `"header" is not a JSON object`},
		"alg RSA-OAEP":       {rep(`"dir"`, `"RSA-OAEP"`), `header.alg is "RSA-OAEP"; expected "dir"`},
		"enc other":          {rep(`"CKM_RSA_AES_KEY_WRAP"`, `"RSA_AES_KEY_WRAP_SHA256"`), `header.enc is "RSA_AES_KEY_WRAP_SHA256"; expected "CKM_RSA_AES_KEY_WRAP"`},
		"no enc":             {rep(`,"enc":"CKM_RSA_AES_KEY_WRAP"`, ``), `no "header.enc" member`},
		"no kid":             {rep(`"kid":"`+b.Kid+`",`, ``), `no "header.kid" member`},
		"kid null":           {rep(`"`+b.Kid+`"`, `null`), "header.kid is null; expected a string"},
		"kid no version":     {rep(b.Kid, strings.TrimSuffix(b.Kid, "/"+testVersion("kek-rsa2048"))), "header.kid: byok: invalid kid"},
		"kid http":           {rep(b.Kid, strings.Replace(b.Kid, "https", "http", 1)), `scheme is "http"`},
		"no ciphertext":      {rep(`"ciphertext":"`+ctB64+`",`, ``), `no "ciphertext" member`},
		"empty ciphertext":   {withCT(""), "ciphertext is empty"},
		"ciphertext number":  {rep(`"`+ctB64+`"`, `1`), "ciphertext is a number"},
		"standard base64":    {withCT(strings.ReplaceAll(strings.ReplaceAll(ctB64, "-", "+"), "_", "/")), "standard base64 alphabet"},
		"space in base64":    {withCT(ctB64[:10] + " " + ctB64[10:]), "invalid base64url character ' ' at offset 10"},
		"newline in base64":  {withCT(ctB64[:10] + `\n` + ctB64[10:]), "invalid base64url character '\\n'"},
		"bad base64 length":  {withCT(ctB64[:len(ctB64)-1]), "bad base64url length"},
		"bad padding":        {withCT(ctB64 + "==="), "bad base64url padding"},
		"inner padding":      {withCT(ctB64[:8] + "=" + ctB64[8:]), "'=' at offset 8 inside the data"},
		"ciphertext short":   {withCT(ctB64[:200]), "ciphertext is 150 bytes"},
		"ciphertext odd":     {withCT(base64.RawURLEncoding.EncodeToString(b.Ciphertext[:401])), "ciphertext is 401 bytes"},
		"ciphertext no KWP":  {withCT(base64.RawURLEncoding.EncodeToString(b.Ciphertext[:256])), "ciphertext is 256 bytes"},
		"generator number":   {rep(`"keyrite test vectors; software wrap"`, `7`), "generator is a number"},
		"generator control":  {rep(`software`, `soft\u001bware`), "generator contains control characters"},
		"deeply nested":      {[]byte(strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40)), "nested more than"},
		"huge":               {bytes.Repeat([]byte(" "), maxBlobFile+1), "at most a few KiB"},
		"top-level null":     {[]byte("null"), "not a JSON object"},
		"BOM":                {append([]byte("\ufeff"), data...), "not a JSON object"},
		"header array":       {rep(`"header":{`, `"header":[{`), "not valid JSON"},
		"non-string member":  {rep(`"generator":"keyrite test vectors; software wrap"`, `"generator":{"a":1}`), "generator is an object"},
		"header extra empty": {rep(`"alg":"dir"`, `"alg":"dir","":""`), `unknown member "" in header`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseBlob(tc.data)
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrBlob) {
				t.Errorf("does not wrap ErrBlob: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v\nwant %q", err, tc.want)
			}
		})
	}
}

func TestDescribeWithKEK(t *testing.T) {
	b, err := ParseBlob(vec(t, "ec-p256.kek-rsa2048.byok"))
	if err != nil {
		t.Fatal(err)
	}
	k2048 := kekFromFile(t, vectorsDir+"/kek-rsa2048.pem")
	k3072 := kekFromFile(t, vectorsDir+"/kek-rsa3072.json")
	k3072pem := kekFromFile(t, vectorsDir+"/kek-rsa3072.pem")
	k4096 := kekFromFile(t, vectorsDir+"/kek-rsa4096.pem")
	// Its own KEK (no kid): 408 bytes also reads as AES-128 under
	// RSA-3072, so the length alone is not conclusive.
	d := b.Describe(k2048)
	if d.KidMatch != "unknown" || d.SizeCheck != "ambiguous" || d.ModulusCheck != "ok" || len(d.Problems) != 0 || len(d.Readings) != 2 || len(d.Layouts) != 1 || d.KEKBits != 2048 {
		t.Errorf("RSA-2048 KEK: %+v", d)
	}
	// Another KEK with a kid: kid mismatch; the length reads with its size
	// too (AES-128), which proves nothing.
	d = b.Describe(k3072)
	if d.KidMatch != "mismatch" || d.SizeCheck != "ambiguous" || len(d.Problems) != 1 || !strings.Contains(d.Problems[0], "is not the KEK's kid") {
		t.Errorf("RSA-3072 KEK: %+v", d)
	}
	// The same without a kid: nothing fails, nothing is shown either.
	if d = b.Describe(k3072pem); d.KidMatch != "unknown" || d.SizeCheck != "ambiguous" || len(d.Problems) != 0 {
		t.Errorf("RSA-3072 PEM KEK: %+v", d)
	}
	// A KEK whose size the length does not read with: both sizes said.
	d = b.Describe(k4096)
	if d.KidMatch != "unknown" || d.SizeCheck != "mismatch" || d.ModulusCheck != "" || len(d.Problems) != 1 ||
		!strings.Contains(d.Problems[0], "must be 512 bytes for this RSA-4096 KEK") || !strings.Contains(d.Problems[0], "256 bytes (RSA-2048) or 384 bytes (RSA-3072)") {
		t.Errorf("RSA-4096 KEK: %+v", d)
	}
	// The AES-256 blob (296 bytes) reads only as RSA-2048.
	b256, _ := ParseBlob(vec(t, "aes256.kek-rsa2048.byok"))
	if d := b256.Describe(k3072); len(d.Problems) != 2 || d.SizeCheck != "mismatch" || !strings.Contains(d.Problems[1], "must be 384 bytes for this RSA-3072 KEK (its modulus size), but the 296-byte ciphertext reads only as an RSA-OAEP part of 256 bytes (RSA-2048)") {
		t.Errorf("AES-256 under RSA-3072: %+v", d.Problems)
	}
	if d := b256.Describe(k2048); d.SizeCheck != "ok" || d.ModulusCheck != "ok" || len(d.Problems) != 0 {
		t.Errorf("AES-256 under RSA-2048: %+v", d)
	}
	// An RSA part not below the modulus was not made with this KEK.
	ff := *b256
	ff.Ciphertext = bytes.Repeat([]byte{0xff}, len(b256.Ciphertext))
	if d := ff.Describe(k2048); d.SizeCheck != "ok" || d.ModulusCheck != "failed" || len(d.Problems) != 1 || !strings.Contains(d.Problems[0], "not below its modulus") {
		t.Errorf("0xff.. under RSA-2048: %+v", d)
	}
	// A length that reads with no size at all.
	nofit := *b256
	nofit.Ciphertext = make([]byte, 320)
	if d := nofit.Describe(k4096); d.SizeCheck != "mismatch" || len(d.Problems) != 1 || !strings.Contains(d.Problems[0], "whole ciphertext is 320 bytes, which leaves no room") {
		t.Errorf("320 bytes under RSA-4096: %+v", d.Problems)
	}
	if d := nofit.Describe(k2048); d.SizeCheck != "mismatch" || len(d.Problems) != 1 || !strings.Contains(d.Problems[0], "leaves 64 bytes of AES-KWP in the 320-byte ciphertext, a length no supported target type wraps to") {
		t.Errorf("320 bytes under RSA-2048: %+v", d.Problems)
	}
	if d.Digest != b.Describe(nil).Digest || d.Digest.Hex() == "" {
		t.Error("digest depends on the KEK")
	}
	if d := b.Describe(nil); len(d.Readings) != 2 || len(d.Layouts) != 2 || d.SizeCheck != "" {
		t.Errorf("no KEK: %+v", d)
	}
}

func TestLayouts(t *testing.T) {
	// Every supported target under every KEK size is recognised. Under one
	// KEK size only EC curves can share a length (their PKCS#8 encodings
	// range from minimal to full); RSA and AES lengths stay unique.
	for _, kb := range kekBits {
		for _, r := range plaintextRanges {
			for _, n := range []int{r.lo, r.hi} {
				ls := Layouts(kb/8 + KWPLen(n))
				found := false
				for _, l := range ls {
					if l.KEKBits != kb {
						continue
					}
					found = slices.Contains(l.Targets, r.name)
					if !strings.HasPrefix(r.name, "EC ") && len(l.Targets) != 1 {
						t.Errorf("RSA-%d / %s (%d bytes) shares its length: %+v", kb, r.name, n, l)
					}
				}
				if !found {
					t.Errorf("RSA-%d / %s (%d bytes): %+v", kb, r.name, n, ls)
				}
			}
		}
	}
	if ls := Layouts(256 + 64); len(ls) != 0 {
		t.Errorf("320 bytes: %+v", ls)
	}
}

func TestBlobValidate(t *testing.T) {
	kek := kekFromFile(t, vectorsDir+"/kek-rsa2048.pem") // no kid
	ct := make([]byte, 256+40)
	if err := NewBlob(kek, ct, "g").Validate(); err == nil || !strings.Contains(err.Error(), `no "header.kid"`) && !strings.Contains(err.Error(), "invalid kid: empty") {
		t.Errorf("blob without kid: %v", err)
	}
	kek.Kid = testKid("kek-rsa2048")
	if err := NewBlob(kek, ct, "g").Validate(); err != nil {
		t.Errorf("valid blob: %v", err)
	}
	if err := NewBlob(kek, ct[:100], "g").Validate(); err == nil {
		t.Error("short ciphertext validated")
	}
	if err := NewBlob(kek, ct, "bad\x01gen").Validate(); err == nil {
		t.Error("control character in generator validated")
	}
}
