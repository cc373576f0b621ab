package api_test

import (
	"bytes"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/callbacks"
	"github.com/easelhq/easel/store"
)

// callbackExpression keys the createGeneration callback, as Standard
// Webhooks tooling and code generators read it.
const callbackExpression = "{$request.body#/callback_url}"

// TestOpenAPICallback: what callbacks.Deliverer sends a receiver is the
// generationFinished callback of the document, signatures of a rotation
// and all, and its body is the generation as GET returns it.
func TestOpenAPICallback(t *testing.T) {
	t.Parallel()
	b := setup(t)

	g := b.enqueue(t, jsonHeader(), withImagePrompt(`"callback_url":"https://example.com/done"`), http.StatusAccepted)
	_, err := store.Cancel(b.ctx, b.pool, uuid.MustParse(g.ID), "by client")
	require.NoError(t, err)
	got := b.do(t, http.MethodGet, "/v1/generations/"+g.ID, nil, nil)
	require.Equal(t, http.StatusOK, got.status, string(got.body))

	type delivered struct {
		header http.Header
		body   []byte
	}
	received := make(chan delivered, 1)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		received <- delivered{header: r.Header.Clone(), body: body}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)

	// Two masters, as during a rotation: two signatures.
	master := func(b byte) string { return "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) }
	secrets, err := callbacks.ParseSecrets(master(1) + " " + master(2))
	require.NoError(t, err)
	d := callbacks.NewDeliverer(secrets, &callbacks.Policy{AllowPrivate: true}) // the receiver is on loopback
	attempt := d.Deliver(b.ctx, callbacks.Delivery{ID: uuid.NewString(), Client: g.Client, URL: receiver.URL, Body: got.body,
		GenerationID: g.ID, Attempt: 1})
	require.NoError(t, attempt.Err)
	cb := <-received
	require.Len(t, strings.Fields(cb.header.Get(callbacks.HeaderSignature)), 2)

	refs := b.doc.Paths.Value("/v1/generations").Post.Callbacks
	require.Contains(t, refs, "generationFinished")
	require.Equal(t, "#/components/callbacks/GenerationFinished", refs["generationFinished"].Ref)
	item := refs["generationFinished"].Value.Value(callbackExpression)
	require.NotNil(t, item, "no callback keyed %s", callbackExpression)
	require.NotNil(t, item.Post)
	require.Equal(t, "#/components/schemas/Generation", item.Post.RequestBody.Value.Content.Get("application/json").Schema.Ref)
	for _, status := range []string{"2XX", "410", "default"} {
		require.NotNil(t, item.Post.Responses.Value(status), "the receiver's %s is documented", status)
	}
	route := &routers.Route{Spec: b.doc, Path: callbackExpression, PathItem: item, Method: http.MethodPost, Operation: item.Post}
	validate := func(header http.Header) error {
		req := httptest.NewRequest(http.MethodPost, receiver.URL, bytes.NewReader(cb.body))
		req.Header = header
		return openapi3filter.ValidateRequest(b.ctx, &openapi3filter.RequestValidationInput{Request: req, Route: route})
	}
	require.NoError(t, validate(cb.header), "a callback does not match openapi.yaml")

	// The document requires each of Easel's headers, so the check above
	// checks they are sent.
	for _, name := range []string{callbacks.HeaderID, callbacks.HeaderTimestamp, callbacks.HeaderSignature, "User-Agent",
		callbacks.HeaderGenerationID, callbacks.HeaderAttempt} {
		header := cb.header.Clone()
		header.Del(name)
		require.Error(t, validate(header), "a callback without %s matches openapi.yaml", name)
	}
}
