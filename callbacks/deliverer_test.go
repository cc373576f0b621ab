package callbacks_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/callbacks"
)

const testSecret = "whsec_dGVzdC1rZXktb2YtZWFzZWwtY2FsbGJhY2tzLTMyYg=="

type received struct {
	header http.Header
	body   []byte
}

type testBundle struct {
	deliverer *callbacks.Deliverer
	server    *httptest.Server
	requests  chan received
	status    atomic.Int32
	answer    atomic.Value // string: the body answered
	// header, when set, is added to every answer.
	header atomic.Pointer[http.Header]
}

// setup starts a receiver on 127.0.0.1, answering with the bundle's
// status, header and body, and a deliverer whose policy allows private
// addresses or not.
func setup(t *testing.T, allowPrivate bool) *testBundle {
	t.Helper()
	b := &testBundle{requests: make(chan received, 8)}
	b.status.Store(http.StatusNoContent)
	b.answer.Store("")
	b.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		b.requests <- received{header: r.Header.Clone(), body: body}
		if h := b.header.Load(); h != nil {
			for name, values := range *h {
				w.Header()[name] = values
			}
		}
		w.WriteHeader(int(b.status.Load()))
		_, _ = io.WriteString(w, b.answer.Load().(string))
	}))
	t.Cleanup(b.server.Close)
	secrets, err := callbacks.ParseSecrets(testSecret)
	require.NoError(t, err)
	b.deliverer = callbacks.NewDeliverer(secrets, &callbacks.Policy{AllowPrivate: allowPrivate})
	return b
}

// answerWith makes the receiver answer with status, body and the header
// name: value pairs.
func (b *testBundle) answerWith(status int, body string, header ...string) {
	h := http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	b.header.Store(&h)
	b.status.Store(int32(status))
	b.answer.Store(body)
}

func (b *testBundle) deliver(t *testing.T, body string) callbacks.Attempt {
	t.Helper()
	return b.deliverer.Deliver(context.Background(), callbacks.Delivery{ID: "delivery-7", Client: "billing", URL: b.server.URL + "/hook?token=abc", Body: []byte(body)})
}

func TestDeliverSignsTheRequest(t *testing.T) {
	t.Parallel()
	b := setup(t, true)
	const body = `{"id":"0193","status":"completed"}`

	before := time.Now().Unix()
	attempt := b.deliver(t, body)
	require.NoError(t, attempt.Err)
	require.Equal(t, http.StatusNoContent, attempt.StatusCode)

	got := <-b.requests
	require.Equal(t, body, string(got.body))
	require.Equal(t, "application/json", got.header.Get("Content-Type"))
	require.Equal(t, "delivery-7", got.header.Get("webhook-id"))
	ts, err := strconv.ParseInt(got.header.Get("webhook-timestamp"), 10, 64)
	require.NoError(t, err)
	require.GreaterOrEqual(t, ts, before)
	require.LessOrEqual(t, ts, time.Now().Unix())
	clientSecret := independentClientSecret(t, testSecret, "billing")
	require.Equal(t, independentSignature(t, clientSecret, "delivery-7", ts, got.body), got.header.Get("webhook-signature"))

	// A receiver using the package's own check accepts it too, with its
	// client's secret, and only with it.
	require.NoError(t, newSigner(t, clientSecret).Verify(got.header, got.body, time.Now()))
	for _, secret := range []string{testSecret, independentClientSecret(t, testSecret, "marketing")} {
		require.ErrorIs(t, newSigner(t, secret).Verify(got.header, got.body, time.Now()), callbacks.ErrBadSignature)
	}
}

// During a rotation every callback carries one signature per secret, the
// current one's first, so that receivers holding either accept it.
func TestDeliverSignsWithEverySecret(t *testing.T) {
	t.Parallel()
	b := setup(t, true)
	const newer = "whsec_c2VjcmV0LWtleS1vZi10aGlydHktdHdvLWJ5dGVzISE="
	secrets, err := callbacks.ParseSecrets(newer + " " + testSecret)
	require.NoError(t, err)
	d := callbacks.NewDeliverer(secrets, &callbacks.Policy{AllowPrivate: true})

	attempt := d.Deliver(context.Background(), callbacks.Delivery{ID: "d-1", Client: "billing", URL: b.server.URL, Body: []byte(`{}`)})
	require.NoError(t, attempt.Err)
	got := <-b.requests
	ts, err := strconv.ParseInt(got.header.Get("webhook-timestamp"), 10, 64)
	require.NoError(t, err)
	current, previous := independentClientSecret(t, newer, "billing"), independentClientSecret(t, testSecret, "billing")
	require.Equal(t, independentSignature(t, current, "d-1", ts, got.body)+" "+independentSignature(t, previous, "d-1", ts, got.body),
		got.header.Get("webhook-signature"))
	for _, secret := range []string{current, previous} {
		require.NoError(t, newSigner(t, secret).Verify(got.header, got.body, time.Now()))
	}
}

