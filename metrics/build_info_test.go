package metrics_test

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/buildinfo"
	"github.com/easelhq/easel/internal/metricstest"
)

// easel_build_info says which binary each process runs, as easel version
// does.
func TestBuildInfo(t *testing.T) {
	t.Parallel()
	b := setup(t)
	info := buildinfo.Read()

	s := metricstest.Scrape(t, b.metrics.Handler())

	series := `easel_build_info{go_version="` + runtime.Version() + `",revision="` + info.Revision + `",version="` + info.Version + `"}`
	require.Equal(t, 1.0, s[series], "no %s in %v", series, s)
}
