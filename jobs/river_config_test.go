package jobs_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/internal/metricstest"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/metrics"
	"github.com/easelhq/easel/store"
)

// metrics cannot import jobs, so it names River's queues itself; this keeps
// its list in step with the queues River works, each of which must read 0
// rather than absent when empty.
func TestRiverConfigQueuesHaveMetrics(t *testing.T) {
	t.Parallel()
	queues := jobs.RiverConfig(jobs.Config{}, river.NewWorkers()).Queues
	require.NotEmpty(t, queues)

	s := metricstest.Scrape(t, metrics.New(dbtest.Pool(t), metrics.Config{}).Handler())
	for queue := range queues {
		for _, state := range []string{"available", "scheduled", "retryable", "running", "pending"} {
			series := `easel_river_jobs{queue="` + queue + `",state="` + state + `"}`
			require.Contains(t, s, series)
			require.Equal(t, 0.0, s[series], series)
		}
	}
}

// A client whose workers could not run is refused with an error naming the
// field, rather than left to fail each generation once started.
func TestNewRiverClientRefusesBrokenConfig(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	falClient := fal.NewClient(fal.ClientConfig{QueueURL: "http://127.0.0.1:1", Key: "test-key"})
	valid := func(change func(*jobs.Config)) jobs.Config {
		cfg := jobs.Config{Fal: falClient, PublicURL: "https://easel.example.com", Logger: slog.New(slog.DiscardHandler)}
		change(&cfg)
		return cfg
	}
	for _, tt := range []struct {
		name    string
		nilPool bool
		cfg     jobs.Config
		wantErr []string // empty: accepted
	}{
		{name: "valid", cfg: valid(func(*jobs.Config) {})},
		{name: "public URL with a path and a trailing slash", cfg: valid(func(c *jobs.Config) { c.PublicURL = "http://10.0.0.7:8080/easel/" })},
		{name: "zero durations and limits mean the defaults", cfg: valid(func(c *jobs.Config) { c.MaxWorkers, c.PollAfter, c.Limits = 0, 0, store.InflightLimits{} })},
		{name: "nil pool", nilPool: true, cfg: valid(func(*jobs.Config) {}), wantErr: []string{"pool is nil"}},
		{name: "nil Fal", cfg: valid(func(c *jobs.Config) { c.Fal = nil }), wantErr: []string{"Config.Fal is nil"}},
		{name: "nil *fal.Client", cfg: valid(func(c *jobs.Config) { c.Fal = (*fal.Client)(nil) }), wantErr: []string{"Config.Fal is nil"}},
		{name: "empty public URL", cfg: valid(func(c *jobs.Config) { c.PublicURL = "" }), wantErr: []string{"Config.PublicURL is empty"}},
		{name: "relative public URL", cfg: valid(func(c *jobs.Config) { c.PublicURL = "/easel" }), wantErr: []string{`Config.PublicURL "/easel" is not an absolute http(s) URL`}},
		{name: "public URL without scheme", cfg: valid(func(c *jobs.Config) { c.PublicURL = "easel.example.com" }), wantErr: []string{`Config.PublicURL "easel.example.com"`}},
		{name: "public URL not http", cfg: valid(func(c *jobs.Config) { c.PublicURL = "ftp://easel.example.com" }), wantErr: []string{`Config.PublicURL "ftp://easel.example.com"`}},
		{name: "public URL with a query", cfg: valid(func(c *jobs.Config) { c.PublicURL = "https://easel.example.com?x=1" }), wantErr: []string{"Config.PublicURL"}},
		{name: "negative MaxWorkers", cfg: valid(func(c *jobs.Config) { c.MaxWorkers = -1 }), wantErr: []string{"Config.MaxWorkers is negative"}},
		{name: "negative global limit", cfg: valid(func(c *jobs.Config) { c.Limits.Global = -1 }), wantErr: []string{"Config.Limits.Global is negative"}},
		{name: "negative client limit", cfg: valid(func(c *jobs.Config) { c.Limits.PerClient = -1 }), wantErr: []string{"Config.Limits.PerClient is negative"}},
		{name: "negative PollAfter", cfg: valid(func(c *jobs.Config) { c.PollAfter = -time.Second }), wantErr: []string{"Config.PollAfter is negative"}},
		{name: "negative Timeout", cfg: valid(func(c *jobs.Config) { c.Timeout = -time.Second }), wantErr: []string{"Config.Timeout is negative"}},
		{name: "negative RescueAfter", cfg: valid(func(c *jobs.Config) { c.RescueAfter = -time.Second }), wantErr: []string{"Config.RescueAfter is negative"}},
		{name: "zero Config names every missing field", nilPool: true, cfg: jobs.Config{}, wantErr: []string{"pool is nil", "Config.Fal is nil", "Config.PublicURL is empty"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := pool
			if tt.nilPool {
				p = nil
			}
			client, err := jobs.NewRiverClient(p, tt.cfg)
			if len(tt.wantErr) == 0 {
				require.NoError(t, err)
				require.NotNil(t, client)
				return
			}
			require.Nil(t, client)
			for _, want := range tt.wantErr {
				require.ErrorContains(t, err, want)
			}
		})
	}
}

// A PublicURL ending in a slash still gives fal a webhook URL the receiver
// routes: the generation completes through its webhook.
func TestNewRiverClientTrimsPublicURL(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{})
	b.cfg.PublicURL += "/"
	finished := b.listenFinished(t)
	gen := b.enqueue(t, "tests")

	client, err := jobs.NewRiverClient(b.pool, b.cfg)
	require.NoError(t, err)
	require.NoError(t, client.Start(b.ctx))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, client.Stop(ctx))
	})

	require.Equal(t, gen.ID, finished(t))
	require.Equal(t, store.StatusCompleted, b.generation(t, gen.ID).Status)
	require.Equal(t, []store.WebhookOutcome{store.OutcomeApplied}, b.outcomes(t, gen.ID))
}
