package bench

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

func TestSeedRowsAreConsistent(t *testing.T) {
	t.Parallel()
	const rows = 5000
	now := time.Now()

	gens := &generationSource{rows: rows, now: now, progress: func(string, ...any) {}}
	imagesOf := map[uuid.UUID]int16{}
	var last time.Time
	statuses := map[string]int{}
	for gens.Next() {
		g := gens.current
		statuses[g.status]++
		require.False(t, g.createdAt.Before(last), "rows are in creation order")
		last = g.createdAt
		terminal := g.status == "completed" || g.status == "failed" || g.status == "cancelled"
		require.Equal(t, terminal, g.finishedAt != nil, "finished_at is set exactly on terminal rows (a CHECK constraint)")
		require.Equal(t, g.status == "completed", g.imageCount != nil)
		if g.imageCount != nil {
			imagesOf[g.id] = *g.imageCount
		}
		values, err := gens.Values()
		require.NoError(t, err)
		require.Len(t, values, 18, "one value per COPY column")
	}
	require.Greater(t, statuses["completed"], statuses["failed"])
	require.Positive(t, statuses["failed"])
	require.Positive(t, statuses["cancelled"])

	images := &imageSource{rows: rows, now: now}
	seen := map[uuid.UUID]int16{}
	for images.Next() {
		id := images.current.id
		require.Equal(t, seen[id], images.position, "positions count up from 0")
		seen[id]++
		values, err := images.Values()
		require.NoError(t, err)
		require.Len(t, values, 9, "one value per COPY column")
	}
	require.Equal(t, len(imagesOf), len(seen), "every completed generation, and only those, has images")
	for id, n := range imagesOf {
		require.Equal(t, n, seen[id], "image_count matches the images")
	}
}
