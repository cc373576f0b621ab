package fal

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// queueAnswerSeeds are shapes of fal's submit and status answers, the
// informational fields in forms fal does not document among them.
var queueAnswerSeeds = []string{
	`{"request_id":"764cabcf-b745-4b3e-ae38-1200304cf45b","gateway_request_id":"764cabcf-b745-4b3e-ae38-1200304cf45b",` +
		`"response_url":"https://queue.fal.run/fal-ai/fooocus/requests/764cabcf","status_url":"https://queue.fal.run/fal-ai/fooocus/requests/764cabcf/status",` +
		`"cancel_url":"https://queue.fal.run/fal-ai/fooocus/requests/764cabcf/cancel","queue_position":0,"status":"IN_QUEUE"}`,
	`{"request_id":"r1","queue_position":0.0}`,
	`{"status":"IN_QUEUE","request_id":"r1","queue_position":2.0}`,
	`{"status":"IN_QUEUE","request_id":"r1","queue_position":2.5e0}`,
	`{"status":"IN_QUEUE","request_id":"r1","queue_position":-0.0}`,
	`{"status":"IN_QUEUE","request_id":"r1","queue_position":1e400}`,
	`{"status":"IN_PROGRESS","request_id":"r1","logs":[{"message":"Generating...","timestamp":1739788202.456}]}`,
	`{"status":"IN_PROGRESS","request_id":"r1","logs":[{"message":"x","timestamp":"2026-02-17T10:30:02.456Z","level":"INFO","source":"USER"},null,3]}`,
	`{"status":"COMPLETED","request_id":"r1","error":{"detail":[{"loc":["body","x"],"msg":"bad"}]},"error_type":"x"}`,
	`{"status":"COMPLETED","request_id":"r1","logs":[],"metrics":{"inference_time":3.42}}`,
	`{"status":"COMPLETED","metrics":{"inference_time":"3.42"},"error":"line\nbreak\u0000"}`,
	`{"status":"COMPLETED","request_id":"r1","error":false,"error_type":[]}`,
	`{"status":"COMPLETED","request_id":"r1","error":{ },"error_type":""}`,
	`{"status":"COMPLETED","request_id":"r1","error":[ ],"error_type":{}}`,
	`{"request_id":"r\u0000"}`,
	`{"request_id":42}`,
	`{"request_id":"r1","request_id":""}`,
	`{"status":"\ud800"}`,
	`[]`, `null`, ``, `{`,
}

// FuzzDecodeQueueResponse checks that a submit answer is refused only for
// want of a request id, which is then one Postgres can store, and that
// what it reads is what the answer says.
func FuzzDecodeQueueResponse(f *testing.F) {
	for _, seed := range queueAnswerSeeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := decodeQueueResponse(body)
		var fields map[string]json.RawMessage
		isObject := json.Unmarshal(body, &fields) == nil && len(bytes.TrimSpace(body)) > 0 && bytes.TrimSpace(body)[0] == '{'
		if err != nil {
			require.Nil(t, resp)
			var id string
			if isObject && json.Unmarshal(fields["request_id"], &id) == nil && id != "" && !strings.ContainsRune(id, 0) &&
				!bytes.Contains(fields["request_id"], []byte(`\u`)) && utf8.Valid(fields["request_id"]) {
				require.Fail(t, "an answer with a plain request id was refused", "%s: %v", body, err)
			}
			return
		}
		require.True(t, isObject)
		require.NotEmpty(t, resp.RequestID)
		require.NotContains(t, resp.RequestID, "\x00")
		if resp.QueuePosition != nil {
			require.GreaterOrEqual(t, *resp.QueuePosition, 0)
		}
		var id string
		require.NoError(t, json.Unmarshal(fields["request_id"], &id))
		require.Equal(t, id, resp.RequestID)
	})
}

// FuzzDecodeStatus checks that a status answer is refused only for want of
// a status, and never over another field.
func FuzzDecodeStatus(f *testing.F) {
	for _, seed := range queueAnswerSeeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		status, err := decodeStatus(body)
		var fields map[string]json.RawMessage
		trimmed := bytes.TrimSpace(body)
		isObject := len(trimmed) > 0 && trimmed[0] == '{' && json.Unmarshal(trimmed, &fields) == nil
		if err != nil {
			require.Nil(t, status)
			var s string
			if isObject && json.Unmarshal(fields["status"], &s) == nil {
				require.Empty(t, s, "refused a status answer with a status: %s: %v", body, err)
			}
			return
		}
		require.True(t, isObject)
		require.NotEmpty(t, status.Status)
		if status.QueuePosition != nil {
			require.GreaterOrEqual(t, *status.QueuePosition, 0)
		}
		var compact bytes.Buffer
		if json.Compact(&compact, fields["error"]) == nil {
			switch compact.String() {
			case "null", "false", `""`, "{}", "[]":
				require.Empty(t, status.Error, "an error of no value is no error: %s", body)
			}
		}
		var s string
		if json.Unmarshal(fields["error"], &s) != nil {
			// Not a string: kept as one bounded line.
			require.LessOrEqual(t, len(status.Error), maxDetailLen+len("…"))
			require.NotContains(t, status.Error, "\n")
		}
	})
}
