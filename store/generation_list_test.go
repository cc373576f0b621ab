package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

// insertAt inserts a queued generation of client created at createdAt.
func (b *testBundle) insertAt(t *testing.T, client string, createdAt time.Time) *store.Generation {
	t.Helper()
	g, err := store.InsertGeneration(b.ctx, b.pool, store.InsertGenerationParams{
		ID: uuid.Must(uuid.NewV7()), Client: client, EndpointID: "fal-ai/fooocus/image-prompt",
		Input: json.RawMessage(`{"prompt":"a cat"}`), Priority: 2,
	})
	require.NoError(t, err)
	_, err = b.pool.Exec(b.ctx, `UPDATE generations SET created_at = $2 WHERE id = $1`, g.ID, createdAt)
	require.NoError(t, err)
	g.CreatedAt = createdAt
	return g
}

// list pages through every generation matching p, requiring that each page
// but the last is full.
func (b *testBundle) list(t *testing.T, p store.ListGenerationsParams) []uuid.UUID {
	t.Helper()
	var ids []uuid.UUID
	for {
		page, next, err := store.ListGenerations(b.ctx, b.pool, p)
		require.NoError(t, err)
		for _, g := range page {
			ids = append(ids, g.ID)
		}
		if next == nil {
			return ids
		}
		require.Len(t, page, p.Limit)
		p.After = next
	}
}

func TestListGenerationsFilters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	// Oldest first: a1 completed clean, b1 completed with an NSFW image,
	// a2 failed, b2 submitted, a3 queued, d1 completed with an image whose
	// flag is unknown.
	a1 := b.insertAt(t, "alpha", base)
	require.True(t, b.complete(t, a1.ID, store.Completion{Images: []store.Image{{URL: "https://x/1.png", NSFW: ptr(false)}}}))
	b1 := b.insertAt(t, "beta", base.Add(time.Hour))
	require.True(t, b.complete(t, b1.ID, store.Completion{Images: []store.Image{{URL: "https://x/2.png", NSFW: ptr(true)}}}))
	a2 := b.insertAt(t, "alpha", base.Add(2*time.Hour))
	_, err := store.Fail(b.ctx, b.pool, a2.ID, "fal_validation", "bad input")
	require.NoError(t, err)
	b2 := b.insertAt(t, "beta", base.Add(3*time.Hour))
	_, err = store.RecordSubmitted(b.ctx, b.pool, b2.ID, store.Submission{RequestID: "req-b2"})
	require.NoError(t, err)
	a3 := b.insertAt(t, "alpha", base.Add(4*time.Hour))
	d1 := b.insertAt(t, "delta", base.Add(5*time.Hour))
	require.True(t, b.complete(t, d1.ID, store.Completion{Images: []store.Image{{URL: "https://x/3.png"}}}))

	yes, no := true, false
	tests := []struct {
		name   string
		params store.ListGenerationsParams
		want   []*store.Generation
	}{
		{"all newest first", store.ListGenerationsParams{}, []*store.Generation{d1, a3, b2, a2, b1, a1}},
		{"one status", store.ListGenerationsParams{Statuses: []store.Status{store.StatusCompleted}}, []*store.Generation{d1, b1, a1}},
		{"several statuses", store.ListGenerationsParams{Statuses: []store.Status{store.StatusQueued, store.StatusFailed}},
			[]*store.Generation{a3, a2}},
		{"client", store.ListGenerationsParams{Client: "beta"}, []*store.Generation{b2, b1}},
		{"unknown client", store.ListGenerationsParams{Client: "gamma"}, nil},
		{"since is inclusive", store.ListGenerationsParams{Since: base.Add(2 * time.Hour)}, []*store.Generation{d1, a3, b2, a2}},
		{"until is exclusive", store.ListGenerationsParams{Until: base.Add(2 * time.Hour)}, []*store.Generation{b1, a1}},
		{"since and until", store.ListGenerationsParams{Since: base.Add(time.Hour), Until: base.Add(3 * time.Hour)},
			[]*store.Generation{a2, b1}},
		{"has nsfw", store.ListGenerationsParams{HasNSFW: &yes}, []*store.Generation{b1}},
		{"has no nsfw means completed clean", store.ListGenerationsParams{HasNSFW: &no}, []*store.Generation{a1}},
		{"unknown flags are neither", store.ListGenerationsParams{Client: "delta", HasNSFW: &no}, nil},
		{"unknown flags are neither, flagged", store.ListGenerationsParams{Client: "delta", HasNSFW: &yes}, nil},
		{"has no nsfw and not completed", store.ListGenerationsParams{HasNSFW: &no,
			Statuses: []store.Status{store.StatusFailed, store.StatusQueued}}, nil},
		{"all filters", store.ListGenerationsParams{Statuses: []store.Status{store.StatusCompleted, store.StatusFailed},
			Client: "alpha", Since: base, Until: base.Add(4 * time.Hour), HasNSFW: &no}, []*store.Generation{a1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want := make([]uuid.UUID, len(tc.want))
			for i, g := range tc.want {
				want[i] = g.ID
			}
			tc.params.Limit = 2
			got := b.list(t, tc.params)
			if len(want) == 0 {
				require.Empty(t, got)
				return
			}
			require.Equal(t, want, got)
		})
	}
}

