package fal

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// Webhook bodies from fal-protocol.md §2 and §4, in the Python separators and
// sorted keys of a real delivery.
const (
	webhookOK = `{"error": null, "gateway_request_id": "9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f", ` +
		`"payload": {"has_nsfw_concepts": [false, false], ` +
		`"images": [{"content_type": "image/jpeg", "file_name": "q1Xy7.jpeg", "file_size": 512345, "height": 1024, "url": "https://v3.fal.media/files/rabbit/q1Xy7.jpeg", "width": 1024}, ` +
		`{"content_type": "image/jpeg", "file_name": "Zk82p.jpeg", "file_size": 498812, "height": 1024, "url": "https://v3.fal.media/files/rabbit/Zk82p.jpeg", "width": 1024}], ` +
		`"seed": 17454220438242315174, "timings": {"inference": 6.21}}, ` +
		`"request_id": "9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f", "status": "OK"}`

	webhookError = `{"error": "Invalid status code: 422", "gateway_request_id": "9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f", ` +
		`"payload": {"detail": [{"loc": ["body", "num_images"], "msg": "Input should be less than or equal to 4", "type": "less_than_equal", "ctx": {"le": 4}, "input": 5}]}, ` +
		`"request_id": "9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f", "status": "ERROR"}`

	webhookPayloadError = `{"error": null, "gateway_request_id": "9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f", "payload": null, ` +
		`"payload_error": "Response payload is not JSON serializable", ` +
		`"request_id": "9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f", "status": "OK"}`
)

func TestParseWebhook(t *testing.T) {
	t.Parallel()

	const requestID = "9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f"

	t.Run("OK", func(t *testing.T) {
		t.Parallel()

		p, err := ParseWebhook([]byte(webhookOK))
		require.NoError(t, err)
		require.Equal(t, requestID, p.RequestID)
		require.Equal(t, requestID, p.GatewayRequestID)
		require.Equal(t, WebhookStatusOK, p.Status)
		require.Empty(t, p.Error)
		require.Empty(t, p.PayloadError)

		// The payload is the exact bytes sent, so the seed beyond int64
		// survives.
		start := bytes.Index([]byte(webhookOK), []byte(`{"has_nsfw_concepts"`))
		end := bytes.Index([]byte(webhookOK), []byte(`, "request_id"`))
		require.Equal(t, webhookOK[start:end], string(p.Payload))
		require.Contains(t, string(p.Payload), `"seed": 17454220438242315174`)

		out, err := DecodeOutput(p.Payload)
		require.NoError(t, err)
		require.Len(t, out.Images, 2)
		no := false
		require.Equal(t, []*bool{&no, &no}, out.HasNSFWConcepts)
	})

	t.Run("Error", func(t *testing.T) {
		t.Parallel()

		p, err := ParseWebhook([]byte(webhookError))
		require.NoError(t, err)
		require.Equal(t, WebhookStatusError, p.Status)
		require.Equal(t, "Invalid status code: 422", p.Error)
		require.JSONEq(t, `{"detail": [{"loc": ["body", "num_images"], "msg": "Input should be less than or equal to 4", "type": "less_than_equal", "ctx": {"le": 4}, "input": 5}]}`, string(p.Payload))
	})

	t.Run("PayloadError", func(t *testing.T) {
		t.Parallel()

		p, err := ParseWebhook([]byte(webhookPayloadError))
		require.NoError(t, err)
		require.Equal(t, WebhookStatusOK, p.Status)
		require.Nil(t, p.Payload)
		require.Equal(t, "Response payload is not JSON serializable", p.PayloadError)
	})

	t.Run("ProtocolVector", func(t *testing.T) {
		t.Parallel()

		p, err := ParseWebhook([]byte(vectorBody))
		require.NoError(t, err)
		require.Equal(t, vectorRequestID, p.RequestID)
		out, err := DecodeOutput(p.Payload)
		require.NoError(t, err)
		require.Equal(t, []Image{{URL: "https://v3.fal.media/files/x/a1.jpeg", ContentType: "image/jpeg", FileName: "a1.jpeg",
			FileSize: 123456, Width: 1024, Height: 1024}}, out.Images)
	})

	t.Run("UnknownFieldsAndWhitespace", func(t *testing.T) {
		t.Parallel()

		p, err := ParseWebhook([]byte("\n {\"request_id\": \"r1\", \"status\": \"OK\", \"future\": {\"x\": [1]}}\r\n"))
		require.NoError(t, err)
		require.Equal(t, "r1", p.RequestID)
		require.Nil(t, p.Payload)
	})
}

