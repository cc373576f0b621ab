package store_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

func TestParseStatuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		values      []string
		want        []store.Status
		wantUnknown []string
	}{
		{name: "one", values: []string{"failed"}, want: []store.Status{store.StatusFailed}},
		{name: "repeated and comma-separated, each once, in order given",
			values: []string{"failed, cancelled", "queued", "failed"},
			want:   []store.Status{store.StatusFailed, store.StatusCancelled, store.StatusQueued}},
		{name: "unknown names kept as given", values: []string{"failed,Done", ""},
			want: []store.Status{store.StatusFailed}, wantUnknown: []string{"Done", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, unknown := store.ParseStatuses(tt.values)
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.wantUnknown, unknown)
		})
	}
}
