package bench

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

func TestGenerationOfWebhook(t *testing.T) {
	t.Parallel()
	id := uuid.New()
	tests := []struct {
		name   string
		url    string
		wantOK bool
	}{
		{name: "Easel's", url: "http://127.0.0.1:4000/webhooks/fal/" + id.String(), wantOK: true},
		{name: "UnderAPrefix", url: "https://easel.example.com/base/webhooks/fal/" + id.String(), wantOK: false},
		{name: "NotAUUID", url: "http://127.0.0.1:4000/webhooks/fal/abc", wantOK: false},
		{name: "OtherPath", url: "http://127.0.0.1:4000/elsewhere/" + id.String(), wantOK: false},
		{name: "Empty", url: "", wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := generationOfWebhook(tt.url)
			require.Equal(t, tt.wantOK, ok)
			if tt.wantOK {
				require.Equal(t, id, got)
			}
		})
	}
}

func TestAcceptancesKeepTheFirst(t *testing.T) {
	t.Parallel()
	a := newAcceptances()
	id := uuid.New()
	url := "http://127.0.0.1:4000/webhooks/fal/" + id.String()
	a.record("request-1", url)
	first, ok := a.of(id)
	require.True(t, ok)
	a.record("request-2", url) // a retry after a lost answer
	again, ok := a.of(id)
	require.True(t, ok)
	require.Equal(t, first, again)

	a.record("request-3", "http://127.0.0.1:4000/somewhere")
	require.Equal(t, 1, a.unknown)
	_, ok = a.of(uuid.New())
	require.False(t, ok)
}

func TestSubmissionDelays(t *testing.T) {
	t.Parallel()
	created := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	seen, unseen := uuid.New(), uuid.New()
	accepted := func(id uuid.UUID) (time.Time, bool) {
		if id == seen {
			return created.Add(10 * time.Millisecond), true // this process's clock
		}
		return time.Time{}, false
	}
	phases := submissionDelays([]createdRow{
		{id: seen, phase: "idle", createdAt: created},
		{id: unseen, phase: "idle", createdAt: created},
	}, accepted, 2*time.Millisecond)
	require.Len(t, phases, 1)
	require.Equal(t, 2, phases["idle"].generations)
	require.Equal(t, []time.Duration{12 * time.Millisecond}, phases["idle"].delays,
		"Postgres's clock 2 ms ahead: the acceptance was at 12 ms in its clock; the unseen generation has no delay, not 0")
}

func TestSetSubmissionFigures(t *testing.T) {
	t.Parallel()
	ms := func(ds ...int) []time.Duration {
		out := make([]time.Duration, len(ds))
		for i, d := range ds {
			out[i] = time.Duration(d) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		name         string
		phases       map[string]*phaseDelays
		wantErr      string
		want         Result
		wantWarnings int
	}{
		{
			name: "Complete",
			phases: map[string]*phaseDelays{
				"idle":  {generations: 3, delays: ms(3, 1, 2)},
				"load":  {generations: 2, delays: ms(7, 9)},
				"burst": {generations: 3, delays: ms(4, 6, 5)},
			},
			want: Result{
				EnqueueToSubmittedP50Ms: 2, EnqueueToSubmittedSamples: 3,
				LoadedEnqueueToSubmittedP50Ms: 7, LoadedEnqueueToSubmittedSamples: 2,
				BurstEnqueueToSubmittedMaxMs: 6, BurstEnqueueToSubmittedSamples: 3,
			},
		},
		{
			name: "SomeMissing",
			phases: map[string]*phaseDelays{
				"idle":  {generations: 10, delays: ms(2)},
				"load":  {generations: 2, delays: ms(7, 9)},
				"burst": {generations: 3, delays: ms(4, 6, 5)},
			},
			want: Result{
				EnqueueToSubmittedP50Ms: 2, EnqueueToSubmittedSamples: 1,
				LoadedEnqueueToSubmittedP50Ms: 7, LoadedEnqueueToSubmittedSamples: 2,
				BurstEnqueueToSubmittedMaxMs: 6, BurstEnqueueToSubmittedSamples: 3,
			},
			wantWarnings: 1,
		},
		{
			name: "NoIdleSample",
			phases: map[string]*phaseDelays{
				"idle":  {generations: 10},
				"load":  {generations: 2, delays: ms(7, 9)},
				"burst": {generations: 3, delays: ms(4, 6, 5)},
			},
			wantErr: "idle probes: the simulator reported the submission of none of their 10 generations",
		},
		{
			name:    "NoBurstAtAll",
			phases:  map[string]*phaseDelays{"idle": {generations: 1, delays: ms(1)}, "load": {generations: 1, delays: ms(1)}},
			wantErr: "idle bursts: the simulator reported the submission of none of their 0 generations",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var res Result
			err := setSubmissionFigures(&res, tt.phases)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Len(t, res.Warnings, tt.wantWarnings)
			res.Warnings = nil
			require.Equal(t, tt.want, res)
		})
	}
}
