package api_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"
)

// The Location of a created generation leads to it wherever the service
// mounted Handler.
func TestLocationFollowsTheMount(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name        string
		group       func(e *echo.Echo) *echo.Group
		stripPrefix string
		post        string
	}{
		{name: "root", post: "/v1/generations"},
		{name: "group under a prefix", group: func(e *echo.Echo) *echo.Group { return e.Group("/easel/v1") }, post: "/easel/v1/generations"},
		{name: "nested groups", group: func(e *echo.Echo) *echo.Group { return e.Group("/easel").Group("/v1") }, post: "/easel/v1/generations"},
		{name: "behind http.StripPrefix", stripPrefix: "/svc", post: "/svc/v1/generations"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := mount(t, mountOpts{teams: map[string]string{"token": "shop"}, group: tt.group, stripPrefix: tt.stripPrefix})

			withKey := http.Header{"Idempotency-Key": {"order-1"}}
			created, resp := b.enqueue(t, tt.post, "token", withKey, http.StatusAccepted)
			location := resp.header.Get(echo.HeaderLocation)
			require.Equal(t, tt.post+"/"+created.ID, location)

			resp = b.do(t, http.MethodGet, location, "token", nil, "")
			require.Equal(t, http.StatusOK, resp.status, string(resp.body))
			var got generation
			require.NoError(t, json.Unmarshal(resp.body, &got))
			require.Equal(t, created.ID, got.ID)
			require.Equal(t, "shop", got.Client)

			_, resp = b.enqueue(t, tt.post, "token", withKey, http.StatusOK)
			require.Equal(t, location, resp.header.Get(echo.HeaderLocation), "a replay's too")
		})
	}
}
