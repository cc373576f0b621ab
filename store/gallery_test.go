package store_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

// galleryFixture inserts n generations created a minute apart, oldest first,
// and returns their ids newest first: the gallery's order.
func (b *testBundle) galleryFixture(t *testing.T, n int) []uuid.UUID {
	t.Helper()
	base := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	ids := make([]uuid.UUID, n)
	for i := range n {
		g := b.insert(t, "")
		_, err := b.pool.Exec(b.ctx, `UPDATE generations SET created_at = $2 WHERE id = $1`, g.ID, base.Add(time.Duration(i)*time.Minute))
		require.NoError(t, err)
		ids[n-1-i] = g.ID
	}
	return ids
}

func galleryIDs(items []store.GalleryItem) []uuid.UUID {
	ids := make([]uuid.UUID, len(items))
	for i, item := range items {
		ids[i] = item.ID
	}
	return ids
}

func TestListGalleryPages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ids := b.galleryFixture(t, 5)

	first, more, err := store.ListGallery(b.ctx, b.pool, store.GalleryParams{Limit: 2})
	require.NoError(t, err)
	require.True(t, more)
	require.Equal(t, ids[:2], galleryIDs(first))

	cursor := first[1].Cursor()
	second, more, err := store.ListGallery(b.ctx, b.pool, store.GalleryParams{Before: &cursor, Limit: 2})
	require.NoError(t, err)
	require.True(t, more)
	require.Equal(t, ids[2:4], galleryIDs(second))

	cursor = second[1].Cursor()
	last, more, err := store.ListGallery(b.ctx, b.pool, store.GalleryParams{Before: &cursor, Limit: 2})
	require.NoError(t, err)
	require.False(t, more)
	require.Equal(t, ids[4:], galleryIDs(last))

	// Back towards newer rows: still newest first within the page.
	cursor = last[0].Cursor()
	back, more, err := store.ListGallery(b.ctx, b.pool, store.GalleryParams{After: &cursor, Limit: 2})
	require.NoError(t, err)
	require.True(t, more)
	require.Equal(t, ids[2:4], galleryIDs(back))

	cursor = back[0].Cursor()
	back, more, err = store.ListGallery(b.ctx, b.pool, store.GalleryParams{After: &cursor, Limit: 2})
	require.NoError(t, err)
	require.False(t, more)
	require.Equal(t, ids[:2], galleryIDs(back))
}

