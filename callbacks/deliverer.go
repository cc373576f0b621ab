package callbacks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
)

// AttemptTimeout bounds one delivery attempt: a receiver should answer at
// once and do its work afterwards.
const AttemptTimeout = 15 * time.Second

const (
	// excerptBytes of a refusing receiver's body go into the error.
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

// Delivery is one callback. Its ID is the webhook-id of every attempt, so
// that a receiver can tell a retry from a new callback.
type Delivery struct {
	ID string
	// Client is the client of the generation: the callback is signed with
	// that client's secrets (Secrets.ClientSecret).
	Client string
	URL    string
	Body   []byte
}

// Attempt is the outcome of one try at a delivery.
type Attempt struct {
	// StatusCode is the receiver's answer; 0 when none came.
	StatusCode int
	// Err is nil when the receiver took the callback (2xx).
	Err error
	// Permanent is true when trying again cannot help: the receiver
	// answered 410 Gone, or the URL or its address is not allowed (then
	// StatusCode is 0). Any other refusal may be passing (a receiver's
	// deploy, its clock, its secret being rotated) and is retried.
	Permanent bool
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
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainBytes))

	a := Attempt{StatusCode: resp.StatusCode}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return a
	}
	a.Err = fmt.Errorf("receiver answered %s", resp.Status)
	if text := printable(excerpt); text != "" {
		a.Err = fmt.Errorf("receiver answered %s: %s", resp.Status, text)
	}
	a.Permanent = resp.StatusCode == http.StatusGone
	return a
}

// printable makes a receiver's body excerpt safe to store and log: valid
// UTF-8, one line, no control characters.
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
