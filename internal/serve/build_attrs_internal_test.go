package serve

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/buildinfo"
)

func TestBuildAttrs(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		info buildinfo.Info
		want []any
	}{
		{name: "no commit recorded", info: buildinfo.Info{Version: buildinfo.Devel}, want: []any{"version", buildinfo.Devel}},
		{name: "commit", info: buildinfo.Info{Version: "v1.2.3", Revision: "0123abc", Time: "2025-01-02T03:04:05Z"},
			want: []any{"version", "v1.2.3", "revision", "0123abc"}},
		{name: "uncommitted changes", info: buildinfo.Info{Version: buildinfo.Devel, Revision: "0123abc", Modified: true},
			want: []any{"version", buildinfo.Devel, "revision", "0123abc", "modified", true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, buildAttrs(tt.info))
		})
	}
}
