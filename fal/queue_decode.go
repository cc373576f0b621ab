package fal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// fal's queue answers are read field by field: what Easel needs (a
// submit's request id, a status's status) must be there, and every other
// field is taken only if it reads as expected and is otherwise left out.
// One strict decode of the whole answer would fail it over any detail fal
// changes (a queue position of 2.0, a log timestamp as a number), and a
// submit answer lost so would leave a request fal accepted, and bills,
// without its id.

// decodeQueueResponse reads fal's answer to a submit.
func decodeQueueResponse(body []byte) (*QueueResponse, error) {
	fields, err := decodeAnswerObject(body)
	if err != nil {
		return nil, err
	}
	requestID, err := webhookID("request_id", fields["request_id"])
	if err != nil {
		return nil, fmt.Errorf("response's %w", err)
	}
	if requestID == "" {
		return nil, errors.New("response has no request_id")
	}
	resp := &QueueResponse{
		RequestID:        requestID,
		GatewayRequestID: lenientString(fields["gateway_request_id"]),
		ResponseURL:      lenientString(fields["response_url"]),
		StatusURL:        lenientString(fields["status_url"]),
		CancelURL:        lenientString(fields["cancel_url"]),
		QueuePosition:    lenientCount(fields["queue_position"]),
	}
	return resp, nil
}

// decodeStatus reads fal's answer to a status request.
func decodeStatus(body []byte) (*Status, error) {
	fields, err := decodeAnswerObject(body)
	if err != nil {
		return nil, err
	}
	status := &Status{
		Status:        lenientString(fields["status"]),
		RequestID:     lenientString(fields["request_id"]),
		QueuePosition: lenientCount(fields["queue_position"]),
		ResponseURL:   lenientString(fields["response_url"]),
		StatusURL:     lenientString(fields["status_url"]),
		CancelURL:     lenientString(fields["cancel_url"]),
		Logs:          lenientLogs(fields["logs"]),
		Error:         lenientText(fields["error"]),
		ErrorType:     lenientText(fields["error_type"]),
	}
	if status.Status == "" {
		return nil, errors.New("response has no status")
	}
	var metrics map[string]json.RawMessage
	if json.Unmarshal(fields["metrics"], &metrics) == nil {
		status.InferenceTime = lenientFloat(metrics["inference_time"])
	}
	return status, nil
}

// decodeAnswerObject splits body, a JSON object, into its fields.
func decodeAnswerObject(body []byte) (map[string]json.RawMessage, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, errors.New("decode response: not a JSON object")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &fields); err != nil {
		return nil, fmt.Errorf("decode response: %w", err)
	}
	return fields, nil
}

// lenientString is raw as a string, or "" when it is not one.
func lenientString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// lenientText is raw as a string, or, for a value of another kind, its
// compact JSON made one bounded line, so that an error fal sends as an
// object still says there was one; "" (absent) for nothing, null, false,
// "", {} and []: each says there is no error, and a status's Error set
// from one would fail a request fal completed (see Status.Error).
func lenientText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var compact bytes.Buffer
	if json.Compact(&compact, raw) != nil {
		return ""
	}
	switch compact.String() {
	case "null", "false", "{}", "[]":
		return ""
	}
	return cleanDetail(compact.String())
}

// lenientCount is raw as a non-negative int: an integer, or a number
// whose value is one (2.0, 2e0); nil for anything else.
func lenientCount(raw json.RawMessage) *int {
	f := lenientFloat(raw)
	if f == nil || *f < 0 || *f > math.MaxInt32 || *f != math.Trunc(*f) {
		return nil
	}
	n := int(*f)
	return &n
}

// lenientFloat is raw as a finite number, or nil when it is not one.
func lenientFloat(raw json.RawMessage) *float64 {
	var n json.Number
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] == '"' || json.Unmarshal(raw, &n) != nil {
		return nil
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return nil
	}
	return &f
}

// lenientLogs is raw's log lines, each with the fields that read as
// strings; a timestamp sent as a number is kept as its digits. A line that
// is not an object, and logs that are not an array, are left out.
func lenientLogs(raw json.RawMessage) []LogLine {
	var elems []json.RawMessage
	if json.Unmarshal(raw, &elems) != nil || elems == nil {
		return nil
	}
	logs := make([]LogLine, 0, len(elems))
	for _, elem := range elems {
		var fields map[string]json.RawMessage
		if json.Unmarshal(elem, &fields) != nil || fields == nil {
			continue
		}
		line := LogLine{
			Message:   lenientString(fields["message"]),
			Level:     lenientString(fields["level"]),
			Source:    lenientString(fields["source"]),
			Timestamp: lenientString(fields["timestamp"]),
		}
		if line.Timestamp == "" {
			if f := lenientFloat(fields["timestamp"]); f != nil {
				line.Timestamp = string(bytes.TrimSpace(fields["timestamp"]))
			}
		}
		logs = append(logs, line)
	}
	return logs
}
