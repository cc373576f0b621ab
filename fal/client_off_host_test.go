package fal

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/clocktest"
	"github.com/easelhq/easel/internal/logtest"
	"github.com/easelhq/easel/internal/logthrottle"
)

type offHostBundle struct {
	client   *Client
	requests chan recordedRequest
	// queue is the client's QueueURL; host is its host:port.
	queue, host string
	// foreign records what reaches the other host, which must be nothing.
	foreign chan recordedRequest
	// foreignHost is the other host's host:port.
	foreignHost string
	logs        *logtest.Buffer
	clock       *clocktest.Clock
}

// setupOffHost starts the queue host (answering respond) and another host,
// and a client configured with queue(server URL) as its QueueURL.
func setupOffHost(t *testing.T, queue func(serverURL string) string, respond http.HandlerFunc) *offHostBundle {
	t.Helper()
	record := func(requests chan recordedRequest, respond http.HandlerFunc) *httptest.Server {
		server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests <- recordedRequest{Method: r.Method, Path: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery, Header: r.Header.Clone()}
			respond(w, r)
		}))
		t.Cleanup(server.Close)
		return server
	}
	b := &offHostBundle{requests: make(chan recordedRequest, 10), foreign: make(chan recordedRequest, 10),
		logs: &logtest.Buffer{}, clock: clocktest.New()}
	server := record(b.requests, respond)
	other := record(b.foreign, respondJSON(http.StatusOK, `{"status":"COMPLETED"}`))
	b.queue = queue(server.URL)
	b.host = server.Listener.Addr().String()
	b.foreignHost = other.Listener.Addr().String()
	b.client = NewClient(ClientConfig{QueueURL: b.queue, Key: testFalKey, HTTPClient: server.Client(),
		Logger:            slog.New(slog.NewJSONHandler(b.logs, nil)),
		offHostLogOptions: []logthrottle.Option{logthrottle.WithClock(b.clock.Now)}})
	return b
}

func (b *offHostBundle) lastRequest(t *testing.T) recordedRequest {
	t.Helper()
	select {
	case req := <-b.requests:
		return req
	default:
		require.FailNow(t, "the queue host got no request")
		return recordedRequest{}
	}
}

// A URL fal returned on another host than the queue's (its backup host
// queue.falrun.com, say) is replaced by the URL built from the request id
// on the queue host: the key never goes elsewhere, and polling, fetching
// and cancelling still reach the request.
func TestClientReplacesURLsOffQueueHost(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		// queue is the QueueURL given the server's URL.
		queue func(serverURL string) string
		// url is the URL fal returned, given the test's hosts, without the
		// operation's suffix.
		url func(b *offHostBundle) string
		// wantPath is the request's path on the queue host.
		wantPath string
	}{
		{
			name:     "fal's backup host",
			url:      func(*offHostBundle) string { return "https://queue.falrun.com/fal-ai/fooocus/requests/r1" },
			wantPath: "/fal-ai/fooocus/requests/r1",
		},
		{
			name:     "another host that answers",
			url:      func(b *offHostBundle) string { return "http://" + b.foreignHost + "/fal-ai/fooocus/requests/r1" },
			wantPath: "/fal-ai/fooocus/requests/r1",
		},
		{
			name: "localhost for 127.0.0.1",
			url: func(b *offHostBundle) string {
				return "http://" + strings.Replace(b.host, "127.0.0.1", "localhost", 1) + "/fal-ai/fooocus/requests/r1"
			},
			wantPath: "/fal-ai/fooocus/requests/r1",
		},
		{
			name:     "https on the queue's http host",
			url:      func(b *offHostBundle) string { return "https://" + b.host + "/fal-ai/fooocus/requests/r1" },
			wantPath: "/fal-ai/fooocus/requests/r1",
		},
		{
			name: "the full endpoint id, an escaped plain request id and a query",
			url: func(*offHostBundle) string {
				return "https://queue.falrun.com/fal-ai/fooocus/image-prompt/requests/a%2Db_c.d~e?x=1"
			},
			wantPath: "/fal-ai/fooocus/requests/a-b_c.d~e",
		},
		{
			name:     "a workflow",
			url:      func(*offHostBundle) string { return "https://queue.falrun.com/workflows/acme/pipeline/run/requests/r1" },
			wantPath: "/workflows/acme/pipeline/requests/r1",
		},
		{
			name:     "under the queue URL's path",
			queue:    func(serverURL string) string { return serverURL + "/fal/queue" },
			url:      func(*offHostBundle) string { return "https://queue.falrun.com/fal/queue/fal-ai/fooocus/requests/r1" },
			wantPath: "/fal/queue/fal-ai/fooocus/requests/r1",
		},
		{
			name:     "not under the queue URL's path",
			queue:    func(serverURL string) string { return serverURL + "/fal/queue" },
			url:      func(*offHostBundle) string { return "https://queue.falrun.com/fal-ai/fooocus/requests/r1" },
			wantPath: "/fal/queue/fal-ai/fooocus/requests/r1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			queue := tt.queue
			if queue == nil {
				queue = func(serverURL string) string { return serverURL }
			}
			b := setupOffHost(t, queue, func(w http.ResponseWriter, r *http.Request) {
				switch {
				case strings.HasSuffix(r.URL.Path, "/status"):
					respondJSON(http.StatusOK, `{"status":"COMPLETED","request_id":"r1"}`)(w, r)
				case strings.HasSuffix(r.URL.Path, "/cancel"):
					respondJSON(http.StatusBadRequest, `{"status":"ALREADY_COMPLETED"}`)(w, r)
				default:
					respondJSON(http.StatusOK, `{"images":[]}`)(w, r)
				}
			})
			ctx := context.Background()
			base := tt.url(b)
			path, query, _ := strings.Cut(base, "?")
			withQuery := func(suffix string) string {
				if query == "" {
					return path + suffix
				}
				return path + suffix + "?" + query
			}

			status, err := b.client.Status(ctx, withQuery("/status"))
			require.NoError(t, err)
			require.Equal(t, StatusCompleted, status.Status)
			req := b.lastRequest(t)
			require.Equal(t, http.MethodGet, req.Method)
			require.Equal(t, tt.wantPath+"/status", req.Path)
			require.Equal(t, "logs=1", req.RawQuery)
			require.Equal(t, "Key "+testFalKey, req.Header.Get("Authorization"))

			output, err := b.client.Result(ctx, withQuery(""))
			require.NoError(t, err)
			require.JSONEq(t, `{"images":[]}`, string(output))
			require.Equal(t, tt.wantPath, b.lastRequest(t).Path)

			outcome, err := b.client.Cancel(ctx, withQuery("/cancel"))
			require.NoError(t, err)
			require.Equal(t, CancelAlreadyCompleted, outcome)
			req = b.lastRequest(t)
			require.Equal(t, http.MethodPut, req.Method)
			require.Equal(t, tt.wantPath+"/cancel", req.Path)

			require.Empty(t, b.foreign, "nothing, and so no key, sent to the other host")
			lines := b.logs.Lines(t, offHostMessage)
			require.Len(t, lines, 1, "one WARN for the three calls, within ten minutes")
			require.Equal(t, "WARN", lines[0]["level"])
			require.Equal(t, "status", lines[0]["op"])
			require.Equal(t, strings.TrimSuffix(b.queue, "/fal/queue"), lines[0]["queue_host"])
			require.Contains(t, path, lines[0]["url_host"])
			require.NotContains(t, b.logs.String(), testFalKey)
		})
	}
}

