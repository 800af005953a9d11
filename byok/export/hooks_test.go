package export

import "github.com/keyrite/keyrite/transcripts"

// CountCeremonyOpens makes Run count the ceremony opens in *n until the
// returned function restores it (tests in package export_test).
func CountCeremonyOpens(n *int) (restore func()) {
	orig := openCeremony
	openCeremony = func(dir string) (*transcripts.Ceremony, error) {
		*n++
		return orig(dir)
	}
	return func() { openCeremony = orig }
}
