package buildinfo

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// What the Dockerfile sets at link time replaces what Go recorded, each
// value when set.
func TestLinked(t *testing.T) {
	t.Parallel()

	recorded := Info{Version: "(devel)", Revision: "e3c4019aa", Time: "2026-05-01T10:00:00Z", Modified: true}
	tests := []struct {
		name              string
		info              Info
		version, revision string
		want              Info
	}{
		{name: "nothing set", info: recorded, want: recorded},
		{name: "the image's, Go having recorded nothing", info: Info{Version: Devel}, version: "v1.4.0", revision: "0123abc",
			want: Info{Version: "v1.4.0", Revision: "0123abc"}},
		{name: "version only", info: recorded, version: "v1.4.0",
			want: Info{Version: "v1.4.0", Revision: "e3c4019aa", Time: "2026-05-01T10:00:00Z", Modified: true}},
		{name: "another revision: the recorded commit's time and changes are not its", info: recorded, revision: "0123abc",
			want: Info{Version: "(devel)", Revision: "0123abc"}},
		{name: "the revision Go recorded", info: recorded, revision: "e3c4019aa", want: recorded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, tt.info.linked(tt.version, tt.revision))
		})
	}
}
