package transcripts

import "testing"

func TestEntryArtifact(t *testing.T) {
	e := &Entry{
		Inputs:  []ArtifactRef{{Name: "in.pem", SHA256: "aa"}},
		Outputs: []ArtifactRef{{Name: "out.byok", SHA256: "bb"}},
	}
	for name, want := range map[string]string{"in.pem": "aa", "out.byok": "bb"} {
		if r, ok := e.Artifact(name); !ok || r.SHA256 != want {
			t.Errorf("Artifact(%q) = %+v, %v; want sha256 %s", name, r, ok, want)
		}
	}
	if r, ok := e.Artifact("other"); ok || r != (ArtifactRef{}) {
		t.Errorf("Artifact(other) = %+v, %v; want none", r, ok)
	}
}
