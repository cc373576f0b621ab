package fal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// maxAPIErrorLen bounds APIError.Error(): the prefix, an error type and a
// truncated detail. The message is stored as a generation's error_message.
const maxAPIErrorLen = len("fal submit: HTTP 599 ") + maxErrorTypeLen + len("…: ") + maxDetailLen + len("…")

// FuzzNewAPIError checks the error built from any non-2xx answer of fal's
// queue API: its message is bounded, never empty and names the status; its
// detail and error type are one line of text Postgres can store; the API key
// never shows, even when the body escapes it; and a body with something to
// say is not summarised to nothing.
func FuzzNewAPIError(f *testing.F) {
	for _, seed := range []struct {
		status     int
		body       string
		errorType  string
		retryAfter string
		withKey    bool
	}{
		{401, `{"detail": "No user found for Key ID and Secret"}`, "", "", true},
		{422, `{"detail": [{"loc": ["body", "num_images"], "msg": "Input should be less than or equal to 4", "type": "less_than_equal", "ctx": {"le": 4}, "input": 5}, ` +
			`{"loc": ["body", "loras", 0, "scale"], "msg": "Input should be a valid number", "type": "float_parsing"}]}`, "", "", false},
		{429, `{"detail": "Queue is full"}`, "", "7", false},
		{500, `{"detail": "Internal error", "error_type": "internal_error"}`, "", "Tue, 17 Feb 2026 10:30:30 GMT", false},
		{502, "Bad Gateway\n<html><body>nginx</body></html>", "runner_incomplete_response", "", false},
		{504, `{"detail": "Request timed out", "error_type": "request_timeout"}`, "", "", false},
		{401, `{"detail": "Bad key ` + testFalKey + `"}`, "", "", true},
		{401, `{"detail": "Bad key key-id-1234\u003akey-secret-5678", "error_type": "key-id-1234\u003akey-secret-5678"}`, "", "", true},
		{422, `{"detail": "line one\nline two\u0000\u001b[31m"}`, "", "", false},
		{503, "\xff\xfe B\xe4d Gateway \x00", "", "", false},
		{500, `{"detail": {"nested": [1, 2]}, "error_type": 5}`, "", "-1", false},
		{422, `{"detail": [1, "x", {"loc": [0, null, {"a": 1}], "msg": ""}, {"type": "t"}]}`, "", "", false},
		{400, `{"detail": "` + strings.Repeat("é", 400) + `"}`, strings.Repeat("x", 300), "", false},
		{408, ``, "", "", false},
		{418, `{"detail": null}`, "", "", false},
	} {
		f.Add(seed.status, []byte(seed.body), seed.errorType, seed.retryAfter, seed.withKey)
	}

	f.Fuzz(func(t *testing.T, status int, body []byte, errorType, retryAfter string, withKey bool) {
		status = nonSuccessStatus(status)
		key := ""
		if withKey {
			key = testFalKey
		}
		header := http.Header{}
		header.Set("X-Fal-Error-Type", errorType)
		header.Set("Retry-After", retryAfter)
		resp := &http.Response{StatusCode: status, Header: header}

		e := newAPIError("submit", resp, bytes.Clone(body), key)

		require.Equal(t, "submit", e.Op)
		require.Equal(t, status, e.StatusCode)
		require.GreaterOrEqual(t, e.RetryAfter, time.Duration(0))
		require.Equal(t, status >= 500 || status == 408 || status == 409 || status == 429, e.Retryable())

		msg := e.Error()
		require.True(t, strings.HasPrefix(msg, fmt.Sprintf("fal submit: HTTP %d", status)), msg)
		require.LessOrEqual(t, len(msg), maxAPIErrorLen)
		requireStorableLine(t, e.Detail, maxDetailLen+len("…"))
		requireStorableLine(t, e.ErrorType, maxErrorTypeLen+len("…"))

		if key != "" {
			require.Equal(t, bytes.ReplaceAll(body, []byte(key), []byte("[REDACTED]")), e.Body)
			require.NotContains(t, msg, key)
			require.NotContains(t, string(e.Body), key)
		} else {
			require.Equal(t, body, e.Body)
		}

		if said := bodySays(body); hasVisibleText(said) {
			require.NotEmpty(t, e.Detail, "body says %q", said)
		}
	})
}

