package jobs_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/store"
)

// moveURLsToBackupHost makes generation id's stored fal URLs name fal's
// backup queue host, as fal may return them, in place of the simulator's.
func (b *testBundle) moveURLsToBackupHost(t *testing.T, gen *store.Generation) {
	t.Helper()
	tag, err := b.pool.Exec(b.ctx, `
		UPDATE generations SET
			fal_status_url = regexp_replace(fal_status_url, '^http://[^/]+', 'https://queue.falrun.com'),
			fal_response_url = regexp_replace(fal_response_url, '^http://[^/]+', 'https://queue.falrun.com'),
			fal_cancel_url = regexp_replace(fal_cancel_url, '^http://[^/]+', 'https://queue.falrun.com')
		WHERE id = $1 AND fal_status_url IS NOT NULL AND fal_response_url IS NOT NULL AND fal_cancel_url IS NOT NULL`, gen.ID)
	require.NoError(t, err)
	require.EqualValues(t, 1, tag.RowsAffected())
	got := b.generation(t, gen.ID)
	require.Contains(t, *got.FalStatusURL, "https://queue.falrun.com/")
}

// A result fal finished is fetched, and a timed out request cancelled,
// though the URLs fal returned are on another host than FAL_QUEUE_URL's:
// the client asks FAL_QUEUE_URL's host about the request instead, and the
// key never leaves it.
func TestReconcilerReachesRequestWhoseURLsAreOffTheQueueHost(t *testing.T) {
	t.Parallel()

	t.Run("completes", func(t *testing.T) {
		t.Parallel()
		b := setup(t, falsim.Config{WebhookDropRate: 1})
		gen := b.enqueue(t, "tests")
		require.NoError(t, b.submit(t, gen.ID))
		b.awaitCompletedAtFal(t, 1)
		b.moveURLsToBackupHost(t, gen)

		b.cfg.PollAfter = time.Nanosecond
		b.reconcile(t)
		got := b.generation(t, gen.ID)
		require.Equal(t, store.StatusCompleted, got.Status)
		require.Len(t, b.images(t, gen.ID), 2)
	})

	t.Run("times out and cancels", func(t *testing.T) {
		t.Parallel()
		b := setup(t, falsim.Config{WebhookDropRate: 1, Latency: falsim.Latency{Min: time.Hour, Max: time.Hour}})
		gen := b.enqueue(t, "tests")
		require.NoError(t, b.submit(t, gen.ID))
		b.moveURLsToBackupHost(t, gen)

		b.cfg.Timeout = time.Nanosecond
		b.reconcile(t)
		got := b.generation(t, gen.ID)
		require.Equal(t, store.StatusFailed, got.Status)
		require.Equal(t, store.ErrorCodeTimeout, *got.ErrorCode)
		require.Equal(t, "fal did not finish within EASEL_TIMEOUT (1ns) of the submission; cancelled at fal", *got.ErrorMessage)
		require.Equal(t, "client_cancelled", b.falStatus(t, got).ErrorType, "the cancel reached fal")
	})
}
