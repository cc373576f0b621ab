package enqueuecli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/enqueuecli"
)

// fakeAPI answers POST /v1/generations with create, and GET
// /v1/generations/{id} with get (nil: 404), counting the GETs.
type fakeAPI struct {
	url  string
	gets atomic.Int32
}

// answer is a status and a body.
type answer struct {
	status int
	body   string
}

func newFakeAPI(t *testing.T, create answer, get func(n int32) answer) *fakeAPI {
	t.Helper()
	f := &fakeAPI{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := answer{status: http.StatusNotFound, body: `{"error": {"code": "not_found", "message": "no such generation"}}`}
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/v1/generations":
			a = create
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/generations/") && get != nil:
			a = get(f.gets.Add(1))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		_, _ = w.Write([]byte(a.body))
	}))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

const (
	queued    = `{"id": "g1", "status": "queued", "client": "billing", "images": []}`
	completed = `{"id": "g1", "status": "completed", "client": "billing", "images": [{"url": "https://cdn.example.com/a.png", "nsfw": false}]}`
	failed    = `{"id": "g1", "status": "failed", "client": "billing", "error": {"code": "image_load_error", "message": "could not load the image"}}`
)

// runFake runs the command against url with args, with ctx, and returns
// its result and exit code.
func runFake(t *testing.T, ctx context.Context, url string, args ...string) (result, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := enqueuecli.Run(ctx, append([]string{"--server", url, "--prompt", "x", "--image-url", imageURL}, args...), enqueuecli.Env{
		Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" },
		RequestTimeout: 2 * time.Second,
	})
	return result{stdout: stdout.String(), stderr: stderr.String(), err: err}, enqueuecli.ExitCode(err)
}

// Each answer to the enqueue has the exit code README's table gives it,
// sorting what to do next: nothing, fix the request, retry it with the
// same idempotency key, or fix something else.
func TestEnqueueExitCodes(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name    string
		create  answer
		args    []string
		want    int
		wantErr string
	}{
		{name: "enqueued", create: answer{http.StatusAccepted, queued}, want: 0},
		{name: "replayed with a key", create: answer{http.StatusOK, queued}, args: []string{"--idempotency-key", "k1"}, want: 0},
		{name: "400", create: answer{http.StatusBadRequest, `{"error": {"code": "invalid_json", "message": "bad"}}`}, want: 2},
		{name: "413", create: answer{http.StatusRequestEntityTooLarge, `{"error": {"code": "too_large", "message": "big"}}`}, want: 2},
		{name: "422", create: answer{http.StatusUnprocessableEntity, `{"error": {"code": "invalid_request", "message": "bad"}}`}, want: 2},
		{name: "401", create: answer{http.StatusUnauthorized, `{"error": {"code": "unauthorized", "message": "no key"}}`}, want: 4},
		{name: "403", create: answer{http.StatusForbidden, `{"error": {"code": "forbidden", "message": "no"}}`}, want: 4},
		{name: "404", create: answer{http.StatusNotFound, `{}`}, want: 4},
		{name: "409", create: answer{http.StatusConflict, `{"error": {"code": "idempotency_conflict", "message": "other request"}}`}, args: []string{"--idempotency-key", "k1"}, want: 4},
		{name: "408", create: answer{http.StatusRequestTimeout, `<html>408 Request Time-out</html>`}, args: []string{"--idempotency-key", "k1"}, want: 3},
		{name: "429", create: answer{http.StatusTooManyRequests, `{"error": {"code": "too_many_pending", "message": "later"}}`}, want: 3},
		{name: "500", create: answer{http.StatusInternalServerError, `oops`}, want: 3},
		{name: "503", create: answer{http.StatusServiceUnavailable, `{"error": {"code": "database_unavailable", "message": "later"}}`}, want: 3},
		{name: "2xx without an id", create: answer{http.StatusAccepted, `{"status": "queued"}`}, want: 1, wantErr: "a generation without an id"},
		{name: "unknown status", create: answer{http.StatusAccepted, `{"id": "g1", "status": "pending"}`}, want: 1, wantErr: `whose status, "pending", is none of queued, submitted, completed, failed, cancelled`},
		{name: "not JSON", create: answer{http.StatusAccepted, `<html>`}, want: 1, wantErr: "answered 202 with no generation"},
		{name: "replay of a request without a key", create: answer{http.StatusOK, queued}, want: 1, wantErr: "answered 200, an earlier request's generation (g1), though this request sent no Idempotency-Key"},
		{name: "201", create: answer{http.StatusCreated, queued}, want: 1, wantErr: "answered 201 where the API answers 202"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api := newFakeAPI(t, tt.create, nil)
			r, code := runFake(t, context.Background(), api.url, tt.args...)
			require.Equal(t, tt.want, code, "%v", r.err)
			if tt.want != 0 {
				require.Empty(t, r.stdout)
			}
			if tt.wantErr != "" {
				require.ErrorContains(t, r.err, tt.wantErr)
				require.ErrorContains(t, r.err, "POST "+api.url+"/v1/generations ", "the URL that answered so")
				require.ErrorIs(t, r.err, enqueuecli.ErrBadAnswer)
			}
		})
	}
}

