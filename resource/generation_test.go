package resource_test

import (
	"encoding/json"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/resource"
	"github.com/easelhq/easel/store"
)

// A generation submitted twice, one answer lost, shows both counts: a
// caller can tell that fal may have billed one request more than the one
// recorded (fal_submissions - fal_submissions_confirmed).
func TestGenerationShowsUnconfirmedSubmissions(t *testing.T) {
	t.Parallel()

	g := &store.Generation{ID: uuid.New(), Status: store.StatusSubmitted, Input: json.RawMessage(`{}`),
		Metadata: json.RawMessage(`{}`), Attempts: 3, FalSubmissions: 2, FalSubmissionsConfirmed: 1}
	body, err := json.Marshal(resource.NewGeneration(g, nil))
	require.NoError(t, err)
	var got struct {
		Attempts                int `json:"attempts"`
		FalSubmissions          int `json:"fal_submissions"`
		FalSubmissionsConfirmed int `json:"fal_submissions_confirmed"`
	}
	require.NoError(t, json.Unmarshal(body, &got))
	require.Equal(t, 3, got.Attempts)
	require.Equal(t, 2, got.FalSubmissions)
	require.Equal(t, 1, got.FalSubmissionsConfirmed)
}
