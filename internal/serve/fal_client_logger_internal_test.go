package serve

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

// The fal client's WARN of a URL off the queue host goes to the server's
// logger (its JSON lines, its level), not to slog.Default().
func TestFalClientWarnsOnServerLogger(t *testing.T) {
	t.Parallel()
	queue := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"status": "IN_QUEUE"}`))
	}))
	t.Cleanup(queue.Close)
	var logs bytes.Buffer
	s := &server{
		cfg:    Config{FalQueueURL: queue.URL, FalKey: "k"},
		logger: slog.New(slog.NewJSONHandler(&logs, nil)),
	}
	s.buildFalClient()
	t.Cleanup(s.cleanUp)

	_, err := s.falClient.Status(context.Background(), "https://queue.falrun.com/fal-ai/fooocus/requests/abc/status")
	require.NoError(t, err)
	require.Contains(t, logs.String(), `"url_host":"https://queue.falrun.com"`)
}
