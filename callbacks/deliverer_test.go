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
	answer    atomic.Value // string
}

// setup starts a receiver on 127.0.0.1, answering with the bundle's
// status, and a deliverer whose policy allows private addresses or not.
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
		if location := b.answer.Load().(string); location != "" && b.status.Load()/100 == 3 {
			w.Header().Set("Location", location)
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
		status    int
		answer    string
		wantErr   string
		permanent bool
	}{
		{status: http.StatusOK},
		{status: http.StatusAccepted},
		{status: http.StatusInternalServerError, answer: "boom\n\x00\x1b[31mred", wantErr: "receiver answered 500 Internal Server Error: boom [31mred"},
		{status: http.StatusBadGateway, wantErr: "receiver answered 502 Bad Gateway"},
		{status: http.StatusRequestTimeout, wantErr: "408"},
		{status: http.StatusTooManyRequests, wantErr: "429"},
		{status: http.StatusFound, answer: "http://127.0.0.1:1/elsewhere", wantErr: "302"},
		// A receiver's refusal may be passing: its deploy, its clock, its
		// secret being rotated.
		{status: http.StatusBadRequest, answer: `{"error":"unknown id"}`, wantErr: `400 Bad Request: {"error":"unknown id"}`},
		{status: http.StatusUnauthorized, wantErr: "401"},
		{status: http.StatusForbidden, wantErr: "403"},
		{status: http.StatusNotFound, wantErr: "404"},
		{status: http.StatusUnprocessableEntity, wantErr: "422"},
		{status: http.StatusGone, wantErr: "410", permanent: true},
	} {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			t.Parallel()
			b := setup(t, true)
			b.status.Store(int32(tt.status))
			b.answer.Store(tt.answer)

			attempt := b.deliver(t, `{}`)
			require.Equal(t, tt.status, attempt.StatusCode)
			require.Equal(t, tt.permanent, attempt.Permanent)
			if tt.wantErr == "" {
				require.NoError(t, attempt.Err)
			} else {
				require.ErrorContains(t, attempt.Err, tt.wantErr)
			}
			require.Len(t, b.requests, 1, "one request, redirects not followed")
		})
	}
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