func TestParseWebhookRejects(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		body    string
		wantErr string
	}{
		{name: "Empty", body: ``, wantErr: "body is not a JSON object"},
		{name: "Array", body: `[{"request_id": "r1", "status": "OK"}]`, wantErr: "body is not a JSON object"},
		{name: "Null", body: `null`, wantErr: "body is not a JSON object"},
		{name: "String", body: `"OK"`, wantErr: "body is not a JSON object"},
		{name: "Truncated", body: `{"request_id": "r1", "status": "OK"`, wantErr: "parse fal webhook"},
		{name: "TrailingData", body: `{"request_id": "r1", "status": "OK"} {}`, wantErr: "data after the JSON object"},
		{name: "MissingRequestID", body: `{"status": "OK", "payload": {}}`, wantErr: "request_id is missing"},
		{name: "RequestIDNotString", body: `{"request_id": 7, "status": "OK"}`, wantErr: "request_id"},
		{name: "MissingStatus", body: `{"request_id": "r1"}`, wantErr: `status "" is neither "OK" nor "ERROR"`},
		{name: "QueueStatus", body: `{"request_id": "r1", "status": "COMPLETED"}`, wantErr: `status "COMPLETED" is neither "OK" nor "ERROR"`},
		{name: "GatewayRequestIDNotString", body: `{"request_id": "r1", "gateway_request_id": 7, "status": "OK"}`, wantErr: "gateway_request_id is not a string"},
		// Postgres text refuses NUL, and encoding/json would read the others
		// as U+FFFD: the id recorded would name no request fal knows.
		{name: "RequestIDNUL", body: `{"request_id": "r\u00001", "status": "OK"}`, wantErr: `parse fal webhook: request_id contains the NUL character (\u0000)`},
		{name: "RequestIDInvalidUTF8", body: "{\"request_id\": \"r\xff1\", \"status\": \"OK\"}", wantErr: "parse fal webhook: request_id is not valid UTF-8"},
		{name: "RequestIDLoneHighSurrogate", body: `{"request_id": "r\ud8001", "status": "OK"}`, wantErr: `parse fal webhook: request_id contains an unpaired UTF-16 surrogate escape such as \ud800`},
		{name: "RequestIDLoneLowSurrogate", body: `{"request_id": "\udc00", "status": "OK"}`, wantErr: `parse fal webhook: request_id contains an unpaired UTF-16 surrogate escape such as \ud800`},
		{name: "RequestIDHighSurrogateAtEnd", body: `{"request_id": "r\ud800", "status": "OK"}`, wantErr: `parse fal webhook: request_id contains an unpaired UTF-16 surrogate escape such as \ud800`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			p, err := ParseWebhook([]byte(tt.body))
			require.Nil(t, p)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

// TestParseWebhookStorableText checks that what a delivery says beside its
// request id is kept in a form Postgres text takes, rather than refused:
// refusing would lose the result it carries.
func TestParseWebhookStorableText(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		body string
		want WebhookPayload
	}{
		{
			name: "GatewayRequestIDDropped",
			body: `{"request_id": "r1", "gateway_request_id": "g\u00001", "status": "OK", "payload": null}`,
			want: WebhookPayload{RequestID: "r1", Status: WebhookStatusOK},
		},
		{
			name: "GatewayRequestIDLoneSurrogateDropped",
			body: `{"request_id": "r1", "gateway_request_id": "g\udfff", "status": "OK"}`,
			want: WebhookPayload{RequestID: "r1", Status: WebhookStatusOK},
		},
		{
			name: "GatewayRequestIDInvalidUTF8Dropped",
			body: "{\"request_id\": \"r1\", \"gateway_request_id\": \"\xc0\", \"status\": \"OK\"}",
			want: WebhookPayload{RequestID: "r1", Status: WebhookStatusOK},
		},
		{
			name: "ErrorTextsCleaned",
			body: "{\"request_id\": \"r1\", \"status\": \"ERROR\", \"error\": \"bad\\u0000\\nthing\\ud800 \xff\", \"payload_error\": \" \\u0000x\\t\"}",
			want: WebhookPayload{RequestID: "r1", Status: WebhookStatusError, Error: "bad  thing\uFFFD \uFFFD", PayloadError: "x"},
		},
		{
			name: "ErrorTextBounded",
			body: `{"request_id": "r1", "status": "ERROR", "error": "` + strings.Repeat("e", 2*maxDetailLen) + `"}`,
			want: WebhookPayload{RequestID: "r1", Status: WebhookStatusError, Error: strings.Repeat("e", maxDetailLen) + "…"},
		},
		{
			// An escaped backslash before u0000 is the six characters
			// \u0000, and a surrogate pair is one character: both are text.
			name: "EscapesThatAreText",
			body: `{"request_id": "r\\u0000\ud83d\ude00", "gateway_request_id": "\\ud800", "status": "OK"}`,
			want: WebhookPayload{RequestID: `r\u0000😀`, GatewayRequestID: `\ud800`, Status: WebhookStatusOK},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			p, err := ParseWebhook([]byte(tt.body))
			require.NoError(t, err)
			require.Equal(t, tt.want, *p)
		})
	}
}

