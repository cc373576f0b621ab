package metrics

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/easelhq/easel/internal/buildinfo"
)

// newBuildInfo returns easel_build_info, 1 with the running binary's
// version, commit and Go version as labels (what easel version prints), so
// that a rollout can be followed, and a metric joined with the version
// each process runs.
func newBuildInfo(info buildinfo.Info, goVersion string) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "easel_build_info",
		Help: `1, labelled with the version of the easel binary ("(devel)" when Go recorded none), the revision (commit) it was built from (empty when Go recorded none) and the Go version it was built with.`,
		ConstLabels: prometheus.Labels{
			"version":    info.Version,
			"revision":   info.Revision,
			"go_version": goVersion,
		},
	})
	g.Set(1)
	return g
}

// buildInfo is easel_build_info of the running binary.
func buildInfo() prometheus.Collector { return newBuildInfo(buildinfo.Read(), runtime.Version()) }