// No server, or no answer in time: exit 3, saying whether a retry is safe.
func TestEnqueueNoAnswer(t *testing.T) {
	t.Parallel()

	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		r, code := runFake(t, context.Background(), srv.URL)
		require.Equal(t, 3, code, "%v", r.err)
		require.ErrorContains(t, r.err, "enqueue: could not reach the server (is easel serve running at --server?): ")
	})

	// It answers once the test is over: Close waits for the handler.
	release := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	t.Cleanup(hanging.Close)
	t.Cleanup(func() { close(release) })
	for _, tt := range []struct {
		name, key, want string
	}{
		{name: "with a key", key: "order-17", want: `no answer within 50ms; retry with --idempotency-key "order-17", the same key`},
		{name: "without one", want: "no answer within 50ms; retry with --idempotency-key KEY to make retries safe; this request sent none"},
	} {
		t.Run("timeout "+tt.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"--server", hanging.URL, "--prompt", "x"}
			if tt.key != "" {
				args = append(args, "--idempotency-key", tt.key)
			}
			var stdout bytes.Buffer
			err := enqueuecli.Run(context.Background(), args, enqueuecli.Env{
				Stdout: &stdout, Stderr: &bytes.Buffer{}, Getenv: func(string) string { return "" },
				RequestTimeout: 50 * time.Millisecond,
			})
			require.Equal(t, 3, enqueuecli.ExitCode(err), "%v", err)
			require.ErrorContains(t, err, "enqueue: POST "+hanging.URL+"/v1/generations: "+tt.want)
			require.NotContains(t, err.Error(), "context deadline exceeded")
			require.Empty(t, stdout.String())
		})
	}
}

// An answer that is not the API's stops the wait at once, exit 1, rather
// than being asked for again and again.
func TestEnqueueWaitStopsOnBadAnswer(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t, answer{http.StatusAccepted, queued}, func(int32) answer { return answer{http.StatusOK, `{"status": "queued"}`} })

	r, code := runFake(t, context.Background(), api.url, "--wait")
	require.Equal(t, 1, code, "%v", r.err)
	require.ErrorIs(t, r.err, enqueuecli.ErrBadAnswer)
	require.ErrorContains(t, r.err, "get generation g1: GET "+api.url+"/v1/generations/g1?wait=500ms answered 200 with a generation without an id")
	require.EqualValues(t, 1, api.gets.Load(), "not asked again")
}

// Errors worth waiting out are: a 503 while waiting is retried.
func TestEnqueueWaitRetriesUnavailable(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t, answer{http.StatusAccepted, queued}, func(n int32) answer {
		if n == 1 {
			return answer{http.StatusServiceUnavailable, `{"error": {"code": "database_unavailable", "message": "later"}}`}
		}
		return answer{http.StatusOK, completed}
	})

	r, code := runFake(t, context.Background(), api.url, "--wait")
	require.Zero(t, code, "%v", r.err)
	require.Contains(t, r.stderr, "server answered 503 database_unavailable: later; retrying in 1s")
	require.Equal(t, "https://cdn.example.com/a.png\n", r.stdout)
}

