package falsim

import (
	"crypto/ed25519"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The test vector of fal-protocol.md §3, computed independently of this package.
const (
	vectorRequestID = "5b0c1f0e-8f4a-4c43-9d0e-3f1b6a2c7d11"
	vectorBody      = `{"error": null, "gateway_request_id": "5b0c1f0e-8f4a-4c43-9d0e-3f1b6a2c7d11", "payload": {"has_nsfw_concepts": [false], "images": [{"content_type": "image/jpeg", "file_name": "a1.jpeg", "file_size": 123456, "height": 1024, "url": "https://v3.fal.media/files/x/a1.jpeg", "width": 1024}], "timings": {"inference": 3.5}}, "request_id": "5b0c1f0e-8f4a-4c43-9d0e-3f1b6a2c7d11", "status": "OK"}`
	vectorSignature = "3cecb2d77e85a3deec5ed544f08dabf197cfcb305abe2339daaf749b08dbca312f4bf552925b3b1d1a8c33e3186da62f1aa1ee07b82bb648794c76820054f201"
)

// A delivery is signed with the simulator's key, its Config.UserID and its
// clock.
func TestSignMatchesProtocolVector(t *testing.T) {
	t.Parallel()

	sim, err := New(Config{UserID: "test-user"})
	require.NoError(t, err)
	t.Cleanup(sim.Close)

	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i)
	}
	sim.key = ed25519.NewKeyFromSeed(seed)
	sim.now = func() time.Time { return time.Unix(1760000000, 0) }

	require.Len(t, vectorBody, 388)
	h := sim.signatureHeaders(vectorRequestID, []byte(vectorBody))
	require.Equal(t, http.Header{
		"X-Fal-Webhook-Request-Id": {vectorRequestID},
		"X-Fal-Webhook-User-Id":    {"test-user"},
		"X-Fal-Webhook-Timestamp":  {"1760000000"},
		"X-Fal-Webhook-Signature":  {vectorSignature},
	}, h)
}

func TestWebhookBodyMatchesProtocolVector(t *testing.T) {
	t.Parallel()

	out := &outcome{
		status: 200,
		body:   []byte(`{"images":[{"url":"https://v3.fal.media/files/x/a1.jpeg","content_type":"image/jpeg","file_name":"a1.jpeg","file_size":123456,"width":1024,"height":1024}],"timings":{"inference":3.5},"has_nsfw_concepts":[false]}`),
	}
	req := &request{id: vectorRequestID, gatewayID: vectorRequestID, final: out}

	body, err := webhookBody(req)
	require.NoError(t, err)
	require.Equal(t, vectorBody, string(body))
}