func TestListGenerationsPagesThroughTies(t *testing.T) {
	t.Parallel()
	b := setup(t)
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	// Rows created in one transaction share created_at; id breaks the tie.
	var want []uuid.UUID
	for i := range 7 {
		g := b.insertAt(t, "alpha", base.Add(time.Duration(i/3)*time.Microsecond))
		want = append(want, g.ID)
	}
	// Newest first: the later timestamp groups first, higher ids first within one.
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT array_agg(id ORDER BY created_at DESC, id DESC) FROM generations`).Scan(&want))

	for limit := 1; limit <= 8; limit++ {
		require.Equal(t, want, b.list(t, store.ListGenerationsParams{Limit: limit}), "limit %d", limit)
	}

	page, next, err := store.ListGenerations(b.ctx, b.pool, store.ListGenerationsParams{Limit: 7})
	require.NoError(t, err)
	require.Len(t, page, 7)
	require.Nil(t, next, "an exactly full last page has no next cursor")
}

func TestListGenerationsStableUnderConcurrentInserts(t *testing.T) {
	t.Parallel()
	b := setup(t)

	past := time.Now().Add(-time.Hour)
	var existing []uuid.UUID
	for i := range 30 {
		// Pairs share a timestamp so that ties straddle page boundaries.
		g := b.insertAt(t, "alpha", past.Add(time.Duration(i/2)*time.Second))
		existing = append(existing, g.ID)
	}
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT array_agg(id ORDER BY created_at DESC, id DESC) FROM generations`).Scan(&existing))

	// A writer inserts generations the whole time the reader pages: each
	// insert runs while the reader fetches a page, and the reader takes one
	// before fetching the next.
	ctx, stop := context.WithCancel(b.ctx)
	inserted := make(chan uuid.UUID)
	writerDone := make(chan error, 1)
	go func() {
		for {
			g, err := store.InsertGeneration(ctx, b.pool, store.InsertGenerationParams{
				ID: uuid.Must(uuid.NewV7()), Client: "alpha", EndpointID: "fal-ai/fooocus/image-prompt",
				Input: json.RawMessage(`{"prompt":"a dog"}`), Priority: 2,
			})
			if ctx.Err() != nil {
				writerDone <- nil
				return
			}
			if err != nil {
				writerDone <- err
				return
			}
			select {
			case inserted <- g.ID:
			case <-ctx.Done():
			}
		}
	}()

	var pages, newRows []uuid.UUID
	var after *store.GenerationCursor
	for {
		page, next, err := store.ListGenerations(b.ctx, b.pool, store.ListGenerationsParams{Limit: 4, After: after})
		require.NoError(t, err)
		for _, g := range page {
			pages = append(pages, g.ID)
		}
		if next == nil {
			break
		}
		after = next
		newRows = append(newRows, <-inserted)
	}
	stop()
	require.NoError(t, <-writerDone)
	require.NotEmpty(t, newRows)

	// Page 1 may hold rows the writer inserted before it was read; after
	// them come exactly the rows that existed, once each, in order.
	seen := map[uuid.UUID]bool{}
	for _, id := range pages {
		require.False(t, seen[id], "%s listed twice", id)
		seen[id] = true
	}
	onFirstPage := len(pages) - len(existing)
	require.GreaterOrEqual(t, onFirstPage, 0)
	require.Equal(t, existing, pages[onFirstPage:])

	// Every row inserted meanwhile is newer: a fresh listing shows them
	// before the existing ones.
	all := b.list(t, store.ListGenerationsParams{Limit: 50})
	require.Equal(t, existing, all[len(all)-len(existing):])
	require.Subset(t, all[:len(all)-len(existing)], newRows)
}

func TestListGenerationsRejectsNonPositiveLimit(t *testing.T) {
	t.Parallel()
	b := setup(t)

	_, _, err := store.ListGenerations(b.ctx, b.pool, store.ListGenerationsParams{})
	require.ErrorContains(t, err, "limit 0 must be positive")
}

func TestListImagesOf(t *testing.T) {
	t.Parallel()
	b := setup(t)

	two := b.insert(t, "")
	require.True(t, b.complete(t, two.ID, store.Completion{Images: []store.Image{
		{Position: 1, URL: "https://x/two-1.png", NSFW: ptr(true)},
		{Position: 0, URL: "https://x/two-0.png", Width: 1024, Height: 768},
	}}))
	one := b.insert(t, "")
	require.True(t, b.complete(t, one.ID, store.Completion{Images: []store.Image{{URL: "https://x/one.png"}}}))
	none := b.insert(t, "")

	images, err := store.ListImagesOf(b.ctx, b.pool, []uuid.UUID{two.ID, one.ID, none.ID})
	require.NoError(t, err)
	require.Equal(t, map[uuid.UUID][]store.Image{
		two.ID: {{Position: 0, URL: "https://x/two-0.png", Width: 1024, Height: 768}, {Position: 1, URL: "https://x/two-1.png", NSFW: ptr(true)}},
		one.ID: {{URL: "https://x/one.png"}},
	}, images)

	images, err = store.ListImagesOf(b.ctx, b.pool, nil)
	require.NoError(t, err)
	require.Empty(t, images)
}