// --output json prints the generation as the API returned it, whatever
// the outcome, on one line: `| jq .id` finds the id.
func TestEnqueueOutputJSON(t *testing.T) {
	t.Parallel()
	compact := func(s string) string {
		var b bytes.Buffer
		require.NoError(t, json.Compact(&b, []byte(s)))
		return b.String() + "\n"
	}

	for _, tt := range []struct {
		name string
		get  string
		args []string
		want string
		code int
	}{
		{name: "enqueued", want: queued},
		{name: "completed", get: completed, args: []string{"--wait"}, want: completed},
		{name: "failed", get: failed, args: []string{"--wait"}, want: failed, code: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api := newFakeAPI(t, answer{http.StatusAccepted, queued}, func(int32) answer { return answer{http.StatusOK, tt.get} })
			r, code := runFake(t, context.Background(), api.url, append([]string{"--output", "json"}, tt.args...)...)
			require.Equal(t, tt.code, code, "%v", r.err)
			require.Equal(t, compact(tt.want), r.stdout, "every field, client included")
		})
	}
}

// --timeout ends the wait with exit 3, the generation going on, and says
// how to follow it; --output json still prints its last state.
func TestEnqueueWaitTimeout(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t, answer{http.StatusAccepted, queued}, func(int32) answer { return answer{http.StatusOK, queued} })

	r, code := runFake(t, context.Background(), api.url, "--wait", "--timeout", "300ms", "--output", "json", "--idempotency-key", "k1")
	require.Equal(t, 3, code, "%v", r.err)
	require.ErrorIs(t, r.err, enqueuecli.ErrNoAnswer)
	require.EqualError(t, r.err, "gave up waiting after 300ms (--timeout), the generation queued; it goes on: run the same command again to wait more "+
		"(its --idempotency-key finds the generation), or follow it at "+api.url+"/generations/g1")
	var last struct{ ID, Status string }
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &last))
	require.Equal(t, "g1", last.ID)
	require.Equal(t, "queued", last.Status)
}

// signalCause is a context's cause that carries an exit code, as
// cmd/easel's signals do.
type signalCause struct{}

func (signalCause) Error() string { return "interrupted by SIGTERM" }
func (signalCause) ExitCode() int { return 143 }

// An interrupt while waiting exits with its cause's code, the generation
// going on; --output json still prints its last state.
func TestEnqueueWaitInterrupted(t *testing.T) {
	t.Parallel()
	asked := make(chan struct{}, 1)
	api := newFakeAPI(t, answer{http.StatusAccepted, queued}, func(int32) answer {
		select {
		case asked <- struct{}{}:
		default:
		}
		return answer{http.StatusOK, queued}
	})
	ctx, cancel := context.WithCancelCause(context.Background())
	go func() {
		<-asked
		cancel(signalCause{})
	}()

	r, code := runFake(t, ctx, api.url, "--wait", "--output", "json")
	require.Equal(t, 143, code, "%v", r.err)
	require.ErrorIs(t, r.err, enqueuecli.ErrInterrupted)
	require.EqualError(t, r.err, "stopped waiting (interrupted by SIGTERM); generation g1 goes on: "+api.url+"/generations/g1")
	require.Contains(t, r.stdout, `"id":"g1"`)

	// Without a cause that says otherwise, 130, as for SIGINT.
	ctx, cancelPlain := context.WithCancel(context.Background())
	cancelPlain()
	r, code = runFake(t, ctx, api.url, "--wait")
	require.Equal(t, 130, code, "%v", r.err)
	require.ErrorContains(t, r.err, "enqueue: interrupted before the server answered; retry with --idempotency-key KEY")
}
