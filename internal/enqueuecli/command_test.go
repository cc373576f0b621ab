package enqueuecli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/internal/enqueuecli"
	"github.com/easelhq/easel/internal/serve"
	"github.com/easelhq/easel/store"
)

const imageURL = "https://example.com/reference.png"

type testBundle struct {
	ctx     context.Context
	baseURL string
	pool    *pgxpool.Pool
}

// setup runs a whole easel serve against an in-process simulator with sim's
// faults, and no latency, on an ephemeral port.
func setup(t *testing.T, sim falsim.Config) *testBundle {
	t.Helper()
	return setupEnv(t, sim, nil)
}

// setupEnv is setup with env's variables set for easel serve too.
func setupEnv(t *testing.T, sim falsim.Config, env map[string]string) *testBundle {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dbURL := dbtest.URL(t)
	cfg, err := serve.ConfigFromEnv(func(name string) string {
		switch name {
		case "DATABASE_URL":
			return dbURL
		case "EASEL_ADDR":
			return "127.0.0.1:0"
		}
		return env[name]
	})
	require.NoError(t, err)
	cfg.Simulator = &sim

	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve.Run(ctx, cfg, slog.New(slog.DiscardHandler), func(a string) { addr <- a }) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	b := &testBundle{ctx: ctx}
	select {
	case a := <-addr:
		b.baseURL = "http://" + a
	case err := <-done:
		t.Fatalf("serve exited before it was ready: %v", err)
	}
	b.pool, err = pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	t.Cleanup(b.pool.Close)
	return b
}

type result struct {
	stdout, stderr string
	err            error
}

// run runs the command against the bundle's server (or none, for b nil)
// with env as its environment.
func run(t *testing.T, b *testBundle, env map[string]string, args ...string) result {
	t.Helper()
	if b != nil {
		args = append([]string{"--server", b.baseURL}, args...)
	}
	var stdout, stderr bytes.Buffer
	err := enqueuecli.Run(context.Background(), args, enqueuecli.Env{
		Stdin:  strings.NewReader(env["stdin"]),
		Stdout: &stdout,
		Stderr: &stderr,
		Getenv: func(name string) string { return env[name] },
	})
	return result{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// stored is a generation as the API returns it.
type stored struct {
	ID     string         `json:"id"`
	Client string         `json:"client"`
	Status string         `json:"status"`
	Input  map[string]any `json:"input"`
}

func (b *testBundle) get(t *testing.T, id string) stored {
	t.Helper()
	resp, err := http.Get(b.baseURL + "/v1/generations/" + id)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var g stored
	require.NoError(t, json.Unmarshal(body, &g))
	return g
}

func TestEnqueueAndWait(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{})

	r := run(t, b, nil, "--prompt", "a lighthouse at dusk", "--image-url", imageURL, "--type", "PyraCanny",
		"--num-images", "2", "--aspect-ratio", "1152x896", "--style", "Fooocus V2", "--style", "Fooocus Sharp", "--wait")
	require.NoError(t, r.err, r.stderr)

	// stdout holds exactly the image URLs, ready for a pipe.
	urls := strings.Fields(r.stdout)
	require.Len(t, urls, 2)
	for _, u := range urls {
		require.True(t, strings.HasPrefix(u, b.baseURL+"/_sim/files/") && strings.HasSuffix(u, ".jpeg"), u)
	}

	// stderr tells the story in plain lines: no spinner off a terminal.
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	require.GreaterOrEqual(t, len(lines), 4, r.stderr)
	require.True(t, strings.HasPrefix(lines[0], "enqueued "), lines[0])
	id := strings.TrimPrefix(lines[0], "enqueued ")
	require.Regexp(t, `^\s+\d+\.\ds  queued$`, lines[1])
	require.Regexp(t, `^\s+\d+\.\ds  completed: 2 image\(s\)$`, lines[len(lines)-2])
	require.Equal(t, "gallery: "+b.baseURL+"/generations/"+id, lines[len(lines)-1])
	require.NotContains(t, r.stderr, "\r")

	g := b.get(t, id)
	require.Equal(t, "completed", g.Status)
	require.Equal(t, "a lighthouse at dusk", g.Input["prompt"])
	require.EqualValues(t, 2, g.Input["num_images"])
	require.Equal(t, "1152x896", g.Input["aspect_ratio"])
	require.Equal(t, []any{"Fooocus V2", "Fooocus Sharp"}, g.Input["styles"])
	require.Equal(t, imageURL, g.Input["image_prompt_1"].(map[string]any)["image_url"])
	require.Equal(t, "PyraCanny", g.Input["image_prompt_1"].(map[string]any)["type"])
}

func TestEnqueueWithoutWait(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{})

	r := run(t, b, nil, "--prompt", "later", "--image-url", imageURL)
	require.NoError(t, r.err)
	id := strings.TrimSpace(r.stdout)
	require.NoError(t, uuid.Validate(id), "stdout is the id alone")
	require.Contains(t, r.stderr, "enqueued "+id+" (queued)\ngallery: "+b.baseURL+"/generations/"+id)
	require.Equal(t, "later", b.get(t, id).Input["prompt"])
}

