package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
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

// Finishing a generation notifies nothing from within its transaction: a
// transaction that NOTIFYs takes a database-wide lock from its commit until
// its WAL flush, so finishing commits could not share a flush. The callers
// announce it after the commit (notify.Publisher).
func TestFinishingNotifiesNothingInItsTransaction(t *testing.T) {
	t.Parallel()
	b := setup(t)
	conn := b.listen(t)

	failed, cancelled, completed, stranded := b.insert(t, ""), b.insert(t, ""), b.insert(t, ""), b.insert(t, "")
	_, err := store.Fail(b.ctx, b.pool, failed.ID, "fal_server_error", "500")
	require.NoError(t, err)
	_, err = store.Cancel(b.ctx, b.pool, cancelled.ID, "by client")
	require.NoError(t, err)
	require.True(t, b.complete(t, completed.ID, store.Completion{Images: []store.Image{{URL: "https://x/1.png"}}}))
	ids, err := store.FailJobless(b.ctx, b.pool, "submit_generation", -time.Hour, 10, "job_lost", "gone")
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{stranded.ID}, ids)

	// Notifications arrive in commit order: the marker, sent last, comes
	// first only if nothing was sent before it.
	_, err = b.pool.Exec(b.ctx, `SELECT pg_notify($1, 'marker')`, store.GenerationFinishedChannel)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	n, err := conn.WaitForNotification(ctx)
	require.NoError(t, err)
	require.Equal(t, "marker", n.Payload)
}

// has_nsfw and nsfw_image_count say what fal's flags say and no more: an
// unknown flag (nil) is never counted as clean. has_nsfw is known once an
// image is flagged; nsfw_image_count is unknown as soon as one flag is, so
// that rates over the known values are exact.
func TestCompleteCountsNSFWImages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	yes, no := ptr(true), ptr(false)

	tests := []struct {
		name        string
		nsfw        []*bool
		wantHasNSFW *bool
		wantCount   *int
	}{
		{"none flagged", []*bool{no, no}, ptr(false), ptr(0)},
		{"some flagged", []*bool{yes, no, yes}, ptr(true), ptr(2)},
		{"no images", nil, ptr(false), ptr(0)},
		{"all unknown", []*bool{nil, nil}, nil, nil},
		{"unknown among clean", []*bool{no, nil}, nil, nil},
		{"unknown beside flagged", []*bool{yes, nil}, ptr(true), nil},
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

			var (
				hasNSFW    *bool
				imageCount int
				nsfwCount  *int
			)
			require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT has_nsfw, image_count, nsfw_image_count FROM generations WHERE id = $1`,
				g.ID).Scan(&hasNSFW, &imageCount, &nsfwCount))
			require.Equal(t, tc.wantHasNSFW, hasNSFW)
			require.Equal(t, len(tc.nsfw), imageCount)
			require.Equal(t, tc.wantCount, nsfwCount)

			got, err := store.GetGeneration(b.ctx, b.pool, g.ID)
			require.NoError(t, err)
			require.Equal(t, tc.wantHasNSFW, got.HasNSFW)
			stored, err := store.ListImages(b.ctx, b.pool, g.ID)
			require.NoError(t, err)
			require.Len(t, stored, len(tc.nsfw))
			for i, im := range stored {
				require.Equal(t, tc.nsfw[i], im.NSFW, "image %d keeps its flag, unknown included", i)
			}
			byGeneration, err := store.ListImagesOf(b.ctx, b.pool, []uuid.UUID{g.ID})
			require.NoError(t, err)
			require.Len(t, byGeneration[g.ID], len(tc.nsfw))
			for i, im := range byGeneration[g.ID] {
				require.Equal(t, tc.nsfw[i], im.NSFW, "the page's query reads image %d's flag alike", i)
			}
		})
	}
}
