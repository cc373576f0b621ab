// Package buildinfo reads what Go recorded about the easel binary when it
// was built, for easel version and the easel_build_info metric alike.
package buildinfo

import (
	"cmp"
	"runtime/debug"
)

// Devel is the version of a binary built without one recorded, as for a
// build without version control information, such as the Docker image's.
const Devel = "(devel)"

// Info is what a build recorded.
type Info struct {
	// Version is the main module's version, or Devel.
	Version string
	// Revision is the commit built from, Time its time (RFC 3339), and
	// Modified whether the working tree had uncommitted changes; Revision
	// and Time are empty when Go recorded none.
	Revision string
	Time     string
	Modified bool
}

// Read returns the running binary's Info.
func Read() Info {
	bi, _ := debug.ReadBuildInfo() // nil without build information, which From says
	return From(bi)
}

// From returns the Info bi records; nil records none.
func From(bi *debug.BuildInfo) Info {
	info := Info{Version: Devel}
	if bi == nil {
		return info
	}
	info.Version = cmp.Or(bi.Main.Version, Devel)
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}