// Flags override the fields of the --json input, and a --json file may hold
// anything the API takes.
func TestEnqueueJSONInput(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{})
	input := `{"prompt": "from the file", "num_images": 3, "negative_prompt": "fog",
		"image_prompt_1": {"image_url": "` + imageURL + `", "weight": 1.5}}`
	file := filepath.Join(t.TempDir(), "input.json")
	require.NoError(t, os.WriteFile(file, []byte(input), 0o600))

	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"file", nil, []string{"--json", file, "--prompt", "from the flag", "--type", "CPDS"}},
		{"stdin", map[string]string{"stdin": input}, []string{"--json", "-", "--prompt", "from the flag", "--type", "CPDS"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := run(t, b, tt.env, tt.args...)
			require.NoError(t, r.err, r.stderr)
			g := b.get(t, strings.TrimSpace(r.stdout))
			require.Equal(t, "from the flag", g.Input["prompt"])
			require.Equal(t, "fog", g.Input["negative_prompt"])
			require.EqualValues(t, 3, g.Input["num_images"])
			prompt := g.Input["image_prompt_1"].(map[string]any)
			require.Equal(t, imageURL, prompt["image_url"])
			require.EqualValues(t, 1.5, prompt["weight"])
			require.Equal(t, "CPDS", prompt["type"])
		})
	}
}

func TestEnqueueRejectedInput(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{})

	r := run(t, b, nil, "--prompt", "x", "--num-images", "9", "--type", "Sketch", "--wait")
	require.ErrorIs(t, r.err, enqueuecli.ErrInvalidInput, "a 422 exits like a usage error")
	require.Equal(t, 2, enqueuecli.ExitCode(r.err))
	var apiErr *enqueuecli.APIError
	require.ErrorAs(t, r.err, &apiErr)
	require.Equal(t, http.StatusUnprocessableEntity, apiErr.Status)
	// Every invalid field, one per line.
	msg := r.err.Error()
	require.True(t, strings.HasPrefix(msg, "enqueue: server answered 422 invalid_request: "), msg)
	for _, field := range []string{"\n  num_images: ", "\n  image_prompt_1.type: ", "\n  image_prompt_1.image_url: "} {
		require.Contains(t, msg, field)
	}
	require.Empty(t, r.stdout)
}

func TestEnqueueWaitFailed(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{FailRate: 1})

	r := run(t, b, nil, "--prompt", "refused", "--image-url", imageURL, "--wait")
	var notCompleted *enqueuecli.NotCompletedError
	require.ErrorAs(t, r.err, &notCompleted)
	require.Equal(t, "failed", notCompleted.Status)
	require.Equal(t, 1, enqueuecli.ExitCode(r.err))
	require.Regexp(t, `\d+\.\ds  failed: \S+: .+\n`, r.stderr)
	require.Contains(t, r.stderr, "gallery: "+b.baseURL+"/generations/"+notCompleted.ID)
	require.Empty(t, r.stdout)
}

// A generation cancelled while queued ends --wait with a failure, and the
// same idempotency key finds the same generation again.
func TestEnqueueWaitCancelled(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{})
	// Scheduled an hour ahead, so the worker leaves it queued.
	runAt := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	input := map[string]string{"stdin": `{"run_at": "` + runAt + `"}`}
	args := []string{"--json", "-", "--prompt", "never mind", "--image-url", imageURL, "--idempotency-key", "order-17"}

	first := run(t, b, input, args...)
	require.NoError(t, first.err)
	id := strings.TrimSpace(first.stdout)
	changed, err := store.Cancel(b.ctx, b.pool, uuid.MustParse(id), "cancelled by the test")
	require.NoError(t, err)
	require.True(t, changed)

	again := run(t, b, input, append(args, "--wait")...)
	var notCompleted *enqueuecli.NotCompletedError
	require.ErrorAs(t, again.err, &notCompleted)
	require.Equal(t, &enqueuecli.NotCompletedError{ID: id, Status: "cancelled"}, notCompleted)
	require.Contains(t, again.stderr, "already enqueued with this idempotency key: "+id)
	require.Regexp(t, `\d+\.\ds  cancelled: cancelled by the test\n`, again.stderr, "the code, cancelled, is not repeated")
}

