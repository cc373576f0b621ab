package serve_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/internal/logtest"
	"github.com/easelhq/easel/internal/serve"
)

func TestFalRetentionConfigFromEnv(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name               string
		env                map[string]string
		wantExpiration     time.Duration
		wantDisableStoreIO bool
		wantErr            string
	}{
		{name: "unset"},
		{name: "expiration in seconds", env: map[string]string{"FAL_MEDIA_EXPIRATION": "3600s"}, wantExpiration: time.Hour},
		{name: "expiration in hours", env: map[string]string{"FAL_MEDIA_EXPIRATION": "24h"}, wantExpiration: 24 * time.Hour},
		{name: "shortest expiration", env: map[string]string{"FAL_MEDIA_EXPIRATION": "1s"}, wantExpiration: time.Second},
		{name: "expiration from a file, with its newline", env: map[string]string{"FAL_MEDIA_EXPIRATION": "90s\n"}, wantExpiration: 90 * time.Second},
		{name: "store IO true", env: map[string]string{"FAL_STORE_IO": "true"}},
		{name: "store IO false", env: map[string]string{"FAL_STORE_IO": "false"}, wantDisableStoreIO: true},
		{name: "store IO 0", env: map[string]string{"FAL_STORE_IO": "0"}, wantDisableStoreIO: true},
		{name: "store IO FALSE", env: map[string]string{"FAL_STORE_IO": "FALSE"}, wantDisableStoreIO: true},
		{
			name: "both", env: map[string]string{"FAL_MEDIA_EXPIRATION": "7m", "FAL_STORE_IO": "false"},
			wantExpiration: 7 * time.Minute, wantDisableStoreIO: true,
		},
		{
			name: "zero expiration", env: map[string]string{"FAL_MEDIA_EXPIRATION": "0"},
			wantErr: `FAL_MEDIA_EXPIRATION: "0" is not a duration of at least 1s such as 3600s or 24h; unset it to keep fal's own media retention`,
		},
		{name: "zero seconds", env: map[string]string{"FAL_MEDIA_EXPIRATION": "0s"}, wantErr: `FAL_MEDIA_EXPIRATION: "0s" is not a duration of at least 1s`},
		{name: "negative expiration", env: map[string]string{"FAL_MEDIA_EXPIRATION": "-1h"}, wantErr: `FAL_MEDIA_EXPIRATION: "-1h" is not a duration of at least 1s`},
		{name: "below a second", env: map[string]string{"FAL_MEDIA_EXPIRATION": "500ms"}, wantErr: `FAL_MEDIA_EXPIRATION: "500ms" is not a duration of at least 1s`},
		{
			name: "fraction of a second", env: map[string]string{"FAL_MEDIA_EXPIRATION": "1.5s"},
			wantErr: `FAL_MEDIA_EXPIRATION: "1.5s" is not a whole number of seconds, which fal takes the expiration in`,
		},
		{name: "milliseconds past a second", env: map[string]string{"FAL_MEDIA_EXPIRATION": "1h1ms"}, wantErr: `FAL_MEDIA_EXPIRATION: "1h1ms" is not a whole number of seconds`},
		{name: "no unit", env: map[string]string{"FAL_MEDIA_EXPIRATION": "3600"}, wantErr: `FAL_MEDIA_EXPIRATION: "3600" is not a duration of at least 1s`},
		{name: "not a duration", env: map[string]string{"FAL_MEDIA_EXPIRATION": "a week"}, wantErr: `FAL_MEDIA_EXPIRATION: "a week" is not a duration of at least 1s`},
		{name: "store IO no", env: map[string]string{"FAL_STORE_IO": "no"}, wantErr: `FAL_STORE_IO: "no" is not true or false`},
		{name: "store IO off", env: map[string]string{"FAL_STORE_IO": "off"}, wantErr: `FAL_STORE_IO: "off" is not true or false`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := serve.ConfigFromEnv(func(name string) string { return tt.env[name] })
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				require.NotContains(t, err.Error(), "\n", "one line")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.wantExpiration, cfg.FalMediaExpiration)
			require.Equal(t, tt.wantDisableStoreIO, cfg.FalDisableStoreIO)
		})
	}
}

// submitHeaders is fal's queue API, a simulator's, keeping the headers of
// each submission before the simulator answers it.
type submitHeaders struct {
	next    http.Handler
	mu      sync.Mutex
	headers []http.Header
}

func (s *submitHeaders) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		s.mu.Lock()
		s.headers = append(s.headers, r.Header.Clone())
		s.mu.Unlock()
	}
	s.next.ServeHTTP(w, r)
}

func (s *submitHeaders) received() []http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]http.Header(nil), s.headers...)
}

// easel serve configured by FAL_MEDIA_EXPIRATION and FAL_STORE_IO submits
// every generation with the headers that make fal keep less of it, and
// with neither when they are unset; its start-up line says which.
func TestServeSubmitsWithFalRetentionHeaders(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name            string
		env             map[string]string
		wantLifecycle   []string
		wantStoreIO     []string
		wantLogged      string
		wantLoggedStore bool
	}{
		{name: "unset", wantLogged: "unset", wantLoggedStore: true},
		{
			name:          "set",
			env:           map[string]string{"FAL_MEDIA_EXPIRATION": "24h", "FAL_STORE_IO": "false"},
			wantLifecycle: []string{`{"expiration_duration_seconds": 86400}`},
			wantStoreIO:   []string{"0"},
			wantLogged:    "24h0m0s",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sim, err := falsim.New(falsim.Config{})
			require.NoError(t, err)
			queue := &submitHeaders{next: sim.Handler()}
			queueServer := httptest.NewServer(queue)
			// Registered before serve's, so closed after serve stops.
			t.Cleanup(func() {
				sim.Close()
				queueServer.Close()
			})

			env := map[string]string{
				"DATABASE_URL": dbtest.URL(t), "EASEL_ADDR": "127.0.0.1:0",
				"FAL_KEY": testFalKey, "FAL_QUEUE_URL": queueServer.URL, "FAL_JWKS_URL": queueServer.URL + "/.well-known/jwks.json",
			}
			for name, value := range tt.env {
				env[name] = value
			}
			cfg, err := serve.ConfigFromEnv(func(name string) string { return env[name] })
			require.NoError(t, err)
			var logs logtest.Buffer
			b := start(t, cfg, &logs)

			// With FAL_KEY set, the API is never open.
			key, _, err := api.CreateKey(b.ctx, b.pool, "retention-test")
			require.NoError(t, err)
			code, body := b.do(t, http.MethodPost, "/v1/generations",
				http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + key}}, []byte(exampleInput))
			require.Equal(t, http.StatusAccepted, code, string(body))
			require.Eventually(t, func() bool { return len(queue.received()) > 0 }, 30*time.Second, 10*time.Millisecond,
				"the generation was never submitted")

			for _, header := range queue.received() {
				require.Equal(t, tt.wantLifecycle, header.Values("X-Fal-Object-Lifecycle-Preference"))
				require.Equal(t, tt.wantStoreIO, header.Values("X-Fal-Store-IO"))
			}
			lines := logs.Lines(t, "easel serving")
			require.Len(t, lines, 1)
			require.Equal(t, tt.wantLogged, lines[0]["fal_media_expiration"])
			require.Equal(t, tt.wantLoggedStore, lines[0]["fal_store_io"])
			require.NotContains(t, logs.String(), testFalKey, "FAL_KEY is never logged")
		})
	}
}
