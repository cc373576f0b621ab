package buildinfo_test

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/buildinfo"
)

func TestFrom(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		bi   *debug.BuildInfo
		want buildinfo.Info
	}{
		{name: "no build information", want: buildinfo.Info{Version: "(devel)"}},
		{name: "empty module version", bi: &debug.BuildInfo{}, want: buildinfo.Info{Version: "(devel)"}},
		{name: "a module version", bi: &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, want: buildinfo.Info{Version: "v1.4.0"}},
		{
			name: "a working tree with uncommitted changes",
			bi: &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
				{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "e3c4019aa"}, {Key: "vcs.time", Value: "2026-05-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"},
			}},
			want: buildinfo.Info{Version: "(devel)", Revision: "e3c4019aa", Time: "2026-05-01T10:00:00Z", Modified: true},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, buildinfo.From(tt.bi))
		})
	}
}

// A test binary records build information too: at least a version.
func TestRead(t *testing.T) {
	t.Parallel()
	require.NotEmpty(t, buildinfo.Read().Version)
}
