package store_test

import (
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

// An attempt is counted when it starts, by the delivery's own job only,
// and its outcome recorded without counting it again.
func TestStartAndFinishCallbackAttempt(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := b.insertWithCallback(t, "https://hooks.example.com/easel")
	_, err := store.Cancel(b.ctx, b.pool, g.ID, "cancelled")
	require.NoError(t, err)
	var id uuid.UUID
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT id FROM callback_deliveries WHERE generation_id = $1`, g.ID).Scan(&id))
	get := func() *store.CallbackDelivery {
		d, err := store.GetCallbackDelivery(b.ctx, b.pool, id)
		require.NoError(t, err)
		return d
	}

	started, err := store.StartCallbackAttempt(b.ctx, b.pool, id, 7)
	require.NoError(t, err)
	require.False(t, started, "no job yet")
	require.NoError(t, store.SetCallbackJobs(b.ctx, b.pool, []uuid.UUID{id}, []int64{7}))
	started, err = store.StartCallbackAttempt(b.ctx, b.pool, id, 8)
	require.NoError(t, err)
	require.False(t, started, "another job's")
	require.Zero(t, get().Attempts)

	started, err = store.StartCallbackAttempt(b.ctx, b.pool, id, 7)
	require.NoError(t, err)
	require.True(t, started)
	d := get()
	require.Equal(t, 1, d.Attempts)
	require.NotNil(t, d.LastAttemptAt)
	require.Contains(t, *d.LastError, "no outcome recorded")

	require.NoError(t, store.FinishCallbackAttempt(b.ctx, b.pool, id, store.CallbackAttempt{Status: 503, Error: "receiver answered 503"}))
	d = get()
	require.Equal(t, 1, d.Attempts, "counted when it started")
	require.Equal(t, 503, *d.LastStatus)
	require.Equal(t, "receiver answered 503", *d.LastError)
	require.Nil(t, d.AbandonedAt)

	started, err = store.StartCallbackAttempt(b.ctx, b.pool, id, 7)
	require.NoError(t, err)
	require.True(t, started)
	require.Nil(t, get().LastStatus, "the last outcome is not this attempt's")
	require.NoError(t, store.FinishCallbackAttempt(b.ctx, b.pool, id, store.CallbackAttempt{Status: 204, Delivered: true}))
	d = get()
	require.Equal(t, 2, d.Attempts)
	require.NotNil(t, d.DeliveredAt)
	require.Nil(t, d.LastError)

	started, err = store.StartCallbackAttempt(b.ctx, b.pool, id, 7)
	require.NoError(t, err)
	require.False(t, started, "delivered")
	require.NoError(t, store.FinishCallbackAttempt(b.ctx, b.pool, id, store.CallbackAttempt{Error: "late", Abandoned: true}))
	d = get()
	require.NotNil(t, d.DeliveredAt, "an ended delivery stays as it ended")
	require.Nil(t, d.AbandonedAt)
	require.Equal(t, 2, d.Attempts)

	started, err = store.StartCallbackAttempt(b.ctx, b.pool, uuid.New(), 7)
	require.NoError(t, err)
	require.False(t, started, "no such delivery")
}
