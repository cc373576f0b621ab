package serve_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/internal/serve"
)

// testFalKey is the FAL_KEY of the processes on fal in these tests.
const testFalKey = "key-id:key-secret"

// onFal makes cfg an easel serve on fal: FAL_KEY set, FAL_QUEUE_URL not on
// loopback. TEST-NET-1, so nothing is ever sent anywhere; nothing is
// enqueued either.
func onFal(cfg *serve.Config) {
	cfg.FalKey, cfg.FalQueueURL, cfg.PublicURL = testFalKey, "https://192.0.2.1", "https://easel-test.example.com"
}

// onFalAs is onFal with role.
func onFalAs(role serve.Role) func(*serve.Config) {
	return func(cfg *serve.Config) {
		onFal(cfg)
		cfg.Role = role
	}
}

// withInProcessSimulator leaves cfg as testConfig makes it: no FAL_KEY.
func withInProcessSimulator(*serve.Config) {}

// onLocalSim makes cfg an easel serve pointed at an `easel sim` on
// loopback: a simulator setup, whatever FAL_KEY says.
func onLocalSim(cfg *serve.Config) {
	cfg.FalKey, cfg.FalQueueURL, cfg.FalJWKSURL = "sim", "http://127.0.0.1:9090", "http://127.0.0.1:9090/.well-known/jwks.json"
}

// generationsSnapshot is every generation, every column, as JSON.
func generationsSnapshot(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var snapshot string
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT coalesce(json_agg(g ORDER BY g.id), '[]')::text FROM generations g`).Scan(&snapshot))
	return snapshot
}

const (
	errFalRunning = "an easel serve with FAL_KEY is running on this database: easel serve without FAL_KEY would submit the generations queued in it " +
		"to its in-process simulator, whose images are fake; set FAL_KEY, or point DATABASE_URL at another database"
	errSimulatorRunning = "an easel serve without FAL_KEY is running on this database: its workers would submit this process's generations " +
		"to its in-process simulator, whose images are fake; stop that process, or point DATABASE_URL at another database"
)

// An easel serve without FAL_KEY refuses to start on a database with a
// generation submitted to fal, whose queued generations its workers would
// otherwise complete with the simulator's images. The refusal changes
// nothing, not even the generations left on stopped simulators, which a
// start fails; a start with FAL_KEY, as the error says, then succeeds.
func TestSimulatorRefusesADatabaseUsedWithFal(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		// stopped is how many generations were left on a stopped simulator
		// on loopback.
		stopped int
		// elsewhere is the queue URL of a generation submitted off
		// loopback, if any.
		elsewhere string
		// refusedFor is the address the error names; empty, the start
		// succeeds.
		refusedFor string
	}{
		{name: "fal.ai", elsewhere: "https://queue.fal.run", refusedFor: "https://queue.fal.run"},
		{name: "fal.ai and stopped simulators", stopped: 4, elsewhere: "https://queue.fal.run", refusedFor: "https://queue.fal.run"},
		{name: "a simulator over https off loopback, which Easel cannot tell from fal", stopped: 2, elsewhere: "https://sim:9090", refusedFor: "https://sim:9090"},
		{name: "a simulator over http off loopback, as under Docker Compose", stopped: 2, elsewhere: "http://sim:9090"},
		{name: "fal.ai, with a password in the URL", elsewhere: "https://user:hunter2@queue.fal.run", refusedFor: "https://queue.fal.run"},
		{name: "only stopped simulators", stopped: 4},
		{name: "no generations"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			databaseURL := dbtest.URL(t)
			pool, err := pgxpool.New(context.Background(), databaseURL)
			require.NoError(t, err)
			t.Cleanup(pool.Close)

			dead := deadAddress(t)
			_, port, _ := strings.Cut(dead, ":")
			stopped := map[string]string{} // generation: simulator
			for i := range tt.stopped {
				host := dead
				if i%2 == 1 {
					host = "localhost:" + port
				}
				stopped[recordSubmitted(t, pool, host)] = host
			}
			var ofFal string
			if tt.elsewhere != "" {
				ofFal = recordSubmittedTo(t, pool, tt.elsewhere)
			}
			before := generationsSnapshot(t, pool)

			cfg := testConfig(t, databaseURL)
			cfg.Simulator = &slowSimulator
			b, err := tryStart(t, cfg, io.Discard)

			if tt.refusedFor == "" {
				require.NoError(t, err)
				for id, host := range stopped {
					requireSimulatorRestarted(t, b.awaitOutcome(t, id, isFinished), host)
				}
				return
			}
			require.EqualError(t, err, fmt.Sprintf("this database is used with fal.ai (generation %s was submitted to %s): "+
				"easel serve without FAL_KEY would submit the generations queued in it to its in-process simulator, whose images are fake; "+
				"set FAL_KEY, or point DATABASE_URL at another database", ofFal, tt.refusedFor))
			require.Equal(t, before, generationsSnapshot(t, pool), "a refused start changes no generation")

			withKey := testConfig(t, databaseURL)
			onFal(&withKey)
			start(t, withKey, io.Discard)
		})
	}
}

// Processes on fal and processes on their in-process simulator never share
// a database, whichever starts first and whatever their roles: the one
// starting second refuses, until the first stops. Either shares one with
// its own kind and with processes on an `easel sim` on loopback.
func TestFalAndSimulatorNeverShareADatabase(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name              string
		running, starting func(*serve.Config)
		refused           string // Run's error; empty, the start succeeds
	}{
		{name: "fal, then the simulator", running: onFal, starting: withInProcessSimulator, refused: errFalRunning},
		{name: "fal's API, then the simulator", running: onFalAs(serve.RoleAPI), starting: withInProcessSimulator, refused: errFalRunning},
		{name: "fal's workers, then the simulator", running: onFalAs(serve.RoleWorker), starting: withInProcessSimulator, refused: errFalRunning},
		{name: "the simulator, then fal", running: withInProcessSimulator, starting: onFal, refused: errSimulatorRunning},
		{name: "the simulator, then fal's API", running: withInProcessSimulator, starting: onFalAs(serve.RoleAPI), refused: errSimulatorRunning},
		{name: "the simulator, then fal's workers", running: withInProcessSimulator, starting: onFalAs(serve.RoleWorker), refused: errSimulatorRunning},
		{name: "fal, then fal", running: onFal, starting: onFal},
		{name: "the simulator, then the simulator", running: withInProcessSimulator, starting: withInProcessSimulator},
		{name: "fal, then easel sim", running: onFal, starting: onLocalSim},
		{name: "the simulator, then easel sim", running: withInProcessSimulator, starting: onLocalSim},
		{name: "easel sim, then fal", running: onLocalSim, starting: onFal},
		{name: "easel sim, then the simulator", running: onLocalSim, starting: withInProcessSimulator},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			databaseURL := dbtest.URL(t)
			configure := func(how func(*serve.Config)) serve.Config {
				cfg := testConfig(t, databaseURL)
				how(&cfg)
				return cfg
			}
			first := start(t, configure(tt.running), io.Discard)

			_, err := tryStart(t, configure(tt.starting), io.Discard)
			if tt.refused == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tt.refused)
			require.NotContains(t, err.Error(), testFalKey)
			// The refused process left no lock behind: another like the
			// first still starts.
			second := start(t, configure(tt.running), io.Discard)

			// Once the processes of the first kind stop, their locks are
			// gone.
			require.NoError(t, first.shutdown())
			require.NoError(t, second.shutdown())
			start(t, configure(tt.starting), io.Discard)
		})
	}
}
