package steps

import "github.com/keyrite/keyrite/transcripts"

// Claims are what an event records about its artifacts that an auditor
// can check against the artifacts themselves (transcripts/replay does), and
// that `keyrite byok inspect --ceremony` compares a KEK with.
type Claims struct {
	KEKKid    string // the kid of the KEK the event records
	KEKSHA256 string // the SHA-256 of that KEK's SPKI
	Target    string // the type of the key a .byok of the event wraps (RSA-2048, EC P-256, AES-256, ...)
	Quorum    string // the quorum of the security domain the event records ("M of N")
}

// ClaimsOf returns what e claims. An event of a kind this package does not
// know, or that does not parse as its kind, is read by the parameter names
// the known kinds use (kid, kek_sha256 or kek_fingerprint, target,
// quorum): "kek.inspect" in older transcripts records its KEK's kid so.
func ClaimsOf(e *transcripts.Entry) Claims {
	s, err := Parse(e)
	if err != nil || s == nil {
		r := recorded{e}
		return Claims{KEKKid: r.str("kid"), KEKSHA256: r.str("kek_sha256", "kek_fingerprint"), Target: r.str("target"), Quorum: r.str("quorum")}
	}
	switch x := s.(type) {
	case *BYOKExport:
		return Claims{KEKKid: x.Kid, KEKSHA256: x.KEKSHA256, Target: x.Target}
	case *SDRestore:
		return Claims{Quorum: x.Quorum}
	}
	return Claims{}
}
