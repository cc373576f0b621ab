package serve_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestGetGenerationWaitEndToEnd long-polls a generation from enqueue to
// completion: the receiver announces the finished generation after its commit.
func TestGetGenerationWaitEndToEnd(t *testing.T) {
	t.Parallel()
	b := setup(t)

	g := b.enqueue(t, exampleInput)
	req, err := http.NewRequestWithContext(b.ctx, http.MethodGet, b.baseURL+"/v1/generations/"+g.ID+"?wait=60s", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "false", resp.Header.Get("Easel-Wait-Timed-Out"))
	var got generation
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	require.Equal(t, "completed", got.Status)
	require.Len(t, got.Images, 2)
}
