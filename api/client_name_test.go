package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/jobs"
)

// A Handler mounted behind the service's own authentication records the
// client that authentication names, and counts the pending cap per client.
func TestSetClientNameNamesTheClient(t *testing.T) {
	t.Parallel()
	b := mount(t, mountOpts{teams: map[string]string{"token-acme": "acme", "token-globex": "globex"}, maxPending: 1})

	acme, _ := b.enqueue(t, "/v1/generations", "token-acme", nil, http.StatusAccepted)
	require.Equal(t, "acme", acme.Client)
	require.Equal(t, "acme", b.storedClient(t, acme.ID))

	// acme is at its cap of one; globex, another client, is not.
	resp := b.do(t, http.MethodPost, "/v1/generations", "token-acme", nil, falExampleInput)
	require.Equal(t, http.StatusTooManyRequests, resp.status, string(resp.body))
	require.Contains(t, resp.errorBody(t).Message, "client acme has 1 unfinished")
	globex, _ := b.enqueue(t, "/v1/generations", "token-globex", nil, http.StatusAccepted)
	require.Equal(t, "globex", b.storedClient(t, globex.ID))

	for client, wantIDs := range map[string][]string{"acme": {acme.ID}, "globex": {globex.ID}, api.AnonymousClient: {}} {
		resp := b.do(t, http.MethodGet, "/v1/generations?client="+client, "token-acme", nil, "")
		require.Equal(t, http.StatusOK, resp.status, string(resp.body))
		var page struct {
			Data []generation `json:"data"`
		}
		require.NoError(t, json.Unmarshal(resp.body, &page))
		ids := []string{}
		for _, g := range page.Data {
			ids = append(ids, g.ID)
		}
		require.Equal(t, wantIDs, ids, "?client=%s", client)
	}

	// The service's own refusal keeps its status through api.ErrorHandler.
	resp = b.do(t, http.MethodPost, "/v1/generations", "token-unknown", nil, falExampleInput)
	require.Equal(t, http.StatusUnauthorized, resp.status)
	require.Equal(t, "unknown team token", resp.errorBody(t).Message)
	require.Equal(t, 2, b.generationCount(t))
}

// A client name Enqueue would refuse is the service's error, not the
// caller's: a 500 whose log names it, never an enqueue as "anonymous",
// whether the middleware returns SetClientName's error or drops it.
func TestSetClientNameInvalid(t *testing.T) {
	t.Parallel()
	longest := strings.Repeat("é", jobs.MaxClientBytes/2)
	for _, tt := range []struct {
		name   string
		client string
		// wantProblem is what the error says of the name; "" means valid.
		wantProblem string
		// wantShown is how the error quotes the name.
		wantShown string
	}{
		{name: "empty", client: "", wantProblem: "must not be empty", wantShown: `""`},
		{
			name: "too long", client: strings.Repeat("x", jobs.MaxClientBytes+1),
			wantProblem: "must be at most 200 bytes", wantShown: strconv.Quote(strings.Repeat("x", 64)) + " (cut)",
		},
		{name: "invalid UTF-8", client: "caf\xe9", wantProblem: "must be UTF-8 text without the NUL character", wantShown: `"caf\xe9"`},
		{name: "NUL", client: "team\x00acme", wantProblem: "must be UTF-8 text without the NUL character", wantShown: `"team\x00acme"`},
		{name: "longest", client: longest},
	} {
		for _, drop := range []bool{false, true} {
			t.Run(tt.name+"/drop="+strconv.FormatBool(drop), func(t *testing.T) {
				t.Parallel()

				c := echo.New().NewContext(httptest.NewRequest(http.MethodPost, "/v1/generations", nil), httptest.NewRecorder())
				err := api.SetClientName(c, tt.client)
				require.Equal(t, tt.client, api.ClientName(c), "recorded as given")

				b := mount(t, mountOpts{teams: map[string]string{"token": tt.client}, dropNameErrors: drop})
				resp := b.do(t, http.MethodPost, "/v1/generations", "token", nil, falExampleInput)
				if tt.wantProblem == "" {
					require.NoError(t, err)
					require.Equal(t, http.StatusAccepted, resp.status, string(resp.body))
					var g generation
					require.NoError(t, json.Unmarshal(resp.body, &g))
					require.Equal(t, tt.client, b.storedClient(t, g.ID))
					return
				}

				require.ErrorIs(t, err, api.ErrInvalidClientName)
				require.ErrorContains(t, err, "invalid client name "+tt.wantShown+": it "+tt.wantProblem+" (see api.SetClientName)")
				require.Equal(t, http.StatusInternalServerError, resp.status, string(resp.body))
				require.Equal(t, "internal", resp.errorBody(t).Code)
				require.Contains(t, b.logs.String(), "invalid client name")
				require.Contains(t, b.logs.String(), tt.wantProblem)
				require.Zero(t, b.generationCount(t), "nothing enqueued, as anonymous or otherwise")
			})
		}
	}
}

// Without SetClientName, the mounted Handler's callers are all the one
// client AnonymousClient.
func TestClientNameUnnamedIsAnonymous(t *testing.T) {
	t.Parallel()
	c := echo.New().NewContext(httptest.NewRequest(http.MethodPost, "/v1/generations", nil), httptest.NewRecorder())
	require.Equal(t, api.AnonymousClient, api.ClientName(c))
}
