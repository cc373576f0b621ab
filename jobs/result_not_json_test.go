package jobs_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/store"
)

// garbledResult is fal's queue as the simulator answers it, except that
// every result is fetched, by fal's client, from a server answering 200
// with body: a proxy's error page, a body cut short.
type garbledResult struct {
	fal.Queue
	// client asks server, which answers every request with the body.
	client *fal.Client
	server *httptest.Server
}

func newGarbledResult(t *testing.T, queue fal.Queue, body string) garbledResult {
	t.Helper()
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(server.Close)
	return garbledResult{Queue: queue, client: fal.NewClient(fal.ClientConfig{QueueURL: server.URL, Key: "test-key"}), server: server}
}

// Result asks the garbling server for the result at responseURL's path:
// the client sends its key only to its own queue host.
func (g garbledResult) Result(ctx context.Context, responseURL string) (json.RawMessage, error) {
	u, err := url.Parse(responseURL)
	if err != nil {
		return nil, err
	}
	return g.client.Result(ctx, g.server.URL+u.Path)
}

// fal completed the request, and likely billed it, but answered its result
// with a body that is not JSON: asking again would get the same bytes until
// the result was called unavailable, the body lost. The generation fails
// invalid_output at once instead, the body kept in polled_results, logged
// once at ERROR. An empty body, which holds nothing to keep, is asked for
// again.
func TestResultNotJSON(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		body string
		// wantMessage is the failed generation's error_message; "" for a
		// body that leaves it submitted.
		wantMessage string
	}{
		{name: "an error page", body: "<html><body>502 Bad Gateway</body></html>", wantMessage: "decode fal output: not a JSON object"},
		{
			name: "cut short", body: `{"images": [{"url": "https://v3.fal.media/files/x/a.png"`,
			wantMessage: "decode fal output: unexpected end of JSON input",
		},
		{name: "empty", body: "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, falsim.Config{WebhookDropRate: 1}) // fal finishes at once, and its webhook is lost
			logs := &lockedBuffer{}
			b.cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			gen := b.submitted(t)
			b.awaitCompletedAtFal(t, 1)

			b.cfg.Fal, b.cfg.PollAfter = newGarbledResult(t, b.fal, tt.body), time.Nanosecond
			b.reconcile(t)

			got := b.generation(t, gen.ID)
			results, err := store.ListPolledResults(b.ctx, b.pool, gen.ID)
			require.NoError(t, err)
			require.Empty(t, b.images(t, gen.ID))
			if tt.wantMessage == "" {
				require.Equal(t, store.StatusSubmitted, got.Status, "asked again at the next run")
				require.Equal(t, store.ErrorCodeResultUnavailable, *got.ErrorCode)
				require.Contains(t, *got.ErrorMessage, "fal result: response is empty")
				require.Empty(t, results)
				require.NotContains(t, logs.String(), "level=ERROR")
				return
			}

			require.Equal(t, store.StatusFailed, got.Status)
			require.Equal(t, store.ErrorCodeInvalidOutput, *got.ErrorCode)
			require.Equal(t, tt.wantMessage, *got.ErrorMessage)
			require.Len(t, results, 1)
			require.Equal(t, *gen.FalRequestID, results[0].FalRequestID)
			require.Equal(t, fal.WebhookStatusOK, results[0].Status)
			require.Equal(t, store.OutcomeApplied, results[0].Outcome)
			require.Equal(t, tt.body, string(results[0].Body), "fal's body is kept as it came")

			line := logs.line(t, "level=ERROR")
			require.Contains(t, line, "generation_id="+gen.ID.String())
			require.Contains(t, line, "error_code=invalid_output")
			require.Contains(t, line, "polled_results")
			require.Equal(t, 1, strings.Count(logs.String(), "level=ERROR"), logs.String())
		})
	}
}
