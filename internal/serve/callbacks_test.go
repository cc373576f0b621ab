package serve_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/internal/logtest"
	"github.com/easelhq/easel/internal/serve"
)

const testCallbackSecret = "whsec_dGVzdC1rZXktb2YtZWFzZWwtY2FsbGJhY2tzLTMyYg=="

// fastSimulator is a fault-free simulator that answers within milliseconds.
func fastSimulator() *falsim.Config {
	return &falsim.Config{Latency: falsim.Latency{Min: 5 * time.Millisecond, Max: 20 * time.Millisecond}}
}

// withField adds a top-level field to a JSON object.
func withField(t *testing.T, object, name string, value any) string {
	t.Helper()
	var fields map[string]any
	require.NoError(t, json.Unmarshal([]byte(object), &fields))
	fields[name] = value
	out, err := json.Marshal(fields)
	require.NoError(t, err)
	return string(out)
}

type receivedCallback struct {
	header http.Header
	body   []byte
}

// The whole way: a generation with a callback_url completes, and its
// resource arrives at the URL, signed as Standard Webhooks says.
func TestCallbackAfterGeneration(t *testing.T) {
	t.Parallel()
	received := make(chan receivedCallback, 4)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		received <- receivedCallback{header: r.Header.Clone(), body: body}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)
	logs := &logtest.Buffer{}
	b := setupWithConfig(t, func(cfg *serve.Config) {
		cfg.Simulator = fastSimulator()
		cfg.CallbackSecret = testCallbackSecret
		cfg.AllowPrivateCallbacks = true // the receiver listens on loopback
	}, logs)

	callbackURL := receiver.URL + "/easel/done?token=caller-secret"
	g := b.enqueue(t, withField(t, exampleInput, "callback_url", callbackURL))
	var got receivedCallback
	select {
	case got = <-received:
	case <-time.After(30 * time.Second):
		t.Fatal("no callback arrived")
	}

	// The signature, checked from the specification and docs/CALLBACKS.md alone: keyed
	// with the secret of the generation's client, derived from the master.
	var client string
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT client FROM generations WHERE id = $1`, g.ID).Scan(&client))
	master, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(testCallbackSecret, "whsec_"))
	require.NoError(t, err)
	derive := hmac.New(sha256.New, master)
	derive.Write([]byte("easel-callback-v1\x00" + client))
	id, ts := got.header.Get("webhook-id"), got.header.Get("webhook-timestamp")
	mac := hmac.New(sha256.New, derive.Sum(nil))
	mac.Write([]byte(id + "." + ts + "." + string(got.body)))
	require.Equal(t, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)), got.header.Get("webhook-signature"))
	seconds, err := strconv.ParseInt(ts, 10, 64)
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), time.Unix(seconds, 0), time.Minute)
	require.Equal(t, "application/json", got.header.Get("Content-Type"))

	// The body is the generation, as GET shows it.
	status, body := b.do(t, http.MethodGet, "/v1/generations/"+g.ID, nil, nil)
	require.Equal(t, http.StatusOK, status)
	var callback, resource map[string]any
	require.NoError(t, json.Unmarshal(got.body, &callback))
	require.NoError(t, json.Unmarshal(body, &resource))
	require.Equal(t, "completed", callback["status"])
	for _, field := range []string{"id", "status", "fal_request_id", "images", "input", "callback_url", "completed_at", "error"} {
		require.Equal(t, resource[field], callback[field], field)
	}

	// The delivery is on record, under the webhook-id it was sent with.
	require.Eventually(t, func() bool {
		var delivered bool
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT delivered_at IS NOT NULL FROM callback_deliveries WHERE id = $1`, id).Scan(&delivered))
		return delivered
	}, 10*time.Second, 20*time.Millisecond)
	var attempts, lastStatus int
	var generationID string
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT attempts, last_status, generation_id FROM callback_deliveries WHERE id = $1`, id).
		Scan(&attempts, &lastStatus, &generationID))
	require.Equal(t, 1, attempts)
	require.Equal(t, http.StatusNoContent, lastStatus)
	require.Equal(t, g.ID, generationID)

	// Its log line names the generation and fal's request, and keeps the
	// caller's token out.
	lines := logs.Lines(t, "callback delivered")
	require.Len(t, lines, 1)
	require.Equal(t, g.ID, lines[0]["generation_id"])
	require.Equal(t, callback["fal_request_id"], lines[0]["fal_request_id"])
	require.NotContains(t, logs.String(), "caller-secret")
	require.NotContains(t, logs.String(), strings.TrimPrefix(testCallbackSecret, "whsec_"))
}

// Callback URLs that would reach Easel's own network are refused when the
// generation is enqueued, naming the field.
func TestCallbackURLRefusedAtEnqueue(t *testing.T) {
	t.Parallel()
	withSecret := setupWithConfig(t, func(cfg *serve.Config) {
		cfg.CallbackSecret = testCallbackSecret
	}, io.Discard)
	withoutSecret := setup(t)

	for _, tt := range []struct {
		name    string
		b       *testBundle
		url     string
		wantMsg string
	}{
		{"loopback", withSecret, "http://127.0.0.1:9/hook", "must not point at 127.0.0.1: address is not public"},
		{"cloud metadata", withSecret, "http://169.254.169.254/latest/meta-data/", "address is not public"},
		{"private", withSecret, "https://10.1.2.3/hook", "address is not public"},
		{"name of loopback", withSecret, "http://localhost:9/hook", "host localhost resolves to"},
		{"user info", withSecret, "https://user:pw@8.8.8.8/hook", "must not contain a user name or password"},
		{"no secret", withoutSecret, "https://8.8.8.8/hook", "no EASEL_CALLBACK_SECRET"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, body := tt.b.do(t, http.MethodPost, "/v1/generations", http.Header{"Content-Type": {"application/json"}},
				[]byte(withField(t, exampleInput, "callback_url", tt.url)))
			require.Equal(t, http.StatusUnprocessableEntity, status, string(body))
			var resp struct {
				Error struct {
					Details []struct{ Field, Message string } `json:"details"`
				} `json:"error"`
			}
			require.NoError(t, json.Unmarshal(body, &resp))
			require.Len(t, resp.Error.Details, 1)
			require.Equal(t, "callback_url", resp.Error.Details[0].Field)
			require.Contains(t, resp.Error.Details[0].Message, tt.wantMsg)

			var n int
			require.NoError(t, tt.b.pool.QueryRow(tt.b.ctx, `SELECT count(*) FROM generations`).Scan(&n))
			require.Zero(t, n, "nothing was enqueued")
		})
	}
}

func TestCallbackConfigFromEnv(t *testing.T) {
	t.Parallel()
	const secondSecret = "whsec_c2VjcmV0LWtleS1vZi10aGlydHktdHdvLWJ5dGVzISE="
	for _, tt := range []struct {
		name         string
		env          map[string]string
		wantErr      string
		allowPrivate bool
		allowedNets  []string
		workers      int
	}{
		{name: "unset", workers: 8},
		{name: "valid", env: map[string]string{"EASEL_CALLBACK_SECRET": testCallbackSecret, "EASEL_ALLOW_PRIVATE_CALLBACKS": "true"}, allowPrivate: true, workers: 8},
		{name: "false", env: map[string]string{"EASEL_ALLOW_PRIVATE_CALLBACKS": "false"}, workers: 8},
		{name: "rotation: two secrets", env: map[string]string{"EASEL_CALLBACK_SECRET": secondSecret + " " + testCallbackSecret}, workers: 8},
		{name: "no prefix", env: map[string]string{"EASEL_CALLBACK_SECRET": "dGVzdC1rZXktb2YtZWFzZWwtY2FsbGJhY2tzLTMyYg=="},
			wantErr: "EASEL_CALLBACK_SECRET: callback secret must start with whsec_"},
		{name: "short", env: map[string]string{"EASEL_CALLBACK_SECRET": "whsec_c2hvcnQ="}, wantErr: "EASEL_CALLBACK_SECRET: callback secret must encode 24 to 64 bytes"},
		{name: "second secret bad", env: map[string]string{"EASEL_CALLBACK_SECRET": testCallbackSecret + " whsec_c2hvcnQ="},
			wantErr: "EASEL_CALLBACK_SECRET: secret 2 of 2: callback secret must encode 24 to 64 bytes, not 5"},
		{name: "secret repeated", env: map[string]string{"EASEL_CALLBACK_SECRET": testCallbackSecret + " " + testCallbackSecret},
			wantErr: "EASEL_CALLBACK_SECRET: secret 2 of 2 repeats secret 1"},
		{name: "bad value", env: map[string]string{"EASEL_ALLOW_PRIVATE_CALLBACKS": "yes please"},
			wantErr: `EASEL_ALLOW_PRIVATE_CALLBACKS: "yes please" is not true, false, or a comma-separated list of CIDRs such as 10.20.0.0/16`},
		{name: "ranges", env: map[string]string{"EASEL_ALLOW_PRIVATE_CALLBACKS": "10.20.0.0/16, fd12:3456::/32,192.168.7.9"},
			allowedNets: []string{"10.20.0.0/16", "fd12:3456::/32", "192.168.7.9/32"}, workers: 8},
		{name: "one range", env: map[string]string{"EASEL_ALLOW_PRIVATE_CALLBACKS": "10.20.0.0/16"}, allowedNets: []string{"10.20.0.0/16"}, workers: 8},
		{name: "range with host bits", env: map[string]string{"EASEL_ALLOW_PRIVATE_CALLBACKS": "10.20.0.0/16,10.1.2.3/16"},
			wantErr: `EASEL_ALLOW_PRIVATE_CALLBACKS: entry 2 of 2, "10.1.2.3/16", has bits set past its /16: write 10.1.0.0/16, or 10.1.2.3/32 for the address alone`},
		{name: "one range with host bits", env: map[string]string{"EASEL_ALLOW_PRIVATE_CALLBACKS": "10.1.2.3/16"},
			wantErr: `EASEL_ALLOW_PRIVATE_CALLBACKS: "10.1.2.3/16" has bits set past its /16`},
		{name: "bad range", env: map[string]string{"EASEL_ALLOW_PRIVATE_CALLBACKS": "10.20.0.0/16,10.0.0.0/33"},
			wantErr: `EASEL_ALLOW_PRIVATE_CALLBACKS: entry 2 of 2, "10.0.0.0/33", is not a CIDR such as 10.20.0.0/16 or an IP address`},
		{name: "true in a list", env: map[string]string{"EASEL_ALLOW_PRIVATE_CALLBACKS": "true,10.0.0.0/8"},
			wantErr: `EASEL_ALLOW_PRIVATE_CALLBACKS: entry 1 of 2, "true", is not a CIDR`},
		{name: "empty entry", env: map[string]string{"EASEL_ALLOW_PRIVATE_CALLBACKS": "10.0.0.0/8,"},
			wantErr: `EASEL_ALLOW_PRIVATE_CALLBACKS: entry 2 of 2, "", is empty`},
		{name: "mapped range", env: map[string]string{"EASEL_ALLOW_PRIVATE_CALLBACKS": "::ffff:10.0.0.0/104"},
			wantErr: `EASEL_ALLOW_PRIVATE_CALLBACKS: "::ffff:10.0.0.0/104" is an IPv4-mapped range: write it as IPv4`},
		{name: "workers", env: map[string]string{"EASEL_CALLBACK_WORKERS": "32"}, workers: 32},
		{name: "workers zero", env: map[string]string{"EASEL_CALLBACK_WORKERS": "0"}, wantErr: `EASEL_CALLBACK_WORKERS: "0" is not a positive integer`},
		{name: "workers not a number", env: map[string]string{"EASEL_CALLBACK_WORKERS": "many"}, wantErr: `EASEL_CALLBACK_WORKERS: "many" is not a positive integer`},
		{name: "workers beyond River's maximum", env: map[string]string{"EASEL_CALLBACK_WORKERS": "10001"},
			wantErr: "EASEL_CALLBACK_WORKERS: 10001 is more than River's maximum of 10000 workers for a queue"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := serve.ConfigFromEnv(func(name string) string { return tt.env[name] })
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				if secret := tt.env["EASEL_CALLBACK_SECRET"]; secret != "" {
					require.NotContains(t, err.Error(), strings.TrimPrefix(secret, "whsec_"), "the secret is never in an error")
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.env["EASEL_CALLBACK_SECRET"], cfg.CallbackSecret)
			require.Equal(t, tt.allowPrivate, cfg.AllowPrivateCallbacks)
			var nets []string
			for _, p := range cfg.AllowedCallbackNets {
				nets = append(nets, p.String())
			}
			require.Equal(t, tt.allowedNets, nets)
			require.Equal(t, tt.workers, cfg.CallbackWorkers)
		})
	}
}