func TestDeliverClassifiesAnswers(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		status     int
		answer     string
		wantErr    string
		wantRecord string // the whole of Record, when not just Err
		permanent  bool
	}{
		{status: http.StatusOK},
		{status: http.StatusAccepted, answer: "queued"},
		{status: http.StatusInternalServerError, answer: "boom\n\x00\x1b[31mred", wantErr: "receiver answered 500 Internal Server Error",
			wantRecord: "receiver answered 500 Internal Server Error; body: boom [31mred"},
		{status: http.StatusBadGateway, wantErr: "receiver answered 502 Bad Gateway", wantRecord: "receiver answered 502 Bad Gateway"},
		{status: http.StatusRequestTimeout, wantErr: "408"},
		{status: http.StatusTooManyRequests, wantErr: "429"},
		{status: http.StatusFound, wantErr: "302 Found: redirects are not followed; set callback_url to the URL it redirects to"},
		// A receiver's refusal may be passing: its deploy, its clock, its
		// secret being rotated.
		{status: http.StatusBadRequest, answer: `{"error":"unknown id"}`, wantErr: "receiver answered 400 Bad Request",
			wantRecord: `receiver answered 400 Bad Request; body: {"error":"unknown id"}`},
		{status: http.StatusUnauthorized, wantErr: "401"},
		{status: http.StatusForbidden, wantErr: "403"},
		{status: http.StatusNotFound, wantErr: "404"},
		{status: http.StatusUnprocessableEntity, wantErr: "422"},
		{status: http.StatusGone, wantErr: "410", permanent: true},
	} {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			t.Parallel()
			b := setup(t, true)
			b.answerWith(tt.status, tt.answer)

			attempt := b.deliver(t, `{}`)
			require.Equal(t, tt.status, attempt.StatusCode)
			require.Equal(t, tt.permanent, attempt.Permanent)
			require.Equal(t, len(tt.answer), attempt.BodyBytes)
			require.Zero(t, attempt.RetryAfter)
			if tt.wantErr == "" {
				require.NoError(t, attempt.Err)
				require.Empty(t, attempt.Record())
			} else {
				require.ErrorContains(t, attempt.Err, tt.wantErr)
				require.True(t, strings.HasPrefix(attempt.Record(), attempt.Err.Error()), "the record starts with the error")
			}
			if tt.wantRecord != "" {
				require.Equal(t, tt.wantRecord, attempt.Record())
			}
			if tt.answer != "" && attempt.Err != nil {
				require.NotContains(t, attempt.Err.Error(), tt.answer[:3], "the body stays out of the error, which is logged")
			}
			require.Len(t, b.requests, 1, "one request, redirects not followed")
		})
	}
}

// Up to 256 bytes of a receiver's body are kept on record, marked when
// there was more; the error, which is logged and handed to River, has
// only the status.
func TestDeliverKeepsTheBodyOnRecordOnly(t *testing.T) {
	t.Parallel()
	b := setup(t, true)
	const marker = "tok_3f9a1c"
	body := "echo: " + marker + " " + strings.Repeat("x", 1000)
	b.answerWith(http.StatusUnauthorized, body)

	attempt := b.deliver(t, `{}`)
	require.Equal(t, "receiver answered 401 Unauthorized", attempt.Err.Error())
	require.Equal(t, len(body), attempt.BodyBytes)
	require.Equal(t, "receiver answered 401 Unauthorized; body: "+body[:256]+"…", attempt.Record())
	require.Contains(t, attempt.Record(), marker)
}

