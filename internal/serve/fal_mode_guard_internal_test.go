package serve

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/internal/logtest"
	"github.com/easelhq/easel/store"
)

func TestFalModeOf(t *testing.T) {
	t.Parallel()
	const fal = "https://queue.fal.run"
	for _, tt := range []struct {
		name string
		cfg  Config
		want store.FalMode
	}{
		{name: "in-process simulator", cfg: Config{Role: RoleAll}, want: store.FalModeSimulator},
		{name: "in-process simulator, workers only", cfg: Config{Role: RoleWorker}, want: store.FalModeSimulator},
		{name: "no FAL_KEY, API only: submits nothing", cfg: Config{Role: RoleAPI}},
		{name: "fal", cfg: Config{Role: RoleAll, FalKey: "k", FalQueueURL: fal}, want: store.FalModeFal},
		{name: "fal, API only", cfg: Config{Role: RoleAPI, FalKey: "k", FalQueueURL: fal}, want: store.FalModeFal},
		{name: "fal, workers only", cfg: Config{Role: RoleWorker, FalKey: "k", FalQueueURL: fal}, want: store.FalModeFal},
		{name: "a simulator over http, off loopback", cfg: Config{Role: RoleAll, FalKey: "k", FalQueueURL: "http://sim:9090"}},
		{name: "a simulator over https, off loopback", cfg: Config{Role: RoleAll, FalKey: "k", FalQueueURL: "https://sim:9090"}, want: store.FalModeFal},
		{name: "easel sim", cfg: Config{Role: RoleAll, FalKey: "k", FalQueueURL: "http://127.0.0.1:9090"}},
		{name: "easel sim by name", cfg: Config{Role: RoleAll, FalKey: "k", FalQueueURL: "http://localhost:9090"}},
		{name: "easel sim on IPv6", cfg: Config{Role: RoleAll, FalKey: "k", FalQueueURL: "http://[::1]:9090"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, falModeOf(tt.cfg))
		})
	}
}

// recordSubmission inserts a generation whose submission was recorded with
// statusURL and responseURL.
func recordSubmission(t *testing.T, pool *pgxpool.Pool, statusURL, responseURL string) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	g, err := store.InsertGeneration(ctx, pool, store.InsertGenerationParams{
		ID: uuid.Must(uuid.NewV7()), Client: "tests", EndpointID: "fal-ai/fooocus/image-prompt", Input: json.RawMessage(`{}`), Priority: 2,
	})
	require.NoError(t, err)
	_, err = store.MarkSubmitting(ctx, pool, g.ID)
	require.NoError(t, err)
	_, err = store.RecordSubmitted(ctx, pool, g.ID, store.Submission{
		RequestID: uuid.NewString(), StatusURL: statusURL, ResponseURL: responseURL, CancelURL: responseURL + "/cancel",
	})
	require.NoError(t, err)
	return g.ID
}

// store.FirstFalSubmission, in SQL, reads fal's addresses as falURL
// reads FAL_QUEUE_URL: a generation on an address a process on fal would
// use is found, and one on an address of a simulator setup is not.
func TestFirstFalSubmissionAgreesWithFalURL(t *testing.T) {
	t.Parallel()
	for _, base := range []string{
		"http://127.0.0.1:40001", "http://127.0.0.1", "http://127.3.2.1:80", "http://localhost:9090", "HTTP://LocalHost:9090",
		"http://sim.localhost:9090", "http://[::1]:9090", "http://[0:0:0:0:0:0:0:1]:9090", "http://[::ffff:127.0.0.1]:9090",
		"http://user:password@127.0.0.1:9090",
		"https://queue.fal.run", "http://sim:9090", "http://10.0.0.7:9090", "http://0.0.0.0:9090", "http://[2001:db8::1]:9090",
		"http://127.0.0.1.nip.io:9090", "http://localhost.example.com", "http://127.0.0.1:1@queue.fal.run",
		"https://127.0.0.1:9090", "HTTPS://LocalHost:9090", "https://[::1]:9090", "https://user:password@127.0.0.1:9090",
		"https://sim:9090", "HTTPS://QUEUE.FAL.RUN", "https://127.0.0.1.nip.io:9090", "https://127.0.0.1:1@queue.fal.run",
	} {
		t.Run(base, func(t *testing.T) {
			t.Parallel()
			pool := dbtest.Pool(t)
			ctx := context.Background()
			request := base + "/fal-ai/fooocus/requests/" + uuid.NewString()
			want := recordSubmission(t, pool, request+"/status", request)

			id, got, found, err := store.FirstFalSubmission(ctx, pool)
			require.NoError(t, err)
			require.Equal(t, falURL(base), found)
			if found {
				require.Equal(t, want, id)
				require.Equal(t, request+"/status", got)
			}
		})
	}

	// Either URL off loopback is enough.
	t.Run("response URL only", func(t *testing.T) {
		t.Parallel()
		pool := dbtest.Pool(t)
		_ = recordSubmission(t, pool, "http://127.0.0.1:40002/r/status", "http://127.0.0.1:40002/r")
		want := recordSubmission(t, pool, "http://127.0.0.1:40003/r/status", "https://queue.fal.run/r")
		id, got, found, err := store.FirstFalSubmission(context.Background(), pool)
		require.NoError(t, err)
		require.True(t, found)
		require.Equal(t, want, id)
		require.Equal(t, "https://queue.fal.run/r", got)
	})
}

// A process's mode lock, like its simulator's, is taken again on a new
// session when Postgres ends its own, and released with the lease.
func TestFalModeLockTakenAgain(t *testing.T) {
	t.Parallel()
	for _, mode := range []store.FalMode{store.FalModeFal, store.FalModeSimulator} {
		t.Run(map[store.FalMode]string{store.FalModeFal: "fal", store.FalModeSimulator: "simulator"}[mode], func(t *testing.T) {
			t.Parallel()
			pool := dbtest.Pool(t)
			ctx := context.Background()
			logs := &logtest.Buffer{}
			session, err := openLease(ctx, pool, slog.New(slog.NewJSONHandler(logs, nil)), neverStops(t))
			require.NoError(t, err)
			t.Cleanup(session.release)
			require.NoError(t, guardFalMode(ctx, session, mode))
			session.hold(ctx)
			endLeaseSession(t, pool, logs, func() []int { return falModeHolders(t, pool, mode) })
			require.Contains(t, logs.String(), "lost the database session holding the lock saying that an easel serve")
			running, err := store.FalModeRunning(ctx, pool, mode)
			require.NoError(t, err)
			require.True(t, running)

			session.release()
			require.Empty(t, falModeHolders(t, pool, mode))
			running, err = store.FalModeRunning(ctx, pool, mode)
			require.NoError(t, err)
			require.False(t, running)
			require.NotContains(t, logs.String(), "could not release")
		})
	}
}
