// Package buildinfo reads what Go recorded about the easel binary when it
// was built, and what the build set at link time, for easel version, easel
// serve's start-up log and the easel_build_info metric alike.
package buildinfo

import (
	"cmp"
	"runtime/debug"
)

// Devel is the version of a binary built without one recorded, as for a
// build without version control information and without the Docker
// image's VERSION build argument.
const Devel = "(devel)"

// version and revision are set at link time, by the Dockerfile's VERSION
// and REVISION build arguments:
//
//	go build -ldflags "-X github.com/easelhq/easel/internal/buildinfo.version=v1.4.0 -X github.com/easelhq/easel/internal/buildinfo.revision=<commit>"
//
// The image's build context has no .git, so Go records neither; set, they
// replace what Go recorded.
var (
	version  string
	revision string
)

// Info is what a build recorded.
type Info struct {
	// Version is the one set at link time, else the main module's
	// version, else Devel.
	Version string
	// Revision is the commit built from, Time its time (RFC 3339), and
	// Modified whether the working tree had uncommitted changes; Revision
	// and Time are empty when Go recorded none, and a revision set at link
	// time comes without either.
	Revision string
	Time     string
	Modified bool
}

// Read returns the running binary's Info: what Go recorded, with what the
// build set at link time in its place.
func Read() Info {
	bi, _ := debug.ReadBuildInfo() // nil without build information, which From says
	return From(bi).linked(version, revision)
}

// linked is info with version and revision, those set at link time, in
// place of what Go recorded, each when set. A revision set replaces the
// commit's time and modified too, which describe the commit Go recorded,
// not this one.
func (info Info) linked(version, revision string) Info {
	if version != "" {
		info.Version = version
	}
	if revision != "" && revision != info.Revision {
		info.Revision, info.Time, info.Modified = revision, "", false
	}
	return info
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