// A redirect is not followed: the record says where it pointed, without
// user info, query or fragment, and what to do.
func TestDeliverRedirect(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, location, wantLocation string
	}{
		{name: "absolute", location: "https://user:pa55@elsewhere.example.com/hooks/new?token=s3cr3t#part",
			wantLocation: "; Location: https://elsewhere.example.com/hooks/new (its query left out)"},
		{name: "relative", location: "/moved/here", wantLocation: "; Location: {server}/moved/here"},
		{name: "none"},
		{name: "long", location: "https://elsewhere.example.com/" + strings.Repeat("a", 300),
			wantLocation: "; Location: https://elsewhere.example.com/" + strings.Repeat("a", 256-len("https://elsewhere.example.com/")) + "…"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, true)
			var header []string
			if tt.location != "" {
				header = []string{"Location", tt.location}
			}
			b.answerWith(http.StatusPermanentRedirect, "", header...)

			attempt := b.deliver(t, `{}`)
			require.False(t, attempt.Permanent, "retried, in case the receiver is fixed")
			const wantErr = "receiver answered 308 Permanent Redirect: redirects are not followed; set callback_url to the URL it redirects to"
			require.Equal(t, wantErr, attempt.Err.Error(), "the error, which is logged, leaves the Location out")
			require.Equal(t, wantErr+strings.ReplaceAll(tt.wantLocation, "{server}", b.server.URL), attempt.Record())
			for _, secret := range []string{"s3cr3t", "pa55", "part", "token=abc"} {
				require.NotContains(t, attempt.Record(), secret)
			}
			require.Len(t, b.requests, 1)
		})
	}
}

// Retry-After, in seconds or as an HTTP date, is read on 429 and 503.
func TestDeliverRetryAfter(t *testing.T) {
	t.Parallel()
	inTwoHours := time.Now().Add(2 * time.Hour).UTC().Format(http.TimeFormat)
	for _, tt := range []struct {
		name       string
		status     int
		retryAfter string
		want       time.Duration
		approx     bool // an HTTP date: whole seconds, read a moment later
	}{
		{name: "429 seconds", status: http.StatusTooManyRequests, retryAfter: "120", want: 2 * time.Minute},
		{name: "503 seconds", status: http.StatusServiceUnavailable, retryAfter: " 3600 ", want: time.Hour},
		{name: "503 date", status: http.StatusServiceUnavailable, retryAfter: inTwoHours, want: 2 * time.Hour, approx: true},
		{name: "429 zero", status: http.StatusTooManyRequests, retryAfter: "0"},
		{name: "429 date past", status: http.StatusTooManyRequests, retryAfter: "Sun, 06 Nov 1994 08:49:37 GMT"},
		{name: "429 unreadable", status: http.StatusTooManyRequests, retryAfter: "soon"},
		{name: "429 negative", status: http.StatusTooManyRequests, retryAfter: "-30"},
		{name: "429 fraction", status: http.StatusTooManyRequests, retryAfter: "1.5"},
		{name: "429 none", status: http.StatusTooManyRequests},
		{name: "429 huge", status: http.StatusTooManyRequests, retryAfter: "99999999999999999999999", want: 365 * 24 * time.Hour},
		{name: "500 ignored", status: http.StatusInternalServerError, retryAfter: "120"},
		{name: "302 ignored", status: http.StatusFound, retryAfter: "120"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, true)
			var header []string
			if tt.retryAfter != "" {
				header = []string{"Retry-After", tt.retryAfter}
			}
			b.answerWith(tt.status, "slow down", header...)

			attempt := b.deliver(t, `{}`)
			require.Error(t, attempt.Err)
			require.False(t, attempt.Permanent)
			if tt.approx {
				require.InDelta(t, tt.want, attempt.RetryAfter, float64(5*time.Second))
			} else {
				require.Equal(t, tt.want, attempt.RetryAfter)
			}
			if tt.want > 0 && !tt.approx {
				require.ErrorContains(t, attempt.Err, ", Retry-After "+tt.want.String())
			}
			if tt.want == 0 {
				require.NotContains(t, attempt.Err.Error(), "Retry-After")
			}
		})
	}
}

// Easel-Generation-Id and Easel-Attempt are sent when the delivery has
// them, and left out when not.
func TestDeliverEaselHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t, true)
	const generationID = "0195c3a4-7e1f-7b2c-9d3e-5f6a7b8c9d0e"
	attempt := b.deliverer.Deliver(context.Background(), callbacks.Delivery{ID: "d-1", Client: "billing", URL: b.server.URL,
		Body: []byte(`{}`), GenerationID: generationID, Attempt: 3})
	require.NoError(t, attempt.Err)
	got := <-b.requests
	require.Equal(t, generationID, got.header.Get(callbacks.HeaderGenerationID))
	require.Equal(t, "3", got.header.Get(callbacks.HeaderAttempt))

	attempt = b.deliverer.Deliver(context.Background(), callbacks.Delivery{ID: "d-2", Client: "billing", URL: b.server.URL, Body: []byte(`{}`)})
	require.NoError(t, attempt.Err)
	got = <-b.requests
	require.NotContains(t, got.header, http.CanonicalHeaderKey(callbacks.HeaderGenerationID))
	require.NotContains(t, got.header, http.CanonicalHeaderKey(callbacks.HeaderAttempt))
}

