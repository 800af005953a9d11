// Package buildinfo says which build of keyrite is running, for the
// transcript and the .byok generator field.
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"sync/atomic"
)

// Version is set at release time with -ldflags "-X .../buildinfo.Version=v1.2.3".
var Version = "v0.1.0-dev"

// Info describes the running build.
type Info struct {
	Version   string `json:"version"`
	Revision  string `json:"revision"` // VCS revision, "+dirty" when modified, or "unknown"
	GoVersion string `json:"go_version"`
}

// Read returns the build information.
func Read() Info {
	info := Info{Version: Version, Revision: "unknown", GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, dirty string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "+dirty"
				}
			}
		}
		if rev != "" {
			info.Revision = rev + dirty
		}
	}
	return info
}

// Generator is the tool's name and version as it appears in .byok files and
// transcripts.
func Generator() string { return "keyrite " + Version }

var selfTest atomic.Value // string

// SetSelfTest records, for this process, the summary of the known-answer
// tests it passed at start (package internal/selftest); transcripts add it
// to every event they record.
func SetSelfTest(summary string) { selfTest.Store(summary) }

// SelfTest returns what SetSelfTest recorded, or "".
func SelfTest() string {
	s, _ := selfTest.Load().(string)
	return s
}
