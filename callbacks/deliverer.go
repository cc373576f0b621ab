package callbacks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// AttemptTimeout bounds one delivery attempt: a receiver should answer at
// once and do its work afterwards.
const AttemptTimeout = 15 * time.Second

const (
	// excerptBytes of a refusing receiver's body go into the delivery's
	// record (Attempt.Record).
	excerptBytes = 256
	// drainBytes more are read so that the connection can be reused.
	drainBytes = 64 << 10
)

// ErrNoSecret is the error of every attempt of a Deliverer without
// Secrets: an unsigned callback could not be told from a forged one.
var ErrNoSecret = errors.New("callbacks cannot be signed: no callback secret is configured")

// Deliverer posts signed callbacks.
type Deliverer struct {
	secrets *Secrets
	client  *http.Client
	now     func() time.Time
}

// NewDeliverer returns a Deliverer that signs with secrets and connects
// where policy admits. With nil secrets every attempt fails with
// ErrNoSecret.
func NewDeliverer(secrets *Secrets, policy *Policy) *Deliverer {
	return &Deliverer{secrets: secrets, client: policy.Client(AttemptTimeout), now: time.Now}
}

// Easel's own headers, besides the signature's: a receiver can route and
// log a callback by them without parsing its body. They are not signed:
// act on the body's id, once the signature verifies, not on them.
const (
	HeaderGenerationID = "Easel-Generation-Id"
	HeaderAttempt      = "Easel-Attempt"
)

// Delivery is one callback. Its ID is the webhook-id of every attempt, so
// that a receiver can tell a retry from a new callback.
type Delivery struct {
	ID string
	// Client is the client of the generation: the callback is signed with
	// that client's secrets (Secrets.ClientSecret).
	Client string
	URL    string
	Body   []byte
	// GenerationID, when not empty, is sent as Easel-Generation-Id.
	GenerationID string
	// Attempt, when positive, is sent as Easel-Attempt: 1 for the first
	// attempt at this callback.
	Attempt int
}

// Attempt is the outcome of one try at a delivery.
type Attempt struct {
	// StatusCode is the receiver's answer; 0 when none came.
	StatusCode int
	// Err is nil when the receiver took the callback (2xx). It never quotes
	// what the receiver answered beyond its status, nor the URL, whose
	// query may hold the receiver's token: it is safe to log. Record has
	// the rest.
	Err error
	// Permanent is true when trying again cannot help: the receiver
	// answered 410 Gone, or the URL or its address is not allowed (then
	// StatusCode is 0). Any other refusal may be passing (a receiver's
	// deploy, its clock, its secret being rotated) and is retried.
	Permanent bool
	// RetryAfter is how long a receiver answering 429 or 503 asked to be
	// left alone with Retry-After (seconds or an HTTP date); zero without
	// one, or with one that is unreadable or already past. It is what the
	// receiver asked for, uncapped: capping it is the retry schedule's
	// business.
	RetryAfter time.Duration
	// BodyBytes is the length of the receiver's answer, counted up to
	// what is read of it (a little over 64 KiB), for logs, which must not
	// show the body itself.
	BodyBytes int
	// answered is what Record adds to Err: where a redirect pointed, and
	// the start of the body.
	answered string
}

// Record is the attempt's outcome as a delivery's record keeps it (its
// last_error), "" when delivered: Err, then, for a redirect, its Location
// without user info or query, and the first 256 bytes of the receiver's
// body, made printable. Keep it out of logs: receivers may echo what they
// were sent, or a token of their own, in their answers.
func (a Attempt) Record() string {
	if a.Err == nil {
		return ""
	}
	return a.Err.Error() + a.answered
}

