package store_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

// submissionTimes returns generation id's first_submitting_at and
// submitting_at.
func (b *testBundle) submissionTimes(t *testing.T, id uuid.UUID) (first, latest *time.Time) {
	t.Helper()
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT first_submitting_at, submitting_at FROM generations WHERE id = $1`, id).
		Scan(&first, &latest))
	return first, latest
}

// Every path that marks a submission stamps first_submitting_at with the
// first one's start, and none moves it later.
func TestFirstSubmittingAtIsSetOnce(t *testing.T) {
	t.Parallel()

	limits := store.InflightLimits{Global: 5}
	tests := []struct {
		name string
		mark func(b *testBundle, t *testing.T, gen *store.Generation)
	}{
		{name: "MarkSubmitting", mark: func(b *testBundle, t *testing.T, gen *store.Generation) {
			_, err := store.MarkSubmitting(b.ctx, b.pool, gen.ID)
			require.NoError(t, err)
		}},
		{name: "ReserveSubmission", mark: func(b *testBundle, t *testing.T, gen *store.Generation) {
			require.NoError(t, b.reserve(t, b.pool, gen, limits))
		}},
		{name: "ReserveFirstSubmission", mark: func(b *testBundle, t *testing.T, gen *store.Generation) {
			// Its slots exist once a reservation made them.
			warm := b.insertFor(t, "warm")
			require.NoError(t, b.reserve(t, b.pool, warm, limits))
			_, err := store.Fail(b.ctx, b.pool, warm.ID, "x", "frees its slot")
			require.NoError(t, err)
			reserved, err := store.ReserveFirstSubmission(b.ctx, b.pool, gen.ID, limits)
			require.NoError(t, err)
			require.NotNil(t, reserved)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			gen := b.insert(t, "")

			tt.mark(b, t, gen)
			first, latest := b.submissionTimes(t, gen.ID)
			require.NotNil(t, first)
			require.Equal(t, *latest, *first, "the first submission is the latest")

			// An hour later, its answer lost, it is submitted again.
			_, err := b.pool.Exec(b.ctx, `UPDATE generations SET first_submitting_at = first_submitting_at - interval '1 hour',
				submitting_at = submitting_at - interval '1 hour' WHERE id = $1`, gen.ID)
			require.NoError(t, err)
			require.NoError(t, store.RecordSubmitError(b.ctx, b.pool, gen.ID, "fal_unreachable", "unexpected EOF"))
			wantFirst, _ := b.submissionTimes(t, gen.ID)
			require.NoError(t, b.reserve(t, b.pool, gen, limits))

			first, latest = b.submissionTimes(t, gen.ID)
			require.Equal(t, *wantFirst, *first, "kept")
			require.True(t, latest.After(*first), "submitting_at is the latest submission's")
		})
	}
}

// EASEL_TIMEOUT counts from the first submission that stayed counted: one
// fal refused leaves no first_submitting_at, and the next submission stamps
// its own start, even over a stamp that a binary older than this rule left on
// a generation whose submissions fal all refused.
func TestFirstSubmittingAtSkipsRefusedAttempts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	gen := b.insert(t, "")

	_, err := store.MarkSubmitting(b.ctx, b.pool, gen.ID)
	require.NoError(t, err)
	require.NoError(t, store.RecordSubmitRefused(b.ctx, b.pool, gen.ID, "fal_rate_limited", "HTTP 429"))
	first, _ := b.submissionTimes(t, gen.ID)
	require.Nil(t, first, "fal refused the only submission")

	_, err = b.pool.Exec(b.ctx, `UPDATE generations SET first_submitting_at = now() - interval '2 hours' WHERE id = $1`, gen.ID)
	require.NoError(t, err)
	_, err = store.MarkSubmitting(b.ctx, b.pool, gen.ID)
	require.NoError(t, err)
	first, latest := b.submissionTimes(t, gen.ID)
	require.NotNil(t, first)
	require.Equal(t, *latest, *first, "the first counted submission is this one")
}

func TestCheckResubmission(t *testing.T) {
	t.Parallel()
	b := setup(t)

	tests := []struct {
		name string
		// submissions are marked, confirmed ones recorded; firstAgo and
		// latestAgo then move the first and latest submissions' starts into
		// the past, firstAgo < 0 clearing first_submitting_at, as a binary
		// older than migration 000019 left it.
		submissions, confirmed int
		firstAgo, latestAgo    time.Duration

		wantUnconfirmed  int
		wantMin, wantMax time.Duration // Wait, of an hour
		wantOverdue      bool          // of an hour
	}{
		{name: "never submitted"},
		{name: "2 unconfirmed, the latest 10 minutes ago", submissions: 2, firstAgo: 20 * time.Minute, latestAgo: 10 * time.Minute,
			wantUnconfirmed: 2, wantMin: 49 * time.Minute, wantMax: 50 * time.Minute},
		{name: "confirmed", submissions: 1, confirmed: 1, wantUnconfirmed: 0, wantMin: 59 * time.Minute, wantMax: time.Hour},
		{name: "the first 2 hours ago, the latest just now", submissions: 3, firstAgo: 2 * time.Hour,
			wantUnconfirmed: 3, wantMin: 59 * time.Minute, wantMax: time.Hour, wantOverdue: true},
		{name: "first unknown, the latest 2 hours ago", submissions: 1, firstAgo: -1, latestAgo: 2 * time.Hour,
			wantUnconfirmed: 1, wantOverdue: true},
	}
	for _, tt := range tests {
		g := b.insert(t, "")
		for range tt.submissions {
			_, err := store.MarkSubmitting(b.ctx, b.pool, g.ID)
			require.NoError(t, err, tt.name)
		}
		for range tt.confirmed {
			_, err := store.RecordSubmitted(b.ctx, b.pool, g.ID, store.Submission{RequestID: "req-" + g.ID.String()})
			require.NoError(t, err, tt.name)
		}
		_, err := b.pool.Exec(b.ctx, `UPDATE generations SET
				first_submitting_at = CASE WHEN $2::interval < interval '0' THEN NULL ELSE first_submitting_at - $2::interval END,
				submitting_at = submitting_at - $3::interval
			WHERE id = $1`, g.ID, tt.firstAgo, tt.latestAgo)
		require.NoError(t, err, tt.name)

		r, err := store.CheckResubmission(b.ctx, b.pool, g.ID, time.Hour, time.Hour)
		require.NoError(t, err, tt.name)
		require.Equal(t, tt.wantUnconfirmed, r.Unconfirmed, tt.name)
		require.GreaterOrEqual(t, r.Wait, tt.wantMin, tt.name)
		require.LessOrEqual(t, r.Wait, tt.wantMax, tt.name)
		require.Equal(t, tt.wantOverdue, r.Overdue, tt.name)
	}

	_, err := store.CheckResubmission(b.ctx, b.pool, uuid.New(), time.Hour, time.Hour)
	require.ErrorIs(t, err, store.ErrNotFound)
}
