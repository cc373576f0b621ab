package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

// listen returns a connection of its own listening on the finished channel.
func (b *testBundle) listen(t *testing.T) *pgx.Conn {
	t.Helper()
	conn, err := pgx.ConnectConfig(b.ctx, b.pool.Config().ConnConfig.Copy())
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	_, err = conn.Exec(b.ctx, "LISTEN "+store.GenerationFinishedChannel)
	require.NoError(t, err)
	return conn
}

func nextPayload(t *testing.T, conn *pgx.Conn) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := conn.WaitForNotification(ctx)
	require.NoError(t, err)
	require.Equal(t, store.GenerationFinishedChannel, n.Channel)
	return n.Payload
}

func TestGenerationFinishedIsNotifiedOncePerGeneration(t *testing.T) {
	t.Parallel()
	b := setup(t)
	conn := b.listen(t)

	failed, cancelled, completed, rolledBack := b.insert(t, ""), b.insert(t, ""), b.insert(t, ""), b.insert(t, "")

	// Changes short of a terminal state announce nothing.
	_, err := store.MarkSubmitting(b.ctx, b.pool, failed.ID)
	require.NoError(t, err)
	_, err = store.RecordSubmitted(b.ctx, b.pool, failed.ID, store.Submission{RequestID: "req-1"})
	require.NoError(t, err)

	changed, err := store.Fail(b.ctx, b.pool, failed.ID, "fal_server_error", "500")
	require.NoError(t, err)
	require.True(t, changed)
	require.Equal(t, failed.ID.String(), nextPayload(t, conn))

	// A finished generation is not announced again.
	changed, err = store.Cancel(b.ctx, b.pool, failed.ID, "too late")
	require.NoError(t, err)
	require.False(t, changed)

	// A transaction that rolls back announces nothing.
	errRollback := errors.New("roll back")
	err = pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
		_, err := store.Fail(b.ctx, tx, rolledBack.ID, "x", "y")
		require.NoError(t, err)
		return errRollback
	})
	require.ErrorIs(t, err, errRollback)

	_, err = store.Cancel(b.ctx, b.pool, cancelled.ID, "by client")
	require.NoError(t, err)
	require.Equal(t, cancelled.ID.String(), nextPayload(t, conn))

	require.True(t, b.complete(t, completed.ID, store.Completion{Images: []store.Image{{URL: "https://x/1.png"}}}))
	require.Equal(t, completed.ID.String(), nextPayload(t, conn))
}

func TestCompleteCountsNSFWImages(t *testing.T) {
	t.Parallel()
	b := setup(t)

	tests := []struct {
		name        string
		nsfw        []bool
		wantHasNSFW bool
		wantCount   int
	}{
		{"none flagged", []bool{false, false}, false, 0},
		{"some flagged", []bool{true, false, true}, true, 2},
		{"no images", nil, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := b.insert(t, "")
			images := make([]store.Image, len(tc.nsfw))
			for i, n := range tc.nsfw {
				images[i] = store.Image{Position: i, URL: "https://x/" + g.ID.String(), NSFW: n}
			}
			require.True(t, b.complete(t, g.ID, store.Completion{Images: images}))

			var hasNSFW bool
			var imageCount, nsfwCount int
			require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT has_nsfw, image_count, nsfw_image_count FROM generations WHERE id = $1`,
				g.ID).Scan(&hasNSFW, &imageCount, &nsfwCount))
			require.Equal(t, tc.wantHasNSFW, hasNSFW)
			require.Equal(t, len(tc.nsfw), imageCount)
			require.Equal(t, tc.wantCount, nsfwCount)
		})
	}
}