// Deliver makes one attempt, signed with a fresh timestamp.
func (d *Deliverer) Deliver(ctx context.Context, cb Delivery) Attempt {
	if d.secrets == nil {
		return Attempt{Err: ErrNoSecret}
	}
	// The URL was checked when the generation was enqueued; one that fails
	// now was written some other way, and never will pass.
	if _, err := CheckURLSyntax(cb.URL); err != nil {
		return Attempt{Err: fmt.Errorf("callback_url %w", err), Permanent: true}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cb.URL, bytes.NewReader(cb.Body))
	if err != nil {
		return Attempt{Err: fmt.Errorf("build callback request: %w", err), Permanent: true}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Easel-Callbacks/1")
	if cb.GenerationID != "" {
		req.Header.Set(HeaderGenerationID, cb.GenerationID)
	}
	if cb.Attempt > 0 {
		req.Header.Set(HeaderAttempt, strconv.Itoa(cb.Attempt))
	}
	setHeaders(req.Header, d.secrets.clientKeys(cb.Client), cb.ID, d.now(), cb.Body)

	resp, err := d.client.Do(req)
	if err != nil {
		// *url.Error repeats the URL, whose query may hold the receiver's
		// own token; what went wrong is enough.
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		return Attempt{Err: fmt.Errorf("post callback: %w", err), Permanent: errors.Is(err, ErrForbiddenAddress)}
	}
	defer resp.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, excerptBytes))
	drained, _ := io.Copy(io.Discard, io.LimitReader(resp.Body, drainBytes))

	a := Attempt{StatusCode: resp.StatusCode, BodyBytes: len(excerpt) + int(drained)}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return a
	}
	a.Permanent = resp.StatusCode == http.StatusGone
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		a.Err = fmt.Errorf("receiver answered %s: redirects are not followed; set callback_url to the URL it redirects to", resp.Status)
		a.answered = redirectLocation(resp)
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		a.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), d.now())
	}
	if a.Err == nil && a.RetryAfter > 0 {
		a.Err = fmt.Errorf("receiver answered %s, Retry-After %s", resp.Status, a.RetryAfter)
	} else if a.Err == nil {
		a.Err = fmt.Errorf("receiver answered %s", resp.Status)
	}
	if text := printable(excerpt); text != "" {
		if drained > 0 {
			text += "…"
		}
		a.answered += "; body: " + text
	}
	return a
}

// redirectLocation is "; Location: " and where a redirect points, resolved
// against the callback URL, without user info, query or fragment, which
// may carry credentials; "" without a Location.
func redirectLocation(resp *http.Response) string {
	loc, err := resp.Location()
	if errors.Is(err, http.ErrNoLocation) {
		return ""
	}
	if err != nil {
		return "; Location: not a URL"
	}
	withQuery := loc.RawQuery != "" || loc.ForceQuery
	shown := url.URL{Scheme: loc.Scheme, Host: loc.Host, Path: loc.Path, RawPath: loc.RawPath}
	s := printable([]byte(shown.String()))
	if len(s) > excerptBytes {
		s = strings.ToValidUTF8(s[:excerptBytes], "") + "…"
	}
	if withQuery {
		s += " (its query left out)"
	}
	return "; Location: " + s
}

// maxRetryAfter bounds what a Retry-After header can ask for, so that no
// value overflows a Duration.
const maxRetryAfter = 365 * 24 * time.Hour

// retryAfter reads a Retry-After value, delay-seconds or an HTTP date
// (RFC 9110, section 10.2.3), as the wait it asks for from now; zero when
// it is empty, unreadable or past.
func retryAfter(value string, now time.Time) time.Duration {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0
	}
	seconds, err := strconv.ParseUint(value, 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		return maxRetryAfter
	}
	if err == nil {
		return time.Duration(min(seconds, uint64(maxRetryAfter/time.Second))) * time.Second
	}
	if at, err := http.ParseTime(value); err == nil {
		return min(max(at.Sub(now), 0), maxRetryAfter)
	}
	return 0
}

// printable makes a receiver's body excerpt safe to store: valid UTF-8,
// one line, no control characters.
func printable(b []byte) string {
	s := strings.ToValidUTF8(string(b), "?")
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return ' '
		}
		if !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}
