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

// unknownFlagCases are completed generations, by their images' NSFW flags,
// nil being unknown (fal sent none for the image).
func unknownFlagCases() [][]*bool {
	yes, no := true, false
	return [][]*bool{
		{&no, &no},  // clean
		{&yes, &no}, // flagged
		{nil, &no},  // unknown: has_nsfw and nsfw_image_count NULL
		{&yes, nil}, // flagged, an image unknown: has_nsfw true, nsfw_image_count NULL
	}
}

// completeWithFlags completes a generation of client today whose images
// have flags, through store.Complete, which sets has_nsfw and
// nsfw_image_count.
func (b *testBundle) completeWithFlags(t *testing.T, client string, flags []*bool) {
	t.Helper()
	id := uuid.Must(uuid.NewV7())
	_, err := b.pool.Exec(b.ctx, `INSERT INTO generations (id, client, status, endpoint_id, input)
		VALUES ($1, $2, 'submitted', 'fal-ai/fooocus/image-prompt', '{}')`, id, client)
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

func recipe(t *testing.T, name string) history.Recipe {
	t.Helper()
	for _, r := range history.Recipes() {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no recipe %s", name)
	return history.Recipe{}
}

// An image whose NSFW flag fal did not send is never counted as clean by
// the NSFW rate: a generation with one is left out of the rates whose
// value it leaves unknown, and counted in unknown_generations.
func TestNSFWRateLeavesUnknownFlagsOut(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, flags := range unknownFlagCases() {
		b.completeWithFlags(t, "alpha", flags)
	}

	require.JSONEq(t, fmt.Sprintf(`[{"day": %q, "generations": 4, "nsfw_generations": 2, "nsfw_generation_rate": 0.6667,
		"images": 8, "nsfw_images": 1, "nsfw_image_rate": 0.25, "unknown_generations": 2}]`, b.today.Format("2006-01-02")),
		b.run(t, recipe(t, "nsfw_rate_per_day")))
}

// Images per client counts a generation with an unknown flag in its images
// but not in nsfw_images, where it would pass for clean, and says how many
// there are in nsfw_unknown_generations; a client all of whose generations
// have one has no NSFW count (null), not 0.
func TestImagesPerClientCountsUnknownFlags(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, flags := range unknownFlagCases() {
		b.completeWithFlags(t, "alpha", flags)
	}
	b.completeWithFlags(t, "beta", []*bool{nil})

	day := b.today.Format("2006-01-02")
	require.JSONEq(t, fmt.Sprintf(`[
		{"day": %[1]q, "client": "alpha", "generations": 4, "images": 8, "nsfw_images": 1, "nsfw_unknown_generations": 2},
		{"day": %[1]q, "client": "beta", "generations": 1, "images": 1, "nsfw_images": null, "nsfw_unknown_generations": 1}
	]`, day), b.run(t, recipe(t, "images_per_client_per_day")))
}
