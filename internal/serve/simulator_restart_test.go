package serve_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/internal/logtest"
	"github.com/easelhq/easel/store"
)

// slowSimulator never finishes a request while a test runs, so that its
// generations stay submitted.
var slowSimulator = falsim.Config{Latency: falsim.Latency{Min: time.Hour, Max: time.Hour}}

// generationOutcome is what GET /v1/generations/{id} says of how a
// generation ended.
type generationOutcome struct {
	Status string `json:"status"`
	Error  *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (b *testBundle) outcome(t *testing.T, id string) generationOutcome {
	t.Helper()
	status, body := b.do(t, http.MethodGet, "/v1/generations/"+id, nil, nil)
	require.Equal(t, http.StatusOK, status, string(body))
	var o generationOutcome
	require.NoError(t, json.Unmarshal(body, &o))
	return o
}

func (b *testBundle) awaitOutcome(t *testing.T, id string, done func(generationOutcome) bool) generationOutcome {
	t.Helper()
	var o generationOutcome
	require.Eventually(t, func() bool {
		o = b.outcome(t, id)
		return done(o)
	}, 30*time.Second, 20*time.Millisecond)
	return o
}

func isSubmitted(o generationOutcome) bool { return o.Status == "submitted" }
func isFinished(o generationOutcome) bool  { return o.Status != "queued" && o.Status != "submitted" }

// requireLeftOnSimulator checks that the generation is still submitted,
// with nothing noted against it.
func (b *testBundle) requireLeftOnSimulator(t *testing.T, id string) {
	t.Helper()
	o := b.outcome(t, id)
	require.Equal(t, "submitted", o.Status)
	require.Nil(t, o.Error)
}

// requireSimulatorRestarted checks that the generation failed because the
// simulator at queueHost, which had its request, stopped.
func requireSimulatorRestarted(t *testing.T, o generationOutcome, queueHost string) {
	t.Helper()
	require.Equal(t, "failed", o.Status)
	require.NotNil(t, o.Error)
	require.Equal(t, store.ErrorCodeSimulatorRestarted, o.Error.Code)
	require.Contains(t, o.Error.Message, "fal simulator at "+queueHost+", which no longer runs")
	require.Contains(t, o.Error.Message, "nothing was billed")
}

// queueHost is the fal queue host:port generation id was submitted to.
func (b *testBundle) queueHost(t *testing.T, id string) string {
	t.Helper()
	var statusURL string
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT fal_status_url FROM generations WHERE id = $1`, id).Scan(&statusURL))
	u, err := url.Parse(statusURL)
	require.NoError(t, err)
	return u.Host
}

// The generations an in-process simulator holds when easel serve stops are
// failed simulator_restarted as it stops, rather than timing out 30 minutes
// later; those of another live easel serve's simulator on the same
// database are left alone, by a start and by a stop.
func TestStoppedSimulatorsGenerationsFail(t *testing.T) {
	t.Parallel()
	databaseURL := dbtest.URL(t)
	cfg := testConfig(t, databaseURL)
	cfg.Simulator = &slowSimulator

	first := start(t, cfg, &logtest.Buffer{})
	orphans := make([]string, 3)
	for i := range orphans {
		orphans[i] = first.enqueue(t, exampleInput).ID
		first.awaitOutcome(t, orphans[i], isSubmitted)
	}
	firstHost := first.queueHost(t, orphans[0])

	// A second process starting while the first runs leaves its
	// generations alone: its sweep has run by the time it is ready.
	second := start(t, cfg, &logtest.Buffer{})
	for _, id := range orphans {
		second.requireLeftOnSimulator(t, id)
	}

	require.NoError(t, first.shutdown())
	for _, id := range orphans {
		requireSimulatorRestarted(t, second.outcome(t, id), firstHost)
	}

	// The second process is now the only one submitting: to its own
	// simulator, which a third process starting and stopping leaves alone.
	live := second.enqueue(t, exampleInput).ID
	second.awaitOutcome(t, live, isSubmitted)
	require.NotEqual(t, firstHost, second.queueHost(t, live))
	third := start(t, cfg, &logtest.Buffer{})
	third.requireLeftOnSimulator(t, live)
	require.NoError(t, third.shutdown())
	second.requireLeftOnSimulator(t, live)
}

// deadAddress returns a loopback address that refuses connections until the
// test ends: a socket bound to it and never listening, which keeps any
// other from taking the port.
func deadAddress(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	require.NoError(t, err)
	t.Cleanup(func() { _ = syscall.Close(fd) })
	require.NoError(t, syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	sa, err := syscall.Getsockname(fd)
	require.NoError(t, err)
	return fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}

// recordSubmitted records generation id as the submit worker does when the
// fal queue at queueHost accepts it.
func recordSubmitted(t *testing.T, pool *pgxpool.Pool, queueHost string) string {
	t.Helper()
	return recordSubmittedTo(t, pool, "http://"+queueHost)
}

// recordSubmittedTo is recordSubmitted for a fal queue at queueURL.
func recordSubmittedTo(t *testing.T, pool *pgxpool.Pool, queueURL string) string {
	t.Helper()
	ctx := context.Background()
	g, err := store.InsertGeneration(ctx, pool, store.InsertGenerationParams{
		ID: uuid.Must(uuid.NewV7()), Client: "anonymous", EndpointID: "fal-ai/fooocus/image-prompt",
		Input: json.RawMessage(exampleInput), Priority: 2,
	})
	require.NoError(t, err)
	_, err = store.MarkSubmitting(ctx, pool, g.ID)
	require.NoError(t, err)
	requestID := uuid.NewString()
	request := queueURL + "/fal-ai/fooocus/requests/" + requestID
	_, err = store.RecordSubmitted(ctx, pool, g.ID, store.Submission{
		RequestID: requestID, StatusURL: request + "/status", ResponseURL: request, CancelURL: request + "/cancel",
	})
	require.NoError(t, err)
	return g.ID.String()
}

// What an easel serve killed before its shutdown could fail leaves on its
// simulator is failed by the next start; a live easel serve's simulator,
// even one whose address does not answer from here (another container
// sharing the database), is left alone. (A database used with fal refuses
// the start: fal_mode_guard_test.go.)
func TestStartFailsWhatAKilledSimulatorLeft(t *testing.T) {
	t.Parallel()
	databaseURL := dbtest.URL(t)
	pool, err := pgxpool.New(context.Background(), databaseURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	killed := deadAddress(t)
	orphans := []string{recordSubmitted(t, pool, killed), recordSubmitted(t, pool, killed)}
	elsewhere := deadAddress(t)
	ofElsewhere := recordSubmitted(t, pool, elsewhere)
	conn, err := pool.Acquire(context.Background())
	require.NoError(t, err)
	t.Cleanup(conn.Release)
	require.NoError(t, store.HoldSimulator(context.Background(), conn, elsewhere), "as the easel serve running it does")

	cfg := testConfig(t, databaseURL)
	cfg.Simulator = &slowSimulator
	logs := &logtest.Buffer{}
	b := start(t, cfg, logs)

	for _, id := range orphans {
		requireSimulatorRestarted(t, b.awaitOutcome(t, id, isFinished), killed)
	}
	b.requireLeftOnSimulator(t, ofElsewhere)

	// One line says how many were failed, and why.
	var lines []map[string]any
	for _, line := range logs.Records(t) {
		if strings.Contains(line["msg"].(string), "fal simulators that no longer run") {
			lines = append(lines, line)
		}
	}
	require.Len(t, lines, 1)
	require.Equal(t, "WARN", lines[0]["level"])
	require.EqualValues(t, len(orphans), lines[0]["generations"])
	require.Equal(t, store.ErrorCodeSimulatorRestarted, lines[0]["error_code"])
	require.Equal(t, []any{killed}, lines[0]["fal_queue_hosts"])
	require.Equal(t, []any{elsewhere}, lines[0]["left_to_live_simulators"])
}