func TestEnqueueSendsAPIKey(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{})
	key, _, err := api.CreateKey(b.ctx, b.pool, "billing")
	require.NoError(t, err)

	r := run(t, b, nil, "--prompt", "x", "--image-url", imageURL)
	var apiErr *enqueuecli.APIError
	require.ErrorAs(t, r.err, &apiErr)
	require.Equal(t, http.StatusUnauthorized, apiErr.Status, "once a key exists, the API wants one")
	require.Equal(t, 4, enqueuecli.ExitCode(r.err), "refused")

	r = run(t, b, map[string]string{"EASEL_API_KEY": key}, "--prompt", "x", "--image-url", imageURL)
	require.NoError(t, r.err)
	req, err := http.NewRequest(http.MethodGet, b.baseURL+"/v1/generations/"+strings.TrimSpace(r.stdout), nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var g stored
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&g))
	require.Equal(t, "billing", g.Client, "the key names the client")
}

// Mistakes that need no server are reported before calling one, each as
// itself: no "invalid input:" before it, which the exit code says.
func TestEnqueueUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		args  []string
		stdin string
		want  string
	}{
		{name: "nothing", want: "nothing to enqueue"},
		{name: "unknown flag", args: []string{"--colour", "red"}, want: "flag provided but not defined: -colour"},
		{name: "stray argument", args: []string{"--prompt", "a", "cat"}, want: `unexpected argument "cat"`},
		{name: "bad server", args: []string{"--prompt", "a", "--server", "ftp://x"}, want: `--server "ftp://x" is not an http(s) URL`},
		{name: "missing file", args: []string{"--json", "/nonexistent/input.json"}, want: "no such file"},
		{name: "not an object", args: []string{"--json", "-"}, stdin: "[1, 2]", want: "--json -: not a JSON object but an array"},
		{name: "null", args: []string{"--json", "-"}, stdin: "null", want: "--json -: not a JSON object but null"},
		{name: "empty", args: []string{"--json", "-"}, stdin: " \n", want: "--json -: empty, where a JSON object was expected"},
		{name: "cut short", args: []string{"--json", "-"}, stdin: `{"prompt": 5`, want: "--json -: not valid JSON: unexpected end of JSON input at line 1, column 12 (byte 12)"},
		{
			name: "bad character", args: []string{"--json", "-"}, stdin: "{\n  \"prompt\": \"x\",\n  }",
			want: "--json -: not valid JSON: invalid character '}' looking for beginning of object key string at line 3, column 3 (byte 22)",
		},
		{name: "bad image prompt", args: []string{"--json", "-", "--type", "CPDS"}, stdin: `{"image_prompt_1": "x"}`, want: "image_prompt_1 is not a JSON object"},
		{name: "empty idempotency key", args: []string{"--prompt", "a", "--idempotency-key", ""}, want: "--idempotency-key is empty: give a key, or leave the flag out"},
		{name: "blank idempotency key", args: []string{"--prompt", "a", "--idempotency-key", " "}, want: "--idempotency-key is empty"},
		{name: "idempotency key with spaces around", args: []string{"--prompt", "a", "--idempotency-key", " k1"}, want: `--idempotency-key " k1" starts or ends with whitespace, which HTTP drops`},
		{name: "idempotency key with a newline", args: []string{"--prompt", "a", "--idempotency-key", "k\n1"}, want: "--idempotency-key has a control character at byte 2"},
		{name: "timeout without wait", args: []string{"--prompt", "a", "--timeout", "1m"}, want: "--timeout bounds the wait: give --wait too"},
		{name: "negative timeout", args: []string{"--prompt", "a", "--wait", "--timeout", "-1s"}, want: `invalid value "-1s" for flag -timeout: must be 0 or more`},
		{name: "unknown output", args: []string{"--prompt", "a", "--output", "yaml"}, want: `invalid value "yaml" for flag -output: must be text or json`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := run(t, nil, map[string]string{"stdin": tt.stdin}, tt.args...)
			require.ErrorIs(t, r.err, enqueuecli.ErrInvalidInput)
			require.Equal(t, 2, enqueuecli.ExitCode(r.err))
			require.ErrorContains(t, r.err, tt.want)
			require.NotContains(t, r.err.Error(), "invalid input")
			require.Empty(t, r.stdout)
		})
	}
}

// The environment's default server, unusable, is refused naming the
// variable, unless --server makes it irrelevant.
func TestEnqueueServerErr(t *testing.T) {
	t.Parallel()
	envErr := errors.New(`EASEL_PUBLIC_URL: "nope" is not an http(s) URL`)
	var stdout bytes.Buffer
	err := enqueuecli.Run(context.Background(), []string{"--prompt", "x"}, enqueuecli.Env{
		Stdout: &stdout, Stderr: &bytes.Buffer{}, Getenv: func(string) string { return "" }, ServerErr: envErr,
	})
	require.ErrorIs(t, err, envErr)
	require.EqualError(t, err, `EASEL_PUBLIC_URL: "nope" is not an http(s) URL; fix it, or give --server`)
	require.Equal(t, 2, enqueuecli.ExitCode(err))
}
