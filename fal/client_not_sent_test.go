package fal

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// A request net/http would refuse to send fails with ErrInvalidRequest, so
// that a caller knows fal received nothing (it is not paid for), and says
// why without the key.
func TestClientRefusesUnsendableRequests(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		key     string
		queue   string // empty: the test server
		wantErr string
	}{
		{name: "key with a trailing newline", key: testFalKey + "\n",
			wantErr: `invalid fal request: header "Authorization" holds a control character, such as a trailing newline, from the fal key (FAL_KEY); nothing was sent`},
		{name: "key with a carriage return", key: testFalKey + "\r\n", wantErr: `header "Authorization" holds a control character`},
		{name: "key with a NUL", key: "key\x00" + testFalKey, wantErr: `header "Authorization" holds a control character`},
		{name: "queue URL not http(s)", key: testFalKey, queue: "ftp://queue.fal.run", wantErr: `invalid fal request: queue URL "ftp://queue.fal.run" is not http(s)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bundle := setupClient(t, respondJSON(200, `{"request_id":"r","status":"COMPLETED"}`))
			queue := tt.queue
			if queue == "" {
				queue = bundle.server.URL
			}
			client := NewClient(ClientConfig{QueueURL: queue, Key: tt.key, HTTPClient: bundle.server.Client()})
			status, _, cancel := client.RequestURLs(EndpointImagePrompt, "r")
			ctx := context.Background()

			_, submitErr := client.Submit(ctx, SubmitRequest{EndpointID: EndpointImagePrompt, Input: json.RawMessage(`{}`)})
			_, statusErr := client.Status(ctx, status)
			_, cancelErr := client.Cancel(ctx, cancel)
			for _, err := range []error{submitErr, statusErr, cancelErr} {
				require.ErrorIs(t, err, ErrInvalidRequest)
				require.ErrorContains(t, err, tt.wantErr)
				require.NotContains(t, err.Error(), testFalKey)
			}
			require.Empty(t, bundle.requests, "nothing sent")
		})
	}
}

// A tab is allowed in a header value: net/http sends it.
func TestClientSendsKeyWithTab(t *testing.T) {
	t.Parallel()
	bundle := setupClient(t, respondJSON(200, `{"request_id":"r"}`))
	client := NewClient(ClientConfig{QueueURL: bundle.server.URL, Key: "id:\tsecret", HTTPClient: bundle.server.Client()})
	_, err := client.Submit(context.Background(), SubmitRequest{EndpointID: EndpointImagePrompt, Input: json.RawMessage(`{}`)})
	require.NoError(t, err)
	require.Equal(t, "Key id:\tsecret", bundle.lastRequest(t).Header.Get("Authorization"))
}
