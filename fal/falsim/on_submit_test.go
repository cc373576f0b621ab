package falsim_test

import (
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal/falsim"
)

// submitCall is one call of Config.OnSubmit.
type submitCall struct{ requestID, webhookURL string }

func TestOnSubmit(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name       string
		cfg        falsim.Config
		wantStatus int
	}{
		{name: "Accepted", cfg: falsim.Config{Latency: holdLatency}, wantStatus: http.StatusOK},
		{name: "RateLimited", cfg: falsim.Config{RateLimitRate: 1}, wantStatus: http.StatusTooManyRequests},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var (
				mu    sync.Mutex
				calls []submitCall
			)
			tt.cfg.OnSubmit = func(requestID, webhookURL string) {
				mu.Lock()
				defer mu.Unlock()
				calls = append(calls, submitCall{requestID, webhookURL})
			}
			b := setup(t, tt.cfg, setupOpts{})
			webhookURL := b.hookURL + "/webhooks/fal/" + uuid.NewString()
			resp, _ := b.do(t, http.MethodPost, b.url+"/fal-ai/fooocus/image-prompt?fal_webhook="+url.QueryEscape(webhookURL), validInput)
			require.Equal(t, tt.wantStatus, resp.StatusCode)

			// Called before the answer: no waiting needed.
			mu.Lock()
			defer mu.Unlock()
			if tt.wantStatus != http.StatusOK {
				require.Empty(t, calls, "a refused submission was not accepted")
				return
			}
			require.Equal(t, []submitCall{{resp.Header.Get("x-fal-request-id"), webhookURL}}, calls)
		})
	}
}