// With private addresses not allowed, a receiver on loopback is refused when
// connecting, whatever the URL said; nothing reaches it and retrying cannot
// help.
func TestDeliverRefusesPrivateAddresses(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	_, port, err := net.SplitHostPort(strings.TrimPrefix(b.server.URL, "http://"))
	require.NoError(t, err)

	for _, url := range []string{
		b.server.URL + "/hook",
		"http://localhost:" + port + "/hook", // a name resolving to loopback
	} {
		attempt := b.deliverer.Deliver(context.Background(), callbacks.Delivery{ID: "d", URL: url, Body: []byte(`{}`)})
		require.ErrorIs(t, attempt.Err, callbacks.ErrForbiddenAddress, url)
		require.NotContains(t, attempt.Err.Error(), "/hook", "errors leave the URL out: its query may hold a token")
		require.True(t, attempt.Permanent)
		require.Zero(t, attempt.StatusCode)
	}
	require.Empty(t, b.requests)
}

// A URL that could not have been accepted at enqueue (written in SQL) is
// refused at once, and for good: no retry would make it valid.
func TestDeliverRefusesInvalidURLs(t *testing.T) {
	t.Parallel()
	b := setup(t, true)
	for _, url := range []string{
		"ftp://" + strings.TrimPrefix(b.server.URL, "http://") + "/hook",
		"file:///etc/passwd",
		"/relative",
		"http://user:token@" + strings.TrimPrefix(b.server.URL, "http://") + "/hook",
	} {
		attempt := b.deliverer.Deliver(context.Background(), callbacks.Delivery{ID: "d", Client: "c", URL: url, Body: []byte(`{}`)})
		require.ErrorContains(t, attempt.Err, "callback_url must", url)
		require.NotContains(t, attempt.Err.Error(), "token", "errors leave the URL out")
		require.True(t, attempt.Permanent, url)
		require.Zero(t, attempt.StatusCode)
	}
	require.Empty(t, b.requests)
}

func TestDeliverWithoutSecret(t *testing.T) {
	t.Parallel()
	b := setup(t, true)
	d := callbacks.NewDeliverer(nil, &callbacks.Policy{AllowPrivate: true})
	attempt := d.Deliver(context.Background(), callbacks.Delivery{ID: "d", URL: b.server.URL, Body: []byte(`{}`)})
	require.ErrorIs(t, attempt.Err, callbacks.ErrNoSecret)
	require.False(t, attempt.Permanent, "a secret can be configured before the next attempt")
	require.Empty(t, b.requests)
}

// Allowed ranges admit their addresses on connecting, and only theirs.
func TestDeliverToAllowedRanges(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	for _, tt := range []struct {
		allowed string
		refused bool
	}{
		{allowed: "127.0.0.0/8"},
		{allowed: "127.0.0.1/32"},
		{allowed: "10.0.0.0/8", refused: true},
		{allowed: "::1/128", refused: true},
	} {
		p := &callbacks.Policy{Allowed: []netip.Prefix{netip.MustParsePrefix(tt.allowed)}}
		secrets, err := callbacks.ParseSecrets(testSecret)
		require.NoError(t, err)
		attempt := callbacks.NewDeliverer(secrets, p).Deliver(context.Background(), callbacks.Delivery{ID: "d", Client: "c", URL: b.server.URL, Body: []byte(`{}`)})
		if tt.refused {
			require.ErrorIs(t, attempt.Err, callbacks.ErrForbiddenAddress, tt.allowed)
			require.True(t, attempt.Permanent)
			continue
		}
		require.NoError(t, attempt.Err, tt.allowed)
		<-b.requests
	}
	require.Empty(t, b.requests)
}

func TestDeliverTransportErrorIsRetryable(t *testing.T) {
	t.Parallel()
	b := setup(t, true)
	url := b.server.URL
	b.server.Close()
	attempt := b.deliverer.Deliver(context.Background(), callbacks.Delivery{ID: "d", URL: url, Body: []byte(`{}`)})
	require.Error(t, attempt.Err)
	require.False(t, errors.Is(attempt.Err, callbacks.ErrForbiddenAddress))
	require.False(t, attempt.Permanent)
}
