package main

import (
	"fmt"
	"io"
	"runtime"

	"github.com/easelhq/easel/internal/buildinfo"
	"github.com/easelhq/easel/migrations"
)

var versionHelp = help{
	usage: "version",
	about: `Prints this binary's version: the module version Go recorded when it was
built, or the Docker image's VERSION build argument ("(devel)" when there is
neither, as for a build without version control information), with the
commit it was built from when Go recorded it or the image's REVISION build
argument says it; the Go version it was built with; and the newest schema
version it migrates to, which easel migrate version compares the database's
with. easel --version prints the same.`,
}

func versionCmd(args []string, stdout io.Writer) error {
	if err := parseFlags(newFlagSet("version"), versionHelp, args, stdout); err != nil {
		return err
	}
	schema, err := migrations.Latest()
	if err != nil {
		return err
	}
	writeVersion(stdout, buildinfo.Read(), runtime.Version(), schema)
	return nil
}

// writeVersion prints the version of the binary build describes, built
// with goVersion, whose newest migration is schema.
func writeVersion(w io.Writer, build buildinfo.Info, goVersion string, schema uint) {
	fmt.Fprintf(w, "easel %s\n", build.Version)
	if rev := build.Revision; rev != "" {
		if build.Modified {
			rev += " (with uncommitted changes)"
		}
		fmt.Fprintf(w, "  commit       %s\n", rev)
	}
	if build.Time != "" {
		fmt.Fprintf(w, "  commit time  %s\n", build.Time)
	}
	fmt.Fprintf(w, "  go           %s %s/%s\n", goVersion, runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "  schema       %d\n", schema)
}