// nonSuccessStatus maps n onto the statuses newAPIError is given: 100 to
// 599 but not 2xx.
func nonSuccessStatus(n int) int {
	s := 100 + int(uint(n)%400)
	if s >= 200 {
		s += 100
	}
	return s
}

// bodySays is what an error body plainly says: its string detail, or for a
// body that is not a JSON object, its first line.
func bodySays(body []byte) string {
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil {
		first, _, _ := strings.Cut(string(body), "\n")
		return first
	}
	var detail string
	_ = json.Unmarshal(fields["detail"], &detail)
	return detail
}

func hasVisibleText(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool {
		return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r))
	})
}

// requireStorableLine checks that s fits in maxLen bytes and in a Postgres
// text column (valid UTF-8 without NUL), and reads as one line in a log.
func requireStorableLine(t *testing.T, s string, maxLen int) {
	t.Helper()
	require.LessOrEqual(t, len(s), maxLen)
	require.True(t, utf8.ValidString(s), "%q is not UTF-8", s)
	require.False(t, strings.ContainsFunc(s, unicode.IsControl), "%q has a control character", s)
	require.Equal(t, strings.TrimSpace(s), s)
}

func TestNewAPIErrorTidiesWhatFalSays(t *testing.T) {
	t.Parallel()

	// The key with its colon escaped, as a JSON encoder may write it.
	escapedKey := strings.Replace(testFalKey, ":", `\u003a`, 1)
	tests := []struct {
		name          string
		body          string
		errorType     string // X-Fal-Error-Type
		wantDetail    string
		wantErrorType string
	}{
		{
			name:          "EscapedKey",
			body:          `{"detail": "Bad key ` + escapedKey + `", "error_type": "` + escapedKey + `"}`,
			wantDetail:    "Bad key [REDACTED]",
			wantErrorType: "[REDACTED]",
		},
		{
			// Redacted before truncation: no prefix of the key is left at the cut.
			name:       "EscapedKeyAtTheCut",
			body:       `{"detail": "` + strings.Repeat("a", maxDetailLen-5) + " " + escapedKey + `"}`,
			wantDetail: strings.Repeat("a", maxDetailLen-5) + " [RED…",
		},
		{
			name:       "ControlCharacters",
			body:       `{"detail": "Traceback:\n  File \"app.py\"\u0000\u001b[31m\u2028 end\t"}`,
			wantDetail: `Traceback:   File "app.py"  [31m  end`,
		},
		{
			name:       "NotUTF8",
			body:       "\xffB\xe4d Gateway\x00\r\n<html>",
			wantDetail: "\uFFFDB\uFFFDd Gateway",
		},
		{
			name:          "LongErrorType",
			body:          `{"detail": "x", "error_type": "` + strings.Repeat("e", 100) + `"}`,
			wantDetail:    "x",
			wantErrorType: strings.Repeat("e", maxErrorTypeLen) + "…",
		},
		{
			name:          "HeaderErrorType",
			errorType:     "runner\x00" + strings.Repeat("h", 100),
			wantErrorType: "runner " + strings.Repeat("h", maxErrorTypeLen-len("runner ")) + "…",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			resp := &http.Response{StatusCode: http.StatusUnauthorized, Header: http.Header{}}
			resp.Header.Set("X-Fal-Error-Type", tt.errorType)
			e := newAPIError("submit", resp, []byte(tt.body), testFalKey)
			require.Equal(t, tt.wantDetail, e.Detail)
			require.Equal(t, tt.wantErrorType, e.ErrorType)
			require.NotContains(t, e.Error(), testFalKey)
		})
	}
}

// TestWebhookErrorDetailIsStorable covers the webhook side of the same
// summary: its code and message become a generation's error_code and
// error_message.
func TestWebhookErrorDetailIsStorable(t *testing.T) {
	t.Parallel()

	p, err := ParseWebhook([]byte(`{"request_id": "r", "status": "ERROR", "error": "Invalid status code:\n422\u0000",
		"payload": {"detail": [{"loc": ["body", "prompt"], "msg": "bad\u0000", "type": "value\u0000error"}]}}`))
	require.NoError(t, err)
	code, message := p.ErrorDetail()
	require.Equal(t, "value error", code)
	require.Equal(t, "prompt: bad", message)

	p.Payload = nil
	_, message = p.ErrorDetail()
	require.Equal(t, "Invalid status code: 422", message)
}