func TestWebhookPayloadErrorDetail(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name        string
		body        string
		wantCode    string
		wantMessage string
	}{
		{name: "OK", body: webhookOK},
		{
			name:        "ValidationError",
			body:        webhookError,
			wantCode:    "less_than_equal",
			wantMessage: "num_images: Input should be less than or equal to 4",
		},
		{
			name:        "InfrastructureError",
			body:        `{"request_id": "r1", "status": "ERROR", "error": "Invalid status code: 504", "payload": {"detail": "Request timed out", "error_type": "request_timeout"}}`,
			wantCode:    "request_timeout",
			wantMessage: "Request timed out",
		},
		{
			name:        "PydanticStyle",
			body:        `{"request_id": "r1", "status": "ERROR", "payload": {"detail": [{"loc": ["body", "image_prompt_1", "image_url"], "msg": "field required", "type": "value_error.missing"}]}}`,
			wantCode:    "value_error.missing",
			wantMessage: "image_prompt_1.image_url: field required",
		},
		{
			name:        "NoPayload",
			body:        `{"request_id": "r1", "status": "ERROR", "error": "Invalid status code: 500", "payload": null}`,
			wantMessage: "Invalid status code: 500",
		},
		{
			name:        "PayloadWithoutDetail",
			body:        `{"request_id": "r1", "status": "ERROR", "error": "Invalid status code: 500", "payload": {"message": "boom"}}`,
			wantMessage: "Invalid status code: 500",
		},
		{
			name:        "PayloadError",
			body:        webhookPayloadError,
			wantMessage: "Response payload is not JSON serializable",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			p, err := ParseWebhook([]byte(tt.body))
			require.NoError(t, err)
			code, message := p.ErrorDetail()
			require.Equal(t, tt.wantCode, code)
			require.Equal(t, tt.wantMessage, message)
		})
	}
}

func FuzzParseWebhook(f *testing.F) {
	for _, seed := range []string{
		webhookOK, webhookError, webhookPayloadError, vectorBody,
		`{}`, `[]`, `null`, `{"request_id": "r", "status": "ERROR", "payload": {"detail": [1, {"loc": [0]}]}}`,
		`{"request_id": "r", "status": "ERROR", "payload": "text"}`, "{\"request_id\": \"\xff\", \"status\": \"OK\"}",
		`{"request_id": "r\u0000", "status": "OK"}`, `{"request_id": "r\ud800\u0041", "status": "OK"}`,
		`{"request_id": "r\\ud800", "gateway_request_id": "\udc00", "status": "ERROR", "error": "a\u0000\n", "payload_error": "\u0000"}`,
	} {
		f.Add([]byte(seed))
	}

	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := ParseWebhook(body)
		if err != nil {
			require.Nil(t, p)
			return
		}
		require.NotEmpty(t, p.RequestID)
		require.Contains(t, []string{WebhookStatusOK, WebhookStatusError}, p.Status)
		// Every string can go into a Postgres text column.
		for _, s := range []string{p.RequestID, p.GatewayRequestID, p.Error, p.PayloadError} {
			require.True(t, utf8.ValidString(s), "%q", s)
			require.NotContains(t, s, "\x00")
		}
		require.LessOrEqual(t, len(p.Error), maxDetailLen+len("…"))
		require.LessOrEqual(t, len(p.PayloadError), maxDetailLen+len("…"))
		if p.Payload != nil {
			require.True(t, json.Valid(p.Payload))
			require.True(t, bytes.Contains(body, p.Payload), "payload bytes are kept as sent")
		}
		_, message := p.ErrorDetail()
		require.LessOrEqual(t, len(message), maxDetailLen+len("…"))
		_, _ = DecodeOutput(p.Payload)
	})
}
