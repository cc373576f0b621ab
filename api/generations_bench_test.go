package api_test

import (
	"net/http"
	"testing"

	"github.com/easelhq/easel/internal/dbtest"
)

// BenchmarkCreateGeneration is one POST /v1/generations through the
// handler, as easel serve configures it (EASEL_CLIENT_MAX_PENDING's default
// cap, checked through its cache), without a network: read and validate
// the body, insert the generation and its River job, answer.
func BenchmarkCreateGeneration(b *testing.B) {
	bundle, err := setupWith(b, setupOpts{maxPending: 10000})
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"prompt": "a lighthouse at dusk, oil painting", "image_prompt_1": {"image_url": "https://example.com/reference.png"}, "metadata": {"order": 1042}}`)
	header := jsonHeader()

	cpu := dbtest.StartCPUMeter(bundle.ctx, b, bundle.pool)
	b.ReportAllocs()
	for b.Loop() {
		if resp := bundle.serve(http.MethodPost, "/v1/generations", header, body); resp.status != http.StatusAccepted {
			b.Fatalf("%d: %s", resp.status, resp.body)
		}
	}
	cpu.Report(b)
}
