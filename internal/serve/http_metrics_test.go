package serve_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/internal/logtest"
	"github.com/easelhq/easel/internal/serve"
)

// A client flooding past EASEL_CLIENT_MAX_PENDING shows in /metrics, by
// the refusals' code and by route and status, and in one WARN naming it;
// other refusals (a wrong key, an invalid body) count by their code too.
func TestRefusalsShowInMetricsAndLog(t *testing.T) {
	t.Parallel()
	var logs logtest.Buffer
	// --role api: no workers, so nothing finishes and makes room.
	b := setupWithConfig(t, func(cfg *serve.Config) {
		cfg.Role = serve.RoleAPI
		cfg.ClientMaxPending = 3
	}, &logs)
	key, _, err := api.CreateKey(b.ctx, b.pool, "alice")
	require.NoError(t, err)
	enqueue := func(authorization, body string) (int, string) {
		status, resp := b.do(t, http.MethodPost, "/v1/generations",
			http.Header{"Content-Type": {"application/json"}, "Authorization": {authorization}}, []byte(body))
		var e struct {
			Error struct{ Code string }
		}
		if status >= 400 {
			require.NoError(t, json.Unmarshal(resp, &e), string(resp))
		}
		return status, e.Error.Code
	}

	statuses := map[int]int{}
	for range 8 {
		status, code := enqueue("Bearer "+key, exampleInput)
		statuses[status]++
		if status == http.StatusTooManyRequests {
			require.Equal(t, "too_many_pending", code)
		}
	}
	require.Equal(t, map[int]int{http.StatusAccepted: 3, http.StatusTooManyRequests: 5}, statuses)
	status, code := enqueue("Bearer not-a-key", exampleInput)
	require.Equal(t, http.StatusUnauthorized, status)
	require.Equal(t, "unauthorized", code)
	status, code = enqueue("Bearer "+key, `{"priority": 9}`)
	require.Equal(t, http.StatusUnprocessableEntity, status)
	require.Equal(t, "invalid_request", code)

	b.requireMetrics(t, map[string]float64{
		`easel_api_errors_total{code="too_many_pending"}`:                               5,
		`easel_api_errors_total{code="unauthorized"}`:                                   1,
		`easel_api_errors_total{code="invalid_request"}`:                                1,
		`easel_api_errors_total{code="internal"}`:                                       0,
		`easel_http_requests_total{method="POST",route="/v1/generations",status="202"}`: 3,
		`easel_http_requests_total{method="POST",route="/v1/generations",status="429"}`: 5,
		`easel_http_requests_total{method="POST",route="/v1/generations",status="401"}`: 1,
		`easel_http_requests_total{method="POST",route="/v1/generations",status="422"}`: 1,
	})

	var warnings []map[string]any
	for _, record := range logs.Records(t) {
		if msg, _ := record["msg"].(string); strings.HasPrefix(msg, "enqueues refused") {
			warnings = append(warnings, record)
		}
	}
	require.Len(t, warnings, 1, "one line for the burst, not one per refusal")
	w := warnings[0]
	require.Equal(t, "WARN", w["level"])
	require.Contains(t, w["msg"], "EASEL_CLIENT_MAX_PENDING")
	require.Equal(t, "alice", w["client"])
	require.EqualValues(t, 1, w["refused"], "the first refusal; those after it within a minute go in the next line")
	require.EqualValues(t, 3, w["max_pending"])
}
