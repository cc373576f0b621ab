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

	gens := &generationSource{rows: rows, now: now}
	imagesOf := map[uuid.UUID]int16{}
	nsfwOf := map[uuid.UUID]int16{}
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
		require.Equal(t, g.status == "completed", g.nsfwImageCount != nil, "nsfw_image_count is set on completion only, as store.Complete does")
		if g.imageCount != nil {
			imagesOf[g.id] = *g.imageCount
			nsfwOf[g.id] = *g.nsfwImageCount
			require.Equal(t, *g.nsfwImageCount > 0, *g.hasNSFW, "has_nsfw is nsfw_image_count > 0")
		}
		values, err := gens.Values()
		require.NoError(t, err)
		require.Len(t, values, 19, "one value per COPY column")
	}
	require.Greater(t, statuses["completed"], statuses["failed"])
	require.Positive(t, statuses["failed"])
	require.Positive(t, statuses["cancelled"])

	images := &imageSource{rows: rows, now: now}
	seen, seenNSFW := map[uuid.UUID]int16{}, map[uuid.UUID]int16{}
	for images.Next() {
		id := images.current.id
		require.Equal(t, seen[id], images.position, "positions count up from 0")
		seen[id]++
		values, err := images.Values()
		require.NoError(t, err)
		require.Len(t, values, 9, "one value per COPY column")
		if nsfw, ok := values[8].(bool); ok && nsfw {
			seenNSFW[id]++
		}
	}
	require.Equal(t, len(imagesOf), len(seen), "every completed generation, and only those, has images")
	flagged := 0
	for id, n := range imagesOf {
		require.Equal(t, n, seen[id], "image_count matches the images")
		require.Equal(t, nsfwOf[id], seenNSFW[id], "nsfw_image_count matches the images flagged")
		if nsfwOf[id] > 0 {
			flagged++
		}
	}
	require.Positive(t, flagged, "some generations have an NSFW image, or the NSFW recipes read nothing")
}
