package store_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

func TestCountPending(t *testing.T) {
	t.Parallel()
	b := setup(t)

	b.insertFor(t, "a") // queued
	submitted := b.insertFor(t, "a")
	_, err := store.MarkSubmitting(b.ctx, b.pool, submitted.ID)
	require.NoError(t, err)
	_, err = store.RecordSubmitted(b.ctx, b.pool, submitted.ID, store.Submission{RequestID: "req-1"})
	require.NoError(t, err)
	failed := b.insertFor(t, "a")
	_, err = store.Fail(b.ctx, b.pool, failed.ID, "x", "y")
	require.NoError(t, err)
	cancelled := b.insertFor(t, "a")
	_, err = store.Cancel(b.ctx, b.pool, cancelled.ID, "no longer wanted")
	require.NoError(t, err)
	b.insertFor(t, "other")

	for _, tt := range []struct {
		name   string
		client string
		limit  int
		want   int
	}{
		{name: "queued and submitted count, finished do not", client: "a", limit: 10, want: 2},
		{name: "stops at the limit", client: "a", limit: 1, want: 1},
		{name: "zero limit counts nothing", client: "a", limit: 0, want: 0},
		{name: "other client", client: "other", limit: 10, want: 1},
		{name: "unknown client", client: "nobody", limit: 10, want: 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n, err := store.CountPending(b.ctx, b.pool, tt.client, tt.limit)
			require.NoError(t, err)
			require.Equal(t, tt.want, n)
		})
	}
}
