package history_test

import (
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/history"
	"github.com/easelhq/easel/store"
)

// An image whose NSFW flag fal did not send is never counted as clean by
// the NSFW rate: a generation with one is left out of the rates whose
// value it leaves unknown, and counted in unknown_generations. Completed
// through store.Complete, which sets has_nsfw and nsfw_image_count.
func TestNSFWRateLeavesUnknownFlagsOut(t *testing.T) {
	t.Parallel()
	b := setup(t)
	yes, no := true, false

	for _, flags := range [][]*bool{
		{&no, &no},  // clean
		{&yes, &no}, // flagged
		{nil, &no},  // unknown: has_nsfw and nsfw_image_count NULL
		{&yes, nil}, // flagged, an image unknown: has_nsfw true, nsfw_image_count NULL
	} {
		id := uuid.Must(uuid.NewV7())
		_, err := b.pool.Exec(b.ctx, `INSERT INTO generations (id, client, status, endpoint_id, input)
			VALUES ($1, 'alpha', 'submitted', 'fal-ai/fooocus/image-prompt', '{}')`, id)
		require.NoError(t, err)
		images := make([]store.Image, len(flags))
		for i, flag := range flags {
			images[i] = store.Image{Position: i, URL: fmt.Sprintf("https://example.com/%s/%d.png", id, i), NSFW: flag}
		}
		require.NoError(t, pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
			_, err := store.Complete(b.ctx, tx, id, store.Completion{Images: images})
			return err
		}))
	}

	var recipe history.Recipe
	for _, r := range history.Recipes() {
		if r.Name == "nsfw_rate_per_day" {
			recipe = r
		}
	}
	require.JSONEq(t, fmt.Sprintf(`[{"day": %q, "generations": 4, "nsfw_generations": 2, "nsfw_generation_rate": 0.6667,
		"images": 8, "nsfw_images": 1, "nsfw_image_rate": 0.25, "unknown_generations": 2}]`, b.today.Format("2006-01-02")),
		b.run(t, recipe))
}