func TestListGalleryFirstImageAndStatus(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ids := b.galleryFixture(t, 3)
	completed, failed := ids[0], ids[1]

	require.True(t, b.complete(t, completed, store.Completion{FalRequestID: "req-1", Images: []store.Image{
		{Position: 1, URL: "https://x/1.png", NSFW: ptr(true)},
		{Position: 0, URL: "https://x/0.png", ContentType: "image/png", FileSize: 10, Width: 8, Height: 16},
	}}))
	_, err := store.Fail(b.ctx, b.pool, failed, "fal_rejected", "no")
	require.NoError(t, err)

	items, more, err := store.ListGallery(b.ctx, b.pool, store.GalleryParams{Limit: 10})
	require.NoError(t, err)
	require.False(t, more)
	require.Len(t, items, 3)

	require.Equal(t, store.StatusCompleted, items[0].Status)
	require.Equal(t, "a cat", items[0].Prompt)
	require.Equal(t, 2, items[0].ImageCount)
	require.Equal(t, ptr(true), items[0].HasNSFW, "any NSFW image flags the generation")
	require.True(t, items[0].Flagged())
	require.False(t, items[0].NSFWUnknown())
	require.NotNil(t, items[0].FinishedAt)
	require.Equal(t, &store.Image{Position: 0, URL: "https://x/0.png", ContentType: "image/png", FileSize: 10, Width: 8, Height: 16},
		items[0].FirstImage, "the image at position 0, whatever the insert order")

	require.Equal(t, store.StatusFailed, items[1].Status)
	require.Equal(t, "fal_rejected", items[1].ErrorCode)
	require.Nil(t, items[1].FirstImage)

	require.Equal(t, store.StatusQueued, items[2].Status)
	require.Nil(t, items[2].FinishedAt)
	require.Nil(t, items[2].HasNSFW)
	require.False(t, items[2].NSFWUnknown(), "not completed: no image's flag is unknown")

	only, _, err := store.ListGallery(b.ctx, b.pool, store.GalleryParams{Status: store.StatusFailed, Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{failed}, galleryIDs(only))

	_, _, err = store.ListGallery(b.ctx, b.pool, store.GalleryParams{})
	require.ErrorContains(t, err, "limit 0 must be positive")
}

// has_nsfw reads back as it is stored, unknown included: an unknown flag is
// never read as clean.
func TestListGalleryNSFW(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ids := b.galleryFixture(t, 3)
	flagged, unknown, clean := ids[0], ids[1], ids[2]

	require.True(t, b.complete(t, flagged, store.Completion{FalRequestID: "req-1", Images: []store.Image{
		{Position: 0, URL: "https://x/0.png", NSFW: ptr(false)}, {Position: 1, URL: "https://x/1.png"}, {Position: 2, URL: "https://x/2.png", NSFW: ptr(true)},
	}}))
	require.True(t, b.complete(t, unknown, store.Completion{FalRequestID: "req-2", Images: []store.Image{
		{Position: 0, URL: "https://x/0.png", NSFW: ptr(false)}, {Position: 1, URL: "https://x/1.png"},
	}}))
	require.True(t, b.complete(t, clean, store.Completion{FalRequestID: "req-3", Images: []store.Image{
		{Position: 0, URL: "https://x/0.png", NSFW: ptr(false)},
	}}))

	items, _, err := store.ListGallery(b.ctx, b.pool, store.GalleryParams{Limit: 10})
	require.NoError(t, err)
	require.Equal(t, ids, galleryIDs(items))
	for _, tt := range []struct {
		item                     store.GalleryItem
		want                     *bool
		wantFlagged, wantUnknown bool
	}{
		{item: items[0], want: ptr(true), wantFlagged: true},
		{item: items[1], want: nil, wantUnknown: true},
		{item: items[2], want: ptr(false)},
	} {
		require.Equal(t, tt.want, tt.item.HasNSFW, tt.item.ID)
		require.Equal(t, tt.wantFlagged, tt.item.Flagged(), tt.item.ID)
		require.Equal(t, tt.wantUnknown, tt.item.NSFWUnknown(), tt.item.ID)
	}
}

func TestListReceivedWebhooks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := b.insert(t, "")

	for _, e := range []store.WebhookEvent{
		{GenerationID: &g.ID, FalRequestID: "req-1", Body: []byte("{}"), BodySize: 2, SignatureValid: true, Outcome: store.OutcomeApplied},
		{GenerationID: &g.ID, Body: []byte("x"), BodySize: 1, SignatureError: "bad signature", Outcome: store.OutcomeBadSignature},
	} {
		_, err := store.InsertWebhookEvent(b.ctx, b.pool, e)
		require.NoError(t, err)
	}

	events, err := store.ListReceivedWebhooks(b.ctx, b.pool, g.ID, 10)
	require.NoError(t, err)
	require.Len(t, events, 2)
	require.Equal(t, "req-1", events[0].FalRequestID)
	require.True(t, events[0].SignatureValid)
	require.Equal(t, store.OutcomeApplied, events[0].Outcome)
	require.Equal(t, 2, events[0].BodySize)
	require.False(t, events[1].SignatureValid)
	require.Equal(t, "bad signature", events[1].SignatureError)
	require.Equal(t, store.OutcomeBadSignature, events[1].Outcome)

	limited, err := store.ListReceivedWebhooks(b.ctx, b.pool, g.ID, 1)
	require.NoError(t, err)
	require.Equal(t, events[:1], limited)
}

// A tile carries the prompt's first 200 characters, as GalleryItem.Prompt
// says, counted in characters rather than bytes.
func TestListGalleryCutsPrompt(t *testing.T) {
	t.Parallel()
	b := setup(t)
	prompt := strings.Repeat("é", 250)
	g, err := store.InsertGeneration(b.ctx, b.pool, store.InsertGenerationParams{
		ID: uuid.Must(uuid.NewV7()), Client: "tests", EndpointID: "fal-ai/fooocus/image-prompt",
		Input: json.RawMessage(`{"prompt":"` + prompt + `"}`), Priority: 2, Seed: "1",
	})
	require.NoError(t, err)

	items, _, err := store.ListGallery(b.ctx, b.pool, store.GalleryParams{Limit: 1})
	require.NoError(t, err)
	require.Len(t, items, 1)
	require.Equal(t, g.ID, items[0].ID)
	require.Equal(t, prompt[:len("é")*200], items[0].Prompt)
}