const offHostMessage = "fal returned a URL off the queue host; the key is not sent there, the request is asked about on the queue host instead"

// A URL off the queue host is warned of at most once every ten minutes per
// host, with the count of calls the line stands for: the reconciler asks
// about a stored URL at every run.
func TestClientOffHostWarningIsThrottled(t *testing.T) {
	t.Parallel()
	b := setupOffHost(t, func(serverURL string) string { return serverURL },
		respondJSON(http.StatusAccepted, `{"status":"IN_QUEUE"}`))
	ctx := context.Background()
	backup := "https://queue.falrun.com/fal-ai/fooocus/requests/r1/status"
	other := "https://queue.example/fal-ai/fooocus/requests/r1/status"

	for range 3 {
		_, err := b.client.Status(ctx, backup)
		require.NoError(t, err)
	}
	_, err := b.client.Status(ctx, other)
	require.NoError(t, err)
	b.clock.Advance(offHostWarnEvery)
	_, err = b.client.Status(ctx, backup)
	require.NoError(t, err)

	type line struct {
		Level   string `json:"level"`
		Msg     string `json:"msg"`
		URLHost string `json:"url_host"`
		Calls   int    `json:"calls"`
	}
	require.Equal(t, []line{
		{"WARN", offHostMessage, "https://queue.falrun.com", 1},
		{"WARN", offHostMessage, "https://queue.example", 1},
		{"WARN", offHostMessage, "https://queue.falrun.com", 3},
	}, logtest.Decode[line](t, b.logs))
}

// An explicit default port is the queue host itself: the URL is used as it
// is, with no warning.
func TestClientDefaultPortIsTheQueueHost(t *testing.T) {
	t.Parallel()

	tests := []struct {
		queue, url string
	}{
		{"https://queue.fal.run", "https://queue.fal.run:443/fal-ai/fooocus/requests/r1/status"},
		{"https://queue.fal.run:443", "https://queue.fal.run/fal-ai/fooocus/requests/r1/status"},
		{"https://QUEUE.fal.run", "https://queue.fal.run:443/fal-ai/fooocus/requests/r1/status"},
		{"http://queue.example", "http://queue.example:80/fal-ai/fooocus/requests/r1/status"},
		{"http://queue.example:80/", "http://queue.example/fal-ai/fooocus/requests/r1/status"},
	}
	for _, tt := range tests {
		t.Run(tt.queue+" "+tt.url, func(t *testing.T) {
			t.Parallel()
			requests := make(chan *http.Request, 1)
			logs := &logtest.Buffer{}
			client := NewClient(ClientConfig{QueueURL: tt.queue, Key: testFalKey,
				Logger: slog.New(slog.NewJSONHandler(logs, nil)),
				HTTPClient: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
					requests <- r
					return &http.Response{StatusCode: http.StatusAccepted, Header: http.Header{"Content-Type": {"application/json"}},
						Body: io.NopCloser(strings.NewReader(`{"status":"IN_QUEUE"}`)), Request: r}, nil
				})}})

			_, err := client.Status(context.Background(), tt.url)
			require.NoError(t, err)
			req := <-requests
			require.Equal(t, tt.url+"?logs=1", req.URL.String(), "sent where fal said")
			require.Equal(t, "Key "+testFalKey, req.Header.Get("Authorization"))
			require.Empty(t, logs.String(), "no warning")
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
