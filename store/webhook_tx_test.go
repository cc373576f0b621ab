package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

// webhookCounts is what a delivery's transaction writes besides the
// generation: its images and its event.
func (b *testBundle) webhookCounts(t *testing.T, id uuid.UUID) (images, events int) {
	t.Helper()
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		SELECT (SELECT count(*) FROM generation_images WHERE generation_id = $1),
		       (SELECT count(*) FROM webhook_events WHERE generation_id = $1)`, id).Scan(&images, &events))
	return images, events
}

func completionWrite(requestID string) store.WebhookWrite {
	return store.WebhookWrite{
		Event:     store.WebhookEvent{FalRequestID: requestID, Body: []byte(`{}`), BodySize: 2, SignatureValid: true, Outcome: store.OutcomeApplied},
		Noted:     true,
		RequestID: requestID,
		Finish: &store.Finish{Completion: &store.Completion{
			FalRequestID: requestID,
			Images:       []store.Image{{Position: 0, URL: "https://fal.media/a.png"}, {Position: 1, URL: "https://fal.media/b.png", NSFW: ptr(true)}},
		}},
	}
}

func TestWebhookTxRecordCommits(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := b.insert(t, "")

	tx, target, err := store.LockWebhookTarget(b.ctx, b.pool, g.ID, "req-1")
	require.NoError(t, err)
	require.Equal(t, store.StatusQueued, target.Status)
	finished, err := tx.Record(b.ctx, completionWrite("req-1"))
	require.NoError(t, err)
	tx.Close(b.ctx)
	tx.Close(b.ctx) // a second Close is harmless

	require.NotNil(t, finished)
	require.NotNil(t, finished.CompletedAt)
	got, err := store.GetGeneration(b.ctx, b.pool, g.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusCompleted, got.Status)
	require.Equal(t, "req-1", *got.FalRequestID)
	require.NotNil(t, got.LastWebhookAt)
	images, events := b.webhookCounts(t, g.ID)
	require.Equal(t, 2, images)
	require.Equal(t, 1, events)
}

// The COMMIT travels with the writes, so a write the database refuses must
// take the COMMIT down with it, and the row must not stay locked.
func TestWebhookTxRecordFailureCommitsNothing(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		// prepare returns the generation, already in the state the write
		// will find, and the write.
		prepare func(t *testing.T, b *testBundle) (*store.Generation, store.WebhookWrite)
		// status is the generation's status afterwards, unchanged.
		status store.Status
	}{
		{
			name: "event the database cannot store",
			prepare: func(t *testing.T, b *testBundle) (*store.Generation, store.WebhookWrite) {
				w := completionWrite("req-1")
				// jsonb cannot hold NUL: the event, queued after the finish
				// and the images, fails.
				w.Event.Headers = map[string]string{"X-Broken": "a\x00b"}
				return b.insert(t, ""), w
			},
			status: store.StatusQueued,
		},
		{
			name: "finish of a finished generation",
			prepare: func(t *testing.T, b *testBundle) (*store.Generation, store.WebhookWrite) {
				g := b.insert(t, "")
				// Without images, so that nothing but the refusal can stop
				// the write's images.
				require.True(t, b.complete(t, g.ID, store.Completion{FalRequestID: "req-0"}))
				return g, completionWrite("req-1")
			},
			status: store.StatusCompleted,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			g, write := tt.prepare(t, b)

			tx, _, err := store.LockWebhookTarget(b.ctx, b.pool, g.ID, "req-1")
			require.NoError(t, err)
			finished, err := tx.Record(b.ctx, write)
			require.Error(t, err)
			require.Contains(t, err.Error(), g.ID.String())
			require.Nil(t, finished)
			tx.Close(b.ctx)

			got, err := store.GetGeneration(b.ctx, b.pool, g.ID)
			require.NoError(t, err)
			require.Equal(t, tt.status, got.Status)
			require.Nil(t, got.LastWebhookAt, "the note rolled back with the rest")
			images, events := b.webhookCounts(t, g.ID)
			require.Zero(t, images)
			require.Zero(t, events)

			// Rolled back, not left holding the lock: the next delivery
			// locks the row at once.
			ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
			defer cancel()
			next, _, err := store.LockWebhookTarget(ctx, b.pool, g.ID, "req-1")
			require.NoError(t, err)
			next.Close(b.ctx)
		})
	}
}

func TestLockWebhookTargetUnknownGeneration(t *testing.T) {
	t.Parallel()
	b := setup(t)

	for range b.pool.Config().MaxConns + 1 {
		tx, target, err := store.LockWebhookTarget(b.ctx, b.pool, uuid.Must(uuid.NewV7()), "req-1")
		require.ErrorIs(t, err, store.ErrNotFound)
		require.Nil(t, tx)
		require.Nil(t, target)
	}
	// More lookups than the pool has connections: none was kept.
	require.Zero(t, b.pool.Stat().AcquiredConns())
}
